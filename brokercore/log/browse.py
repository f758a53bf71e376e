"""The console's reads of a topic's records: the message browser (seek by offset or time, either
direction, across partitions, with a bounded substring filter) and the live tail. Bounded in
records and bytes per call. No side effects."""

from dataclasses import dataclass

from brokercore.errors import UnknownTopicOrPartition
from brokercore.log.read import bytes_or_none, headers_decode, records_read
from brokercore.models import (
    Partition,
    Record,
)
from brokercore.topics.read import topic_get
from brokercore.types import RecordOut

MATCH_FIELDS = ("any", "key", "value", "headers")


_CHUNK_MAX = 2000


_CHUNK_BYTES = 4 << 20


def record_matches(record: RecordOut, text: str, field: str = "any") -> bool:
    """Case-insensitive substring match on the record's key, value or headers (decoded as UTF-8)."""
    needle = text.casefold()

    def has(data: bytes | None) -> bool:
        return data is not None and needle in data.decode("utf-8", "replace").casefold()

    if field in ("any", "key") and has(record.key):
        return True
    if field in ("any", "value") and has(record.value):
        return True
    if field in ("any", "headers"):
        return any(needle in k.casefold() or has(v) for k, v in record.headers)
    return False


def _records_read_backward(partition: Partition, start: int, end: int, max_records: int) -> list[RecordOut]:
    """Up to max_records records of [start, end), newest offset first (the primary key, read backwards)."""
    rows = (
        Record.objects.filter(partition_id=partition.pk, offset__gte=start, offset__lt=end)
        .order_by("-offset")
        .values_list("offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")[:max_records]
    )
    topic = partition.topic.name
    return [
        RecordOut(topic, partition.index, o, ts, tt, bytes_or_none(k), bytes_or_none(v), headers_decode(h), size)
        for o, ts, tt, k, v, h, size in rows
    ]


