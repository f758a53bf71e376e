"""The group coordinator for Kafka-protocol clients: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
DescribeGroups and ListGroups as Kafka's classic GroupCoordinator answers them (OffsetCommit and
OffsetFetch are in offsets.py, DeleteGroups is sweep.group_delete).

These run on the group object, locking and expiry of group.py and the join round of rebalance.py
(which also records the history); the client leader computes the assignment. JoinGroup and SyncGroup are barriers: a JoinGroup is answered when
the round completes (every member rejoined, or the rebalance timeout passed), a follower's
SyncGroup when the leader's assignment arrives. No transaction waits: `kafka_member_join` and
`kafka_member_sync` record the request and return the answer or `waiting`; the caller (the Kafka
listener, in asyncio) then waits for a change of the group (notify.group_waiters, or its own re-read
every BARRIER_POLL_S, since another server process may complete the round) and asks
`kafka_join_result` / `kafka_sync_result`, which also finish overdue rounds lazily.

Invariant: a service that answers with an error has still saved what it changed before (lazy
expiry, a pending member id), as Kafka's coordinator has, then raises the BrokerError.
"""

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from django.db import transaction

from brokercore import clock
from brokercore.coordinator.group import (
    KAFKA,
    Group,
    State,
    group_id_validate,
    member_protocols,
    protocol_metadata,
    protocols_store,
    session_timeout_validate,
)
from brokercore.coordinator.read import GroupView, group_view
from brokercore.coordinator.rebalance import (
    kafka_assignment_complete,
    protocol_candidates,
    protocol_select,
    rebalance_maybe_complete,
    subscription_refresh,
)
from brokercore.errors import (
    NO_ERROR,
    BrokerError,
    GroupIdNotFound,
    IllegalGeneration,
    InconsistentGroupProtocol,
    MemberIdRequired,
    RebalanceInProgress,
    UnknownMemberId,
)
from brokercore.models import ConsumerGroup, GroupMember

# How often a parked JoinGroup/SyncGroup re-reads its group when no in-process notification came
# (a round completed by another server process, or a deadline passing).
BARRIER_POLL_S = 0.1
R = TypeVar("R")


@dataclass(frozen=True)
class JoinedMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True)
class JoinResult:
    """A JoinGroup answer; `waiting_for` set means the round is not complete yet: ask again with
    kafka_join_result until the group's generation passes it."""

    member_id: str
    generation: int = -1
    protocol_type: str = ""
    protocol_name: str = ""
    leader: str = ""
    # Only the leader gets everyone's metadata (for the protocol chosen); followers get none.
    members: list[JoinedMember] = field(default_factory=list)
    waiting_for: int | None = None


@dataclass(frozen=True)
class SyncResult:
    """A SyncGroup answer; `assignment` None means the leader's has not arrived yet."""

    assignment: bytes | None
    protocol_type: str
    protocol_name: str


def _run(group_id: str, fn: Callable[[Group], R], *, create: bool = False, missing: BrokerError | None = None) -> R:
    """Lock the group, do the lazy work Kafka's timers would have done, run `fn`, save, and only
    then raise what `fn` raised (see the module's invariant)."""
    error = None
    with transaction.atomic():
        try:
            g = Group.lock(group_id, create=create)
        except GroupIdNotFound:
            if missing is None:
                raise
            raise missing from None
        g.expire_members()
        rebalance_maybe_complete(g)
        try:
            result = fn(g)
        except BrokerError as e:
            error = e
        g.save()
    if error is not None:
        raise error
    return result


def _unknown(group_id: str, member_id: str) -> UnknownMemberId:
    return UnknownMemberId(f"Member '{member_id}' is not in group '{group_id}': join again.")


