import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from brokercore.errors import OffsetOutOfRange, UnknownTopicOrPartition
from brokercore.log.append import records_append
from brokercore.log.cleaner import (
    log_clean,
    records_delete_before,
    records_purge_physical,
    topic_purge,
    topics_deleted_purge,
)
from brokercore.log.read import records_fetch, records_fetch_many
from brokercore.models import Partition, Topic
from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_configs_alter, topic_delete
from brokercore.types import RecordIn
from tests.factories import records_factory, stored_records, topic_factory

pytestmark = pytest.mark.django_db

NOW = 10_000_000


def _partition(topic, index=0):
    return Partition.objects.get(topic__name=topic, topic__deleted_at__isnull=True, index=index)


def _stored_offsets(topic, index=0):
    return [r.offset for r in stored_records(topic=topic, partition=index, live_topics=True)]


# --- delete-records (purge) ---------------------------------------------------------------------


def test_delete_before_moves_log_start_at_once_and_rows_go_later():
    topic_factory(name="t", partitions=1)
    records_factory("t", 10, key=None, value_size=10, per_batch=1)
    assert records_delete_before(topic="t", partition=0, offset=4) == 4
    p = _partition("t")
    assert (p.log_start_offset, p.high_watermark, p.size_bytes) == (4, 10, 60)
    # Readers cannot see below the log start even before the rows are purged.
    with pytest.raises(OffsetOutOfRange):
        records_fetch(topic="t", partition=0, offset=3)
    assert records_fetch(topic="t", partition=0, offset=4).records[0].offset == 4
    assert records_purge_physical(chunk_rows=3) == 4
    assert _stored_offsets("t") == list(range(4, 10))
    # New appends continue the offsets: deletion never reuses them.
    assert records_append(topic="t", records=[RecordIn(value=b"v")])[0].offset == 10


def test_a_batch_the_log_start_cuts_through_stays_stored_until_wholly_below_it():
    """Like a Kafka segment, a batch is removed whole: records below the log start in a batch
    that still holds live ones stay stored, but no reader sees them."""
    topic_factory(name="t", partitions=1)
    records_factory("t", 10, key=None, value_size=10, per_batch=5)  # batches 0-4 and 5-9
    assert records_delete_before(topic="t", partition=0, offset=7) == 7
    assert _partition("t").size_bytes == 30
    assert records_purge_physical() == 5
    assert _stored_offsets("t") == list(range(5, 10))
    assert [r.offset for r in records_fetch(topic="t", partition=0, offset=7).records] == [7, 8, 9]
    with pytest.raises(OffsetOutOfRange):
        records_fetch(topic="t", partition=0, offset=6)
    assert records_delete_before(topic="t", partition=0, offset=10) == 10
    assert records_purge_physical() == 5 and _stored_offsets("t") == []


def test_delete_before_high_watermark_and_minus_one():
    topic_factory(name="t", partitions=1)
    records_factory("t", 5, key=None)
    assert records_delete_before(topic="t", partition=0, offset=-1) == 5
    assert _partition("t").size_bytes == 0
    assert records_delete_before(topic="t", partition=0, offset=2) == 5  # never moves backwards


@pytest.mark.parametrize("offset", [6, -2, 10**12])
def test_delete_before_outside_log_is_refused(offset):
    topic_factory(name="t", partitions=1)
    records_factory("t", 5, key=None)
    with pytest.raises(OffsetOutOfRange):
        records_delete_before(topic="t", partition=0, offset=offset)
    assert _partition("t").log_start_offset == 0


def test_delete_before_unknown_partition():
    topic_factory(name="t", partitions=1)
    with pytest.raises(UnknownTopicOrPartition):
        records_delete_before(topic="t", partition=1, offset=0)


def test_topic_purge_empties_every_partition_but_keeps_it():
    topic_factory(name="t", partitions=3)
    records_factory("t", 30)
    assert topic_purge(topic="t") == {0: _partition("t", 0).high_watermark, 1: _partition("t", 1).high_watermark, 2: _partition("t", 2).high_watermark}
    assert topic_describe(name="t").records == 0
    log_clean()
    assert not stored_records()


# --- retention ----------------------------------------------------------------------------------


def test_retention_ms_deletes_the_expired_prefix():
    topic_factory(name="t", partitions=1, configs={"retention.ms": "1000"})
    # Timestamps NOW-5000 .. NOW-500 in steps of 500; cutoff NOW-1000 expires offsets 0..8.
    records_factory("t", 10, key=None, timestamp=lambda i: NOW - 5000 + i * 500, per_batch=1)
    stats = log_clean(now_ms=NOW)
    assert stats.retention_deleted == 8
    assert _partition("t").log_start_offset == 8
    assert _stored_offsets("t") == [8, 9]


