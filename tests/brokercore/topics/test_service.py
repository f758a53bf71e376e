import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokercore import errors
from brokercore.log.read import records_fetch
from brokercore.models import Partition, Topic
from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.rules import topic_name_validate
from brokercore.topics.service import topic_configs_alter, topic_create, topic_delete, topic_partitions_add
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db


def test_create_makes_empty_partitions_and_describe_reports_them():
    topic_create(name="orders", partitions=3)
    info = topic_describe(name="orders")
    assert [p.index for p in info.partitions] == [0, 1, 2]
    assert all(p.high_watermark == 0 and p.log_start_offset == 0 for p in info.partitions)
    assert info.configs["cleanup.policy"] == "delete"
    assert info.configs["retention.ms"] == "604800000"
    assert info.overrides == {}


def test_create_publishes_event_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        topic_create(name="evented", partitions=1)
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "can't be empty"),
        (".", 'cannot be "." or ".."'),
        ("..", 'cannot be "." or ".."'),
        ("a" * 250, "can't be longer than 249 characters"),
        ("bad name", "contains a character other than ASCII alphanumerics"),
        ("bad/name", "contains a character other than ASCII alphanumerics"),
        ("ünïcode", "contains a character other than ASCII alphanumerics"),
    ],
)
def test_illegal_names_are_refused_and_nothing_is_written(name, message):
    with pytest.raises(errors.InvalidTopic, match=message.replace(".", r"\.").replace("(", r"\(")) as exc:
        topic_create(name=name, partitions=1)
    assert exc.value.code == 17
    assert not Topic.objects.exists()


def test_longest_legal_name_is_accepted():
    topic_create(name="a" * 249)
    assert topic_names_list() == ["a" * 249]


@given(st.text(alphabet="abcXYZ019._-", min_size=1, max_size=249).filter(lambda s: s not in (".", "..")))
def test_legal_alphabet_always_validates(name):
    topic_name_validate(name)


def test_duplicate_name_is_topic_already_exists():
    topic_create(name="dup")
    with pytest.raises(errors.TopicAlreadyExists) as exc:
        topic_create(name="dup")
    assert exc.value.code == 36


@pytest.mark.parametrize("existing, new", [("metrics.cpu", "metrics_cpu"), ("metrics_cpu", "metrics.cpu")])
def test_names_colliding_on_dot_and_underscore_are_refused(existing, new):
    topic_create(name=existing)
    with pytest.raises(errors.InvalidTopic, match=f"collides with existing topic: {existing}"):
        topic_create(name=new)


# None is not here: it is the broker's default (test_create_without_counts_takes_the_broker_defaults).
@pytest.mark.parametrize("partitions", [0, -1, "3", 1.5, True])
def test_bad_partition_counts_are_refused(partitions):
    with pytest.raises(errors.InvalidPartitions) as exc:
        topic_create(name="p", partitions=partitions)
    assert exc.value.code == 37
    assert not Topic.objects.exists()


def test_partition_count_limit(settings):
    settings.BROKER = {**settings.BROKER, "MAX_PARTITIONS": 4}
    topic_create(name="ok", partitions=4)
    with pytest.raises(errors.InvalidPartitions, match="above this broker's limit of 4"):
        topic_create(name="big", partitions=5)
    with pytest.raises(errors.InvalidPartitions, match="above this broker's limit of 4"):
        topic_partitions_add(name="ok", count=5)


def test_replication_factor_cannot_exceed_live_brokers():
    with pytest.raises(errors.InvalidReplicationFactor, match="Replication factor: 3 larger than available brokers: 1"):
        topic_create(name="rf", replication_factor=3)
    with pytest.raises(errors.InvalidReplicationFactor):
        topic_create(name="rf", replication_factor=0)


