"""The log's cleaner (Kafka's LogCleaner and retention): delete-records, retention, compaction,
topic purge and the physical removal of rows below the log start.

Invariants:
- Consuming never deletes. Only delete-records, retention and topic deletion move the log start
  offset; the rows below it are removed later in short chunks. Compaction removes superseded
  records of a key in place (offsets stay, gaps appear), as Kafka's log cleaner does.
- Every move of a log start re-checks the old value under the partition's row lock, so several
  cleaners (one per server process) can run at once.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Case, Max, Min, Q, Sum, Value, When

from brokercore import clock, events
from brokercore.errors import (
    OffsetOutOfRange,
)
from brokercore.models import Partition, Record, Topic
from brokercore.topics.read import partition_get, topic_get
from brokercore.topics.rules import LogConfig


def _log_start_advance(partition_id: int, old_start: int, new_start: int) -> bool:
    """Move the log start forward unless somebody else moved it meanwhile.

    The sizes of the released range are summed before taking the row lock, so the lock is held
    only for one UPDATE.
    """
    released = (
        Record.objects.filter(partition_id=partition_id, offset__gte=old_start, offset__lt=new_start)
        .aggregate(s=Sum("size"))["s"]
        or 0
    )
    with transaction.atomic():
        p = Partition.objects.select_for_update(no_key=True).get(pk=partition_id)
        if p.log_start_offset != old_start:
            return False
        p.log_start_offset = new_start
        p.size_bytes = 0 if new_start == p.high_watermark else max(0, p.size_bytes - released)
        p.save(update_fields=["log_start_offset", "size_bytes"])
    return True


def records_delete_before(*, topic: str, partition: int, offset: int) -> int:
    """Kafka's DeleteRecords: records below `offset` (-1: the high watermark) are gone at once.

    Returns the new log start offset (Kafka's low watermark). Rows are removed physically later.
    """
    with transaction.atomic():
        p = partition_get(topic=topic, partition=partition)
        p = Partition.objects.select_for_update(no_key=True).get(pk=p.pk)
        target = p.high_watermark if offset == -1 else offset
        if isinstance(target, bool) or not isinstance(target, int) or target < 0 or target > p.high_watermark:
            raise OffsetOutOfRange(
                f"Cannot delete records before offset {offset} of {topic}-{partition}: "
                f"it must be between 0 and the high watermark {p.high_watermark} (or -1 for all)."
            )
        if target <= p.log_start_offset:
            return p.log_start_offset
        if target == p.high_watermark:
            p.size_bytes = 0
        else:
            released = (
                Record.objects.filter(partition_id=p.pk, offset__gte=p.log_start_offset, offset__lt=target)
                .aggregate(s=Sum("size"))["s"]
                or 0
            )
            p.size_bytes = max(0, p.size_bytes - released)
        p.log_start_offset = target
        p.save(update_fields=["log_start_offset", "size_bytes"])
        events.publish_on_commit(
            [events.topic_group(p.topic.topic_id)],
            "records.deleted",
            {"topic": topic, "topic_id": str(p.topic.topic_id), "partition": partition, "log_start_offset": target},
        )
        return target


def topic_purge(*, topic: str) -> dict[int, int]:
    """Delete every record of every partition (the console's "purge"); partitions stay."""
    t = topic_get(name=topic)
    return {
        p: records_delete_before(topic=topic, partition=p, offset=-1)
        for p in Partition.objects.filter(topic=t).order_by("index").values_list("index", flat=True)
    }


@dataclass
class CleanStats:
    retention_deleted: int = 0  # records moved below the log start by retention
    compacted: int = 0  # superseded records and expired tombstones removed
    rows_purged: int = 0  # rows physically deleted below log start offsets
    producers_expired: int = 0  # idempotent producers' partition state forgotten
    topics_purged: list[str] = field(default_factory=list)


def _scan(partition_id: int, start: int, end: int, chunk: int = 5000) -> Iterator[tuple[int, int, int]]:
    """(offset, timestamp, size) in offset order, read in chunks."""
    while start < end:
        rows = list(
            Record.objects.filter(partition_id=partition_id, offset__gte=start, offset__lt=end)
            .order_by("offset")
            .values_list("offset", "timestamp", "size")[:chunk]
        )
        if not rows:
            return
        yield from rows
        start = rows[-1][0] + 1


def _retention_target(p: Partition, cfg: LogConfig, now_ms: int) -> int:
    """The new log start offset retention asks for (the prefix of expired/excess records)."""
    target = p.log_start_offset
    excess = p.size_bytes - cfg.retention_bytes if cfg.retention_bytes >= 0 else 0
    cutoff = now_ms - cfg.retention_ms if cfg.retention_ms >= 0 else None
    if cutoff is None and excess <= 0:
        return target
    removed = 0
    for offset, ts, size in _scan(p.pk, p.log_start_offset, p.high_watermark):
        expired = cutoff is not None and ts < cutoff
        # Like Kafka, size-based deletion stops before the log would drop below retention.bytes.
        oversize = excess > 0 and removed + size <= excess
        if not (expired or oversize):
            break
        removed += size
        target = offset + 1
    return target


def partition_retention_apply(*, partition: Partition, cfg: LogConfig, now_ms: int) -> int:
    target = _retention_target(partition, cfg, now_ms)
    if target <= partition.log_start_offset:
        return 0
    if not _log_start_advance(partition.pk, partition.log_start_offset, target):
        return 0
    events.publish(
        [events.topic_group(partition.topic.topic_id)],
        "records.deleted",
        {"topic": partition.topic.name, "topic_id": str(partition.topic.topic_id), "partition": partition.index, "log_start_offset": target},
    )
    return target - partition.log_start_offset


def partition_compact(*, partition: Partition, cfg: LogConfig, now_ms: int) -> int:
    """Keep only the latest record of each key; drop tombstones older than delete.retention.ms.

    Reads (offset, key) of the live log once, then deletes in small locked transactions, so
    appends to the partition wait at most one chunk.
    """
    if partition.high_watermark <= partition.cleaner_checkpoint:
        return 0
    latest: dict[bytes, tuple[int, bool, int]] = {}
    start, end = partition.log_start_offset, partition.high_watermark
    while start < end:
        rows = _key_scan(partition.pk, start, end)
        if not rows:
            break
        for offset, key, is_tombstone, ts in rows:
            if key is not None:
                latest[bytes(key)] = (offset, is_tombstone, ts)
        start = rows[-1][0] + 1

    doomed: list[int] = []
    start = partition.log_start_offset
    tombstone_cutoff = now_ms - cfg.delete_retention_ms
    while start < end:
        rows = _key_scan(partition.pk, start, end)
        if not rows:
            break
        for offset, key, _, _ in rows:
            if key is None:
                continue
            keep_offset, keep_is_tombstone, keep_ts = latest[bytes(key)]
            if offset < keep_offset or (keep_is_tombstone and keep_ts < tombstone_cutoff):
                doomed.append(offset)
        start = rows[-1][0] + 1

    removed = 0
    for i in range(0, len(doomed), 500):
        chunk = doomed[i : i + 500]
        with transaction.atomic():
            p = Partition.objects.select_for_update(no_key=True).get(pk=partition.pk)
            qs = Record.objects.filter(partition_id=p.pk, offset__in=chunk, offset__gte=p.log_start_offset)
            size = qs.aggregate(s=Sum("size"))["s"] or 0
            count, _ = qs.delete()
            p.size_bytes = max(0, p.size_bytes - size)
            p.save(update_fields=["size_bytes"])
            removed += count
    Partition.objects.filter(pk=partition.pk).update(cleaner_checkpoint=end)
    return removed


def _key_scan(partition_id: int, start: int, end: int, chunk: int = 5000) -> list[tuple]:
    """(offset, key, is_tombstone, timestamp) in offset order; values are not read."""
    return list(
        Record.objects.filter(partition_id=partition_id, offset__gte=start, offset__lt=end)
        .annotate(is_tombstone=Case(When(Q(value__isnull=True), then=Value(True)), default=Value(False), output_field=BooleanField()))
        .order_by("offset")
        .values_list("offset", "key", "is_tombstone", "timestamp")[:chunk]
    )


def records_purge_physical(*, chunk_rows: int | None = None) -> int:
    """Delete rows below each partition's log start offset, one short transaction per chunk."""
    chunk_rows = chunk_rows or settings.BROKER["DELETE_CHUNK_ROWS"]
    purged = 0
    for pid, log_start in Partition.objects.filter(log_start_offset__gt=0).values_list("id", "log_start_offset"):
        purged += _rows_delete_below(pid, log_start, chunk_rows)
    return purged


def _rows_delete_below(partition_id: int, end: int, chunk_rows: int) -> int:
    purged = 0
    while True:
        low = Record.objects.filter(partition_id=partition_id, offset__lt=end).aggregate(m=Min("offset"))["m"]
        if low is None:
            return purged
        with transaction.atomic():
            count, _ = Record.objects.filter(
                partition_id=partition_id, offset__gte=low, offset__lt=min(end, low + chunk_rows)
            ).delete()
        purged += count


def topics_deleted_purge(*, chunk_rows: int | None = None) -> list[str]:
    """Remove the rows of deleted topics in chunks, then their partitions and topic rows."""
    chunk_rows = chunk_rows or settings.BROKER["DELETE_CHUNK_ROWS"]
    done = []
    for topic in Topic.objects.filter(deleted_at__isnull=False):
        for pid in Partition.objects.filter(topic=topic).values_list("id", flat=True):
            top = Record.objects.filter(partition_id=pid).aggregate(m=Max("offset"))["m"]
            if top is not None:
                _rows_delete_below(pid, top + 1, chunk_rows)
        with transaction.atomic():
            topic.delete()  # cascades to its (now empty) partitions only
        done.append(topic.name)
    return done


def log_clean(*, now_ms: int | None = None) -> CleanStats:
    """One pass of the log cleaner: retention, compaction, then physical deletes.

    Safe to run from several processes at once: every log start move re-checks the old value
    under the row lock, and physical deletes only touch rows nobody can read any more.
    """
    now_ms = now_ms if now_ms is not None else clock.now_ms()
    stats = CleanStats()
    partitions = Partition.objects.filter(topic__deleted_at__isnull=True).select_related("topic")
    for p in partitions.iterator():
        cfg = LogConfig.from_overrides(p.topic.configs)
        if cfg.cleanup_delete:
            stats.retention_deleted += partition_retention_apply(partition=p, cfg=cfg, now_ms=now_ms)
        if cfg.cleanup_compact:
            p.refresh_from_db()
            stats.compacted += partition_compact(partition=p, cfg=cfg, now_ms=now_ms)
    stats.rows_purged = records_purge_physical()
    stats.topics_purged = topics_deleted_purge()
    from brokercore.log.producers import producer_states_expire

    stats.producers_expired = producer_states_expire(now_ms=now_ms)
    return stats

