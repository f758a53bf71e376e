"""Topic and broker configs through unmodified Kafka admin clients: confluent-kafka (librdkafka),
kafka-python and KafkaJS create topics with any Kafka topic config, describe configs with Kafka's
sources and synonyms, and change them with AlterConfigs and IncrementalAlterConfigs."""

import pytest
from django.conf import settings

from brokercore.log.append import records_append
from brokercore.topics.read import topic_describe
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.kafka.conftest import confluent_consume_all, user_create

pytestmark = pytest.mark.django_db(transaction=True)

# What Kafka Streams, Terraform and `kafka-topics --config` set on the topics they create.
STREAMS_CONFIGS = {
    "cleanup.policy": "compact", "segment.bytes": "52428800", "segment.ms": "600000",
    "compression.type": "lz4", "min.compaction.lag.ms": "1000", "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.1", "retention.ms": "-1",
}


def _confluent_admin(bootstrap: str, credentials=None):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, **(credentials.confluent() if credentials else {})})


def _result(future):
    from confluent_kafka import KafkaException

    try:
        return future.result(timeout=10)
    except KafkaException as e:
        return e.args[0]


def test_confluent_creates_with_kafka_configs_and_describes_sources_and_synonyms(kafka_bootstrap, kafka_staff):
    from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic

    admin = _confluent_admin(kafka_bootstrap, kafka_staff)
    futures = admin.create_topics([NewTopic("streams-repartition", 2, 1, config=STREAMS_CONFIGS)])
    assert _result(futures["streams-repartition"]) is None
    assert topic_describe(name="streams-repartition").overrides == STREAMS_CONFIGS

    (future,) = admin.describe_configs([ConfigResource("topic", "streams-repartition")]).values()
    configs = future.result(timeout=10)
    assert configs["segment.bytes"].value == "52428800"
    assert configs["segment.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not configs["segment.bytes"].is_read_only
    retention = configs["retention.bytes"]
    assert (retention.value, retention.source) == ("-1", ConfigSource.DEFAULT_CONFIG.value)
    # Every topic config of Kafka, each synonym naming the broker config it defaults from.
    assert len(configs) == 36
    synonyms = configs["retention.ms"].synonyms
    assert [(s.name, s.value, s.source) for s in synonyms.values()] == [
        ("retention.ms", "-1", ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG.value),
    ]


def test_confluent_refuses_bad_values_with_kafkas_message(kafka_bootstrap, kafka_staff):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    admin = _confluent_admin(kafka_bootstrap, kafka_staff)
    futures = admin.create_topics([
        NewTopic("bad-segment", 1, 1, config={"segment.bytes": "10"}),
        NewTopic("bad-codec", 1, 1, config={"compression.type": "brotli"}),
        NewTopic("bad-name", 1, 1, config={"segment.byte": "1000"}),
    ])
    errors = {name: _result(f) for name, f in futures.items()}
    assert all(e.code() == KafkaError.INVALID_CONFIG for e in errors.values()), errors
    assert errors["bad-segment"].str() == "Invalid value 10 for configuration segment.bytes: Value must be at least 14"
    assert "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer" in errors["bad-codec"].str()
    assert errors["bad-name"].str() == "Unknown topic config name: segment.byte"


def test_confluent_incremental_and_legacy_alter(kafka_bootstrap, kafka_staff):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    topic_create(name="alt", partitions=1, configs={"segment.ms": "600000", "retention.ms": "1000"})
    admin = _confluent_admin(kafka_bootstrap, kafka_staff)

    def incremental(*entries, validate_only=False):
        resource = ConfigResource("topic", "alt", incremental_configs=list(entries))
        (f,) = admin.incremental_alter_configs([resource], validate_only=validate_only).values()
        return _result(f)

    assert incremental(
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("segment.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ) is None
    assert topic_describe(name="alt").overrides == {"retention.ms": "60000", "cleanup.policy": "delete,compact"}
    assert incremental(ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)) is None
    assert topic_describe(name="alt").overrides["cleanup.policy"] == "compact"

    refused = incremental(ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.APPEND))
    assert refused.code() == KafkaError.INVALID_CONFIG
    assert refused.str() == "Can't APPEND to key retention.ms because its type is not LIST."
    refused = incremental(ConfigEntry("min.insync.replicas", "0", incremental_operation=AlterConfigOpType.SET))
    assert refused.str() == "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"
    assert incremental(ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.SET),
                       validate_only=True) is None
    assert topic_describe(name="alt").overrides == {"retention.ms": "60000", "cleanup.policy": "compact"}

    # AlterConfigs (not incremental) makes the given set the whole set of overrides, as Kafka.
    (f,) = admin.alter_configs([ConfigResource("topic", "alt", set_config={"segment.bytes": "1048576"})]).values()
    assert _result(f) is None
    assert topic_describe(name="alt").overrides == {"segment.bytes": "1048576"}

    (f,) = admin.incremental_alter_configs([ConfigResource("topic", "nope", incremental_configs=[
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])]).values()
    assert _result(f).code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_confluent_broker_configs_dynamic_and_effective_for_topics(kafka_bootstrap, kafka_staff, staff_wire):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

    topic_create(name="plain", partitions=1)
    admin = _confluent_admin(kafka_bootstrap, kafka_staff)
    node = str(settings.BROKER["NODE_ID"])
    (f,) = admin.describe_configs([ConfigResource("broker", node)]).values()
    configs = f.result(timeout=10)
    assert configs["log.retention.hours"].value == "168" and configs["log.retention.hours"].is_read_only
    assert configs["log.retention.ms"].value is None and not configs["log.retention.ms"].is_read_only
    assert configs["num.partitions"].source == ConfigSource.STATIC_BROKER_CONFIG.value

    def alter(name, *entries):
        resource = ConfigResource("broker", name, incremental_configs=list(entries))
        (f,) = admin.incremental_alter_configs([resource]).values()
        return _result(f)

    # The cluster-wide default (resource name "", which librdkafka cannot name), on the wire.
    answer = staff_wire.call(44, 1, validate_only=False, resources=[{"resource_type": 4, "resource_name": "", "configs": [
        {"name": "log.retention.ms", "config_operation": 0, "value": "3600000"}]}])
    assert int(answer.responses[0].error_code) == 0, answer
    assert alter(node, ConfigEntry("log.retention.bytes", "1000000", incremental_operation=AlterConfigOpType.SET)) is None
    (f,) = admin.describe_configs([ConfigResource("topic", "plain")]).values()
    topic = f.result(timeout=10)
    assert (topic["retention.ms"].value, topic["retention.ms"].source) == (
        "3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert (topic["retention.bytes"].value, topic["retention.bytes"].source) == (
        "1000000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert [s.name for s in topic["retention.ms"].synonyms.values()] == ["log.retention.ms", "log.retention.hours"]
    (f,) = admin.describe_configs([ConfigResource("broker", node)]).values()
    assert f.result(timeout=10)["log.retention.bytes"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value

    refused = alter(node, ConfigEntry("log.retention.hours", "1", incremental_operation=AlterConfigOpType.SET))
    assert refused.code() == KafkaError.INVALID_REQUEST
    assert refused.str() == "Cannot update these configs dynamically: Set(log.retention.hours)"
    refused = alter(node, ConfigEntry("log.retention.ms", "soon", incremental_operation=AlterConfigOpType.SET))
    assert refused.code() == KafkaError.INVALID_CONFIG


def test_non_staff_may_describe_but_not_alter(kafka_bootstrap, kafka_user):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    topic_create(name="guarded", partitions=1)
    admin = _confluent_admin(kafka_bootstrap, kafka_user)
    (f,) = admin.describe_configs([ConfigResource("topic", "guarded")]).values()
    assert f.result(timeout=10)["retention.ms"].value == "604800000"
    entry = [ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)]
    (f,) = admin.incremental_alter_configs([ConfigResource("topic", "guarded", incremental_configs=entry)]).values()
    assert _result(f).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    entry = [ConfigEntry("log.retention.ms", "1", incremental_operation=AlterConfigOpType.SET)]
    node = str(settings.BROKER["NODE_ID"])
    (f,) = admin.incremental_alter_configs([ConfigResource("broker", node, incremental_configs=entry)]).values()
    assert _result(f).code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    assert topic_describe(name="guarded").overrides == {}


def test_duplicate_resources_are_invalid_request_for_every_copy(staff_wire):
    topic_create(name="dup", partitions=1)
    resource = {"resource_type": 2, "resource_name": "dup",
                "configs": [{"name": "retention.ms", "config_operation": 0, "value": "1"}]}
    other = {"resource_type": 2, "resource_name": "nope", "configs": []}
    answer = staff_wire.call(44, 1, resources=[resource, other, resource], validate_only=False)
    assert [(r.resource_name, int(r.error_code)) for r in answer.responses] == [("dup", 42), ("nope", 3), ("dup", 42)]
    assert answer.responses[0].error_message == "Each resource must appear at most once."
    answer = staff_wire.call(33, 0, resources=[{"resource_type": 2, "resource_name": "dup", "configs": [
        {"name": "retention.ms", "value": "1"}, {"name": "retention.ms", "value": "2"}]}], validate_only=False)
    assert (int(answer.responses[0].error_code), answer.responses[0].error_message) == (
        42, "Error due to duplicate config keys")
    assert topic_describe(name="dup").overrides == {}


def test_kafka_python_admin_creates_alters_and_describes(kafka_bootstrap, kafka_staff):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **kafka_staff.kafka_python())
    try:
        admin.create_topics([NewTopic("kp-cfg", 1, 1, topic_configs={"segment.bytes": "1048576", "flush.ms": "1000"})])
        assert topic_describe(name="kp-cfg").overrides == {"segment.bytes": "1048576", "flush.ms": "1000"}
        result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-cfg", configs={"retention.ms": "2000"})])
        assert result == {"topic": {"kp-cfg": "OK"}}
        assert topic_describe(name="kp-cfg").overrides["retention.ms"] == "2000"
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-cfg")], config_filter="all")
        configs = described["topic"]["kp-cfg"]
        assert configs["retention.ms"]["value"] == "2000" and configs["segment.ms"]["value"] == "604800000"
    finally:
        admin.close()


