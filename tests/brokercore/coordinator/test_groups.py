import pytest

from brokercore import errors
from brokercore.coordinator.consumer import member_commit, member_poll
from brokercore.coordinator.lag import groups_lag_totals, lag_history, lag_samples_record
from brokercore.coordinator.offsets import offsets_commit, offsets_delete, offsets_reset
from brokercore.coordinator.read import committed_offsets_get, group_describe, group_list
from brokercore.coordinator.server_members import (
    group_assignor_set,
    group_join,
    member_heartbeat,
    member_leave,
    member_sync,
)
from brokercore.coordinator.sweep import group_delete, groups_sweep
from brokercore.models import ConsumerGroup, RebalanceEvent
from brokercore.topics.service import topic_partitions_add
from tests.factories import group_settle as settle
from tests.factories import member_factory as join
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db


def owners(info):
    return {tp: m.member_id for m in info.members for tp in m.assignment}


def test_first_member_gets_everything_in_generation_1():
    topic_factory(name="t", partitions=3)
    a = join()
    assert a.state == "Stable" and a.generation == 1 and a.leader
    assert a.assignment == [("t", 0), ("t", 1), ("t", 2)]


def test_second_member_triggers_rebalance_that_completes_when_first_rejoins():
    topic_factory(name="t", partitions=4)
    a = join()
    b = join()
    assert b.state == "PreparingRebalance" and b.rebalancing
    with pytest.raises(errors.RebalanceInProgress):
        member_heartbeat(group_id="g", member_id=a.member_id, generation=1)
    a2 = member_sync(group_id="g", member_id=a.member_id)
    assert a2.state == "Stable" and a2.generation == 2
    info = group_describe(group_id="g")
    assert sorted(len(m.assignment) for m in info.members) == [2, 2]
    assert set(owners(info)) == {("t", i) for i in range(4)}


def test_more_members_than_partitions_leaves_idle_members():
    topic_factory(name="t", partitions=2)
    for _ in range(3):
        join()
    info = settle()
    assert info.state == "Stable"
    assert len(info.idle_members) == 1
    assert len(owners(info)) == 2


def test_leave_rebalances_the_rest():
    topic_factory(name="t", partitions=2)
    a, b = join(), join()
    settle()
    member_leave(group_id="g", member_id=b.member_id)
    info = settle()
    assert [m.member_id for m in info.members] == [a.member_id]
    assert info.members[0].assignment == [("t", 0), ("t", 1)]
    last = RebalanceEvent.objects.filter(group__group_id="g").order_by("-generation").first()
    assert any("left" in r for r in last.reasons)


def test_last_member_leaving_empties_the_group():
    topic_factory(name="t", partitions=1)
    a = join()
    member_leave(group_id="g", member_id=a.member_id)
    info = group_describe(group_id="g")
    assert info.state == "Empty" and info.members == [] and info.generation == 2


def test_silent_member_expires_after_session_timeout(fake_clock):
    topic_factory(name="t", partitions=2)
    a, _ = join(), join()
    settle()
    fake_clock.advance(5_000)
    member_sync(group_id="g", member_id=a.member_id)  # a keeps heartbeating, b is silent
    fake_clock.advance(6_000)
    assert groups_sweep()["groups_changed"] == 1
    info = settle()
    assert [m.member_id for m in info.members] == [a.member_id]
    events = list(RebalanceEvent.objects.filter(group__group_id="g").order_by("generation"))
    assert any("expired" in r for r in events[-1].reasons)


def test_member_that_never_rejoins_is_removed_at_the_rebalance_deadline(fake_clock):
    topic_factory(name="t", partitions=2)
    a = join(rebalance_timeout_ms=3_000, session_timeout_ms=60_000)
    b = join(rebalance_timeout_ms=3_000, session_timeout_ms=60_000)
    assert group_describe(group_id="g").state == "PreparingRebalance"
    fake_clock.advance(3_001)
    groups_sweep()
    info = group_describe(group_id="g")
    assert info.state == "Stable"
    assert [m.member_id for m in info.members] == [b.member_id]
    assert RebalanceEvent.objects.filter(group__group_id="g").order_by("-generation").first().removed_members == [a.member_id]


