"""Reads of the log for consumers: fetch (one partition, or many for the Kafka listener, waiting
for records when asked), list offsets (earliest, latest, by time, max timestamp). A fetch never
returns past the high watermark it read first. No side effects (a fetch may wait, never writes).

The log is stored in record batches (brokercore.models.RecordBatch): Kafka's fetch hands them
back as stored; every other reader decodes the few batches it needs (`records_read`).
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from brokercore import clock
from brokercore.errors import InvalidFetchSize, OffsetOutOfRange, UnknownTopicOrPartition
from brokercore.log.batch import batch_base_offset, batch_last_offset, batch_records
from brokercore.log.storage import storage_location
from brokercore.models import Partition, RecordBatch
from brokercore.notify import log_waiters
from brokercore.topics.read import partition_get, topic_get
from brokercore.types import FetchResult, RecordOut

# Kafka's ListOffsets sentinels (ListOffsetsRequest): the log's end, its start, the record with the
# largest timestamp (KIP-734), and the start of the local log (KIP-405: without tiered storage, the
# whole log).
LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL = -1, -2, -3, -4
# The last offset in tiered storage (KIP-1005): no tiered storage here, so none.
LATEST_TIERED = -5


_BATCH_TABLE = RecordBatch._meta.db_table
# The batches holding offsets >= start, in offset order: a range of the primary key (partition,
# last offset). `base_offset < end` keeps out batches past the watermark read first.
_BATCHES_FROM = (
    f"SELECT data FROM {_BATCH_TABLE} WHERE partition_id = %s AND last_offset >= %s AND base_offset < %s "
    f"ORDER BY last_offset LIMIT %s"
)
_BATCHES_BACKWARD = (
    f"SELECT data FROM {_BATCH_TABLE} WHERE partition_id = %s AND last_offset < %s "
    f"ORDER BY last_offset DESC LIMIT %s"
)


def _rows(sql: str, params: list) -> list[tuple]:
    """Rows of a read of batch bytes. On PostgreSQL in binary: bytea in text form is hex, twice the
    bytes to send and to decode (measured: a 1 MiB read 8.5-9.3 ms in text, 2.2-3.0 in binary)."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        # A server-side-binding cursor: Django's client-side ones cannot ask for binary results.
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, binary=True, prepare=True)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def batches_from(partition_id: int, start: int, end: int, *, first: int = 4, most: int = 256) -> Iterator[bytes]:
    """The stored batches of a partition holding offsets in [start, end), in offset order, read
    lazily in growing pages (a reader that stops early reads little)."""
    page = first
    while start < end:
        rows = _rows(_BATCHES_FROM, [partition_id, start, end, page])
        for (data,) in rows:
            yield data
        if len(rows) < page:
            return
        start = batch_last_offset(rows[-1][0]) + 1
        page = min(page * 2, most)


def batches_before(partition_id: int, end: int, *, first: int = 4, most: int = 256) -> Iterator[bytes]:
    """The stored batches of a partition holding offsets below `end`, newest first, read lazily."""
    rows = _rows(_BATCHES_FROM, [partition_id, end, end, 1])  # the batch `end` cuts through, if one does
    if rows:
        yield rows[0][0]
        end = batch_base_offset(rows[0][0])
    page = first
    while True:
        rows = _rows(_BATCHES_BACKWARD, [partition_id, end, page])
        for (data,) in rows:
            yield data
        if len(rows) < page:
            return
        end = batch_base_offset(rows[-1][0])
        if end <= 0:
            return
        page = min(page * 2, most)


def batches_at(positions: dict[int, int], *, backward: bool) -> dict[int, bytes]:
    """For many partitions at once (partition pk -> position), in one query per 400 of them: the
    batch a reader starting there reads first. Forward: the batch holding `position`, or the next
    one. Backward (records before `position`): the batch holding `position - 1`, or the one
    before. Partitions with no such batch are left out. Every lookup is a primary-key probe, so
    the cost does not grow with the log."""
    out: dict[int, bytes] = {}
    items = sorted(positions.items())
    if backward:
        # The batch cutting through `pos` if there is one, else the last one wholly before it.
        # Written as two probes: a filter on base_offset inside an ordered LIMIT would scan on.
        chosen = (
            f"coalesce((SELECT x.last_offset FROM (SELECT last_offset, base_offset FROM {_BATCH_TABLE} "
            f"WHERE partition_id = c.pid AND last_offset >= c.pos ORDER BY last_offset LIMIT 1) x "
            f"WHERE x.base_offset < c.pos), "
            f"(SELECT max(last_offset) FROM {_BATCH_TABLE} WHERE partition_id = c.pid AND last_offset < c.pos))"
        )
    else:
        chosen = f"(SELECT min(last_offset) FROM {_BATCH_TABLE} WHERE partition_id = c.pid AND last_offset >= c.pos)"
    for i in range(0, len(items), 400):
        chunk = items[i : i + 400]
        values = ", ".join(["(%s, %s)"] * len(chunk))
        sql = (
            f"WITH c(pid, pos) AS (VALUES {values}) SELECT c.pid, b.data FROM c "
            f"JOIN {_BATCH_TABLE} b ON b.partition_id = c.pid AND b.last_offset = {chosen}"
        )
        for pid, data in _rows(sql, [v for pair in chunk for v in pair]):
            out[pid] = data
    return out


