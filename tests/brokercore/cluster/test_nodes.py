"""Broker nodes: registration, duplicate ids, liveness, clean stops, and where leadership goes."""

import threading
from collections import Counter

import pytest
from django.db import connection

from brokercore import events
from brokercore.cluster import nodes
from brokercore.cluster import read as cluster_read
from brokercore.cluster.nodes import node_deregister, node_heartbeat, node_register, nodes_sweep
from brokercore.cluster.read import brokers_list, brokers_live_ids, cluster_cache_clear, cluster_nodes, partition_leader
from brokercore.errors import DuplicateBrokerRegistration
from brokercore.models import BrokerNode
from brokercore.topics.read import partition_leaders, topic_describe
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db

TIMEOUT_MS = 6000  # BROKER_NODE_SESSION_TIMEOUT_S's default


@pytest.fixture
def published(monkeypatch):
    """Every (event type, payload, groups) the node services publish, as they go out after commit."""
    sent = []
    monkeypatch.setattr(events, "publish", lambda groups, event_type, payload: sent.append((event_type, payload, groups)))
    return sent


def register(node_id, *, process=None, port=None, rack=""):
    return node_register(
        kafka_host="127.0.0.1", kafka_port=port or 9090 + node_id, web_host="127.0.0.1", web_port=8000 + node_id,
        rack=rack, node_id=node_id, process=process or f"proc-{node_id}",
    )


def live_ids():
    cluster_cache_clear()
    return brokers_live_ids()


# --- Registration and identity ------------------------------------------------------------------


def test_register_makes_a_live_node_with_its_kafka_and_web_addresses(published, django_capture_on_commit_callbacks):
    topic = topic_factory(name="t")
    with django_capture_on_commit_callbacks(execute=True):
        register(3, rack="r1")
    (node,) = cluster_nodes()
    assert (node.node_id, node.host, node.port, node.rack) == (3, "127.0.0.1", 9093, "r1")
    (row,) = brokers_list()
    assert (row.web_host, row.web_port, row.status, row.process) == ("127.0.0.1", 8003, "alive", "proc-3")
    # The cluster page and every topic page (whose leader column changes) hear of it.
    assert published == [("broker.up", {"node_id": 3, "reason": ""}, [events.CLUSTER_GROUP, events.topic_group(topic.topic_id)])]


def test_second_live_process_with_the_same_node_id_is_refused(fake_clock):
    register(1, process="first")
    fake_clock.advance(2000)
    with pytest.raises(DuplicateBrokerRegistration) as e:
        register(1, process="second")
    assert e.value.code == 101
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("broker node id 1 is already in use by the live process first (last heartbeat 2.0 s ago)")
    assert BrokerNode.objects.get(node_id=1).process == "first"