def test_static_member_returns_without_rebalance_and_old_id_is_fenced():
    topic_factory(name="t", partitions=2)
    a = join(group_instance_id="host-1")
    b = join(group_instance_id="host-2")
    info = settle()
    gen = info.generation
    a_parts = next(m.assignment for m in info.members if m.member_id == a.member_id)
    a2 = join(group_instance_id="host-1")
    assert a2.member_id != a.member_id
    assert a2.generation == gen and a2.state == "Stable"
    assert a2.assignment == a_parts
    with pytest.raises(errors.FencedInstanceId):
        member_sync(group_id="g", member_id=a.member_id, group_instance_id="host-1")
    with pytest.raises(errors.UnknownMemberId):
        member_sync(group_id="g", member_id=a.member_id)
    assert b.member_id in [m.member_id for m in group_describe(group_id="g").members]


@pytest.mark.parametrize("timeout", [10, 5_999, 1_800_001, "10000", None])
def test_session_timeout_outside_broker_range(timeout):
    topic_factory(name="t")
    with pytest.raises(errors.InvalidSessionTimeout) as exc:
        join(session_timeout_ms=timeout)
    assert exc.value.code == 26
    assert not ConsumerGroup.objects.exists()


@pytest.mark.parametrize("group_id", ["", "   ", None, "x" * 256])
def test_invalid_group_ids(group_id):
    with pytest.raises(errors.InvalidGroupId):
        group_join(group_id=group_id, topics=["t"])


def test_unknown_member_and_group():
    topic_factory(name="t")
    join()
    with pytest.raises(errors.UnknownMemberId) as exc:
        member_sync(group_id="g", member_id="nobody")
    assert exc.value.code == 25
    with pytest.raises(errors.GroupIdNotFound) as exc:
        member_sync(group_id="nope", member_id="nobody")
    assert exc.value.code == 69


def test_assignor_mismatch_is_inconsistent_group_protocol():
    topic_factory(name="t")
    join(assignor="range")
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(assignor="roundrobin")
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(assignor="no-such-assignor")


def test_kafka_protocol_group_refuses_server_members():
    topic_factory(name="t")
    join()
    ConsumerGroup.objects.filter(group_id="g").update(kind=ConsumerGroup.Kind.KAFKA)
    with pytest.raises(errors.InconsistentGroupProtocol) as exc:
        join()
    assert exc.value.code == 23


def test_partitions_added_trigger_rebalance_that_gives_them_owners():
    topic_factory(name="t", partitions=2)
    join(), join()
    settle()
    topic_partitions_add(name="t", count=4)
    info = settle()
    assert set(owners(info)) == {("t", i) for i in range(4)}
    last = RebalanceEvent.objects.filter(group__group_id="g").order_by("-generation").first()
    assert any("partitions changed (t 2 -> 4)" in r for r in last.reasons)


def test_cooperative_sticky_moves_partitions_in_two_steps():
    topic_factory(name="t", partitions=4)
    a = join(assignor="cooperative-sticky")
    assert len(a.assignment) == 4
    b = join(assignor="cooperative-sticky")
    # a rejoins keeping its partitions (no stop-the-world), and must revoke two of them.
    a1 = member_sync(group_id="g", member_id=a.member_id)
    assert len(a1.assignment) == 2 and len(a1.revoking) == 2
    step1 = RebalanceEvent.objects.get(group__group_id="g", generation=a1.generation)
    assert step1.paused == 2 and sum(len(v) for v in step1.revoked.values()) == 2
    # a revokes on its next poll, which starts the follow-up rebalance; b rejoins and gets them.
    member_sync(group_id="g", member_id=a.member_id)
    info = settle()
    assert sorted(len(m.assignment) for m in info.members) == [2, 2]
    step2 = RebalanceEvent.objects.get(group__group_id="g", generation=info.generation)
    assert step2.paused == 0 and len(step2.moved) == 2
    assert all(frm is None and to == b.member_id for _, _, frm, to in step2.moved)


