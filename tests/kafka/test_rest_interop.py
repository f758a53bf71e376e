"""Kafka clients and the REST proxy share one log: what one writes, the other reads."""

import base64

from confluent_kafka import Consumer, Producer, TopicPartition
from django.contrib.auth import get_user_model

from brokercore.topics.service import topic_create
from console.api.tokens import token_create
from tests.api.conftest import RestClient

BINARY = "application/vnd.kafka.binary.v2+json"


def _rest():
    user = get_user_model().objects.create_user(username="ops", password="x", is_staff=True)
    return RestClient(token_create(user=user, name="tests")[1])


def test_kafka_produced_records_are_read_over_rest_and_rest_records_by_a_kafka_consumer(kafka_bootstrap):
    topic_create(name="interop", partitions=3)
    rest = _rest()

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random", "linger.ms": 1})
    for i in range(6):
        producer.produce("interop", key=b"from-kafka-%d" % i, value=b"k%d" % i)
    assert producer.flush(10) == 0

    # A REST v2 consumer (binary) reads every record the Kafka producer wrote.
    created = rest.send("POST", "/rest/consumers/interop-readers",
                        {"name": "r", "format": "binary", "auto.offset.reset": "earliest"}).json()
    base = f"/rest/consumers/interop-readers/instances/{created['instance_id']}"
    assert rest.send("POST", f"{base}/subscription", {"topics": ["interop"]}).status_code == 204
    seen = {}
    for _ in range(10):
        for r in rest.send("GET", f"{base}/records?timeout=200", accept=BINARY).json():
            seen[base64.b64decode(r["key"])] = (r["partition"], base64.b64decode(r["value"]))
        if len(seen) == 6:
            break
    assert {k: v for k, (_, v) in seen.items()} == {b"from-kafka-%d" % i: b"k%d" % i for i in range(6)}

    # Records produced over REST: a Kafka consumer reads them at the partitions and offsets REST
    # reported.
    answer = rest.send("POST", "/rest/topics/interop", {"records": [
        {"key": base64.b64encode(b"from-rest-%d" % i).decode(), "value": base64.b64encode(b"r%d" % i).decode()}
        for i in range(6)
    ]}, content_type=BINARY).json()
    reported = {(o["partition"], o["offset"]) for o in answer["offsets"]}
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "interop-check", "enable.auto.commit": False})
    consumer.assign([TopicPartition("interop", p, 0) for p in range(3)])
    got = {}
    try:
        for _ in range(20):
            for m in consumer.consume(num_messages=100, timeout=0.5):
                if m.error() is None and m.key().startswith(b"from-rest-"):
                    got[m.key()] = (m.partition(), m.offset(), m.value())
            if len(got) == 6:
                break
    finally:
        consumer.close()
    assert {v for _, _, v in got.values()} == {b"r%d" % i for i in range(6)}
    assert {(p, o) for p, o, _ in got.values()} == reported
    # librdkafka with murmur2_random puts each of those keys on the partition REST chose.
    placed = {}
    for key in got:
        producer.produce("interop", key=key, value=b"again",
                         on_delivery=lambda err, msg: placed.__setitem__(msg.key(), msg.partition()))
    assert producer.flush(10) == 0
    assert placed == {key: partition for key, (partition, _, _) in got.items()}