def test_retention_inside_one_batch_moves_the_log_start_record_by_record():
    topic_factory(name="t", partitions=1, configs={"retention.ms": "1000"})
    records_factory("t", 10, key=None, timestamp=lambda i: NOW - 5000 + i * 500)  # one batch
    assert log_clean(now_ms=NOW).retention_deleted == 8
    assert _partition("t").log_start_offset == 8
    assert [r.offset for r in records_fetch(topic="t", partition=0, offset=8).records] == [8, 9]


def test_retention_stops_at_first_unexpired_record_like_kafka_segments():
    topic_factory(name="t", partitions=1, configs={"retention.ms": "1000"})
    stamps = [NOW - 5000, NOW, NOW - 5000]  # an old record behind a fresh one stays
    records_append(topic="t", records=[RecordIn(value=b"v", timestamp=ts) for ts in stamps])
    log_clean(now_ms=NOW)
    assert _partition("t").log_start_offset == 1


def test_retention_ms_minus_one_keeps_forever():
    topic_factory(name="t", partitions=1, configs={"retention.ms": "-1"})
    records_factory("t", 5, key=None, timestamp=1)
    assert log_clean(now_ms=NOW).retention_deleted == 0


def test_retention_bytes_keeps_at_least_the_limit():
    topic_factory(name="t", partitions=1, configs={"retention.bytes": "250", "retention.ms": "-1"})
    records_factory("t", 10, key=None, value_size=100)  # 1000 bytes
    log_clean(now_ms=NOW)
    p = _partition("t")
    # Deleting 8 records would leave 200 < 250 bytes, so Kafka stops at 7 (300 bytes left).
    assert (p.log_start_offset, p.size_bytes) == (7, 300)


def test_compact_only_topic_is_not_deleted_by_retention():
    topic_factory(name="c", partitions=1, configs={"cleanup.policy": "compact", "retention.ms": "1"})
    records_factory("c", 5, timestamp=1)
    assert log_clean(now_ms=NOW).retention_deleted == 0


# --- compaction ---------------------------------------------------------------------------------


def test_compaction_keeps_latest_value_per_key():
    topic_factory(name="c", partitions=1, configs={"cleanup.policy": "compact"})
    keys = [b"a", b"b", b"a", b"c", b"b", b"a"]
    records_append(topic="c", records=[RecordIn(key=k, value=bytes([i]), timestamp=NOW) for i, k in enumerate(keys)])
    stats = log_clean(now_ms=NOW)
    assert stats.compacted == 3
    got = records_fetch(topic="c", partition=0, offset=0).records
    assert [(r.offset, r.key, r.value) for r in got] == [(3, b"c", b"\x03"), (4, b"b", b"\x04"), (5, b"a", b"\x05")]
    p = _partition("c")
    assert p.high_watermark == 6 and p.size_bytes == 6
    # Offsets are kept: compaction leaves gaps, and a second pass finds nothing to do.
    assert log_clean(now_ms=NOW).compacted == 0


def test_min_compaction_lag_keeps_young_records_out_of_compaction():
    topic_factory(name="lag", partitions=1, configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "5000"})
    # Two old batches, then a young one: only the old part is cleanable.
    records_append(topic="lag", records=[RecordIn(key=b"a", value=b"1", timestamp=NOW - 10_000)])
    records_append(topic="lag", records=[RecordIn(key=b"a", value=b"2", timestamp=NOW - 9_000)])
    records_append(topic="lag", records=[RecordIn(key=b"a", value=b"3", timestamp=NOW - 1_000)])
    assert log_clean(now_ms=NOW).compacted == 1
    # The young record did not supersede the old part's latest: a reader still sees a=2 then a=3.
    assert [r.value for r in records_fetch(topic="lag", partition=0, offset=0).records] == [b"2", b"3"]
    # Once it is old enough, it does.
    assert log_clean(now_ms=NOW + 10_000).compacted == 1
    assert [r.value for r in records_fetch(topic="lag", partition=0, offset=0).records] == [b"3"]


