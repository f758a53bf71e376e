"""brokercore.assignors against Kafka's Java semantics.

kafka-python ports Java's range and roundrobin assignors, and the pre-2.8 Java sticky algorithm.
We compare exactly wherever kafka-python runs the same algorithm as current Java, and otherwise
assert the guarantees Java documents. Where kafka-python itself departs from Java (three bugs and
one private patch, see the helpers), the affected inputs are not compared.
"""

import itertools
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from kafka.coordinator.assignors import roundrobin as kafka_python_roundrobin
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.partition_movements import ConsumerPair, PartitionMovements
from kafka.coordinator.assignors.sticky.sticky_assignor import (
    StickyAssignmentExecutor,
    StickyPartitionAssignor,
)
from kafka.coordinator.assignors.sticky.user_data import StickyAssignorUserData
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription

from brokercore.coordinator.assignors import (
    ASSIGNOR_NAMES,
    DUPLICATE_MEMBER,
    UNKNOWN_ASSIGNOR,
    MemberSubscription,
    _java_hash,
    assign,
    is_cooperative,
)

STICKY = ("sticky", "cooperative-sticky")
# ASCII ids: kafka-python sorts by code point, Java by UTF-16 unit (tested separately below).
MEMBER_IDS = [f"consumer-{i}-{(i * 2654435761) % 65536:04x}" for i in range(12)]
INSTANCE_IDS = [f"instance-{c}" for c in "qwertyuiop"]


# --- strategies -----------------------------------------------------------------------------


@st.composite
def groups(draw, *, static=False, unknown_topics=False, unequal=False):
    """(members in JoinGroup order, partitions_per_topic): 1..8 members, 1..4 topics of 1..12.

    `unequal` guarantees two members with different subscriptions (Java's general algorithm).
    """
    topics = [f"t{i}" for i in range(draw(st.integers(2 if unequal else 1, 4)))]
    counts = {t: draw(st.integers(1, 12)) for t in topics}
    choices = topics + (["not-created"] if unknown_topics else [])
    subscription = st.lists(st.sampled_from(choices), min_size=1, unique=True).map(tuple)
    shared = None if unequal or draw(st.booleans()) else draw(subscription)  # equal half the time
    ids = draw(st.lists(st.sampled_from(MEMBER_IDS), min_size=2 if unequal else 1, max_size=8, unique=True))
    subscriptions = [shared or draw(subscription) for _ in ids]
    if unequal and len({frozenset(s) for s in subscriptions}) == 1:
        first = set(subscriptions[0])
        missing = [t for t in topics if t not in first]
        subscriptions[-1] = tuple(first | {missing[0]}) if missing else tuple(sorted(first)[1:])
    members, used_instances = [], set()
    for member_id, topics_of_member in zip(ids, subscriptions):
        instance = draw(st.none() | st.sampled_from(INSTANCE_IDS)) if static else None
        if instance in used_instances:
            instance = None
        used_instances.add(instance)
        members.append(MemberSubscription(member_id, topics_of_member, group_instance_id=instance))
    return members, counts


@st.composite
def rebalances(draw, *, stale_claims=None, unequal=False):
    """A group plus what its members owned before: each partition has at most one claim per generation.

    Without `stale_claims` every owner reports the same generation (a clean previous generation).
    With it, members report different generations and up to three members claim a partition.
    None draws either.
    Two claims from one generation are never drawn: Java voids both and kafka-python keeps the
    first, so those inputs are covered by hand-written tests instead.
    """
    members, counts = draw(groups(unequal=unequal))
    partitions = [(t, p) for t in counts for p in range(counts[t])]
    if stale_claims is None:
        stale_claims = draw(st.booleans())
    if stale_claims:
        generations = [draw(st.integers(0, 6)) for _ in members]
    else:
        generations = [draw(st.integers(1, 6))] * len(members)
    member = st.integers(-1, len(members) - 1)  # -1: nobody (its owner left the group)
    claims = draw(
        st.lists(
            st.lists(member, max_size=3 if stale_claims else 1), min_size=len(partitions), max_size=len(partitions)
        )
    )
    owned = defaultdict(list)
    for tp, claimants in zip(partitions, claims):
        seen_generations = set()
        for i in claimants:
            if i >= 0 and generations[i] not in seen_generations:
                seen_generations.add(generations[i])
                owned[i].append(tp)
    members = [
        replace(m, owned=tuple(owned[i]), generation=generations[i] if owned[i] else -1) for i, m in enumerate(members)
    ]
    return members, counts


