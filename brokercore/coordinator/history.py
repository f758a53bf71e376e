"""The rebalance timeline: one RebalanceEvent per generation, written as it completes, and what
each one did in Kafka's terms (moves, the cooperative revoke-then-assign steps).

Invariants: every generation a group reaches gets one RebalanceEvent (a Kafka-protocol group's is
completed by its leader's assignment); a group keeps at most REBALANCE_HISTORY_PER_GROUP of them.
The classification here is the only one: pages and APIs show `timeline_classify`'s answer.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from brokercore.coordinator.assignors import ASSIGNOR_NAMES, is_cooperative
from brokercore.coordinator.group import KAFKA, Group
from brokercore.coordinator.offsets_topic import offsets_log_group
from brokercore.models import ConsumerGroup, GroupMember, RebalanceEvent


def protocol_cooperative(protocol_name: str) -> bool:
    """Whether a generation's protocol rebalances incrementally (KIP-429). Clients may name
    assignors of their own; only the known cooperative one is treated so."""
    return protocol_name in ASSIGNOR_NAMES and is_cooperative(protocol_name)


def assignment_revoked(before: dict, after: dict) -> dict[str, list]:
    """Partitions each member owned before and no longer owns (cooperative protocols)."""
    out = {}
    for mid, tps in before.items():
        keep = {tuple(tp) for tp in after.get(mid, [])}
        gone = [list(tp) for tp in tps if tuple(tp) not in keep]
        if gone:
            out[mid] = gone
    return out


def rebalance_moves(before: dict, after: dict, revoked: dict, *, cooperative: bool) -> tuple[list, int]:
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


def rebalance_record(
    g: Group, *, protocol_name: str, cooperative: bool, started: int, reasons: list, members: list[GroupMember],
    before: dict, after: dict, revoked: dict, removed: list,
) -> list:
    """Write the new generation's RebalanceEvent (the console's timeline); returns what moved."""
    moved, paused = rebalance_moves(before, after, revoked, cooperative=cooperative)
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
    history_trim(g.group)
    if g.group.kind != KAFKA or not members:  # a Kafka group's is written with its leader's assignment
        offsets_log_group(g.group, members, g.now_ms)
    return moved


def rebalance_assignment_record(g: Group, after: dict) -> RebalanceEvent | None:
    """Complete the current generation's RebalanceEvent with the assignment a Kafka client
    leader handed out (SyncGroup), which the join round could not know."""
    group = g.group
    event = RebalanceEvent.objects.filter(group=group, generation=group.generation).first()
    if event is not None:
        cooperative = protocol_cooperative(group.protocol_name)
        before = event.assignment_before
        event.revoked = assignment_revoked(before, after) if cooperative else {}
        event.moved, event.paused = rebalance_moves(before, after, event.revoked, cooperative=cooperative)
        event.assignment_after = after
        event.completed_ms = g.now_ms
        event.save(update_fields=["revoked", "moved", "paused", "assignment_after", "completed_ms"])
    offsets_log_group(group, g.members_ordered(), g.now_ms)
    return event


def history_trim(group: ConsumerGroup) -> None:
    """Keep the newest REBALANCE_HISTORY_PER_GROUP generations."""
    keep = settings.BROKER["REBALANCE_HISTORY_PER_GROUP"]
    old = RebalanceEvent.objects.filter(group=group).order_by("-generation").values_list("id", flat=True)[keep:]
    ids = list(old)
    if ids:
        RebalanceEvent.objects.filter(id__in=ids).delete()


# --- Reading the timeline -----------------------------------------------------------------------

MOVE_KINDS = ("move", "revoke", "assign", "unassign")
PARTITION_STATUSES = ("kept", "added", "revoked", "removed")


@dataclass(frozen=True, slots=True)
class PartitionMove:
    """A partition that changed owner in a generation. kind: move (owner to owner), revoke
    (cooperative step 1: given up, no owner until the next generation), assign (to an owner from
    nobody), unassign (taken away without a cooperative revoke: eager, or the owner left)."""

    topic: str
    partition: int
    source: str | None
    target: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class MemberChange:
    """One member's partitions across a generation: (topic, partition, status) with status kept,
    added, revoked (cooperative step 1) or removed; `gone`: not in the new generation; `new`:
    owned nothing before it."""

    member_id: str
    partitions: tuple[tuple[str, int, str], ...]
    gone: bool
    new: bool


@dataclass(frozen=True, slots=True)
class GenerationChange:
    """What one generation did. step: "revoke" (cooperative step 1 of 2: partitions that must
    move are given up in generation N), "assign" (step 2: they reach their new owners in N+1), or
    "" (an eager rebalance, or a cooperative one that moved nothing). total: the partitions
    owned before or after, or revoked."""

    generation: int
    cooperative: bool
    step: str
    total: int
    moves: tuple[PartitionMove, ...]
    members: tuple[MemberChange, ...]


def timeline_classify(events: Sequence[RebalanceEvent]) -> list[GenerationChange]:
    """Classify rebalance events given newest first (rebalance_history's order), one answer per
    event. A generation is step 2 of a cooperative move when the one before it (the next event in
    `events`) revoked partitions; the oldest event given has nothing before it to look at."""
    out = []
    for i, ev in enumerate(events):
        older = events[i + 1] if i + 1 < len(events) else None
        cooperative = protocol_cooperative(ev.protocol_name)
        revoked = {(t, p) for tps in ev.revoked.values() for t, p in tps}
        before = {mid: {tuple(tp) for tp in tps} for mid, tps in ev.assignment_before.items()}
        after = {mid: {tuple(tp) for tp in tps} for mid, tps in ev.assignment_after.items()}
        revoked_by = {mid: {tuple(tp) for tp in tps} for mid, tps in ev.revoked.items()}
        moves = []
        for topic, partition, source, target in ev.moved:
            if source and target:
                kind = "move"
            elif source:
                kind = "revoke" if (topic, partition) in revoked else "unassign"
            else:
                kind = "assign"
            moves.append(PartitionMove(topic, partition, source, target, kind))
        members = []
        for mid in dict.fromkeys([*ev.members, *before]):
            b, a, r = before.get(mid, set()), after.get(mid, set()), revoked_by.get(mid, set())
            items = []
            for tp in sorted(b | a | r):
                if tp in b and tp in a:
                    status = "kept"
                elif tp in a:
                    status = "added"
                elif tp in r:
                    status = "revoked"
                else:
                    status = "removed"
                items.append((tp[0], tp[1], status))
            members.append(MemberChange(mid, tuple(items), gone=mid not in after, new=mid not in before))
        total = len({tp for tps in [*before.values(), *after.values()] for tp in tps} | revoked)
        step = "revoke" if revoked else ("assign" if cooperative and older is not None and older.revoked else "")
        out.append(GenerationChange(ev.generation, cooperative, step, total, tuple(moves), tuple(members)))
    return out
