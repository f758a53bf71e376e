"""__consumer_offsets: a real group's commits and generations appear there in Kafka's key/value
schemas (decoded here by hand from Kafka's JSON schemas, not with the broker's encoder), read with
kafka-python; producers, DeleteTopics and CreatePartitions are refused."""

import struct
import time

import pytest
from kio.schema.errors import ErrorCode

from brokercore.coordinator.offsets import offsets_commit, offsets_delete
from brokercore.coordinator.offsets_topic import java_string_hash, offsets_partition
from brokercore.coordinator.sweep import group_delete
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db(transaction=True)


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values[0] if len(values) == 1 else values

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        self.pos += n
        return self.data[self.pos - n:self.pos].decode()

    def bytes(self) -> bytes:
        n = self.take(">i")
        self.pos += n
        return self.data[self.pos - n:self.pos]


def decode(key: bytes, value: bytes | None) -> tuple:
    """Kafka's OffsetCommitKey/GroupMetadataKey and their values (v3), as Burrow reads them."""
    k = Reader(key)
    kind = k.take(">h")
    if kind in (0, 1):
        group, topic, partition = k.string(), k.string(), k.take(">i")
        if value is None:
            return ("offset", group, topic, partition, None)
        v = Reader(value)
        assert v.take(">h") == 3
        offset, epoch = v.take(">q"), v.take(">i")
        metadata, ts = v.string(), v.take(">q")
        assert v.pos == len(value)
        return ("offset", group, topic, partition, (offset, epoch, metadata, ts))
    assert kind == 2
    group = k.string()
    if value is None:
        return ("group", group, None)
    v = Reader(value)
    assert v.take(">h") == 3
    protocol_type, generation, protocol, leader, _ts = v.string(), v.take(">i"), v.string(), v.string(), v.take(">q")
    members = []
    for _ in range(v.take(">i")):
        member_id, _instance, client_id, _host = v.string(), v.string(), v.string(), v.string()
        _rebalance, _session = v.take(">ii")
        members.append((member_id, client_id, v.bytes(), v.bytes()))
    assert v.pos == len(value)
    return ("group", group, (protocol_type, generation, protocol, leader, members))


def read_offsets_topic(bootstrap: str, partition: int, n: int) -> list[tuple]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        consumer.assign([TopicPartition("__consumer_offsets", partition)])
        consumer.seek_to_beginning()
        got, deadline = [], time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got += [decode(r.key, r.value) for r in records]
        return got
    finally:
        consumer.close()


def test_partition_is_kafkas_hash_of_the_group_id():
    assert java_string_hash("hello") == 99162322  # "hello".hashCode() in Java
    assert java_string_hash("polygenelubricants") == -(2**31)  # Integer.MIN_VALUE: Utils.abs gives 0
    assert offsets_partition("polygenelubricants", 50) == 0
    assert offsets_partition("hello", 50) == 22
    assert java_string_hash("a\U0001F600") == (97 * 31 * 31 + 0xD83D * 31 + 0xDE00)  # UTF-16 code units


def test_a_groups_commits_and_generations_in_kafkas_schemas(kafka_bootstrap):
    from confluent_kafka import Consumer, TopicPartition

    topic_create(name="oc", partitions=1)
    records_append(topic="oc", records=[RecordIn(value=b"v%d" % i, partition=0) for i in range(3)])
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "burrow-sees-me", "client.id": "app",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(["oc"])
    try:
        got = 0
        deadline = time.monotonic() + 20
        while got < 3 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                got += 1
        consumer.commit(offsets=[TopicPartition("oc", 0, 3)], asynchronous=False)
    finally:
        consumer.close()
    records = read_offsets_topic(kafka_bootstrap, offsets_partition("burrow-sees-me"), 3)
    commits = [r for r in records if r[0] == "offset"]
    assert [c[1:4] for c in commits] == [("burrow-sees-me", "oc", 0)]
    offset, _epoch, metadata, ts = commits[0][4]
    assert (offset, metadata) == (3, "") and ts > 0
    groups = [r[2] for r in records if r[0] == "group"]
    protocol_type, generation, protocol, leader, [(member_id, client_id, subscription, assignment)] = groups[0]
    assert (protocol_type, generation, protocol, client_id) == ("consumer", 1, "range", "app") and leader == member_id
    assert b"oc" in subscription and b"oc" in assignment
    # Leaving: a generation with no members.
    assert groups[-1][1] == 2 and groups[-1][4] == []


def test_deleted_offsets_and_groups_are_tombstones(kafka_bootstrap):
    topic_create(name="t1", partitions=2)
    offsets_commit(group_id="g", offsets={("t1", 0): 5, ("t1", 1): 6})
    offsets_delete(group_id="g", topic="t1", partitions=[0])
    group_delete(group_id="g")
    records = read_offsets_topic(kafka_bootstrap, offsets_partition("g"), 6)
    assert [(r[0], *r[2:4], r[4] is None) if r[0] == "offset" else (r[0], r[2] is None) for r in records] == [
        ("offset", "t1", 0, False), ("offset", "t1", 1, False), ("offset", "t1", 0, True),
        ("offset", "t1", 1, True), ("group", True),
    ]


def test_clients_cannot_write_delete_or_grow_it(kafka_bootstrap, staff_wire):
    from confluent_kafka import KafkaException, Producer

    offsets_commit(group_id="g", offsets={})  # nothing: the topic does not exist yet
    topic_create(name="x", partitions=1)
    offsets_commit(group_id="g", offsets={("x", 0): 1})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.send.max.retries": 0})
    errors = []
    producer.produce("__consumer_offsets", b"forged", partition=0, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert errors and errors[0] is not None and errors[0].code() == ErrorCode.invalid_topic_exception.value
    with pytest.raises(KafkaException):
        raise KafkaException(errors[0])
    r = staff_wire.call(20, 6, timeout=1000, topics=[{"name": "__consumer_offsets", "topic_id": None}])
    assert r.responses[0].error_code == ErrorCode.invalid_request
    r = staff_wire.call(37, 3, timeout=1000, validate_only=False, topics=[{"name": "__consumer_offsets", "count": 60, "assignments": None}])
    assert r.results[0].error_code == ErrorCode.invalid_request
    meta = staff_wire.call(3, 12, topics=None, allow_auto_topic_creation=False)
    [internal] = [t for t in meta.topics if t.name == "__consumer_offsets"]
    assert internal.is_internal and len(internal.partitions) == 50