# --- kafka-python adapters ------------------------------------------------------------------


class _Cluster:
    """The two ClusterMetadata calls kafka-python's assignors make."""

    def __init__(self, counts):
        self._counts = dict(counts)

    def partitions_for_topic(self, topic):
        n = self._counts.get(topic)
        return None if n is None else set(range(n))

    def topics(self):
        return set(self._counts)


def _by_topic(tps):
    grouped = defaultdict(list)
    for t, p in tps:
        grouped[t].append(p)
    return sorted(grouped.items())


def _kafka_python_member(m, protocol):
    if protocol == "sticky":  # KIP-54 user data carries the previous assignment and generation
        user_data = StickyAssignorUserData(_by_topic(m.owned), m.generation) if m.owned else b""
        metadata = ConsumerProtocolSubscription(version=0, topics=list(m.topics), user_data=user_data)
    elif protocol == "cooperative-sticky":  # owned partitions and generation are schema fields
        owned = [ConsumerProtocolSubscription.TopicPartition(topic=t, partitions=ps) for t, ps in _by_topic(m.owned)]
        metadata = ConsumerProtocolSubscription(
            version=3, topics=list(m.topics), user_data=b"", owned_partitions=owned, generation_id=m.generation
        )
    else:
        metadata = ConsumerProtocolSubscription(version=0, topics=list(m.topics), user_data=b"")
    return SimpleNamespace(member_id=m.member_id, group_instance_id=m.group_instance_id, metadata=metadata)


def _kafka_python(assignor, members, counts, protocol):
    subscribed = {t for m in members for t in m.topics}
    # A client's metadata covers the topics its group subscribes to, like Java's partitionsPerTopic.
    cluster = _Cluster({t: n for t, n in counts.items() if t in subscribed})
    result = assignor.assign(cluster, [_kafka_python_member(m, protocol) for m in members])
    return {mid: sorted((t, p) for t, ps in a.assigned_partitions for p in ps) for mid, a in result.items()}


def _static_first(members):
    # kafka-python groups static/dynamic members with itertools.groupby on an unsorted list, which
    # drops members when the two kinds interleave; static-first input sidesteps that bug.
    return sorted(members, key=lambda m: m.group_instance_id is None)


class _RingMember(str):
    """A member id that also unpacks as kafka-python's (group_instance_id, member_id) pair.

    kafka-python 3.0.12's RoundRobin skip loop assigns the whole pair to `member_id` and crashes
    with KeyError whenever it must skip a member; this lets its algorithm run unchanged.
    """

    def __new__(cls, pair):
        obj = super().__new__(cls, pair[1])
        obj.pair = pair
        return obj

    def __iter__(self):
        return iter(self.pair)


@contextmanager
def _roundrobin_skip_fixed():
    ring = SimpleNamespace(
        groupby=itertools.groupby, cycle=lambda pairs: itertools.cycle([_RingMember(p) for p in pairs])
    )
    with mock.patch.object(kafka_python_roundrobin, "itertools", ring):
        yield


@contextmanager
def _sticky_detours():
    """Record where kafka-python's sticky executor leaves Java's path; yields the list of reasons.

    "set-order": it picks a partition with next(iter(set)), whose order changes with Python's hash
    seed, where Java takes the first in HashSet order. "substitute": its own patch that undoes two
    earlier moves; Java has no such branch.
    """
    detours = []
    to_move = PartitionMovements.get_partition_to_be_moved
    reassign = StickyAssignmentExecutor._reassign_partition_to_consumer

    def recording_to_move(self, partition, old, new):
        if partition.topic in self.partition_movements_by_topic:
            source = self.partition_movements[partition].src_member_id if partition in self.partition_movements else old
            if len(self.partition_movements_by_topic[partition.topic].get(ConsumerPair(new, source), ())) > 1:
                detours.append("set-order")
        return to_move(self, partition, old, new)

    def recording_reassign(self, partition, new):
        old = self.current_partition_consumer[partition]
        if self.current_partition_consumer[to_move(self.partition_movements, partition, old, new)] != old:
            detours.append("substitute")
        return reassign(self, partition, new)

    with (
        mock.patch.object(PartitionMovements, "get_partition_to_be_moved", recording_to_move),
        mock.patch.object(StickyAssignmentExecutor, "_reassign_partition_to_consumer", recording_reassign),
    ):
        yield detours


