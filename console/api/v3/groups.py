"""Consumer groups, their consumers and those consumers' assignments, and the groups' lag."""

from typing import Literal

from django.http import HttpRequest

from brokercore.cluster import read as cluster_read
from brokercore.coordinator import read as groups_read
from brokercore.coordinator.lag import PartitionLag
from brokercore.coordinator.read import GroupView, MemberView, group_describe
from brokercore.security.acl import Operation
from console.api import access
from console.api.errors import CONSUMER_GROUP_NOT_FOUND, CONSUMER_INSTANCE_NOT_FOUND, PARTITION_NOT_FOUND, RestError
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
)


class ConsumerGroupOut(Resource):
    kind: Literal["KafkaConsumerGroup"]
    consumer_group_id: str
    is_simple: bool
    partition_assignor: str
    state: str
    coordinator: Related
    consumers: Related
    lag_summary: Related


ConsumerGroupList = list_schema("ConsumerGroupList", "KafkaConsumerGroupList", ConsumerGroupOut)


class ConsumerOut(Resource):
    kind: Literal["KafkaConsumer"]
    consumer_group_id: str
    consumer_id: str
    instance_id: str | None
    client_id: str
    assignments: Related


ConsumerList = list_schema("ConsumerList", "KafkaConsumerList", ConsumerOut)


class AssignmentOut(Resource):
    kind: Literal["KafkaConsumerAssignment"]
    consumer_group_id: str
    consumer_id: str
    topic_name: str
    partition_id: int
    partition: Related
    lag: Related


AssignmentList = list_schema("AssignmentList", "KafkaConsumerAssignmentList", AssignmentOut)


class LagOut(Resource):
    kind: Literal["KafkaConsumerLag"]
    consumer_group_id: str
    topic_name: str
    partition_id: int
    current_offset: int
    log_end_offset: int
    lag: int
    consumer_id: str
    instance_id: str | None
    client_id: str


LagList = list_schema("LagList", "KafkaConsumerLagList", LagOut)


class LagSummaryOut(Resource):
    kind: Literal["KafkaConsumerGroupLagSummary"]
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


_STATES = {
    "Empty": "EMPTY",
    "PreparingRebalance": "PREPARING_REBALANCE",
    "CompletingRebalance": "COMPLETING_REBALANCE",
    "Stable": "STABLE",
    "Dead": "DEAD",
}

_GROUP = "/clusters/{cluster_id}/consumer-groups/{consumer_group_id}"
_CONSUMER = _GROUP + "/consumers/{consumer_id}"


def _group(request: HttpRequest, cluster_id: str, group_id: str) -> tuple[str, GroupView]:
    """What a group's routes start with: the cluster checked, DESCRIBE on the group (Kafka's
    DescribeGroups; 40301 whether it exists or not), and the group described, or 40405 (an
    unknown group's broker error maps to it)."""
    cid = cluster_check(cluster_id)
    name_check(group_id, CONSUMER_GROUP_NOT_FOUND, f"Consumer group '{group_id}'")
    access.require_group(request, Operation.DESCRIBE, group_id)
    return cid, group_describe(group_id=group_id)


def _member(request: HttpRequest, cluster_id: str, group_id: str, consumer_id: str) -> tuple[str, GroupView, MemberView]:
    """What a consumer's routes start with: `_group`, and the member, or 40403."""
    cid, g = _group(request, cluster_id, group_id)
    for m in g.members:
        if m.member_id == consumer_id:
            return cid, g, m
    raise RestError(CONSUMER_INSTANCE_NOT_FOUND, f"Consumer '{consumer_id}' is not a member of group '{g.group_id}'.")


def _group_out(request: HttpRequest, cid: str, group_id: str, state: str, assignor: str, members: int) -> dict:
    base = ("consumer-groups", group_id)
    return resource(
        request, "KafkaConsumerGroup", cid, base, (("consumer-group", group_id),),
        consumer_group_id=group_id,
        # A group that only commits offsets (no member ever joined) is Kafka's "simple" group.
        is_simple=members == 0 and not assignor,
        partition_assignor=assignor,
        state=_STATES.get(state, "UNKNOWN"),
        coordinator=related(request, cid, "brokers", cluster_read.brokers_live_ids()[0]),
        consumers=related(request, cid, *base, "consumers"),
        lag_summary=related(request, cid, *base, "lag-summary"),
    )


