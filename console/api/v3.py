"""Confluent REST Proxy v3: clusters, topics, partitions, configs, records, consumer groups, brokers.

Every object has Confluent's "kind" and "metadata" ({"self": absolute URL, "resource_name": CRN})
and links to related resources as {"related": url}, so clients written for Confluent's proxy can
follow them. Every link leads somewhere that answers: there is no ACL endpoint (and no "acls" link)
because this broker has no ACLs; access is by console user and staff flag instead. Lists are never
paged here ("next" is always null, as in Confluent's proxy, which answers every list whole too).

Broker configs (per broker, and cluster-wide under /broker-configs) are read-only: they are the
settings server processes start with (settings.BROKER), the same table the Kafka listener's
DescribeConfigs answers. Partition reassignments never happen (the database holds every replica),
so their lists are empty and a partition's reassignment is 404, as Confluent's proxy answers for a
partition with none in progress.

One extension: partition objects carry "beginning_offset" and "end_offset" (log start offset and
high watermark), which v3 has no endpoint for (v2 has .../partitions/{p}/offsets).
"""

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, Literal

from django.conf import settings
from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from ninja import Router, Schema, Status
from pydantic import Field

from brokercore.cluster import read as cluster_read
from brokercore.cluster.read import broker_configs, broker_replicas, brokers_live_ids, cluster_configs, cluster_id
from brokercore.coordinator import read as groups_read
from brokercore.coordinator.read import group_describe
from brokercore.errors import BrokerError
from brokercore.log.append import records_append
from brokercore.topics import read as topics_read
from brokercore.topics import service as topic_service
from brokercore.topics.read import topic_describe
from brokercore.topics.rules import CONFIG_DEFS, LEGAL_NAME_PATTERN, MAX_NAME_LENGTH
from brokercore.types import RecordIn
from console.api import API_ROOT, body_limit
from console.api.auth import STAFF_AUTH
from console.api.errors import (
    BAD_REQUEST,
    BROKER_NOT_FOUND,
    CLUSTER_NOT_FOUND,
    CONFIG_NOT_FOUND,
    CONSUMER_GROUP_NOT_FOUND,
    CONSUMER_INSTANCE_NOT_FOUND,
    INVALID_PAYLOAD,
    PARTITION_NOT_FOUND,
    TOO_LARGE,
    TOPIC_NOT_FOUND,
    RestError,
    rest_error,
)

router = Router()

_INT32_MAX = 2**31 - 1


# --- Schemas -----------------------------------------------------------------------------------


class Related(Schema):
    related: str


class ResourceMetadata(Schema):
    self: str
    resource_name: str | None = None


class ListMetadata(Schema):
    self: str
    next: str | None = None


class ErrorOut(Schema):
    error_code: int
    message: str


class ClusterOut(Schema):
    kind: Literal["KafkaCluster"]
    metadata: ResourceMetadata
    cluster_id: str
    controller: Related | None
    brokers: Related
    broker_configs: Related
    consumer_groups: Related
    topics: Related
    partition_reassignments: Related


class ClusterList(Schema):
    kind: Literal["KafkaClusterList"]
    metadata: ListMetadata
    data: list[ClusterOut]


class TopicOut(Schema):
    kind: Literal["KafkaTopic"]
    metadata: ResourceMetadata
    cluster_id: str
    topic_name: str
    is_internal: bool
    replication_factor: int
    partitions_count: int
    partitions: Related
    configs: Related
    partition_reassignments: Related
    authorized_operations: list[str]


class TopicList(Schema):
    kind: Literal["KafkaTopicList"]
    metadata: ListMetadata
    data: list[TopicOut]


class PartitionOut(Schema):
    kind: Literal["KafkaPartition"]
    metadata: ResourceMetadata
    cluster_id: str
    topic_name: str
    partition_id: int
    leader: Related | None
    replicas: Related
    reassignment: Related
    beginning_offset: int
    end_offset: int


class PartitionList(Schema):
    kind: Literal["KafkaPartitionList"]
    metadata: ListMetadata
    data: list[PartitionOut]


class ReplicaOut(Schema):
    kind: Literal["KafkaReplica"]
    metadata: ResourceMetadata
    cluster_id: str
    topic_name: str
    partition_id: int
    broker_id: int
    is_leader: bool
    is_in_sync: bool
    broker: Related


class ReplicaList(Schema):
    kind: Literal["KafkaReplicaList"]
    metadata: ListMetadata
    data: list[ReplicaOut]


class ConfigSynonym(Schema):
    name: str
    value: str | None
    source: str


class TopicConfigOut(Schema):
    kind: Literal["KafkaTopicConfig"]
    metadata: ResourceMetadata
    cluster_id: str
    topic_name: str
    name: str
    value: str | None
    is_default: bool
    is_read_only: bool
    is_sensitive: bool
    source: str
    synonyms: list[ConfigSynonym]


class TopicConfigList(Schema):
    kind: Literal["KafkaTopicConfigList"]
    metadata: ListMetadata
    data: list[TopicConfigOut]


class ConsumerGroupOut(Schema):
    kind: Literal["KafkaConsumerGroup"]
    metadata: ResourceMetadata
    cluster_id: str
    consumer_group_id: str
    is_simple: bool
    partition_assignor: str
    state: str
    coordinator: Related
    consumers: Related
    lag_summary: Related


class ConsumerGroupList(Schema):
    kind: Literal["KafkaConsumerGroupList"]
    metadata: ListMetadata
    data: list[ConsumerGroupOut]


class ConsumerOut(Schema):
    kind: Literal["KafkaConsumer"]
    metadata: ResourceMetadata
    cluster_id: str
    consumer_group_id: str
    consumer_id: str
    instance_id: str | None
    client_id: str
    assignments: Related


class ConsumerList(Schema):
    kind: Literal["KafkaConsumerList"]
    metadata: ListMetadata
    data: list[ConsumerOut]


class AssignmentOut(Schema):
    kind: Literal["KafkaConsumerAssignment"]
    metadata: ResourceMetadata
    cluster_id: str
    consumer_group_id: str
    consumer_id: str
    topic_name: str
    partition_id: int
    partition: Related
    lag: Related


class AssignmentList(Schema):
    kind: Literal["KafkaConsumerAssignmentList"]
    metadata: ListMetadata
    data: list[AssignmentOut]


