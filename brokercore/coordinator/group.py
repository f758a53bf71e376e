"""The group coordinator: Kafka's classic consumer-group protocol, for server-managed members.

Server-managed members (REST consumers, the console's lab) join, heartbeat, poll, commit and leave
through these functions; the coordinator runs the group's assignor itself. The state machine is
Kafka's (Empty -> PreparingRebalance -> CompletingRebalance -> Stable, Dead when deleted):

- A change (a member joins or leaves or expires, a subscription or partition count or the assignor
  changes) starts a rebalance: PreparingRebalance, and every other member must rejoin. A
  server-managed member rejoins inside its next poll, as a Kafka consumer does inside poll().
- When every member has rejoined, or the rebalance timeout passed (the laggards are removed), the
  coordinator assigns and bumps the generation: Stable (Empty when nobody is left).
- Eager assignors: a member gives up all its partitions when it rejoins (stop-the-world).
  cooperative-sticky: members keep their partitions; one that must move a partition first revokes
  it (generation N), then rejoins, and the partition is given to its new owner in generation N+1.

Kafka-protocol members (kind "kafka": real Kafka clients through brokercore.kafka, with the API
services in kafka_groups.py) go through the same state machine, locking, expiry and history, with
Kafka's classic-coordinator rules where the client leader assigns: a rebalance completes its join
round into CompletingRebalance (the generation is bumped and a protocol every member supports is
chosen), and the leader's SyncGroup makes it Stable. Their JoinGroup and SyncGroup responses wait
outside any transaction (see kafka_groups.py); while a member's request is parked there, its
session cannot expire, as in Kafka.

Invariants: the group row is locked (SELECT ... FOR UPDATE) for every change, so one process at a
time changes a group; a generation's assignment gives each partition to at most one member (for
Kafka-protocol groups, as far as the client leader's assignment does).
"""

import base64
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from brokercore import clock, events
from brokercore.coordinator import consumer_protocol
from brokercore.coordinator.assignors import ASSIGNOR_NAMES, MemberSubscription, assign, is_cooperative
from brokercore.errors import (
    FencedInstanceId,
    GroupIdNotFound,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidGroupId,
    InvalidRequest,
    InvalidSessionTimeout,
    NonEmptyGroup,
    RebalanceInProgress,
    UnknownMemberId,
)
from brokercore.models import ConsumerGroup, GroupMember, Partition, RebalanceEvent
from brokercore.notify import group_waiters

logger = logging.getLogger(__name__)

State = ConsumerGroup.State
KAFKA = ConsumerGroup.Kind.KAFKA
OFFSET_RESETS = ("earliest", "latest", "none")


def group_channel(group: ConsumerGroup) -> str:
    return events.consumer_group_group(group.pk)


def tp_key(topic: str, partition: int) -> str:
    """'topic:partition'; topic names cannot contain ':', so this is unambiguous."""
    return f"{topic}:{partition}"


def tp_split(key: str) -> tuple[str, int]:
    topic, _, partition = key.rpartition(":")
    return topic, int(partition)


@dataclass
class MemberState:
    """What a member learns from the coordinator after a join, heartbeat or poll."""

    group_id: str
    member_id: str
    generation: int
    state: str
    assignment: list[tuple[str, int]]
    revoking: list[tuple[str, int]]
    awaiting_join: bool
    leader: bool
    protocol_name: str

    @property
    def rebalancing(self) -> bool:
        return self.state != State.STABLE or self.awaiting_join


@dataclass
class _Group:
    """A locked group and its members, changed in memory and saved once."""

    group: ConsumerGroup
    members: dict[str, GroupMember]
    now_ms: int
    dirty: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    notes: list[tuple[str, dict]] = field(default_factory=list)
    # The group held Kafka-protocol members when locked: requests of theirs may be parked.
    kafka: bool = False

    def touch(self, member: GroupMember) -> None:
        self.dirty.add(member.member_id)

    def note(self, event_type: str, **payload) -> None:
        self.notes.append((event_type, payload))


# --- Loading and saving ---------------------------------------------------------------------


def group_id_validate(group_id) -> str:
    """A group id every adapter accepts: non-empty, at most 255 characters (the column), and
    without NUL, which Kafka allows but PostgreSQL text cannot hold (INVALID_GROUP_ID)."""
    if not isinstance(group_id, str) or not group_id.strip():
        raise InvalidGroupId("The group id must be a non-empty string.")
    if len(group_id) > 255:
        raise InvalidGroupId("The group id may be at most 255 characters long.")
    if "\x00" in group_id:
        raise InvalidGroupId("The group id may not contain NUL characters.")
    return group_id


