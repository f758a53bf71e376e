"""The log's cleaner (Kafka's LogCleaner and retention): delete-records, retention, compaction,
topic purge and the physical removal of rows below the log start.

Invariants:
- Consuming never deletes. Only delete-records, retention and topic deletion move the log start
  offset (to any record, even inside a batch); the batches wholly below it are removed later in
  short chunks. Compaction rewrites a batch without its superseded records (offsets stay, gaps
  appear; the batch keeps its base and last offset), as Kafka's log cleaner does.
- Every move of a log start re-checks the old value under the partition's row lock, so several
  cleaners (one per server process) can run at once.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Sum

from brokercore import clock, events
from brokercore.errors import (
    OffsetOutOfRange,
)
from brokercore.log.batch import CONTROL_BIT, HEADER, TIMESTAMP_TYPE_BIT, batch_build, batch_last_offset, batch_records
from brokercore.log.read import batches_from
from brokercore.models import Partition, RecordBatch, Topic
from brokercore.topics.configs import LogConfig
from brokercore.topics.read import partition_get, topic_get
from brokercore.types import RecordOut


def _record_bytes(partition_id: int, start: int, end: int) -> int:
    """Record bytes (keys, values, headers) of offsets [start, end): the batches wholly inside are
    summed by the database, the (at most two) it cuts through are decoded."""
    whole = (
        RecordBatch.objects.filter(partition_id=partition_id, base_offset__gte=start, last_offset__lt=end)
        .aggregate(s=Sum("size"))["s"]
        or 0
    )
    cut = RecordBatch.objects.filter(partition_id=partition_id, last_offset__gte=start, base_offset__lt=end).exclude(
        base_offset__gte=start, last_offset__lt=end
    )
    for data in cut.values_list("data", flat=True):
        whole += sum(r.size for r in batch_records(data, topic="", partition=0, start=start, end=end))
    return whole


def _log_start_advance(partition_id: int, old_start: int, new_start: int) -> bool:
    """Move the log start forward unless somebody else moved it meanwhile.

    The sizes of the released range are summed before taking the row lock, so the lock is held
    only for one UPDATE.
    """
    released = _record_bytes(partition_id, old_start, new_start)
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
            released = _record_bytes(p.pk, p.log_start_offset, target)
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


# (base offset, last offset, max timestamp, record bytes) of stored batches, in offset order.
_INDEX_SCAN = (
    f"SELECT base_offset, last_offset, max_timestamp, size FROM {RecordBatch._meta.db_table} "
    f"WHERE partition_id = %s AND last_offset >= %s AND base_offset < %s ORDER BY last_offset LIMIT %s"
)


def _batch_index(partition_id: int, start: int, end: int, chunk: int = 1000) -> Iterator[tuple[int, int, int, int]]:
    """The index columns of the batches holding [start, end), read in chunks of the primary key."""
    while start < end:
        with connection.cursor() as cursor:
            cursor.execute(_INDEX_SCAN, [partition_id, start, end, chunk])
            rows = cursor.fetchall()
        yield from rows
        if len(rows) < chunk:
            return
        start = rows[-1][1] + 1


def _retention_target(p: Partition, cfg: LogConfig, now_ms: int) -> int:
    """The new log start offset retention asks for (the prefix of expired/excess records).

    Decided record by record as before batches, but a batch wholly expired or wholly in excess is
    taken by its index columns; only the batch where retention stops is decoded."""
    target = p.log_start_offset
    excess = p.size_bytes - cfg.retention_bytes if cfg.retention_bytes >= 0 else 0
    cutoff = now_ms - cfg.retention_ms if cfg.retention_ms >= 0 else None
    if cutoff is None and excess <= 0:
        return target
    removed = 0
    for base, last, max_ts, size in _batch_index(p.pk, p.log_start_offset, p.high_watermark):
        if base >= target:  # whole (the first batch may start below the log start)
            # Like Kafka, size-based deletion stops before the log would drop below retention.bytes.
            if (cutoff is not None and max_ts < cutoff) or (excess > 0 and removed + size <= excess):
                removed += size
                target = last + 1
                continue
        data = RecordBatch.objects.filter(partition_id=p.pk, last_offset=last).values_list("data", flat=True).first()
        for r in batch_records(data or b"", topic="", partition=0, start=target, end=p.high_watermark) if data else ():
            expired = cutoff is not None and r.timestamp < cutoff
            oversize = excess > 0 and removed + r.size <= excess
            if not (expired or oversize):
                return target
            removed += r.size
            target = r.offset + 1
        if data is None:
            return target
        target = max(target, last + 1)
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

    Only the cleanable part of the log is compacted, as Kafka's firstUncleanableOffset draws it:
    it ends at the first batch holding a record younger than min.compaction.lag.ms, and records
    past that neither go nor count as newer values. Reads that part's keys once, then rewrites each batch that holds superseded records in a
    short transaction under the partition's row lock (re-reading the batch there, so two cleaners
    agree), so appends wait at most one batch. A batch left with no records is removed.
    """
    if partition.high_watermark <= partition.cleaner_checkpoint:
        return 0
    start, end = partition.log_start_offset, partition.high_watermark
    if cfg.min_compaction_lag_ms > 0:
        young = (RecordBatch.objects.filter(partition_id=partition.pk, last_offset__gte=start,
                                            max_timestamp__gt=now_ms - cfg.min_compaction_lag_ms)
                 .order_by("base_offset").values_list("base_offset", flat=True).first())
        if young is not None:
            end = max(start, min(end, young))
    if end <= max(start, partition.cleaner_checkpoint):
        return 0
    latest: dict[bytes, tuple[int, bool, int]] = {}
    for data in batches_from(partition.pk, start, end, most=64):
        for r in batch_records(data, topic="", partition=0, start=start, end=end):
            if r.key is not None:
                latest[r.key] = (r.offset, r.value is None, r.timestamp)
    tombstone_cutoff = now_ms - cfg.delete_retention_ms

    def doomed(r: RecordOut) -> bool:
        if r.key is None:
            return False
        keep_offset, keep_is_tombstone, keep_ts = latest[r.key]
        return r.offset < keep_offset or (keep_is_tombstone and keep_ts < tombstone_cutoff)

    targets = []
    for data in batches_from(partition.pk, start, end, most=64):
        if any(doomed(r) for r in batch_records(data, topic="", partition=0, start=start, end=end)):
            targets.append(batch_last_offset(data))

    removed = 0
    for last in targets:
        with transaction.atomic():
            p = Partition.objects.select_for_update(no_key=True).get(pk=partition.pk)
            row = RecordBatch.objects.filter(partition_id=p.pk, last_offset=last).values_list("data", flat=True).first()
            if row is None:
                continue
            gone, size = _batch_rewrite(p.pk, last, bytes(row), p.log_start_offset, end, doomed)
            if gone:
                p.size_bytes = max(0, p.size_bytes - size)
                p.save(update_fields=["size_bytes"])
                removed += gone
    Partition.objects.filter(pk=partition.pk).update(cleaner_checkpoint=end)
    return removed


