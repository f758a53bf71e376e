"""Reads shaped for callers. No side effects (a fetch may wait, but never writes)."""

import base64
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from brokercore.errors import InvalidFetchSize, OffsetOutOfRange, UnknownTopicOrPartition
from brokercore.models import BrokerNode, Partition, Record, Topic
from brokercore.notify import log_waiters
from brokercore.topic_rules import LogConfig, configs_effective
from brokercore.types import FetchResult, PartitionInfo, RecordOut, TopicInfo

BROKER_HEARTBEAT_TIMEOUT = timedelta(seconds=30)

EARLIEST = -2  # Kafka's ListOffsets sentinels
LATEST = -1


def brokers_live_count() -> int:
    """Live broker nodes; the embedded broker counts as one even before any node registers."""
    return len(brokers_live_ids())


def brokers_live_ids() -> list[int]:
    cutoff = timezone.now() - BROKER_HEARTBEAT_TIMEOUT
    ids = list(BrokerNode.objects.filter(heartbeat_at__gte=cutoff).order_by("node_id").values_list("node_id", flat=True))
    return ids or [settings.BROKER["NODE_ID"]]


def topic_get(*, name: str) -> Topic:
    try:
        return Topic.objects.get(name=name, deleted_at__isnull=True)
    except Topic.DoesNotExist:
        raise UnknownTopicOrPartition(f"Topic '{name}' does not exist.") from None


def topic_log_config(*, topic: Topic) -> LogConfig:
    return LogConfig.from_overrides(topic.configs)


def _partition_info(p: Partition, replication_factor: int, nodes: list[int]) -> PartitionInfo:
    # Leadership is spread round-robin over live nodes. The database holds every record, so each
    # "replica" is in sync by construction; replicas are reported for clients that expect them.
    replicas = tuple(nodes[(p.index + i) % len(nodes)] for i in range(min(replication_factor, len(nodes))))
    leader = replicas[0]
    return PartitionInfo(
        index=p.index,
        log_start_offset=p.log_start_offset,
        high_watermark=p.high_watermark,
        size_bytes=p.size_bytes,
        last_append_at=p.last_append_at,
        leader=leader,
        replicas=replicas,
        isr=replicas,
    )


def topic_describe(*, name: str) -> TopicInfo:
    topic = topic_get(name=name)
    partitions = list(Partition.objects.filter(topic=topic).order_by("index"))
    nodes = brokers_live_ids()
    return TopicInfo(
        name=topic.name,
        topic_id=str(topic.topic_id),
        replication_factor=topic.replication_factor,
        partitions=[_partition_info(p, topic.replication_factor, nodes) for p in partitions],
        configs=configs_effective(topic.configs),
        overrides=dict(topic.configs),
    )


def topic_list(*, search: str = "") -> list[dict]:
    """Live topics with partition count, record count and size, ordered by name."""
    qs = Topic.objects.filter(deleted_at__isnull=True)
    if search:
        qs = qs.filter(name__icontains=search)
    rows = qs.annotate(
        partition_count=Count("partitions"),
        high=Sum("partitions__high_watermark"),
        start=Sum("partitions__log_start_offset"),
        size=Sum("partitions__size_bytes"),
    ).order_by("name")
    return [
        {
            "name": t.name,
            "topic_id": str(t.topic_id),
            "partitions": t.partition_count,
            "replication_factor": t.replication_factor,
            "records": (t.high or 0) - (t.start or 0),
            "size_bytes": t.size or 0,
        }
        for t in rows
    ]


def topic_names_list() -> list[str]:
    return list(Topic.objects.filter(deleted_at__isnull=True).order_by("name").values_list("name", flat=True))


def partition_get(*, topic: str, partition: int) -> Partition:
    try:
        return Partition.objects.select_related("topic").get(
            topic__name=topic, topic__deleted_at__isnull=True, index=partition
        )
    except Partition.DoesNotExist:
        topic_get(name=topic)  # raises for a missing topic, with the topic's message
        raise UnknownTopicOrPartition(
            f"Partition {partition} of topic '{topic}' does not exist."
        ) from None


def headers_decode(stored) -> tuple[tuple[str, bytes | None], ...]:
    if not stored:
        return ()
    return tuple((k, None if v is None else base64.b64decode(v)) for k, v in stored)


def _bytes(v) -> bytes | None:
    return None if v is None else bytes(v)


def _records_read(partition: Partition, start: int, end: int, max_records: int, max_bytes: int) -> list[RecordOut]:
    rows = (
        Record.objects.filter(partition_id=partition.pk, offset__gte=start, offset__lt=end)
        .order_by("offset")
        .values_list("offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")[:max_records]
    )
    out: list[RecordOut] = []
    total = 0
    topic = partition.topic.name
    for offset, ts, ts_type, key, value, headers, size in rows:
        # Like Kafka (KIP-74) the first record is returned even when it alone exceeds max_bytes,
        # so a consumer can never get stuck behind one large record.
        if out and total + size > max_bytes:
            break
        total += size
        out.append(RecordOut(topic, partition.index, offset, ts, ts_type, _bytes(key), _bytes(value), headers_decode(headers), size))
    return out


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
            raise OffsetOutOfRange(
                f"Offset {offset} is out of range for partition {topic}-{partition}: "
                f"the log holds offsets {p.log_start_offset}..{p.high_watermark - 1} "
                f"(log start offset {p.log_start_offset}, high watermark {p.high_watermark})."
            )
        records = []
        if offset < p.high_watermark:
            records = _records_read(p, offset, p.high_watermark, max_records, max_bytes)
        remaining = deadline - time.monotonic()
        if records or remaining <= 0:
            return FetchResult(
                topic=topic,
                partition=partition,
                records=records,
                high_watermark=p.high_watermark,
                log_start_offset=p.log_start_offset,
                next_offset=records[-1].offset + 1 if records else offset,
            )
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
    row = (
        Record.objects.filter(
            partition_id=p.pk, offset__gte=p.log_start_offset, offset__lt=p.high_watermark, timestamp__gte=spec
        )
        .order_by("timestamp", "offset")
        .values_list("offset", "timestamp")
        .first()
    )
    if row is None:
        return p.high_watermark, None
    return row


def partition_offsets_list(*, topic: str) -> list[dict]:
    t = topic_get(name=topic)
    return [
        {"partition": p.index, "log_start_offset": p.log_start_offset, "high_watermark": p.high_watermark}
        for p in Partition.objects.filter(topic=t).order_by("index")
    ]


def topics_pending_purge_count() -> int:
    return Topic.objects.filter(deleted_at__isnull=False).count()


def cluster_totals() -> dict:
    live = Q(topic__deleted_at__isnull=True)
    agg = Partition.objects.filter(live).aggregate(
        partitions=Count("id"), high=Sum("high_watermark"), start=Sum("log_start_offset"), size=Sum("size_bytes")
    )
    return {
        "topics": Topic.objects.filter(deleted_at__isnull=True).count(),
        "partitions": agg["partitions"] or 0,
        "records": (agg["high"] or 0) - (agg["start"] or 0),
        "size_bytes": agg["size"] or 0,
    }