def records_read(partition: Partition, start: int, end: int, max_records: int, max_bytes: int) -> list[RecordOut]:
    """Records of [start, end) in offset order, at most max_records and (but for the first)
    max_bytes of keys, values and headers, decoded from the batches that hold them."""
    out: list[RecordOut] = []
    total = 0
    topic = partition.topic.name
    for data in batches_from(partition.pk, start, end, first=1):
        for r in batch_records(data, topic=topic, partition=partition.index, start=start, end=end):
            # Like Kafka (KIP-74) the first record is returned even when it alone exceeds
            # max_bytes, so a consumer can never get stuck behind one large record.
            if out and total + r.size > max_bytes:
                return out
            total += r.size
            out.append(r)
            if len(out) >= max_records:
                return out
    return out


def _fetched(topic: str, partition: int, p: Partition, records: list[RecordOut]) -> FetchResult:
    """A fetch's answer for one partition as read: the next offset follows the last record, or is
    the watermark when nothing was returned (past a range compaction emptied)."""
    return FetchResult(
        topic=topic,
        partition=partition,
        records=records,
        high_watermark=p.high_watermark,
        log_start_offset=p.log_start_offset,
        next_offset=records[-1].offset + 1 if records else p.high_watermark,
    )


def records_fetch(
    *,
    topic: str,
    partition: int,
    offset: int,
    max_records: int = 500,
    max_bytes: int = 1_048_576,
    max_wait_ms: int = 0,
) -> FetchResult:
    """Records from `offset` on, never past the high watermark read first.

    With max_wait_ms > 0 and nothing to return, waits for an append (long poll): appends in this
    process wake it at once, other processes' appends within FETCH_POLL_INTERVAL_MS.
    """
    if max_records < 1 or max_bytes < 1:
        raise InvalidFetchSize("max_records and max_bytes must be at least 1.")
    deadline = time.monotonic() + max(0, max_wait_ms) / 1000
    poll_s = settings.BROKER["FETCH_POLL_INTERVAL_MS"] / 1000
    while True:
        p = partition_get(topic=topic, partition=partition)
        seen = log_waiters.version((p.pk,))
        if offset < p.log_start_offset or offset > p.high_watermark:
            holds = (
                "the log is empty"
                if p.log_start_offset == p.high_watermark
                else f"the log holds offsets {p.log_start_offset}..{p.high_watermark - 1}"
            )
            raise OffsetOutOfRange(
                f"Offset {offset} is out of range for partition {topic}-{partition}: {holds} "
                f"(log start offset {p.log_start_offset}, high watermark {p.high_watermark})."
            )
        records = []
        if offset < p.high_watermark:
            records = records_read(p, offset, p.high_watermark, max_records, max_bytes)
        remaining = deadline - time.monotonic()
        # Below the watermark but nothing read: compaction removed that whole range, so the
        # consumer moves past the gap to the watermark, as Kafka's fetch does.
        if records or offset < p.high_watermark or remaining <= 0:
            return _fetched(topic, partition, p, records)
        log_waiters.wait((p.pk,), seen, min(remaining, poll_s))


def offset_for(*, topic: str, partition: int, spec: int) -> tuple[int, int | None]:
    """Kafka's ListOffsets for one partition: (offset, timestamp).

    spec EARLIEST (-2) -> log start offset; LATEST (-1) -> high watermark; a timestamp (ms) ->
    the earliest offset whose record timestamp is >= it, or the high watermark if none is
    (Kafka answers -1 there; callers that need -1 map it). Uses the (partition, timestamp) index.
    """
    p = partition_get(topic=topic, partition=partition)
    if spec == EARLIEST:
        return p.log_start_offset, None
    if spec == LATEST:
        return p.high_watermark, None
    if spec < 0:
        raise OffsetOutOfRange(f"Unknown offset spec {spec}: use -2 (earliest), -1 (latest) or a timestamp.")
    # Kafka's: the first batch (in offset order) whose max timestamp reaches the target, then
    # the first record of it that does. Read in LIMIT-ed pages of the primary key, continued by
    # offset; the max_timestamp filter uses (partition, max_timestamp) when that is cheaper.
    after = p.log_start_offset
    while after < p.high_watermark:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT last_offset, data FROM {_BATCH_TABLE} WHERE partition_id = %s AND max_timestamp >= %s "
                f"AND last_offset >= %s AND base_offset < %s ORDER BY last_offset LIMIT 16",
                [p.pk, spec, after, p.high_watermark],
            )
            rows = cursor.fetchall()
        for _, data in rows:
            for r in batch_records(data, topic=topic, partition=partition, start=p.log_start_offset, end=p.high_watermark):
                if r.timestamp >= spec:
                    return r.offset, r.timestamp
        if len(rows) < 16:
            break
        after = rows[-1][0] + 1
    return p.high_watermark, None