def _partition_stream(partition: Partition, position: int, *, backward: bool, chunk: int):
    """One partition's records from `position` (forward: up to the watermark read; backward: down
    to the log start), read lazily in growing chunks so a merge only reads what it uses.

    Each query also bounds the offsets to a window of about `chunk` offsets: offsets are gapless
    (but for compaction), so the window holds the chunk, and no plan (even one made without table
    statistics, as after a bulk load on PostgreSQL) can read more of the partition than that.
    """
    lo, hi = partition.log_start_offset, partition.high_watermark
    # About _CHUNK_BYTES per query whatever the record size (the row holds the partition's bytes).
    most = max(1, _CHUNK_BYTES * max(1, hi - lo) // max(1, partition.size_bytes))
    chunk = window = min(chunk, most)
    while lo <= position <= hi and (position > lo if backward else position < hi):
        if backward:
            start = max(lo, position - window)
            rows = _records_read_backward(partition, start, position, chunk)
        else:
            end = min(hi, position + window)
            rows = records_read(partition, position, end, chunk, 1 << 62)
        yield from rows
        if len(rows) == chunk:
            position = rows[-1].offset if backward else rows[-1].offset + 1
            chunk = window = min(chunk * 2, _CHUNK_MAX, most)
        else:  # the window is read; fewer rows than offsets means compaction left gaps: widen it
            position = start if backward else end
            window *= 2


@dataclass(frozen=True)
class BrowsePage:
    """A page of the message browser and what it examined in each partition.

    A page examines [start[p], end[p]) of every partition p: upwards from the cursor when paging
    forwards, downwards when paging backwards. So "previous" is the page before `start` and "next"
    the page from `end`, and paging stays stable while records are appended.
    """

    records: list[RecordOut]  # oldest first: merged by timestamp across partitions
    start: dict[int, int]
    end: dict[int, int]
    bounds: dict[int, tuple[int, int]]  # partition -> (log start offset, high watermark), read first
    scanned: int
    scan_limited: bool  # the scan budget ran out before the page filled (only with a filter)

    @property
    def has_previous(self) -> bool:
        return any(self.start[p] > lo for p, (lo, _) in self.bounds.items())

    @property
    def has_next(self) -> bool:
        return any(self.end[p] < hi for p, (_, hi) in self.bounds.items())


def records_browse(
    *,
    topic: str,
    cursor: dict[int, int],
    backward: bool = False,
    limit: int = 50,
    text: str = "",
    field: str = "any",
    scan_limit: int = 10_000,
    scan_bytes: int = 32 << 20,
    page_bytes: int = 4 << 20,
) -> BrowsePage:
    """Up to `limit` records of the partitions in `cursor`, from (or, backward, before) its offsets.

    Partitions are merged by timestamp, each read in offset order through the primary key, never
    past the watermark read first. With `text`, only matching records count, and the scan stops
    after `scan_limit` records or `scan_bytes` bytes so one request never reads a whole partition.
    Cursor offsets outside a partition's log are clamped to it (retention may have moved it).
    """
    from heapq import merge

    if field not in MATCH_FIELDS:
        raise ValueError(f"field must be one of {MATCH_FIELDS}")
    t = topic_get(name=topic)
    parts = {p.index: p for p in Partition.objects.filter(topic=t, index__in=list(cursor)).select_related("topic")}
    missing = sorted(set(cursor) - set(parts))
    if missing:
        raise UnknownTopicOrPartition(f"Partition {missing[0]} of topic '{topic}' does not exist.")
    bounds = {i: (p.log_start_offset, p.high_watermark) for i, p in parts.items()}
    position = {i: min(max(o, bounds[i][0]), bounds[i][1]) for i, o in cursor.items()}
    budget = scan_limit if text else limit
    chunk = max(10, min(budget, -(-2 * budget // max(1, len(cursor))), _CHUNK_MAX))
    streams = [_partition_stream(parts[i], position[i], backward=backward, chunk=chunk) for i in sorted(parts)]
    start, end = dict(position), dict(position)
    taken: list[RecordOut] = []
    scanned = scanned_size = taken_size = 0
    scan_limited = False
    for r in merge(*streams, key=lambda r: (r.timestamp, r.partition), reverse=backward):
        scanned += 1
        scanned_size += r.size
        if backward:
            start[r.partition] = r.offset
        else:
            end[r.partition] = r.offset + 1
        if not text or record_matches(r, text, field):
            taken.append(r)
            taken_size += r.size
            if len(taken) >= limit or taken_size >= page_bytes:
                break
        if text and (scanned >= scan_limit or scanned_size >= scan_bytes):
            scan_limited = True
            break
    else:  # every stream ran out: the page reaches the end of each partition in its direction
        if backward:
            start = {i: lo for i, (lo, _) in bounds.items()}
        else:
            end = {i: hi for i, (_, hi) in bounds.items()}
    if backward:
        taken.reverse()
    return BrowsePage(records=taken, start=start, end=end, bounds=bounds, scanned=scanned, scan_limited=scan_limited)


@dataclass(frozen=True)
class TailBatch:
    records: list[RecordOut]  # newest first
    positions: dict[int, int]  # partition -> the next offset to read (its watermark when read)
    skipped: int  # offsets that arrived but were not returned (more than `limit` at once)


def records_tail(*, topic: str, positions: dict[int, int] | None = None, initial: int = 20, limit: int = 200) -> TailBatch:
    """What a live tail shows next: the newest `initial` records when `positions` is None, else the
    records appended since `positions` (the newest `limit` of them), newest first by timestamp."""
    from heapq import merge

    t = topic_get(name=topic)
    parts = list(Partition.objects.filter(topic=t).select_related("topic").order_by("index"))
    want = initial if positions is None else limit
    streams, arrived = [], 0
    for p in parts:
        if positions is None:
            lo = max(p.log_start_offset, p.high_watermark - initial)
        else:
            lo = max(p.log_start_offset, positions.get(p.index, p.log_start_offset))
            arrived += max(0, p.high_watermark - lo)
        if lo < p.high_watermark:
            # The newest `want` offsets hold the newest `want` records (gapless but for compaction).
            streams.append(_records_read_backward(p, max(lo, p.high_watermark - want), p.high_watermark, want))
    records = list(merge(*streams, key=lambda r: (r.timestamp, r.partition), reverse=True))[:want] if want else []
    skipped = 0 if positions is None else max(0, arrived - len(records))
    return TailBatch(records=records, positions={p.index: p.high_watermark for p in parts}, skipped=skipped)