def _join_result(g: Group, m: GroupMember, *, leader: str | None = None) -> JoinResult:
    """The JoinGroup answer for the group's current generation. `leader` overrides the leader id
    given (and then nobody gets the members' metadata)."""
    group = g.group
    members = []
    if group.leader_member_id == m.member_id and leader is None:
        members = [
            JoinedMember(x.member_id, x.group_instance_id, protocol_metadata(x, group.protocol_name) or b"")
            for x in g.members_ordered()
        ]
    return JoinResult(
        member_id=m.member_id,
        generation=group.generation,
        protocol_type=group.protocol_type,
        protocol_name=group.protocol_name,
        leader=group.leader_member_id if leader is None else leader,
        members=members,
    )


def _supports(g: Group, protocol_type: str, protocols: list[tuple[str, bytes]]) -> bool:
    """Kafka's GroupMetadata.supportsProtocols."""
    if not protocol_type or not protocols:
        return False
    if not g.members:
        return True
    return protocol_type == g.group.protocol_type and any(n in protocol_candidates(g.members.values()) for n, _ in protocols)


def _matches(m: GroupMember, protocols: list[tuple[str, bytes]]) -> bool:
    return member_protocols(m) == protocols


def _member_update(g: Group, m: GroupMember, protocols: list[tuple[str, bytes]], session_timeout_ms: int, rebalance_timeout_ms: int) -> None:
    m.protocols = protocols_store(protocols)
    m.session_timeout_ms, m.rebalance_timeout_ms = session_timeout_ms, rebalance_timeout_ms
    m.awaiting_join = False
    m.last_heartbeat_ms = g.now_ms
    subscription_refresh(g, m)


def _member_add(g: Group, *, member_id: str, group_instance_id: str | None, protocol_type: str, protocols: list[tuple[str, bytes]],
                session_timeout_ms: int, rebalance_timeout_ms: int, client_id: str, client_host: str,
                reason: str) -> GroupMember:
    group = g.group
    if not g.members:
        group.kind = KAFKA
        group.protocol_type = protocol_type
    m = GroupMember(
        group=group,
        member_id=member_id,
        group_instance_id=group_instance_id,
        client_id=client_id,
        client_host=client_host,
        session_timeout_ms=session_timeout_ms,
        rebalance_timeout_ms=rebalance_timeout_ms,
        protocols=protocols_store(protocols),
        last_heartbeat_ms=g.now_ms,
        joined_at=clock.now(),
    )
    g.members[member_id] = m
    if group.leader_member_id not in g.members:
        group.leader_member_id = member_id
    subscription_refresh(g, m)
    g.note("member.joined", member_id=member_id, client_id=client_id)
    g.rebalance_start(f"member {member_id} joined{reason}", initiator=member_id)
    return m


def _reason(reason: str | None) -> str:
    return f" (client reason: {reason})" if reason else ""