class LagOut(Schema):
    kind: Literal["KafkaConsumerLag"]
    metadata: ResourceMetadata
    cluster_id: str
    consumer_group_id: str
    topic_name: str
    partition_id: int
    current_offset: int
    log_end_offset: int
    lag: int
    consumer_id: str
    instance_id: str | None
    client_id: str


class LagList(Schema):
    kind: Literal["KafkaConsumerLagList"]
    metadata: ListMetadata
    data: list[LagOut]


class LagSummaryOut(Schema):
    kind: Literal["KafkaConsumerGroupLagSummary"]
    metadata: ResourceMetadata
    cluster_id: str
    consumer_group_id: str
    max_lag_consumer_id: str
    max_lag_instance_id: str | None
    max_lag_client_id: str
    max_lag_topic_name: str
    max_lag_partition_id: int
    max_lag: int
    total_lag: int
    max_lag_consumer: Related | None
    max_lag_partition: Related | None


class BrokerOut(Schema):
    kind: Literal["KafkaBroker"]
    metadata: ResourceMetadata
    cluster_id: str
    broker_id: int
    host: str | None
    port: int | None
    rack: str | None
    configs: Related
    partition_replicas: Related


class BrokerList(Schema):
    kind: Literal["KafkaBrokerList"]
    metadata: ListMetadata
    data: list[BrokerOut]


class BrokerConfigOut(Schema):
    kind: Literal["KafkaBrokerConfig"]
    metadata: ResourceMetadata
    cluster_id: str
    broker_id: int
    name: str
    value: str | None
    is_default: bool
    is_read_only: bool
    is_sensitive: bool
    source: str
    synonyms: list[ConfigSynonym]


class BrokerConfigList(Schema):
    kind: Literal["KafkaBrokerConfigList"]
    metadata: ListMetadata
    data: list[BrokerConfigOut]


class ClusterConfigOut(Schema):
    kind: Literal["KafkaClusterConfig"]
    metadata: ResourceMetadata
    cluster_id: str
    config_type: Literal["BROKER"]
    name: str
    value: str | None
    is_default: bool
    is_read_only: bool
    is_sensitive: bool
    source: str
    synonyms: list[ConfigSynonym]


class ClusterConfigList(Schema):
    kind: Literal["KafkaClusterConfigList"]
    metadata: ListMetadata
    data: list[ClusterConfigOut]


class ReassignmentOut(Schema):
    kind: Literal["KafkaReassignment"]
    metadata: ResourceMetadata
    cluster_id: str
    topic_name: str
    partition_id: int
    adding_replicas: list[int]
    removing_replicas: list[int]
    replicas: Related


class ReassignmentList(Schema):
    kind: Literal["KafkaReassignmentList"]
    metadata: ListMetadata
    data: list[ReassignmentOut]


class ConfigIn(Schema):
    name: str
    value: str | int | None = None


class TopicCreateIn(Schema):
    # Kafka's legal topic names, stated in the schema so clients (and generated tests) know them.
    topic_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=LEGAL_NAME_PATTERN)
    partitions_count: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    configs: list[ConfigIn] = []
    validate_only: bool = False


class TopicUpdateIn(Schema):
    partitions_count: int = Field(ge=1)


class ConfigUpdateIn(Schema):
    value: str | int | None


class ConfigAlterItem(Schema):
    name: str
    value: str | int | None = None
    operation: Literal["SET", "DELETE", "set", "delete"] = "SET"


class ConfigsAlterIn(Schema):
    data: list[ConfigAlterItem]
    validate_only: bool = False


class DataSize(Schema):
    type: str
    size: int


class ProduceReport(Schema):
    error_code: int
    cluster_id: str
    topic_name: str
    partition_id: int
    offset: int
    timestamp: str
    key: DataSize | None
    value: DataSize | None


class BatchSuccess(ProduceReport):
    id: str


class BatchFailure(Schema):
    id: str
    error_code: int
    message: str


class BatchOut(Schema):
    successes: list[BatchSuccess]
    failures: list[BatchFailure]


def _errors(*statuses: int) -> dict:
    # Every endpoint may answer 401 (no credentials), 404 (unknown cluster) and 422 (a path or
    # query parameter of the wrong type).
    return {status: ErrorOut for status in sorted({401, 404, 422, *statuses})}


# OpenAPI descriptions of the produce bodies, which the views parse themselves (streams are
# concatenated JSON, not one document). Inline so they need no component references.
_DATA_SCHEMA = {
    "type": ["object", "null"],
    "properties": {
        "type": {"type": "string", "enum": ["BINARY", "JSON", "STRING"]},
        "data": {},
    },
}
_RECORD_PROPERTIES = {
    "partition_id": {"type": ["integer", "null"], "minimum": 0},
    "headers": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "value": {"type": ["string", "null"], "format": "byte"}},
        },
    },
    "key": _DATA_SCHEMA,
    "value": _DATA_SCHEMA,
    "timestamp": {"type": ["string", "null"], "format": "date-time"},
}
_PRODUCE_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "One record, or several records as concatenated JSON objects (streaming mode: one "
            "delivery report per record, in order, each with its own error_code)."
        ),
        "content": {"application/json": {"schema": {"type": "object", "properties": _RECORD_PROPERTIES}}},
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["entries"],
                    "properties": {
                        "entries": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}, **_RECORD_PROPERTIES},
                            },
                        }
                    },
                }
            }
        },
    }
}


# --- Helpers -----------------------------------------------------------------------------------


def _url(request, *parts) -> str:
    return request.build_absolute_uri(f"{API_ROOT}v3/" + "/".join(str(p) for p in parts))


def _rel(request, *parts) -> dict:
    return {"related": _url(request, *parts)}


def _crn(cluster: str, *pairs: tuple[str, Any]) -> str:
    return f"crn:///kafka={cluster}" + "".join(f"/{k}={v}" for k, v in pairs)


def _list(kind: str, request, data: list) -> dict:
    return {"kind": kind, "metadata": {"self": request.build_absolute_uri(request.path), "next": None}, "data": data}


def _cluster(cluster_id: str) -> str:
    actual = cluster_read.cluster_id()
    if cluster_id != actual:
        raise RestError(CLUSTER_NOT_FOUND, f"Cluster '{cluster_id}' not found; this proxy serves cluster '{actual}'.")
    return actual