def test_the_id_of_a_dead_or_stopped_process_is_taken_over(fake_clock, published, django_capture_on_commit_callbacks):
    register(1, process="first")
    fake_clock.advance(TIMEOUT_MS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        register(1, process="second", port=9999)
    assert [n.port for n in cluster_nodes()] == [9999]
    assert [e for e, _, _ in published] == ["broker.up"]  # the takeover announces the node again
    node_deregister(1, process="second")
    register(1, process="third")
    assert BrokerNode.objects.get(node_id=1).process == "third"


def test_the_same_process_may_register_again():
    register(1, process="p")
    register(1, process="p", port=9500)
    assert [n.port for n in cluster_nodes()] == [9500]


# --- Liveness -----------------------------------------------------------------------------------


def test_heartbeat_keeps_a_node_alive_past_the_session_timeout(fake_clock):
    register(1, process="p")
    for _ in range(5):
        fake_clock.advance(2000)
        (node,) = node_heartbeat(process="p")
        assert node.node_id == 1
    assert live_ids() == [1]
    assert nodes_sweep() == []


def test_heartbeat_of_a_process_that_registered_nothing_does_nothing():
    assert node_heartbeat(process="nobody") == []
    assert BrokerNode.objects.count() == 0


def test_silent_node_expires_and_is_announced_dead_exactly_once(fake_clock, published, django_capture_on_commit_callbacks):
    register(1)
    register(2)
    fake_clock.advance(TIMEOUT_MS - 1000)
    node_heartbeat(process="proc-1")
    fake_clock.advance(1001)
    assert live_ids() == [1]  # clients stop being sent to node 2 as soon as it is silent too long
    with django_capture_on_commit_callbacks(execute=True):
        assert nodes_sweep() == [2]
        assert nodes_sweep() == []
    assert [(e, p) for e, p, _ in published] == [("broker.down", {"node_id": 2, "reason": "expired"})]
    (dead,) = [b for b in brokers_list() if b.node_id == 2]
    assert (dead.alive, dead.status, dead.leader_count) == (False, "dead", 0)


def test_a_node_found_dead_comes_back_with_its_next_heartbeat(fake_clock, published, django_capture_on_commit_callbacks):
    register(1, process="p")
    fake_clock.advance(TIMEOUT_MS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        nodes_sweep()
        node_heartbeat(process="p")
    assert [e for e, _, _ in published] == ["broker.down", "broker.up"]
    assert live_ids() == [1]


def test_heartbeat_registers_again_when_the_row_is_gone():
    register(1, process="p")
    BrokerNode.objects.all().delete()
    (node,) = node_heartbeat(process="p")
    assert (node.node_id, node.kafka_port, node.process) == (1, 9091, "p")


def test_heartbeat_is_fenced_when_a_live_process_took_the_id_over(fake_clock):
    register(1, process="stalled")
    fake_clock.advance(TIMEOUT_MS + 1)
    register(1, process="new")
    with pytest.raises(DuplicateBrokerRegistration):
        node_heartbeat(process="stalled")
    assert node_heartbeat(process="stalled") == []  # it stops heartbeating for an id it lost
    assert BrokerNode.objects.get(node_id=1).process == "new"


def test_clean_stop_is_immediate_and_announced_once(published, django_capture_on_commit_callbacks):
    register(1)
    register(2)
    with django_capture_on_commit_callbacks(execute=True):
        assert node_deregister(2, process="proc-2") is True
        assert node_deregister(2, process="proc-2") is False
        assert nodes_sweep() == []
    assert [(e, p) for e, p, _ in published] == [("broker.down", {"node_id": 2, "reason": "stopped"})]
    assert live_ids() == [1]
    assert [b.status for b in brokers_list()] == ["alive", "stopped"]


def test_deregister_does_not_stop_a_node_another_process_holds():
    register(1, process="holder")
    assert node_deregister(1, process="someone-else") is False
    assert live_ids() == [1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweepers_announce_a_dead_node_once(fake_clock, published):
    """Every live process sweeps; the conditional UPDATE lets exactly one of them win a node."""
    for node_id in (1, 2, 3):
        register(node_id)
    fake_clock.advance(TIMEOUT_MS + 1)
    results, barrier = [], threading.Barrier(4)

    def sweep():
        barrier.wait()
        try:
            results.append(nodes_sweep())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n for r in results for n in r) == [1, 2, 3]
    assert sorted(p["node_id"] for e, p, _ in published if e == "broker.down") == [1, 2, 3]


# --- The embedded node and the cache --------------------------------------------------------------


def test_without_registered_nodes_the_embedded_node_stands_in(settings):
    settings.BROKER = {**settings.BROKER, "NODE_ID": 7, "KAFKA_ADVERTISED_HOST": "kafka.local", "KAFKA_PORT": 9092}
    (node,) = cluster_nodes()
    assert (node.node_id, node.host, node.port) == (7, "kafka.local", 9092)
    (row,) = brokers_list()
    assert row.embedded and row.alive


def test_embedded_node_replaces_the_dead_row_of_its_own_id(fake_clock):
    register(1)
    register(2)
    fake_clock.advance(TIMEOUT_MS + 1)
    nodes_sweep()
    rows = brokers_list()
    assert [(b.node_id, b.embedded, b.status) for b in rows] == [(1, True, "alive"), (2, False, "dead")]


def test_cluster_nodes_is_cached_briefly_but_own_changes_show_at_once(monkeypatch):
    # Long enough that no stall between the two reads lets the cache run out (read per call).
    monkeypatch.setattr(cluster_read, "CLUSTER_CACHE_S", 60.0)
    register(1)
    assert [n.node_id for n in cluster_nodes()] == [1]
    BrokerNode.objects.create(node_id=2, kafka_host="h", kafka_port=1, started_at=nodes.clock.now(), heartbeat_at=nodes.clock.now())
    assert [n.node_id for n in cluster_nodes()] == [1]  # another process's node: seen within CLUSTER_CACHE_S
    register(3)
    assert [n.node_id for n in cluster_nodes()] == [1, 2, 3]


# --- Leadership -----------------------------------------------------------------------------------


def test_leadership_is_spread_evenly_over_live_nodes():
    for node_id in (1, 2, 3):
        register(node_id)
    topic_factory(name="orders", partitions=6)
    leaders = Counter(partition_leader(topic="orders", partition=p) for p in range(6))
    assert leaders == {1: 2, 2: 2, 3: 2}
    # Single-partition topics do not all land on the lowest node id.
    singles = {partition_leader(topic=f"s{i}", partition=0) for i in range(30)}
    assert singles == {1, 2, 3}


def test_leaders_move_off_a_stopped_node_and_back_when_it_returns():
    for node_id in (1, 2, 3):
        register(node_id)
    topic_factory(name="orders", partitions=6)
    before = [partition_leader(topic="orders", partition=p) for p in range(6)]
    node_deregister(2, process="proc-2")
    after = [partition_leader(topic="orders", partition=p) for p in range(6)]
    assert 2 not in after and Counter(after) == {1: 3, 3: 3}
    register(2)
    assert [partition_leader(topic="orders", partition=p) for p in range(6)] == before


def test_every_view_of_leadership_agrees():
    for node_id in (1, 2):
        register(node_id)
    topic_factory(name="orders", partitions=3, replication_factor=2)
    topic_factory(name="audit", partitions=2)
    info = topic_describe(name="orders")
    for p in info.partitions:
        assert p.leader == partition_leader(topic="orders", partition=p.index)
        assert p.replicas[0] == p.leader and set(p.replicas) == {1, 2} and p.isr == p.replicas
    by_page = {t.name: dict(t.partitions) for t in partition_leaders()}
    assert by_page["orders"] == {p.index: p.leader for p in info.partitions}
    counts = {b.node_id: b.leader_count for b in brokers_list()}
    expected = Counter(v for t in by_page.values() for v in t.values())
    assert counts == {1: expected[1], 2: expected[2]} and sum(counts.values()) == 5


def test_a_heartbeat_racing_a_clean_stop_does_not_bring_the_node_back():
    register(1, process="p")
    assert (1, "p") in nodes._registrations  # the heartbeat thread still knows it when the stop commits
    BrokerNode.objects.filter(node_id=1).update(down_at=nodes.clock.now(), down_reason=BrokerNode.DownReason.STOPPED)
    node_heartbeat(process="p")
    assert BrokerNode.objects.get(node_id=1).down_reason == "stopped"
    assert node_heartbeat(process="p") == []
