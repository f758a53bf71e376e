"""The partitioned log: append, delete-records, retention, compaction and physical cleanup.

Invariants:
- Offsets of a partition are gapless at append time, unique and in commit order (the partition
  row is locked by the append that takes them).
- A batch is all or nothing: every record is validated before the transaction starts, and the
  transaction either writes every record or none.
- Consuming never deletes. Only delete-records, retention and topic deletion move the log start
  offset; the rows below it are removed later in short chunks. Compaction removes superseded
  records of a key in place (offsets stay, gaps appear), as Kafka's log cleaner does.
"""

import base64
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import BooleanField, Case, Max, Min, Q, Sum, Value, When
from django.utils import timezone

from brokercore import events, storage
from brokercore.errors import (
    BrokerError,
    InvalidRecord,
    InvalidRequiredAcks,
    InvalidTimestamp,
    MessageTooLarge,
    NotEnoughReplicas,
    NotLeaderOrFollower,
    OffsetOutOfRange,
    RecordListTooLarge,
    UnknownTopicOrPartition,
)
from brokercore.models import Partition, Record, Topic
from brokercore.notify import log_waiters
from brokercore.partitioner import NULL_KEY_STRATEGIES, murmur2, round_robin, sticky, to_positive
from brokercore.selectors import brokers_live_count, partition_get, topic_get
from brokercore.services import group_commit
from brokercore.topic_rules import LogConfig
from brokercore.types import AppendResult, RecordIn

logger = logging.getLogger(__name__)

ACKS_ALL = -1
_ACKS = {0: 0, 1: 1, -1: ACKS_ALL, "0": 0, "1": 1, "-1": ACKS_ALL, "all": ACKS_ALL}


def acks_parse(acks) -> int:
    """0: the caller does not wait; 1: committed on the primary; all (-1): committed durably."""
    try:
        return _ACKS[acks]
    except (KeyError, TypeError):
        raise InvalidRequiredAcks(f"acks must be 0, 1 or all (-1), got {acks!r}.") from None


def record_size(r: RecordIn) -> int:
    size = len(r.key or b"") + len(r.value or b"")
    for k, v in r.headers:
        size += len(k.encode()) + len(v or b"")
    return size


def _headers_encode(headers) -> list | None:
    if not headers:
        return None
    return [[k, None if v is None else base64.b64encode(v).decode()] for k, v in headers]


# Kafka's timestamps are Java longs; the column is a bigint.
_MAX_TIMESTAMP = 2**63 - 1


def _record_validate(r: RecordIn, cfg: LogConfig) -> int:
    if r.key is not None and not isinstance(r.key, (bytes, bytearray)):
        raise InvalidRecord("A record key must be bytes or null.")
    if r.value is not None and not isinstance(r.value, (bytes, bytearray)):
        raise InvalidRecord("A record value must be bytes or null.")
    for h in r.headers:
        if len(h) != 2 or not isinstance(h[0], str) or not (h[1] is None or isinstance(h[1], (bytes, bytearray))):
            raise InvalidRecord("A record header must be a (string key, bytes or null value) pair.")
        if "\x00" in h[0]:
            # Legal in Kafka (Java strings), but header keys are stored as JSON text, which
            # PostgreSQL cannot hold with a NUL in it: refused for every adapter before writing.
            raise InvalidRecord("A header key contains a NUL character, which this broker cannot store.")
    if r.timestamp is not None and (
        isinstance(r.timestamp, bool) or not isinstance(r.timestamp, int) or not -1 <= r.timestamp <= _MAX_TIMESTAMP
    ):
        raise InvalidTimestamp(f"Timestamp {r.timestamp!r} is invalid: use milliseconds since the epoch, or -1 for now.")
    if cfg.cleanup_compact and r.key is None:
        raise InvalidRecord("Compacted topic cannot accept message without key.")
    size = record_size(r)
    if size > cfg.max_message_bytes:
        raise MessageTooLarge(
            f"The record is {size} bytes, larger than the topic's max.message.bytes of {cfg.max_message_bytes}."
        )
    return size


# acks -> synchronous_commit for the append's transaction (PostgreSQL). acks=1: durable on the
# primary, not waiting for synchronous standbys (a leader's ack); acks=0: the commit does not wait
# for the WAL flush (lost if PostgreSQL crashes before it). On SQLite, acks=all commits with
# synchronous=FULL (the WAL is fsynced before the answer, as PostgreSQL's "on" flushes its WAL) and
# acks 0/1 with the connection's NORMAL (in the WAL, synced at the next checkpoint: survives a
# crash of the process, not always of the machine).
_SYNCHRONOUS_COMMIT = {ACKS_ALL: "on", 1: "local", 0: "off"}