_KAFKA_PYTHON_STICKY = {"sticky": StickyPartitionAssignor, "cooperative-sticky": CooperativeStickyAssignor}


# --- parity with kafka-python ---------------------------------------------------------------


@settings(max_examples=300)
@given(groups(static=True, unknown_topics=True))
def test_range_matches_kafka_python(group):
    members, counts = group
    expected = _kafka_python(RangePartitionAssignor, _static_first(members), counts, "range")
    plan = assign("range", members, counts)
    assert plan.assignment == expected
    assert plan.target == expected
    assert all(not tps for tps in plan.revoking.values())


@settings(max_examples=300)
@given(groups(static=True, unknown_topics=True))
def test_roundrobin_matches_kafka_python(group):
    members, counts = group
    with _roundrobin_skip_fixed():
        expected = _kafka_python(RoundRobinPartitionAssignor, _static_first(members), counts, "roundrobin")
    assert assign("roundrobin", members, counts).assignment == expected


@pytest.mark.parametrize("name", STICKY)
@settings(max_examples=150)
@given(group=groups(unknown_topics=True))
def test_sticky_first_assignment_matches_kafka_python(name, group):
    # Nothing owned yet: Java's constrained and general algorithms and kafka-python's agree.
    members, counts = group
    with _sticky_detours() as detours:
        expected = _kafka_python(_KAFKA_PYTHON_STICKY[name](), members, counts, name)
    assume(not detours)
    plan = assign(name, members, counts)
    assert plan.assignment == expected
    assert plan.target == expected


@pytest.mark.parametrize("name", STICKY)
@settings(max_examples=150)
@given(group=rebalances(stale_claims=False, unequal=True))
def test_sticky_rebalance_with_unequal_subscriptions_matches_kafka_python(name, group):
    # Unequal subscriptions run Java's general algorithm, which kafka-python ported. (Equal ones
    # run ConstrainedAssignmentBuilder, added in Kafka 2.8, which kafka-python does not have.)
    members, counts = group
    with _sticky_detours() as detours:
        expected = _kafka_python(_KAFKA_PYTHON_STICKY[name](), members, counts, name)
    assume(not detours)
    assert assign(name, members, counts).assignment == expected


# --- Java's guarantees ----------------------------------------------------------------------


def _moves(members, target):
    """Partitions whose newest claim ends up with another member (the strategy never ties claims)."""
    newest = {}
    for m in members:
        for tp in m.owned:
            if tp not in newest or m.generation > newest[tp][0]:
                newest[tp] = (m.generation, m.member_id)
    owner = {tp: c for c, tps in target.items() for tp in tps}
    return sum(1 for tp, (_, c) in newest.items() if tp in owner and owner[tp] != c)


def _settle(name, members, counts, plan, max_rounds):
    """Rejoin with owned = assignment until nothing is revoking; returns (rounds, final plan)."""
    generation = max(m.generation for m in members)
    for rounds in range(1, max_rounds + 1):
        generation += 1
        members = [replace(m, owned=tuple(plan.assignment[m.member_id]), generation=generation) for m in members]
        plan = assign(name, members, counts)
        if not any(plan.revoking.values()):
            return rounds, plan
    raise AssertionError(f"still revoking after {max_rounds} rounds: {plan.revoking}")


