"""The coordinator for Kafka-protocol members: Kafka's classic JoinGroup/SyncGroup state machine."""

import pytest

from brokercore import errors
from brokercore.coordinator import consumer_protocol, kafka_members
from brokercore.coordinator.offsets import kafka_offsets_commit, kafka_offsets_fetch
from brokercore.coordinator.read import group_describe, group_member_ids
from brokercore.coordinator.server_members import group_join
from brokercore.coordinator.sweep import group_delete, groups_sweep
from brokercore.models import ConsumerGroup, GroupMember, RebalanceEvent
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db

SESSION = 6000
REBALANCE = 20_000


def meta(*topics, owned=()):
    return consumer_protocol.subscription_encode(topics, owned)


def join(member_id="", *, group="g", protocols=None, topics=("t",), instance=None, known=False, **kw):
    kw.setdefault("session_timeout_ms", SESSION)
    kw.setdefault("rebalance_timeout_ms", REBALANCE)
    return kafka_members.kafka_member_join(
        group_id=group,
        member_id=member_id,
        group_instance_id=instance,
        protocol_type=kw.pop("protocol_type", "consumer"),
        protocols=[("range", meta(*topics))] if protocols is None else protocols,
        client_id=kw.pop("client_id", "client"),
        require_known_member_id=known,
        **kw,
    )


def sync(member_id, generation, assignments=None, *, group="g", **kw):
    return kafka_members.kafka_member_sync(
        group_id=group, member_id=member_id, generation=generation,
        assignments={m: consumer_protocol.assignment_encode(tps) for m, tps in (assignments or {}).items()}, **kw,
    )


def live(fake_clock, ms, *members):
    """Let `ms` pass while the (member id, generation) pairs keep heartbeating, as clients do."""
    for _ in range(ms // 2000):
        fake_clock.advance(2000)
        for member_id, generation in members:
            try:
                kafka_members.kafka_member_heartbeat(group_id="g", member_id=member_id, generation=generation)
            except errors.RebalanceInProgress:
                pass
    fake_clock.advance(ms % 2000)


def stable_pair(partitions=4):
    """Two members a (leader) and b in a Stable generation 2, splitting t's partitions."""
    topic_factory(name="t", partitions=partitions)
    a = join()
    sync(a.member_id, 1, {a.member_id: [("t", i) for i in range(partitions)]})
    b = join()
    assert b.waiting_for == 1
    with pytest.raises(errors.RebalanceInProgress):
        kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=1)
    a2 = join(a.member_id)
    assert a2.generation == 2 and a2.waiting_for is None
    b2 = kafka_members.kafka_join_result(group_id="g", member_id=b.member_id, generation=1)
    half = partitions // 2
    plan = {a.member_id: [("t", i) for i in range(half)], b.member_id: [("t", i) for i in range(half, partitions)]}
    assert sync(b.member_id, 2).assignment is None
    sync(a.member_id, 2, plan)
    return a2, b2, plan


def test_kip394_member_id_required_then_join_completes_generation_1():
    topic_factory(name="t", partitions=2)
    with pytest.raises(errors.MemberIdRequired) as exc:
        join(known=True, client_id="app")
    member_id = exc.value.member_id
    assert member_id.startswith("app-") and exc.value.code == 79
    # The pending member id is remembered, not yet a member.
    group = ConsumerGroup.objects.get(group_id="g")
    assert list(group.pending_members) == [member_id] and not GroupMember.objects.exists()

    r = join(member_id, known=True, client_id="app")
    assert (r.generation, r.leader, r.protocol_name, r.protocol_type) == (1, member_id, "range", "consumer")
    assert [(m.member_id, m.metadata) for m in r.members] == [(member_id, meta("t"))]
    group.refresh_from_db()
    assert group.state == "CompletingRebalance" and group.kind == "kafka" and not group.pending_members

    out = sync(member_id, 1, {member_id: [("t", 0), ("t", 1)]})
    assert consumer_protocol.assignment_decode(out.assignment) == [("t", 0), ("t", 1)]
    info = group_describe(group_id="g")
    assert info.state == "Stable" and info.members[0].subscription == ["t"]
    assert info.members[0].assignment == [("t", 0), ("t", 1)]
    event = RebalanceEvent.objects.get(group__group_id="g", generation=1)
    assert event.assignment_after == {member_id: [["t", 0], ["t", 1]]} and event.protocol_name == "range"