def _lock(group_id: str, *, create: bool = False, skip_locked: bool = False) -> _Group | None:
    qs = ConsumerGroup.objects.select_for_update(skip_locked=skip_locked)
    try:
        group = qs.get(group_id=group_id)
    except ConsumerGroup.DoesNotExist:
        if not create:
            if skip_locked:
                return None
            raise GroupIdNotFound(f"Group '{group_id}' does not exist.") from None
        try:
            with transaction.atomic():
                ConsumerGroup.objects.create(group_id=group_id, state_changed_at=clock.now())
        except IntegrityError:
            pass  # another process created it first; lock theirs
        group = qs.get(group_id=group_id)
    if group.state == State.DEAD:
        # A deleted group's id is reusable, as in Kafka.
        group.state = State.EMPTY
    members = {m.member_id: m for m in GroupMember.objects.filter(group=group)}
    return _Group(group=group, members=members, now_ms=clock.now_ms(), kafka=group.kind == KAFKA)


def _save(g: _Group) -> None:
    g.group.save()
    if g.deleted:
        GroupMember.objects.filter(group=g.group, member_id__in=g.deleted).delete()
    for member_id in g.dirty - g.deleted:
        m = g.members.get(member_id)
        if m is not None:
            m.save()
    if g.notes:
        groups = [group_channel(g.group), events.CLUSTER_GROUP]
        for event_type, payload in g.notes:
            events.publish_on_commit(groups, event_type, {"group_id": g.group.group_id, **payload})
    if g.kafka or g.group.kind == KAFKA:
        group_id = g.group.group_id
        transaction.on_commit(lambda: group_waiters.notify((group_id,)), robust=True)


def _set_state(g: _Group, state: str) -> None:
    if g.group.state != state:
        g.group.state = state
        g.group.state_changed_at = clock.now()


def _static_member(g: _Group, group_instance_id: str | None) -> GroupMember | None:
    if group_instance_id is None:
        return None
    return next((m for m in g.members.values() if m.group_instance_id == group_instance_id), None)


def _member(g: _Group, member_id: str, group_instance_id: str | None = None) -> GroupMember:
    """The member making a request, checked as Kafka's validateCurrentMember: a static member's
    instance id must be held by this member id (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID
    when nobody holds it)."""
    if group_instance_id is not None:
        holder = _static_member(g, group_instance_id)
        if holder is not None and holder.member_id != member_id:
            raise FencedInstanceId(
                f"Static member '{group_instance_id}' is now member {holder.member_id}; "
                f"member {member_id} was fenced."
            )
        if holder is None:
            raise UnknownMemberId(
                f"No member of group '{g.group.group_id}' has group.instance.id '{group_instance_id}' "
                "(it left or its session timed out): join again."
            )
    try:
        return g.members[member_id]
    except KeyError:
        raise UnknownMemberId(
            f"Member '{member_id}' is not in group '{g.group.group_id}' (it left, was removed after "
            "its session timed out, or never joined): join again."
        ) from None


# --- Rebalancing ----------------------------------------------------------------------------


def _remove_member(g: _Group, member_id: str, reason: str, event_type: str) -> None:
    g.members.pop(member_id, None)
    g.deleted.add(member_id)
    if g.group.leader_member_id == member_id:
        # Kafka elects a new leader at once when the leader goes, even mid-rebalance.
        rest = sorted(g.members.values(), key=lambda m: (m.joined_at, m.member_id))
        g.group.leader_member_id = rest[0].member_id if rest else ""
    g.note(event_type, member_id=member_id, reason=reason)


def _parked(g: _Group, m: GroupMember) -> bool:
    """A Kafka-protocol member whose JoinGroup or SyncGroup is waiting at the barrier: like Kafka
    (MemberMetadata.hasSatisfiedHeartbeat), its session does not run out while it waits."""
    state = g.group.state
    return (state == State.PREPARING_REBALANCE and not m.awaiting_join) or (
        state == State.COMPLETING_REBALANCE and not m.awaiting_sync
    )


def _expire_members(g: _Group, *, keep: str | None = None) -> None:
    """Lazy expiry: members whose session passed without a heartbeat leave the group.

    Kafka-protocol groups also drop pending member ids (KIP-394) whose session passed, and remove
    members that did not send SyncGroup within the rebalance timeout after the join round.
    """
    kafka = g.group.kind == KAFKA
    for m in list(g.members.values()):
        if m.member_id == keep or (kafka and _parked(g, m)):
            continue
        if m.last_heartbeat_ms + m.session_timeout_ms < g.now_ms:
            _remove_member(g, m.member_id, "session timeout", "member.expired")
            _rebalance_start(g, f"member {m.member_id} expired (no heartbeat for {m.session_timeout_ms} ms)")
    group = g.group
    if group.pending_members:
        live = {mid: deadline for mid, deadline in group.pending_members.items() if deadline >= g.now_ms}
        if live != group.pending_members:
            group.pending_members = live
    if kafka and group.state in (State.COMPLETING_REBALANCE, State.STABLE) and group.rebalance_deadline_ms is not None:
        if g.now_ms < group.rebalance_deadline_ms:
            return
        late = [m.member_id for m in g.members.values() if m.awaiting_sync]
        if not late:
            group.rebalance_deadline_ms = None
            return
        for member_id in late:
            _remove_member(g, member_id, "did not send SyncGroup within the rebalance timeout", "member.removed")
        _rebalance_start(g, f"member(s) {', '.join(late)} did not send SyncGroup within the rebalance timeout")


