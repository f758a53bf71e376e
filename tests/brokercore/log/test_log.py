import threading
import time

import pytest
from django.db import connection

from brokercore.errors import (
    InvalidFetchSize,
    InvalidRecord,
    InvalidRequiredAcks,
    InvalidTimestamp,
    MessageTooLarge,
    NotEnoughReplicas,
    OffsetOutOfRange,
    RecordListTooLarge,
    UnknownTopicOrPartition,
)
from brokercore.log.append import records_append
from brokercore.log.read import EARLIEST, LATEST, offset_for, records_fetch
from brokercore.models import RecordBatch
from brokercore.partitioner import partition_for_key
from brokercore.topics.read import topic_describe
from brokercore.topics.service import topic_configs_alter, topic_create, topic_delete, topic_partitions_add
from brokercore.types import RecordIn
from tests.factories import records_factory, stored_records, topic_factory

pytestmark = pytest.mark.django_db


def _offsets(topic, partition):
    return [r.offset for r in stored_records(topic=topic, partition=partition)]


def test_keyed_records_go_to_murmur2_partition_with_gapless_offsets():
    topic_factory(name="t", partitions=4)
    results = records_factory("t", 200)
    for i, r in enumerate(results):
        assert r.partition == partition_for_key(f"key-{i}".encode(), 4)
        assert r.reason == "key-hash"
    for p in range(4):
        got = sorted(r.offset for r in results if r.partition == p)
        assert got == list(range(len(got))) == _offsets("t", p)


def test_same_key_same_partition_in_produce_order():
    topic_factory(name="t", partitions=5)
    results = records_append(topic="t", records=[RecordIn(key=b"user-42", value=str(i).encode()) for i in range(20)])
    assert len({r.partition for r in results}) == 1
    fetched = records_fetch(topic="t", partition=results[0].partition, offset=0).records
    assert [r.value for r in fetched] == [str(i).encode() for i in range(20)]


def test_null_keys_spread_round_robin():
    topic_factory(name="t", partitions=3)
    results = records_append(topic="t", records=[RecordIn(value=b"x")] * 30)
    counts = [sum(1 for r in results if r.partition == p) for p in range(3)]
    assert counts == [10, 10, 10]
    assert {r.reason for r in results} == {"round-robin"}


def test_sticky_null_keys_fill_one_partition_per_batch():
    topic_factory(name="t", partitions=3)
    first = records_append(topic="t", records=[RecordIn(value=b"x")] * 5, null_key_strategy="sticky")
    second = records_append(topic="t", records=[RecordIn(value=b"x")] * 5, null_key_strategy="sticky")
    assert len({r.partition for r in first}) == 1
    assert len({r.partition for r in second}) == 1
    assert first[0].partition != second[0].partition


def test_explicit_partition_wins_over_key():
    topic_factory(name="t", partitions=3)
    results = records_append(topic="t", records=[RecordIn(key=b"k", value=b"v", partition=2), RecordIn(key=b"k", value=b"v")], partition=None)
    assert results[0].partition == 2 and results[0].reason == "explicit"
    assert all(r.partition == 1 for r in records_append(topic="t", records=[RecordIn(key=b"k")] * 3, partition=1))


def test_adding_partitions_moves_some_keys():
    topic_factory(name="t", partitions=3)
    keys = [f"k{i}".encode() for i in range(100)]
    before = [r.partition for r in records_append(topic="t", records=[RecordIn(key=k) for k in keys])]
    topic_partitions_add(name="t", count=4)
    after = [r.partition for r in records_append(topic="t", records=[RecordIn(key=k) for k in keys])]
    moved = sum(1 for a, b in zip(before, after) if a != b)
    assert after == [partition_for_key(k, 4) for k in keys]
    assert 0 < moved < 100