def test_unknown_member_id_without_kip394_joins_at_once():
    topic_factory(name="t", partitions=1)
    r = join(known=False)
    assert r.generation == 1 and r.leader == r.member_id


def test_second_member_waits_at_the_barrier_until_the_first_rejoins():
    a, b, plan = stable_pair()
    assert a.leader == a.member_id and b.leader == a.member_id
    assert len(a.members) == 2 and b.members == []
    got = kafka_members.kafka_sync_result(group_id="g", member_id=b.member_id, generation=2)
    assert consumer_protocol.assignment_decode(got.assignment) == plan[b.member_id]
    info = group_describe(group_id="g")
    assert {m.member_id: m.assignment for m in info.members} == {k: v for k, v in plan.items()}
    event = RebalanceEvent.objects.get(group__group_id="g", generation=2)
    assert event.members == [a.member_id, b.member_id]
    assert [m[:2] for m in event.moved] == [["t", 2], ["t", 3]]
    assert event.paused == 4 and any("joined" in r for r in event.reasons)
    kafka_members.kafka_member_heartbeat(group_id="g", member_id=b.member_id, generation=2)


def test_follower_sync_is_answered_rebalance_in_progress_if_the_round_is_interrupted():
    topic_factory(name="t", partitions=2)
    a = join()
    sync(a.member_id, 1)
    b = join()
    a2 = join(a.member_id)
    assert sync(b.member_id, 2).assignment is None
    join()  # a third member arrives before the leader's SyncGroup
    with pytest.raises(errors.RebalanceInProgress):
        kafka_members.kafka_sync_result(group_id="g", member_id=b.member_id, generation=2)
    with pytest.raises(errors.RebalanceInProgress):
        sync(a2.member_id, 2, {})


def test_protocol_selection_by_votes_and_inconsistent_protocols():
    topic_factory(name="t", partitions=3)
    m = meta("t")
    a = join(protocols=[("range", m), ("roundrobin", m)])
    sync(a.member_id, 1)
    b = join(protocols=[("roundrobin", m), ("range", m)])
    c = join(protocols=[("roundrobin", m), ("sticky", m), ("range", m)])
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(protocols=[("sticky", m)])
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(protocol_type="connect", protocols=[("range", m)])
    join(a.member_id, protocols=[("range", m), ("roundrobin", m)])
    r = kafka_members.kafka_join_result(group_id="g", member_id=b.member_id, generation=1)
    # 'range' and 'roundrobin' are the candidates; two of three members prefer roundrobin.
    assert r.protocol_name == "roundrobin" and c.waiting_for == 1


def test_empty_protocol_list_is_inconsistent():
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(protocols=[])
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(protocol_type="")


def test_session_timeout_outside_the_broker_range():
    with pytest.raises(errors.InvalidSessionTimeout):
        join(session_timeout_ms=10)


def test_one_kind_of_member_per_group():
    topic_factory(name="t", partitions=1)
    group_join(group_id="srv", topics=["t"])
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(group="srv")
    join(group="kc")
    with pytest.raises(errors.InconsistentGroupProtocol):
        group_join(group_id="kc", topics=["t"])


