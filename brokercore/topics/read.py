"""Reads of topics and partitions as callers see them: describe, lists with totals, rates from
throughput samples, the key-move preview of adding partitions, and the partition counts Kafka's
Metadata answers with. No side effects."""

import uuid
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from brokercore.cluster.read import brokers_live_ids, leaders_by_topic, partition_info
from brokercore.errors import UnknownTopicOrPartition
from brokercore.models import (
    Partition,
    Topic,
)
from brokercore.topics.configs import LogConfig, configs_effective
from brokercore.topics.rules import topic_is_internal
from brokercore.types import PartitionInfo, TopicInfo


def topic_get(*, name: str) -> Topic:
    try:
        return Topic.objects.get(name=name, deleted_at__isnull=True)
    except Topic.DoesNotExist:
        raise UnknownTopicOrPartition(f"Topic '{name}' does not exist.") from None


def topic_log_config(*, topic: Topic) -> LogConfig:
    return LogConfig.from_overrides(topic.configs)


def partition_describe(p: Partition) -> PartitionInfo:
    """One partition (from partition_get) as topic_describe shows it: offsets, leader, replicas."""
    return partition_info(p, p.topic, brokers_live_ids())


def topic_describe(*, name: str) -> TopicInfo:
    topic = topic_get(name=name)
    partitions = list(Partition.objects.filter(topic=topic).order_by("index"))
    nodes = brokers_live_ids()
    return TopicInfo(
        name=topic.name,
        topic_id=str(topic.topic_id),
        replication_factor=topic.replication_factor,
        partitions=[partition_info(p, topic, nodes) for p in partitions],
        configs=configs_effective(topic.configs),
        overrides=dict(topic.configs),
    )


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """A live topic as lists show it; `records` counts what is readable (high watermark - log start)."""

    name: str
    topic_id: str
    partitions: int
    replication_factor: int
    records: int
    size_bytes: int

    @property
    def internal(self) -> bool:
        """The broker's own topic (__consumer_offsets): read-only to clients."""
        return topic_is_internal(self.name)


def topic_list(*, search: str = "") -> list[TopicSummary]:
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
        TopicSummary(
            name=t.name,
            topic_id=str(t.topic_id),
            partitions=t.partition_count,
            replication_factor=t.replication_factor,
            records=(t.high or 0) - (t.start or 0),
            size_bytes=t.size or 0,
        )
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


def topics_pending_purge_count() -> int:
    return Topic.objects.filter(deleted_at__isnull=False).count()


@dataclass(frozen=True, slots=True)
class ClusterTotals:
    """Live topics, their partitions, readable records and stored bytes, cluster-wide."""

    topics: int
    partitions: int
    records: int
    size_bytes: int


def cluster_totals() -> ClusterTotals:
    live = Q(topic__deleted_at__isnull=True)
    agg = Partition.objects.filter(live).aggregate(
        partitions=Count("id"), high=Sum("high_watermark"), start=Sum("log_start_offset"), size=Sum("size_bytes")
    )
    return ClusterTotals(
        topics=Topic.objects.filter(deleted_at__isnull=True).count(),
        partitions=agg["partitions"] or 0,
        records=(agg["high"] or 0) - (agg["start"] or 0),
        size_bytes=agg["size"] or 0,
    )


def topic_rates(*, window_ms: int = 60_000, topic: str | None = None) -> dict[str, float]:
    """Messages per second of each topic (or just `topic`) over about the last `window_ms`.

    Compares the newest throughput sample with the oldest one inside the window; a topic with fewer
    than two samples has no rate yet.
    """
    from brokercore import clock
    from brokercore.models import ThroughputSample

    since = clock.now_ms() - window_ms
    first: dict[int, tuple[int, int]] = {}
    last: dict[int, tuple[int, int]] = {}
    samples = ThroughputSample.objects.filter(at_ms__gte=since)
    if topic is not None:
        samples = samples.filter(topic__name=topic, topic__deleted_at__isnull=True)
    rows = samples.order_by("at_ms").values_list("topic_id", "at_ms", "high_watermark_sum")
    for topic_pk, at_ms, hw in rows:
        first.setdefault(topic_pk, (at_ms, hw))
        last[topic_pk] = (at_ms, hw)
    names = dict(Topic.objects.filter(pk__in=list(first), deleted_at__isnull=True).values_list("pk", "name"))
    rates = {}
    for pk, (t0, h0) in first.items():
        t1, h1 = last[pk]
        if pk in names and t1 > t0:
            rates[names[pk]] = max(0.0, (h1 - h0) * 1000 / (t1 - t0))
    return rates


@dataclass(frozen=True, slots=True)
class TopicLeaders:
    """A topic's (partition, leader node id) pairs, by partition."""

    name: str
    partitions: tuple[tuple[int, int], ...]


def partition_leaders(*, limit_topics: int = 200) -> list[TopicLeaders]:
    """Each live topic's partitions with their leader node, by topic name (two queries in all)."""
    names = topic_names_list()[:limit_topics]
    by_topic = leaders_by_topic(names, brokers_live_ids())
    return [TopicLeaders(name=n, partitions=tuple(by_topic.get(n, ()))) for n in names]


@dataclass(frozen=True, slots=True)
class TopicPartitionCount:
    """A live topic as Kafka's Metadata reports it: partitions are 0 .. partitions-1."""

    name: str
    topic_id: uuid.UUID
    replication_factor: int
    partitions: int


def topics_partition_counts(*, names: list[str] | None = None, topic_ids: list[uuid.UUID] | None = None) -> list[TopicPartitionCount]:
    """Live topics (all of them, or those named / with those ids) with partition counts, by name,
    in one query. Partitions are only ever added, so their indexes are 0 .. count-1."""
    qs = Topic.objects.filter(deleted_at__isnull=True)
    if names is not None or topic_ids is not None:
        qs = qs.filter(Q(name__in=names or []) | Q(topic_id__in=topic_ids or []))
    rows = qs.annotate(n=Count("partitions")).order_by("name").values_list("name", "topic_id", "replication_factor", "n")
    return [TopicPartitionCount(name, uuid.UUID(str(tid)), rf, n) for name, tid, rf, n in rows]