# Below and above storage.PG_COPY_FROM: the one-statement and the COPY append. Committed for real
# (transaction=True), so the appends run in their own transactions as in production.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [1, 400])
def test_appends_follow_topic_changes_made_after_an_earlier_append(batch):
    """The PostgreSQL append may place a batch with cached metadata; the write re-checks it, so
    a change between two appends is never missed (on SQLite every append reads it afresh)."""
    topic_factory(name="t", partitions=2, configs={"max.message.bytes": "1000"})
    records_append(topic="t", records=[RecordIn(key=b"warm", value=b"v")] * batch)
    topic_partitions_add(name="t", count=5)
    assert records_append(topic="t", records=[RecordIn(value=b"v")] * batch, partition=4)[-1].offset == batch - 1
    keys = [f"k{i}".encode() for i in range(max(50, batch))]
    assert [r.partition for r in records_append(topic="t", records=[RecordIn(key=k) for k in keys])] == [
        partition_for_key(k, 5) for k in keys
    ]
    topic_configs_alter(name="t", set_configs={"max.message.bytes": "10"})
    with pytest.raises(MessageTooLarge):
        records_append(topic="t", records=[RecordIn(value=b"v" * 20)])
    topic_configs_alter(name="t", set_configs={"max.message.bytes": "100000"})
    big = records_append(topic="t", records=[RecordIn(value=b"v" * 5000)], partition=0)[0]
    assert next(r for r in stored_records(topic="t", partition=0) if r.offset == big.offset).size == 5000


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [1, 400])
def test_append_after_the_topic_is_deleted_or_recreated(batch):
    topic_factory(name="t", partitions=2)
    records_append(topic="t", records=[RecordIn(key=b"warm", value=b"v")] * batch)
    topic_delete(name="t")
    with pytest.raises(UnknownTopicOrPartition):
        records_append(topic="t", records=[RecordIn(value=b"v")] * batch)
    assert len(stored_records()) == batch
    topic_create(name="t", partitions=3)
    res = records_append(topic="t", records=[RecordIn(value=b"v")] * batch, partition=2)
    assert (res[-1].partition, res[-1].offset) == (2, batch - 1)
    assert topic_describe(name="t").records == batch
    with connection.cursor() as c:  # every append committed or rolled back: nothing left open
        assert connection.get_autocommit() and not connection.in_atomic_block
        if connection.vendor == "postgresql":
            assert c.connection.info.transaction_status == 0  # idle


@pytest.mark.parametrize(
    "record, error",
    [
        (RecordIn(key="text", value=b"v"), InvalidRecord),
        (RecordIn(key=b"k", value="text"), InvalidRecord),
        (RecordIn(value=b"v", headers=(("h", "text"),)), InvalidRecord),
        (RecordIn(value=b"v", timestamp=-5), InvalidTimestamp),
        (RecordIn(value=b"v", timestamp=2**63), InvalidTimestamp),
        (RecordIn(value=b"v", partition=7), UnknownTopicOrPartition),
        (RecordIn(value=b"v" * 2000), MessageTooLarge),
    ],
)
def test_one_bad_record_fails_the_whole_batch_and_writes_nothing(record, error):
    topic_factory(name="t", partitions=3, configs={"max.message.bytes": "1000"})
    batch = [RecordIn(key=b"good", value=b"v")] * 10 + [record] + [RecordIn(value=b"after")]
    with pytest.raises(error):
        records_append(topic="t", records=batch)
    assert not stored_records()
    assert topic_describe(name="t").records == 0


def test_max_message_bytes_counts_key_value_and_headers():
    topic_factory(name="t", partitions=1, configs={"max.message.bytes": "10"})
    records_append(topic="t", records=[RecordIn(key=b"12345", value=b"12345")])
    with pytest.raises(MessageTooLarge, match="11 bytes, larger than the topic's max.message.bytes of 10") as exc:
        records_append(topic="t", records=[RecordIn(key=b"12345", value=b"12345", headers=(("h", None),))])
    assert exc.value.code == 10


def test_batch_size_limit(settings):
    settings.BROKER = {**settings.BROKER, "MAX_BATCH_RECORDS": 5}
    topic_factory(name="t")
    with pytest.raises(RecordListTooLarge):
        records_append(topic="t", records=[RecordIn(value=b"v")] * 6)


