"""Fetch as librdkafka (confluent-kafka) reads it: partition errors, response and partition size
limits. librdkafka checks the answer's framing strictly: a field Kafka never sends makes it drop
the whole response."""

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

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