def _name(value: str, code: int, what: str) -> str:
    # PostgreSQL refuses NUL in text: such a name cannot exist, and must not become a 500.
    if "\x00" in value:
        raise RestError(code, f"{what} not found.")
    return value


def _index(value: int, code: int, what: str) -> int:
    # Outside the int32 columns' range nothing can match; saying so beats a database overflow.
    if not 0 <= value <= _INT32_MAX:
        raise RestError(code, f"{what} {value} not found.")
    return value


def _topic(topic_name: str):
    _name(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    try:
        return topic_describe(name=topic_name)
    except BrokerError as e:
        raise rest_error(e) from None


# --- Clusters ----------------------------------------------------------------------------------


def _cluster_out(request, cid: str) -> dict:
    base = ("clusters", cid)
    controller = brokers_live_ids()[0]
    return {
        "kind": "KafkaCluster",
        "metadata": {"self": _url(request, *base), "resource_name": _crn(cid)},
        "cluster_id": cid,
        "controller": _rel(request, *base, "brokers", controller),
        "brokers": _rel(request, *base, "brokers"),
        "broker_configs": _rel(request, *base, "broker-configs"),
        "consumer_groups": _rel(request, *base, "consumer-groups"),
        "topics": _rel(request, *base, "topics"),
        "partition_reassignments": _rel(request, *base, "topics", "-", "partitions", "-", "reassignment"),
    }


@router.get("/clusters", response=_errors() | {200: ClusterList}, summary="List clusters (this proxy serves one)")
def clusters_list(request):
    return _list("KafkaClusterList", request, [_cluster_out(request, cluster_id())])


@router.get("/clusters/{cluster_id}", response=_errors() | {200: ClusterOut}, summary="Get the cluster")
def cluster_get(request, cluster_id: str):
    return _cluster_out(request, _cluster(cluster_id))


# --- Topics ------------------------------------------------------------------------------------


def _topic_out(request, cid: str, name: str, replication_factor: int, partitions: int) -> dict:
    base = ("clusters", cid, "topics", name)
    return {
        "kind": "KafkaTopic",
        "metadata": {"self": _url(request, *base), "resource_name": _crn(cid, ("topic", name))},
        "cluster_id": cid,
        "topic_name": name,
        "is_internal": name.startswith("__"),
        "replication_factor": replication_factor,
        "partitions_count": partitions,
        "partitions": _rel(request, *base, "partitions"),
        "configs": _rel(request, *base, "configs"),
        "partition_reassignments": _rel(request, *base, "partitions", "-", "reassignment"),
        "authorized_operations": [],
    }


@router.get("/clusters/{cluster_id}/topics", response=_errors() | {200: TopicList}, summary="List topics")
def topics_list(request, cluster_id: str):
    cid = _cluster(cluster_id)
    return _list(
        "KafkaTopicList",
        request,
        [_topic_out(request, cid, t["name"], t["replication_factor"], t["partitions"]) for t in topics_read.topic_list()],
    )


@router.post(
    "/clusters/{cluster_id}/topics",
    response=_errors(400, 403, 422) | {201: TopicOut, 200: TopicOut},
    summary="Create a topic",
    auth=STAFF_AUTH,
)
def topic_create(request, cluster_id: str, payload: TopicCreateIn):
    cid = _cluster(cluster_id)
    configs = {}
    for c in payload.configs:
        configs[c.name] = c.value
    partitions = 1 if payload.partitions_count is None else payload.partitions_count
    rf = 1 if payload.replication_factor is None else payload.replication_factor
    topic = topic_service.topic_create(
        name=payload.topic_name,
        partitions=partitions,
        replication_factor=rf,
        configs=configs,
        validate_only=payload.validate_only,
    )
    out = _topic_out(request, cid, topic.name, topic.replication_factor, partitions)
    # Confluent answers a validate-only request 200 (nothing was created) and a creation 201.
    return Status(200 if payload.validate_only else 201, out)


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}", response=_errors() | {200: TopicOut}, summary="Get a topic"
)
def topic_get(request, cluster_id: str, topic_name: str):
    cid = _cluster(cluster_id)
    info = _topic(topic_name)
    return _topic_out(request, cid, info.name, info.replication_factor, len(info.partitions))


@router.patch(
    "/clusters/{cluster_id}/topics/{topic_name}",
    response=_errors(400, 403, 422) | {200: TopicOut},
    summary="Grow a topic's partition count",
    auth=STAFF_AUTH,
    description="Partitions can only be added: a smaller count is Kafka's INVALID_PARTITIONS (400).",
)
def topic_update(request, cluster_id: str, topic_name: str, payload: TopicUpdateIn):
    cid = _cluster(cluster_id)
    _name(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    topic = topic_service.topic_partitions_add(name=topic_name, count=payload.partitions_count)
    return _topic_out(request, cid, topic.name, topic.replication_factor, payload.partitions_count)


@router.delete(
    "/clusters/{cluster_id}/topics/{topic_name}",
    response=_errors(403) | {204: None},
    summary="Delete a topic",
    auth=STAFF_AUTH,
)
def topic_delete(request, cluster_id: str, topic_name: str):
    _cluster(cluster_id)
    _name(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    topic_service.topic_delete(name=topic_name)
    return Status(204, None)


# --- Partitions and replicas -------------------------------------------------------------------


def _partition_out(request, cid: str, topic: str, p) -> dict:
    base = ("clusters", cid, "topics", topic, "partitions", p.index)
    return {
        "kind": "KafkaPartition",
        "metadata": {"self": _url(request, *base), "resource_name": _crn(cid, ("topic", topic), ("partition", p.index))},
        "cluster_id": cid,
        "topic_name": topic,
        "partition_id": p.index,
        "leader": _rel(request, *base, "replicas", p.leader),
        "replicas": _rel(request, *base, "replicas"),
        "reassignment": _rel(request, *base, "reassignment"),
        "beginning_offset": p.log_start_offset,
        "end_offset": p.high_watermark,
    }


def _partition(topic_name: str, partition_id: int):
    info = _topic(topic_name)
    _index(partition_id, PARTITION_NOT_FOUND, f"Partition of topic '{topic_name}':")
    for p in info.partitions:
        if p.index == partition_id:
            return p
    raise RestError(PARTITION_NOT_FOUND, f"Partition {partition_id} of topic '{topic_name}' does not exist.")


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/partitions",
    response=_errors() | {200: PartitionList},
    summary="List a topic's partitions",
)
def partitions_list(request, cluster_id: str, topic_name: str):
    cid = _cluster(cluster_id)
    info = _topic(topic_name)
    return _list("KafkaPartitionList", request, [_partition_out(request, cid, info.name, p) for p in info.partitions])


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/partitions/{partition_id}",
    response=_errors() | {200: PartitionOut},
    summary="Get a partition (with its beginning and end offsets)",
)
def partition_get(request, cluster_id: str, topic_name: str, partition_id: int):
    cid = _cluster(cluster_id)
    return _partition_out(request, cid, topic_name, _partition(topic_name, partition_id))