def test_static_member_rejoining_stable_group_keeps_generation_and_fences_old_id():
    topic_factory(name="t", partitions=2)
    a = join(instance="i-1")
    assert a.member_id.startswith("i-1-") and a.generation == 1
    sync(a.member_id, 1, {a.member_id: [("t", 0), ("t", 1)]})
    again = join(instance="i-1", known=True)  # static members skip MEMBER_ID_REQUIRED
    assert again.member_id != a.member_id and again.generation == 1
    # The old leader id comes back, so the rejoined leader does not compute a new assignment.
    assert again.leader == a.member_id and again.members == []
    with pytest.raises(errors.FencedInstanceId):
        kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=1, group_instance_id="i-1")
    out = sync(again.member_id, 1, group_instance_id="i-1")
    assert consumer_protocol.assignment_decode(out.assignment) == [("t", 0), ("t", 1)]
    assert ConsumerGroup.objects.get(group_id="g").leader_member_id == again.member_id
    assert RebalanceEvent.objects.filter(group__group_id="g").count() == 1


def test_static_member_with_unknown_instance_is_unknown_member():
    topic_factory(name="t", partitions=1)
    a = join()
    with pytest.raises(errors.UnknownMemberId):
        kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=1, group_instance_id="nobody")


def test_heartbeat_errors():
    topic_factory(name="t", partitions=1)
    a = join()
    with pytest.raises(errors.UnknownMemberId):
        kafka_members.kafka_member_heartbeat(group_id="nope", member_id=a.member_id, generation=1)
    with pytest.raises(errors.UnknownMemberId):
        kafka_members.kafka_member_heartbeat(group_id="g", member_id="nobody", generation=1)
    with pytest.raises(errors.IllegalGeneration):
        kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=7)
    kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=1)  # CompletingRebalance: fine


def test_sync_checks():
    topic_factory(name="t", partitions=1)
    a = join()
    with pytest.raises(errors.IllegalGeneration):
        sync(a.member_id, 0)
    with pytest.raises(errors.InconsistentGroupProtocol):
        sync(a.member_id, 1, protocol_type="connect")
    with pytest.raises(errors.InconsistentGroupProtocol):
        sync(a.member_id, 1, protocol_name="roundrobin")
    with pytest.raises(errors.UnknownMemberId):
        sync("nobody", 1)
    assert sync(a.member_id, 1, protocol_type="consumer", protocol_name="range").assignment == b""


def test_parked_members_do_not_expire_and_laggards_are_removed_at_the_rebalance_timeout(fake_clock):
    a, b, _ = stable_pair()
    c = join()  # b and a must rejoin
    join(a.member_id)
    # b heartbeats (told to rejoin) but does not rejoin; a and c wait past their session timeouts.
    live(fake_clock, SESSION + 2000, (b.member_id, 2))
    assert kafka_members.kafka_join_result(group_id="g", member_id=c.member_id, generation=2).waiting_for == 2
    live(fake_clock, REBALANCE - SESSION - 4000, (b.member_id, 2))
    assert group_member_ids(group_id="g") == sorted([a.member_id, b.member_id, c.member_id])
    fake_clock.advance(2000)
    r = kafka_members.kafka_join_result(group_id="g", member_id=c.member_id, generation=2)
    assert r.generation == 3 and r.leader == a.member_id
    assert group_member_ids(group_id="g") == sorted([a.member_id, c.member_id])
    event = RebalanceEvent.objects.get(group__group_id="g", generation=3)
    assert event.removed_members == [b.member_id]
    with pytest.raises(errors.UnknownMemberId):
        kafka_members.kafka_join_result(group_id="g", member_id=b.member_id, generation=2)