@pytest.mark.parametrize(
    "configs, message",
    [
        ({"retention.msec": "1"}, "Unknown topic config name: retention.msec"),
        ({"retention.ms": "soon"}, "Not a number of type LONG"),
        ({"retention.ms": "-2"}, "Value must be at least -1"),
        ({"cleanup.policy": "archive"}, "String must be one of: compact, delete"),
        ({"message.timestamp.type": "NowTime"}, "String must be one of: CreateTime, LogAppendTime"),
        ({"min.insync.replicas": "0"}, "Value must be at least 1"),
        ({"max.message.bytes": str(2**31)}, "Not a number of type INT"),
    ],
)
def test_bad_configs_are_refused(configs, message):
    with pytest.raises(errors.InvalidConfig, match=message) as exc:
        topic_create(name="cfg", configs=configs)
    assert exc.value.code == 40
    assert not Topic.objects.exists()


def test_configs_are_canonicalised_and_reported_with_defaults():
    topic_create(name="cfg", configs={"cleanup.policy": "compact, delete", "retention.ms": 1000})
    info = topic_describe(name="cfg")
    assert info.overrides == {"cleanup.policy": "compact,delete", "retention.ms": "1000"}  # as given, as Kafka
    assert info.configs["max.message.bytes"] == "1048588"


def test_configs_alter_sets_and_deletes_overrides():
    topic_create(name="cfg", configs={"retention.ms": "1000"})
    assert topic_configs_alter(name="cfg", set_configs={"retention.bytes": "5"}, delete_configs=["retention.ms"]) == {
        "retention.bytes": "5"
    }
    with pytest.raises(errors.InvalidConfig):
        topic_configs_alter(name="cfg", set_configs={"retention.bytes": "x"})
    with pytest.raises(errors.InvalidConfig):
        topic_configs_alter(name="cfg", delete_configs=["nope"])
    assert topic_describe(name="cfg").overrides == {"retention.bytes": "5"}


def test_validate_only_writes_nothing():
    topic_create(name="dry", partitions=2, validate_only=True)
    assert not Topic.objects.exists()


def test_partitions_grow_only():
    topic_create(name="grow", partitions=2)
    topic_partitions_add(name="grow", count=5)
    assert [p.index for p in topic_describe(name="grow").partitions] == [0, 1, 2, 3, 4]
    with pytest.raises(errors.InvalidPartitions, match="which is higher than the requested 3") as exc:
        topic_partitions_add(name="grow", count=3)
    assert exc.value.code == 37
    with pytest.raises(errors.InvalidPartitions, match="Topic already has 5 partitions"):
        topic_partitions_add(name="grow", count=5)
    assert Partition.objects.filter(topic__name="grow").count() == 5


def test_unknown_topic_is_error_code_3():
    with pytest.raises(errors.UnknownTopicOrPartition) as exc:
        topic_partitions_add(name="ghost", count=2)
    assert exc.value.code == 3
    with pytest.raises(errors.UnknownTopicOrPartition):
        topic_delete(name="ghost")
    with pytest.raises(errors.UnknownTopicOrPartition):
        topic_describe(name="ghost")


def test_delete_hides_topic_at_once_and_frees_the_name():
    topic_factory(name="gone", partitions=2)
    records_factory("gone", 50)
    topic_delete(name="gone")
    assert "gone" not in topic_names_list()
    with pytest.raises(errors.UnknownTopicOrPartition):
        records_fetch(topic="gone", partition=0, offset=0)
    # The name is free again, and the new topic starts empty.
    topic_create(name="gone", partitions=1)
    assert topic_describe(name="gone").partitions[0].high_watermark == 0


def test_create_without_counts_takes_the_broker_defaults(settings):
    settings.BROKER = {**settings.BROKER, "DEFAULT_PARTITIONS": 4}
    topic = topic_create(name="defaults")
    assert (topic.partition_count, topic.replication_factor) == (4, 1)
    assert len(topic_describe(name="defaults").partitions) == 4
    assert topic_create(name="dry", partitions=2, validate_only=True).partition_count == 2
    settings.BROKER = {**settings.BROKER, "DEFAULT_REPLICATION_FACTOR": 2}
    with pytest.raises(errors.InvalidReplicationFactor):
        topic_create(name="rf")
