"""The rebalance timeline: what the coordinator records per generation, and its classification."""

import pytest

from brokercore.coordinator.history import (
    GenerationChange,
    MemberChange,
    PartitionMove,
    protocol_cooperative,
    rebalance_moves,
    timeline_classify,
)
from brokercore.coordinator.read import group_describe, rebalance_history
from brokercore.coordinator.server_members import group_join, member_leave, member_sync
from brokercore.models import RebalanceEvent
from tests.factories import topic_factory


def event(generation, protocol="range", *, before=None, after=None, revoked=None, members=None):
    """An unsaved RebalanceEvent as the coordinator writes it (moves from rebalance_moves)."""
    before, after, revoked = before or {}, after or {}, revoked or {}
    moved, paused = rebalance_moves(before, after, revoked, cooperative=protocol_cooperative(protocol))
    return RebalanceEvent(
        generation=generation, protocol_name=protocol, started_ms=0, completed_ms=0,
        members=members if members is not None else list(after), assignment_before=before,
        assignment_after=after, revoked=revoked, moved=moved, paused=paused,
    )


def test_cooperative_move_is_a_revoke_then_an_assign():
    # Generation 2: a keeps t-0, t-1 and revokes t-2, t-3 for b; generation 3: b gets them.
    step1 = event(
        2, "cooperative-sticky",
        before={"a": [["t", 0], ["t", 1], ["t", 2], ["t", 3]]},
        after={"a": [["t", 0], ["t", 1]], "b": []},
        revoked={"a": [["t", 2], ["t", 3]]},
    )
    step2 = event(
        3, "cooperative-sticky",
        before={"a": [["t", 0], ["t", 1]], "b": []},
        after={"a": [["t", 0], ["t", 1]], "b": [["t", 2], ["t", 3]]},
    )
    newest, older = timeline_classify([step2, step1])
    assert older == GenerationChange(
        generation=2, cooperative=True, step="revoke", total=4,
        moves=(PartitionMove("t", 2, "a", None, "revoke"), PartitionMove("t", 3, "a", None, "revoke")),
        members=(
            MemberChange("a", (("t", 0, "kept"), ("t", 1, "kept"), ("t", 2, "revoked"), ("t", 3, "revoked")), gone=False, new=False),
            MemberChange("b", (), gone=False, new=True),
        ),
    )
    assert newest.step == "assign" and newest.cooperative
    assert [(m.partition, m.source, m.target, m.kind) for m in newest.moves] == [(2, None, "b", "assign"), (3, None, "b", "assign")]
    assert [c.partitions for c in newest.members] == [(("t", 0, "kept"), ("t", 1, "kept")), (("t", 2, "added"), ("t", 3, "added"))]


def test_eager_rebalance_moves_and_unassigns_and_has_no_steps():
    # b joins and takes t-1 from a; c leaves and its t-2 goes to nobody: each eager move kind.
    ev = event(
        5, "range",
        before={"a": [["t", 0], ["t", 1]], "c": [["t", 2]]},
        after={"a": [["t", 0]], "b": [["t", 1]]},
        members=["a", "b"],
    )
    (change,) = timeline_classify([ev])
    assert change.step == "" and not change.cooperative and change.total == 3
    assert [(m.partition, m.source, m.target, m.kind) for m in change.moves] == [(1, "a", "b", "move"), (2, "c", None, "unassign")]
    by_member = {c.member_id: c for c in change.members}
    assert by_member["a"].partitions == (("t", 0, "kept"), ("t", 1, "removed"))
    assert by_member["c"].gone and by_member["c"].partitions == (("t", 2, "removed"),)
    assert by_member["b"].new and by_member["b"].partitions == (("t", 1, "added"),)


def test_follow_up_of_a_revoke_is_an_assign_step_only_for_a_cooperative_protocol():
    revoke = event(2, "cooperative-sticky", before={"a": [["t", 0]]}, after={"a": []}, revoked={"a": [["t", 0]]})
    after_coop = event(3, "cooperative-sticky", before={"a": []}, after={"b": [["t", 0]]})
    after_eager = event(3, "range", before={"a": []}, after={"b": [["t", 0]]})
    assert timeline_classify([after_coop, revoke])[0].step == "assign"
    assert timeline_classify([after_eager, revoke])[0].step == ""
    # The oldest event given has no predecessor to look at.
    assert timeline_classify([after_coop])[0].step == ""


@pytest.mark.parametrize(
    ("name", "cooperative"),
    [("cooperative-sticky", True), ("sticky", False), ("range", False), ("my-cooperative-sticky", False), ("", False)],
)
def test_only_the_known_cooperative_assignor_is_cooperative(name, cooperative):
    """Kafka clients may name assignors of their own; the coordinator and the timeline treat only
    cooperative-sticky as incremental (KIP-429)."""
    assert protocol_cooperative(name) is cooperative


@pytest.mark.django_db
def test_a_recorded_cooperative_rebalance_classifies_as_two_steps():
    topic_factory(name="t", partitions=4)
    a = group_join(group_id="g", topics=["t"], assignor="cooperative-sticky")
    group_join(group_id="g", topics=["t"], assignor="cooperative-sticky")
    member_sync(group_id="g", member_id=a.member_id)  # rejoins: generation 2 revokes two of a's
    member_sync(group_id="g", member_id=a.member_id)  # a revoked them: the follow-up rebalance
    for _ in range(3):  # everyone polls until b has rejoined and generation 3 gives it the two
        for m in group_describe(group_id="g").members:
            member_sync(group_id="g", member_id=m.member_id)
    steps = [(c.generation, c.step) for c in timeline_classify(rebalance_history(group_id="g"))]
    assert steps[-2:] == [(2, "revoke"), (1, "")]
    assert steps[0] == (3, "assign")


@pytest.mark.django_db
def test_rebalance_history_is_bounded(settings):
    settings.BROKER = {**settings.BROKER, "REBALANCE_HISTORY_PER_GROUP": 3}
    topic_factory(name="t", partitions=1)
    for _ in range(4):
        a = group_join(group_id="g", topics=["t"], session_timeout_ms=10_000)
        member_leave(group_id="g", member_id=a.member_id)
    assert [e.generation for e in rebalance_history(group_id="g")] == [8, 7, 6]