def _replica_out(request, cid: str, topic: str, p, broker_id: int) -> dict:
    base = ("clusters", cid, "topics", topic, "partitions", p.index, "replicas", broker_id)
    return {
        "kind": "KafkaReplica",
        "metadata": {
            "self": _url(request, *base),
            "resource_name": _crn(cid, ("topic", topic), ("partition", p.index), ("replica", broker_id)),
        },
        "cluster_id": cid,
        "topic_name": topic,
        "partition_id": p.index,
        "broker_id": broker_id,
        "is_leader": broker_id == p.leader,
        "is_in_sync": broker_id in p.isr,
        "broker": _rel(request, "clusters", cid, "brokers", broker_id),
    }


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/partitions/{partition_id}/replicas",
    response=_errors() | {200: ReplicaList},
    summary="List a partition's replicas",
)
def replicas_list(request, cluster_id: str, topic_name: str, partition_id: int):
    cid = _cluster(cluster_id)
    p = _partition(topic_name, partition_id)
    return _list("KafkaReplicaList", request, [_replica_out(request, cid, topic_name, p, b) for b in p.replicas])


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/partitions/{partition_id}/replicas/{broker_id}",
    response=_errors() | {200: ReplicaOut},
    summary="Get a replica of a partition",
)
def replica_get(request, cluster_id: str, topic_name: str, partition_id: int, broker_id: int):
    cid = _cluster(cluster_id)
    p = _partition(topic_name, partition_id)
    if broker_id not in p.replicas:
        raise RestError(BROKER_NOT_FOUND, f"Broker {broker_id} holds no replica of {topic_name}-{partition_id}.")
    return _replica_out(request, cid, topic_name, p, broker_id)


# --- Topic configs -----------------------------------------------------------------------------


def _config_out(request, cid: str, topic: str, name: str, overrides: dict[str, str]) -> dict:
    default = str(CONFIG_DEFS[name].default())
    is_set = name in overrides
    synonyms = [{"name": name, "value": default, "source": "DEFAULT_CONFIG"}]
    if is_set:
        synonyms.insert(0, {"name": name, "value": overrides[name], "source": "DYNAMIC_TOPIC_CONFIG"})
    return {
        "kind": "KafkaTopicConfig",
        "metadata": {
            "self": _url(request, "clusters", cid, "topics", topic, "configs", name),
            "resource_name": _crn(cid, ("topic", topic), ("config", name)),
        },
        "cluster_id": cid,
        "topic_name": topic,
        "name": name,
        "value": overrides[name] if is_set else default,
        "is_default": not is_set,
        "is_read_only": False,
        "is_sensitive": False,
        "source": "DYNAMIC_TOPIC_CONFIG" if is_set else "DEFAULT_CONFIG",
        "synonyms": synonyms,
    }


def _config_name(name: str) -> str:
    if name not in CONFIG_DEFS:
        raise RestError(CONFIG_NOT_FOUND, f"Config '{name}' not found; topic configs are: {', '.join(CONFIG_DEFS)}.")
    return name


def _config_value(value) -> str | None:
    return None if value is None else str(value)


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/configs",
    response=_errors() | {200: TopicConfigList},
    summary="List a topic's configs",
)
def configs_list(request, cluster_id: str, topic_name: str):
    cid = _cluster(cluster_id)
    info = _topic(topic_name)
    return _list(
        "KafkaTopicConfigList", request, [_config_out(request, cid, info.name, n, info.overrides) for n in CONFIG_DEFS]
    )


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/configs/{name}",
    response=_errors() | {200: TopicConfigOut},
    summary="Get a topic config",
)
def config_get(request, cluster_id: str, topic_name: str, name: str):
    cid = _cluster(cluster_id)
    info = _topic(topic_name)
    return _config_out(request, cid, info.name, _config_name(name), info.overrides)


@router.put(
    "/clusters/{cluster_id}/topics/{topic_name}/configs/{name}",
    response=_errors(400, 403, 422) | {204: None},
    summary="Set a topic config",
    auth=STAFF_AUTH,
)
def config_update(request, cluster_id: str, topic_name: str, name: str, payload: ConfigUpdateIn):
    _cluster(cluster_id)
    _topic(topic_name)
    _config_name(name)
    topic_service.topic_configs_alter(name=topic_name, set_configs={name: _config_value(payload.value)})
    return Status(204, None)


@router.delete(
    "/clusters/{cluster_id}/topics/{topic_name}/configs/{name}",
    response=_errors(403) | {204: None},
    summary="Reset a topic config to its default",
    auth=STAFF_AUTH,
)
def config_reset(request, cluster_id: str, topic_name: str, name: str):
    _cluster(cluster_id)
    _topic(topic_name)
    _config_name(name)
    topic_service.topic_configs_alter(name=topic_name, delete_configs=[name])
    return Status(204, None)


@router.post(
    "/clusters/{cluster_id}/topics/{topic_name}/configs:alter",
    response=_errors(400, 403, 422) | {204: None},
    summary="Set and reset several topic configs at once",
    auth=STAFF_AUTH,
)
def configs_alter(request, cluster_id: str, topic_name: str, payload: ConfigsAlterIn):
    _cluster(cluster_id)
    _topic(topic_name)
    set_configs, delete_configs = {}, []
    for item in payload.data:
        if item.operation.upper() == "DELETE":
            delete_configs.append(_config_name(item.name))
        else:
            set_configs[item.name] = _config_value(item.value)
    topic_service.topic_configs_alter(
        name=topic_name, set_configs=set_configs, delete_configs=delete_configs, validate_only=payload.validate_only
    )
    return Status(204, None)


# --- Records -----------------------------------------------------------------------------------