def _rebalance_timeout_ms(g: _Group) -> int:
    # Kafka's GroupMetadata.rebalanceTimeoutMs: the longest any member asked for.
    return max((m.rebalance_timeout_ms for m in g.members.values()), default=0)


def _rebalance_start(g: _Group, reason: str, *, initiator: str | None = None) -> None:
    group = g.group
    if group.state != State.PREPARING_REBALANCE:
        if group.kind == KAFKA:
            # Kafka's prepareRebalance: SyncGroups still waiting for the leader's assignment are
            # answered REBALANCE_IN_PROGRESS, and nobody is awaited at the SyncGroup barrier any more.
            interrupted = group.state == State.COMPLETING_REBALANCE
            for m in g.members.values():
                if m.awaiting_sync or interrupted:
                    m.awaiting_sync = False
                    if interrupted:
                        m.assignment_bytes = None
                    g.touch(m)
        _set_state(g, State.PREPARING_REBALANCE)
        group.rebalance_started_ms = g.now_ms
        group.rebalance_reasons = []
        group.rebalance_deadline_ms = g.now_ms + _rebalance_timeout_ms(g)
        for m in g.members.values():
            if m.member_id != initiator:
                m.awaiting_join = True
                g.touch(m)
        g.note("rebalance.started", reason=reason, generation=group.generation)
    if reason not in group.rebalance_reasons and len(group.rebalance_reasons) < 20:
        group.rebalance_reasons = [*group.rebalance_reasons, reason]


def _rejoin(g: _Group, m: GroupMember) -> None:
    """The member (re)joins the pending generation. Eager protocols revoke everything first."""
    m.awaiting_join = False
    if not is_cooperative(g.group.assignor):
        m.assignment = []
        m.revoking = []
    g.touch(m)


def _partition_counts(topics: Iterable[str]) -> dict[str, int]:
    from django.db.models import Count

    rows = (
        Partition.objects.filter(topic__name__in=set(topics), topic__deleted_at__isnull=True)
        .values("topic__name")
        .annotate(n=Count("id"))
    )
    return {r["topic__name"]: r["n"] for r in rows}


def _maybe_complete(g: _Group) -> None:
    """Complete the rebalance under way if every member rejoined or its timeout passed."""
    if g.group.kind == KAFKA:
        _kafka_join_complete(g)
        return
    group = g.group
    if group.state != State.PREPARING_REBALANCE:
        return
    waiting = [m for m in g.members.values() if m.awaiting_join]
    if waiting and g.now_ms < (group.rebalance_deadline_ms or 0):
        return
    removed = []
    for m in waiting:
        _remove_member(g, m.member_id, "did not rejoin within the rebalance timeout", "member.removed")
        removed.append(m.member_id)

    before = dict(group.assignment)
    started = group.rebalance_started_ms or g.now_ms
    reasons = list(group.rebalance_reasons)
    members = sorted(g.members.values(), key=lambda m: (m.joined_at, m.member_id))
    counts = _partition_counts(t for m in members for t in m.subscription)
    group.generation += 1
    revoked: dict[str, list] = {}
    if not members:
        _set_state(g, State.EMPTY)
        group.assignment = {}
        group.leader_member_id = ""
        group.protocol_name = ""
        group.kind = ConsumerGroup.Kind.NONE
        after: dict[str, list] = {}
    else:
        plan = assign(
            group.assignor,
            [
                MemberSubscription(
                    member_id=m.member_id,
                    topics=tuple(m.subscription),
                    owned=tuple(tuple(tp) for tp in before.get(m.member_id, [])),
                    generation=group.generation - 1,
                    group_instance_id=m.group_instance_id,
                )
                for m in members
            ],
            counts,
        )
        for m in members:
            m.assignment = [list(tp) for tp in plan.assignment[m.member_id]]
            m.revoking = [list(tp) for tp in plan.revoking.get(m.member_id, [])]
            keep = {tp_key(t, p) for t, p in m.assignment + m.revoking}
            m.positions = {k: v for k, v in m.positions.items() if k in keep}
            g.touch(m)
        after = {m.member_id: [list(tp) for tp in plan.assignment[m.member_id]] for m in members}
        revoked = {mid: [list(tp) for tp in tps] for mid, tps in plan.revoking.items() if tps}
        _set_state(g, State.STABLE)
        group.assignment = after
        group.leader_member_id = members[0].member_id
        group.protocol_name = group.assignor
    group.partition_counts = counts
    group.rebalance_started_ms = None
    group.rebalance_deadline_ms = None
    group.rebalance_reasons = []

    moved = _rebalance_record(
        g, protocol_name=group.assignor, cooperative=is_cooperative(group.assignor), started=started,
        reasons=reasons, members=members, before=before, after=after, revoked=revoked, removed=removed,
    )
    g.note("rebalance.completed", generation=group.generation, state=group.state, moved=len(moved))