@pytest.mark.parametrize("name", STICKY)
@settings(max_examples=150)
@given(group=rebalances())
def test_sticky_guarantees(name, group):
    members, counts = group
    plan = assign(name, members, counts)
    ids = {m.member_id for m in members}
    subscriptions = {m.member_id: set(m.topics) for m in members}
    for part in (plan.assignment, plan.revoking, plan.target):
        assert set(part) == ids
        assert all(tps == sorted(tps) for tps in part.values())

    # Every partition of a subscribed topic lands exactly once, on a subscriber.
    subscribed = {t for topics in subscriptions.values() for t in topics if t in counts}
    placed = [tp for tps in plan.target.values() for tp in tps]
    assert sorted(placed) == sorted((t, p) for t in subscribed for p in range(counts[t]))
    assert all(t in subscriptions[c] for c, tps in plan.target.items() for t, _ in tps)

    # Balance: within one for equal subscriptions; otherwise nobody could take a partition from a
    # member holding two or more than it (Java's documented guarantee).
    size = {c: len(tps) for c, tps in plan.target.items()}
    if len({frozenset(topics) for topics in subscriptions.values()}) == 1:
        assert max(size.values()) - min(size.values()) <= 1
    owner = {tp: c for c, tps in plan.target.items() for tp in tps}
    for c, topics in subscriptions.items():
        for t in topics & subscribed:
            assert all(size[owner[(t, p)]] <= size[c] + 1 for p in range(counts[t]))

    # Stickiness: after a clean generation, no more moves than kafka-python (which lacks the
    # constrained algorithm), unless kafka-python takes its own substitute patch. With stale claims
    # Java 3.x remembers a member's own older claims as "previous owner", unlike kafka-python's
    # pre-2.8 logic, and can end up moving more; those inputs are not compared.
    if len({m.generation for m in members if m.owned}) <= 1:
        with _sticky_detours() as detours:
            theirs = _kafka_python(StickyPartitionAssignor(), members, counts, "sticky")
        if "substitute" not in detours:
            assert _moves(members, plan.target) <= _moves(members, theirs)

    if not is_cooperative(name):
        assert plan.assignment == plan.target
        assert all(not tps for tps in plan.revoking.values())
        return
    # Cooperative: nothing is handed over while another member still has to revoke it, partitions
    # nobody claimed go straight to their new owner, and rejoining settles with no revocations.
    assigned = {tp: c for c, tps in plan.assignment.items() for tp in tps}
    for c, tps in plan.revoking.items():
        assert all(assigned.get(tp, c) == c for tp in tps)
    claimed = {tp for m in members for tp in m.owned}
    for c, tps in plan.target.items():
        assert set(plan.assignment[c]) <= set(tps)
        assert all(tp in plan.assignment[c] for tp in tps if tp not in claimed)
    # Usually one follow-up rebalance; the general algorithm may spend one more (KAFKA-8767).
    _, settled = _settle(name, members, counts, plan, max_rounds=3)
    assert settled.assignment == settled.target


# --- hand-written cases ---------------------------------------------------------------------


def _members(**topics_by_member):
    return [MemberSubscription(member_id, tuple(topics)) for member_id, topics in topics_by_member.items()]


def test_unknown_assignor_is_rejected():
    with pytest.raises(ValueError) as error:
        assign("fair", _members(c0=["t0"]), {"t0": 1})
    assert str(error.value) == UNKNOWN_ASSIGNOR.format(name="fair", names=", ".join(ASSIGNOR_NAMES))
    with pytest.raises(ValueError):
        is_cooperative("fair")


def test_only_cooperative_sticky_is_cooperative():
    assert [is_cooperative(n) for n in ASSIGNOR_NAMES] == [False, False, False, True]


def test_duplicate_member_is_rejected():
    with pytest.raises(ValueError, match=re.escape(DUPLICATE_MEMBER.format(member_id="c0"))):
        assign("range", _members(c0=["t0"]) * 2, {"t0": 1})


@pytest.mark.parametrize("name", ASSIGNOR_NAMES)
def test_empty_group_gets_an_empty_plan(name):
    assert assign(name, [], {"t0": 3}) == assign(name, [], {})
    assert assign(name, [], {"t0": 3}).assignment == {}


@pytest.mark.parametrize("name", ASSIGNOR_NAMES)
def test_more_members_than_partitions_leaves_the_extras_idle(name):
    plan = assign(name, _members(c0=["t0"], c1=["t0"], c2=["t0"]), {"t0": 2})
    assert plan.assignment == {"c0": [("t0", 0)], "c1": [("t0", 1)], "c2": []}
    assert plan.revoking == {"c0": [], "c1": [], "c2": []}


@pytest.mark.parametrize("name", ASSIGNOR_NAMES)
def test_topics_without_metadata_are_ignored(name):
    plan = assign(name, _members(c0=["t0", "deleted"], c1=["deleted"]), {"t0": 2, "other": 5})
    assert plan.assignment == {"c0": [("t0", 0), ("t0", 1)], "c1": []}


def test_range_matches_javas_documented_example():
    plan = assign("range", _members(C0=["t0", "t1"], C1=["t0", "t1"]), {"t0": 3, "t1": 3})
    assert plan.assignment == {
        "C0": [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)],
        "C1": [("t0", 2), ("t1", 2)],
    }


