"""Topic configs and the broker configs they default from, as Kafka 3.9 defines and resolves them."""

import pytest

from brokercore.cluster.read import BrokerConfig
from brokercore.configdef import ConfigSource, ConfigType
from brokercore.errors import InvalidConfig, InvalidRequest
from brokercore.topics.config_table import BROKER_LOG_KEYS, TOPIC_KEYS
from brokercore.topics.configs import (
    APPEND,
    CONFIG_NAMES,
    DELETE,
    SET,
    SUBTRACT,
    ConfigOp,
    LogConfig,
    broker_config_entries,
    broker_configs_check,
    config_entries,
    config_value_parse,
    configs_apply,
    configs_parse,
)
from brokercore.topics.service import broker_configs_alter

# Resolution reads the dynamic broker configs, so every test has a database.
pytestmark = pytest.mark.django_db

# `kafka-configs --describe --all` on a Kafka 3.9 topic (LogConfig.configNames()).
KAFKA_39_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.downconversion.enable", "message.format.version", "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms", "message.timestamp.type",
    "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
    "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
}


def test_every_kafka_topic_config_is_known_with_kafkas_default():
    assert set(CONFIG_NAMES) == KAFKA_39_TOPIC_CONFIGS
    values = {e.name: e.value for e in config_entries({})}
    assert values["segment.bytes"] == "1073741824"
    assert values["segment.ms"] == "604800000"  # log.roll.hours=168, in milliseconds
    assert values["retention.ms"] == "604800000"
    assert values["min.cleanable.dirty.ratio"] == "0.5"
    assert values["max.compaction.lag.ms"] == str(2**63 - 1)
    assert values["compression.type"] == "producer"
    assert values["compression.gzip.level"] == "-1"
    assert values["preallocate"] == "false"
    assert values["leader.replication.throttled.replicas"] == ""
    # Every synonym a topic config names is a broker config of the table.
    assert all(name in BROKER_LOG_KEYS for k in TOPIC_KEYS.values() for name, _ in k.synonyms)


def test_entries_say_whether_this_broker_applies_them():
    entries = {e.name: e for e in config_entries({})}
    applied = {n for n, e in entries.items() if e.applied}
    assert {"retention.ms", "retention.bytes", "cleanup.policy", "max.message.bytes", "min.insync.replicas",
            "message.timestamp.type", "message.timestamp.before.max.ms", "min.compaction.lag.ms",
            "compression.type"} <= applied
    assert "segment files" in entries["segment.bytes"].effect
    assert not entries["compression.gzip.level"].applied and not entries["unclean.leader.election.enable"].applied


