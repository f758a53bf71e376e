import pytest
from django.core.management.base import CommandError
from kafka.partitioner.default import murmur2

from brokercore.log.read import partition_offsets_list, records_fetch
from brokercore.management.commands import produce
from brokercore.topics.service import topic_create
from tests.brokercore.commands.helpers import cli, run

pytestmark = pytest.mark.django_db


def _records(topic="t", partition=0):
    return [
        (r.key, r.value, r.headers)
        for r in records_fetch(topic=topic, partition=partition, offset=0, max_records=100).records
    ]


def _written(topic="t"):
    return sum(p.high_watermark for p in partition_offsets_list(topic=topic))


def test_one_record_per_line_keeping_spaces_and_empty_lines():
    topic_create(name="t")

    assert run("produce", "t", stdin=" a \n\nb\r\nlast") == ""

    assert _records() == [(None, b" a ", ()), (None, b"", ()), (None, b"b", ()), (None, b"last", ())]


def test_key_separator_splits_at_the_first_one():
    topic_create(name="t")

    run("produce", "t", "--key-separator", "::", stdin="k1::v::1\nk2::\n::v3\n")

    assert _records() == [(b"k1", b"v::1", ()), (b"k2", b"", ()), (b"", b"v3", ())]


def test_line_without_separator_writes_nothing():
    topic_create(name="t")

    with pytest.raises(CommandError, match="^Line 3 has no key separator ':'; nothing was written.$"):
        run("produce", "t", "--key-separator", ":", stdin="a:1\nb:2\nno separator\nd:4\n")

    assert _written() == 0


def test_null_marker_makes_null_keys_and_tombstones():
    topic_create(name="t")

    run("produce", "t", "--key-separator", ":", "--null-marker", "NULL", stdin="k:NULL\nNULL:v\nk:\n")

    assert _records() == [(b"k", None, ()), (None, b"v", ()), (b"k", b"", ())]


def test_headers_go_on_every_record():
    topic_create(name="t")

    run("produce", "t", "--header", "trace=a=b", "--header", "empty=", stdin="1\n2\n")

    headers = (("trace", b"a=b"), ("empty", b""))
    assert _records() == [(None, b"1", headers), (None, b"2", headers)]


def test_header_without_equals_sign():
    topic_create(name="t")

    with pytest.raises(CommandError, match="^--header takes KEY=VALUE, got 'trace'.$"):
        run("produce", "t", "--header", "trace", stdin="1\n")


def test_verbose_prints_partition_and_offset_and_partition_is_honoured():
    topic_create(name="t", partitions=3)

    out = run("produce", "t", "--partition", "2", "-v", "--acks", "1", stdin="a\nb\n")

    assert out == "2 0\n2 1\n"
    assert len(_records(partition=2)) == 2


def test_keys_go_to_kafkas_partition():
    topic_create(name="t", partitions=4)

    out = run("produce", "t", "--key-separator", "\t", "--verbose", stdin="key1\tv\nkey1\tw\n")

    expected = (murmur2(b"key1") & 0x7FFFFFFF) % 4  # kafka-python's DefaultPartitioner
    assert out == f"{expected} 0\n{expected} 1\n"


def test_sticky_null_keys_stay_on_one_partition_per_batch():
    topic_create(name="t", partitions=3)

    out = run("produce", "t", "--null-key-strategy", "sticky", "-v", stdin="a\nb\nc\n")

    assert len({line.split()[0] for line in out.splitlines()}) == 1


def test_missing_topic_and_partition():
    with pytest.raises(CommandError, match="^UNKNOWN_TOPIC_OR_PARTITION: Topic 'nope' does not exist.$"):
        run("produce", "nope", stdin="a\n")
    topic_create(name="t", partitions=2)
    with pytest.raises(CommandError, match="^UNKNOWN_TOPIC_OR_PARTITION: Partition 2 of topic 't' does not exist"):
        run("produce", "t", "--partition", "2", stdin="a\n")


def test_bad_acks_is_an_argument_error():
    topic_create(name="t")

    with pytest.raises(CommandError, match=r"^Error: argument --acks: invalid choice: '2'"):
        run("produce", "t", "--acks", "2", stdin="a\n")


def test_oversize_record_writes_nothing():
    topic_create(name="t", configs={"max.message.bytes": "10"})

    with pytest.raises(CommandError, match="^MESSAGE_TOO_LARGE: The record is 11 bytes"):
        run("produce", "t", stdin="small\n" + "x" * 11 + "\n")

    assert _written() == 0


def test_a_refused_later_batch_leaves_earlier_batches_unwritten(monkeypatch):
    monkeypatch.setattr(produce, "BATCH_RECORDS", 2)
    topic_create(name="t", configs={"max.message.bytes": "10"})

    with pytest.raises(CommandError, match="^MESSAGE_TOO_LARGE"):
        run("produce", "t", stdin="1\n2\n3\n4\n" + "x" * 11 + "\n")

    assert _written() == 0


def test_batches_keep_input_order():
    produce_batch = produce.BATCH_RECORDS
    topic_create(name="t")

    run("produce", "t", stdin="".join(f"{i}\n" for i in range(produce_batch + 5)))

    records = records_fetch(topic="t", partition=0, offset=0, max_records=5000).records
    assert [r.value for r in records] == [str(i).encode() for i in range(produce_batch + 5)]


def test_empty_input_writes_nothing():
    topic_create(name="t")

    assert run("produce", "t", "-v", stdin="") == ""
    assert _written() == 0


def test_cli_end_to_end(db_url):
    topic_create(name="t")

    ok = cli(db_url, "produce", "t", "--key-separator", ":", "-v", input=b"k:caf\xc3\xa9\nk:\xff\xfe\n")
    bad = cli(db_url, "produce", "t", "--key-separator", ":", input=b"k:1\noops\n")

    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"0 0\n0 1\n", b"")
    assert (bad.returncode, bad.stdout) == (1, b"")
    assert bad.stderr == b"Error: Line 2 has no key separator ':'; nothing was written.\n"
    assert _records() == [(b"k", "café".encode(), ()), (b"k", b"\xff\xfe", ())]
