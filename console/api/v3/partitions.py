"""A topic's partitions, their replicas, and partition reassignments (there never are any: the
database holds every replica, so lists are empty and a partition's reassignment is 404, as
Confluent's proxy answers for a partition with none in progress).

One extension: partition objects carry "beginning_offset" and "end_offset" (log start offset and
high watermark), which v3 has no endpoint for (v2 has .../partitions/{p}/offsets).
"""

from typing import Literal, NoReturn

from django.http import HttpRequest

from brokercore.security.acl import Operation
from brokercore.types import PartitionInfo
from console.api import access
from console.api.errors import BROKER_NOT_FOUND, PARTITION_NOT_FOUND, RestError
from console.api.v3.shared import (
    Related,
    Resource,
    cluster_check,
    list_out,
    list_schema,
    partition_check,
    related,
    resource,
    route,
    topic_check,
)


class PartitionOut(Resource):
    kind: Literal["KafkaPartition"]
    topic_name: str
    partition_id: int
    leader: Related | None
    replicas: Related
    reassignment: Related
    beginning_offset: int
    end_offset: int


PartitionList = list_schema("PartitionList", "KafkaPartitionList", PartitionOut)


class ReplicaOut(Resource):
    kind: Literal["KafkaReplica"]
    topic_name: str
    partition_id: int
    broker_id: int
    is_leader: bool
    is_in_sync: bool
    broker: Related


ReplicaList = list_schema("ReplicaList", "KafkaReplicaList", ReplicaOut)


class ReassignmentOut(Resource):
    kind: Literal["KafkaReassignment"]
    topic_name: str
    partition_id: int
    adding_replicas: list[int]
    removing_replicas: list[int]
    replicas: Related


ReassignmentList = list_schema("ReassignmentList", "KafkaReassignmentList", ReassignmentOut)

_PARTITION = "/clusters/{cluster_id}/topics/{topic_name}/partitions/{partition_id}"


def _partition_out(request: HttpRequest, cid: str, topic: str, p: PartitionInfo) -> dict:
    base = ("topics", topic, "partitions", p.index)
    return resource(
        request, "KafkaPartition", cid, base, (("topic", topic), ("partition", p.index)),
        topic_name=topic,
        partition_id=p.index,
        leader=related(request, cid, *base, "replicas", p.leader),
        replicas=related(request, cid, *base, "replicas"),
        reassignment=related(request, cid, *base, "reassignment"),
        beginning_offset=p.log_start_offset,
        end_offset=p.high_watermark,
    )


def replica_out(request: HttpRequest, cid: str, topic: str, p: PartitionInfo, broker_id: int) -> dict:
    """Broker `broker_id`'s replica of partition `p` (also listed per broker, in brokers.py)."""
    return resource(
        request, "KafkaReplica", cid,
        ("topics", topic, "partitions", p.index, "replicas", broker_id),
        (("topic", topic), ("partition", p.index), ("replica", broker_id)),
        topic_name=topic,
        partition_id=p.index,
        broker_id=broker_id,
        is_leader=broker_id == p.leader,
        is_in_sync=broker_id in p.isr,
        broker=related(request, cid, "brokers", broker_id),
    )


@route(
    "GET", "/clusters/{cluster_id}/topics/{topic_name}/partitions", PartitionList,
    summary="List a topic's partitions",
)
def partitions_list(request: HttpRequest, cluster_id: str, topic_name: str) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    info = topic_check(topic_name)
    return list_out("KafkaPartitionList", request, [_partition_out(request, cid, info.name, p) for p in info.partitions])


@route("GET", _PARTITION, PartitionOut, summary="Get a partition (with its beginning and end offsets)")
def partition_get(request: HttpRequest, cluster_id: str, topic_name: str, partition_id: int) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    return _partition_out(request, cid, topic_name, partition_check(topic_name, partition_id))


@route("GET", _PARTITION + "/replicas", ReplicaList, summary="List a partition's replicas")
def replicas_list(request: HttpRequest, cluster_id: str, topic_name: str, partition_id: int) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    p = partition_check(topic_name, partition_id)
    return list_out("KafkaReplicaList", request, [replica_out(request, cid, topic_name, p, b) for b in p.replicas])


@route("GET", _PARTITION + "/replicas/{broker_id}", ReplicaOut, summary="Get a replica of a partition")
def replica_get(request: HttpRequest, cluster_id: str, topic_name: str, partition_id: int, broker_id: int) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    p = partition_check(topic_name, partition_id)
    if broker_id not in p.replicas:
        raise RestError(BROKER_NOT_FOUND, f"Broker {broker_id} holds no replica of {topic_name}-{partition_id}.")
    return replica_out(request, cid, topic_name, p, broker_id)


@route(
    "GET", "/clusters/{cluster_id}/topics/-/partitions/-/reassignment", ReassignmentList,
    summary="List partition reassignments in progress (never any: every replica is in the database)",
)
def reassignments_list(request: HttpRequest, cluster_id: str) -> dict:
    cluster_check(cluster_id)
    access.require_cluster(request, Operation.DESCRIBE)  # Kafka's ListPartitionReassignments
    return list_out("KafkaReassignmentList", request, [])


@route(
    "GET", "/clusters/{cluster_id}/topics/{topic_name}/partitions/-/reassignment", ReassignmentList,
    summary="List a topic's partition reassignments in progress (never any)",
)
def topic_reassignments_list(request: HttpRequest, cluster_id: str, topic_name: str) -> dict:
    cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    topic_check(topic_name)
    return list_out("KafkaReassignmentList", request, [])


@route(
    "GET", _PARTITION + "/reassignment", ReassignmentOut,
    summary="Get a partition's reassignment in progress (404: there never is one)",
)
def reassignment_get(request: HttpRequest, cluster_id: str, topic_name: str, partition_id: int) -> NoReturn:
    cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    partition_check(topic_name, partition_id)
    raise RestError(
        PARTITION_NOT_FOUND,
        f"No reassignment in progress for {topic_name}-{partition_id} (this broker never reassigns partitions).",
    )
