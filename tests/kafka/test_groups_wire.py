"""The group APIs on the wire, version by version, with bare requests (tests/kafka/conftest.Wire):
what no client library lets a test choose (which version, two members' requests parked at once)."""

import time

import pytest

from brokercore.coordinator import consumer_protocol
from brokercore.coordinator.read import group_describe
from brokercore.models import GroupMember
from brokercore.topics.service import topic_create

pytestmark = pytest.mark.django_db(transaction=True)

FIND_COORDINATOR, JOIN, HEARTBEAT, LEAVE, SYNC = 10, 11, 12, 13, 14
COMMIT, FETCH, DESCRIBE, LIST, DELETE = 8, 9, 15, 16, 42
META = consumer_protocol.subscription_encode(["w"])


def join(wire, version=9, member_id="", group="wg", **kw):
    kw.setdefault("protocols", [{"name": "range", "metadata": META}])
    return wire.call(
        JOIN, version, group_id=group, session_timeout=6000, rebalance_timeout=10_000, member_id=member_id,
        protocol_type="consumer", **kw,
    )


def join_new(wire, group="wg"):
    """KIP-394: the first JoinGroup gets MEMBER_ID_REQUIRED and the id to join with."""
    first = join(wire, group=group)
    assert first.error_code.value == 79 and first.member_id and first.generation_id == -1
    return join(wire, member_id=first.member_id, group=group)


def until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def wires(kafka_bootstrap):
    from tests.kafka.conftest import Wire

    opened = []

    def open_wire():
        w = Wire(kafka_bootstrap, timeout=10)
        opened.append(w)
        return w

    yield open_wire
    for w in opened:
        w.close()


def test_find_coordinator_v0_and_v4_batch(wires, kafka_listener):
    w = wires()
    node = kafka_listener.node
    r = w.call(FIND_COORDINATOR, 0, key="g")
    assert (r.error_code.value, r.node_id, r.host, r.port) == (0, node.node_id, node.host, node.port)
    r = w.call(FIND_COORDINATOR, 4, key_type=0, coordinator_keys=["a", "b"])
    assert [(c.key, c.node_id, c.error_code.value) for c in r.coordinators] == [("a", node.node_id, 0), ("b", node.node_id, 0)]
    r = w.call(FIND_COORDINATOR, 4, key_type=5, coordinator_keys=["a"])
    assert r.coordinators[0].error_code.value == 42


def test_join_sync_barrier_heartbeat_leave(wires):
    topic_create(name="w", partitions=2)
    a, b = wires(), wires()
    ra = join_new(a)
    assert (ra.error_code.value, ra.generation_id, ra.leader, ra.protocol_name) == (0, 1, ra.member_id, "range")
    assert [(m.member_id, m.metadata) for m in ra.members] == [(ra.member_id, META)]
    one = consumer_protocol.assignment_encode([("w", 0), ("w", 1)])
    r = a.call(SYNC, 5, group_id="wg", generation_id=1, member_id=ra.member_id, protocol_type="consumer",
               protocol_name="range", assignments=[{"member_id": ra.member_id, "assignment": one}])
    assert (r.error_code.value, r.assignment, r.protocol_name) == (0, one, "range")

    first = join(b)
    b.send(JOIN, 9, group_id="wg", session_timeout=6000, rebalance_timeout=10_000, member_id=first.member_id,
           protocol_type="consumer", protocols=[{"name": "range", "metadata": META}])  # parked at the barrier
    until(lambda: group_describe(group_id="wg").state == "PreparingRebalance")
    assert a.call(HEARTBEAT, 4, group_id="wg", generation_id=1, member_id=ra.member_id).error_code.value == 27
    ra2 = join(a, member_id=ra.member_id)
    rb = b.recv(JOIN, 9)
    assert (ra2.generation_id, rb.generation_id, rb.leader, rb.members) == (2, 2, ra.member_id, ())
    assert sorted(m.member_id for m in ra2.members) == sorted([ra.member_id, first.member_id])

    # The follower's SyncGroup waits for the leader's assignment.
    b.send(SYNC, 3, group_id="wg", generation_id=2, member_id=first.member_id, assignments=[])
    until(lambda: not GroupMember.objects.get(member_id=first.member_id).awaiting_sync)  # it is parked
    halves = {ra.member_id: [("w", 0)], first.member_id: [("w", 1)]}
    r = a.call(SYNC, 3, group_id="wg", generation_id=2, member_id=ra.member_id, assignments=[
        {"member_id": m, "assignment": consumer_protocol.assignment_encode(tps)} for m, tps in halves.items()
    ])
    assert consumer_protocol.assignment_decode(r.assignment) == [("w", 0)]
    rb = b.recv(SYNC, 3)
    assert rb.error_code.value == 0 and consumer_protocol.assignment_decode(rb.assignment) == [("w", 1)]
    info = group_describe(group_id="wg")
    assert info.state == "Stable" and {m.member_id: m.assignment for m in info.members} == halves

    assert b.call(HEARTBEAT, 0, group_id="wg", generation_id=1, member_id=first.member_id).error_code.value == 22
    r = b.call(LEAVE, 3, group_id="wg", members=[{"member_id": first.member_id}, {"member_id": "ghost"}])
    assert [(m.member_id, m.error_code.value) for m in r.members] == [(first.member_id, 0), ("ghost", 25)]
    assert a.call(HEARTBEAT, 2, group_id="wg", generation_id=2, member_id=ra.member_id).error_code.value == 27
    assert a.call(LEAVE, 0, group_id="wg", member_id=ra.member_id).error_code.value == 0
    assert group_describe(group_id="wg").state == "Empty"


