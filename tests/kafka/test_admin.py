"""CreateTopics, DeleteTopics, CreatePartitions and DescribeConfigs over the wire."""

import uuid

import pytest
from kio.schema.errors import ErrorCode

from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_create

pytestmark = pytest.mark.django_db(transaction=True)


def create(wire, *topics, validate_only=False, version=7):
    r = wire.call(19, version, timeout=1000, validate_only=validate_only, topics=[
        {"name": name, "num_partitions": n, "replication_factor": rf, "assignments": assignments or [],
         "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}
        for name, n, rf, configs, assignments in topics
    ])
    return r.topics


def test_create_topics_defaults_configs_validate_only_and_errors(staff_wire, settings):
    wire = staff_wire  # topic changes need staff
    settings.BROKER = {**settings.BROKER, "DEFAULT_PARTITIONS": 2}
    a, b, c, d = create(
        wire,
        ("ok", -1, -1, {"cleanup.policy": "compact"}, None),
        ("bad config", 1, 1, None, None),
        ("cfg", 1, 1, {"no.such.config": "1"}, None),
        ("assigned", -1, -1, None, [{"partition_index": 0, "broker_ids": [7]}]),  # no node 7
    )
    assert (a.error_code, a.num_partitions, a.replication_factor) == (0, 2, 1)
    assert a.topic_id == uuid.UUID(topic_describe(name="ok").topic_id)
    assert {x.name: x.value for x in a.configs}["cleanup.policy"] == "compact"
    assert b.error_code == ErrorCode.invalid_topic_exception
    assert c.error_code == ErrorCode.invalid_config and "no.such.config" in c.error_message
    assert d.error_code == ErrorCode.invalid_replica_assignment
    [again] = create(wire, ("ok", 1, 1, None, None))
    assert again.error_code == ErrorCode.topic_already_exists
    [dry] = create(wire, ("dry", 3, 1, None, None), validate_only=True)
    assert (dry.error_code, dry.num_partitions) == (0, 3)
    [too_many] = create(wire, ("rf", 1, 3, None, None))
    assert too_many.error_code == ErrorCode.invalid_replication_factor
    dup = create(wire, ("twice", 1, 1, None, None), ("twice", 1, 1, None, None), version=2)
    assert [x.error_code for x in dup] == [ErrorCode.invalid_request] * 2
    assert topic_names_list() == ["ok"]


def test_delete_topics_by_name_and_id(staff_wire):
    wire = staff_wire  # topic changes need staff
    a = topic_create(name="del.a")
    topic_create(name="del.b")
    r = wire.call(20, 6, timeout=1000, topics=[
        {"name": None, "topic_id": a.topic_id}, {"name": "del.b", "topic_id": None},
        {"name": None, "topic_id": uuid.uuid4()}, {"name": "none", "topic_id": None},
    ])
    assert [(x.name, x.error_code) for x in r.responses] == [
        ("del.a", 0), ("del.b", 0), (None, ErrorCode.unknown_topic_id), ("none", ErrorCode.unknown_topic_or_partition)
    ]
    topic_create(name="del.c")
    r = wire.call(20, 4, timeout=1000, topic_names=["del.c"])
    assert r.responses[0].error_code == 0
    assert topic_names_list() == []


def test_create_partitions(staff_wire):
    wire = staff_wire  # topic changes need staff
    topic_create(name="grow", partitions=2)
    r = wire.call(37, 3, timeout=1000, validate_only=False, topics=[
        {"name": "grow", "count": 5, "assignments": None}, {"name": "missing", "count": 2, "assignments": None},
    ])
    assert [x.error_code for x in r.results] == [0, ErrorCode.unknown_topic_or_partition]
    r = wire.call(37, 3, timeout=1000, validate_only=False, topics=[{"name": "grow", "count": 3, "assignments": None}])
    assert r.results[0].error_code == ErrorCode.invalid_partitions
    assert len(topic_describe(name="grow").partitions) == 5


def test_describe_configs_topic_broker_and_unknown(wire):
    topic_create(name="dc", configs={"retention.ms": "1000"})
    r = wire.call(32, 4, include_synonyms=True, include_documentation=True, resources=[
        {"resource_type": 2, "resource_name": "dc", "configuration_keys": None},
        {"resource_type": 4, "resource_name": "1", "configuration_keys": ["num.partitions"]},
        {"resource_type": 2, "resource_name": "missing", "configuration_keys": None},
    ])
    topic, broker, missing = r.results
    retention = {c.name: c for c in topic.configs}["retention.ms"]
    assert (retention.value, retention.config_source) == ("1000", 1)
    assert [s.source for s in retention.synonyms] == [1, 5]
    assert retention.documentation
    assert [(c.name, c.read_only) for c in broker.configs] == [("num.partitions", True)]
    assert missing.error_code == ErrorCode.unknown_topic_or_partition
