"""A client asking for the KIP-848 consumer group protocol (group.protocol=consumer) is told it
is not offered, as a Kafka broker without it tells it, instead of waiting in silence."""

import logging
import time

import pytest
from confluent_kafka import Consumer, KafkaError
from kio.schema.errors import ErrorCode

from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db(transaction=True)


def test_confluent_consumer_protocol_gets_a_fatal_error_and_the_log_names_the_setting(kafka_bootstrap, caplog):
    """librdkafka sends ConsumerGroupHeartbeat only when ApiVersions offers it (without, it
    re-queries the coordinator forever, silently); offered and answered UNSUPPORTED_VERSION, as
    Kafka 3.x answers with the protocol disabled, it raises a fatal error."""
    topic_create(name="k848")
    records_append(topic="k848", records=[RecordIn(value=b"v")])
    errors = []
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "g848", "group.protocol": "consumer",
                         "error_cb": errors.append})
    caplog.set_level(logging.WARNING, logger="brokercore.kafka.server")
    try:
        consumer.subscribe(["k848"])
        deadline = time.monotonic() + 10
        while not errors and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                errors.append(msg.error() or msg.value())  # the fatal error comes as the poll's
    finally:
        consumer.close()
    assert errors, "no error within 10 s: the client waits in silence"
    assert isinstance(errors[0], KafkaError) and errors[0].code() == KafkaError._FATAL, errors
    assert "ConsumerGroupHeartbeat fatal error: Broker: API version not supported" in errors[0].str()
    assert any("group.protocol=consumer" in r.getMessage() and "g848" in r.getMessage() for r in caplog.records)


def test_consumer_group_heartbeat_on_the_wire(wire):
    r = wire.call(68, 0, group_id="g", member_id="", member_epoch=0, instance_id=None, rack_id=None,
                  rebalance_timeout=30000, subscribed_topic_names=["t"], server_assignor=None, topic_partitions=[])
    assert r.error_code == ErrorCode.unsupported_version and "group.protocol=classic" in r.error_message
    assert (r.member_id, r.member_epoch, r.assignment) == (None, -1, None)
