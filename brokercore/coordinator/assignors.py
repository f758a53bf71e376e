"""Consumer partition assignors, computed as Kafka's Java client computes them.

In the classic group protocol the group leader (a client) runs the assignor; this broker runs it
for the group instead, so every member must get exactly what a Java leader would have handed it.
Pure functions over immutable inputs: no Django, no I/O, no state kept between calls.

Reference: Kafka 3.5+ `RangeAssignor`, `RoundRobinAssignor`, `AbstractStickyAssignor` (with
KAFKA-15106 and KAFKA-15170), `StickyAssignor`, `CooperativeStickyAssignor`, no consumer racks.

Java order where it matters. Java sorts strings by UTF-16 code unit (`_java_key`). The sticky
assignors also walk `HashMap<memberId, Subscription>` (filled in JoinGroup order, which is the order
of `members` here) and one `HashSet<TopicPartition>`; both results depend on that iteration order,
so we reproduce it (`_java_hash_order`, `_JavaHashSet`). Not modelled: hash buckets holding 9 or
more colliding keys (Java turns them into trees or resizes the table); see the notes on each
function for the few places where we deliberately differ from Java.

Why one module: the sticky assignors share the Java iteration-order machinery and the general and
constrained paths of `AbstractStickyAssignor`; split apart, each piece would need the others'
internals. It has no Django and no I/O, so its length costs no coupling.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

TopicPartition = tuple[str, int]

ASSIGNOR_NAMES = ("range", "roundrobin", "sticky", "cooperative-sticky")
NO_GENERATION = -1  # Java's AbstractStickyAssignor.DEFAULT_GENERATION

UNKNOWN_ASSIGNOR = "Unknown partition assignor {name!r}; expected one of {names}"
DUPLICATE_MEMBER = "Member id {member_id!r} appears more than once"


@dataclass(frozen=True)
class MemberSubscription:
    """One member's JoinGroup metadata, as the assignor sees it."""

    member_id: str
    topics: tuple[str, ...]  # subscribed topic names
    owned: tuple[TopicPartition, ...] = ()  # held in the previous generation (sticky assignors)
    generation: int = NO_GENERATION  # generation in which `owned` was valid; negative = unknown
    group_instance_id: str | None = None  # static membership (KIP-345)


@dataclass(frozen=True)
class AssignmentPlan:
    """Every member is a key of every dict; each list is sorted by (topic, partition).

    `assignment` is what each member gets this generation. `revoking` (cooperative only) is what a
    member owned and must give up first (claims beaten by a newer generation are not listed): no
    partition is in one member's `assignment` and another's `revoking`. `target` is where
    partitions land once the revocations are done (== `assignment` for eager assignors).
    """

    assignment: dict[str, list[TopicPartition]]
    revoking: dict[str, list[TopicPartition]]
    target: dict[str, list[TopicPartition]]


def is_cooperative(name: str) -> bool:
    """True for assignors that follow KIP-429 incremental rebalancing."""
    _check_name(name)
    return name == "cooperative-sticky"


def assign(name: str, members: Sequence[MemberSubscription], partitions_per_topic: Mapping[str, int]) -> AssignmentPlan:
    """Run the named assignor; deterministic for a given input, including the order of `members`.

    The order of `members` (JoinGroup order) matters only to the sticky assignors, exactly where
    it matters to Java's. Topics without a positive partition count are ignored.
    """
    _check_name(name)
    seen: set[str] = set()
    for m in members:
        if m.member_id in seen:
            raise ValueError(DUPLICATE_MEMBER.format(member_id=m.member_id))
        seen.add(m.member_id)
    counts = _subscribed_counts(members, partitions_per_topic)

    if name == "range":
        return _eager(_range(members, counts))
    if name == "roundrobin":
        return _eager(_round_robin(members, counts))
    target, transferring = _sticky(members, counts)
    if name == "sticky":
        return _eager(target)
    return _cooperative(members, target, transferring)


def _check_name(name: str) -> None:
    if name not in ASSIGNOR_NAMES:
        raise ValueError(UNKNOWN_ASSIGNOR.format(name=name, names=", ".join(ASSIGNOR_NAMES)))


def _subscribed_counts(
    members: Sequence[MemberSubscription], partitions_per_topic: Mapping[str, int]
) -> dict[str, int]:
    """Java's AbstractPartitionAssignor: only topics someone subscribes to and that have partitions."""
    subscribed = {t for m in members for t in m.topics}
    return {t: n for t, n in partitions_per_topic.items() if t in subscribed and n > 0}