def offsets_before(*, topic: str, partition: int, timestamp: int, max_offsets: int) -> list[int]:
    """Kafka's ListOffsets v0 (UnifiedLog.legacyFetchOffsetsBefore): up to `max_offsets` segment
    start offsets of segments last written at or before `timestamp` (EARLIEST: the first; LATEST:
    the log end), newest first. The log is one segment here: it starts at the log start offset,
    was last written at the last append, and a non-empty log adds (log end, now) as Kafka's active
    segment does."""
    p = partition_get(topic=topic, partition=partition)
    written = int(p.last_append_at.timestamp() * 1000) if p.last_append_at is not None else 0
    segments = [(p.log_start_offset, written)]
    if p.high_watermark > p.log_start_offset:
        segments.append((p.high_watermark, clock.now_ms()))
    if timestamp == LATEST:
        start = len(segments) - 1
    elif timestamp == EARLIEST:
        start = 0
    else:
        start = max((i for i, (_, at) in enumerate(segments) if at <= timestamp), default=-1)
    return [offset for offset, _ in reversed(segments[: start + 1])][: max(0, max_offsets)]


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """A partition's readable range: offsets log_start_offset .. high_watermark - 1."""

    partition: int
    log_start_offset: int
    high_watermark: int


def partition_offsets_list(*, topic: str) -> list[PartitionOffsets]:
    """Every partition's log start and high watermark, by partition (one query)."""
    t = topic_get(name=topic)
    rows = Partition.objects.filter(topic=t).order_by("index").values_list("index", "log_start_offset", "high_watermark")
    return [PartitionOffsets(i, start, high) for i, start, high in rows]


@dataclass(frozen=True, slots=True)
class FetchMany:
    """What `records_fetch_many` read: one FetchResult or error per request, and how to wait
    for more (`notify.log_waiters` keys and the versions seen before reading)."""

    results: list[FetchResult | Exception]
    partition_ids: tuple[int, ...]
    seen: tuple[int, ...]
    size: int  # batch bytes in all results


def records_fetch_many(*, requests: list[tuple[str, int, int, int]], max_bytes: int) -> FetchMany:
    """Kafka's Fetch over many partitions: for each (topic, partition, offset, partition max
    bytes), the stored batches from the one holding `offset` on, as stored (a fetch from the
    middle of a batch gets the whole batch, as from Kafka; clients skip the records before their
    offset), never past the watermark read first; never waits.

    The response's `max_bytes` is shared in request order; like Kafka (KIP-74) a partition still
    returns its first batch when that alone is larger, as long as no earlier partition returned
    anything, so a consumer never gets stuck behind a large batch.
    """
    partitions = _partitions_read({t for t, _, _, _ in requests}, {p for _, p, _, _ in requests})
    pids = tuple(p[0] for p in partitions.values())
    seen = log_waiters.version(pids)
    results: list[FetchResult | Exception] = []
    remaining = max_bytes
    total = 0
    for topic, index, offset, partition_max in requests:
        p = partitions.get((topic, index))
        if p is None:
            results.append(UnknownTopicOrPartition(f"Partition {index} of topic '{topic}' does not exist."))
            continue
        pid, log_start, high = p
        if offset < log_start or offset > high:
            results.append(OffsetOutOfRange(
                f"Offset {offset} is out of range for partition {topic}-{index} "
                f"(log start offset {log_start}, high watermark {high})."
            ))
            continue
        limit = min(partition_max, remaining)
        chunks: list[bytes] = []
        next_offset = high
        if offset < high and limit <= 0 < total:
            next_offset = offset  # the response is full: nothing read, nothing skipped
        elif offset < high:
            # Like Kafka (KIP-74): the first batch goes out even when it alone is larger than the
            # limit, so a consumer never gets stuck behind a large batch.
            chunks, next_offset = _batches_within(pid, offset, high, limit, first_always=total == 0)
        size = sum(len(c) for c in chunks)
        total += size
        remaining -= size
        results.append(FetchResult(
            topic=topic, partition=index, records=[], high_watermark=high, log_start_offset=log_start,
            next_offset=next_offset, data=b"".join(chunks),
        ))
    return FetchMany(results=results, partition_ids=pids, seen=seen, size=total)