def _rebalance_record(
    g: _Group, *, protocol_name: str, cooperative: bool, started: int, reasons: list, members: list,
    before: dict, after: dict, revoked: dict, removed: list,
) -> list:
    """Write the new generation's RebalanceEvent (the console's timeline); returns what moved."""
    moved, paused = _rebalance_moves(before, after, revoked, cooperative=cooperative)
    RebalanceEvent.objects.create(
        group=g.group,
        generation=g.group.generation,
        reasons=reasons,
        protocol_name=protocol_name,
        started_ms=started,
        completed_ms=g.now_ms,
        members=[m.member_id for m in members],
        assignment_before=before,
        assignment_after=after,
        revoked=revoked,
        moved=moved,
        paused=paused,
        removed_members=removed,
    )
    _history_trim(g.group)
    return moved


def _rebalance_moves(before: dict, after: dict, revoked: dict, *, cooperative: bool) -> tuple[list, int]:
    """(moved partitions [[topic, partition, from, to], ...], partitions paused by the rebalance):
    eager protocols pause everything that was owned, cooperative ones only what was revoked."""
    owner_before = {tuple(tp): mid for mid, tps in before.items() for tp in tps}
    owner_after = {tuple(tp): mid for mid, tps in after.items() for tp in tps}
    moved = [
        [tp[0], tp[1], owner_before.get(tp), owner_after.get(tp)]
        for tp in sorted(set(owner_before) | set(owner_after))
        if owner_before.get(tp) != owner_after.get(tp)
    ]
    paused = sum(len(v) for v in revoked.values()) if cooperative else len(owner_before)
    return moved, paused


# --- Kafka-protocol members: the join round and the leader's assignment ---------------------


def member_protocols(m: GroupMember) -> list[tuple[str, bytes]]:
    """A Kafka-protocol member's (protocol name, metadata) pairs, in its order of preference."""
    return [(name, base64.b64decode(data)) for name, data in m.protocols]


def protocols_store(protocols: Iterable[tuple[str, bytes]]) -> list[list[str]]:
    return [[name, base64.b64encode(data).decode("ascii")] for name, data in protocols]


def _protocol_metadata(m: GroupMember, name: str) -> bytes | None:
    return next((data for n, data in member_protocols(m) if n == name), None)


def protocol_candidates(members: Iterable[GroupMember]) -> set[str]:
    """The protocols every member supports (Kafka's GroupMetadata.candidateProtocols)."""
    names = [{n for n, _ in m.protocols} for m in members]
    return set.intersection(*names) if names else set()


def _protocol_select(members: list[GroupMember]) -> str:
    """Kafka's GroupMetadata.selectProtocol: among the protocols every member supports, each member
    votes for the one it lists first; the most votes win. Kafka breaks a tie arbitrarily; here the
    leader's (members[0]'s) order of preference does."""
    candidates = protocol_candidates(members)
    votes = Counter(next(n for n, _ in m.protocols if n in candidates) for m in members)
    best = max(votes.values())
    return next(n for n, _ in members[0].protocols if votes.get(n) == best)


def subscription_refresh(g: _Group, m: GroupMember, protocol_name: str | None = None) -> None:
    """Decode what a Kafka-protocol member subscribes to and owns, for the console, from the
    metadata of `protocol_name` (the group's chosen protocol) or of its first protocol."""
    m.subscription, m.assignment = [], []
    if g.group.protocol_type == consumer_protocol.PROTOCOL_TYPE and m.protocols:
        data = _protocol_metadata(m, protocol_name) if protocol_name else None
        if data is None:
            data = member_protocols(m)[0][1]
        try:
            sub = consumer_protocol.subscription_decode(data)
        except consumer_protocol.MalformedConsumerProtocol as e:
            # Opaque to the coordinator, as in Kafka: the member stays, the console shows nothing.
            logger.info("group %s: member %s sent metadata the consumer protocol cannot read: %s", g.group.group_id, m.member_id, e)
        else:
            m.subscription = sub.topics
            m.assignment = [list(tp) for tp in sub.owned]
    g.touch(m)


def _members_ordered(g: _Group) -> list[GroupMember]:
    return sorted(g.members.values(), key=lambda m: (m.joined_at, m.member_id))