def _eager(assignment: dict[str, list[TopicPartition]]) -> AssignmentPlan:
    final = {c: sorted(tps) for c, tps in assignment.items()}
    return AssignmentPlan(
        assignment=final,
        revoking={c: [] for c in final},
        target={c: list(tps) for c, tps in final.items()},
    )


# --- Java ordering --------------------------------------------------------------------------


def _java_key(s: str) -> bytes:
    """Sort key matching Java's String.compareTo (UTF-16 code units, not code points)."""
    return s.encode("utf-16-be", "surrogatepass")


def _java_hash(s: str) -> int:
    """Java's String.hashCode as an unsigned 32-bit value."""
    data = _java_key(s)
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def _tp_hash(tp: TopicPartition) -> int:
    """Kafka's TopicPartition.hashCode: 31 * (31 + partition) + topic.hashCode()."""
    return (31 * (31 + tp[1]) + _java_hash(tp[0])) & 0xFFFFFFFF


def _bucket(h: int, capacity: int) -> int:
    # HashMap.hash() spreads the high bits down before masking to the table size.
    return (h ^ (h >> 16)) & (capacity - 1)


def _capacity(size: int) -> int:
    """Table size of a default HashMap after `size` puts: 16, doubled whenever size > 0.75 * table."""
    capacity = 16
    while size > capacity * 3 // 4:
        capacity *= 2
    return capacity


def _java_hash_order(members: Sequence[MemberSubscription]) -> list[MemberSubscription]:
    """Iteration order of a java.util.HashMap keyed by member id, filled in `members` order.

    HashMap iterates bucket by bucket; keys sharing a bucket keep insertion order (resizes too).
    """
    capacity = _capacity(len(members))
    ranked = sorted(enumerate(members), key=lambda im: (_bucket(_java_hash(im[1].member_id), capacity), im[0]))
    return [m for _, m in ranked]


class _JavaHashSet:
    """Which element `iterator().next()` of a java.util.HashSet<TopicPartition> returns.

    Tracks only what decides that: the table size (never shrinks) and each element's insertion turn.
    """

    def __init__(self) -> None:
        self._turn: dict[TopicPartition, int] = {}
        self._counter = itertools.count()
        self._capacity = 16

    def add(self, tp: TopicPartition) -> None:
        if tp in self._turn:
            return
        self._turn[tp] = next(self._counter)
        self._capacity = max(self._capacity, _capacity(len(self._turn)))

    def discard(self, tp: TopicPartition) -> None:
        self._turn.pop(tp, None)

    def __bool__(self) -> bool:
        return bool(self._turn)

    def first(self) -> TopicPartition:
        return min(self._turn, key=lambda tp: (_bucket(_tp_hash(tp), self._capacity), self._turn[tp]))


def _member_order(m: MemberSubscription) -> tuple:
    """AbstractPartitionAssignor.MemberInfo ordering: static members first, by group.instance.id,
    then dynamic members by member id. (Java's sort is stable on equal instance ids, which a valid
    group never has; we break that tie by member id.)"""
    if m.group_instance_id is not None:
        return (0, _java_key(m.group_instance_id), _java_key(m.member_id))
    return (1, _java_key(m.member_id), b"")


def _all_partitions(counts: Mapping[str, int]) -> list[TopicPartition]:
    """Every partition, by topic then partition number."""
    return [(t, p) for t in sorted(counts, key=_java_key) for p in range(counts[t])]


