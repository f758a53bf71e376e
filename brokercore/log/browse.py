"""The console's reads of a topic's records: the message browser (seek by offset or time, either
direction, across partitions, with a bounded substring filter), the live tail, and what adding
partitions would do to the topic's recent keys. Bounded in
records and bytes per call. No side effects."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from brokercore.errors import UnknownTopicOrPartition
from brokercore.log.batch import batch_base_offset, batch_last_offset, batch_records
from brokercore.log.read import batches_at, batches_before, batches_from
from brokercore.models import Partition
from brokercore.partitioner import partition_for_key
from brokercore.topics.read import topic_get
from brokercore.types import RecordOut

MATCH_FIELDS = ("any", "key", "value", "headers")


_CHUNK_MAX = 2000


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


# A stream given this as its first batch reads its own (one query); given None, it has none.
_UNREAD = b""


def _stream_backward(partition: Partition, start: int, end: int, first: bytes | None = _UNREAD) -> Iterator[RecordOut]:
    """Records of [start, end), newest offset first, batch by batch (`first`: the batch holding
    end - 1 or the one before, read already by `batches_at`)."""
    topic = partition.topic.name
    if first is None:
        return
    if first is not _UNREAD:
        records = batch_records(first, topic=topic, partition=partition.index, start=start, end=end)
        yield from reversed(records)
        end = batch_base_offset(first)
        if end <= start:
            return
    for data in batches_before(partition.pk, end):
        records = batch_records(data, topic=topic, partition=partition.index, start=start, end=end)
        yield from reversed(records)
        if batch_base_offset(data) <= start:
            return


def _partition_stream(
    partition: Partition, position: int, *, backward: bool, chunk: int, first: bytes | None = _UNREAD
) -> Iterator[RecordOut]:
    """One partition's records from `position` (forward: up to the watermark read; backward: down
    to the log start), decoded lazily batch by batch so a merge only reads what it uses; the
    batches are read in pages that grow from about `chunk` records' worth. `first`: the first
    batch to read, read already for many partitions at once (`batches_at`)."""
    lo, hi = partition.log_start_offset, partition.high_watermark
    if backward:
        if position > lo:
            yield from _stream_backward(partition, lo, position, first)
        return
    if first is None or position >= hi:
        return
    topic = partition.topic.name
    if first is not _UNREAD:
        yield from batch_records(first, topic=topic, partition=partition.index, start=position, end=hi)
        position = batch_last_offset(first) + 1
    for data in batches_from(partition.pk, position, hi, first=max(1, min(64, chunk // 100 + 1))):
        yield from batch_records(data, topic=topic, partition=partition.index, start=position, end=hi)


def _firsts(parts: dict[int, Partition], position: dict[int, int], *, backward: bool) -> dict[int, bytes | None]:
    """Each partition's first batch to read, in one query for all (partition index -> batch, None
    where there is nothing to read)."""
    want = {
        p.pk: position[i] for i, p in parts.items()
        if (position[i] > p.log_start_offset if backward else position[i] < p.high_watermark)
    }
    found = batches_at(want, backward=backward) if want else {}
    return {i: found.get(p.pk) for i, p in parts.items()}


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
    firsts = _firsts(parts, position, backward=backward)
    streams = [
        _partition_stream(parts[i], position[i], backward=backward, chunk=chunk, first=firsts[i]) for i in sorted(parts)
    ]
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
    from itertools import islice

    t = topic_get(name=topic)
    parts = list(Partition.objects.filter(topic=t).select_related("topic").order_by("index"))
    want = initial if positions is None else limit
    arrived = 0
    lows = {}
    for p in parts:
        if positions is None:
            lo = max(p.log_start_offset, p.high_watermark - initial)
        else:
            lo = max(p.log_start_offset, positions.get(p.index, p.log_start_offset))
            arrived += max(0, p.high_watermark - lo)
        if lo < p.high_watermark:
            # The newest `want` offsets hold the newest `want` records (gapless but for compaction).
            lows[p.index] = max(lo, p.high_watermark - want)
    live = {p.index: p for p in parts if p.index in lows}
    firsts = _firsts(live, {i: p.high_watermark for i, p in live.items()}, backward=True)
    streams = [_stream_backward(p, lows[i], p.high_watermark, firsts[i]) for i, p in live.items()]
    merged = merge(*streams, key=lambda r: (r.timestamp, r.partition), reverse=True)
    records = list(islice(merged, want)) if want else []
    skipped = 0 if positions is None else max(0, arrived - len(records))
    return TailBatch(records=records, positions={p.index: p.high_watermark for p in parts}, skipped=skipped)


def topic_recent_keys(*, name: str, limit: int = 1000) -> list[bytes]:
    """Distinct non-null keys of the topic's newest `limit` records (by timestamp), newest first.

    Reads at most the last `limit` offsets of each partition (the primary-key range), so a large
    log costs no more than a small one.
    """
    topic = topic_get(name=name)
    newest = []
    for p in Partition.objects.filter(topic=topic).only("pk", "index", "log_start_offset", "high_watermark"):
        start = max(p.log_start_offset, p.high_watermark - limit)
        for data in batches_before(p.pk, p.high_watermark):
            records = batch_records(data, topic=name, partition=p.index, start=start, end=p.high_watermark)
            newest += records
            if not records or records[0].offset <= start:
                break
    newest.sort(key=lambda r: (r.timestamp, r.offset), reverse=True)
    seen: dict[bytes, None] = {}
    for r in newest[:limit]:
        if r.key is not None:
            seen.setdefault(r.key, None)
    return list(seen)


@dataclass(frozen=True)
class KeyMovePreview:
    """What growing a topic to `count` partitions does to the mapping of its recent keys."""

    current: int
    count: int
    keys: int  # distinct keys sampled
    moved: int  # of those, keys that would map to another partition
    moves: list[tuple[int, int, int]]  # (from partition, to partition, keys), most keys first
    examples: list[tuple[bytes, int, int]]  # (key, from, to), a few of the moved keys


def topic_partitions_add_preview(*, name: str, count: int, sample: int = 1000, examples: int = 8) -> KeyMovePreview:
    """Which recent keys would land elsewhere after growing to `count` partitions.

    Records already written stay where they are; only records produced after the change follow
    the new toPositive(murmur2(key)) % count, so a moved key's old and new records sit on two
    partitions and per-key order holds only within each.
    """
    current = Partition.objects.filter(topic=topic_get(name=name)).count()
    keys = topic_recent_keys(name=name, limit=sample)
    moves: Counter = Counter()
    moved_examples = []
    for key in keys:
        old, new = partition_for_key(key, current), partition_for_key(key, count)
        if old != new:
            moves[(old, new)] += 1
            if len(moved_examples) < examples:
                moved_examples.append((key, old, new))
    return KeyMovePreview(
        current=current,
        count=count,
        keys=len(keys),
        moved=sum(moves.values()),
        moves=[(a, b, n) for (a, b), n in sorted(moves.items(), key=lambda item: (-item[1], item[0]))],
        examples=moved_examples,
    )
