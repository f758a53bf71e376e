"""Committed offsets as real clients commit them: what Kafka stores (negative logical offsets,
any metadata string) and who may commit (Kafka's validateOffsetCommit)."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from brokercore.coordinator.lag import groups_lag_totals
from brokercore.coordinator.offsets import kafka_offsets_fetch, offsets_commit
from brokercore.coordinator.read import group_describe
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db(transaction=True)

KAFKAJS = """
const { Kafka, logLevel } = require("kafkajs");
const kafka = new Kafka({ clientId: "kjs", brokers: [process.env.BOOTSTRAP], logLevel: logLevel.NOTHING });
(async () => {
%s
})().catch((e) => { console.error(e); process.exit(1); });
"""

RESET = KAFKAJS % """
  const admin = kafka.admin();
  await admin.connect();
  await admin.resetOffsets({ groupId: "reset", topic: "rs", earliest: true });
  const offsets = await admin.fetchOffsets({ groupId: "reset", topics: ["rs"] });
  await admin.disconnect();
  console.log(JSON.stringify({ offsets: offsets[0].partitions.map((p) => p.offset) }));
"""

CONSUME = KAFKAJS % """
  const consumer = kafka.consumer({ groupId: "reset" });
  await consumer.connect();
  await consumer.subscribe({ topic: "rs", fromBeginning: true });  // how KafkaJS reads a committed -2
  const got = [];
  await new Promise((resolve) => {
    consumer.run({ eachMessage: async ({ message }) => {
      got.push(Number(message.offset));
      if (got.length === 3) resolve();
    } });
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ got }));
"""


def test_kafkajs_reset_offsets_to_earliest_commits_minus_two(kafkajs, kafka_bootstrap):
    """KafkaJS resets a group by committing the logical offset -2 (earliest), which Kafka stores
    as given; it was refused with OFFSET_OUT_OF_RANGE and resetOffsets retried forever."""
    topic_create(name="rs", partitions=1)
    records_append(topic="rs", records=[RecordIn(value=b"v%d" % i) for i in range(3)])
    offsets_commit(group_id="reset", offsets={("rs", 0): 3})
    # It hung: the commit was refused (OFFSET_OUT_OF_RANGE) and the script ended without an answer.
    assert kafkajs.run(RESET, env={"BOOTSTRAP": kafka_bootstrap}, timeout=30) == {"offsets": ["-2"]}
    assert kafka_offsets_fetch(group_id="reset", partitions=[("rs", 0)])[0].offset == -2
    # Shown as committed, with no lag: where the group resumes is the client's choice.
    [p] = group_describe(group_id="reset").partitions
    assert (p.committed, p.lag) == (-2, None)
    out = StringIO()
    call_command("groups", "describe", "reset", stdout=out)
    assert re.search(r"reset\s+rs\s+0\s+-2\s+3\s+-\s", out.getvalue())
    assert groups_lag_totals()["reset"] == 0
    assert kafkajs.run(CONSUME, env={"BOOTSTRAP": kafka_bootstrap}, timeout=30) == {"got": [0, 1, 2]}


def test_commit_metadata_is_stored_as_sent_and_its_size_limited(kafka_bootstrap, settings):
    """Any string Kafka accepts is stored: a NUL in it closed the connection on PostgreSQL, whose
    text columns refuse it. offset.metadata.max.bytes counts as Kafka counts (Java's String
    length) and answers OFFSET_METADATA_TOO_LARGE for that partition only."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import OffsetMetadataTooLargeError
    from kafka.structs import OffsetAndMetadata

    settings.BROKER = {**settings.BROKER, "OFFSET_METADATA_MAX_BYTES": 8}
    topic_create(name="md", partitions=1)
    tp = TopicPartition("md", 0)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id="md", enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(5, "a\x00b€\U0001F600", -1)})  # 6 UTF-16 units, 10 bytes
        assert consumer.committed(tp, metadata=True) == OffsetAndMetadata(5, "a\x00b€\U0001F600", -1)
        with pytest.raises(OffsetMetadataTooLargeError):
            consumer.commit({tp: OffsetAndMetadata(6, "x" * 9, -1)})
        assert consumer.committed(tp) == 5
    finally:
        consumer.close()
    assert kafka_offsets_fetch(group_id="md", partitions=[("md", 0)])[0].metadata == "a\x00b€\U0001F600"


def _commit(wire, group, member_id, generation, offset):
    r = wire.call(8, 8, group_id=group, generation_id_or_member_epoch=generation, member_id=member_id, topics=[
        {"name": "lv", "partitions": [{"partition_index": 0, "committed_offset": offset, "committed_metadata": None}]}])
    return r.topics[0].partitions[0].error_code


def test_who_may_commit_after_members_leave(kafka_bootstrap, wire):
    """Kafka's validateOffsetCommit: a member that left gets UNKNOWN_MEMBER_ID whatever it names
    (librdkafka commits with no member id but its last generation), while a commit with
    generation -1 to an Empty group is a simple commit, whatever member id it carries."""
    from confluent_kafka import Consumer, KafkaException
    from confluent_kafka import TopicPartition as TP
    from kio.schema.errors import ErrorCode

    from tests.kafka.test_groups_wire import until

    topic_create(name="lv", partitions=2)
    config = {"bootstrap.servers": kafka_bootstrap, "group.id": "lv", "enable.auto.commit": False,
              "heartbeat.interval.ms": 100}
    leaving, staying = Consumer(config), Consumer(config)
    try:
        for c in (leaving, staying):
            c.subscribe(["lv"])
        until(lambda: [c.poll(0.05) for c in (leaving, staying)] and len(leaving.assignment()) == 1
              and len(staying.assignment()) == 1)
        member_id = leaving.memberid()
        leaving.commit(offsets=[TP("lv", 0, 1)], asynchronous=False)
        leaving.unsubscribe()  # LeaveGroup
        until(lambda: leaving.poll(0.05) is None and not leaving.assignment())
        with pytest.raises(KafkaException, match="UNKNOWN_MEMBER_ID"):
            leaving.commit(offsets=[TP("lv", 0, 2)], asynchronous=False)
        assert _commit(wire, "lv", member_id, -1, 3) == ErrorCode.unknown_member_id  # the group is not Empty
        assert _commit(wire, "lv", "", -1, 3) == ErrorCode.unknown_member_id
    finally:
        leaving.close()
        staying.close()
    until(lambda: group_describe(group_id="lv").state == "Empty")
    assert _commit(wire, "lv", member_id, -1, 4) == ErrorCode.none  # refused as UNKNOWN_MEMBER_ID before
    assert _commit(wire, "lv", member_id, 5, 5) == ErrorCode.unknown_member_id
    assert kafka_offsets_fetch(group_id="lv", partitions=[("lv", 0)])[0].offset == 4
