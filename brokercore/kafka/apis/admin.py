"""CreateTopics, DeleteTopics and CreatePartitions: Kafka admin clients changing topics through
brokercore's topic services (the same rules and events as the console's)."""

import uuid
from collections.abc import Iterable

from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.errors import (
    BrokerError,
    InvalidRequest,
    TopicAuthorizationFailed,
    UnknownTopicId,
    UnknownTopicOrPartition,
)
from brokercore.kafka.apis.registry import RequestContext, api, error_code
from brokercore.security.acl import CLUSTER_NAME, Operation, Requester, ResourceType
from brokercore.topics.configs import config_entries
from brokercore.topics.read import topics_partition_counts
from brokercore.topics.service import topic_create, topic_delete, topic_partitions_add


def _topic_create_one(t: Entity, *, validate_only: bool, requester: Requester) -> dict:
    out = {"name": t.name, "error_code": 0, "error_message": None}
    try:
        configs = {c.name: c.value for c in t.configs}
        # -1 on the wire is "the broker's default" (KIP-464); topic_create applies it.
        topic = topic_create(
            name=t.name,
            partitions=None if t.num_partitions == -1 else t.num_partitions,
            replication_factor=None if t.replication_factor == -1 else t.replication_factor,
            configs=configs,
            assignments=[(a.partition_index, a.broker_ids) for a in t.assignments],
            validate_only=validate_only,
        )
    except BrokerError as e:
        return {**out, "error_code": error_code(e), "error_message": str(e), "configs": None}
    out.update(topic_id=None if validate_only else topic.topic_id, num_partitions=topic.partition_count,
               replication_factor=topic.replication_factor)
    if not requester.may(Operation.DESCRIBE_CONFIGS, ResourceType.TOPIC, t.name):
        # Kafka's KafkaApis: the new topic's configs only for who may describe them (v5+).
        return {**out, "configs": None, "topic_config_error_code": TopicAuthorizationFailed.code}
    return {
        **out,
        "configs": [
            {"name": e.name, "value": e.value, "read_only": e.read_only, "config_source": int(e.source),
             "is_sensitive": e.sensitive}
            for e in config_entries(topic.configs)
        ],
    }


def create_topics_answer(topics: Iterable[Entity], *, validate_only: bool, requester: Requester) -> list[dict]:
    counts: dict[str, int] = {}
    for t in topics:
        counts[t.name] = counts.get(t.name, 0) + 1
    # Kafka's KafkaApis: CREATE on the cluster allows every topic, else CREATE on each topic.
    cluster = requester.may(Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)
    out = []
    for t in topics:
        if counts[t.name] > 1:
            # Kafka refuses every copy of a name given twice.
            e = InvalidRequest(f"Create topics request from client contains duplicate topic {t.name}.")
        elif not cluster and not requester.may(Operation.CREATE, ResourceType.TOPIC, t.name):
            e = TopicAuthorizationFailed(requester.refusal(Operation.CREATE, ResourceType.TOPIC, t.name))
        else:
            out.append(_topic_create_one(t, validate_only=validate_only, requester=requester))
            continue
        out.append({"name": t.name, "error_code": error_code(e), "error_message": str(e), "configs": None})
    return out


@api(19, versions=(0, 7))
async def create_topics(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    topics = await ctx.run_sync(
        create_topics_answer, request.topics, validate_only=getattr(request, "validate_only", False),  # v1 on
        requester=ctx.requester,
    )
    return ctx.response(topics=topics)


def delete_topics_answer(names: list[str | None], ids: list[uuid.UUID | None], *, requester: Requester) -> list[dict]:
    # The topics named or referred to by id, in one query.
    found = topics_partition_counts(names=[n for n in names if n is not None], topic_ids=[i for i in ids if i is not None])
    known = {t.topic_id: t.name for t in found}
    existing = set(known.values())
    out = []
    for name, topic_id in zip(names, ids, strict=True):
        name = known.get(topic_id) if name is None else name
        if name is None:
            out.append({"name": None, "topic_id": topic_id, "error_code": UnknownTopicId.code,
                        "error_message": f"Topic id {topic_id} does not exist."})
            continue
        try:
            # Kafka's order: a topic named by id is not named back to who may not describe it;
            # then DELETE is checked before the topic's existence, which it does not disclose.
            if topic_id is not None and not requester.may(Operation.DESCRIBE, ResourceType.TOPIC, name):
                out.append({"name": None, "topic_id": topic_id, "error_code": TopicAuthorizationFailed.code,
                            "error_message": requester.refusal(Operation.DESCRIBE, ResourceType.TOPIC, name)})
                continue
            if not requester.may(Operation.DELETE, ResourceType.TOPIC, name):
                raise TopicAuthorizationFailed(requester.refusal(Operation.DELETE, ResourceType.TOPIC, name))
            if name not in existing:
                raise UnknownTopicOrPartition(UnknownTopicOrPartition.__doc__)
            topic_delete(name=name)
            out.append({"name": name, "topic_id": topic_id, "error_code": 0})
        except BrokerError as e:
            out.append({"name": name, "topic_id": topic_id, "error_code": error_code(e), "error_message": str(e)})
    return out


@api(20, versions=(0, 6))
async def delete_topics(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if ctx.api_version >= 6:  # by name or (KIP-516) by topic id
        names = [t.name for t in request.topics]
        ids = [None if t.name is not None else t.topic_id for t in request.topics]
    else:
        names = list(request.topic_names)
        ids = [None] * len(names)
    return ctx.response(responses=await ctx.run_sync(delete_topics_answer, names, ids, requester=ctx.requester))


def create_partitions_answer(topics: Iterable[Entity], *, validate_only: bool, requester: Requester) -> list[dict]:
    out = []
    for t in topics:
        try:
            if not requester.may(Operation.ALTER, ResourceType.TOPIC, t.name):
                raise TopicAuthorizationFailed(requester.refusal(Operation.ALTER, ResourceType.TOPIC, t.name))
            assignments = None if t.assignments is None else [a.broker_ids for a in t.assignments]
            topic_partitions_add(name=t.name, count=t.count, assignments=assignments, validate_only=validate_only)
            out.append({"name": t.name, "error_code": 0})
        except BrokerError as e:
            out.append({"name": t.name, "error_code": error_code(e), "error_message": str(e)})
    return out


@api(37, versions=(0, 3))
async def create_partitions(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    results = await ctx.run_sync(
        create_partitions_answer, request.topics, validate_only=request.validate_only, requester=ctx.requester
    )
    return ctx.response(results=results)
