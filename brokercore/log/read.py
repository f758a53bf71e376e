"""Reads of the log for consumers: fetch (one partition, or many for the Kafka listener, waiting
for records when asked), list offsets (earliest, latest, by time, max timestamp). A fetch never
returns past the high watermark it read first. No side effects (a fetch may wait, never writes)."""

import base64
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from brokercore.errors import InvalidFetchSize, OffsetOutOfRange, UnknownTopicOrPartition
from brokercore.models import (
    Partition,
    Record,
)
from brokercore.notify import log_waiters
from brokercore.topics.read import partition_get, topic_get
from brokercore.types import FetchResult, RecordOut

# Kafka's ListOffsets sentinels (ListOffsetsRequest): the log's end, its start, the record with the
# largest timestamp (KIP-734), and the start of the local log (KIP-405: without tiered storage, the
# whole log).
LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL = -1, -2, -3, -4


def headers_decode(stored: list[list[str | None]] | None) -> tuple[tuple[str, bytes | None], ...]:
    """A record's stored headers ([key, base64 value or None] pairs, or None) as Kafka's (key, bytes) pairs."""
    if not stored:
        return ()
    return tuple((k, None if v is None else base64.b64decode(v)) for k, v in stored)


def bytes_or_none(v: bytes | memoryview | None) -> bytes | None:
    """Drivers return bytea as memoryview (PostgreSQL) or bytes (SQLite); copy only the former."""
    return v if v is None or type(v) is bytes else bytes(v)


def records_read(partition: Partition, start: int, end: int, max_records: int, max_bytes: int) -> list[RecordOut]:
    # The offset window is bounded by max_records too, so even without table statistics the
    # planner reads a short primary-key range instead of everything up to the watermark. A window
    # that compaction emptied moves on to the next one.
    while True:
        window_end = min(end, start + max_records)
        rows = list(
            Record.objects.filter(partition_id=partition.pk, offset__gte=start, offset__lt=window_end)
            .order_by("offset")
            .values_list("offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")[:max_records]
        )
        if rows or window_end >= end:
            break
        start = window_end
    out: list[RecordOut] = []
    total = 0
    topic = partition.topic.name
    for offset, ts, ts_type, key, value, headers, size in rows:
        # Like Kafka (KIP-74) the first record is returned even when it alone exceeds max_bytes,
        # so a consumer can never get stuck behind one large record.
        if out and total + size > max_bytes:
            break
        total += size
        out.append(RecordOut(
            topic, partition.index, offset, ts, ts_type,
            bytes_or_none(key), bytes_or_none(value),
            headers_decode(headers) if headers else (), size,
        ))
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
    # Only (partition, timestamp) in the WHERE clause, so the planner always uses that index; rows
    # outside [log start, high watermark) (not yet purged, or not yet visible) are skipped here.
    # Read in LIMIT-ed slices continued by a (timestamp, offset) keyset: a server-side cursor
    # outside a transaction would make PostgreSQL materialise every later record first.
    after: tuple[int, int] | None = None
    while True:
        qs = Record.objects.filter(partition_id=p.pk, timestamp__gte=spec)
        if after is not None:
            qs = qs.filter(Q(timestamp__gt=after[0]) | Q(timestamp=after[0], offset__gt=after[1]))
        rows = list(qs.order_by("timestamp", "offset").values_list("offset", "timestamp")[:100])
        for offset, ts in rows:
            if p.log_start_offset <= offset < p.high_watermark:
                return offset, ts
        if len(rows) < 100:
            return p.high_watermark, None
        after = (rows[-1][1], rows[-1][0])


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
    size: int  # record bytes in all results


def records_fetch_many(*, requests: list[tuple[str, int, int, int]], max_bytes: int, max_records: int = 5000) -> FetchMany:
    """Kafka's Fetch over many partitions: for each (topic, partition, offset, partition max
    bytes), the records from `offset` on, never past the watermark read first; never waits.

    The response's `max_bytes` is shared in request order; like Kafka (KIP-74) a partition still
    returns its first record when that alone is larger, as long as no earlier partition returned
    anything, so a consumer never gets stuck behind a large record.
    """
    names = {t for t, _, _, _ in requests}
    indexes = {p for _, p, _, _ in requests}
    partitions = {
        (p.topic.name, p.index): p
        for p in Partition.objects.select_related("topic").filter(
            topic__name__in=names, topic__deleted_at__isnull=True, index__in=indexes
        )
    }
    pids = tuple(p.pk for p in partitions.values())
    seen = log_waiters.version(pids)
    results: list[FetchResult | Exception] = []
    remaining = max_bytes
    total = 0
    for topic, index, offset, partition_max in requests:
        p = partitions.get((topic, index))
        if p is None:
            results.append(UnknownTopicOrPartition(f"Partition {index} of topic '{topic}' does not exist."))
            continue
        if offset < p.log_start_offset or offset > p.high_watermark:
            results.append(OffsetOutOfRange(
                f"Offset {offset} is out of range for partition {topic}-{index} "
                f"(log start offset {p.log_start_offset}, high watermark {p.high_watermark})."
            ))
            continue
        limit = min(partition_max, remaining)
        records: list[RecordOut] = []
        if offset < p.high_watermark and (limit > 0 or total == 0):
            # Rows to read: about what `limit` holds at the partition's mean record size, so one
            # fetch of large records does not read thousands of them to return a few.
            live = max(1, p.high_watermark - p.log_start_offset)
            mean = max(1, p.size_bytes // live)
            rows = max(1, min(max_records, 2 * max(limit, 1) // mean + 1))
            records = records_read(p, offset, p.high_watermark, rows, max(limit, 1))
        size = sum(r.size for r in records)
        total += size
        remaining -= size
        results.append(_fetched(topic, index, p, records))
    return FetchMany(results=results, partition_ids=pids, seen=seen, size=total)


def offset_max_timestamp(*, topic: str, partition: int) -> tuple[int, int | None]:
    """Kafka's ListOffsets MAX_TIMESTAMP (-3): (offset, timestamp) of the first record with the
    largest timestamp in the log, or (-1, None) when the log is empty."""
    p = partition_get(topic=topic, partition=partition)
    row = (
        Record.objects.filter(partition_id=p.pk, offset__gte=p.log_start_offset, offset__lt=p.high_watermark)
        .order_by("-timestamp", "offset")
        .values_list("offset", "timestamp")
        .first()
    )
    return row if row is not None else (-1, None)