def test_session_expiry_rebalances(fake_clock):
    a, b, _ = stable_pair()
    fake_clock.advance(SESSION // 2)
    kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=2)
    fake_clock.advance(SESSION // 2 + 1000)  # b has been silent for a whole session
    with pytest.raises(errors.RebalanceInProgress):
        kafka_members.kafka_member_heartbeat(group_id="g", member_id=a.member_id, generation=2)
    assert group_member_ids(group_id="g") == [a.member_id]
    r = join(a.member_id)
    assert r.generation == 3 and [m.member_id for m in r.members] == [a.member_id]


def test_members_that_never_sync_are_removed_after_the_rebalance_timeout(fake_clock):
    topic_factory(name="t", partitions=2)
    a = join()
    sync(a.member_id, 1)
    b = join()
    join(a.member_id)
    sync(a.member_id, 2, {})  # the leader syncs; b never does (nor heartbeats: no matter)
    live(fake_clock, REBALANCE + 1, (a.member_id, 2))
    groups_sweep()
    assert group_member_ids(group_id="g") == [a.member_id]
    assert ConsumerGroup.objects.get(group_id="g").state == "PreparingRebalance"
    with pytest.raises(errors.UnknownMemberId):
        sync(b.member_id, 2)


def test_pending_member_id_holds_the_round_until_its_session_passes(fake_clock):
    topic_factory(name="t", partitions=2)
    a = join()
    sync(a.member_id, 1)
    b = join()  # rebalance: a must rejoin
    with pytest.raises(errors.MemberIdRequired):
        join(known=True)  # a third client is told its member id ...
    r = join(a.member_id)
    assert r.waiting_for == 1  # ... and the round waits for it, as Kafka's does
    fake_clock.advance(SESSION + 1)
    groups_sweep()
    r = kafka_members.kafka_join_result(group_id="g", member_id=b.member_id, generation=1)
    assert r.generation == 2 and not ConsumerGroup.objects.get(group_id="g").pending_members


def test_leave_batch_and_last_member_leaves_empty_group():
    a, b, _ = stable_pair()
    codes = kafka_members.kafka_members_leave(group_id="g", members=[(b.member_id, None), ("nobody", None), ("", "no-instance")])
    assert codes == [0, 25, 25]
    assert ConsumerGroup.objects.get(group_id="g").state == "PreparingRebalance"
    assert kafka_members.kafka_members_leave(group_id="g", members=[(a.member_id, None)]) == [0]
    group = ConsumerGroup.objects.get(group_id="g")
    assert (group.state, group.generation, group.kind) == ("Empty", 3, "")
    assert RebalanceEvent.objects.get(group=group, generation=3).assignment_after == {}
    assert kafka_members.kafka_members_leave(group_id="missing", members=[("x", None)]) == [25]


def test_static_member_removed_by_instance_id():
    topic_factory(name="t", partitions=1)
    a = join(instance="i-1")
    assert kafka_members.kafka_members_leave(group_id="g", members=[("", "i-1")]) == [0]
    assert not GroupMember.objects.filter(member_id=a.member_id).exists()


def test_offset_commit_rules():
    topic_factory(name="t", partitions=2)
    # Outside group management: allowed while the group is Empty (and creates it).
    assert kafka_offsets_commit(group_id="solo", offsets={("t", 0): (5, "m", 3), ("x", 0): (1, None, None)}) == {
        ("t", 0): 0, ("x", 0): 3,
    }
    got = kafka_offsets_fetch(group_id="solo", partitions=[("t", 0), ("t", 1)])
    assert [(p.offset, p.leader_epoch, p.metadata) for p in got] == [(5, 3, "m"), (-1, None, "")]
    assert [p.partition for p in kafka_offsets_fetch(group_id="solo")] == [0]
    assert kafka_offsets_fetch(group_id="nobody") == []

    a = join()
    tp = {("t", 1): (7, "", None)}
    assert kafka_offsets_commit(group_id="g", offsets=tp, member_id=a.member_id, generation=1) == {("t", 1): 27}
    sync(a.member_id, 1)
    assert kafka_offsets_commit(group_id="g", offsets=tp, member_id=a.member_id, generation=1) == {("t", 1): 0}
    assert kafka_offsets_commit(group_id="g", offsets=tp, member_id=a.member_id, generation=0) == {("t", 1): 22}
    assert kafka_offsets_commit(group_id="g", offsets=tp) == {("t", 1): 25}
    assert kafka_offsets_commit(group_id="g", offsets=tp, member_id="nobody", generation=1) == {("t", 1): 25}
    assert kafka_offsets_commit(group_id="new", offsets=tp, member_id="x", generation=3) == {("t", 1): 22}
    big = {("t", 0): (1, "x" * 5000, None)}
    assert kafka_offsets_commit(group_id="g", offsets=big, member_id=a.member_id, generation=1) == {("t", 0): 12}


def test_describe_list_delete():
    a, b, plan = stable_pair()
    d = kafka_members.kafka_group_describe(group_id="g")
    assert (d.state, d.protocol_type, d.described_protocol) == ("Stable", "consumer", "range")
    assert [(m.member_id, m.protocol_metadata) for m in d.members] == [(a.member_id, meta("t")), (b.member_id, meta("t"))]
    assert consumer_protocol.assignment_decode(d.members[1].protocol_assignment) == plan[b.member_id]
    dead = kafka_members.kafka_group_describe(group_id="missing")
    assert (dead.state, dead.protocol_type, dead.described_protocol, dead.members) == ("Dead", "", "", [])
    join()
    d = kafka_members.kafka_group_describe(group_id="g")
    assert d.state == "PreparingRebalance" and d.described_protocol == "" and d.members[0].protocol_metadata == b""

    topic_factory(name="s", partitions=2)
    group_join(group_id="srv", topics=["s"])
    d = kafka_members.kafka_group_describe(group_id="srv")
    assert d.state == "Stable" and d.described_protocol == "range"
    assert consumer_protocol.subscription_decode(d.members[0].protocol_metadata).topics == ["s"]
    assert consumer_protocol.assignment_decode(d.members[0].protocol_assignment) == [("s", 0), ("s", 1)]

    assert kafka_members.kafka_groups_list() == [("g", "consumer", "PreparingRebalance"), ("srv", "consumer", "Stable")]
    assert kafka_members.kafka_groups_list(states=["Stable"]) == [("srv", "consumer", "Stable")]
    with pytest.raises(errors.NonEmptyGroup):
        group_delete(group_id="g")


def test_cooperative_rejoin_keeps_owned_partitions_in_the_grid():
    topic_factory(name="t", partitions=2)
    coop = "cooperative-sticky"
    a = join(protocols=[(coop, meta("t"))])
    sync(a.member_id, 1, {a.member_id: [("t", 0), ("t", 1)]})
    b = join(protocols=[(coop, meta("t"))])
    join(a.member_id, protocols=[(coop, meta("t", owned=[("t", 0), ("t", 1)]))])
    # a rejoined still owning both partitions (it keeps consuming them).
    assert GroupMember.objects.get(member_id=a.member_id).assignment == [["t", 0], ["t", 1]]
    sync(a.member_id, 2, {a.member_id: [("t", 0)], b.member_id: []})
    event = RebalanceEvent.objects.get(group__group_id="g", generation=2)
    assert event.revoked == {a.member_id: [["t", 1]]} and event.paused == 1


def test_events_published_for_the_console(django_capture_on_commit_callbacks, monkeypatch):
    from brokercore import events

    sent = []

    def publish(groups, event_type, payload):
        if payload.get("topic") != "__consumer_offsets":  # the coordinator's own log: tested in test_offsets_topic
            sent.append(event_type)

    monkeypatch.setattr(events, "publish", publish)
    topic_factory(name="t", partitions=1)
    with django_capture_on_commit_callbacks(execute=True):
        a = join()
    assert sent == ["member.joined", "rebalance.started", "rebalance.joined"]
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sync(a.member_id, 1, {a.member_id: [("t", 0)]})
    assert sent == ["rebalance.completed"]
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        kafka_offsets_commit(group_id="g", offsets={("t", 0): (1, "", None)}, member_id=a.member_id, generation=1)
        kafka_members.kafka_members_leave(group_id="g", members=[(a.member_id, None)])
    assert sent == ["offsets.committed", "offsets.committed", "member.left", "rebalance.started", "rebalance.completed"]