def _batch_rewrite(
    partition_id: int, last: int, data: bytes, log_start: int, end: int, doomed: Callable[[RecordOut], bool]
) -> tuple[int, int]:
    """Rewrite one stored batch without its doomed records (those at or past the log start);
    return (records removed, their bytes). The batch keeps its base and last offset and producer
    fields, as Kafka's cleaner keeps them; it is written uncompressed."""
    (base, _len, _epoch, _magic, _crc, attributes, last_delta, _bts, _mts, producer_id, producer_epoch,
     base_sequence, _count) = HEADER.unpack_from(data, 0)
    if attributes & CONTROL_BIT:
        return 0, 0
    records = batch_records(data, topic="", partition=0)
    kept = [r for r in records if r.offset < log_start or r.offset >= end or not doomed(r)]
    if len(kept) == len(records):
        return 0, 0
    gone = len(records) - len(kept)
    size = sum(r.size for r in records) - sum(r.size for r in kept)
    batch = RecordBatch.objects.filter(partition_id=partition_id, last_offset=last)
    if not kept:
        batch.delete()
        return gone, size
    append_time = bool(attributes & TIMESTAMP_TYPE_BIT)
    rebuilt = batch_build(
        [(r.timestamp, r.key, r.value, r.headers) for r in kept], offset_deltas=[r.offset - base for r in kept],
        base_offset=base, last_offset_delta=last_delta, log_append_time=append_time, producer_id=producer_id,
        producer_epoch=producer_epoch, base_sequence=base_sequence,
    )
    batch.update(
        data=rebuilt, record_count=len(kept), size=sum(r.size for r in kept),
        attributes=attributes & TIMESTAMP_TYPE_BIT, max_timestamp=max(r.timestamp for r in kept),
    )
    return gone, size


def records_purge_physical(*, chunk_rows: int | None = None) -> int:
    """Delete the batches wholly below each partition's log start offset, one short transaction
    per chunk of offsets; return how many records they held."""
    chunk_rows = chunk_rows or settings.BROKER["DELETE_CHUNK_ROWS"]
    purged = 0
    for pid, log_start in Partition.objects.filter(log_start_offset__gt=0).values_list("id", "log_start_offset"):
        purged += _batches_delete_below(pid, log_start, chunk_rows)
    return purged


def _batches_delete_below(partition_id: int, end: int, chunk_rows: int) -> int:
    """Delete the partition's batches whose last offset is below `end`, oldest first, each
    transaction covering at most `chunk_rows` offsets: a bounded range of the primary key, so no
    plan (even one made without table statistics) scans more than that."""
    purged = 0
    below = RecordBatch.objects.filter(partition_id=partition_id, last_offset__lt=end)
    while True:
        # The oldest batch's last offset: the primary key's first entry, one probe (a minimum of
        # base_offset would read every batch below `end` on each round).
        low = below.aggregate(m=Min("last_offset"))["m"]
        if low is None:
            return purged
        with transaction.atomic():
            chunk = below.filter(last_offset__lt=min(end, low + chunk_rows))
            records = chunk.aggregate(n=Sum("record_count"))["n"] or 0
            chunk.delete()
        purged += records


def topics_deleted_purge(*, chunk_rows: int | None = None) -> list[str]:
    """Remove the batches of deleted topics in chunks, then their partitions and topic rows."""
    chunk_rows = chunk_rows or settings.BROKER["DELETE_CHUNK_ROWS"]
    done = []
    for topic in Topic.objects.filter(deleted_at__isnull=False):
        for pid in Partition.objects.filter(topic=topic).values_list("id", flat=True):
            top = RecordBatch.objects.filter(partition_id=pid).aggregate(m=Max("last_offset"))["m"]
            if top is not None:
                _batches_delete_below(pid, top + 1, chunk_rows)
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