def _kafka_join_complete(g: _Group) -> None:
    """Kafka's onCompleteJoin: when every member has rejoined (and no pending member id is still
    expected), or the rebalance timeout passed, start the next generation.

    Dynamic members that did not rejoin are removed; static ones stay until their session ends.
    The generation is bumped, a protocol chosen, and the group waits in CompletingRebalance for
    the leader's SyncGroup (the generation's RebalanceEvent gets its assignment then).
    """
    group = g.group
    if group.state != State.PREPARING_REBALANCE:
        return
    waiting = [m for m in g.members.values() if m.awaiting_join]
    if (waiting or group.pending_members) and g.now_ms < (group.rebalance_deadline_ms or 0):
        return
    removed = []
    for m in waiting:
        if m.group_instance_id is None:
            _remove_member(g, m.member_id, "did not rejoin within the rebalance timeout", "member.removed")
            removed.append(m.member_id)
    joined = [m for m in _members_ordered(g) if not m.awaiting_join]
    if g.members and not joined:
        # Only static members that have not rejoined are left: like Kafka, wait another timeout.
        group.rebalance_deadline_ms = g.now_ms + _rebalance_timeout_ms(g)
        return
    if joined and group.leader_member_id not in {m.member_id for m in joined}:
        group.leader_member_id = joined[0].member_id  # Kafka's maybeElectNewJoinedLeader

    before = dict(group.assignment)
    started = group.rebalance_started_ms or g.now_ms
    reasons = list(group.rebalance_reasons)
    group.generation += 1
    members = _members_ordered(g)
    if not members:
        _set_state(g, State.EMPTY)
        group.protocol_name = ""
        group.leader_member_id = ""
        group.kind = ConsumerGroup.Kind.NONE
        group.assignment = {}
        group.rebalance_started_ms = None
        group.rebalance_deadline_ms = None
        group.rebalance_reasons = []
    else:
        leader = g.members[group.leader_member_id]
        group.protocol_name = _protocol_select([leader, *(m for m in members if m is not leader)])
        _set_state(g, State.COMPLETING_REBALANCE)
        # Kafka's DelayedSync: members must send SyncGroup within the rebalance timeout.
        group.rebalance_deadline_ms = g.now_ms + _rebalance_timeout_ms(g)
        for m in members:
            if not m.awaiting_join:
                subscription_refresh(g, m, group.protocol_name)
            m.awaiting_sync = True
            m.assignment_bytes = None
            m.last_heartbeat_ms = g.now_ms  # Kafka: completeAndScheduleNextHeartbeatExpiration
            g.touch(m)
        group.assignment = {m.member_id: [list(tp) for tp in m.assignment] for m in members}
    after = dict(group.assignment)
    cooperative = _cooperative(group.protocol_name)
    revoked = _revoked(before, after) if cooperative else {}
    moved = _rebalance_record(
        g, protocol_name=group.protocol_name, cooperative=cooperative, started=started,
        reasons=reasons, members=members, before=before, after=after, revoked=revoked, removed=removed,
    )
    if members:
        g.note("rebalance.joined", generation=group.generation, protocol=group.protocol_name, leader=group.leader_member_id)
    else:
        g.note("rebalance.completed", generation=group.generation, state=group.state, moved=len(moved))


def _cooperative(protocol_name: str) -> bool:
    # Clients may name assignors of their own; only the known cooperative one is treated so.
    return protocol_name in ASSIGNOR_NAMES and is_cooperative(protocol_name)


def _revoked(before: dict, after: dict) -> dict[str, list]:
    """Partitions each member owned before and no longer owns (cooperative protocols)."""
    out = {}
    for mid, tps in before.items():
        keep = {tuple(tp) for tp in after.get(mid, [])}
        gone = [list(tp) for tp in tps if tuple(tp) not in keep]
        if gone:
            out[mid] = gone
    return out


def kafka_assignment_complete(g: _Group, assignments: Mapping[str, bytes]) -> None:
    """The leader's SyncGroup: store every member's assignment (Kafka gives members the leader
    left out an empty one), decode it for the console, and make the group Stable."""
    group = g.group
    for m in g.members.values():
        data = bytes(assignments.get(m.member_id, b""))
        m.assignment_bytes = data
        m.assignment, m.revoking = [], []
        if group.protocol_type == consumer_protocol.PROTOCOL_TYPE:
            try:
                m.assignment = [list(tp) for tp in consumer_protocol.assignment_decode(data)]
            except consumer_protocol.MalformedConsumerProtocol as e:
                logger.info("group %s: the leader's assignment for %s is unreadable: %s", group.group_id, m.member_id, e)
        g.touch(m)
    _set_state(g, State.STABLE)
    after = {m.member_id: [list(tp) for tp in m.assignment] for m in _members_ordered(g)}
    if not any(m.awaiting_sync for m in g.members.values()):
        group.rebalance_deadline_ms = None
    event = RebalanceEvent.objects.filter(group=group, generation=group.generation).first()
    if event is not None:
        cooperative = _cooperative(group.protocol_name)
        before = event.assignment_before
        event.revoked = _revoked(before, after) if cooperative else {}
        event.moved, event.paused = _rebalance_moves(before, after, event.revoked, cooperative=cooperative)
        event.assignment_after = after
        event.completed_ms = g.now_ms
        event.save(update_fields=["revoked", "moved", "paused", "assignment_after", "completed_ms"])
    group.assignment = after
    group.rebalance_started_ms = None
    group.rebalance_reasons = []
    g.note("rebalance.completed", generation=group.generation, state=group.state, moved=len(event.moved) if event else 0)


