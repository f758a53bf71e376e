"""Kafka's topic rules: internal topics and config entries as DescribeConfigs reports them."""

from brokercore.cluster.read import BrokerConfig
from brokercore.topics.rules import (
    CONFIG_DEFS,
    ConfigSource,
    ConfigType,
    config_entries,
    static_config_entries,
    topic_is_internal,
)


def test_internal_topics_are_kafkas_two():
    assert topic_is_internal("__consumer_offsets") and topic_is_internal("__transaction_state")
    assert not topic_is_internal("__mine") and not topic_is_internal("consumer_offsets")


def test_config_entries_default_and_override():
    entries = {e.name: e for e in config_entries({"retention.ms": "1000"})}
    assert list(entries) == list(CONFIG_DEFS)
    ms = entries["retention.ms"]
    assert (ms.value, ms.source, ms.is_default, ms.read_only, ms.sensitive, ms.type) == (
        "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG, False, False, False, ConfigType.LONG,
    )
    # Most specific first; the default is last, and is what the console shows as Kafka's default.
    assert [(s.value, s.source) for s in ms.synonyms] == [
        ("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG), ("604800000", ConfigSource.DEFAULT_CONFIG),
    ]
    assert ms.default == "604800000"
    policy = entries["cleanup.policy"]
    assert (policy.value, policy.source, policy.is_default, policy.type) == (
        "delete", ConfigSource.DEFAULT_CONFIG, True, ConfigType.LIST,
    )
    assert [(s.value, s.source) for s in policy.synonyms] == [("delete", ConfigSource.DEFAULT_CONFIG)]


def test_config_entries_by_name():
    assert [e.name for e in config_entries({}, names={"min.insync.replicas", "nope"})] == ["min.insync.replicas"]


def test_static_config_entries_are_read_only_and_never_default():
    (e,) = static_config_entries([BrokerConfig("num.partitions", "3", "int", "Partitions.")])
    assert (e.value, e.source, e.is_default, e.read_only, e.type, e.doc, e.default) == (
        "3", ConfigSource.STATIC_BROKER_CONFIG, False, True, ConfigType.INT, "Partitions.", None,
    )
    assert [(s.value, s.source) for s in e.synonyms] == [("3", ConfigSource.STATIC_BROKER_CONFIG)]
