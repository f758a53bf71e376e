"""aiokafka against the listener (in the test's own event loop; the listener runs in its thread)."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from brokercore.log.read import records_fetch
from brokercore.partitioner import murmur2, to_positive

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_produce_and_consume(kafka_bootstrap, kafka_staff):
    keys = asyncio.run(_roundtrip(kafka_bootstrap, kafka_staff))
    stored = [r.key for p in range(2) for r in records_fetch(topic="aio", partition=p, offset=0).records]
    assert sorted(stored) == sorted(keys)


async def _roundtrip(bootstrap, staff):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **staff.kafka_python())  # creating topics needs staff
    await admin.start()
    try:
        await admin.create_topics([NewTopic("aio", num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, compression_type="gzip")
    await producer.start()
    try:
        keys = [b"a%d" % i for i in range(20)]
        metas = [await producer.send_and_wait("aio", key=k, value=b"x" + k) for k in keys]
    finally:
        await producer.stop()
    assert [m.partition for m in metas] == [to_positive(murmur2(k)) % 2 for k in keys]

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        consumer.assign([TopicPartition("aio", 0), TopicPartition("aio", 1)])
        await consumer.seek_to_beginning()
        got = []
        async with asyncio.timeout(10):
            while len(got) < 20:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got += records
    finally:
        await consumer.stop()
    assert sorted(r.key for r in got) == sorted(keys)
    return keys
