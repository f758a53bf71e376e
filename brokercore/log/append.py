"""The log's append: validate, place (partitioner), then write record batches through group
commit and storage. Kafka producers' batches are stored as they came (`batch_append`); records
from the console, REST and the CLI are placed and encoded into one batch per partition
(`records_append`).

Invariants:
- Offsets of a partition are gapless at append time, unique and in commit order (the partition
  row is locked by the append that takes them).
- A batch is all or nothing: every record is validated before the transaction starts, and the
  transaction either writes every batch or none.
"""

import dataclasses
import functools
import logging
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractContextManager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from brokercore import clock, events
from brokercore.cluster.read import brokers_live_count
from brokercore.errors import (
    BrokerError,
    InvalidRecord,
    InvalidRequiredAcks,
    InvalidTimestamp,
    InvalidTopic,
    MessageTooLarge,
    NotEnoughReplicas,
    NotLeaderOrFollower,
    RecordListTooLarge,
    UnknownTopicOrPartition,
)
from brokercore.log import group_commit, storage
from brokercore.log.batch import TIMESTAMP_TYPE_BIT, Pending, batch_attributes, batch_build, with_log_append_time
from brokercore.log.legacy import batch_recompressed
from brokercore.log.storage import Batches, TopicMeta, topic_for_append, topic_meta_forget
from brokercore.notify import log_waiters
from brokercore.partitioner import NULL_KEY_STRATEGIES, murmur2, round_robin, sticky, to_positive
from brokercore.topics.configs import LogConfig
from brokercore.topics.rules import topic_is_internal
from brokercore.types import AppendResult, RecordIn

logger = logging.getLogger(__name__)


ACKS_ALL = -1


_ACKS = {0: 0, 1: 1, -1: ACKS_ALL, "0": 0, "1": 1, "-1": ACKS_ALL, "all": ACKS_ALL}


def acks_parse(acks: object) -> int:
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



# Attempts of the one-statement append before giving up: each retry follows a concurrent change
# to the topic (partitions added, configs altered, deleted) between placing and writing.
_APPEND_ATTEMPTS = 5

# Where _place put a record: partition index, reason, key hash, position in its partition's run, timestamp.
Placed = tuple[int, str, int | None, int, int]


def acks_durability(acks: int, conn: BaseDatabaseWrapper | None = None) -> AbstractContextManager[None]:
    """What a transaction appending with `acks` (parsed) commits with: `storage.durability` on
    `conn` (default: this thread's connection)."""
    return storage.durability(connection if conn is None else conn, acks)


def _append_commit(conn: BaseDatabaseWrapper, topic: str, batches: Batches, meta: TopicMeta, acks: int) -> dict[int, int] | None:
    """`storage.append`, shared with other threads appending to the topic at the same time (group
    commit), unless the caller is inside a transaction: then the write must be part of it."""
    broker = settings.BROKER
    if conn.in_atomic_block or not broker["GROUP_COMMIT"]:
        return storage.append(conn, batches, meta=meta, acks=acks)
    # The leader writes on its own thread's connection, which for one alias is the same database.
    return group_commit.append(
        key=(conn.alias, topic, acks),
        meta=meta,
        batches=batches,
        write=lambda m, b: storage.append(connections[conn.alias], b, meta=m, acks=acks),
        linger_s=broker["GROUP_COMMIT_LINGER_US"] / 1e6,
        max_records=broker["GROUP_COMMIT_MAX_RECORDS"],
        span=_span,
    )


def _span(batch: Pending) -> int:
    return batch.span


def _appended(topic: str, topic_id: str, touched: list[int], partitions: list[int], count: int) -> None:
    """After the commit: wake fetches waiting on the partitions; tell open pages (throttled)."""
    log_waiters.notify(touched)
    if not events.throttled(topic_id):
        events.publish(
            [events.topic_group(topic_id)],
            "records.appended",
            {"topic": topic, "topic_id": topic_id, "partitions": sorted(set(partitions)), "count": count},
        )