def _history_trim(group: ConsumerGroup) -> None:
    keep = settings.BROKER["REBALANCE_HISTORY_PER_GROUP"]
    old = RebalanceEvent.objects.filter(group=group).order_by("-generation").values_list("id", flat=True)[keep:]
    ids = list(old)
    if ids:
        RebalanceEvent.objects.filter(id__in=ids).delete()


def _check_partition_counts(g: _Group) -> None:
    """Kafka clients rejoin when metadata shows new partitions; the coordinator does it for them."""
    group = g.group
    if group.state != State.STABLE or not g.members:
        return
    counts = _partition_counts(t for m in g.members.values() for t in m.subscription)
    if counts != group.partition_counts:
        changed = sorted(t for t in set(counts) | set(group.partition_counts) if counts.get(t) != group.partition_counts.get(t))
        details = ", ".join(
            f"{t} {group.partition_counts.get(t, 0)} -> {counts.get(t, 0)}" for t in changed
        )
        _rebalance_start(g, f"partitions changed ({details})")


# --- Membership -----------------------------------------------------------------------------


def _session_timeout_validate(session_timeout_ms) -> int:
    low = settings.BROKER["GROUP_MIN_SESSION_TIMEOUT_MS"]
    high = settings.BROKER["GROUP_MAX_SESSION_TIMEOUT_MS"]
    if isinstance(session_timeout_ms, bool) or not isinstance(session_timeout_ms, int) or not low <= session_timeout_ms <= high:
        raise InvalidSessionTimeout(
            f"Session timeout {session_timeout_ms} ms is outside the broker's range "
            f"{low}..{high} ms (group.min.session.timeout.ms, group.max.session.timeout.ms)."
        )
    return session_timeout_ms


def _topics_validate(topics) -> list[str]:
    if isinstance(topics, str) or not isinstance(topics, (list, tuple)) or not all(isinstance(t, str) and t for t in topics):
        raise InvalidRequest("A subscription is a list of topic names.")
    return sorted(set(topics))


def _view(g: _Group, m: GroupMember) -> MemberState:
    return MemberState(
        group_id=g.group.group_id,
        member_id=m.member_id,
        generation=g.group.generation,
        state=g.group.state,
        assignment=[tuple(tp) for tp in m.assignment],
        revoking=[tuple(tp) for tp in m.revoking],
        awaiting_join=m.awaiting_join,
        leader=g.group.leader_member_id == m.member_id,
        protocol_name=g.group.protocol_name,
    )