def _invalid(message: str) -> RestError:
    return RestError(INVALID_PAYLOAD, message)


def _data(field: str, obj) -> tuple[bytes | None, str | None]:
    """Serialize a record's key or value: (bytes, type), or (None, None) when there is none."""
    if obj is None:
        return None, None
    if not isinstance(obj, dict):
        raise _invalid(f"{field} must be an object {{\"type\": ..., \"data\": ...}} or null.")
    if "schema_id" in obj or "subject" in obj or "schema" in obj or "schema_version" in obj:
        raise _invalid(f"{field}: schemas are not supported (no Schema Registry); use BINARY, JSON or STRING.")
    # Without a type Confluent would consult the Schema Registry; there is none, and the data is
    # already JSON, so that is what gets written.
    kind = obj.get("type", "JSON")
    data = obj.get("data")
    if kind == "BINARY":
        if data is None:
            return None, kind
        if not isinstance(data, str):
            raise _invalid(f"{field}.data must be a base64 string for type BINARY.")
        try:
            return base64.b64decode(data, validate=True), kind
        except (binascii.Error, ValueError):
            raise _invalid(f"{field}.data is not valid base64.") from None
    if kind == "STRING":
        if data is None:
            return None, kind
        if not isinstance(data, str):
            raise _invalid(f"{field}.data must be a string for type STRING.")
        try:
            return data.encode("utf-8"), kind
        except UnicodeEncodeError:
            raise _invalid(f"{field}.data is not valid Unicode text.") from None
    if kind == "JSON":
        if data is None and "data" not in obj:
            return None, kind
        try:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), kind
        except (UnicodeEncodeError, ValueError):
            raise _invalid(f"{field}.data cannot be written as JSON.") from None
    raise _invalid(f"{field}.type must be BINARY, JSON or STRING, got {kind!r}.")


def _timestamp(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _invalid("timestamp must be an ISO 8601 date-time.")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise _invalid(f"timestamp {value!r} is not an ISO 8601 date-time.")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = int(parsed.timestamp() * 1000)
    else:
        raise _invalid("timestamp must be an ISO 8601 date-time.")
    if not 0 <= ms < 253402300800000:  # before year 10000, so it can be reported back
        raise _invalid(f"timestamp {value!r} is out of range.")
    return ms


def _record(obj) -> tuple[RecordIn, dict]:
    """A produce request's record, and the key/value part of its delivery report."""
    if not isinstance(obj, dict):
        raise _invalid("Each record must be a JSON object.")
    partition = obj.get("partition_id")
    if partition is not None and (isinstance(partition, bool) or not isinstance(partition, int)):
        raise _invalid("partition_id must be an integer.")
    if partition is not None and not 0 <= partition <= _INT32_MAX:
        raise RestError(PARTITION_NOT_FOUND, f"Partition {partition} does not exist.")
    headers = []
    raw_headers = obj.get("headers") or []
    if not isinstance(raw_headers, list):
        raise _invalid("headers must be a list of {\"name\", \"value\"} objects.")
    for h in raw_headers:
        if not isinstance(h, dict) or not isinstance(h.get("name"), str):
            raise _invalid("Each header needs a string name.")
        value = h.get("value")
        if value is not None:
            if not isinstance(value, str):
                raise _invalid(f"Header {h['name']!r}: value must be base64 or null.")
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"Header {h['name']!r}: value is not valid base64.") from None
        headers.append((h["name"], value))
    key, key_type = _data("key", obj.get("key"))
    value, value_type = _data("value", obj.get("value"))
    record = RecordIn(key=key, value=value, headers=tuple(headers), timestamp=_timestamp(obj.get("timestamp")), partition=partition)
    sizes = {
        "key": None if key_type is None else {"type": key_type, "size": len(key or b"")},
        "value": None if value_type is None else {"type": value_type, "size": len(value or b"")},
    }
    return record, sizes


