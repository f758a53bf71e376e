"""FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
OffsetDelete, DescribeGroups, ListGroups and DeleteGroups: classic consumer groups for Kafka clients.

The rules live in brokercore.coordinator (kafka_members, offsets, sweep); these handlers translate requests and answers.
JoinGroup and SyncGroup are barriers: the handler records the request, then waits on the event loop
(no thread, no transaction held) for the group to change, re-reading it every BARRIER_POLL_S in case
another server process completed the round, as Kafka's coordinator parks them in its purgatory.
"""

import datetime
import functools
import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.coordinator.kafka_members import (
    BARRIER_POLL_S,
    kafka_group_describe,
    kafka_groups_list,
    kafka_join_result,
    kafka_member_heartbeat,
    kafka_member_join,
    kafka_member_sync,
    kafka_members_leave,
    kafka_sync_result,
)
from brokercore.coordinator.offsets import kafka_offsets_commit, kafka_offsets_delete, kafka_offsets_fetch
from brokercore.coordinator.sweep import group_delete
from brokercore.errors import (
    BrokerError,
    GroupAuthorizationFailed,
    InvalidRequest,
    TopicAuthorizationFailed,
    UnsupportedVersion,
)
from brokercore.kafka.apis.meta import AUTHORIZED_OPERATIONS_OMITTED
from brokercore.kafka.apis.registry import RequestContext, api, error_code
from brokercore.notify import group_waiters
from brokercore.security.acl import CLUSTER_NAME, Operation, Requester, ResourceType

FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 10, 11, 12, 13, 14
OFFSET_COMMIT, OFFSET_FETCH, DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 8, 9, 15, 16, 42, 47
CONSUMER_GROUP_HEARTBEAT = 68

logger = logging.getLogger("brokercore.kafka.server")

COORDINATOR_GROUP, COORDINATOR_TRANSACTION = 0, 1
CLASSIC = "classic"  # the type of every group here (ListGroups v5)
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
_MS = datetime.timedelta(milliseconds=1)
R = TypeVar("R")


def _ms(value: datetime.timedelta | None) -> int:
    return -1 if value is None else round(value / _MS)


def group_refusal(requester: Requester, operation: Operation, group_id: str) -> GroupAuthorizationFailed | None:
    """GROUP_AUTHORIZATION_FAILED when `requester` may not `operation` the group, else None."""
    if requester.may(operation, ResourceType.GROUP, group_id):
        return None
    return GroupAuthorizationFailed(requester.refusal(operation, ResourceType.GROUP, group_id))


async def _group_check(ctx: RequestContext, operation: Operation, group_id: str) -> None:
    """Raise GROUP_AUTHORIZATION_FAILED when the request's sender may not `operation` the group."""
    refused = await ctx.run_sync(group_refusal, ctx.requester, operation, group_id)
    if refused is not None:
        raise refused


# --- FindCoordinator -------------------------------------------------------------------------------


def _coordinator(ctx: RequestContext, key: str, key_type: int) -> dict:
    """Every node coordinates every group: the group's state is in the shared database. Kafka
    names it only to who may DESCRIBE the group (or transactional id)."""
    if key_type not in (COORDINATOR_GROUP, COORDINATOR_TRANSACTION):
        return {"key": key, "error_code": InvalidRequest.code, "error_message": f"Unknown coordinator key type {key_type}.",
                "node_id": -1, "host": "", "port": -1}
    resource = ResourceType.GROUP if key_type == COORDINATOR_GROUP else ResourceType.TRANSACTIONAL_ID
    if not ctx.requester.may(Operation.DESCRIBE, resource, key):
        code = GroupAuthorizationFailed.code if key_type == COORDINATOR_GROUP else TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        return {"key": key, "error_code": code, "node_id": -1, "host": "", "port": -1,
                "error_message": ctx.requester.refusal(Operation.DESCRIBE, resource, key)}
    node = ctx.node
    return {"key": key, "error_code": 0, "error_message": None, "node_id": node.node_id, "host": node.host, "port": node.port}