def test_compacted_topic_refuses_null_keys():
    topic_factory(name="c", configs={"cleanup.policy": "compact"})
    with pytest.raises(InvalidRecord, match="Compacted topic cannot accept message without key") as exc:
        records_append(topic="c", records=[RecordIn(value=b"v")])
    assert exc.value.code == 87


def test_produce_to_missing_topic():
    with pytest.raises(UnknownTopicOrPartition, match="Topic 'nope' does not exist"):
        records_append(topic="nope", records=[RecordIn(value=b"v")])


@pytest.mark.parametrize("acks", [0, 1, -1, "all", "1", "0"])
def test_acks_values_all_write(acks):
    topic_factory(name="t", partitions=1)
    assert records_append(topic="t", records=[RecordIn(value=b"v")], acks=acks)[0].offset == 0
    assert len(stored_records()) == 1


@pytest.mark.parametrize("acks", [2, "none", None, -2])
def test_bad_acks(acks):
    topic_factory(name="t", partitions=1)
    with pytest.raises(InvalidRequiredAcks):
        records_append(topic="t", records=[RecordIn(value=b"v")], acks=acks)


def test_acks_all_needs_min_insync_replicas():
    topic_factory(name="t", partitions=1, configs={"min.insync.replicas": "2"})
    with pytest.raises(NotEnoughReplicas, match="min.insync.replicas=2") as exc:
        records_append(topic="t", records=[RecordIn(value=b"v")], acks="all")
    assert exc.value.code == 19
    # acks=1 does not wait for replicas, as in Kafka.
    assert records_append(topic="t", records=[RecordIn(value=b"v")], acks=1)[0].offset == 0


