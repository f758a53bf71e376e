"""ApiVersions, Metadata, DescribeCluster and DescribeConfigs: what clients ask before working."""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.cluster.read import broker_configs, cluster_id, cluster_nodes, partition_replicas
from brokercore.configdef import ConfigEntry, ConfigSource
from brokercore.errors import (
    BrokerError,
    ClusterAuthorizationFailed,
    InvalidRequest,
    InvalidTopic,
    TopicAlreadyExists,
    TopicAuthorizationFailed,
    UnknownTopicId,
    UnknownTopicOrPartition,
    UnsupportedVersion,
)
from brokercore.kafka.apis.registry import (
    HANDLERS,
    Node,
    RequestContext,
    api,
    build_entity,
    error_code,
)
from brokercore.kafka.schemas_legacy import load_response_schema
from brokercore.security.acl import CLUSTER_NAME, Operation, Requester, ResourceType
from brokercore.topics.configs import broker_config_entries, broker_levels, config_entries
from brokercore.topics.read import topic_get, topics_partition_counts
from brokercore.topics.rules import topic_is_internal, topic_name_validate
from brokercore.topics.service import topic_create

_ZERO_UUID = uuid.UUID(int=0)
# Kafka's "authorized operations not asked for" (Metadata v8+, DescribeCluster, DescribeGroups).
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)


# --- Which node leads what ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replicas:
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The live nodes as clients see them, and where each partition's leader is."""

    nodes: tuple[Node, ...]
    controller_id: int
    replicas: Callable[[str, int, int], Replicas]  # (topic, partition, replication factor)


def cluster_view(node: Node) -> ClusterView:
    """The cluster as this node reports it: the live registered nodes (cluster/read.cluster_nodes)
    with this listener among them, and each partition's replicas spread over them the way every
    process computes them (cluster/read.partition_replicas), so all nodes give clients one answer.

    This listener is always listed with its own address: a listener that has not registered (a
    test's, or one whose registration is not visible yet) still answers for itself rather than
    sending clients to a node that is not there. Every replica is "in sync": the database holds
    the one copy of the data. Leader epochs are unknown (-1), so clients skip KIP-320's checks.
    """
    nodes = {n.node_id: n for n in cluster_nodes()}
    nodes[node.node_id] = node
    ids = sorted(nodes)

    def replicas(topic: str, partition: int, replication_factor: int) -> Replicas:
        r = partition_replicas(partition, replication_factor, ids, topic=topic)
        return Replicas(leader=r[0], leader_epoch=-1, replicas=r, isr=r)

    return ClusterView(nodes=tuple(nodes[i] for i in ids), controller_id=ids[0], replicas=replicas)


def leadership(node: Node) -> Callable[[str, int], bool]:
    """Whether `node` leads a topic-partition now. Kafka refuses Produce, Fetch and ListOffsets
    for partitions a broker does not lead (NOT_LEADER_OR_FOLLOWER: the client refreshes its
    metadata and goes to the leader), and so does this broker, though any node could serve them
    from the shared database: clients then spread their load as Metadata says."""
    view = cluster_view(node)
    if len(view.nodes) == 1:
        return lambda topic, partition: True
    return lambda topic, partition: view.replicas(topic, partition, 1).leader == node.node_id


# --- ApiVersions -------------------------------------------------------------------------------


def api_versions_list() -> list[dict]:
    return [
        {"api_key": a.api_key, "min_version": a.min_version, "max_version": a.max_version}
        for a in sorted(HANDLERS.values(), key=lambda a: a.api_key)
    ]


def api_versions_unsupported() -> ResponsePayload:
    """The v0 answer to an ApiVersions version this broker lacks (KIP-511's fallback)."""
    return build_entity(
        load_response_schema(18, 0), {"error_code": UnsupportedVersion.code, "api_keys": api_versions_list()}
    )