def test_range_orders_static_members_by_instance_id_before_dynamic_ones():
    members = [
        MemberSubscription("m-a", ("t0",), group_instance_id="i-2"),
        MemberSubscription("m-0", ("t0",)),
        MemberSubscription("m-b", ("t0",), group_instance_id="i-1"),
    ]
    assert assign("range", members, {"t0": 4}).assignment == {
        "m-b": [("t0", 0), ("t0", 1)],  # i-1: first static member, takes the extra partition
        "m-a": [("t0", 2)],
        "m-0": [("t0", 3)],  # dynamic members follow, by member id
    }


def test_member_ids_sort_by_utf16_code_unit_like_java():
    # Java's String.compareTo puts a surrogate pair (U+1F600) before U+FF21; code points do not.
    plan = assign("range", _members(**{"m-\uff21": ["t0"], "m-\U0001f600": ["t0"]}), {"t0": 3})
    assert plan.assignment == {"m-\U0001f600": [("t0", 0), ("t0", 1)], "m-\uff21": [("t0", 2)]}


def test_roundrobin_skips_unsubscribed_members_like_javas_example():
    members = _members(C0=["t0"], C1=["t0", "t1"], C2=["t0", "t1", "t2"])
    assert assign("roundrobin", members, {"t0": 1, "t1": 2, "t2": 3}).assignment == {
        "C0": [("t0", 0)],
        "C1": [("t1", 0)],
        "C2": [("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)],
    }


def test_sticky_member_leaves_and_the_others_keep_their_partitions():
    topics = ["t0", "t1", "t2", "t3"]
    counts = dict.fromkeys(topics, 2)
    first = assign("sticky", _members(C0=topics, C1=topics, C2=topics), counts).assignment
    assert first == {  # StickyAssignor's documented first assignment
        "C0": [("t0", 0), ("t1", 1), ("t3", 0)],
        "C1": [("t0", 1), ("t2", 0), ("t3", 1)],
        "C2": [("t1", 0), ("t2", 1)],
    }
    survivors = [MemberSubscription(c, tuple(topics), tuple(first[c]), generation=1) for c in ("C0", "C2")]
    second = assign("sticky", survivors, counts).assignment
    assert set(first["C0"]) < set(second["C0"]) and set(first["C2"]) < set(second["C2"])
    assert second == {
        "C0": [("t0", 0), ("t0", 1), ("t1", 1), ("t3", 0)],
        "C2": [("t1", 0), ("t2", 0), ("t2", 1), ("t3", 1)],
    }


def test_sticky_with_unequal_subscriptions_matches_javas_documented_example():
    counts = {"t0": 1, "t1": 2, "t2": 3}
    subscriptions = {"C0": ("t0",), "C1": ("t0", "t1"), "C2": ("t0", "t1", "t2")}
    first = assign("sticky", _members(**subscriptions), counts).assignment
    assert first == {"C0": [("t0", 0)], "C1": [("t1", 0), ("t1", 1)], "C2": [("t2", 0), ("t2", 1), ("t2", 2)]}
    survivors = [MemberSubscription(c, subscriptions[c], tuple(first[c]), generation=1) for c in ("C1", "C2")]
    assert assign("sticky", survivors, counts).assignment == {
        "C1": [("t0", 0), ("t1", 0), ("t1", 1)],
        "C2": [("t2", 0), ("t2", 1), ("t2", 2)],
    }


def test_cooperative_move_takes_two_rebalances():
    counts = {"t0": 4}
    everything = tuple(("t0", p) for p in range(4))
    joined = [MemberSubscription("C0", ("t0",), everything, generation=1), MemberSubscription("C1", ("t0",))]

    first = assign("cooperative-sticky", joined, counts)
    assert first.assignment == {"C0": [("t0", 0), ("t0", 1)], "C1": []}
    assert first.revoking == {"C0": [("t0", 2), ("t0", 3)], "C1": []}
    assert first.target == {"C0": [("t0", 0), ("t0", 1)], "C1": [("t0", 2), ("t0", 3)]}

    # C0 revoked and both rejoin owning what they were given; C1 now gets its partitions.
    rejoined = [replace(m, owned=tuple(first.assignment[m.member_id]), generation=2) for m in joined]
    second = assign("cooperative-sticky", rejoined, counts)
    assert second.assignment == second.target == first.target
    assert second.revoking == {"C0": [], "C1": []}

    # The eager sticky assignor moves them at once: its members gave everything up before joining.
    eager = assign("sticky", joined, counts)
    assert eager.assignment == first.target
    assert eager.revoking == {"C0": [], "C1": []}


def test_cooperative_gives_partitions_nobody_owned_straight_away():
    owned = tuple(("t0", p) for p in range(2))
    members = [MemberSubscription("C0", ("t0",), owned, generation=3), MemberSubscription("C1", ("t0",))]
    plan = assign("cooperative-sticky", members, {"t0": 4})  # the topic grew from 2 to 4 partitions
    assert plan.assignment == plan.target == {"C0": [("t0", 0), ("t0", 1)], "C1": [("t0", 2), ("t0", 3)]}
    assert plan.revoking == {"C0": [], "C1": []}


@pytest.mark.parametrize("name", STICKY)
def test_claim_from_a_newer_generation_wins(name):
    # A missed a rebalance and still claims t0-0 from generation 3; B got it in generation 5.
    members = [
        MemberSubscription("A", ("t0",), (("t0", 0),), generation=3),
        MemberSubscription("B", ("t0",), (("t0", 0),), generation=5),
    ]
    plan = assign(name, members, {"t0": 2})
    assert plan.assignment == plan.target == {"A": [("t0", 1)], "B": [("t0", 0)]}
    assert plan.revoking == {"A": [], "B": []}  # A's stale claim holds nothing up


def test_same_generation_double_claim_is_revoked_by_both_first():
    # Java (KAFKA-12984) trusts neither claim; cooperative holds the partition back until both revoke.
    members = [
        MemberSubscription("A", ("t0",), (("t0", 0),), generation=5),
        MemberSubscription("B", ("t0",), (("t0", 0),), generation=5),
    ]
    plan = assign("cooperative-sticky", members, {"t0": 2})
    assert plan.target == {"A": [("t0", 0)], "B": [("t0", 1)]}
    assert plan.assignment == {"A": [], "B": [("t0", 1)]}
    assert plan.revoking == {"A": [("t0", 0)], "B": [("t0", 0)]}


def test_java_string_hash():
    assert [_java_hash(s) for s in ("", "a", "hello")] == [0, 97, 99162322]
    assert _java_hash("Aa") == _java_hash("BB")  # Java's classic collision, used below


def test_hashmap_order_decides_who_keeps_the_max_quota():
    # 7 partitions over 3 members: one keeps 3. Java walks HashMap<memberId, ...> in bucket order:
    # "p" (hash 112, bucket 0) before "a" (97, bucket 1), whatever the JoinGroup order.
    a = MemberSubscription("a", ("t0",), tuple(("t0", p) for p in range(4)), generation=1)
    p = MemberSubscription("p", ("t0",), tuple(("t0", n) for n in range(4, 7)), generation=1)
    z = MemberSubscription("z", ("t0",))
    expected = {"a": [("t0", 0), ("t0", 1)], "p": [("t0", 4), ("t0", 5), ("t0", 6)], "z": [("t0", 2), ("t0", 3)]}
    assert assign("sticky", [a, p, z], {"t0": 7}).assignment == expected
    assert assign("sticky", [z, a, p], {"t0": 7}).assignment == expected


def test_hashmap_bucket_collision_falls_back_to_joingroup_order():
    # "Aa" and "BB" share a hash, so whoever joined first is served first and keeps the max quota.
    aa = MemberSubscription("Aa", ("t0",), tuple(("t0", p) for p in range(4)), generation=1)
    bb = MemberSubscription("BB", ("t0",), tuple(("t0", n) for n in range(4, 7)), generation=1)
    z = MemberSubscription("z", ("t0",))
    aa_first = assign("sticky", [aa, bb, z], {"t0": 7}).assignment
    bb_first = assign("sticky", [bb, aa, z], {"t0": 7}).assignment
    assert aa_first == {
        "Aa": [("t0", 0), ("t0", 1), ("t0", 2)],
        "BB": [("t0", 4), ("t0", 5)],
        "z": [("t0", 3), ("t0", 6)],
    }
    assert bb_first == {
        "Aa": [("t0", 0), ("t0", 1)],
        "BB": [("t0", 4), ("t0", 5), ("t0", 6)],
        "z": [("t0", 2), ("t0", 3)],
    }
