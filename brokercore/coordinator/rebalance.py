"""Completing a rebalance: the next generation, its protocol and its assignment.

Two ways, by the kind of members (Kafka's GroupMetadataManager runs the second):

- Server-managed members: when every member has rejoined, or the rebalance timeout passed (the
  laggards are removed), the coordinator runs the group's assignor and bumps the generation:
  Stable (Empty when nobody is left). Eager assignors take every partition from a member when it
  rejoins (stop-the-world); with cooperative-sticky members keep theirs, and one that must move a
  partition first revokes it (generation N), then rejoins, and the partition reaches its new
  owner in generation N+1.
- Kafka-protocol members: the join round completes into CompletingRebalance (the generation is
  bumped and a protocol every member supports is chosen), and the client leader's SyncGroup
  (`kafka_assignment_complete`) makes it Stable.

Every generation is recorded for the timeline (brokercore.coordinator.history). Callers hold the
group's lock (Group.lock) and save it afterwards.
"""

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from django.db.models import Count

from brokercore.coordinator import consumer_protocol
from brokercore.coordinator.assignors import MemberSubscription, assign, is_cooperative
from brokercore.coordinator.group import KAFKA, Group, State, member_protocols, protocol_metadata, tp_key
from brokercore.coordinator.history import (
    assignment_revoked,
    protocol_cooperative,
    rebalance_assignment_record,
    rebalance_record,
)
from brokercore.models import ConsumerGroup, GroupMember, Partition

logger = logging.getLogger(__name__)


def partition_counts(topics: Iterable[str]) -> dict[str, int]:
    """Partitions per existing topic among `topics` (what an assignment is computed for)."""
    rows = (
        Partition.objects.filter(topic__name__in=set(topics), topic__deleted_at__isnull=True)
        .values("topic__name")
        .annotate(n=Count("id"))
    )
    return {r["topic__name"]: r["n"] for r in rows}


def partition_counts_check(g: Group) -> None:
    """Kafka clients rejoin when metadata shows new partitions; the coordinator does it for them."""
    group = g.group
    if group.state != State.STABLE or not g.members:
        return
    counts = partition_counts(t for m in g.members.values() for t in m.subscription)
    if counts != group.partition_counts:
        changed = sorted(t for t in set(counts) | set(group.partition_counts) if counts.get(t) != group.partition_counts.get(t))
        details = ", ".join(
            f"{t} {group.partition_counts.get(t, 0)} -> {counts.get(t, 0)}" for t in changed
        )
        g.rebalance_start(f"partitions changed ({details})")


def rebalance_maybe_complete(g: Group) -> None:
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
        g.remove_member(m.member_id, "did not rejoin within the rebalance timeout", "member.removed")
        removed.append(m.member_id)

    before = dict(group.assignment)
    started = group.rebalance_started_ms or g.now_ms
    reasons = list(group.rebalance_reasons)
    members = g.members_ordered()
    counts = partition_counts(t for m in members for t in m.subscription)
    group.generation += 1
    revoked: dict[str, list] = {}
    if not members:
        g.set_state(State.EMPTY)
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
        g.set_state(State.STABLE)
        group.assignment = after
        group.leader_member_id = members[0].member_id
        group.protocol_name = group.assignor
    group.partition_counts = counts
    group.rebalance_started_ms = None
    group.rebalance_deadline_ms = None
    group.rebalance_reasons = []

    moved = rebalance_record(
        g, protocol_name=group.assignor, cooperative=is_cooperative(group.assignor), started=started,
        reasons=reasons, members=members, before=before, after=after, revoked=revoked, removed=removed,
    )
    g.note("rebalance.completed", generation=group.generation, state=group.state, moved=len(moved))


# --- Kafka-protocol members: protocols, the join round and the leader's assignment ---------------


def protocol_candidates(members: Iterable[GroupMember]) -> set[str]:
    """The protocols every member supports (Kafka's GroupMetadata.candidateProtocols)."""
    names = [{n for n, _ in m.protocols} for m in members]
    return set.intersection(*names) if names else set()