def _dedupe(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def _generation(m: MemberSubscription) -> int:
    # Java reads an absent generation as DEFAULT_GENERATION (-1); any negative value means the same.
    return m.generation if m.generation >= 0 else NO_GENERATION


# --- range and roundrobin -------------------------------------------------------------------


def _range(members: Sequence[MemberSubscription], counts: Mapping[str, int]) -> dict[str, list[TopicPartition]]:
    """RangeAssignor: per topic, contiguous ranges over its subscribers in MemberInfo order.

    Java orders subscribers by group.instance.id when they have one (static members first), else by
    member id, so a static member keeps its range across restarts. The first `n % c` get one extra.
    """
    assignment: dict[str, list[TopicPartition]] = {m.member_id: [] for m in members}
    for topic, n in counts.items():
        consumers = sorted((m for m in members if topic in m.topics), key=_member_order)
        per, extra = divmod(n, len(consumers))
        for i, m in enumerate(consumers):
            start = per * i + min(i, extra)
            length = per + (1 if i < extra else 0)
            assignment[m.member_id].extend((topic, p) for p in range(start, start + length))
    return assignment


def _round_robin(members: Sequence[MemberSubscription], counts: Mapping[str, int]) -> dict[str, list[TopicPartition]]:
    """RoundRobinAssignor: partitions by (topic, partition) dealt over members in MemberInfo order.

    Like Java's CircularIterator, the pointer skips members not subscribed to the partition's topic
    and stays where it is between partitions, so unequal subscriptions can give unequal shares.
    """
    assignment: dict[str, list[TopicPartition]] = {m.member_id: [] for m in members}
    ring = sorted(members, key=_member_order)
    position = 0
    for tp in _all_partitions(counts):
        # Every topic in `counts` has a subscriber, so this finds one within len(ring) steps.
        while tp[0] not in ring[position].topics:
            position = (position + 1) % len(ring)
        assignment[ring[position].member_id].append(tp)
        position = (position + 1) % len(ring)
    return assignment


# --- sticky ---------------------------------------------------------------------------------


@dataclass
class _Owned:
    """Previous ownership after Java's allSubscriptionsEqual() settled conflicting claims."""

    by_member: dict[str, list[TopicPartition]]
    claimed_twice: set[TopicPartition]  # claimed by two members of the same generation
    all_equal: bool  # every member subscribes to the same topics


def _sticky(
    members: Sequence[MemberSubscription], counts: Mapping[str, int]
) -> tuple[dict[str, list[TopicPartition]], dict[TopicPartition, str] | None]:
    """AbstractStickyAssignor: (assignment, partitions transferring ownership or None).

    The constrained algorithm runs when every member subscribes to the same topics and reports the
    partitions it hands to someone else; the general one reports None (the cooperative assignor
    then works the transfers out from the owned partitions, as Java does).
    """
    if not members:
        return {}, {}
    order = _java_hash_order(members)
    owned = _resolve_owned(order, counts)
    if owned.all_equal:
        return _constrained(order, counts, owned)
    return _General(order, counts, owned).build(), None


def _exists(tp: TopicPartition, counts: Mapping[str, int]) -> bool:
    return tp[0] in counts and 0 <= tp[1] < counts[tp[0]]


def _resolve_owned(order: Sequence[MemberSubscription], counts: Mapping[str, int]) -> _Owned:
    """Java's allSubscriptionsEqual(): who validly owns what, walking members in HashMap order.

    A claim from a higher generation wins (KIP-792); two claims from the same generation void each
    other. Differences from Java, both on input Java never sees from real consumers: subscriptions
    are compared as exact sets (Java lets an empty first subscription match anything), and owned
    partitions past the topic's partition count are dropped (Java keeps them and then miscounts).
    """
    first = frozenset(order[0].topics)
    all_equal = all(frozenset(m.topics) == first for m in order)
    by_member: dict[str, list[TopicPartition]] = {m.member_id: [] for m in order}
    generation = {m.member_id: _generation(m) for m in order}
    holder: dict[TopicPartition, str] = {}
    claimed_twice: set[TopicPartition] = set()
    for m in order:
        me = m.member_id
        for tp in _dedupe(m.owned):
            if not _exists(tp, counts):
                continue
            other = holder.get(tp)
            if other is None:
                by_member[me].append(tp)
                holder[tp] = me
            elif generation[me] == generation[other]:
                # Neither claim can be trusted; Java still records the later one as the holder.
                claimed_twice.add(tp)
                _remove(by_member[other], tp)
                holder[tp] = me
            elif generation[me] > generation[other]:
                by_member[me].append(tp)
                _remove(by_member[other], tp)
                holder[tp] = me
    return _Owned(by_member=by_member, claimed_twice=claimed_twice, all_equal=all_equal)


def _remove(items: list[TopicPartition], item: TopicPartition) -> None:
    if item in items:
        items.remove(item)


def _constrained(
    order: Sequence[MemberSubscription], counts: Mapping[str, int], owned: _Owned
) -> tuple[dict[str, list[TopicPartition]], dict[TopicPartition, str]]:
    """ConstrainedAssignmentBuilder: equal subscriptions, so balance is a quota per member.

    Every member ends with minQuota or maxQuota partitions, exactly `total % members` of them with
    maxQuota. Owned partitions are kept up to the quota, lowest (partition, topic) first; members
    are served in HashMap order, which decides who keeps maxQuota. The rest is dealt round-robin
    to under-filled members in member-id order.
    """
    total = sum(counts.values())
    min_quota, expected_over = divmod(total, len(order))
    max_quota = min_quota + (1 if expected_over else 0)
    over = 0  # members holding maxQuota > minQuota so far
    assignment: dict[str, list[TopicPartition]] = {m.member_id: [] for m in order}
    kept: set[TopicPartition] = set()
    revoked: set[TopicPartition] = set()
    under_min: list[str] = []  # may still get partitions up to minQuota
    at_min: list[str] = []  # hold minQuota and may still get one more

    for m in order:
        me = m.member_id
        mine = sorted(owned.by_member[me], key=lambda tp: (tp[1], _java_key(tp[0])))
        mine = [tp for tp in mine if tp not in owned.claimed_twice]
        if len(mine) < min_quota:
            keep = mine
            under_min.append(me)
        elif len(mine) >= max_quota and over < expected_over:
            over += 1
            if over == expected_over:
                at_min.clear()  # nobody else may go past minQuota
            keep = mine[:max_quota]
        else:
            keep = mine[:min_quota]
            if over < expected_over:
                at_min.append(me)
        assignment[me].extend(keep)
        kept.update(keep)
        revoked.update(mine[len(keep) :])

    under_min.sort(key=_java_key)
    at_min.sort(key=_java_key)
    transferring: dict[TopicPartition, str] = {}
    cursor = 0  # Java's iterator over under_min, restarted when it runs off the end
    for tp in (tp for tp in _all_partitions(counts) if tp not in kept):
        if cursor < len(under_min):
            member = under_min[cursor]
            cursor += 1
        elif under_min:
            member = under_min[0]
            cursor = 1
        elif at_min:
            member = at_min.pop(0)
        else:  # Java throws IllegalStateException; the quotas make this unreachable
            raise AssertionError(f"no member can take {tp}")
        assignment[member].append(tp)
        # A partition someone else had to give up changes owner, so cooperative must revoke first.
        if tp in revoked or tp in owned.claimed_twice:
            transferring[tp] = member
        held = len(assignment[member])
        if held == min_quota:
            cursor -= 1
            del under_min[cursor]
            at_min.append(member)
        elif held == max_quota:
            over += 1
    return assignment, transferring


class _PartitionMovements:
    """AbstractStickyAssignor.PartitionMovements: net moves so far, to undo rather than chain them."""

    def __init__(self) -> None:
        self._by_topic: dict[str, dict[tuple[str, str], _JavaHashSet]] = {}
        self._moves: dict[TopicPartition, tuple[str, str]] = {}

    def _drop(self, tp: TopicPartition) -> tuple[str, str]:
        pair = self._moves.pop(tp)
        pairs = self._by_topic[tp[0]]
        pairs[pair].discard(tp)
        if not pairs[pair]:
            del pairs[pair]
        if not pairs:
            del self._by_topic[tp[0]]
        return pair

    def _add(self, tp: TopicPartition, pair: tuple[str, str]) -> None:
        self._moves[tp] = pair
        self._by_topic.setdefault(tp[0], {}).setdefault(pair, _JavaHashSet()).add(tp)

    def record(self, tp: TopicPartition, old: str, new: str) -> None:
        if tp in self._moves:
            source, _ = self._drop(tp)
            if source != new:  # moving back home cancels the record
                self._add(tp, (source, new))
        else:
            self._add(tp, (old, new))

    def to_move(self, tp: TopicPartition, old: str, new: str) -> TopicPartition:
        """Prefer sending back a same-topic partition that earlier moved new -> old (stickiness)."""
        pairs = self._by_topic.get(tp[0])
        if pairs is None:
            return tp
        if tp in self._moves:
            old = self._moves[tp][0]
        reverse = pairs.get((new, old))
        return tp if reverse is None else reverse.first()


class _General:
    """GeneralAssignmentBuilder: unequal subscriptions; keep owned, fill the least loaded, then
    move partitions from members with 2+ more than another eligible member until balanced.

    Invariant: `self.owner[tp] == c` iff `tp in self.current[c]`, for every non-fixed member.
    """

    def __init__(self, order: Sequence[MemberSubscription], counts: Mapping[str, int], owned: _Owned) -> None:
        self.order = order
        self.counts = counts
        self.ids = [m.member_id for m in order]
        self.subscribed = {m.member_id: frozenset(m.topics) for m in order}
        self.topics_of = {m.member_id: _dedupe(t for t in m.topics if t in counts) for m in order}
        self.consumers_of: dict[str, list[str]] = {t: [] for t in counts}
        for c in self.ids:
            for t in self.topics_of[c]:
                self.consumers_of[t].append(c)
        self.max_size = {c: sum(counts[t] for t in self.topics_of[c]) for c in self.ids}
        self.current = {c: list(owned.by_member[c]) for c in self.ids}
        self.owner = {tp: c for c, tps in self.current.items() for tp in tps}
        # Topics with fewer potential consumers come first: they are the hardest to place.
        topics = sorted(counts, key=lambda t: (len(self.consumers_of[t]), _java_key(t)))
        self.sorted_partitions = [(t, p) for t in topics for p in range(counts[t])]
        self.movements = _PartitionMovements()
        self.revocation_required = False

    def build(self) -> dict[str, list[TopicPartition]]:
        prev = self._previous_owners()
        assigned: set[TopicPartition] = set()
        for c in self.ids:
            keep = []
            for tp in self.current[c]:
                if tp[0] in self.subscribed[c]:
                    keep.append(tp)
                    assigned.add(tp)
                else:  # the member unsubscribed from this topic: it must go elsewhere
                    self.revocation_required = True
                    del self.owner[tp]
            self.current[c] = keep
        unassigned = [tp for tp in self.sorted_partitions if tp not in assigned]
        self._balance(prev, unassigned)
        return self.current

    def _previous_owners(self) -> dict[TopicPartition, str]:
        """For claims older than the newest generation: the newest such claimant per partition.

        Java 3.x includes a member's own claims here when its generation is behind. Java keeps the
        newest generation in a field that is never reset between assign() calls; we use this call's.
        """
        newest = max(_generation(m) for m in self.order)
        prev: dict[TopicPartition, tuple[str, int]] = {}
        for m in self.order:
            g = _generation(m)
            if g >= newest:
                continue
            for tp in m.owned:
                if tp not in prev or g > prev[tp][1]:
                    prev[tp] = (m.member_id, g)
        return {tp: c for tp, (c, _) in prev.items()}

    def _by_load(self) -> list[str]:
        """Java's sortedCurrentSubscriptions: fewest partitions first, then member id."""
        return sorted(self.current, key=lambda c: (len(self.current[c]), _java_key(c)))

    def _place(self, tp: TopicPartition) -> None:
        for c in self._by_load():
            if tp[0] in self.topics_of[c]:
                self.current[c].append(tp)
                self.owner[tp] = c
                return

    def _can_move(self, c: str) -> bool:
        return len(self.current[c]) < self.max_size[c] or any(
            len(self.consumers_of[tp[0]]) >= 2 for tp in self.current[c]
        )

    def _balance(self, prev: dict[TopicPartition, str], unassigned: list[TopicPartition]) -> None:
        initializing = all(not tps for tps in self.current.values())
        for tp in unassigned:
            self._place(tp)

        # Partitions of single-consumer topics and members that cannot change stay out of balancing.
        movable = [tp for tp in self.sorted_partitions if len(self.consumers_of[tp[0]]) >= 2]
        unassigned = [tp for tp in unassigned if len(self.consumers_of[tp[0]]) >= 2]
        fixed = {c: self.current.pop(c) for c in self.ids if not self._can_move(c)}

        before = {c: list(tps) for c, tps in self.current.items()}
        before_owner = dict(self.owner)
        # First try moving only the new partitions, unless an unsubscription forces moves anyway.
        if not self.revocation_required:
            self._reassign_until_balanced(unassigned, prev)
        moved = self._reassign_until_balanced(movable, prev)
        # Java keeps the moves only if they made the spread strictly better (score counts just the
        # second pass's moves, as Java's does).
        if not initializing and moved and _balance_score(self.current) >= _balance_score(before):
            self.current = before
            self.owner = before_owner
        self.current.update(fixed)

    def _is_balanced(self) -> bool:
        """Max - min <= 1, or no member could take a partition from one holding 2+ more (KAFKA-15106)."""
        sizes = {c: len(tps) for c, tps in self.current.items()}
        if min(sizes.values()) >= max(sizes.values()) - 1:
            return True
        holders: dict[str, set[str]] = {}
        for tp, c in self.owner.items():
            holders.setdefault(tp[0], set()).add(c)
        for c, size in sizes.items():
            if size == self.max_size[c]:
                continue
            for t in self.topics_of[c]:
                for other in holders.get(t, ()):
                    if other != c and sizes.get(other, 0) > size + 1:
                        return False
        return True

    def _reassign_until_balanced(self, partitions: list[TopicPartition], prev: dict[TopicPartition, str]) -> bool:
        performed = False
        while True:
            modified = False
            for tp in partitions:
                if self._is_balanced():
                    break
                holder = self.owner[tp]
                load = len(self.current[holder])
                back = prev.get(tp)
                # Java would also hand it back to a previous owner that no longer subscribes to the
                # topic (or is fixed, where Java fails); we only hand it back to one that can take it.
                if (
                    back is not None
                    and back in self.current
                    and tp[0] in self.topics_of[back]
                    and load > len(self.current[back]) + 1
                ):
                    self._reassign(tp, back)
                    performed = modified = True
                    continue
                if any(load > len(self.current[o]) + 1 for o in self.consumers_of[tp[0]] if o in self.current):
                    target = next(c for c in self._by_load() if tp[0] in self.topics_of[c])
                    self._reassign(tp, target)
                    performed = modified = True
            if not modified:
                return performed

    def _reassign(self, tp: TopicPartition, new: str) -> None:
        moving = self.movements.to_move(tp, self.owner[tp], new)
        old = self.owner[moving]
        self.movements.record(moving, old, new)
        self.current[old].remove(moving)
        self.current[new].append(moving)
        self.owner[moving] = new


def _balance_score(assignment: Mapping[str, list]) -> int:
    """Sum over member pairs of the difference in partition counts; 0 is perfectly even."""
    sizes = sorted(len(tps) for tps in assignment.values())
    # Sum of |a - b| over pairs of a sorted list: each size counts + (i times) and - (n-1-i times).
    n = len(sizes)
    return sum(s * (2 * i - n + 1) for i, s in enumerate(sizes))


# --- cooperative ----------------------------------------------------------------------------


def _cooperative(
    members: Sequence[MemberSubscription],
    target: dict[str, list[TopicPartition]],
    transferring: dict[TopicPartition, str] | None,
) -> AssignmentPlan:
    """CooperativeStickyAssignor: hold back each partition changing owner until its owner revokes it.

    The old owner's assignment already lacks the partition, so it revokes it and rejoins; the next
    generation gives it to the new owner. Claims lost to a newer generation are not "revoking".
    """
    claims: dict[TopicPartition, dict[str, int]] = {}
    for m in members:
        for tp in m.owned:
            claims.setdefault(tp, {})[m.member_id] = _generation(m)
    if transferring is None:
        transferring = _transfers(target, claims)

    assignment = {c: sorted(tp for tp in tps if transferring.get(tp) != c) for c, tps in target.items()}
    revoking: dict[str, list[TopicPartition]] = {}
    for m in members:
        keep = set(assignment[m.member_id])
        mine = _generation(m)
        revoking[m.member_id] = sorted(
            tp for tp in _dedupe(m.owned) if tp not in keep and not any(g > mine for g in claims[tp].values())
        )
    return AssignmentPlan(
        assignment=assignment,
        revoking=revoking,
        target={c: sorted(tps) for c, tps in target.items()},
    )


def _transfers(
    target: Mapping[str, list[TopicPartition]], claims: Mapping[TopicPartition, Mapping[str, int]]
) -> dict[TopicPartition, str]:
    """computePartitionsTransferringOwnership() for the general algorithm: partition -> new owner.

    Java counts a partition as transferring when its new owner did not claim it and someone else
    did. We also hold it back when the new owner's claim is no newer than another member's: Java
    would hand it over at once to a stale or doubly-claimed owner while the other claimant still
    consumes it, which the constrained algorithm (and the cooperative contract) never allows.
    """
    transferring: dict[TopicPartition, str] = {}
    for c, tps in target.items():
        for tp in tps:
            others = [g for member, g in claims.get(tp, {}).items() if member != c]
            if not others:
                continue
            mine = claims[tp].get(c)
            if mine is None or max(others) >= mine:
                transferring[tp] = c
    return transferring