KAFKAJS_SCRIPT = """
const { Kafka, ConfigResourceTypes, logLevel } = require("kafkajs");
const kafka = new Kafka({ clientId: "kjs-cfg", brokers: [process.env.BOOTSTRAP], logLevel: logLevel.NOTHING,
  sasl: { mechanism: "plain", username: process.env.USERNAME, password: process.env.PASSWORD } });
(async () => {
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic: "kjs-cfg", numPartitions: 1, configEntries: [
    { name: "segment.bytes", value: "1048576" }, { name: "compression.type", value: "zstd" },
    { name: "min.compaction.lag.ms", value: "5000" } ] }] });
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "kjs-cfg",
    configEntries: [{ name: "retention.ms", value: "86400000" }, { name: "segment.bytes", value: "2097152" }] }] });
  const described = await admin.describeConfigs({ includeSynonyms: true, resources: [
    { type: ConfigResourceTypes.TOPIC, name: "kjs-cfg", configNames: ["retention.ms", "segment.bytes", "segment.ms"] }] });
  let refused = null;
  try {
    await admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "kjs-cfg",
      configEntries: [{ name: "retention.ms", value: "forever" }] }] });
  } catch (e) { refused = { type: e.type, message: e.message }; }
  await admin.disconnect();
  const entries = described.resources[0].configEntries.map((c) => ({ name: c.configName, value: c.configValue,
    source: c.configSource, synonyms: c.configSynonyms.map((s) => s.configName) }));
  console.log(JSON.stringify({ created, entries, refused }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_kafkajs_creates_with_config_entries_alters_and_describes(kafkajs, kafka_bootstrap):
    user, password, token = user_create(staff=True)
    out = kafkajs.run(KAFKAJS_SCRIPT, env={"BOOTSTRAP": kafka_bootstrap, "USERNAME": user.username, "PASSWORD": token})
    assert out["created"] is True
    # alterConfigs is Kafka's AlterConfigs: the set given replaces the topic's overrides.
    assert topic_describe(name="kjs-cfg").overrides == {"retention.ms": "86400000", "segment.bytes": "2097152"}
    entries = {e["name"]: e for e in out["entries"]}
    assert set(entries) == {"retention.ms", "segment.bytes", "segment.ms"}
    assert (entries["retention.ms"]["value"], entries["retention.ms"]["source"]) == ("86400000", 1)
    assert (entries["segment.ms"]["value"], entries["segment.ms"]["source"]) == ("604800000", 5)
    assert entries["segment.ms"]["synonyms"] == ["log.roll.hours"]
    assert out["refused"]["type"] == "INVALID_CONFIG"


@pytest.mark.parametrize(("topic_codec", "producer_codec", "stored"), [
    ("gzip", "none", "gzip"), ("uncompressed", "lz4", "none"), ("zstd", "snappy", "zstd"), ("producer", "lz4", "lz4"),
])
def test_compression_type_recompresses_as_kafka_does(kafka_bootstrap, topic_codec, producer_codec, stored):
    """A topic's compression.type is the codec its batches are stored with, whatever the producer
    used ('producer' keeps theirs); consumers read the records back either way."""
    from confluent_kafka import Producer

    from brokercore.log.batch import CODECS, COMPRESSION_MASK
    from brokercore.log.read import records_fetch
    from brokercore.models import RecordBatch

    topic_create(name="cmp", partitions=1, configs={"compression.type": topic_codec})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "compression.type": producer_codec, "linger.ms": 50})
    for i in range(20):
        producer.produce("cmp", key=b"k%d" % i, value=b"value-%d " % i * 10, partition=0)
    assert producer.flush(10) == 0
    records_append(topic="cmp", records=[RecordIn(key=b"console", value=b"typed in the console", partition=0)])
    codecs = {CODECS[a & COMPRESSION_MASK] for a in RecordBatch.objects.values_list("attributes", flat=True)}
    # The console's records come uncompressed: a topic that keeps the producer's codec keeps that too.
    assert codecs == ({stored} if topic_codec != "producer" else {"lz4", "none"})
    got = confluent_consume_all(kafka_bootstrap, "cmp", 1, 21)
    assert [m.key() for m in got] == [b"k%d" % i for i in range(20)] + [b"console"]
    assert len(records_fetch(topic="cmp", partition=0, offset=0).records) == 21