def protocol_select(members: list[GroupMember]) -> str:
    """Kafka's GroupMetadata.selectProtocol: among the protocols every member supports, each member
    votes for the one it lists first; the most votes win. Kafka breaks a tie arbitrarily; here the
    leader's (members[0]'s) order of preference does."""
    candidates = protocol_candidates(members)
    votes = Counter(next(n for n, _ in m.protocols if n in candidates) for m in members)
    best = max(votes.values())
    return next(n for n, _ in members[0].protocols if votes.get(n) == best)


def subscription_refresh(g: Group, m: GroupMember, protocol_name: str | None = None) -> None:
    """Decode what a Kafka-protocol member subscribes to and owns, for the console, from the
    metadata of `protocol_name` (the group's chosen protocol) or of its first protocol."""
    m.subscription, m.assignment = [], []
    if g.group.protocol_type == consumer_protocol.PROTOCOL_TYPE and m.protocols:
        data = protocol_metadata(m, protocol_name) if protocol_name else None
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


def _kafka_join_complete(g: Group) -> None:
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
            g.remove_member(m.member_id, "did not rejoin within the rebalance timeout", "member.removed")
            removed.append(m.member_id)
    joined = [m for m in g.members_ordered() if not m.awaiting_join]
    if g.members and not joined:
        # Only static members that have not rejoined are left: like Kafka, wait another timeout.
        group.rebalance_deadline_ms = g.now_ms + g.rebalance_timeout_ms()
        return
    if joined and group.leader_member_id not in {m.member_id for m in joined}:
        group.leader_member_id = joined[0].member_id  # Kafka's maybeElectNewJoinedLeader

    before = dict(group.assignment)
    started = group.rebalance_started_ms or g.now_ms
    reasons = list(group.rebalance_reasons)
    group.generation += 1
    members = g.members_ordered()
    if not members:
        g.set_state(State.EMPTY)
        group.protocol_name = ""
        group.leader_member_id = ""
        group.kind = ConsumerGroup.Kind.NONE
        group.assignment = {}
        group.rebalance_started_ms = None
        group.rebalance_deadline_ms = None
        group.rebalance_reasons = []
    else:
        leader = g.members[group.leader_member_id]
        group.protocol_name = protocol_select([leader, *(m for m in members if m is not leader)])
        g.set_state(State.COMPLETING_REBALANCE)
        # Kafka's DelayedSync: members must send SyncGroup within the rebalance timeout.
        group.rebalance_deadline_ms = g.now_ms + g.rebalance_timeout_ms()
        for m in members:
            if not m.awaiting_join:
                subscription_refresh(g, m, group.protocol_name)
            m.awaiting_sync = True
            m.assignment_bytes = None
            m.last_heartbeat_ms = g.now_ms  # Kafka: completeAndScheduleNextHeartbeatExpiration
            g.touch(m)
        group.assignment = {m.member_id: [list(tp) for tp in m.assignment] for m in members}
    after = dict(group.assignment)
    cooperative = protocol_cooperative(group.protocol_name)
    revoked = assignment_revoked(before, after) if cooperative else {}
    moved = rebalance_record(
        g, protocol_name=group.protocol_name, cooperative=cooperative, started=started,
        reasons=reasons, members=members, before=before, after=after, revoked=revoked, removed=removed,
    )
    if members:
        g.note("rebalance.joined", generation=group.generation, protocol=group.protocol_name, leader=group.leader_member_id)
    else:
        g.note("rebalance.completed", generation=group.generation, state=group.state, moved=len(moved))


def kafka_assignment_complete(g: Group, assignments: Mapping[str, bytes]) -> None:
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
    g.set_state(State.STABLE)
    after = {m.member_id: [list(tp) for tp in m.assignment] for m in g.members_ordered()}
    if not any(m.awaiting_sync for m in g.members.values()):
        group.rebalance_deadline_ms = None
    event = rebalance_assignment_record(g, after)
    group.assignment = after
    group.rebalance_started_ms = None
    group.rebalance_reasons = []
    g.note("rebalance.completed", generation=group.generation, state=group.state, moved=len(event.moved) if event else 0)