# Attempts of the one-statement append before giving up: each retry follows a concurrent change
# to the topic (partitions added, configs altered, deleted) between placing and writing.
_APPEND_ATTEMPTS = 5


def _append_write(conn, batches: dict[int, list[storage.Item]], meta, acks: int, log_append_time: bool) -> dict[int, int] | None:
    """Reserve offsets for each partition and insert every row on `conn`; return each partition
    id's base offset, or None when `meta` went stale (nothing written)."""
    now = timezone.now()
    ts_type = Record.TIMESTAMP_LOG_APPEND if log_append_time else Record.TIMESTAMP_CREATE
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            return storage.pg_append(
                cursor, batches, meta=meta, timestamp_type=ts_type, now=now, synchronous_commit=_SYNCHRONOUS_COMMIT[acks]
            )
    with acks_durability(acks, conn), transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        return storage.sqlite_append(cursor, batches, meta=meta, timestamp_type=ts_type, now=now)


def acks_durability(acks: int, conn=None):
    """Wraps a transaction that appends records with `acks` (parsed): on SQLite, acks=all commits
    with synchronous=FULL. Inside a caller's transaction it does nothing: that one's commit decides
    (open this around it). PostgreSQL sets synchronous_commit in the append's own statement."""
    conn = connection if conn is None else conn
    if acks == ACKS_ALL and conn.vendor == "sqlite" and not conn.in_atomic_block:
        return storage.sqlite_synchronous_full(conn)
    return nullcontext()


def _append_commit(conn, topic: str, batches: dict[int, list[storage.Item]], meta, acks: int, log_append_time: bool) -> dict[int, int] | None:
    """`_append_write`, shared with other threads appending to the topic at the same time (group
    commit), unless the caller is inside a transaction: then the write must be part of it."""
    broker = settings.BROKER
    if conn.in_atomic_block or not broker["GROUP_COMMIT"]:
        return _append_write(conn, batches, meta, acks, log_append_time)
    # The leader writes on its own thread's connection, which for one alias is the same database.
    return group_commit.append(
        key=(conn.alias, topic, acks, log_append_time),
        meta=meta,
        batches=batches,
        write=lambda m, b: _append_write(connections[conn.alias], b, m, acks, log_append_time),
        linger_s=broker["GROUP_COMMIT_LINGER_US"] / 1e6,
        max_records=broker["GROUP_COMMIT_MAX_RECORDS"],
    )


def _appended(topic: str, topic_id: str, touched: list[int], placed: list, count: int) -> None:
    """After the commit: wake fetches waiting on the partitions; tell open pages (throttled)."""
    log_waiters.notify(touched)
    if not events.throttled(topic_id):
        events.publish(
            [events.topic_group(topic_id)],
            "records.appended",
            {"topic": topic, "topic_id": topic_id, "partitions": sorted({p[0] for p in placed}), "count": count},
        )


def _place(topic: str, meta, records, partition, null_key_strategy: str, acks: int, batch_bytes: int | None = None):
    """Validate every record and choose its partition, in one pass: (config, placements, rows to
    write by partition pk)."""
    cfg = meta.log_config()
    if batch_bytes is not None and batch_bytes > cfg.max_message_bytes:
        raise MessageTooLarge(
            f"The record batch is {batch_bytes} bytes, larger than the topic's max.message.bytes of {cfg.max_message_bytes}."
        )
    # With min.insync.replicas 1 (the default) acks=all cannot fail: skip counting brokers.
    if acks == ACKS_ALL and cfg.min_insync_replicas > 1:
        in_sync = min(meta.replication_factor, brokers_live_count())
        if in_sync < cfg.min_insync_replicas:
            raise NotEnoughReplicas(
                f"acks=all needs min.insync.replicas={cfg.min_insync_replicas} in-sync replicas, "
                f"but topic '{topic}' has {in_sync}."
            )
    partition_ids = meta.partition_ids
    n = len(partition_ids)
    now_ms = int(time.time() * 1000)
    sticky_choice = sticky.for_batch(topic, n) if null_key_strategy == "sticky" else None

    placed: list[tuple[int, str, int | None, int, int]] = []  # partition, reason, hash, position, ts
    groups: dict[int, list[storage.Item]] = defaultdict(list)
    for r in records:
        size = _record_validate(r, cfg)
        chosen = r.partition if r.partition is not None else partition
        key_hash = None
        if chosen is not None:
            reason = "explicit"
            if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < n:
                raise UnknownTopicOrPartition(f"Partition {chosen} of topic '{topic}' does not exist (it has {n}).")
        elif r.key is not None:
            key_hash = murmur2(r.key)
            chosen, reason = to_positive(key_hash) % n, "key-hash"
        elif sticky_choice is not None:
            chosen, reason = sticky_choice, "sticky"
        else:
            chosen, reason = round_robin.next(topic, n), "round-robin"
        ts = now_ms if cfg.log_append_time or r.timestamp in (None, -1) else r.timestamp
        pid = partition_ids[chosen]
        placed.append((chosen, reason, key_hash, len(groups[pid]), ts))
        groups[pid].append((ts, r.key, r.value, _headers_encode(r.headers) if r.headers else None, size))

    return cfg, placed, groups


