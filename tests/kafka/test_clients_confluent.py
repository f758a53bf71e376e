"""confluent-kafka (librdkafka) against the listener: admin, every compression codec, keys."""


import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from brokercore.log.append import records_append
from brokercore.log.read import records_fetch
from brokercore.partitioner import murmur2, to_positive
from brokercore.topics.read import topic_describe
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.kafka.conftest import confluent_consume_all

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_client(kafka_bootstrap, kafka_staff):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, **kafka_staff.confluent()})  # topic changes need staff
    for f in admin.create_topics([NewTopic("ck", 2, 1, config={"retention.ms": "60000"})]).values():
        f.result(10)
    dup = admin.create_topics([NewTopic("ck", 2, 1)])["ck"]
    with pytest.raises(Exception, match="TOPIC_ALREADY_EXISTS"):
        dup.result(10)
    for f in admin.create_partitions([NewPartitions("ck", 3)]).values():
        f.result(10)
    assert len(topic_describe(name="ck").partitions) == 3
    configs = admin.describe_configs([ConfigResource("topic", "ck")])
    entries = next(iter(configs.values())).result(10)
    assert entries["retention.ms"].value == "60000" and entries["cleanup.policy"].value == "delete"
    cluster = admin.describe_cluster().result(10)
    assert [n.id for n in cluster.nodes] == [1]
    md = admin.list_topics(timeout=10)
    assert len(md.topics["ck"].partitions) == 3
    for f in admin.delete_topics(["ck"]).values():
        f.result(10)
    assert "ck" not in admin.list_topics(timeout=10).topics


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_every_codec_with_java_compatible_keys(kafka_bootstrap, codec):
    topic_create(name="cc", partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "compression.codec": codec,
                         "partitioner": "murmur2_random", "enable.idempotence": True, "linger.ms": 5})
    delivered = []
    keys = [b"key-%d" % i for i in range(30)]
    for k in keys:
        producer.produce("cc", key=k, value=b"value " * 10, headers=[("codec", codec.encode())],
                         on_delivery=lambda err, msg: delivered.append((err, msg.key(), msg.partition())))
    assert producer.flush(10) == 0
    assert all(err is None for err, _, _ in delivered)
    assert {k: p for _, k, p in delivered} == {k: to_positive(murmur2(k)) % 3 for k in keys}
    stored = [r for p in range(3) for r in records_fetch(topic="cc", partition=p, offset=0).records]
    assert sorted(r.key for r in stored) == sorted(keys)
    assert stored[0].headers == (("codec", codec.encode()),)
    got = confluent_consume_all(kafka_bootstrap, "cc", 3, 30)
    assert sorted(m.key() for m in got) == sorted(keys)


def test_consumes_records_appended_by_brokercore(kafka_bootstrap):
    topic_create(name="rest-made")
    records_append(topic="rest-made", records=[RecordIn(key=b"k", value=b"v%d" % i, timestamp=1_700_000_000_000 + i) for i in range(5)])
    got = confluent_consume_all(kafka_bootstrap, "rest-made", 1, 5)
    assert [(m.offset(), m.value(), m.timestamp()[1]) for m in got] == [(i, b"v%d" % i, 1_700_000_000_000 + i) for i in range(5)]