def test_timestamps_create_time_and_log_append_time():
    topic_factory(name="ct", partitions=1)
    topic_factory(name="lat", partitions=1, configs={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    ct = records_append(topic="ct", records=[RecordIn(value=b"v", timestamp=1234), RecordIn(value=b"v")])
    lat = records_append(topic="lat", records=[RecordIn(value=b"v", timestamp=1234)])
    assert ct[0].timestamp == 1234
    assert ct[1].timestamp >= before
    assert lat[0].timestamp >= before
    fetched = records_fetch(topic="lat", partition=0, offset=0).records[0]
    assert fetched.timestamp_type == RecordBatch.TIMESTAMP_LOG_APPEND


def test_headers_and_null_values_round_trip():
    topic_factory(name="t", partitions=1)
    records_append(topic="t", records=[RecordIn(key=b"\x00\xff", value=None, headers=(("a", b"\x01"), ("a", None), ("b", b"")))])
    r = records_fetch(topic="t", partition=0, offset=0).records[0]
    assert (r.key, r.value, r.headers) == (b"\x00\xff", None, (("a", b"\x01"), ("a", None), ("b", b"")))


# --- Fetch -----------------------------------------------------------------------------------


def test_fetch_limits_and_watermarks():
    topic_factory(name="t", partitions=1)
    records_factory("t", 10, key=None, value_size=100)
    res = records_fetch(topic="t", partition=0, offset=2, max_records=3)
    assert [r.offset for r in res.records] == [2, 3, 4]
    assert (res.high_watermark, res.log_start_offset, res.next_offset) == (10, 0, 5)
    res = records_fetch(topic="t", partition=0, offset=0, max_bytes=250)
    assert [r.offset for r in res.records] == [0, 1]
    # The first record comes back even when it alone is larger than max_bytes (KIP-74).
    assert len(records_fetch(topic="t", partition=0, offset=0, max_bytes=1).records) == 1
    # At the high watermark: nothing yet, not an error.
    assert records_fetch(topic="t", partition=0, offset=10).records == []


@pytest.mark.parametrize("offset", [-1, 11, 10_000])
def test_fetch_outside_the_log_is_offset_out_of_range(offset):
    topic_factory(name="t", partitions=1)
    records_factory("t", 10, key=None)
    with pytest.raises(OffsetOutOfRange) as exc:
        records_fetch(topic="t", partition=0, offset=offset)
    assert exc.value.code == 1


def test_fetch_bad_sizes_and_partitions():
    topic_factory(name="t", partitions=1)
    with pytest.raises(InvalidFetchSize):
        records_fetch(topic="t", partition=0, offset=0, max_records=0)
    with pytest.raises(UnknownTopicOrPartition, match="Partition 3 of topic 't' does not exist"):
        records_fetch(topic="t", partition=3, offset=0)


def test_consuming_never_deletes():
    topic_factory(name="t", partitions=1)
    records_factory("t", 5, key=None)
    for _ in range(3):
        assert len(records_fetch(topic="t", partition=0, offset=0).records) == 5
    assert len(stored_records()) == 5


@pytest.mark.django_db(transaction=True)
def test_long_poll_wakes_when_a_record_arrives():
    topic_factory(name="t", partitions=1)
    result = {}
    # Taken here, not in the thread: the record is appended at least 0.3 s after it, however
    # late the waiter starts.
    started = time.monotonic()

    def fetch():
        result["fetch"] = records_fetch(topic="t", partition=0, offset=0, max_wait_ms=10_000)
        result["waited"] = time.monotonic() - started
        connection.close()

    waiter = threading.Thread(target=fetch)
    waiter.start()
    time.sleep(0.3)
    records_append(topic="t", records=[RecordIn(value=b"hello")])
    waiter.join(timeout=20)
    assert [r.value for r in result["fetch"].records] == [b"hello"]
    assert 0.25 < result["waited"] < 8  # woken by the append, not the 10 s max wait


def test_long_poll_times_out_empty():
    topic_factory(name="t", partitions=1)
    started = time.monotonic()
    res = records_fetch(topic="t", partition=0, offset=0, max_wait_ms=300)
    # Ends at max_wait (a wait that ignored its deadline would run on until an append).
    assert res.records == [] and 0.25 < time.monotonic() - started < 5


# --- List offsets ------------------------------------------------------------------------------


def test_offset_for_earliest_latest_and_timestamp():
    topic_factory(name="t", partitions=1)
    records_factory("t", 10, key=None, timestamp=lambda i: 1000 + i * 10)
    assert offset_for(topic="t", partition=0, spec=EARLIEST) == (0, None)
    assert offset_for(topic="t", partition=0, spec=LATEST) == (10, None)
    assert offset_for(topic="t", partition=0, spec=1000) == (0, 1000)
    assert offset_for(topic="t", partition=0, spec=1035) == (4, 1040)
    assert offset_for(topic="t", partition=0, spec=5000) == (10, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [7, 400])
def test_every_field_reads_back_as_written(batch):
    """Keys and values null, empty, binary and large; mixed timestamps; headers on some records:
    what the append's column encodings (binary arrays in one statement, or COPY) write is exactly
    what a fetch reads."""
    topic_factory(name="t", partitions=3)
    shapes = [None, b"", b"\x00\xff" * 3, bytes(range(256)) * 40]
    records = [
        RecordIn(
            key=shapes[i % 4],
            value=shapes[(i // 4) % 4],
            headers=[("h", b"\x00x"), ("n", None)] if i % 3 == 0 else [],
            timestamp=None if i % 5 == 0 else 1_700_000_000_000 + i,
            partition=i % 3,
        )
        for i in range(batch)
    ]
    results = records_append(topic="t", records=records)
    for p in range(3):
        fetched = records_fetch(topic="t", partition=p, offset=0, max_records=1000, max_bytes=10**8).records
        sent = [(r, res) for r, res in zip(records, results) if res.partition == p]
        assert [f.offset for f in fetched] == [res.offset for _, res in sent] == list(range(len(sent)))
        for f, (r, _) in zip(fetched, sent):
            assert (f.key, f.value, [tuple(h) for h in f.headers]) == (r.key, r.value, [tuple(h) for h in r.headers])
            if r.timestamp is not None:
                assert f.timestamp == r.timestamp


def test_append_times_come_from_the_broker_clock(fake_clock):
    """Record timestamps a producer left out and the partition's last append time follow
    `brokercore.clock`, so tests (and retention) can move time."""
    from datetime import UTC, datetime

    from brokercore.models import Partition

    topic_factory(name="t", partitions=1)
    records_factory("t", 2, key=None)
    assert {r.timestamp for r in stored_records(topic="t")} == {fake_clock.ms}
    p = Partition.objects.get(topic__name="t")
    assert p.last_append_at == datetime.fromtimestamp(fake_clock.ms / 1000, tz=UTC)


def test_a_header_key_with_a_nul_is_stored_as_kafka_allows():
    """Header keys are Java strings; stored inside the record batch, a NUL is kept as sent."""
    topic_factory(name="t", partitions=1)
    records_append(topic="t", records=[RecordIn(value=b"v", headers=(("a\x00b", b"x"),))])
    assert records_fetch(topic="t", partition=0, offset=0).records[0].headers == (("a\x00b", b"x"),)


def test_a_produce_requests_batches_are_judged_by_the_topic_once_and_each_by_its_size():
    from brokercore.errors import MessageTooLarge
    from brokercore.log.append import batches_append
    from tests.factories import producer_batch_of

    topic_factory(name="t", partitions=3, configs={"min.insync.replicas": "2", "max.message.bytes": "200"})
    small = producer_batch_of([RecordIn(value=b"v")], producer_id=-1, producer_epoch=-1, base_sequence=-1)
    big = producer_batch_of([RecordIn(value=b"v" * 300)], producer_id=-1, producer_epoch=-1, base_sequence=-1)
    results = batches_append(topic="t", batches={0: small, 1: small, 2: big}, acks="all")
    assert all(isinstance(r, NotEnoughReplicas) for r in results.values())
    results = batches_append(topic="t", batches={0: small, 1: small, 2: big}, acks=1)
    assert [r.offset for r in (results[0], results[1])] == [0, 0] and isinstance(results[2], MessageTooLarge)
    assert not stored_records(topic="t", partition=2)


def test_create_time_outside_the_topics_timestamp_bounds_is_refused(fake_clock):
    """LogValidator's message.timestamp.before.max.ms / after.max.ms (and the deprecated
    difference.max.ms standing in for both): INVALID_TIMESTAMP, nothing written."""
    now = fake_clock.ms
    topic_create(name="ts", partitions=1, configs={"message.timestamp.before.max.ms": "1000",
                                                    "message.timestamp.after.max.ms": "500"})
    records_append(topic="ts", records=[RecordIn(key=None, value=b"ok", timestamp=now - 1000)])
    records_append(topic="ts", records=[RecordIn(key=None, value=b"no timestamp", timestamp=-1)])
    with pytest.raises(InvalidTimestamp, match=rf"Timestamp {now - 1001} of a message in the batch is out of range. "
                                               rf"The timestamp should be within \[{now - 1000}, {now + 500}\]"):
        records_append(topic="ts", records=[RecordIn(key=None, value=b"old", timestamp=now - 1001)])
    with pytest.raises(InvalidTimestamp):
        records_append(topic="ts", records=[RecordIn(key=None, value=b"future", timestamp=now + 501)])
    assert [r.value for r in stored_records(topic="ts")] == [b"ok", b"no timestamp"]
    topic_create(name="ts-old", partitions=1, configs={"message.timestamp.difference.max.ms": "10"})
    with pytest.raises(InvalidTimestamp):
        records_append(topic="ts-old", records=[RecordIn(key=None, value=b"old", timestamp=now - 11)])
    # LogAppendTime topics stamp the broker's time: the producer's is not checked.
    topic_create(name="ts-append", partitions=1, configs={"message.timestamp.type": "LogAppendTime",
                                                          "message.timestamp.before.max.ms": "0"})
    records_append(topic="ts-append", records=[RecordIn(key=None, value=b"x", timestamp=1)])