def records_append(
    *,
    topic: str,
    records: Sequence[RecordIn],
    partition: int | None = None,
    acks: int | str = "all",
    null_key_strategy: str = "round_robin",
    validate_only: bool = False,
    batch_bytes: int | None = None,
) -> list[AppendResult]:
    """Append a batch; return partition and offset of each record, in input order.

    Partition choice per record: its own `partition`, else the call's `partition`, else
    toPositive(murmur2(key)) % partitions, else (null key) round-robin or sticky. With
    validate_only, every check runs and nothing is written (offsets are returned as -1), so a
    caller with many batches can refuse bad input before writing any of them. `batch_bytes`:
    the size of the Kafka record batch the records came in, which max.message.bytes limits too.
    """
    acks = acks_parse(acks)
    if null_key_strategy not in NULL_KEY_STRATEGIES:
        raise ValueError(f"null_key_strategy must be one of {NULL_KEY_STRATEGIES}")
    if not records:
        return []
    limit = settings.BROKER["MAX_BATCH_RECORDS"]
    if len(records) > limit:
        raise RecordListTooLarge(f"A batch may hold at most {limit} records, got {len(records)}.")

    # Looked up once: each `connection.<attribute>` is a lookup in a context-local mapping.
    conn = connections[DEFAULT_DB_ALIAS]
    # Metadata may come from a cache: the write re-checks it, and a stale answer writes nothing
    # and the batch is placed again with fresh metadata.
    cached = not validate_only
    for attempt in range(_APPEND_ATTEMPTS):
        from_cache = cached and attempt == 0
        meta = storage.topic_for_append(topic, cached=from_cache)
        if meta is None:
            raise UnknownTopicOrPartition(f"Topic '{topic}' does not exist.")
        try:
            cfg, placed, groups = _place(topic, meta, records, partition, null_key_strategy, acks, batch_bytes)
        except BrokerError:
            if from_cache:  # judged by old metadata (a partition added, a limit raised): ask again
                continue
            raise
        if validate_only:
            return [AppendResult(partition=idx, offset=-1, timestamp=ts, reason=reason, key_hash=key_hash) for idx, reason, key_hash, _, ts in placed]
        bases = _append_commit(conn, topic, groups, meta, acks, cfg.log_append_time)
        if bases is not None:
            break
        storage.topic_meta_forget(topic)
    else:
        raise NotLeaderOrFollower(f"Topic '{topic}' kept changing while the batch was written; retry it.")
    events.after_commit(conn, functools.partial(_appended, topic, meta.topic_id, list(bases), placed, len(records)))
    partition_ids = meta.partition_ids
    return [
        AppendResult(partition=idx, offset=bases[partition_ids[idx]] + pos, timestamp=ts, reason=reason, key_hash=key_hash)
        for idx, reason, key_hash, pos, ts in placed
    ]


# --- Deleting records -----------------------------------------------------------------------


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


# --- Retention and compaction ----------------------------------------------------------------


@dataclass
class CleanStats:
    retention_deleted: int = 0  # records moved below the log start by retention
    compacted: int = 0  # superseded records and expired tombstones removed
    rows_purged: int = 0  # rows physically deleted below log start offsets
    producers_expired: int = 0  # idempotent producers' partition state forgotten
    topics_purged: list[str] = field(default_factory=list)


def _scan(partition_id: int, start: int, end: int, chunk: int = 5000):
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
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
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
    from brokercore.services.producers import producer_states_expire  # it appends through this module

    stats.producers_expired = producer_states_expire(now_ms=now_ms)
    return stats