def _place(
    topic: str, meta: TopicMeta, records: Sequence[RecordIn], partition: int | None, null_key_strategy: str, acks: int,
    batch_bytes: int | None = None,
) -> tuple[LogConfig, list[Placed], Batches]:
    """Validate every record and choose its partition, in one pass: (config, placements, one
    batch to write per partition pk)."""
    cfg = _topic_checks(topic, meta, acks, batch_bytes)
    partition_ids = meta.partition_ids
    n = len(partition_ids)
    now_ms = clock.now_ms()
    sticky_choice = sticky.for_batch(topic, n) if null_key_strategy == "sticky" else None

    placed: list[Placed] = []
    groups: dict[int, list[tuple]] = defaultdict(list)
    sizes: dict[int, int] = defaultdict(int)
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
        if cfg.timestamps_bounded and r.timestamp not in (None, -1):
            timestamps_check(cfg, ts, ts, now_ms)
        pid = partition_ids[chosen]
        placed.append((chosen, reason, key_hash, len(groups[pid]), ts))
        groups[pid].append((ts, r.key, r.value, r.headers))
        sizes[pid] += size

    batches = {}
    for pid, rows in groups.items():
        data = batch_build(rows, log_append_time=cfg.log_append_time)
        data = batch_recompressed(data, cfg.compression, max_uncompressed=settings.BROKER["KAFKA_MAX_REQUEST_BYTES"]) or data
        batches[pid] = [Pending(
            data=data, span=len(rows), count=len(rows), size=sizes[pid],
            max_timestamp=max(row[0] for row in rows), attributes=batch_attributes(data),
        )]
    return cfg, placed, batches


def _size_check(cfg: LogConfig, batch_bytes: int) -> None:
    if batch_bytes > cfg.max_message_bytes:
        raise MessageTooLarge(
            f"The record batch is {batch_bytes} bytes, larger than the topic's max.message.bytes of {cfg.max_message_bytes}."
        )


def _internal_refuse(topic: str) -> None:
    """Kafka's ReplicaManager: producers may not append to an internal topic, whose records only
    its coordinator writes."""
    if topic_is_internal(topic):
        raise InvalidTopic(f"Cannot append to internal topic {topic}: its records are written by the broker.")


def timestamps_check(cfg: LogConfig, earliest: int, latest: int, now_ms: int) -> None:
    """LogValidator.validateTimestamp for CreateTime records: within message.timestamp.before.max.ms
    before now and message.timestamp.after.max.ms after it (-1, no timestamp, is never checked)."""
    low, high = now_ms - cfg.timestamp_before_max_ms, now_ms + cfg.timestamp_after_max_ms
    for ts in (earliest, latest):
        if ts != -1 and not low <= ts <= high:
            raise InvalidTimestamp(f"Timestamp {ts} of a message in the batch is out of range. "
                                   f"The timestamp should be within [{low}, {high}]")


def _topic_checks(topic: str, meta: TopicMeta, acks: int, batch_bytes: int | None) -> LogConfig:
    """The topic's checks of a whole batch, before any record: its size, and acks=all's in-sync replicas."""
    cfg = meta.log_config()
    if batch_bytes is not None:
        _size_check(cfg, batch_bytes)
    # With min.insync.replicas 1 (the default) acks=all cannot fail: skip counting brokers.
    if acks == ACKS_ALL and cfg.min_insync_replicas > 1:
        in_sync = min(meta.replication_factor, brokers_live_count())
        if in_sync < cfg.min_insync_replicas:
            raise NotEnoughReplicas(
                f"acks=all needs min.insync.replicas={cfg.min_insync_replicas} in-sync replicas, "
                f"but topic '{topic}' has {in_sync}."
            )
    return cfg


def records_append(
    *,
    topic: str,
    records: Sequence[RecordIn],
    partition: int | None = None,
    acks: int | str = "all",
    null_key_strategy: str = "round_robin",
    validate_only: bool = False,
    batch_bytes: int | None = None,
    internal: bool = False,
) -> list[AppendResult]:
    """Append a batch; return partition and offset of each record, in input order.

    Partition choice per record: its own `partition`, else the call's `partition`, else
    toPositive(murmur2(key)) % partitions, else (null key) round-robin or sticky. With
    validate_only, every check runs and nothing is written (offsets are returned as -1), so a
    caller with many batches can refuse bad input before writing any of them. `batch_bytes`:
    the size of the Kafka record batch the records came in, which max.message.bytes limits too.
    Internal topics (__consumer_offsets) take only their coordinator's records (`internal`).
    """
    acks = acks_parse(acks)
    if not internal:
        _internal_refuse(topic)
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
        meta = topic_for_append(topic, cached=from_cache)
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
        bases = _append_commit(conn, topic, groups, meta, acks)
        if bases is not None:
            break
        topic_meta_forget(topic)
    else:
        raise NotLeaderOrFollower(f"Topic '{topic}' kept changing while the batch was written; retry it.")
    events.after_commit(conn, functools.partial(_appended, topic, meta.topic_id, list(bases), [p[0] for p in placed], len(records)))
    partition_ids = meta.partition_ids
    return [
        AppendResult(partition=idx, offset=bases[partition_ids[idx]] + pos, timestamp=ts, reason=reason, key_hash=key_hash)
        for idx, reason, key_hash, pos, ts in placed
    ]