def _topic_exists(topic_name: str) -> str:
    """The topic's name, or 40401: the produce paths need no more of the topic than that."""
    _name(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    try:
        return topics_read.topic_get(name=topic_name).name
    except BrokerError as e:
        raise rest_error(e) from None


def _produce_many(cid: str, topic: str, items: list) -> list:
    """One delivery report (or RestError) per item, in order. The records that parse go in one
    append; only if the broker refuses that batch is each record appended on its own, so every
    record still succeeds or fails by itself, as Confluent's per-record reports promise."""
    parsed = []
    for item in items:
        try:
            parsed.append(item if isinstance(item, RestError) else _record(item))
        except RestError as e:
            parsed.append(e)
    good = [p for p in parsed if not isinstance(p, RestError)]
    try:
        results = iter(records_append(topic=topic, records=[r for r, _ in good])) if good else iter(())
    except BrokerError:
        results = None
    reports = []
    for p in parsed:
        if isinstance(p, RestError):
            reports.append(p)
        elif results is not None:
            reports.append(_report(cid, topic, next(results), p[1]))
        else:
            try:
                reports.append(_report(cid, topic, records_append(topic=topic, records=[p[0]])[0], p[1]))
            except BrokerError as e:
                reports.append(rest_error(e, not_found=PARTITION_NOT_FOUND))
    return reports


def _report(cid: str, topic: str, result, sizes: dict) -> dict:
    when = datetime.fromtimestamp(result.timestamp / 1000, tz=UTC)
    return {
        "error_code": 200,
        "cluster_id": cid,
        "topic_name": topic,
        "partition_id": result.partition,
        "offset": result.offset,
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **sizes,
    }


def _concatenated_json(text: str) -> list:
    """Concatenated JSON (Confluent's streaming produce): objects one after another, any space
    between. A malformed object ends the stream there; it is reported as the last item."""
    decoder = json.JSONDecoder()
    items: list = []
    pos, end = 0, len(text)
    limit = settings.REST["MAX_RECORDS_PER_REQUEST"]
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return items
        if len(items) >= limit:
            raise RestError(TOO_LARGE, f"A request may carry at most {limit} records.")
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            items.append(RestError(BAD_REQUEST, f"Record {len(items) + 1} is not valid JSON: {e.msg}."))
            return items
        items.append(obj)


def _body_text(request) -> str:
    body_limit(request)
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise RestError(BAD_REQUEST, "The request body is not UTF-8 JSON.") from None


def _stream_error(e: RestError) -> dict:
    # In a stream each report's error_code is an HTTP status, as in Confluent's delivery reports.
    status = e.status
    return {"error_code": 400 if status == 422 else status, "message": e.message}


@router.post(
    "/clusters/{cluster_id}/topics/{topic_name}/records",
    response=_errors(400, 413, 422) | {200: ProduceReport},
    openapi_extra=_PRODUCE_BODY,
    summary="Produce records (one, or a stream of concatenated JSON records)",
)
def records_produce(request, cluster_id: str, topic_name: str):
    cid = _cluster(cluster_id)
    text = _body_text(request)
    topic = _topic_exists(topic_name)
    items = _concatenated_json(text)
    if not items:
        raise RestError(BAD_REQUEST, "The request body holds no record.")
    reports = _produce_many(cid, topic, items)
    if len(reports) == 1:
        if isinstance(reports[0], RestError):
            raise reports[0]
        return reports[0]
    body = "".join(
        json.dumps(_stream_error(r) if isinstance(r, RestError) else r, separators=(",", ":")) for r in reports
    )
    return HttpResponse(body, content_type="application/json")


@router.post(
    "/clusters/{cluster_id}/topics/{topic_name}/records:batch",
    response=_errors(400, 413, 422) | {207: BatchOut},
    openapi_extra=_BATCH_BODY,
    summary="Produce a batch of records; each entry succeeds or fails on its own",
)
def records_produce_batch(request, cluster_id: str, topic_name: str):
    cid = _cluster(cluster_id)
    text = _body_text(request)
    topic = _topic_exists(topic_name)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as e:
        raise RestError(BAD_REQUEST, f"The request body is not valid JSON: {e.msg}.") from None
    entries = payload.get("entries") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _invalid("The body must be {\"entries\": [{\"id\": ..., ...record}, ...]} with at least one entry.")
    limit = settings.REST["MAX_RECORDS_PER_REQUEST"]
    if len(entries) > limit:
        raise RestError(TOO_LARGE, f"A request may carry at most {limit} records.")
    ids = [e.get("id") if isinstance(e, dict) else None for e in entries]
    if any(not isinstance(i, str) or not i for i in ids):
        raise _invalid("Every entry needs a non-empty string id.")
    if len(set(ids)) != len(ids):
        raise _invalid("Entry ids must be unique within the batch.")
    successes, failures = [], []
    for entry_id, report in zip(ids, _produce_many(cid, topic, entries), strict=True):
        if isinstance(report, RestError):
            failures.append({"id": entry_id, **_stream_error(report)})
        else:
            successes.append({"id": entry_id, **report})
    return Status(207, {"successes": successes, "failures": failures})


# --- Consumer groups ---------------------------------------------------------------------------

_STATES = {
    "Empty": "EMPTY",
    "PreparingRebalance": "PREPARING_REBALANCE",
    "CompletingRebalance": "COMPLETING_REBALANCE",
    "Stable": "STABLE",
    "Dead": "DEAD",
}


def _group(group_id: str):
    _name(group_id, CONSUMER_GROUP_NOT_FOUND, f"Consumer group '{group_id}'")
    try:
        return group_describe(group_id=group_id)
    except BrokerError as e:
        raise rest_error(e) from None


def _group_out(request, cid: str, group_id: str, state: str, assignor: str, members: int) -> dict:
    base = ("clusters", cid, "consumer-groups", group_id)
    return {
        "kind": "KafkaConsumerGroup",
        "metadata": {"self": _url(request, *base), "resource_name": _crn(cid, ("consumer-group", group_id))},
        "cluster_id": cid,
        "consumer_group_id": group_id,
        # A group that only commits offsets (no member ever joined) is Kafka's "simple" group.
        "is_simple": members == 0 and not assignor,
        "partition_assignor": assignor,
        "state": _STATES.get(state, "UNKNOWN"),
        "coordinator": _rel(request, "clusters", cid, "brokers", brokers_live_ids()[0]),
        "consumers": _rel(request, *base, "consumers"),
        "lag_summary": _rel(request, *base, "lag-summary"),
    }


@router.get(
    "/clusters/{cluster_id}/consumer-groups",
    response=_errors() | {200: ConsumerGroupList},
    summary="List consumer groups",
)
def groups_list(request, cluster_id: str):
    cid = _cluster(cluster_id)
    return _list(
        "KafkaConsumerGroupList",
        request,
        [
            _group_out(request, cid, g["group_id"], g["state"], g["assignor"] if g["members"] else "", g["members"])
            for g in groups_read.group_list()
        ],
    )


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}",
    response=_errors() | {200: ConsumerGroupOut},
    summary="Get a consumer group",
)
def group_get(request, cluster_id: str, consumer_group_id: str):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    assignor = (g.protocol_name or g.assignor) if g.members else ""
    return _group_out(request, cid, g.group_id, g.state, assignor, len(g.members))


def _consumer_out(request, cid: str, group_id: str, m) -> dict:
    base = ("clusters", cid, "consumer-groups", group_id, "consumers", m.member_id)
    return {
        "kind": "KafkaConsumer",
        "metadata": {
            "self": _url(request, *base),
            "resource_name": _crn(cid, ("consumer-group", group_id), ("consumer", m.member_id)),
        },
        "cluster_id": cid,
        "consumer_group_id": group_id,
        "consumer_id": m.member_id,
        "instance_id": m.group_instance_id,
        "client_id": m.client_id,
        "assignments": _rel(request, *base, "assignments"),
    }


def _member(g, consumer_id: str):
    for m in g.members:
        if m.member_id == consumer_id:
            return m
    raise RestError(CONSUMER_INSTANCE_NOT_FOUND, f"Consumer '{consumer_id}' is not a member of group '{g.group_id}'.")


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/consumers",
    response=_errors() | {200: ConsumerList},
    summary="List a group's consumers",
)
def consumers_list(request, cluster_id: str, consumer_group_id: str):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    return _list("KafkaConsumerList", request, [_consumer_out(request, cid, g.group_id, m) for m in g.members])


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/consumers/{consumer_id}",
    response=_errors() | {200: ConsumerOut},
    summary="Get a consumer of a group",
)
def consumer_get(request, cluster_id: str, consumer_group_id: str, consumer_id: str):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    return _consumer_out(request, cid, g.group_id, _member(g, consumer_id))