def _consumer_out(request: HttpRequest, cid: str, group_id: str, m: MemberView) -> dict:
    base = ("consumer-groups", group_id, "consumers", m.member_id)
    return resource(
        request, "KafkaConsumer", cid, base, (("consumer-group", group_id), ("consumer", m.member_id)),
        consumer_group_id=group_id,
        consumer_id=m.member_id,
        instance_id=m.group_instance_id,
        client_id=m.client_id,
        assignments=related(request, cid, *base, "assignments"),
    )


def _assignment_out(request: HttpRequest, cid: str, group_id: str, member_id: str, topic: str, partition: int) -> dict:
    return resource(
        request, "KafkaConsumerAssignment", cid,
        ("consumer-groups", group_id, "consumers", member_id, "assignments", topic, "partitions", partition),
        (("consumer-group", group_id), ("consumer", member_id), ("assignment", topic), ("partition", partition)),
        consumer_group_id=group_id,
        consumer_id=member_id,
        topic_name=topic,
        partition_id=partition,
        partition=related(request, cid, "topics", topic, "partitions", partition),
        lag=related(request, cid, "consumer-groups", group_id, "lags", topic, "partitions", partition),
    )


def _lags(request: HttpRequest, g: GroupView) -> list[tuple[PartitionLag, MemberView | None]]:
    """(lag, owning member or None) of each partition the group has a lag on: Confluent's lag is
    measured from the committed offset, so there is none without one (nor from a negative one a
    Kafka client committed, see partition_lag). Only topics the caller may DESCRIBE: Kafka's
    OffsetFetch answers the others TOPIC_AUTHORIZATION_FAILED, which the proxy's lag leaves out."""
    members = {m.member_id: m for m in g.members}
    lagging = [p for p in g.partitions if p.lag is not None]
    return [(p, members.get(p.owner)) for p in access.visible_topics(request, lagging, lambda p: p.topic)]


def _owner(m: MemberView | None) -> dict[str, str | None]:
    """Who owns a lagging partition, as lag objects name it (blank when no member does)."""
    return {
        "consumer_id": m.member_id if m else "",
        "instance_id": m.group_instance_id if m else None,
        "client_id": m.client_id if m else "",
    }


def _lag_out(request: HttpRequest, cid: str, group_id: str, p: PartitionLag, m: MemberView | None) -> dict:
    return resource(
        request, "KafkaConsumerLag", cid,
        ("consumer-groups", group_id, "lags", p.topic, "partitions", p.partition),
        (("consumer-group", group_id), ("lag", p.topic), ("partition", p.partition)),
        consumer_group_id=group_id,
        topic_name=p.topic,
        partition_id=p.partition,
        current_offset=p.committed,
        log_end_offset=p.high_watermark,
        lag=p.lag,
        **_owner(m),
    )


@route("GET", "/clusters/{cluster_id}/consumer-groups", ConsumerGroupList, summary="List consumer groups")
def groups_list(request: HttpRequest, cluster_id: str) -> dict:
    cid = cluster_check(cluster_id)
    groups = access.visible_groups(request, groups_read.group_list(), lambda g: g.group_id)
    data = [_group_out(request, cid, g.group_id, g.state, g.partition_assignor, g.members) for g in groups]
    return list_out("KafkaConsumerGroupList", request, data)


@route("GET", _GROUP, ConsumerGroupOut, summary="Get a consumer group")
def group_get(request: HttpRequest, cluster_id: str, consumer_group_id: str) -> dict:
    cid, g = _group(request, cluster_id, consumer_group_id)
    return _group_out(request, cid, g.group_id, g.state, g.partition_assignor, len(g.members))


@route("GET", _GROUP + "/consumers", ConsumerList, summary="List a group's consumers")
def consumers_list(request: HttpRequest, cluster_id: str, consumer_group_id: str) -> dict:
    cid, g = _group(request, cluster_id, consumer_group_id)
    return list_out("KafkaConsumerList", request, [_consumer_out(request, cid, g.group_id, m) for m in g.members])