_PARTITION_TABLE = Partition._meta.db_table
_TOPIC_TABLE = Partition._meta.get_field("topic").related_model._meta.db_table


def _partitions_read(names: set[str], indexes: set[int]) -> dict[tuple[str, int], tuple[int, int, int]]:
    """(topic, index) -> (partition pk, log start offset, high watermark) of live topics, in one
    query (the ORM's select_related cost a fetch about 1 ms more, most of its time on SQLite)."""
    if not names or not indexes:
        return {}
    names_in = ", ".join(["%s"] * len(names))
    indexes_in = ", ".join(["%s"] * len(indexes))
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT t.name, p."index", p.id, p.log_start_offset, p.high_watermark FROM {_PARTITION_TABLE} p '
            f"JOIN {_TOPIC_TABLE} t ON t.id = p.topic_id "
            f'WHERE t.deleted_at IS NULL AND t.name IN ({names_in}) AND p."index" IN ({indexes_in})',
            [*names, *indexes],
        )
        return {(name, index): (pid, start, high) for name, index, pid, start, high in cursor.fetchall()}


def _batches_within(partition_id: int, start: int, end: int, limit: int, *, first_always: bool) -> tuple[list[bytes], int]:
    """The batches from the one holding `start` while their bytes stay within `limit` (the first
    one whatever its size, when `first_always`), and the offset the next fetch starts at. Two
    queries as a rule: the first batch, then as many more as fit at its size, so a fetch reads
    about what it returns.

    No batch at all means compaction emptied [start, end): the next fetch starts at `end`. A
    first batch that does not fit leaves the position at `start`, to be read when this partition
    comes first in a response (answering `end` there would skip those records)."""
    rows = _rows(_BATCHES_FROM, [partition_id, start, end, 1])
    if not rows:
        return [], end
    if not first_always and len(rows[0][0]) > limit:
        return [], start
    out = [rows[0][0]]
    size = len(out[0])
    while size < limit:
        last = batch_last_offset(out[-1])
        if last + 1 >= end:
            break
        mean = max(1, size // len(out))
        page = max(1, min(1000, (limit - size) // mean + 1))
        rows = _rows(_BATCHES_FROM, [partition_id, last + 1, end, page])
        for (data,) in rows:
            if size + len(data) > limit:
                return out, batch_last_offset(out[-1]) + 1
            out.append(data)
            size += len(data)
        if len(rows) < page:
            break
    return out, batch_last_offset(out[-1]) + 1


def offset_max_timestamp(*, topic: str, partition: int) -> tuple[int, int | None]:
    """Kafka's ListOffsets MAX_TIMESTAMP (-3): (offset, timestamp) of the first record with the
    largest timestamp in the log, or (-1, None) when the log is empty."""
    p = partition_get(topic=topic, partition=partition)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT data FROM {_BATCH_TABLE} WHERE partition_id = %s AND last_offset >= %s AND base_offset < %s "
            f"ORDER BY max_timestamp DESC, last_offset LIMIT 1",
            [p.pk, p.log_start_offset, p.high_watermark],
        )
        row = cursor.fetchone()
    if row is None:
        return -1, None
    records = batch_records(row[0], topic=topic, partition=partition, start=p.log_start_offset, end=p.high_watermark)
    if not records:
        return -1, None
    best = max(r.timestamp for r in records)
    return next((r.offset, r.timestamp) for r in records if r.timestamp == best)


@dataclass(frozen=True, slots=True)
class LogDir:
    """Where the log is kept, as Kafka's DescribeLogDirs describes a log directory: one per node,
    since every node serves the one copy in the database. `total_bytes`/`usable_bytes` are the
    volume's, -1 where unknown (a PostgreSQL server's disk is not visible from here)."""

    path: str
    total_bytes: int
    usable_bytes: int
    # topic -> [(partition, bytes of its records in the log)], by name and index
    partitions: dict[str, list[tuple[int, int]]]
    replication_factors: dict[str, int]  # topic -> its replication factor (where it is placed)


def log_dir_describe(*, topics: list[str] | None = None) -> LogDir:
    """The log directory with the sizes of `topics`' partitions (every live topic when None;
    names that are not topics are left out, as Kafka does)."""
    qs = Partition.objects.filter(topic__deleted_at__isnull=True)
    if topics is not None:
        qs = qs.filter(topic__name__in=topics)
    partitions: dict[str, list[tuple[int, int]]] = {}
    factors: dict[str, int] = {}
    rows = qs.order_by("topic__name", "index").values_list("topic__name", "topic__replication_factor", "index", "size_bytes")
    for name, factor, index, size in rows:
        partitions.setdefault(name, []).append((index, size))
        factors[name] = factor
    path, total, usable = storage_location()
    return LogDir(path=path, total_bytes=total, usable_bytes=usable, partitions=partitions, replication_factors=factors)