@api(18, versions=(0, 4))
async def api_versions(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(error_code=0, api_keys=api_versions_list())


# --- Metadata ----------------------------------------------------------------------------------


def _auto_create(name: str) -> int:
    """Create a topic a Metadata request named (Kafka's auto.create.topics.enable); 0 or the error."""
    try:
        topic_create(name=name)  # the broker's default partitions and replication factor
    except TopicAlreadyExists:  # created meanwhile by somebody else: just as good
        pass
    except BrokerError as e:
        return error_code(e)
    return 0


def _metadata_topics(names: list[str] | None, ids: list[uuid.UUID], auto_create: bool, requester: Requester) -> list[dict]:
    """Topic rows of a Metadata response (without partitions), in request order, as Kafka's
    KafkaApis answers them: all topics lists only those `requester` may DESCRIBE; a named topic
    it may not describe is TOPIC_AUTHORIZATION_FAILED whether it exists or not; a missing one is
    created when allowed and the requester may CREATE it (on the cluster or the topic), else
    TOPIC_AUTHORIZATION_FAILED (or UNKNOWN_TOPIC_OR_PARTITION without auto-creation)."""

    def visible(name: str) -> bool:
        return requester.may(Operation.DESCRIBE, ResourceType.TOPIC, name)

    if names is None and not ids:
        return [{"found": t} for t in topics_partition_counts() if visible(t.name)]
    found = topics_partition_counts(names=names or [], topic_ids=ids)
    by_name = {t.name: t for t in found}
    by_id = {t.topic_id: t for t in found}
    out: list[dict] = []
    created = []
    cluster_create: bool | None = None
    for name in names or []:
        if not visible(name):
            out.append({"name": name, "error_code": TopicAuthorizationFailed.code})
            continue
        if name in by_name:
            out.append({"found": by_name[name]})
            continue
        try:
            topic_name_validate(name)
        except InvalidTopic as e:
            out.append({"name": name, "error_code": error_code(e)})
            continue
        code = UnknownTopicOrPartition.code
        if auto_create:
            if cluster_create is None:  # read once, on the first missing topic
                cluster_create = requester.may(Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)
            if cluster_create or requester.may(Operation.CREATE, ResourceType.TOPIC, name):
                code = _auto_create(name)
            else:
                code = TopicAuthorizationFailed.code
        out.append({"name": name, "error_code": code})
        if code == 0:
            created.append(name)
    if created:
        by_name.update((t.name, t) for t in topics_partition_counts(names=created))
        out = [{"found": by_name[row["name"]]} if row.get("name") in by_name and row["error_code"] == 0 else row
               for row in out]
    for topic_id in ids:
        t = by_id.get(topic_id)
        if t is None:
            out.append({"topic_id": topic_id, "error_code": UnknownTopicId.code})
        elif not visible(t.name):
            # Kafka: a topic id is not secret, but the name of a topic one may not describe is.
            out.append({"topic_id": topic_id, "error_code": TopicAuthorizationFailed.code})
        else:
            out.append({"found": t})
    return out


def _topic_entry(row: dict, view: ClusterView, operations: Callable[[str], int] | None) -> dict:
    t = row.get("found")
    if t is None:
        return {
            "error_code": row["error_code"],
            "name": row.get("name"),
            "topic_id": row.get("topic_id", _ZERO_UUID),
            "partitions": [],
        }
    partitions = []
    for index in range(t.partitions):
        r = view.replicas(t.name, index, t.replication_factor)
        partitions.append({
            "error_code": 0,
            "partition_index": index,
            "leader_id": r.leader,
            "leader_epoch": r.leader_epoch,
            "replica_nodes": r.replicas,
            "isr_nodes": r.isr,
            "offline_replicas": (),
        })
    return {"error_code": 0, "name": t.name, "topic_id": t.topic_id, "is_internal": topic_is_internal(t.name),
            "partitions": partitions,
            "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED if operations is None else operations(t.name)}


def cluster_operations(requester: Requester) -> int:
    """The cluster's authorized-operations bitfield (Metadata v8-10, DescribeCluster)."""
    return requester.operations(ResourceType.CLUSTER, CLUSTER_NAME)


def metadata_answer(node: Node, names: list[str] | None, ids: list[uuid.UUID], auto_create: bool,
                    requester: Requester, *, include_topic_operations: bool = False, include_cluster_operations: bool = False) -> dict:
    """The fields of a Metadata response (any version: the caller's builder drops the rest);
    the authorized-operations bitfields only when asked (Kafka's INT32_MIN otherwise)."""
    view = cluster_view(node)
    topics = _metadata_topics(names, ids, auto_create, requester)

    def operations(name: str) -> int:
        return requester.operations(ResourceType.TOPIC, name)

    return {
        "brokers": [{"node_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack} for n in view.nodes],
        "cluster_id": cluster_id(),
        "controller_id": view.controller_id,
        "topics": [_topic_entry(row, view, operations if include_topic_operations else None) for row in topics],
        "cluster_authorized_operations":
            cluster_operations(requester) if include_cluster_operations else AUTHORIZED_OPERATIONS_OMITTED,
    }


@api(3, versions=(0, 12))
async def metadata(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    requested = request.topics
    # v0: an empty list means every topic; v1+: null means every topic, empty means none.
    if requested is None or (ctx.api_version == 0 and not requested):
        names, ids = None, []
    else:
        names = [t.name for t in requested if t.name is not None]
        # v10+ may name a topic by id instead (the name then null).
        ids = [t.topic_id for t in requested if t.name is None and getattr(t, "topic_id", None) not in (None, _ZERO_UUID)]
    # Before v4 there was no flag: a broker that auto-creates did so for every Metadata request.
    allowed = ctx.api_version < 4 or request.allow_auto_topic_creation
    auto_create = settings.BROKER["AUTO_CREATE_TOPICS"] and allowed
    answer = await ctx.run_sync(
        metadata_answer, ctx.node, names, ids, auto_create, ctx.requester,
        include_topic_operations=getattr(request, "include_topic_authorized_operations", False),  # v8 on
        include_cluster_operations=getattr(request, "include_cluster_authorized_operations", False),  # v8-10
    )
    return ctx.response(**answer)


# --- DescribeCluster ---------------------------------------------------------------------------


@api(60, versions=(0, 1))
async def describe_cluster(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    def answer() -> dict:
        view = cluster_view(ctx.node)
        return {
            "error_code": 0,
            "cluster_id": cluster_id(),
            "controller_id": view.controller_id,
            "brokers": [{"broker_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack} for n in view.nodes],
            "cluster_authorized_operations": cluster_operations(ctx.requester)
            if request.include_cluster_authorized_operations else AUTHORIZED_OPERATIONS_OMITTED,
        }

    return ctx.response(**await ctx.run_sync(answer))


# --- DescribeConfigs ---------------------------------------------------------------------------

TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8  # DescribeConfigs resource types


def authorization_failed(requester: Requester, operation: Operation, resource_type: int, name: str) -> None:
    """Raise Kafka's authorization error when `requester` may not `operation` (DESCRIBE_CONFIGS or
    ALTER_CONFIGS) the config resource: a TOPIC is its topic, a BROKER the cluster."""
    if resource_type == TOPIC:
        if not requester.may(operation, ResourceType.TOPIC, name):
            raise TopicAuthorizationFailed(requester.refusal(operation, ResourceType.TOPIC, name))
    elif not requester.may(operation, ResourceType.CLUSTER, CLUSTER_NAME):
        raise ClusterAuthorizationFailed(requester.refusal(operation, ResourceType.CLUSTER, CLUSTER_NAME))


def broker_resource_id(name: str) -> int:
    """A BROKER resource's node id (ControllerConfigurationValidator's checks and words)."""
    try:
        node_id = int(name)
    except ValueError:
        raise InvalidRequest("Unable to parse broker name as a base 10 number.") from None
    if node_id < 0:
        raise InvalidRequest("Invalid negative broker ID.")
    return node_id


def config_entry_wire(e: ConfigEntry, *, synonyms: bool, documentation: bool) -> dict:
    """A config entry as DescribeConfigs (any version: the builder drops what it lacks) reports it."""
    return {
        "name": e.name,
        "value": e.value,
        "read_only": e.read_only,
        "config_source": int(e.source),
        "is_default": e.is_default,  # v0's form of config_source
        "is_sensitive": e.sensitive,
        "config_type": int(e.type),
        "documentation": e.doc if documentation else None,
        "synonyms": [{"name": s.name, "value": s.value, "source": int(s.source)} for s in e.synonyms] if synonyms else [],
    }


def describe_configs_answer(resources: Iterable[Entity], node: Node, *, synonyms: bool, documentation: bool,
                            requester: Requester, protocol: str | None = None) -> list[dict]:
    out = []
    for r in resources:
        keys = None if r.configuration_keys is None else set(r.configuration_keys)
        result = {"error_code": 0, "error_message": None, "resource_type": r.resource_type, "resource_name": r.resource_name, "configs": []}
        try:
            if r.resource_type in (TOPIC, BROKER):
                authorization_failed(requester, Operation.DESCRIBE_CONFIGS, r.resource_type, r.resource_name)
            if r.resource_type == TOPIC:
                overrides = topic_get(name=r.resource_name).configs
                entries = config_entries(overrides, names=keys, levels=broker_levels(node.node_id))
            elif r.resource_type == BROKER:
                # Kafka's resource name "" is the cluster-wide default level; a node id, that node.
                node_id = None if r.resource_name == "" else broker_resource_id(r.resource_name)
                configs = broker_configs(node_id=node.node_id, host=node.host, port=node.port, protocol=protocol)
                entries = broker_config_entries(configs, node_id=node_id, names=keys)
                if node_id is None:
                    entries = [e for e in entries if e.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
            else:
                raise InvalidRequest(f"Resource type {r.resource_type} is not supported by this broker.")
            result["configs"] = [config_entry_wire(e, synonyms=synonyms, documentation=documentation) for e in entries]
        except BrokerError as e:
            result.update(error_code=error_code(e), error_message=str(e))
        out.append(result)
    return out


@api(32, versions=(0, 4))
async def describe_configs(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    results = await ctx.run_sync(
        describe_configs_answer, request.resources, ctx.node,
        synonyms=getattr(request, "include_synonyms", False),  # v1 on
        documentation=getattr(request, "include_documentation", False),
        requester=ctx.requester,
        # advertised.listeners as the client reached this listener, whatever the settings say.
        protocol=ctx.session.protocol if ctx.session is not None else None,
    )
    return ctx.response(results=results)