@route("GET", _CONSUMER, ConsumerOut, summary="Get a consumer of a group")
def consumer_get(request: HttpRequest, cluster_id: str, consumer_group_id: str, consumer_id: str) -> dict:
    cid, g, m = _member(request, cluster_id, consumer_group_id, consumer_id)
    return _consumer_out(request, cid, g.group_id, m)


@route("GET", _CONSUMER + "/assignments", AssignmentList, summary="List a consumer's assigned partitions")
def assignments_list(request: HttpRequest, cluster_id: str, consumer_group_id: str, consumer_id: str) -> dict:
    cid, g, m = _member(request, cluster_id, consumer_group_id, consumer_id)
    data = [_assignment_out(request, cid, g.group_id, m.member_id, t, p) for t, p in sorted(m.assignment)]
    return list_out("KafkaConsumerAssignmentList", request, data)


@route(
    "GET", _CONSUMER + "/assignments/{topic_name}/partitions/{partition_id}", AssignmentOut,
    summary="Get one of a consumer's assigned partitions",
)
def assignment_get(
    request: HttpRequest, cluster_id: str, consumer_group_id: str, consumer_id: str, topic_name: str, partition_id: int
) -> dict:
    cid, g, m = _member(request, cluster_id, consumer_group_id, consumer_id)
    if (topic_name, partition_id) not in set(m.assignment):
        raise RestError(PARTITION_NOT_FOUND, f"Consumer '{consumer_id}' is not assigned {topic_name}-{partition_id}.")
    return _assignment_out(request, cid, g.group_id, m.member_id, topic_name, partition_id)


@route("GET", _GROUP + "/lags", LagList, summary="List a group's lag per partition, largest first")
def lags_list(request: HttpRequest, cluster_id: str, consumer_group_id: str) -> dict:
    cid, g = _group(request, cluster_id, consumer_group_id)
    rows = sorted(_lags(request, g), key=lambda pm: (-pm[0].lag, pm[0].topic, pm[0].partition))
    return list_out("KafkaConsumerLagList", request, [_lag_out(request, cid, g.group_id, p, m) for p, m in rows])


@route(
    "GET", _GROUP + "/lags/{topic_name}/partitions/{partition_id}", LagOut,
    summary="Get a group's lag on one partition",
)
def lag_get(request: HttpRequest, cluster_id: str, consumer_group_id: str, topic_name: str, partition_id: int) -> dict:
    cid, g = _group(request, cluster_id, consumer_group_id)
    for p, m in _lags(request, g):
        if p.topic == topic_name and p.partition == partition_id:
            return _lag_out(request, cid, g.group_id, p, m)
    raise RestError(
        PARTITION_NOT_FOUND,
        f"Group '{g.group_id}' has no committed offset on {topic_name}-{partition_id}, so it has no lag there.",
    )


@route("GET", _GROUP + "/lag-summary", LagSummaryOut, summary="Get a group's total and largest lag")
def lag_summary(request: HttpRequest, cluster_id: str, consumer_group_id: str) -> dict:
    cid, g = _group(request, cluster_id, consumer_group_id)
    rows = _lags(request, g)
    base = ("consumer-groups", g.group_id)
    # The first partition with the largest lag, in topic/partition order, names the maximum.
    largest, owner = max(rows, key=lambda pm: (pm[0].lag, -pm[0].partition)) if rows else (None, None)
    out = resource(
        request, "KafkaConsumerGroupLagSummary", cid, (*base, "lag-summary"), (("consumer-group", g.group_id),),
        consumer_group_id=g.group_id,
        **{f"max_lag_{k}": v for k, v in _owner(owner).items()},
        max_lag_topic_name=largest.topic if largest else "",
        max_lag_partition_id=largest.partition if largest else 0,
        max_lag=largest.lag if largest else 0,
        total_lag=sum(p.lag for p, _ in rows),
        max_lag_consumer=related(request, cid, *base, "consumers", owner.member_id) if owner else None,
        max_lag_partition=(
            related(request, cid, "topics", largest.topic, "partitions", largest.partition) if largest else None
        ),
    )
    # Confluent names the summary as a child of the group's CRN.
    out["metadata"]["resource_name"] += "/lag-summary"
    return out
