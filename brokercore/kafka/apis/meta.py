"""ApiVersions, Metadata, DescribeCluster and DescribeConfigs: what clients ask before working."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from brokercore.errors import BrokerError, InvalidTopic, TopicAlreadyExists
from brokercore.kafka.apis.registry import HANDLERS, Node, api, build_entity, error_code
from brokercore.selectors import cluster_id, topics_partition_counts
from brokercore.services.topics import topic_create
from brokercore.topic_rules import topic_name_validate

UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
UNKNOWN_TOPIC_ID = 100
_ZERO_UUID = uuid.UUID(int=0)


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
    """The cluster as this node reports it. One node for now: it leads every partition, and every
    replica is "in sync" because the database holds the one copy of the data."""
    only = (node.node_id,)

    def replicas(topic: str, partition: int, replication_factor: int) -> Replicas:
        return Replicas(leader=node.node_id, leader_epoch=0, replicas=only, isr=only)

    return ClusterView(nodes=(node,), controller_id=node.node_id, replicas=replicas)


# --- ApiVersions -------------------------------------------------------------------------------


def api_versions_list() -> list[dict]:
    return [
        {"api_key": a.api_key, "min_version": a.min_version, "max_version": a.max_version}
        for a in sorted(HANDLERS.values(), key=lambda a: a.api_key)
    ]


def api_versions_unsupported():
    """The v0 answer to an ApiVersions version this broker lacks (KIP-511's fallback)."""
    from kio.index import load_response_schema

    return build_entity(
        load_response_schema(18, 0), {"error_code": UNSUPPORTED_VERSION, "api_keys": api_versions_list()}
    )


@api(18, versions=(0, 3))
async def api_versions(ctx, request):
    return ctx.response(error_code=0, api_keys=api_versions_list())


# --- Metadata ----------------------------------------------------------------------------------


def _auto_create(name: str) -> int:
    """Create a topic a Metadata request named (Kafka's auto.create.topics.enable); 0 or the error."""
    try:
        topic_create(
            name=name,
            partitions=settings.BROKER["DEFAULT_PARTITIONS"],
            replication_factor=settings.BROKER["DEFAULT_REPLICATION_FACTOR"],
        )
    except TopicAlreadyExists:  # created meanwhile by somebody else: just as good
        pass
    except BrokerError as e:
        return error_code(e)
    return 0


def _metadata_topics(names: list[str] | None, ids: list[uuid.UUID], auto_create: bool) -> list[dict]:
    """Topic rows of a Metadata response (without partitions), in request order, creating the
    missing named topics when allowed."""
    if names is None and not ids:
        return [{"found": t} for t in topics_partition_counts()]
    found = topics_partition_counts(names=names or [], topic_ids=ids)
    by_name = {t.name: t for t in found}
    by_id = {t.topic_id: t for t in found}
    out: list[dict] = []
    created = []
    for name in names or []:
        if name in by_name:
            out.append({"found": by_name[name]})
            continue
        try:
            topic_name_validate(name)
        except InvalidTopic as e:
            out.append({"name": name, "error_code": error_code(e)})
            continue
        code = _auto_create(name) if auto_create else UNKNOWN_TOPIC_OR_PARTITION
        out.append({"name": name, "error_code": code})
        if code == 0:
            created.append(name)
    if created:
        by_name.update((t.name, t) for t in topics_partition_counts(names=created))
        out = [{"found": by_name[row["name"]]} if row.get("name") in by_name else row for row in out]
    for topic_id in ids:
        out.append({"found": by_id[topic_id]} if topic_id in by_id else {"topic_id": topic_id, "error_code": UNKNOWN_TOPIC_ID})
    return out


def _topic_entry(row: dict, view: ClusterView) -> dict:
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
    return {"error_code": 0, "name": t.name, "topic_id": t.topic_id, "is_internal": False, "partitions": partitions}


def metadata_answer(node: Node, names: list[str] | None, ids: list[uuid.UUID], auto_create: bool) -> dict:
    """The fields of a Metadata response (any version: the caller's builder drops the rest)."""
    view = cluster_view(node)
    topics = _metadata_topics(names, ids, auto_create)
    return {
        "brokers": [{"node_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack} for n in view.nodes],
        "cluster_id": cluster_id(),
        "controller_id": view.controller_id,
        "topics": [_topic_entry(row, view) for row in topics],
    }


@api(3, versions=(0, 12))
async def metadata(ctx, request):
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
    answer = await ctx.run_sync(metadata_answer, ctx.node, names, ids, auto_create)
    return ctx.response(**answer)


# --- DescribeCluster ---------------------------------------------------------------------------


@api(60, versions=(0, 1))
async def describe_cluster(ctx, request):
    def answer() -> dict:
        view = cluster_view(ctx.node)
        return {
            "error_code": 0,
            "cluster_id": cluster_id(),
            "controller_id": view.controller_id,
            "brokers": [{"broker_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack} for n in view.nodes],
        }

    return ctx.response(**await ctx.run_sync(answer))
