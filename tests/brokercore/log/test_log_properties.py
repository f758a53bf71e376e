"""Property tests: whatever sequence of appends and deletes happens, the log keeps its invariants."""

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from brokercore.errors import BrokerError
from brokercore.log.append import records_append
from brokercore.log.cleaner import log_clean, records_delete_before
from brokercore.log.read import records_fetch
from brokercore.models import Partition
from brokercore.types import RecordIn
from tests.factories import stored_records, topic_factory

PARTITIONS = 3

record = st.builds(
    RecordIn,
    key=st.one_of(st.none(), st.binary(min_size=1, max_size=6)),
    value=st.one_of(st.none(), st.binary(max_size=30)),
    partition=st.one_of(st.none(), st.integers(min_value=0, max_value=PARTITIONS - 1)),
)
append = st.tuples(st.just("append"), st.lists(record, min_size=1, max_size=12))
delete = st.tuples(st.just("delete"), st.integers(0, PARTITIONS - 1), st.integers(-1, 40))
bad = st.tuples(st.just("bad"), st.lists(record, min_size=1, max_size=5))


class TestLogInvariants(TestCase):
    @settings(max_examples=40)
    @given(st.lists(st.one_of(append, delete, bad), min_size=1, max_size=15))
    def test_offsets_stay_gapless_and_fetch_sees_exactly_the_live_log(self, ops):
        name = "prop"
        topic_factory(name=name, partitions=PARTITIONS)
        model: dict[int, list[RecordIn]] = {p: [] for p in range(PARTITIONS)}
        start = {p: 0 for p in range(PARTITIONS)}
        for op in ops:
            if op[0] == "append":
                for r, res in zip(op[1], records_append(topic=name, records=op[1])):
                    assert res.offset == len(model[res.partition])
                    model[res.partition].append(r)
            elif op[0] == "bad":
                # A batch with one invalid record must leave no trace.
                try:
                    records_append(topic=name, records=[*op[1], RecordIn(value=b"x", partition=PARTITIONS)])
                except BrokerError:
                    pass
                else:
                    raise AssertionError("a batch with a bad partition was accepted")
            else:
                _, p, offset = op
                hw = len(model[p])
                try:
                    new_start = records_delete_before(topic=name, partition=p, offset=offset)
                except BrokerError:
                    assert offset > hw or offset < -1
                    continue
                target = hw if offset == -1 else offset
                start[p] = max(start[p], target)
                assert new_start == start[p]
        log_clean()
        for p in range(PARTITIONS):
            row = Partition.objects.get(topic__name=name, index=p)
            assert (row.log_start_offset, row.high_watermark) == (start[p], len(model[p]))
            live = model[p][start[p]:]
            got = records_fetch(topic=name, partition=p, offset=start[p], max_records=10_000, max_bytes=10**9).records
            assert [(r.offset, r.key, r.value) for r in got] == [(start[p] + i, r.key, r.value) for i, r in enumerate(live)]
            assert row.size_bytes == sum(r.size for r in got)
            stored = [r.offset for r in stored_records(topic=name, partition=p) if r.offset >= row.log_start_offset]
            assert stored == list(range(start[p], len(model[p])))


class TestRetentionProperty(TestCase):
    @settings(max_examples=30)
    @given(st.lists(st.integers(0, 10_000), min_size=1, max_size=30), st.integers(0, 10_000))
    def test_retention_ms_removes_exactly_the_expired_prefix(self, stamps, retention_ms):
        now = 20_000
        topic_factory(name="ret", partitions=1, configs={"retention.ms": str(retention_ms), "retention.bytes": "-1"})
        records_append(topic="ret", records=[RecordIn(value=b"v", timestamp=now - s) for s in stamps])
        log_clean(now_ms=now)
        expected = 0
        for s in stamps:
            if now - s < now - retention_ms:
                expected += 1
            else:
                break
        assert Partition.objects.get(topic__name="ret").log_start_offset == expected

    @settings(max_examples=30)
    @given(st.lists(st.integers(1, 50), min_size=1, max_size=30), st.integers(0, 500))
    def test_retention_bytes_keeps_the_log_at_or_above_the_limit(self, sizes, limit):
        topic_factory(name="retb", partitions=1, configs={"retention.bytes": str(limit), "retention.ms": "-1"})
        records_append(topic="retb", records=[RecordIn(value=b"x" * s) for s in sizes])
        log_clean()
        p = Partition.objects.get(topic__name="retb")
        remaining = sum(sizes[p.log_start_offset:])
        assert p.size_bytes == remaining
        assert remaining >= min(limit, sum(sizes))
        if p.log_start_offset < len(sizes):
            # Deleting one more record would have taken the log below the limit.
            assert remaining - sizes[p.log_start_offset] < limit
