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
from brokercore.errors import BrokerError, GroupAuthorizationFailed, InvalidRequest, UnsupportedVersion
from brokercore.kafka.apis.registry import (
    Principal,
    RequestContext,
    api,
    error_code,
    principal_is_staff,
    staff_only,
)
from brokercore.notify import group_waiters

FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 10, 11, 12, 13, 14
OFFSET_COMMIT, OFFSET_FETCH, DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 8, 9, 15, 16, 42, 47
CONSUMER_GROUP_HEARTBEAT = 68

logger = logging.getLogger("brokercore.kafka.server")

COORDINATOR_GROUP, COORDINATOR_TRANSACTION = 0, 1
CLASSIC = "classic"  # the type of every group here (ListGroups v5)
# AclOperation bits of a group (READ 3, DELETE 6, DESCRIBE 8): every user may read and describe
# groups; only staff may delete them.
GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
GROUP_OPERATIONS_NON_STAFF = GROUP_OPERATIONS & ~(1 << 6)
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
_MS = datetime.timedelta(milliseconds=1)
R = TypeVar("R")


def _ms(value: datetime.timedelta | None) -> int:
    return -1 if value is None else round(value / _MS)


# --- FindCoordinator -------------------------------------------------------------------------------


def _coordinator(ctx: RequestContext, key: str, key_type: int) -> dict:
    """Every node coordinates every group: the group's state is in the shared database."""
    if key_type not in (COORDINATOR_GROUP, COORDINATOR_TRANSACTION):
        return {"key": key, "error_code": InvalidRequest.code, "error_message": f"Unknown coordinator key type {key_type}.",
                "node_id": -1, "host": "", "port": -1}
    node = ctx.node
    return {"key": key, "error_code": 0, "error_message": None, "node_id": node.node_id, "host": node.host, "port": node.port}


@api(FIND_COORDINATOR, versions=(0, 6))
async def find_coordinator(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if ctx.api_version >= 4:  # KIP-699: a batch of keys
        return ctx.response(coordinators=[_coordinator(ctx, key, request.key_type) for key in request.coordinator_keys])
    return ctx.response(**_coordinator(ctx, request.key, getattr(request, "key_type", COORDINATOR_GROUP)))


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
        await ctx.run_sync(
            kafka_member_heartbeat, group_id=request.group_id, member_id=request.member_id,
            generation=request.generation_id, group_instance_id=getattr(request, "group_instance_id", None),
        )
    except BrokerError as e:
        return ctx.response(error_code=e.code)
    return ctx.response(error_code=0)


@api(LEAVE_GROUP, versions=(0, 5))
async def leave_group(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
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
    offsets = {
        (t.name, p.partition_index): (p.committed_offset, p.committed_metadata, getattr(p, "committed_leader_epoch", -1))
        for t in request.topics
        for p in t.partitions
    }
    codes = await ctx.run_sync(
        kafka_offsets_commit,
        group_id=request.group_id,
        offsets=offsets,
        member_id=request.member_id,
        generation=request.generation_id_or_member_epoch,  # v1 on; v1's commit timestamps are not kept
        group_instance_id=getattr(request, "group_instance_id", None),
    )
    return ctx.response(
        topics=[
            {"name": t.name, "partitions": [
                {"partition_index": p.partition_index, "error_code": codes[(t.name, p.partition_index)]} for p in t.partitions
            ]}
            for t in request.topics
        ]
    )


def _fetched_topics(group_id: str, topics: Iterable[Entity] | None) -> list[dict]:
    """One group's OffsetFetch answer: `topics` None asks for every partition it committed."""
    wanted = None if topics is None else [(t.name, i) for t in topics for i in t.partition_indexes]
    by_topic: dict[str, list[dict]] = {}
    for c in kafka_offsets_fetch(group_id=group_id, partitions=wanted):
        by_topic.setdefault(c.topic, []).append({
            "partition_index": c.partition,
            "committed_offset": c.offset,
            "committed_leader_epoch": -1 if c.leader_epoch is None else c.leader_epoch,
            "metadata": c.metadata,
            "error_code": 0,
        })
    return [{"name": name, "partitions": partitions} for name, partitions in by_topic.items()]


@api(OFFSET_FETCH, versions=(0, 9))
async def offset_fetch(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if ctx.api_version == 0:
        return ctx.response(topics=_zookeeper_only(request.topics, lambda t: t.partition_indexes))
    if ctx.api_version >= 8:  # KIP-709: several groups in one request
        groups = []
        for g in request.groups:
            topics = await ctx.run_sync(_fetched_topics, g.group_id, g.topics)
            groups.append({"group_id": g.group_id, "topics": topics, "error_code": 0})
        return ctx.response(groups=groups)
    topics = await ctx.run_sync(_fetched_topics, request.group_id, request.topics)
    return ctx.response(topics=topics, error_code=0)


# --- DescribeGroups, ListGroups, DeleteGroups ----------------------------------------------------


def _described(group_id: str, operations: int) -> dict:
    try:
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


def describe_groups_answer(group_ids: Iterable[str], *, include_operations: bool, principal: Principal) -> list[dict]:
    operations = AUTHORIZED_OPERATIONS_OMITTED
    if include_operations:
        operations = GROUP_OPERATIONS if principal_is_staff(principal) else GROUP_OPERATIONS_NON_STAFF
    return [_described(group_id, operations) for group_id in group_ids]


@api(DESCRIBE_GROUPS, versions=(0, 5))
async def describe_groups(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    groups = await ctx.run_sync(
        describe_groups_answer, request.groups,
        include_operations=getattr(request, "include_authorized_operations", False), principal=ctx.principal,
    )
    return ctx.response(groups=groups)


@api(LIST_GROUPS, versions=(0, 5))
async def list_groups(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    types = {t.lower() for t in getattr(request, "types_filter", ()) or ()}  # v5 on (KIP-848)
    rows = [] if types and CLASSIC not in types else await ctx.run_sync(
        kafka_groups_list, states=getattr(request, "states_filter", ()) or ())
    return ctx.response(
        error_code=0,
        groups=[{"group_id": g, "protocol_type": protocol_type, "group_state": state, "group_type": CLASSIC}
                for g, protocol_type, state in rows],
    )


def delete_groups_answer(group_ids: Iterable[str], *, principal: Principal) -> list[dict]:
    allowed = principal_is_staff(principal)
    out = []
    for group_id in group_ids:
        try:
            if not allowed:
                raise GroupAuthorizationFailed(staff_only(principal, "delete groups"))
            group_delete(group_id=group_id)
            out.append({"group_id": group_id, "error_code": 0})
        except BrokerError as e:
            out.append({"group_id": group_id, "error_code": error_code(e)})
    return out


@api(DELETE_GROUPS, versions=(0, 2))
async def delete_groups(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(results=await ctx.run_sync(delete_groups_answer, request.groups_names, principal=ctx.principal))


# --- OffsetDelete --------------------------------------------------------------------------------


def offset_delete_answer(group_id: str, partitions: list[tuple[str, int]], *, principal: Principal) -> tuple[int, dict]:
    if not principal_is_staff(principal):
        return GroupAuthorizationFailed.code, {}
    return kafka_offsets_delete(group_id=group_id, partitions=partitions)


@api(OFFSET_DELETE, versions=(0, 0))
async def offset_delete(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    asked = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    code, codes = await ctx.run_sync(offset_delete_answer, request.group_id, asked, principal=ctx.principal)
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
