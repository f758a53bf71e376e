"""Fetch as librdkafka (confluent-kafka) reads it: partition errors, response and partition size
limits. librdkafka checks the answer's framing strictly: a field Kafka never sends makes it drop
the whole response."""

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db(transaction=True)


def test_out_of_range_offset_resets_to_earliest(kafka_bootstrap):
    """A partition error in a Fetch answer comes with empty records, as from Kafka: librdkafka
    refused a null records field ("invalid MessageSetSize -1") and never reset the offset."""
    topic_create(name="oor")
    records_append(topic="oor", records=[RecordIn(value=b"v%d" % i) for i in range(5)])
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "oor-reset", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
    try:
        consumer.assign([TopicPartition("oor", 0, 100)])  # past the high watermark (5)
        got, deadline = [], time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append(msg.offset())
    finally:
        consumer.close()
    assert got == [0, 1, 2, 3, 4]


def test_batches_over_fetch_max_bytes_come_one_response_at_a_time(kafka_bootstrap, wire):
    """fetch.max.bytes bounds a response but its first batch (KIP-74). A partition whose next
    batch does not fit in what is left of the response answers nothing and keeps its position:
    an empty batch up to the watermark (as after compaction) made librdkafka skip its records."""
    topic_create(name="big", partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    for i in range(4):
        producer.produce("big", value=bytes([i]) * 900_000, partition=i % 2)
        producer.flush(10)

    r = wire.call(1, 12, max_wait=0, min_bytes=1, max_bytes=1_000_000, isolation_level=0, session_id=0,
                  session_epoch=-1, forgotten_topics_data=[],
                  topics=[{"topic": "big", "partitions": [{"partition": p, "fetch_offset": 0, "partition_max_bytes": 1 << 20}
                                                          for p in (0, 1)]}])
    first, second = r.responses[0].partitions
    assert 900_000 < len(first.records) < 1_000_000 and (second.error_code, second.records) == (0, b"")

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "big-read", "enable.auto.commit": False,
                         "fetch.max.bytes": 1_000_000, "fetch.wait.max.ms": 100})
    try:
        consumer.assign([TopicPartition("big", p, 0) for p in (0, 1)])
        got, deadline = [], time.monotonic() + 10
        while len(got) < 4 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append((msg.partition(), msg.offset(), len(msg.value())))
    finally:
        consumer.close()
    assert sorted(got) == [(0, 0, 900_000), (0, 1, 900_000), (1, 0, 900_000), (1, 1, 900_000)]