def test_override_then_broker_synonyms_most_specific_first():
    ms = next(e for e in config_entries({"retention.ms": "1000"}) if e.name == "retention.ms")
    assert (ms.value, ms.source, ms.is_default, ms.read_only, ms.type) == (
        "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG, False, False, ConfigType.LONG,
    )
    assert [(s.name, s.value, s.source) for s in ms.synonyms] == [
        ("retention.ms", "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]
    (policy,) = config_entries({}, names={"cleanup.policy", "nope"})
    assert (policy.value, policy.source, policy.type) == ("delete", ConfigSource.DEFAULT_CONFIG, ConfigType.LIST)
    assert [(s.name, s.source) for s in policy.synonyms] == [("log.cleanup.policy", ConfigSource.DEFAULT_CONFIG)]


def test_message_max_bytes_defaults_from_the_static_broker_setting(settings):
    settings.BROKER = {**settings.BROKER, "MESSAGE_MAX_BYTES": 2_000_000}
    (e,) = config_entries({}, names={"max.message.bytes"})
    assert (e.value, e.source) == ("2000000", ConfigSource.STATIC_BROKER_CONFIG)
    assert [(s.name, s.value, s.source) for s in e.synonyms] == [
        ("message.max.bytes", "2000000", ConfigSource.STATIC_BROKER_CONFIG),
        ("message.max.bytes", "1048588", ConfigSource.DEFAULT_CONFIG),
    ]
    assert LogConfig.from_overrides({}).max_message_bytes == 2_000_000


@pytest.mark.django_db(transaction=True)
def test_dynamic_broker_configs_are_topic_defaults_node_level_first(settings):
    broker_configs_alter(node_id=None, ops=[ConfigOp("log.retention.ms", SET, "5000")])
    (e,) = config_entries({}, names={"retention.ms"})
    assert (e.value, e.source) == ("5000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    assert LogConfig.from_overrides({}).retention_ms == 5000
    node = settings.BROKER["NODE_ID"]
    broker_configs_alter(node_id=node, ops=[ConfigOp("log.retention.ms", SET, "7000")])
    (e,) = config_entries({}, names={"retention.ms"})
    assert (e.value, e.source) == ("7000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert [(s.value, s.source) for s in e.synonyms] == [
        ("7000", ConfigSource.DYNAMIC_BROKER_CONFIG), ("5000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("168", ConfigSource.DEFAULT_CONFIG),
    ]
    # The topic's own override still wins, and another node does not see this node's level.
    assert LogConfig.from_overrides({"retention.ms": "1"}).retention_ms == 1
    # The broker's own entry: dynamic (not read-only), with its synonyms (brokerConfigSynonyms).
    entries = {x.name: x for x in broker_config_entries([BrokerConfig("num.partitions", "1", "int", "P.")], node_id=node)}
    ms = entries["log.retention.ms"]
    assert (ms.value, ms.source, ms.read_only) == ("7000", ConfigSource.DYNAMIC_BROKER_CONFIG, False)
    assert [s.name for s in ms.synonyms] == ["log.retention.ms", "log.retention.ms", "log.retention.hours"]
    assert entries["log.retention.hours"].read_only and entries["num.partitions"].read_only
    broker_configs_alter(node_id=node, ops=[ConfigOp("log.retention.ms", DELETE)])
    assert config_entries({}, names={"retention.ms"})[0].value == "5000"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("segment.bytes", "10", "Invalid value 10 for configuration segment.bytes: Value must be at least 14"),
    ("segment.bytes", "3000000000", "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"),
    ("retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
    ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
    ("compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: "
                                   "uncompressed, zstd, lz4, snappy, gzip, producer"),
    ("cleanup.policy", "delete,forever", "Invalid value forever for configuration cleanup.policy: String must be one "
                                         "of: compact, delete"),
    ("preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"),
    ("min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be "
                                         "no more than 1"),
    ("compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: Value must be between "
                                    "1 and 9 or equal to -1"),
    ("no.such.config", "1", "Unknown topic config name: no.such.config"),
])
def test_bad_values_get_kafkas_message(name, value, message):
    with pytest.raises(InvalidConfig) as e:
        config_value_parse(name, value)
    assert e.value.message == message


def test_values_are_stored_in_kafkas_canonical_form():
    assert configs_parse({"cleanup.policy": " compact , delete", "retention.ms": " 100", "preallocate": "TRUE"}) == {
        "cleanup.policy": "compact,delete", "retention.ms": "100", "preallocate": "true",
    }


def test_configs_checked_together():
    with pytest.raises(InvalidConfig, match=r"conflict topic config setting min.compaction.lag.ms \(10\) > "
                                            r"max.compaction.lag.ms \(5\)"):
        configs_parse({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
    with pytest.raises(InvalidConfig, match="Tiered Storage functionality is disabled in the broker"):
        configs_parse({"remote.storage.enable": "true"})


def test_incremental_operations_as_kafkas_controller():
    keys = TOPIC_KEYS
    assert configs_apply({}, [ConfigOp("cleanup.policy", APPEND, "compact")], keys) == {"cleanup.policy": "delete,compact"}
    assert configs_apply({"cleanup.policy": "delete,compact"}, [ConfigOp("cleanup.policy", SUBTRACT, "delete")], keys) == {
        "cleanup.policy": "compact"}
    assert configs_apply({"retention.ms": "1"}, [ConfigOp("retention.ms", DELETE)], keys) == {}
    with pytest.raises(InvalidConfig, match="Can't APPEND to key retention.ms because its type is not LIST."):
        configs_apply({}, [ConfigOp("retention.ms", APPEND, "1")], keys)
    with pytest.raises(InvalidRequest, match="Error due to duplicate config keys"):
        configs_apply({}, [ConfigOp("retention.ms", SET, "1"), ConfigOp("retention.ms", DELETE)], keys)
    with pytest.raises(InvalidRequest, match="Null value not supported for : retention.ms"):
        configs_apply({}, [ConfigOp("retention.ms", SET, None)], keys)


def test_broker_configs_only_the_dynamic_ones_change():
    assert broker_configs_check({"log.retention.ms": "100", "log.cleanup.policy": "compact"}, per_broker=True) == {
        "log.retention.ms": "100", "log.cleanup.policy": "compact"}
    with pytest.raises(InvalidRequest, match=r"Cannot update these configs dynamically: Set\(log.retention.hours\)"):
        broker_configs_check({"log.retention.hours": "1"}, per_broker=False)
    with pytest.raises(InvalidConfig, match="Unknown broker config name: log.nope"):
        broker_configs_check({"log.nope": "1"}, per_broker=False)
    with pytest.raises(InvalidConfig, match="log.segment.bytes: Value must be at least 14"):
        broker_configs_check({"log.segment.bytes": "1"}, per_broker=False)


def test_timestamp_bounds_fall_back_to_the_deprecated_difference():
    assert not LogConfig.from_overrides({}).timestamps_bounded
    cfg = LogConfig.from_overrides({"message.timestamp.difference.max.ms": "1000"})
    assert (cfg.timestamp_before_max_ms, cfg.timestamp_after_max_ms, cfg.timestamps_bounded) == (1000, 1000, True)
    cfg = LogConfig.from_overrides({"message.timestamp.difference.max.ms": "1000", "message.timestamp.after.max.ms": "5"})
    assert (cfg.timestamp_before_max_ms, cfg.timestamp_after_max_ms) == (1000, 5)
    assert not LogConfig.from_overrides({"message.timestamp.after.max.ms": "5",
                                         "message.timestamp.type": "LogAppendTime"}).timestamps_bounded
