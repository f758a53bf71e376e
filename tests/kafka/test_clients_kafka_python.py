"""kafka-python 3.x (idempotent, acks=all by default) against the listener."""


import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewPartitions, NewTopic

from brokercore.log.append import records_append
from brokercore.log.read import records_fetch
from brokercore.partitioner import murmur2, to_positive
from brokercore.topics.read import topic_describe
from brokercore.types import RecordIn
from tests.kafka.conftest import kafka_python_consume_all

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_produce_keyed_consume_and_console_view(kafka_bootstrap, kafka_staff):
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **kafka_staff.kafka_python())  # topic changes need staff
    try:
        admin.create_topics([NewTopic("kp", num_partitions=3, replication_factor=1)])
        admin.create_partitions({"kp": NewPartitions(4)})
        assert "kp" in admin.list_topics()
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    assert producer.config["enable_idempotence"] and producer.config["acks"] == -1
    keys = [b"user-%d" % i for i in range(40)]
    sent = [producer.send("kp", key=k, value=b"v-" + k, headers=[("src", b"kafka-python")]) for k in keys]
    producer.flush(10)
    metas = [f.get(5) for f in sent]
    producer.close()
    # The producer was idempotent: its batches went through the producer-state path.
    from brokercore.models import ProducerState

    assert ProducerState.objects.filter(partition__topic__name="kp").exists()
    # Java-compatible partitioner: the same key lands where brokercore (console, REST, CLI) puts it.
    assert [m.partition for m in metas] == [to_positive(murmur2(k)) % 4 for k in keys]

    # What the console and REST read (brokercore selectors) holds every record as sent.
    seen = {}
    for p in range(4):
        for r in records_fetch(topic="kp", partition=p, offset=0).records:
            seen[r.key] = (r.partition, r.value, r.headers)
    assert seen == {k: (to_positive(murmur2(k)) % 4, b"v-" + k, (("src", b"kafka-python"),)) for k in keys}

    got = kafka_python_consume_all(kafka_bootstrap, "kp", 4, 40, auto_offset_reset="earliest")
    assert sorted(r.key for r in got) == sorted(keys)
    assert all(r.headers == [("src", b"kafka-python")] for r in got)


def test_consumes_records_appended_by_brokercore(kafka_bootstrap):
    from brokercore.topics.service import topic_create

    topic_create(name="from-console", partitions=2)
    records_append(topic="from-console", records=[RecordIn(key=b"k%d" % i, value=b"console", headers=(("h", None),)) for i in range(10)])
    got = kafka_python_consume_all(kafka_bootstrap, "from-console", 2, 10)
    assert sorted(r.key for r in got) == sorted(b"k%d" % i for i in range(10))
    assert all(r.value == b"console" and r.headers == [("h", None)] for r in got)


def test_gzip_and_auto_created_topic(kafka_bootstrap, kafka_staff):
    # Metadata creates the topic for a staff user only.
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, compression_type="gzip", linger_ms=5,
                             **kafka_staff.kafka_python())
    for i in range(20):
        producer.send("auto-gz", value=b"compressible " * 20, key=b"%d" % i)
    producer.flush(10)
    producer.close()
    assert topic_describe(name="auto-gz").records == 20
    got = kafka_python_consume_all(kafka_bootstrap, "auto-gz", 1, 20)
    assert len(got) == 20 and got[0].value == b"compressible " * 20