@transaction.atomic
def group_join(
    *,
    group_id: str,
    topics: list[str] | tuple[str, ...],
    member_id: str | None = None,
    group_instance_id: str | None = None,
    assignor: str | None = None,
    session_timeout_ms: int = 10_000,
    rebalance_timeout_ms: int | None = None,
    client_id: str = "",
    client_host: str = "",
    offset_reset: str = "latest",
) -> MemberState:
    """Join (or rejoin) a server-managed member with a topic subscription.

    A new member gets a member id and starts a rebalance. A rejoin with a known member id, or a
    static member (group_instance_id) coming back with the same subscription, keeps its partitions.
    """
    group_id_validate(group_id)
    topics = _topics_validate(topics)
    session_timeout_ms = _session_timeout_validate(session_timeout_ms)
    rebalance_timeout_ms = session_timeout_ms if rebalance_timeout_ms is None else rebalance_timeout_ms
    if assignor is not None and assignor not in ASSIGNOR_NAMES:
        raise InconsistentGroupProtocol(f"Unknown assignor '{assignor}': use one of {', '.join(ASSIGNOR_NAMES)}.")
    if offset_reset not in OFFSET_RESETS:
        raise InvalidRequest(f"auto.offset.reset must be one of {', '.join(OFFSET_RESETS)}.")

    g = _lock(group_id, create=True)
    group = g.group
    if group.kind == ConsumerGroup.Kind.KAFKA and g.members:
        raise InconsistentGroupProtocol(
            f"Group '{group_id}' has Kafka-protocol members; a group holds one kind of member."
        )
    _expire_members(g, keep=member_id)
    if not g.members:
        group.kind = ConsumerGroup.Kind.SERVER
        if assignor:
            group.assignor = assignor
    elif assignor and assignor != group.assignor:
        raise InconsistentGroupProtocol(
            f"Group '{group_id}' uses the {group.assignor} assignor; a member asking for {assignor} "
            "cannot join it (change the group's assignor instead)."
        )

    if member_id is not None:
        m = _member(g, member_id, group_instance_id)
        m.last_heartbeat_ms = g.now_ms
        if m.subscription != topics:
            m.subscription = topics
            _rebalance_start(g, f"member {member_id} changed its subscription", initiator=member_id)
        if g.group.state == State.PREPARING_REBALANCE:
            _rejoin(g, m)
        g.touch(m)
    else:
        static = next((x for x in g.members.values() if group_instance_id and x.group_instance_id == group_instance_id), None)
        new_id = f"{client_id or 'consumer'}-{uuid.uuid4()}"
        if static is not None:
            # KIP-345: the static member returns under a new member id; the old id is fenced.
            m = _replace_static_member(g, static, new_id)
            m.last_heartbeat_ms = g.now_ms
            m.session_timeout_ms, m.rebalance_timeout_ms = session_timeout_ms, rebalance_timeout_ms
            if m.subscription != topics:
                m.subscription = topics
                _rebalance_start(g, f"static member {group_instance_id} rejoined with a new subscription", initiator=new_id)
        else:
            m = GroupMember(
                group=group,
                member_id=new_id,
                group_instance_id=group_instance_id,
                client_id=client_id,
                client_host=client_host,
                session_timeout_ms=session_timeout_ms,
                rebalance_timeout_ms=rebalance_timeout_ms,
                subscription=topics,
                offset_reset=offset_reset,
                last_heartbeat_ms=g.now_ms,
                joined_at=clock.now(),
            )
            g.members[new_id] = m
            g.touch(m)
            g.note("member.joined", member_id=new_id, client_id=client_id)
            _rebalance_start(g, f"member {new_id} joined", initiator=new_id)
    _maybe_complete(g)
    _save(g)
    return _view(g, m)


def _replace_static_member(g: _Group, old: GroupMember, new_id: str) -> GroupMember:
    g.members.pop(old.member_id)
    g.deleted.add(old.member_id)
    fresh = GroupMember(
        group=g.group,
        member_id=new_id,
        group_instance_id=old.group_instance_id,
        client_id=old.client_id,
        client_host=old.client_host,
        session_timeout_ms=old.session_timeout_ms,
        rebalance_timeout_ms=old.rebalance_timeout_ms,
        subscription=old.subscription,
        assignment=old.assignment,
        revoking=old.revoking,
        awaiting_join=False,
        awaiting_sync=old.awaiting_sync,
        protocols=old.protocols,
        assignment_bytes=old.assignment_bytes,
        positions=old.positions,
        offset_reset=old.offset_reset,
        last_heartbeat_ms=g.now_ms,
        joined_at=old.joined_at,
    )
    g.members[new_id] = fresh
    g.touch(fresh)
    # The group's record of who owns what follows the instance, so stickiness survives.
    assignment = dict(g.group.assignment)
    if old.member_id in assignment:
        assignment[new_id] = assignment.pop(old.member_id)
        g.group.assignment = assignment
    if g.group.leader_member_id == old.member_id:
        g.group.leader_member_id = new_id
    g.note("member.replaced", member_id=new_id, previous=old.member_id, group_instance_id=old.group_instance_id)
    # Delete the old row now so the new one can take the instance id's unique slot.
    GroupMember.objects.filter(group=g.group, member_id=old.member_id).delete()
    return fresh


def member_heartbeat(*, group_id: str, member_id: str, generation: int, group_instance_id: str | None = None) -> MemberState:
    """Keep the session alive. Raises REBALANCE_IN_PROGRESS (after recording the heartbeat)
    when the member must rejoin, and ILLEGAL_GENERATION for a stale generation."""
    with transaction.atomic():
        g = _lock(group_id)
        m = _member(g, member_id, group_instance_id)
        m.last_heartbeat_ms = g.now_ms
        g.touch(m)
        _expire_members(g, keep=member_id)
        _check_partition_counts(g)
        _maybe_complete(g)
        _save(g)
        view = _view(g, m)
    if generation != view.generation and not view.rebalancing:
        raise IllegalGeneration(
            f"Generation {generation} is not the group's current generation {view.generation}."
        )
    if view.rebalancing:
        raise RebalanceInProgress(f"Group '{group_id}' is rebalancing: rejoin to get the new assignment.")
    return view


