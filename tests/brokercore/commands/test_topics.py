import pytest
from django.core.management.base import CommandError

from brokercore.log.append import records_append
from brokercore.models import Topic
from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.brokercore.commands.helpers import cli, run

pytestmark = pytest.mark.django_db


def test_create_prints_kafkas_line_and_makes_the_partitions():
    assert run("topics", "create", "orders", "--partitions", "3", "--config", "retention.ms=1000") == "Created topic orders.\n"

    info = topic_describe(name="orders")
    assert len(info.partitions) == 3
    assert info.overrides == {"retention.ms": "1000"}


def test_create_takes_any_kafka_topic_config():
    run("topics", "create", "repartition", "--config", "segment.bytes=52428800", "--config", "segment.ms=600000",
        "--config", "compression.type=lz4", "--config", "min.compaction.lag.ms=1000")
    assert topic_describe(name="repartition").overrides == {
        "segment.bytes": "52428800", "segment.ms": "600000", "compression.type": "lz4", "min.compaction.lag.ms": "1000",
    }
    run("topics", "alter", "repartition", "--add-config", "cleanup.policy=compact,delete", "--delete-config", "segment.ms")
    assert topic_describe(name="repartition").overrides["cleanup.policy"] == "compact,delete"
    with pytest.raises(CommandError, match="^INVALID_CONFIG: Invalid value 1 for configuration segment.bytes: "
                                           "Value must be at least 14$"):
        run("topics", "alter", "repartition", "--add-config", "segment.bytes=1")


def test_create_defaults_to_one_partition():
    run("topics", "create", "t")

    assert len(topic_describe(name="t").partitions) == 1


def test_create_without_counts_takes_the_broker_defaults(settings):
    """As kafka-topics: no --partitions / --replication-factor means the broker's num.partitions and
    default.replication.factor, the same defaults as the Kafka listener and REST apply."""
    settings.BROKER = {**settings.BROKER, "DEFAULT_PARTITIONS": 3, "DEFAULT_REPLICATION_FACTOR": 1}
    run("topics", "create", "t")

    assert len(topic_describe(name="t").partitions) == 3


def test_create_existing_topic_fails_unless_if_not_exists():
    topic_create(name="t", partitions=2)

    with pytest.raises(CommandError, match="^TOPIC_ALREADY_EXISTS: Topic 't' already exists.$"):
        run("topics", "create", "t")
    assert run("topics", "create", "t", "--partitions", "5", "--if-not-exists") == ""
    assert len(topic_describe(name="t").partitions) == 2