def _assignment_out(request, cid: str, group_id: str, member_id: str, topic: str, partition: int) -> dict:
    base = ("clusters", cid, "consumer-groups", group_id, "consumers", member_id, "assignments", topic, "partitions", partition)
    return {
        "kind": "KafkaConsumerAssignment",
        "metadata": {
            "self": _url(request, *base),
            "resource_name": _crn(
                cid, ("consumer-group", group_id), ("consumer", member_id), ("assignment", topic), ("partition", partition)
            ),
        },
        "cluster_id": cid,
        "consumer_group_id": group_id,
        "consumer_id": member_id,
        "topic_name": topic,
        "partition_id": partition,
        "partition": _rel(request, "clusters", cid, "topics", topic, "partitions", partition),
        "lag": _rel(request, "clusters", cid, "consumer-groups", group_id, "lags", topic, "partitions", partition),
    }


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/consumers/{consumer_id}/assignments",
    response=_errors() | {200: AssignmentList},
    summary="List a consumer's assigned partitions",
)
def assignments_list(request, cluster_id: str, consumer_group_id: str, consumer_id: str):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    m = _member(g, consumer_id)
    return _list(
        "KafkaConsumerAssignmentList",
        request,
        [_assignment_out(request, cid, g.group_id, m.member_id, t, p) for t, p in sorted(m.assignment)],
    )


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/consumers/{consumer_id}"
    "/assignments/{topic_name}/partitions/{partition_id}",
    response=_errors() | {200: AssignmentOut},
    summary="Get one of a consumer's assigned partitions",
)
def assignment_get(
    request, cluster_id: str, consumer_group_id: str, consumer_id: str, topic_name: str, partition_id: int
):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    m = _member(g, consumer_id)
    if (topic_name, partition_id) not in set(m.assignment):
        raise RestError(
            PARTITION_NOT_FOUND, f"Consumer '{consumer_id}' is not assigned {topic_name}-{partition_id}."
        )
    return _assignment_out(request, cid, g.group_id, m.member_id, topic_name, partition_id)


def _lags(g) -> list[tuple[Any, Any]]:
    """(lag, owning member or None) of each partition the group has committed an offset for:
    Confluent's lag is measured from the committed offset, so there is none without one."""
    members = {m.member_id: m for m in g.members}
    return [(p, members.get(p.owner)) for p in g.partitions if p.committed is not None]


def _lag_out(request, cid: str, group_id: str, p, m) -> dict:
    return {
        "kind": "KafkaConsumerLag",
        "metadata": {
            "self": _url(request, "clusters", cid, "consumer-groups", group_id, "lags", p.topic, "partitions", p.partition),
            "resource_name": _crn(cid, ("consumer-group", group_id), ("lag", p.topic), ("partition", p.partition)),
        },
        "cluster_id": cid,
        "consumer_group_id": group_id,
        "topic_name": p.topic,
        "partition_id": p.partition,
        "current_offset": p.committed,
        "log_end_offset": p.high_watermark,
        "lag": p.lag,
        "consumer_id": m.member_id if m else "",
        "instance_id": m.group_instance_id if m else None,
        "client_id": m.client_id if m else "",
    }


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/lags",
    response=_errors() | {200: LagList},
    summary="List a group's lag per partition, largest first",
)
def lags_list(request, cluster_id: str, consumer_group_id: str):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    rows = sorted(_lags(g), key=lambda pm: (-pm[0].lag, pm[0].topic, pm[0].partition))
    return _list("KafkaConsumerLagList", request, [_lag_out(request, cid, g.group_id, p, m) for p, m in rows])


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/lags/{topic_name}/partitions/{partition_id}",
    response=_errors() | {200: LagOut},
    summary="Get a group's lag on one partition",
)
def lag_get(request, cluster_id: str, consumer_group_id: str, topic_name: str, partition_id: int):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    for p, m in _lags(g):
        if p.topic == topic_name and p.partition == partition_id:
            return _lag_out(request, cid, g.group_id, p, m)
    raise RestError(
        PARTITION_NOT_FOUND,
        f"Group '{g.group_id}' has no committed offset on {topic_name}-{partition_id}, so it has no lag there.",
    )


@router.get(
    "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/lag-summary",
    response=_errors() | {200: LagSummaryOut},
    summary="Get a group's total and largest lag",
)
def lag_summary(request, cluster_id: str, consumer_group_id: str):
    cid = _cluster(cluster_id)
    g = _group(consumer_group_id)
    rows = _lags(g)
    base = ("clusters", cid, "consumer-groups", g.group_id)
    out = {
        "kind": "KafkaConsumerGroupLagSummary",
        "metadata": {
            "self": _url(request, *base, "lag-summary"),
            "resource_name": _crn(cid, ("consumer-group", g.group_id)) + "/lag-summary",
        },
        "cluster_id": cid,
        "consumer_group_id": g.group_id,
        "max_lag_consumer_id": "",
        "max_lag_instance_id": None,
        "max_lag_client_id": "",
        "max_lag_topic_name": "",
        "max_lag_partition_id": 0,
        "max_lag": 0,
        "total_lag": sum(p.lag for p, _ in rows),
        "max_lag_consumer": None,
        "max_lag_partition": None,
    }
    if rows:
        # The first partition with the largest lag, in topic/partition order, names the maximum.
        p, m = max(rows, key=lambda pm: (pm[0].lag, -pm[0].partition))
        out.update(
            max_lag_consumer_id=m.member_id if m else "",
            max_lag_instance_id=m.group_instance_id if m else None,
            max_lag_client_id=m.client_id if m else "",
            max_lag_topic_name=p.topic,
            max_lag_partition_id=p.partition,
            max_lag=p.lag,
            max_lag_consumer=_rel(request, *base, "consumers", m.member_id) if m else None,
            max_lag_partition=_rel(request, "clusters", cid, "topics", p.topic, "partitions", p.partition),
        )
    return out


# --- Brokers -----------------------------------------------------------------------------------


def _broker_out(request, cid: str, b: dict) -> dict:
    base = ("clusters", cid, "brokers", b["node_id"])
    return {
        "kind": "KafkaBroker",
        "metadata": {"self": _url(request, *base), "resource_name": _crn(cid, ("broker", b["node_id"]))},
        "cluster_id": cid,
        "broker_id": b["node_id"],
        "host": b["host"],
        "port": b["port"],
        "rack": b["rack"] or None,
        "configs": _rel(request, *base, "configs"),
        "partition_replicas": _rel(request, *base, "partition-replicas"),
    }