def test_tombstones_delete_a_key_and_expire_after_delete_retention():
    topic_factory(name="c", partitions=1, configs={"cleanup.policy": "compact", "delete.retention.ms": "1000"})
    records_append(topic="c", records=[RecordIn(key=b"a", value=b"1", timestamp=NOW), RecordIn(key=b"a", value=None, timestamp=NOW)])
    log_clean(now_ms=NOW)
    assert [(r.key, r.value) for r in records_fetch(topic="c", partition=0, offset=0).records] == [(b"a", None)]
    records_append(topic="c", records=[RecordIn(key=b"b", value=b"x", timestamp=NOW)])
    log_clean(now_ms=NOW + 2000)
    assert [(r.key, r.value) for r in records_fetch(topic="c", partition=0, offset=0).records] == [(b"b", b"x")]


def test_compact_and_delete_does_both():
    topic_factory(name="cd", partitions=1, configs={"cleanup.policy": "compact,delete", "retention.ms": "1000"})
    records_append(topic="cd", records=[RecordIn(key=b"a", value=b"old", timestamp=NOW - 5000), RecordIn(key=b"b", value=b"new", timestamp=NOW), RecordIn(key=b"b", value=b"newer", timestamp=NOW)])
    stats = log_clean(now_ms=NOW)
    assert stats.retention_deleted == 1 and stats.compacted == 1
    assert [r.value for r in records_fetch(topic="cd", partition=1 - 1, offset=1).records] == [b"newer"]


class TestCompactionProperty(TestCase):
    @settings(max_examples=25)
    @given(st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c", b"d"]), st.one_of(st.none(), st.binary(min_size=1, max_size=4))), min_size=1, max_size=40))
    def test_after_compaction_each_key_has_exactly_its_latest_record(self, ops):
        name = f"prop-{time.monotonic_ns()}"
        topic_factory(name=name, partitions=1, configs={"cleanup.policy": "compact", "delete.retention.ms": "100000"})
        records_append(topic=name, records=[RecordIn(key=k, value=v, timestamp=NOW) for k, v in ops])
        log_clean(now_ms=NOW)
        latest = {}
        for offset, (k, v) in enumerate(ops):
            latest[k] = (offset, v)
        got = records_fetch(topic=name, partition=0, offset=0, max_records=1000).records
        assert sorted((r.key, r.offset, r.value) for r in got) == sorted((k, o, v) for k, (o, v) in latest.items())
        assert _partition(name).size_bytes == sum(r.size for r in got)


# --- topic deletion -----------------------------------------------------------------------------


def test_deleted_topic_rows_are_purged_in_chunks_then_the_topic_row():
    topic_factory(name="big", partitions=2)
    topic_factory(name="other", partitions=1)
    records_factory("big", 500, value_size=10)
    records_factory("other", 5)
    topic_delete(name="big")
    assert topics_deleted_purge(chunk_rows=64) == ["big"]
    assert not Topic.objects.filter(name="big").exists()
    assert len(stored_records()) == 5
    assert topic_names_list() == ["other"]


def test_configs_alter_takes_effect_on_next_clean():
    topic_factory(name="t", partitions=1)
    records_factory("t", 4, key=None, timestamp=NOW - 10_000)
    assert log_clean(now_ms=NOW).retention_deleted == 0
    topic_configs_alter(name="t", set_configs={"retention.ms": "5000"})
    assert log_clean(now_ms=NOW).retention_deleted == 4


def test_fetch_moves_past_a_range_compaction_emptied():
    topic_factory(name="c", partitions=1, configs={"cleanup.policy": "compact", "delete.retention.ms": "0"})
    records_append(topic="c", records=[RecordIn(key=b"a", value=b"1", timestamp=NOW), RecordIn(key=b"a", value=None, timestamp=NOW)])
    log_clean(now_ms=NOW + 1)
    started = time.monotonic()
    res = records_fetch(topic="c", partition=0, offset=0, max_wait_ms=10_000)
    assert res.records == [] and res.next_offset == 2
    assert time.monotonic() - started < 8  # no pointless wait (10 s): the gap is known to be empty
    # Kafka's Fetch likewise (its handler answers an empty batch up to next_offset).
    many = records_fetch_many(requests=[("c", 0, 0, 1 << 20)], max_bytes=1 << 20)
    assert many.results[0].data == b"" and many.results[0].next_offset == 2


def test_retention_without_a_time_given_reads_the_broker_clock(fake_clock):
    topic_factory(name="t", partitions=1, configs={"retention.ms": "1000"})
    records_factory("t", 3, key=None)
    assert log_clean().retention_deleted == 0
    fake_clock.advance(1001)
    assert log_clean().retention_deleted == 3