@pytest.mark.parametrize(
    "args, error",
    [
        (["bad/name"], r"^INVALID_TOPIC_EXCEPTION: Topic name \"bad/name\" is illegal"),
        (["t", "--partitions", "0"], "^INVALID_PARTITIONS: Number of partitions must be larger than 0."),
        (["t", "--partitions", "two"], "^Error: argument --partitions: invalid int value: 'two'"),
        (["t", "--replication-factor", "3"], "^INVALID_REPLICATION_FACTOR: Replication factor: 3 larger than"),
        (["t", "--config", "retention.ms"], "^--config takes KEY=VALUE, got 'retention.ms'.$"),
        (["t", "--config", "colour=blue"], "^INVALID_CONFIG: Unknown topic config name: colour$"),
        (["t", "--config", "retention.ms=soon"], "^INVALID_CONFIG: Invalid value soon for configuration retention.ms"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(args, error):
    with pytest.raises(CommandError, match=error):
        run("topics", "create", *args)

    assert not Topic.objects.exists()


def test_list_prints_live_names_one_a_line():
    for name in ["b", "a", "gone"]:
        topic_create(name=name)
    run("topics", "delete", "gone")

    assert run("topics", "list") == "a\nb\n"


def test_describe_has_kafkas_shape_with_offsets_and_only_overrides():
    t = topic_create(name="t", partitions=2, configs={"cleanup.policy": "compact"})
    records_append(topic="t", partition=1, records=[RecordIn(key=b"k", value=b"v")] * 3)

    assert run("topics", "describe", "t").splitlines() == [
        f"Topic: t\tTopicId: {t.topic_id}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: cleanup.policy=compact",
        "\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tLogStartOffset: 0\tHighWatermark: 0",
        "\tTopic: t\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\tLogStartOffset: 0\tHighWatermark: 3",
    ]


def test_describe_without_name_describes_every_topic():
    topic_create(name="a")
    topic_create(name="b", partitions=2)

    lines = run("topics", "describe").splitlines()

    assert [line.split("\t")[0] for line in lines if line.startswith("Topic:")] == ["Topic: a", "Topic: b"]
    assert len(lines) == 5


def test_describe_missing_topic():
    with pytest.raises(CommandError, match="^UNKNOWN_TOPIC_OR_PARTITION: Topic 'x' does not exist.$"):
        run("topics", "describe", "x")


def test_alter_grows_partitions_and_changes_configs():
    topic_create(name="t", partitions=2, configs={"retention.ms": "1000"})

    out = run(
        "topics", "alter", "t", "--partitions", "4",
        "--add-config", "max.message.bytes=100", "--delete-config", "retention.ms",
    )

    assert out == "Completed updating config for topic t.\nTopic t now has 4 partitions.\n"
    info = topic_describe(name="t")
    assert len(info.partitions) == 4
    assert info.overrides == {"max.message.bytes": "100"}


@pytest.mark.parametrize(
    "args, error",
    [
        (["--partitions", "1"], "^INVALID_PARTITIONS: Topic currently has 2 partitions, which is higher than the requested 1."),
        (["--partitions", "2"], "^INVALID_PARTITIONS: Topic already has 2 partitions.$"),
        (["--add-config", "colour=blue"], "^INVALID_CONFIG: Unknown topic config name: colour$"),
        (["--add-config", "retention.ms=-5"], "^INVALID_CONFIG: Invalid value -5 for configuration retention.ms: Value must be at least -1$"),
        (["--delete-config", "colour"], "^INVALID_CONFIG: Unknown topic config name: colour$"),
        (["--add-config", "retention.ms"], "^--add-config takes KEY=VALUE"),
        ([], "^Nothing to alter"),
    ],
)
def test_alter_refuses_bad_input(args, error):
    topic_create(name="t", partitions=2, configs={"retention.ms": "1000"})

    with pytest.raises(CommandError, match=error):
        run("topics", "alter", "t", *args)

    info = topic_describe(name="t")
    assert (len(info.partitions), info.overrides) == (2, {"retention.ms": "1000"})


def test_alter_is_all_or_nothing():
    topic_create(name="t", partitions=2)

    with pytest.raises(CommandError, match="^INVALID_PARTITIONS"):
        run("topics", "alter", "t", "--add-config", "retention.ms=5", "--partitions", "1")

    assert topic_describe(name="t").overrides == {}


def test_alter_missing_topic_unless_if_exists():
    with pytest.raises(CommandError, match="^UNKNOWN_TOPIC_OR_PARTITION"):
        run("topics", "alter", "x", "--partitions", "3")
    assert run("topics", "alter", "x", "--partitions", "3", "--if-exists") == ""


def test_delete_marks_the_topic_and_frees_the_name():
    topic_create(name="t")

    assert run("topics", "delete", "t") == "Topic t is marked for deletion.\n"

    assert topic_names_list() == []
    assert Topic.objects.filter(name="t", deleted_at__isnull=False).exists()  # the cleaner removes it later
    assert run("topics", "create", "t") == "Created topic t.\n"


def test_delete_missing_topic_unless_if_exists():
    with pytest.raises(CommandError, match="^UNKNOWN_TOPIC_OR_PARTITION: Topic 'x' does not exist.$"):
        run("topics", "delete", "x")
    assert run("topics", "delete", "x", "--if-exists") == ""


def test_cli_end_to_end(db_url):
    ok = cli(db_url, "topics", "create", "t", "--partitions", "2")
    bad_name = cli(db_url, "topics", "create", "bad!")
    no_action = cli(db_url, "topics")
    listed = cli(db_url, "topics", "list")

    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"Created topic t.\n", b"")
    assert bad_name.returncode == 1
    assert bad_name.stdout == b""
    assert bad_name.stderr.decode() == (
        "Error: INVALID_TOPIC_EXCEPTION: Topic name \"bad!\" is illegal, it contains a character other "
        "than ASCII alphanumerics, '.', '_' and '-'\n"
    )
    assert (no_action.returncode, no_action.stderr) == (1, b"Error: the following arguments are required: ACTION\n")
    assert listed.stdout == b"t\n"