@api(FIND_COORDINATOR, versions=(0, 6))
async def find_coordinator(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if ctx.api_version >= 4:  # KIP-699: a batch of keys
        return ctx.response(coordinators=await ctx.run_sync(
            lambda: [_coordinator(ctx, key, request.key_type) for key in request.coordinator_keys]))
    return ctx.response(**await ctx.run_sync(
        _coordinator, ctx, request.key, getattr(request, "key_type", COORDINATOR_GROUP)))


# --- JoinGroup / SyncGroup: the barriers ---------------------------------------------------------


async def _parked(
    ctx: RequestContext, group_id: str, first: Callable[[], R], *,
    waiting: Callable[[R], bool], again: Callable[[R], Callable[[], R]],
) -> R:
    """Run `first` (the join or sync itself), then, while its result says the member is parked at
    the barrier, wait for the group to change (woken at once by this process's commits, else after
    BARRIER_POLL_S, since another process may finish the round) and read the result again. The
    wait holds no thread and no lock."""
    seen = group_waiters.version((group_id,))
    result = await ctx.run_sync(first)
    while waiting(result):
        await group_waiters.wait_async((group_id,), seen, BARRIER_POLL_S)
        seen = group_waiters.version((group_id,))
        result = await ctx.run_sync(again(result))
    return result


@api(JOIN_GROUP, versions=(0, 9))
async def join_group(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    group_id = request.group_id
    instance = getattr(request, "group_instance_id", None)
    try:
        await _group_check(ctx, Operation.READ, group_id)
        result = await _parked(
            ctx, group_id,
            functools.partial(
                kafka_member_join,
                group_id=group_id,
                member_id=request.member_id,
                group_instance_id=instance,
                protocol_type=request.protocol_type,
                protocols=[(p.name, p.metadata) for p in request.protocols],
                session_timeout_ms=_ms(request.session_timeout),
                rebalance_timeout_ms=_ms(getattr(request, "rebalance_timeout", None)),
                client_id=ctx.client_id or "",
                client_host=ctx.client_host,
                require_known_member_id=ctx.api_version >= 4,
                reason=getattr(request, "reason", None),
            ),
            waiting=lambda r: r.waiting_for is not None,
            again=lambda r: functools.partial(
                kafka_join_result, group_id=group_id, member_id=r.member_id,
                generation=r.waiting_for, group_instance_id=instance,
            ),
        )
    except BrokerError as e:
        return ctx.response(
            error_code=e.code,
            generation_id=-1,
            protocol_type=None,
            protocol_name=None if ctx.api_version >= 7 else "",
            leader="",
            # MEMBER_ID_REQUIRED carries the member id to join again with (KIP-394).
            member_id=getattr(e, "member_id", request.member_id),
            members=[],
        )
    return ctx.response(
        error_code=0,
        generation_id=result.generation,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        leader=result.leader,
        skip_assignment=False,
        member_id=result.member_id,
        members=[
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "metadata": m.metadata}
            for m in result.members
        ],
    )


@api(SYNC_GROUP, versions=(0, 5))
async def sync_group(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    group_id = request.group_id
    instance = getattr(request, "group_instance_id", None)
    try:
        await _group_check(ctx, Operation.READ, group_id)
        result = await _parked(
            ctx, group_id,
            functools.partial(
                kafka_member_sync,
                group_id=group_id,
                member_id=request.member_id,
                generation=request.generation_id,
                group_instance_id=instance,
                protocol_type=getattr(request, "protocol_type", None),
                protocol_name=getattr(request, "protocol_name", None),
                assignments={a.member_id: a.assignment for a in request.assignments},
            ),
            waiting=lambda r: r.assignment is None,
            again=lambda r: functools.partial(
                kafka_sync_result, group_id=group_id, member_id=request.member_id,
                generation=request.generation_id, group_instance_id=instance,
            ),
        )
    except BrokerError as e:
        return ctx.response(error_code=e.code, protocol_type=None, protocol_name=None, assignment=b"")
    return ctx.response(
        error_code=0, protocol_type=result.protocol_type, protocol_name=result.protocol_name, assignment=result.assignment,
    )


# --- Heartbeat, LeaveGroup -----------------------------------------------------------------------


@api(HEARTBEAT, versions=(0, 4))
async def heartbeat(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    try:
        await _group_check(ctx, Operation.READ, request.group_id)
        await ctx.run_sync(
            kafka_member_heartbeat, group_id=request.group_id, member_id=request.member_id,
            generation=request.generation_id, group_instance_id=getattr(request, "group_instance_id", None),
        )
    except BrokerError as e:
        return ctx.response(error_code=e.code)
    return ctx.response(error_code=0)


@api(LEAVE_GROUP, versions=(0, 5))
async def leave_group(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    try:
        await _group_check(ctx, Operation.READ, request.group_id)
    except GroupAuthorizationFailed as e:
        return ctx.response(error_code=e.code, members=[])
    if ctx.api_version < 3:
        codes = await ctx.run_sync(kafka_members_leave, group_id=request.group_id, members=[(request.member_id, None)])
        return ctx.response(error_code=codes[0])
    members = list(request.members)
    reason = next((m.reason for m in members if getattr(m, "reason", None)), None)
    codes = await ctx.run_sync(
        kafka_members_leave, group_id=request.group_id,
        members=[(m.member_id, m.group_instance_id) for m in members], reason=reason,
    )
    return ctx.response(
        error_code=0,
        members=[
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "error_code": code}
            for m, code in zip(members, codes, strict=True)
        ],
    )


# --- Offsets -------------------------------------------------------------------------------------


def _zookeeper_only(topics: Iterable[Entity], partitions: Callable[[Entity], Iterable[int]]) -> list[dict]:
    """Every partition answered UNSUPPORTED_VERSION: version 0 of OffsetCommit and OffsetFetch
    kept offsets in ZooKeeper, and Kafka 3.9 without ZooKeeper (KRaft) answers them so."""
    return [{"name": t.name, "partitions": [
        {"partition_index": i, "error_code": UnsupportedVersion.code, "committed_offset": -1, "metadata": ""}
        for i in partitions(t)]} for t in topics]


@api(OFFSET_COMMIT, versions=(0, 9))
async def offset_commit(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if ctx.api_version == 0:
        return ctx.response(topics=_zookeeper_only(request.topics, lambda t: [p.partition_index for p in t.partitions]))
    codes = await ctx.run_sync(offset_commit_answer, request, ctx.requester)
    return ctx.response(
        topics=[
            {"name": t.name, "partitions": [
                {"partition_index": p.partition_index, "error_code": codes[(t.name, p.partition_index)]} for p in t.partitions
            ]}
            for t in request.topics
        ]
    )


def offset_commit_answer(request: Entity, requester: Requester) -> dict[tuple[str, int], int]:
    """Each partition's OffsetCommit error code (v1+), as Kafka's KafkaApis checks: READ on the
    group (else every partition GROUP_AUTHORIZATION_FAILED), then READ on each topic (else its
    partitions TOPIC_AUTHORIZATION_FAILED, and the others are committed)."""
    asked = [(t.name, p) for t in request.topics for p in t.partitions]
    if group_refusal(requester, Operation.READ, request.group_id) is not None:
        return {(name, p.partition_index): GroupAuthorizationFailed.code for name, p in asked}
    readable = {name: requester.may(Operation.READ, ResourceType.TOPIC, name) for name, _ in asked}
    codes = {(name, p.partition_index): TopicAuthorizationFailed.code for name, p in asked if not readable[name]}
    offsets = {
        (name, p.partition_index): (p.committed_offset, p.committed_metadata, getattr(p, "committed_leader_epoch", -1))
        for name, p in asked if readable[name]
    }
    if offsets:
        codes |= kafka_offsets_commit(
            group_id=request.group_id,
            offsets=offsets,
            member_id=request.member_id,
            generation=request.generation_id_or_member_epoch,  # v1 on; v1's commit timestamps are not kept
            group_instance_id=getattr(request, "group_instance_id", None),
        )
    return codes


def _fetched_topics(group_id: str, topics: Iterable[Entity] | None, requester: Requester) -> list[dict]:
    """One group's OffsetFetch answer (DESCRIBE on the group checked): `topics` None asks for
    every partition it committed, of the topics `requester` may DESCRIBE; a topic named that it
    may not describe has its partitions TOPIC_AUTHORIZATION_FAILED (Kafka's KafkaApis)."""

    def visible(name: str) -> bool:
        return requester.may(Operation.DESCRIBE, ResourceType.TOPIC, name)

    hidden = [] if topics is None else [t for t in topics if not visible(t.name)]
    wanted = None if topics is None else [(t.name, i) for t in topics if visible(t.name) for i in t.partition_indexes]
    by_topic: dict[str, list[dict]] = {}
    for c in kafka_offsets_fetch(group_id=group_id, partitions=wanted):
        if topics is None and not visible(c.topic):
            continue
        by_topic.setdefault(c.topic, []).append({
            "partition_index": c.partition,
            "committed_offset": c.offset,
            "committed_leader_epoch": -1 if c.leader_epoch is None else c.leader_epoch,
            "metadata": c.metadata,
            "error_code": 0,
        })
    return [{"name": name, "partitions": partitions} for name, partitions in by_topic.items()] + [
        {"name": t.name, "partitions": [
            {"partition_index": i, "committed_offset": -1, "committed_leader_epoch": -1, "metadata": "",
             "error_code": TopicAuthorizationFailed.code} for i in t.partition_indexes]}
        for t in hidden
    ]


def offset_fetch_group(group_id: str, topics: Iterable[Entity] | None, requester: Requester) -> tuple[int, list[dict]]:
    """(group error code, topics) of one group's OffsetFetch: DESCRIBE on the group needed."""
    if group_refusal(requester, Operation.DESCRIBE, group_id) is not None:
        return GroupAuthorizationFailed.code, []
    return 0, _fetched_topics(group_id, topics, requester)


@api(OFFSET_FETCH, versions=(0, 9))
async def offset_fetch(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if ctx.api_version == 0:
        return ctx.response(topics=_zookeeper_only(request.topics, lambda t: t.partition_indexes))
    if ctx.api_version >= 8:  # KIP-709: several groups in one request
        groups = []
        for g in request.groups:
            code, topics = await ctx.run_sync(offset_fetch_group, g.group_id, g.topics, ctx.requester)
            groups.append({"group_id": g.group_id, "topics": topics, "error_code": code})
        return ctx.response(groups=groups)
    code, topics = await ctx.run_sync(offset_fetch_group, request.group_id, request.topics, ctx.requester)
    return ctx.response(topics=topics, error_code=code)


# --- DescribeGroups, ListGroups, DeleteGroups ----------------------------------------------------


def _described(group_id: str, requester: Requester, include_operations: bool) -> dict:
    operations = AUTHORIZED_OPERATIONS_OMITTED
    try:
        refused = group_refusal(requester, Operation.DESCRIBE, group_id)
        if refused is not None:
            raise refused
        if include_operations:
            operations = requester.operations(ResourceType.GROUP, group_id)
        d = kafka_group_describe(group_id=group_id)
    except BrokerError as e:
        return {"error_code": e.code, "group_id": group_id, "group_state": "", "protocol_type": "",
                "protocol_data": "", "members": [], "authorized_operations": operations}
    return {
        "error_code": 0,
        "group_id": d.group_id,
        "group_state": d.state,
        "protocol_type": d.protocol_type,
        "protocol_data": d.described_protocol,
        "members": [
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
             "client_host": m.client_host, "member_metadata": m.protocol_metadata,
             "member_assignment": m.protocol_assignment}
            for m in d.members
        ],
        "authorized_operations": operations,
    }


def describe_groups_answer(group_ids: Iterable[str], *, include_operations: bool, requester: Requester) -> list[dict]:
    """Each group as DescribeGroups answers it: GROUP_AUTHORIZATION_FAILED for one `requester`
    may not DESCRIBE; its authorized-operations bitfield when asked (v3+)."""
    return [_described(group_id, requester, include_operations) for group_id in group_ids]


@api(DESCRIBE_GROUPS, versions=(0, 5))
async def describe_groups(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    groups = await ctx.run_sync(
        describe_groups_answer, request.groups,
        include_operations=getattr(request, "include_authorized_operations", False), requester=ctx.requester,
    )
    return ctx.response(groups=groups)


@api(LIST_GROUPS, versions=(0, 5))
async def list_groups(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    types = {t.lower() for t in getattr(request, "types_filter", ()) or ()}  # v5 on (KIP-848)
    rows = [] if types and CLASSIC not in types else await ctx.run_sync(
        groups_list_answer, ctx.requester, states=getattr(request, "states_filter", ()) or ())
    return ctx.response(
        error_code=0,
        groups=[{"group_id": g, "protocol_type": protocol_type, "group_state": state, "group_type": CLASSIC}
                for g, protocol_type, state in rows],
    )


def groups_list_answer(requester: Requester, *, states: Iterable[str]) -> list[tuple[str, str, str]]:
    """ListGroups' (group id, protocol type, state) rows: every group for who may DESCRIBE the
    cluster, else only the groups `requester` may DESCRIBE (Kafka's KafkaApis)."""
    rows = kafka_groups_list(states=states)
    if requester.may(Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return rows
    return [row for row in rows if requester.may(Operation.DESCRIBE, ResourceType.GROUP, row[0])]


def delete_groups_answer(group_ids: Iterable[str], *, requester: Requester) -> list[dict]:
    out = []
    for group_id in group_ids:
        try:
            refused = group_refusal(requester, Operation.DELETE, group_id)
            if refused is not None:
                raise refused
            group_delete(group_id=group_id)
            out.append({"group_id": group_id, "error_code": 0})
        except BrokerError as e:
            out.append({"group_id": group_id, "error_code": error_code(e)})
    return out


@api(DELETE_GROUPS, versions=(0, 2))
async def delete_groups(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(results=await ctx.run_sync(delete_groups_answer, request.groups_names, requester=ctx.requester))


# --- OffsetDelete --------------------------------------------------------------------------------


def offset_delete_answer(group_id: str, partitions: list[tuple[str, int]], *, requester: Requester) -> tuple[int, dict]:
    """OffsetDelete as Kafka's KafkaApis checks it: DELETE on the group (else the whole request
    fails), then READ on each topic (else its partitions TOPIC_AUTHORIZATION_FAILED)."""
    if group_refusal(requester, Operation.DELETE, group_id) is not None:
        return GroupAuthorizationFailed.code, {}
    readable = {t: requester.may(Operation.READ, ResourceType.TOPIC, t) for t, _ in partitions}
    refused = {(t, p): TopicAuthorizationFailed.code for t, p in partitions if not readable[t]}
    code, codes = kafka_offsets_delete(group_id=group_id, partitions=[(t, p) for t, p in partitions if readable[t]])
    return code, {**codes, **refused}


@api(OFFSET_DELETE, versions=(0, 0))
async def offset_delete(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    asked = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    code, codes = await ctx.run_sync(offset_delete_answer, request.group_id, asked, requester=ctx.requester)
    if code:  # a group-level error answers for the whole request, with no topics (Kafka's)
        return ctx.response(error_code=code, topics=[])
    return ctx.response(
        error_code=0,
        topics=[
            {"name": t.name, "partitions": [
                {"partition_index": p.partition_index, "error_code": codes[(t.name, p.partition_index)]} for p in t.partitions
            ]}
            for t in request.topics
        ],
    )


# --- ConsumerGroupHeartbeat (KIP-848): not offered yet ---------------------------------------------

_CONSUMER_PROTOCOL_REFUSED = (
    "The consumer group protocol of KIP-848 (group.protocol=consumer) is not enabled on this broker; "
    "set group.protocol=classic."
)


@api(CONSUMER_GROUP_HEARTBEAT, versions=(0, 1))
async def consumer_group_heartbeat(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    """Offered and refused, as a Kafka 3.x broker without the new protocol does (its handler
    answers UNSUPPORTED_VERSION): clients then fail loudly (librdkafka raises a fatal error; the
    Java consumer says to use group.protocol=classic). Not offering it at all, librdkafka would
    look for another coordinator forever and its application would see no record and no error."""
    logger.warning(
        "Kafka listener: client %r at %s asked to join group %r with group.protocol=consumer (KIP-848), which "
        "this broker does not offer; refused with UNSUPPORTED_VERSION (the client should use group.protocol=classic)",
        ctx.client_id, ctx.client_host, request.group_id,
    )
    return ctx.response(
        error_code=UnsupportedVersion.code, error_message=_CONSUMER_PROTOCOL_REFUSED, member_id=None,
        member_epoch=-1, heartbeat_interval=0, assignment=None,
    )
