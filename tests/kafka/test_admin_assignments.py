"""Explicit replica assignments in CreateTopics and CreatePartitions, from real admin clients:
accepted over live nodes and validated as Kafka's controller does (ReplicationControlManager)."""

import pytest
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kio.schema.errors import ErrorCode

from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_create
from tests.kafka.test_admin import create

pytestmark = pytest.mark.django_db(transaction=True)


def test_confluent_creates_topics_and_partitions_with_assignments(kafka_bootstrap, kafka_staff):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, **kafka_staff.confluent()})
    admin.create_topics([NewTopic("ra", 3, replica_assignment=[[1], [1], [1]])])["ra"].result(10)
    t = topic_describe(name="ra")
    assert (len(t.partitions), t.replication_factor) == (3, 1)
    admin.create_partitions([NewPartitions("ra", 5, replica_assignment=[[1], [1]])])["ra"].result(10)
    assert len(topic_describe(name="ra").partitions) == 5


def _assign(*lists, start=0):
    return [{"partition_index": i, "broker_ids": ids} for i, ids in enumerate(lists, start)]


@pytest.mark.parametrize(("n", "rf", "assignments", "code", "message"), [
    (-1, -1, _assign([7]), ErrorCode.invalid_replica_assignment, "includes broker 7, but no such broker is registered"),
    (-1, -1, _assign([1, 1]), ErrorCode.invalid_replica_assignment, "includes the broker 1 more than once"),
    (-1, -1, _assign([]), ErrorCode.invalid_replica_assignment, "empty replica list"),
    (-1, -1, _assign([1]) + _assign([1]), ErrorCode.invalid_replica_assignment, "multiple manual partition assignments for partition 0"),
    (-1, -1, _assign([1], start=1), ErrorCode.invalid_replica_assignment, "consecutive 0-based"),
    (1, -1, _assign([1]), ErrorCode.invalid_request, "numPartitions was not set to -1"),
    (-1, 1, _assign([1]), ErrorCode.invalid_request, "replication factor was not set to -1"),
])
def test_create_topics_assignment_errors(staff_wire, n, rf, assignments, code, message):
    [t] = create(staff_wire, ("bad", n, rf, None, assignments))
    assert t.error_code == code and message in t.error_message
    assert topic_names_list() == []


def test_create_topics_assignment_of_two_nodes(staff_wire, kafka_listener):
    from brokercore.cluster.nodes import node_register

    me = kafka_listener.node
    node_register(kafka_host=me.host, kafka_port=me.port, node_id=me.node_id, process="this-test-process")
    node_register(node_id=2, kafka_host="127.0.0.1", kafka_port=1, process="other-test-process")
    [bad] = create(staff_wire, ("two", -1, -1, None, _assign([1, 2], [2])))
    assert bad.error_code == ErrorCode.invalid_replica_assignment and "not consistent with previous partitions" in bad.error_message
    [ok] = create(staff_wire, ("two", -1, -1, None, _assign([1, 2], [2, 1])), validate_only=True)
    assert (ok.error_code, ok.num_partitions, ok.replication_factor) == (0, 2, 2)


def test_create_partitions_assignment_errors(staff_wire):
    topic_create(name="grow", partitions=1)

    def add(count, assignments):
        r = staff_wire.call(37, 3, timeout=1000, validate_only=False,
                            topics=[{"name": "grow", "count": count, "assignments": assignments}])
        return r.results[0]

    short = add(3, [{"broker_ids": [1]}])
    assert short.error_code == ErrorCode.invalid_replica_assignment and "add 2 additional partition(s), but only 1" in short.error_message
    unknown = add(2, [{"broker_ids": [9]}])
    assert unknown.error_code == ErrorCode.invalid_replica_assignment and "broker 9" in unknown.error_message
    assert add(2, [{"broker_ids": [1]}]).error_code == 0
    assert len(topic_describe(name="grow").partitions) == 2


def test_metadata_places_partitions_where_the_assignment_says(staff_wire, kafka_listener, kafka_bootstrap, kafka_staff):
    """Three live nodes (this listener is node 1); a topic assigned by hand shows those replicas in
    Metadata, led by the first live one, and this listener answers Produce for what it leads only."""
    from brokercore.cluster.nodes import node_register
    from brokercore.cluster.read import cluster_cache_clear

    me = kafka_listener.node
    node_register(kafka_host=me.host, kafka_port=me.port, node_id=me.node_id, process="this-test-process")
    node_register(node_id=2, kafka_host="127.0.0.1", kafka_port=1, process="second-test-process")
    node_register(node_id=3, kafka_host="127.0.0.1", kafka_port=2, process="third-test-process")
    cluster_cache_clear()
    [made] = create(staff_wire, ("placed", -1, -1, None, _assign([2, 1], [1, 3], [3, 2])))
    assert made.error_code == 0
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, **kafka_staff.confluent()})
    admin.create_partitions([NewPartitions("placed", 4, replica_assignment=[[1, 2]])])["placed"].result(10)
    meta = staff_wire.call(3, 12, topics=[{"name": "placed", "topic_id": None}], allow_auto_topic_creation=False)
    [t] = meta.topics
    placed = {p.partition_index: (p.leader_id, tuple(p.replica_nodes)) for p in t.partitions}
    assert placed == {0: (2, (2, 1)), 1: (1, (1, 3)), 2: (3, (3, 2)), 3: (1, (1, 2))}
    # Produce goes to the leader: this listener (node 1) refuses partition 0, which node 2 leads.
    from brokercore.log.batch import batch_build

    def produce(partition):
        r = staff_wire.call(0, 9, transactional_id=None, acks=-1, timeout=5000, topic_data=[
            {"name": "placed", "partition_data": [{"index": partition, "records": batch_build([(1, b"k", b"v", ())])}]}])
        return r.responses[0].partition_responses[0].error_code

    assert produce(0) == ErrorCode.not_leader_or_follower
    assert produce(1) == ErrorCode.none
    # Node 2 goes away: its partitions are led by the next live node of their assignment.
    from brokercore.cluster.nodes import node_deregister

    node_deregister(2, process="second-test-process")
    cluster_cache_clear()
    [t] = staff_wire.call(3, 12, topics=[{"name": "placed", "topic_id": None}], allow_auto_topic_creation=False).topics
    assert {p.partition_index: (p.leader_id, tuple(p.replica_nodes)) for p in t.partitions}[0] == (1, (1,))
    assert produce(0) == ErrorCode.none