@transaction.atomic
def member_leave(*, group_id: str, member_id: str, group_instance_id: str | None = None) -> None:
    """A member leaves on purpose (LeaveGroup): the others rebalance at once, no session wait."""
    g = _lock(group_id)
    _member(g, member_id, group_instance_id)
    _remove_member(g, member_id, "left the group", "member.left")
    _expire_members(g)
    if g.members:
        _rebalance_start(g, f"member {member_id} left")
    else:
        _rebalance_start(g, f"member {member_id} left (last member)")
    _maybe_complete(g)
    _save(g)


@transaction.atomic
def member_sync(*, group_id: str, member_id: str, group_instance_id: str | None = None) -> MemberState:
    """The server-managed consumer's step inside poll(): heartbeat, rejoin or revoke when asked.

    Returns the member's view; `rebalancing` tells the caller not to fetch yet.
    """
    g = _lock(group_id)
    m = _member(g, member_id, group_instance_id)
    m.last_heartbeat_ms = g.now_ms
    g.touch(m)
    _expire_members(g, keep=member_id)
    _check_partition_counts(g)
    if m.revoking and g.group.state == State.STABLE:
        # Cooperative step 1 done: the member gave the partitions up; rejoin so they can move.
        gone = m.revoking
        m.revoking = []
        m.positions = {k: v for k, v in m.positions.items() if list(tp_split(k)) not in gone}
        _rebalance_start(g, f"member {member_id} revoked {len(gone)} partition(s) for a cooperative move", initiator=member_id)
    if m.awaiting_join:
        _rejoin(g, m)
    _maybe_complete(g)
    _save(g)
    return _view(g, m)


@transaction.atomic
def member_positions_save(*, group_id: str, member_id: str, generation: int, positions: Mapping[str, int]) -> None:
    """Store a server-managed member's fetch positions ("topic:partition" -> next offset)."""
    updated = GroupMember.objects.filter(
        group__group_id=group_id, member_id=member_id, group__generation=generation
    ).update(positions=dict(positions))
    if not updated:
        raise UnknownMemberId(f"Member '{member_id}' is not in generation {generation} of group '{group_id}'.")


@transaction.atomic
def group_assignor_set(*, group_id: str, assignor: str) -> None:
    """Change a server-managed group's assignor; the group rebalances with it."""
    if assignor not in ASSIGNOR_NAMES:
        raise InconsistentGroupProtocol(f"Unknown assignor '{assignor}': use one of {', '.join(ASSIGNOR_NAMES)}.")
    g = _lock(group_id, create=True)
    if g.group.kind == ConsumerGroup.Kind.KAFKA:
        raise InconsistentGroupProtocol("A Kafka-protocol group's assignor is chosen by its clients.")
    if g.group.assignor == assignor:
        return
    old = g.group.assignor
    g.group.assignor = assignor
    if g.members:
        # Eager and cooperative protocols cannot mix inside one rebalance: everyone rejoins.
        for m in g.members.values():
            m.revoking = []
            g.touch(m)
        _rebalance_start(g, f"assignor changed from {old} to {assignor}")
    _save(g)


@transaction.atomic
def group_delete(*, group_id: str) -> None:
    """Delete an Empty group with its committed offsets and history (Kafka's DeleteGroups)."""
    g = _lock(group_id)
    _expire_members(g)
    _maybe_complete(g)
    if g.members or g.group.state not in (State.EMPTY, State.DEAD):
        raise NonEmptyGroup(
            f"Group '{group_id}' is not empty (state {g.group.state}, {len(g.members)} members): "
            "only an Empty group can be deleted."
        )
    pk = g.group.pk
    channel = group_channel(g.group)
    g.group.delete()
    events.publish_on_commit([channel, events.CLUSTER_GROUP], "group.deleted", {"group_id": group_id, "group_pk": pk})


def groups_sweep() -> dict:
    """Expire silent members and finish timed-out rebalances in every group.

    Each group is handled in its own short transaction and skipped if another process holds it
    (SKIP LOCKED), so several server processes can sweep at once.
    """
    now_ms = clock.now_ms()
    expired_groups = set(
        GroupMember.objects.filter(last_heartbeat_ms__lt=now_ms - F("session_timeout_ms")).values_list("group__group_id", flat=True)
    )
    # Past a rebalance (or, for Kafka-protocol groups, SyncGroup) deadline, or a Kafka-protocol
    # rebalance that may be waiting only for a pending member id whose session has passed.
    overdue = set(
        ConsumerGroup.objects.filter(
            Q(rebalance_deadline_ms__lt=now_ms) | Q(kind=KAFKA, state=State.PREPARING_REBALANCE)
        ).values_list("group_id", flat=True)
    )
    swept = 0
    for group_id in sorted(expired_groups | overdue):
        with transaction.atomic():
            g = _lock(group_id, skip_locked=True)
            if g is None:
                continue
            before = (g.group.generation, len(g.members))
            _expire_members(g)
            _maybe_complete(g)
            _save(g)
            swept += (g.group.generation, len(g.members)) != before
    return {"groups_changed": swept}