@router.get("/clusters/{cluster_id}/brokers", response=_errors() | {200: BrokerList}, summary="List brokers")
def brokers_list(request, cluster_id: str):
    cid = _cluster(cluster_id)
    return _list("KafkaBrokerList", request, [_broker_out(request, cid, b) for b in cluster_read.brokers_list()])


def _broker(broker_id: int) -> dict:
    b = cluster_read.broker_get(broker_id)
    if b is None:
        raise RestError(BROKER_NOT_FOUND, f"Broker {broker_id} not found.")
    return b


@router.get(
    "/clusters/{cluster_id}/brokers/{broker_id}", response=_errors() | {200: BrokerOut}, summary="Get a broker"
)
def broker_get(request, cluster_id: str, broker_id: int):
    cid = _cluster(cluster_id)
    return _broker_out(request, cid, _broker(broker_id))


@router.get(
    "/clusters/{cluster_id}/brokers/{broker_id}/partition-replicas",
    response=_errors() | {200: ReplicaList},
    summary="List the partition replicas a broker holds",
)
def broker_replicas_list(request, cluster_id: str, broker_id: int):
    cid = _cluster(cluster_id)
    _broker(broker_id)
    data = [_replica_out(request, cid, topic, p, broker_id) for topic, p in broker_replicas(broker_id)]
    return _list("KafkaReplicaList", request, data)


# --- Broker configs (read-only) ----------------------------------------------------------------

def _broker_configs(b: dict) -> dict[str, str]:
    configs = broker_configs(node_id=b["node_id"], host=b["host"] or "", port=b["port"] or 0)
    return {c.name: c.value for c in configs}


def _config_fields(name: str, value: str, source: str) -> dict:
    # As the Kafka listener's DescribeConfigs says: static settings, fixed until a restart.
    return {
        "name": name,
        "value": value,
        "is_default": False,
        "is_read_only": True,
        "is_sensitive": False,
        "source": source,
        "synonyms": [{"name": name, "value": value, "source": source}],
    }


def _broker_config_out(request, cid: str, broker_id: int, name: str, value: str) -> dict:
    return {
        "kind": "KafkaBrokerConfig",
        "metadata": {
            "self": _url(request, "clusters", cid, "brokers", broker_id, "configs", name),
            "resource_name": _crn(cid, ("broker", broker_id), ("config", name)),
        },
        "cluster_id": cid,
        "broker_id": broker_id,
        **_config_fields(name, value, "STATIC_BROKER_CONFIG"),
    }


def _cluster_config_out(request, cid: str, name: str, value: str) -> dict:
    return {
        "kind": "KafkaClusterConfig",
        "metadata": {
            "self": _url(request, "clusters", cid, "broker-configs", name),
            "resource_name": _crn(cid, ("broker-config", name)),
        },
        "cluster_id": cid,
        "config_type": "BROKER",
        **_config_fields(name, value, "STATIC_BROKER_CONFIG"),
    }


def _cluster_configs() -> dict[str, str]:
    return {c.name: c.value for c in cluster_configs()}


def _known(configs: dict[str, str], name: str) -> str:
    if name not in configs:
        raise RestError(CONFIG_NOT_FOUND, f"Config '{name}' not found; broker configs are: {', '.join(configs)}.")
    return configs[name]


@router.get(
    "/clusters/{cluster_id}/brokers/{broker_id}/configs",
    response=_errors() | {200: BrokerConfigList},
    summary="List a broker's configs (read-only)",
)
def broker_configs_list(request, cluster_id: str, broker_id: int):
    cid = _cluster(cluster_id)
    configs = _broker_configs(_broker(broker_id))
    return _list(
        "KafkaBrokerConfigList",
        request,
        [_broker_config_out(request, cid, broker_id, n, v) for n, v in configs.items()],
    )


@router.get(
    "/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}",
    response=_errors() | {200: BrokerConfigOut},
    summary="Get a broker config",
)
def broker_config_get(request, cluster_id: str, broker_id: int, name: str):
    cid = _cluster(cluster_id)
    configs = _broker_configs(_broker(broker_id))
    return _broker_config_out(request, cid, broker_id, name, _known(configs, name))


@router.get(
    "/clusters/{cluster_id}/broker-configs",
    response=_errors() | {200: ClusterConfigList},
    summary="List the cluster-wide broker configs (read-only)",
)
def cluster_configs_list(request, cluster_id: str):
    cid = _cluster(cluster_id)
    return _list(
        "KafkaClusterConfigList",
        request,
        [_cluster_config_out(request, cid, n, v) for n, v in _cluster_configs().items()],
    )


@router.get(
    "/clusters/{cluster_id}/broker-configs/{name}",
    response=_errors() | {200: ClusterConfigOut},
    summary="Get a cluster-wide broker config",
)
def cluster_config_get(request, cluster_id: str, name: str):
    cid = _cluster(cluster_id)
    return _cluster_config_out(request, cid, name, _known(_cluster_configs(), name))


# --- Partition reassignments (there never are any) -----------------------------------------------


@router.get(
    "/clusters/{cluster_id}/topics/-/partitions/-/reassignment",
    response=_errors() | {200: ReassignmentList},
    summary="List partition reassignments in progress (never any: every replica is in the database)",
)
def reassignments_list(request, cluster_id: str):
    _cluster(cluster_id)
    return _list("KafkaReassignmentList", request, [])


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/partitions/-/reassignment",
    response=_errors() | {200: ReassignmentList},
    summary="List a topic's partition reassignments in progress (never any)",
)
def topic_reassignments_list(request, cluster_id: str, topic_name: str):
    _cluster(cluster_id)
    _topic(topic_name)
    return _list("KafkaReassignmentList", request, [])


@router.get(
    "/clusters/{cluster_id}/topics/{topic_name}/partitions/{partition_id}/reassignment",
    response=_errors() | {200: ReassignmentOut},
    summary="Get a partition's reassignment in progress (404: there never is one)",
)
def reassignment_get(request, cluster_id: str, topic_name: str, partition_id: int):
    _cluster(cluster_id)
    _partition(topic_name, partition_id)
    raise RestError(
        PARTITION_NOT_FOUND,
        f"No reassignment in progress for {topic_name}-{partition_id} (this broker never reassigns partitions).",
    )
