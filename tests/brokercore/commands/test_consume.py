import json
import signal
import subprocess
import sys
import time

import pytest
from django.core.management.base import CommandError

from brokercore.log.append import records_append
from brokercore.log.cleaner import records_delete_before
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.brokercore.commands.helpers import MANAGE_PY, cli, cli_env, run

pytestmark = pytest.mark.django_db


def _topic(name="t", partitions=1, values_per_partition=3):
    topic_create(name=name, partitions=partitions)
    for p in range(partitions):
        records_append(
            topic=name,
            partition=p,
            records=[RecordIn(key=f"k{p}-{i}".encode(), value=f"v{p}-{i}".encode()) for i in range(values_per_partition)],
        )


def test_from_beginning_reads_every_partition_to_its_end():
    _topic(partitions=3)

    lines = run("consume", "t", "--from-beginning").splitlines()

    assert sorted(lines) == [f"v{p}-{i}" for p in range(3) for i in range(3)]
    # Within a partition, offset order.
    assert [v for v in lines if v.startswith("v1-")] == ["v1-0", "v1-1", "v1-2"]


def test_default_start_is_the_end():
    _topic()

    assert run("consume", "t") == ""


def test_max_messages_stops_early():
    _topic(partitions=2, values_per_partition=5)

    assert len(run("consume", "t", "--from-beginning", "--max-messages", "3").splitlines()) == 3


@pytest.mark.parametrize(
    "offset, expected",
    [("1", ["v0-1", "v0-2"]), ("earliest", ["v0-0", "v0-1", "v0-2"]), ("latest", []), ("3", [])],
)
def test_partition_and_offset(offset, expected):
    _topic(partitions=2)

    assert run("consume", "t", "--partition", "0", "--offset", offset).splitlines() == expected


def test_partition_with_from_beginning():
    _topic(partitions=2)

    assert run("consume", "t", "--partition", "1", "--from-beginning").splitlines() == ["v1-0", "v1-1", "v1-2"]


def test_from_beginning_starts_at_the_log_start_offset():
    _topic()
    records_delete_before(topic="t", partition=0, offset=2)

    assert run("consume", "t", "--from-beginning").splitlines() == ["v0-2"]


@pytest.mark.parametrize(
    "args, error",
    [
        (["--partition", "0", "--offset", "4"], "^OFFSET_OUT_OF_RANGE: Offset 4 is out of range for partition t-0"),
        (["--partition", "5"], "^UNKNOWN_TOPIC_OR_PARTITION: Partition 5 of topic 't' does not exist.$"),
        (["--offset", "1"], "^The partition is required when offset is specified.$"),
        (["--partition", "0", "--offset", "1", "--from-beginning"], "^Options from-beginning and offset cannot be"),
        (["--partition", "0", "--offset", "-1"], "^Error: argument --offset: must be a non-negative number, 'earliest' or 'latest', got '-1'.$"),
        (["--partition", "0", "--offset", "soon"], "^Error: argument --offset: must be a non-negative number, 'earliest' or 'latest', got 'soon'.$"),
        (["--max-messages", "0"], "^Error: argument --max-messages: must be a positive integer, got '0'.$"),
        (["--format", "xml"], "^Error: argument --format: invalid choice: 'xml'"),
    ],
)
def test_bad_arguments(args, error):
    _topic()

    with pytest.raises(CommandError, match=error):
        run("consume", "t", *args)


def test_missing_topic():
    with pytest.raises(CommandError, match="^UNKNOWN_TOPIC_OR_PARTITION: Topic 'nope' does not exist.$"):
        run("consume", "nope", "--from-beginning")


def test_offset_below_log_start_is_out_of_range():
    _topic()
    records_delete_before(topic="t", partition=0, offset=2)

    with pytest.raises(CommandError, match="^OFFSET_OUT_OF_RANGE"):
        run("consume", "t", "--partition", "0", "--offset", "0")


def test_text_prefixes_in_kafkas_order_and_nulls():
    topic_create(name="t")
    appended = records_append(
        topic="t",
        records=[RecordIn(key=b"k", value=b"v", headers=(("h", b"1"), ("n", None))), RecordIn(key=None, value=None)],
    )

    out = run(
        "consume", "t", "--from-beginning", "--print-key", "--print-offset", "--print-partition",
        "--print-timestamp", "--print-headers", "--key-separator", " | ",
    )

    ts0, ts1 = (a.timestamp for a in appended)
    assert out.splitlines() == [
        f"CreateTime:{ts0} | Partition:0 | Offset:0 | h:1,n:null | k | v",
        f"CreateTime:{ts1} | Partition:0 | Offset:1 | NO_HEADERS | null | null",
    ]