def kafka_member_join(
    *,
    group_id: str,
    member_id: str,
    protocol_type: str,
    protocols: Iterable[tuple[str, bytes]],
    session_timeout_ms: int,
    rebalance_timeout_ms: int = -1,
    group_instance_id: str | None = None,
    client_id: str = "",
    client_host: str = "",
    require_known_member_id: bool = False,
    reason: str | None = None,
) -> JoinResult:
    """JoinGroup (Kafka's handleJoinGroup).

    A new dynamic member gets MEMBER_ID_REQUIRED and its member id first when
    `require_known_member_id` (JoinGroup v4+, KIP-394). A new static member (group_instance_id,
    KIP-345) replaces the member holding its instance id; in a Stable group whose protocol does
    not change that needs no rebalance. A known member joining starts a rebalance unless it is a
    follower rejoining with unchanged metadata, which gets the current generation at once.
    """
    group_id_validate(group_id)
    session_timeout_ms = session_timeout_validate(session_timeout_ms)
    if rebalance_timeout_ms is None or rebalance_timeout_ms < 0:
        rebalance_timeout_ms = session_timeout_ms  # JoinGroup v0 has none: Kafka uses the session's
    protocols = [(name, bytes(data)) for name, data in protocols]
    client_id = (client_id or "")[:255]
    why = _reason(reason)

    def join(g: Group) -> JoinResult:
        group = g.group
        if group.kind == ConsumerGroup.Kind.SERVER and g.members:
            raise InconsistentGroupProtocol(
                f"Group '{group_id}' has server-managed members (REST or lab consumers); a group holds one kind of member."
            )
        if not _supports(g, protocol_type, protocols):
            raise InconsistentGroupProtocol(
                f"Group '{group_id}' uses protocol type '{group.protocol_type}' with protocols "
                f"{sorted(protocol_candidates(g.members.values()))}; this member offers '{protocol_type}' "
                f"{[n for n, _ in protocols]}."
            )
        before = group.generation
        common = dict(protocol_type=protocol_type, protocols=protocols, session_timeout_ms=session_timeout_ms,
                      rebalance_timeout_ms=rebalance_timeout_ms, client_id=client_id, client_host=client_host)
        if not member_id:
            new_id = f"{group_instance_id or client_id[:200]}-{uuid.uuid4()}"
            static = g.static_member(group_instance_id)
            if static is not None:
                return _static_rejoin(g, static, new_id, before, protocols, session_timeout_ms, rebalance_timeout_ms, why)
            if group_instance_id is None and require_known_member_id:
                group.pending_members = {**group.pending_members, new_id: g.now_ms + session_timeout_ms}
                error = MemberIdRequired(f"Join again with member id {new_id}.")
                error.member_id = new_id
                raise error
            m = _member_add(g, member_id=new_id, group_instance_id=group_instance_id, reason=why, **common)
        elif group_instance_id is None and member_id in group.pending_members:
            group.pending_members = {k: v for k, v in group.pending_members.items() if k != member_id}
            m = _member_add(g, member_id=member_id, group_instance_id=None, reason=why, **common)
        else:
            m = g.member(member_id, group_instance_id)
            same = _matches(m, protocols)
            if group.state == State.PREPARING_REBALANCE:
                _member_update(g, m, protocols, session_timeout_ms, rebalance_timeout_ms)
            elif same and (group.state == State.COMPLETING_REBALANCE or (
                group.state == State.STABLE and group.leader_member_id != member_id
            )):
                # It missed its JoinGroup answer, or a follower rejoins with nothing new: the
                # current generation at once, and on to SyncGroup.
                return _join_result(g, m)
            elif group.state in (State.COMPLETING_REBALANCE, State.STABLE):
                # A leader's rejoin always rebalances: it may have seen new partitions, which its
                # metadata does not show (Kafka's rule).
                _member_update(g, m, protocols, session_timeout_ms, rebalance_timeout_ms)
                what = "changed its metadata" if not same else "(the leader) rejoined"
                g.rebalance_start(f"member {member_id} {what}{why}", initiator=member_id)
            else:
                raise _unknown(group_id, member_id)
        rebalance_maybe_complete(g)
        if group.generation > before:
            return _join_result(g, m)
        return JoinResult(member_id=m.member_id, waiting_for=before)

    return _run(group_id, join, create=not member_id, missing=_unknown(group_id, member_id))


def _static_rejoin(g: Group, old: GroupMember, new_id: str, before: int, protocols: list[tuple[str, bytes]], session_timeout_ms: int,
                   rebalance_timeout_ms: int, why: str) -> JoinResult:
    """Kafka's updateStaticMemberAndRebalance: the instance's new member id takes the old one's
    place (and assignment); the old id is fenced."""
    group = g.group
    leader_before = group.leader_member_id
    m = g.replace_static_member(old, new_id)
    _member_update(g, m, protocols, session_timeout_ms, rebalance_timeout_ms)
    state = group.state
    if state == State.STABLE and protocol_select(list(g.members.values())) == group.protocol_name:
        # No rebalance. The old leader id is returned even when this member was the leader, so
        # that it does not compute an assignment a Stable group would never hand out.
        return _join_result(g, m, leader=leader_before)
    if state != State.PREPARING_REBALANCE:
        g.rebalance_start(f"static member {m.group_instance_id} rejoined as {new_id}{why}", initiator=new_id)
    rebalance_maybe_complete(g)
    if group.generation > before:
        return _join_result(g, m)
    return JoinResult(member_id=new_id, waiting_for=before)


