"""Topics: list, create, get, grow, delete."""

from typing import Literal

from django.http import HttpRequest
from ninja import Schema, Status
from pydantic import Field

from brokercore.security.acl import CLUSTER_NAME, Operation, ResourceType
from brokercore.topics import read as topics_read
from brokercore.topics import service as topic_service
from brokercore.topics.rules import LEGAL_NAME_PATTERN, MAX_NAME_LENGTH, topic_is_internal
from console.api import access
from console.api.errors import TOPIC_NOT_FOUND
from console.api.v3.shared import (
    Related,
    Resource,
    cluster_check,
    list_out,
    list_schema,
    name_check,
    related,
    resource,
    route,
    topic_check,
)


class TopicOut(Resource):
    kind: Literal["KafkaTopic"]
    topic_name: str
    is_internal: bool
    replication_factor: int
    partitions_count: int
    partitions: Related
    configs: Related
    partition_reassignments: Related
    authorized_operations: list[str]


TopicList = list_schema("TopicList", "KafkaTopicList", TopicOut)


class ConfigIn(Schema):
    name: str
    value: str | int | None = None


class TopicCreateIn(Schema):
    # Kafka's legal topic names, stated in the schema so clients (and generated tests) know them.
    topic_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=LEGAL_NAME_PATTERN)
    # Left out: the broker's defaults (num.partitions, default.replication.factor), as in Kafka.
    partitions_count: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    configs: list[ConfigIn] = []
    validate_only: bool = False


class TopicUpdateIn(Schema):
    partitions_count: int = Field(ge=1)


def _topic_out(
    request: HttpRequest, cid: str, name: str, replication_factor: int, partitions: int, operations: bool = False
) -> dict:
    base = ("topics", name)
    return resource(
        request, "KafkaTopic", cid, base, (("topic", name),),
        topic_name=name,
        is_internal=topic_is_internal(name),
        replication_factor=replication_factor,
        partitions_count=partitions,
        partitions=related(request, cid, *base, "partitions"),
        configs=related(request, cid, *base, "configs"),
        partition_reassignments=related(request, cid, *base, "partitions", "-", "reassignment"),
        # Confluent fills it only when asked (include_authorized_operations), as Kafka's Metadata does.
        authorized_operations=access.topic_operations(request, name) if operations else [],
    )


@route("GET", "/clusters/{cluster_id}/topics", TopicList, summary="List topics")
def topics_list(request: HttpRequest, cluster_id: str, include_authorized_operations: bool = False) -> dict:
    """The topics the caller may DESCRIBE (Kafka's Metadata leaves the others out)."""
    cid = cluster_check(cluster_id)
    topics = access.visible_topics(request, topics_read.topic_list(), lambda t: t.name)
    return list_out(
        "KafkaTopicList",
        request,
        [_topic_out(request, cid, t.name, t.replication_factor, t.partitions, include_authorized_operations)
         for t in topics],
    )


@route(
    "POST", "/clusters/{cluster_id}/topics", {201: TopicOut, 200: TopicOut},
    summary="Create a topic", errors=(400, 403, 422), auth=access.CREATE_TOPIC_AUTH,
    description="Needs CREATE on the cluster or on the topic (Kafka's CreateTopics).",
)
def topic_create(request: HttpRequest, cluster_id: str, payload: TopicCreateIn) -> Status:
    cid = cluster_check(cluster_id)
    r = access.requester(request)
    if not access.may_create_topic(r, payload.topic_name):
        raise access.refused(r, Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)
    topic = topic_service.topic_create(
        name=payload.topic_name,
        partitions=payload.partitions_count,
        replication_factor=payload.replication_factor,
        configs={c.name: c.value for c in payload.configs},
        validate_only=payload.validate_only,
    )
    out = _topic_out(request, cid, topic.name, topic.replication_factor, topic.partition_count)
    # Confluent answers a validate-only request 200 (nothing was created) and a creation 201.
    return Status(200 if payload.validate_only else 201, out)


@route("GET", "/clusters/{cluster_id}/topics/{topic_name}", TopicOut, summary="Get a topic")
def topic_get(request: HttpRequest, cluster_id: str, topic_name: str, include_authorized_operations: bool = False) -> dict:
    cid = cluster_check(cluster_id)
    access.require_topic(request, Operation.DESCRIBE, topic_name)
    info = topic_check(topic_name)
    return _topic_out(request, cid, info.name, info.replication_factor, len(info.partitions), include_authorized_operations)


@route(
    "PATCH", "/clusters/{cluster_id}/topics/{topic_name}", TopicOut,
    summary="Grow a topic's partition count", errors=(400, 403, 422), auth=access.topic_auth(Operation.ALTER),
    description="Partitions can only be added: a smaller count is Kafka's INVALID_PARTITIONS (400).",
)
def topic_update(request: HttpRequest, cluster_id: str, topic_name: str, payload: TopicUpdateIn) -> dict:
    cid = cluster_check(cluster_id)
    name_check(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    topic = topic_service.topic_partitions_add(name=topic_name, count=payload.partitions_count)
    return _topic_out(request, cid, topic.name, topic.replication_factor, payload.partitions_count)


@route(
    "DELETE", "/clusters/{cluster_id}/topics/{topic_name}", {204: None},
    summary="Delete a topic", errors=(403,), auth=access.topic_auth(Operation.DELETE),
)
def topic_delete(request: HttpRequest, cluster_id: str, topic_name: str) -> Status:
    cluster_check(cluster_id)
    name_check(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    topic_service.topic_delete(name=topic_name)
    return Status(204, None)