def test_eager_rebalance_pauses_every_partition():
    topic_factory(name="t", partitions=4)
    a = join()
    b = join()
    member_sync(group_id="g", member_id=a.member_id)
    event = RebalanceEvent.objects.get(group__group_id="g", generation=2)
    assert event.paused == 4
    assert event.assignment_before == {a.member_id: [["t", 0], ["t", 1], ["t", 2], ["t", 3]]}
    assert set(event.assignment_after) == {a.member_id, b.member_id}


def test_assignor_change_rebalances():
    topic_factory(name="t", partitions=2)
    a = join()
    group_assignor_set(group_id="g", assignor="roundrobin")
    s = member_sync(group_id="g", member_id=a.member_id)
    assert s.protocol_name == "roundrobin" and s.generation == 2


# --- Offsets ---------------------------------------------------------------------------------


def test_commit_is_fenced_by_member_and_generation():
    topic_factory(name="t", partitions=2)
    a = join()
    offsets_commit(group_id="g", member_id=a.member_id, generation=1, offsets={("t", 0): 5})
    join()
    member_sync(group_id="g", member_id=a.member_id)
    with pytest.raises(errors.IllegalGeneration) as exc:
        offsets_commit(group_id="g", member_id=a.member_id, generation=1, offsets={("t", 0): 6})
    assert exc.value.code == 22
    with pytest.raises(errors.UnknownMemberId):
        offsets_commit(group_id="g", member_id="ghost", generation=2, offsets={("t", 0): 6})
    assert committed_offsets_get(group_id="g") == {("t", 0): (5, "")}


def test_simple_commit_only_on_empty_group():
    topic_factory(name="t", partitions=1)
    offsets_commit(group_id="solo", offsets={("t", 0): (3, "note")})
    assert committed_offsets_get(group_id="solo") == {("t", 0): (3, "note")}
    join(group="busy")
    with pytest.raises(errors.UnknownMemberId, match="only allowed while the group is Empty"):
        offsets_commit(group_id="busy", offsets={("t", 0): 1})


@pytest.mark.parametrize(
    "offsets, error",
    [
        ({("t", 5): 1}, errors.UnknownTopicOrPartition),
        ({("nope", 0): 1}, errors.UnknownTopicOrPartition),
        ({("t", 0): -1}, errors.OffsetOutOfRange),
        ({("t", 0): (1, "x" * 5000)}, errors.OffsetMetadataTooLarge),
    ],
)
def test_bad_commits_write_nothing(offsets, error):
    topic_factory(name="t", partitions=1)
    with pytest.raises(error):
        offsets_commit(group_id="g", offsets={("t", 0): 1, **offsets} if ("t", 0) not in offsets else offsets)
    assert committed_offsets_get(group_id="g") == {}


def test_reset_offsets_dry_run_execute_and_refusal():
    topic_factory(name="t", partitions=2)
    records_factory("t", 20, key=None, timestamp=lambda i: 1000 + i)
    offsets_commit(group_id="g", offsets={("t", 0): 3, ("t", 1): 4})
    plan = offsets_reset(group_id="g", topic="t", to="earliest")
    assert [(r.partition, r.current, r.new) for r in plan] == [(0, 3, 0), (1, 4, 0)]
    assert committed_offsets_get(group_id="g")[("t", 0)] == (3, "")  # dry run wrote nothing
    assert [r.new for r in offsets_reset(group_id="g", topic="t", to="latest")] == [10, 10]
    assert [r.new for r in offsets_reset(group_id="g", topic="t", to="shift-by", value=-2)] == [1, 2]
    assert [r.new for r in offsets_reset(group_id="g", topic="t", to="shift-by", value=100)] == [10, 10]
    assert [r.new for r in offsets_reset(group_id="g", topic="t", to="offset", value=7, partitions=[1])] == [7]
    offsets_reset(group_id="g", topic="t", to="offset", value=7, dry_run=False)
    assert committed_offsets_get(group_id="g") == {("t", 0): (7, ""), ("t", 1): (7, "")}
    join(topics=["t"])
    with pytest.raises(errors.NonEmptyGroup, match="can only be reset if the group 'g' is inactive, but the current state is Stable"):
        offsets_reset(group_id="g", topic="t", to="earliest", dry_run=False)
    with pytest.raises(errors.UnknownTopicOrPartition):
        offsets_reset(group_id="x", topic="t", to="earliest", partitions=[9])