def _maintenance_due(g: Group) -> bool:
    """Whether a timer Kafka would have fired by now has not been applied yet."""
    group = g.group
    if group.rebalance_deadline_ms is not None and g.now_ms >= group.rebalance_deadline_ms:
        return True
    if any(deadline < g.now_ms for deadline in group.pending_members.values()):
        return True
    return any(
        not g.parked(m) and m.last_heartbeat_ms + m.session_timeout_ms < g.now_ms for m in g.members.values()
    )


def _read_current(group_id: str) -> Group | None:
    g = Group.read(group_id)
    if g is not None and _maintenance_due(g):
        try:
            with transaction.atomic():
                locked = Group.lock(group_id)
                locked.expire_members()
                rebalance_maybe_complete(locked)
                locked.save()
        except GroupIdNotFound:  # deleted since the read
            return None
        g = Group.read(group_id)
    return g


def kafka_join_result(*, group_id: str, member_id: str, generation: int, group_instance_id: str | None = None) -> JoinResult:
    """A parked JoinGroup's answer once the group passed `generation`; else still waiting."""
    g = _read_current(group_id)
    if g is None:
        raise _unknown(group_id, member_id)
    m = g.member(member_id, group_instance_id)
    if g.group.generation > generation:
        return _join_result(g, m)
    return JoinResult(member_id=member_id, waiting_for=generation)


def kafka_member_sync(
    *,
    group_id: str,
    member_id: str,
    generation: int,
    assignments: Mapping[str, bytes],
    group_instance_id: str | None = None,
    protocol_type: str | None = None,
    protocol_name: str | None = None,
) -> SyncResult:
    """SyncGroup (Kafka's handleSyncGroup): the leader's assignments make the group Stable; a
    follower's request waits for them (`assignment` None: ask kafka_sync_result)."""

    def sync(g: Group) -> SyncResult:
        group = g.group
        m = g.member(member_id, group_instance_id)
        if generation != group.generation:
            raise IllegalGeneration(f"Generation {generation} is not group '{group_id}''s current generation {group.generation}.")
        if protocol_type is not None and protocol_type != group.protocol_type:
            raise InconsistentGroupProtocol(f"Group '{group_id}' has protocol type '{group.protocol_type}', not '{protocol_type}'.")
        if protocol_name is not None and protocol_name != group.protocol_name:
            raise InconsistentGroupProtocol(f"Group '{group_id}' chose protocol '{group.protocol_name}', not '{protocol_name}'.")
        if group.state == State.PREPARING_REBALANCE:
            raise RebalanceInProgress(f"Group '{group_id}' is rebalancing: join again.")
        if group.state not in (State.COMPLETING_REBALANCE, State.STABLE):
            raise _unknown(group_id, member_id)
        m.awaiting_sync = False
        m.last_heartbeat_ms = g.now_ms
        g.touch(m)
        if group.state == State.COMPLETING_REBALANCE:
            if group.leader_member_id != member_id:
                return SyncResult(None, group.protocol_type, group.protocol_name)
            kafka_assignment_complete(g, assignments)
        elif not any(x.awaiting_sync for x in g.members.values()):
            group.rebalance_deadline_ms = None
        return SyncResult(bytes(m.assignment_bytes or b""), group.protocol_type, group.protocol_name)

    return _run(group_id, sync, missing=_unknown(group_id, member_id))


