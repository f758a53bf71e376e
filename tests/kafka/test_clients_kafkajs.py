"""KafkaJS (npm, tests/js) against the listener: admin, producer and a consumer group."""

import pytest

from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = """
const { Kafka, logLevel } = require("kafkajs");
const kafka = new Kafka({ clientId: "kjs", brokers: [process.env.BOOTSTRAP], logLevel: logLevel.NOTHING });
(async () => {
  const admin = kafka.admin();
  await admin.connect();
  const topics = await admin.listTopics();
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: "kjs", messages: [{ key: "k1", value: "hello" }, { key: "k2", value: "world" }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: "kjs-group" });
  await consumer.connect();
  await consumer.subscribe({ topic: "kjs", fromBeginning: true });
  const got = [];
  await new Promise((resolve) => {
    consumer.run({ eachMessage: async ({ message }) => {
      got.push(message.value.toString());
      if (got.length === 2) resolve();
    } });
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ topics, got }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_kafkajs_lists_produces_and_consumes_in_a_group(kafkajs, kafka_bootstrap):
    topic_create(name="kjs", partitions=1)
    out = kafkajs.run(SCRIPT, env={"BOOTSTRAP": kafka_bootstrap})
    assert "kjs" in out["topics"]
    assert sorted(out["got"]) == ["hello", "world"]
    assert [r.value for r in records_fetch(topic="kjs", partition=0, offset=0).records] == [b"hello", b"world"]