def test_join_v0_and_errors(wires):
    w = wires()
    r = join(w, version=0, group="old")  # v0: no rebalance timeout, no MEMBER_ID_REQUIRED
    assert r.error_code.value == 0 and r.generation_id == 1
    assert join(w, version=5, group="old", member_id="nobody").error_code.value == 25
    r = join(w, version=7, group="old", protocols=[{"name": "sticky", "metadata": META}], member_id="")
    assert r.error_code.value == 23 and r.protocol_name is None
    assert join(w, version=9, group="", member_id="x").error_code.value == 24
    r = w.call(JOIN, 9, group_id="old", session_timeout=10, member_id="", protocol_type="consumer",
               protocols=[{"name": "range", "metadata": META}])
    assert r.error_code.value == 26
    r = w.call(SYNC, 5, group_id="old", generation_id=1, member_id="nobody", assignments=[])
    assert r.error_code.value == 25


def test_offsets_commit_fetch_describe_list_delete(wires, kafka_staff):
    topic_create(name="w", partitions=2)
    w = wires()
    assert w.authenticate(kafka_staff).error_code == 0  # deleting groups needs staff
    r = w.call(COMMIT, 8, group_id="solo", generation_id_or_member_epoch=-1, member_id="", topics=[
        {"name": "w", "partitions": [{"partition_index": 0, "committed_offset": 4, "committed_leader_epoch": 0,
                                      "committed_metadata": "m"}]},
        {"name": "nope", "partitions": [{"partition_index": 0, "committed_offset": 1, "committed_metadata": None}]},
    ])
    assert [(t.name, t.partitions[0].error_code.value) for t in r.topics] == [("w", 0), ("nope", 3)]
    r = w.call(COMMIT, 2, group_id="solo", generation_id_or_member_epoch=-1, member_id="", retention_time=-1, topics=[
        {"name": "w", "partitions": [{"partition_index": 1, "committed_offset": 2, "committed_metadata": ""}]},
    ])
    assert r.topics[0].partitions[0].error_code.value == 0

    r = w.call(FETCH, 1, group_id="solo", topics=[{"name": "w", "partition_indexes": [0, 1]}])
    assert [(p.partition_index, p.committed_offset, p.metadata) for p in r.topics[0].partitions] == [(0, 4, "m"), (1, 2, "")]
    r = w.call(FETCH, 7, group_id="solo", topics=None)  # every committed partition
    assert [(p.partition_index, p.committed_offset, p.committed_leader_epoch) for p in r.topics[0].partitions] == [
        (0, 4, 0), (1, 2, -1)
    ]
    r = w.call(FETCH, 8, groups=[
        {"group_id": "solo", "topics": [{"name": "w", "partition_indexes": [0]}]},
        {"group_id": "other", "topics": None},
    ])
    assert [(g.group_id, [(t.name, [p.committed_offset for p in t.partitions]) for t in g.topics]) for g in r.groups] == [
        ("solo", [("w", [4])]), ("other", []),
    ]

    member = join_new(w)
    r = w.call(DESCRIBE, 5, groups=["wg", "solo", "missing"], include_authorized_operations=True)
    assert [(g.group_id, g.group_state, g.error_code.value) for g in r.groups] == [
        ("wg", "CompletingRebalance", 0), ("solo", "Empty", 0), ("missing", "Dead", 0),
    ]
    assert r.groups[0].members[0].member_id == member.member_id and r.groups[0].members[0].member_metadata == b""
    assert r.groups[0].authorized_operations == (1 << 3) | (1 << 6) | (1 << 8)
    w.call(SYNC, 5, group_id="wg", generation_id=1, member_id=member.member_id, assignments=[
        {"member_id": member.member_id, "assignment": consumer_protocol.assignment_encode([("w", 0)])}
    ])
    r = w.call(DESCRIBE, 0, groups=["wg"])
    g = r.groups[0]
    assert (g.group_state, g.protocol_type, g.protocol_data) == ("Stable", "consumer", "range")
    assert g.members[0].member_metadata == META
    assert consumer_protocol.assignment_decode(g.members[0].member_assignment) == [("w", 0)]

    r = w.call(LIST, 4, states_filter=["Stable"])
    assert [(g.group_id, g.protocol_type, g.group_state) for g in r.groups] == [("wg", "consumer", "Stable")]
    assert sorted(g.group_id for g in w.call(LIST, 0).groups) == ["solo", "wg"]

    r = w.call(DELETE, 2, groups_names=["wg", "solo", "missing"])
    assert [(x.group_id, x.error_code.value) for x in r.results] == [("wg", 68), ("solo", 0), ("missing", 69)]