def kafka_sync_result(*, group_id: str, member_id: str, generation: int, group_instance_id: str | None = None) -> SyncResult:
    """A parked SyncGroup's answer: the member's assignment once the leader's arrived;
    REBALANCE_IN_PROGRESS if the group rebalanced first; else still waiting."""
    g = _read_current(group_id)
    if g is None:
        raise _unknown(group_id, member_id)
    m = g.member(member_id, group_instance_id)
    group = g.group
    if group.generation == generation and m.assignment_bytes is not None:
        return SyncResult(bytes(m.assignment_bytes), group.protocol_type, group.protocol_name)
    if group.generation == generation and group.state == State.COMPLETING_REBALANCE:
        return SyncResult(None, group.protocol_type, group.protocol_name)
    raise RebalanceInProgress(f"Group '{group_id}' rebalanced before the leader's assignment arrived: join again.")


def kafka_member_heartbeat(*, group_id: str, member_id: str, generation: int, group_instance_id: str | None = None) -> None:
    """Heartbeat (Kafka's handleHeartbeat): REBALANCE_IN_PROGRESS tells the member to rejoin; a
    stale generation is ILLEGAL_GENERATION and does not count as a heartbeat."""

    def beat(g: Group) -> None:
        group = g.group
        m = g.member(member_id, group_instance_id)
        if generation != group.generation:
            raise IllegalGeneration(f"Generation {generation} is not group '{group_id}''s current generation {group.generation}.")
        if group.state == State.EMPTY:
            raise _unknown(group_id, member_id)
        m.last_heartbeat_ms = g.now_ms
        g.touch(m)
        if group.state == State.PREPARING_REBALANCE:
            raise RebalanceInProgress(f"Group '{group_id}' is rebalancing: join again.")

    _run(group_id, beat, missing=_unknown(group_id, member_id))


def kafka_members_leave(*, group_id: str, members: Iterable[tuple[str, str | None]], reason: str | None = None) -> list[int]:
    """LeaveGroup (Kafka's handleLeaveGroup): each (member id, group instance id) leaves, or an
    empty member id names a static member by instance id (KIP-345's admin removal). Returns each
    one's error code (0 when it left)."""
    members = list(members)
    why = _reason(reason)

    def leave(g: Group) -> list[int]:
        codes = []
        for member_id, group_instance_id in members:
            if member_id and group_instance_id is None and member_id in g.group.pending_members:
                g.group.pending_members = {k: v for k, v in g.group.pending_members.items() if k != member_id}
                codes.append(NO_ERROR)
                continue
            try:
                if member_id:
                    target = g.member(member_id, group_instance_id).member_id
                else:
                    holder = g.static_member(group_instance_id)
                    if holder is None:
                        raise _unknown(group_id, f"(instance {group_instance_id})")
                    target = holder.member_id
            except BrokerError as e:
                codes.append(e.code)
                continue
            g.remove_member(target, "left the group", "member.left")
            if g.group.state != State.EMPTY:
                g.rebalance_start(f"member {target} left the group{why}")
            codes.append(NO_ERROR)
        rebalance_maybe_complete(g)
        return codes

    try:
        return _run(group_id, leave)
    except GroupIdNotFound:
        return [UnknownMemberId.code] * len(members)


def kafka_group_describe(*, group_id: str) -> GroupView:
    """DescribeGroups (v0-v5), after the lazy work Kafka's timers would have done: a group that
    does not exist is described as Dead (no members), as Kafka's classic coordinator does. Member
    metadata and assignments are given only while Stable (see MemberView); no lag is read."""
    g = _read_current(group_id)
    if g is None:
        return group_view(ConsumerGroup(group_id=group_id, state=State.DEAD, kind="", assignor="", protocol_type=""), [])
    return group_view(g.group, g.members_ordered(), wire=True)


def kafka_groups_list(*, states: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """ListGroups: (group id, protocol type, state) of every group, in the given states if any."""
    qs = ConsumerGroup.objects.exclude(state=State.DEAD).order_by("group_id")
    states = list(states)
    if states:
        qs = qs.filter(state__in=states)
    return list(qs.values_list("group_id", "protocol_type", "state"))