def test_reset_to_datetime_uses_timestamps():
    topic_factory(name="t", partitions=1)
    records_factory("t", 10, key=None, timestamp=lambda i: 1000 + 100 * i)
    assert [r.new for r in offsets_reset(group_id="g", topic="t", to="datetime", value=1350)] == [4]


def test_delete_offsets_and_group():
    topic_factory(name="t", partitions=1)
    a = join()
    with pytest.raises(errors.NonEmptyGroup) as exc:
        group_delete(group_id="g")
    assert exc.value.code == 68
    offsets_commit(group_id="g", member_id=a.member_id, generation=1, offsets={("t", 0): 1})
    from brokercore.errors import GroupSubscribedToTopic

    with pytest.raises(GroupSubscribedToTopic):
        offsets_delete(group_id="g", topic="t")
    member_leave(group_id="g", member_id=a.member_id)
    assert offsets_delete(group_id="g", topic="t") == 1
    group_delete(group_id="g")
    assert not ConsumerGroup.objects.filter(group_id="g").exists()
    with pytest.raises(errors.GroupIdNotFound):
        group_delete(group_id="g")


# --- Poll, positions, lag ---------------------------------------------------------------------


def test_poll_reads_assigned_partitions_and_commit_resumes_a_new_member():
    topic_factory(name="t", partitions=2)
    records_factory("t", 10)
    a = join(offset_reset="earliest")
    got = member_poll(group_id="g", member_id=a.member_id, max_records=100)
    assert len(got.records) == 10
    assert member_poll(group_id="g", member_id=a.member_id).records == []  # consuming never deletes, positions moved
    member_commit(group_id="g", member_id=a.member_id, generation=got.member.generation)
    member_leave(group_id="g", member_id=a.member_id)
    records_factory("t", 4)
    b = join(offset_reset="earliest")
    assert len(member_poll(group_id="g", member_id=b.member_id, max_records=100).records) == 4


def test_latest_reset_skips_history():
    topic_factory(name="t", partitions=1)
    records_factory("t", 5)
    a = join(offset_reset="latest")
    assert member_poll(group_id="g", member_id=a.member_id).records == []
    records_factory("t", 2)
    assert len(member_poll(group_id="g", member_id=a.member_id).records) == 2


def test_lag_per_partition_total_and_in_time(fake_clock):
    topic_factory(name="t", partitions=2)
    records_factory("t", 10, key=None, partition=0, timestamp=fake_clock.ms - 5000)
    offsets_commit(group_id="g", offsets={("t", 0): 4})
    info = group_describe(group_id="g")
    (p0,) = info.partitions
    assert (p0.committed, p0.high_watermark, p0.lag, p0.lag_ms) == (4, 10, 6, 5000)
    assert info.total_lag == 6
    assert groups_lag_totals() == {"g": 6}
    assert group_list()[0].total_lag == 6


def test_lag_samples_are_bounded(settings, fake_clock):
    settings.BROKER = {**settings.BROKER, "LAG_SAMPLES_PER_GROUP": 3}
    topic_factory(name="t", partitions=1)
    records_factory("t", 5)
    offsets_commit(group_id="g", offsets={("t", 0): 1})
    for _ in range(5):
        fake_clock.advance(1000)
        lag_samples_record()
    assert [lag for _, lag in lag_history(group_id="g")] == [4, 4, 4]


def test_events_published_for_membership(django_capture_on_commit_callbacks, monkeypatch):
    from brokercore import events

    topic_factory(name="t", partitions=1)
    sent = []
    monkeypatch.setattr(events, "publish", lambda groups, event_type, payload: sent.append((groups, event_type)))
    with django_capture_on_commit_callbacks(execute=True):
        join()
    group_events = [event_type for groups, event_type in sent if events.CLUSTER_GROUP in groups and event_type.startswith(("member.", "rebalance."))]
    assert group_events == ["member.joined", "rebalance.started", "rebalance.completed"]
