"""OffsetDelete (`kafka-consumer-groups --delete-offsets`, AdminClient delete_group_offsets) and
DescribeLogDirs (`kafka-log-dirs`, describe_log_dirs) with kafka-python's admin client, and their
errors over the wire."""

import pytest
from kio.schema.errors import ErrorCode

from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import committed_offsets_get
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.kafka.conftest import Wire

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(kafka_bootstrap, kafka_staff):
    from kafka import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **kafka_staff.kafka_python())
    yield client
    client.close()


def test_delete_group_offsets_of_an_empty_group(admin):
    from kafka import TopicPartition
    from kafka.errors import NoError, UnknownTopicOrPartitionError

    topic_create(name="od", partitions=2)
    topic_create(name="od.keep", partitions=1)
    offsets_commit(group_id="g", offsets={("od", 0): 5, ("od", 1): 7, ("od.keep", 0): 3})
    result = admin.delete_group_offsets("g", [TopicPartition("od", 0), TopicPartition("od", 1), TopicPartition("od", 9)])
    assert result[TopicPartition("od", 0)] is NoError and result[TopicPartition("od", 1)] is NoError
    assert result[TopicPartition("od", 9)] is UnknownTopicOrPartitionError
    assert set(committed_offsets_get(group_id="g")) == {("od.keep", 0)}


def test_offsets_of_a_subscribed_topic_stay(kafka_bootstrap, admin):
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.errors import GroupSubscribedToTopicError, NoError

    topic_create(name="sub", partitions=1)
    topic_create(name="other", partitions=1)
    records_append(topic="sub", records=[RecordIn(key=None, value=b"v", partition=0)])
    offsets_commit(group_id="live", offsets={("other", 0): 1})
    consumer = KafkaConsumer("sub", bootstrap_servers=kafka_bootstrap, group_id="live", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        while not consumer.assignment():
            consumer.poll(timeout_ms=200)
        consumer.commit({TopicPartition("sub", 0): OffsetAndMetadata(1, "", -1)})
        result = admin.delete_group_offsets("live", [TopicPartition("sub", 0), TopicPartition("other", 0)])
    finally:
        consumer.close()
    assert result[TopicPartition("sub", 0)] is GroupSubscribedToTopicError
    assert result[TopicPartition("other", 0)] is NoError
    assert set(committed_offsets_get(group_id="live")) == {("sub", 0)}


def test_offset_delete_errors_over_the_wire(kafka_bootstrap, staff_wire):
    topic_create(name="w", partitions=1)
    ask = {"topics": [{"name": "w", "partitions": [{"partition_index": 0}]}]}
    r = Wire(kafka_bootstrap).call(47, 0, group_id="nobody", **ask)  # anonymous: not staff
    assert (r.error_code, r.topics) == (ErrorCode.group_authorization_failed, ())
    r = staff_wire.call(47, 0, group_id="missing", **ask)
    assert r.error_code == ErrorCode.group_id_not_found
    r = staff_wire.call(47, 0, group_id="", **ask)
    assert r.error_code == ErrorCode.invalid_group_id


def test_describe_log_dirs_gives_each_partitions_size(admin):
    topic_create(name="ld", partitions=2)
    topic_create(name="ld.other", partitions=1)
    records_append(topic="ld", records=[RecordIn(key=None, value=b"x" * 100, partition=1)])
    [broker] = admin.describe_log_dirs()
    [log_dir] = broker["log_dirs"]
    assert log_dir["error_code"] == 0 and log_dir["log_dir"]
    sizes = {(t["name"], p["partition_index"]): p["partition_size"] for t in log_dir["topics"] for p in t["partitions"]}
    assert sizes[("ld", 0)] == 0 and sizes[("ld", 1)] >= 100 and ("ld.other", 0) in sizes
    [broker] = admin.describe_log_dirs(topic_partitions={"ld": [1]})
    [log_dir] = broker["log_dirs"]
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in log_dir["topics"]] == [("ld", [1])]


def test_describe_log_dirs_v0_as_kafka_3_clients_send_it(staff_wire):
    topic_create(name="old", partitions=1)
    r = staff_wire.call(35, 0, topics=[{"topic": "old", "partitions": [0]}])
    [result] = r.results
    assert result.error_code == 0
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in result.topics] == [("old", [0])]