def test_values_with_newlines_and_log_append_time():
    topic_create(name="t", configs={"message.timestamp.type": "LogAppendTime"})
    [appended] = records_append(topic="t", records=[RecordIn(value=b"two\nlines\n")])

    out = run("consume", "t", "--from-beginning", "--print-timestamp")

    assert out == f"LogAppendTime:{appended.timestamp}\ttwo\nlines\n\n"


def test_json_is_kcats_shape_and_round_trips_keys_and_headers():
    topic_create(name="t")
    sent = [
        RecordIn(key="clé".encode(), value=b'{"a": 1}', headers=(("h1", b"x"), ("h1", b"y"), ("none", None)), timestamp=1234),
        RecordIn(key=None, value=None),
        RecordIn(key=b"\xff", value=b"ok\xfe"),
    ]
    records_append(topic="t", records=sent)

    rows = [json.loads(line) for line in run("consume", "t", "--from-beginning", "--format", "json").splitlines()]

    assert rows[0] == {
        "topic": "t", "partition": 0, "offset": 0, "tstype": "create", "ts": 1234,
        "headers": ["h1", "x", "h1", "y", "none", None], "key": "clé", "payload": '{"a": 1}',
    }
    assert (rows[1]["key"], rows[1]["payload"], rows[1]["headers"]) == (None, None, [])
    # Bytes that are not UTF-8 are backslash-escaped, as the help says.
    assert (rows[2]["key"], rows[2]["payload"]) == ("\\xff", "ok\\xfe")
    headers = rows[0]["headers"]
    assert tuple((k, None if v is None else v.encode()) for k, v in zip(headers[::2], headers[1::2])) == sent[0].headers


def test_follow_stops_after_timeout_without_new_records():
    _topic(partitions=2)

    started = time.monotonic()
    out = run("consume", "t", "--from-beginning", "--follow", "--timeout-ms", "300")

    assert len(out.splitlines()) == 6
    assert 0.25 < time.monotonic() - started < 5


def test_follow_one_partition_long_polls_until_timeout():
    _topic()

    started = time.monotonic()
    out = run("consume", "t", "--partition", "0", "--follow", "--timeout-ms", "200")

    assert out == ""
    assert 0.15 < time.monotonic() - started < 5


def test_follow_stops_at_max_messages():
    _topic(partitions=2)

    assert len(run("consume", "t", "--from-beginning", "--follow", "--max-messages", "4").splitlines()) == 4


@pytest.mark.parametrize("partition_args", [[], ["--partition", "0"]])
def test_cli_follow_sees_records_produced_by_another_process_and_exits_on_ctrl_c(db_url, partition_args):
    topic_create(name="t", partitions=1 if partition_args else 3)
    child = subprocess.Popen(
        [sys.executable, str(MANAGE_PY), "consume", "t", "--from-beginning", "--follow", "--print-key", *partition_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(db_url), cwd=MANAGE_PY.parent,
    )
    try:
        records_append(topic="t", records=[RecordIn(key=b"k", value=b"hello")])
        first_line = child.stdout.readline()  # blocks until the child has printed the record
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        child.kill()

    assert first_line == b"k\thello\n"
    assert (child.returncode, out, err) == (0, b"", b"")


def test_cli_end_to_end(db_url):
    _topic()

    ok = cli(db_url, "consume", "t", "--from-beginning", "--max-messages", "2", "--format", "json")
    missing = cli(db_url, "consume", "nope")
    out_of_range = cli(db_url, "consume", "t", "--partition", "0", "--offset", "7")

    assert ok.returncode == 0, ok.stderr
    assert [json.loads(line)["payload"] for line in ok.stdout.splitlines()] == ["v0-0", "v0-1"]
    assert (missing.returncode, missing.stdout) == (1, b"")
    assert missing.stderr == b"Error: UNKNOWN_TOPIC_OR_PARTITION: Topic 'nope' does not exist.\n"
    assert out_of_range.returncode == 1
    assert out_of_range.stderr.startswith(b"Error: OFFSET_OUT_OF_RANGE: Offset 7 is out of range")
    assert out_of_range.stderr.count(b"\n") == 1