def batch_append(*, topic: str, partition: int, batch: Pending, acks: int | str = "all") -> AppendResult:
    """Append one Kafka producer's batch (checked by `brokercore.log.batch.producer_batch`) as it
    came: see `batches_append`. Raises what the topic's rules refuse."""
    result = batches_append(topic=topic, batches={partition: batch}, acks=acks)[partition]
    if isinstance(result, BrokerError):
        raise result
    return result


def batches_append(
    *, topic: str, batches: dict[int, Pending], acks: int | str = "all"
) -> dict[int, AppendResult | BrokerError]:
    """Append Kafka producers' batches (partition index -> batch, each checked by
    `brokercore.log.batch.producer_batch`) to one topic as they came, in one transaction: a
    Produce request's partitions share one commit. The topic's rules are applied to each whole
    batch (max.message.bytes, keys on a compacted topic, min.insync.replicas, LogAppendTime
    stamps the header); no record is decoded. Per partition: its base offset and, when the topic
    stamped the batch with the append time, that time (else -1); or the error that refused it
    (nothing of it written, the other partitions still are)."""
    acks = acks_parse(acks)
    try:
        _internal_refuse(topic)
    except BrokerError as e:
        return dict.fromkeys(batches, e)
    conn = connections[DEFAULT_DB_ALIAS]
    out: dict[int, AppendResult | BrokerError] = {}
    for attempt in range(_APPEND_ATTEMPTS):
        from_cache = attempt == 0
        meta = topic_for_append(topic, cached=from_cache)
        if meta is None:
            missing = UnknownTopicOrPartition(f"Topic '{topic}' does not exist.")
            return dict.fromkeys(batches, missing)
        n = len(meta.partition_ids)
        out = {}
        stamped = {}
        timestamp = clock.now_ms()
        try:  # the topic's own checks (acks=all's in-sync replicas count brokers): once a request
            cfg = _topic_checks(topic, meta, acks, None)
        except BrokerError as e:
            if from_cache:
                continue
            return dict.fromkeys(batches, e)
        for partition, batch in batches.items():
            try:
                if not 0 <= partition < n:
                    raise UnknownTopicOrPartition(f"Partition {partition} of topic '{topic}' does not exist (it has {n}).")
                _size_check(cfg, len(batch.data))
                if cfg.cleanup_compact and batch.null_key:
                    raise InvalidRecord("Compacted topic cannot accept message without key.")
                if cfg.timestamps_bounded and not batch.log_append_time:
                    earliest = batch.max_timestamp if batch.min_timestamp is None else batch.min_timestamp
                    timestamps_check(cfg, earliest, batch.max_timestamp, timestamp)
            except BrokerError as e:
                out[partition] = e
                continue
            recompressed = batch_recompressed(batch.data, cfg.compression, max_uncompressed=settings.BROKER["KAFKA_MAX_REQUEST_BYTES"])
            if recompressed is not None:
                batch = dataclasses.replace(batch, data=recompressed, attributes=batch_attributes(recompressed))
            if cfg.log_append_time:
                batch = dataclasses.replace(
                    batch, data=with_log_append_time(batch.data, timestamp), max_timestamp=timestamp,
                    attributes=batch.attributes | TIMESTAMP_TYPE_BIT,
                )
            stamped[partition] = (batch, timestamp if cfg.log_append_time else -1)
        if from_cache and out:  # judged by old metadata (a partition added, a limit raised): ask again
            continue
        if not stamped:
            return out
        bases = _append_commit(conn, topic, {meta.partition_ids[p]: [b] for p, (b, _) in stamped.items()}, meta, acks)
        if bases is not None:
            break
        topic_meta_forget(topic)
    else:
        raise NotLeaderOrFollower(f"Topic '{topic}' kept changing while the batch was written; retry it.")
    written = sorted(stamped)
    events.after_commit(conn, functools.partial(
        _appended, topic, meta.topic_id, list(bases), written, sum(stamped[p][0].count for p in written),
    ))
    for partition, (_, ts) in stamped.items():
        out[partition] = AppendResult(partition=partition, offset=bases[meta.partition_ids[partition]], timestamp=ts, reason="explicit")
    return out
