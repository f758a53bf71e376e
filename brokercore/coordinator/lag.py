"""Consumer lag: Kafka's formula for one partition (`partition_lag`, the only copy), a group's lag
per partition and in time, every group's total, and the bounded history of totals (lag samples)
behind the lag-over-time chart."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from brokercore import clock
from brokercore.log.batch import batch_records
from brokercore.log.read import batches_from
from brokercore.models import CommittedOffset, ConsumerGroup, LagSample, Partition


def partition_lag(*, committed: int | None, log_start_offset: int, high_watermark: int) -> int | None:
    """Records a group has still to consume on one partition: high watermark - committed offset.

    Records below the log start are gone (retention, delete-records), so a commit that fell below
    it counts from the log start, as the consumer's next fetch resets there. No commit, no lag
    (None): Kafka's tools print "-" there, not the whole log. A negative committed offset (a
    Kafka client may commit -2 or -1 for earliest or latest, and Kafka stores it) has no lag
    either: where the group resumes depends on the client (librdkafka and KafkaJS read it as
    earliest or latest, Java's consumer as no commit, then auto.offset.reset).
    """
    if committed is None or committed < 0:
        return None
    return max(0, high_watermark - max(committed, log_start_offset))


def lag_samples_record() -> int:
    """Record one sample per group with committed offsets; keep the newest LAG_SAMPLES_PER_GROUP."""
    now_ms = clock.now_ms()
    keep = settings.BROKER["LAG_SAMPLES_PER_GROUP"]
    hw = {pid: (start, high) for pid, start, high in Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "log_start_offset", "high_watermark")}
    per_group: dict[int, dict[str, int | None]] = {}
    names = dict(Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "topic__name"))
    indexes = dict(Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "index"))
    for group_pk, pid, offset in CommittedOffset.objects.values_list("group_id", "partition_id", "offset"):
        if pid in hw:
            start, high = hw[pid]
            per_group.setdefault(group_pk, {})[f"{names[pid]}:{indexes[pid]}"] = partition_lag(
                committed=offset, log_start_offset=start, high_watermark=high
            )
    with transaction.atomic():
        LagSample.objects.bulk_create(
            LagSample(group_id=g, at_ms=now_ms, total_lag=sum(lag for lag in parts.values() if lag is not None), partitions=parts)
            for g, parts in per_group.items()
        )
    for group_pk in per_group:
        old = list(LagSample.objects.filter(group_id=group_pk).order_by("-at_ms").values_list("id", flat=True)[keep:])
        if old:
            LagSample.objects.filter(id__in=old).delete()
    return len(per_group)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """A group's position on one partition. `owner` is the member assigned it, if any; `lag_ms`
    the age of its oldest unconsumed record (0 when caught up, None when not known)."""

    topic: str
    partition: int
    committed: int | None
    log_start_offset: int
    high_watermark: int
    owner: str | None
    lag: int | None  # partition_lag: None when nothing is committed
    lag_ms: int | None  # age of the oldest unconsumed record

    @property
    def key(self) -> str:
        return f"{self.topic}:{self.partition}"


def _oldest_unconsumed_ms(p: Partition, committed: int, now_ms: int) -> int | None:
    """Age of the first record the group has still to consume: the first readable one (at or past
    the log start, below the watermark) from its commit on. Rows below the log start wait for the
    cleaner's physical delete but no consumer can read them any more."""
    start = max(committed, p.log_start_offset)
    for data in batches_from(p.pk, start, p.high_watermark, first=1):
        records = batch_records(data, topic="", partition=p.index, start=start, end=p.high_watermark)
        if records:
            return max(0, now_ms - records[0].timestamp)
    return None


def group_lag(*, group: ConsumerGroup, owners: dict[tuple[str, int], str] | None = None, with_time: bool = True) -> list[PartitionLag]:
    """Lag of every partition the group has committed to or has assigned, by topic and partition."""
    owners = owners or {}
    committed = {
        row["partition_id"]: row["offset"]
        for row in CommittedOffset.objects.filter(group=group).values("partition_id", "offset")
    }
    assigned = set(owners)
    qs = Partition.objects.filter(topic__deleted_at__isnull=True).select_related("topic")
    parts = qs.filter(Q(id__in=list(committed)) | Q(topic__name__in={t for t, _ in assigned}))
    now_ms = clock.now_ms()
    out = []
    for p in parts:
        tp = (p.topic.name, p.index)
        if p.pk not in committed and tp not in assigned:
            continue
        c = committed.get(p.pk)
        lag = partition_lag(committed=c, log_start_offset=p.log_start_offset, high_watermark=p.high_watermark)
        lag_ms = _oldest_unconsumed_ms(p, c, now_ms) if with_time and lag else (0 if lag == 0 else None)
        out.append(PartitionLag(tp[0], tp[1], c, p.log_start_offset, p.high_watermark, owners.get(tp), lag, lag_ms))
    return sorted(out, key=lambda x: (x.topic, x.partition))


def groups_lag_totals() -> dict[str, int]:
    """Total lag of every group, in two queries (for lists and the lag sampler)."""
    hw = {
        pid: (start, high)
        for pid, start, high in Partition.objects.filter(topic__deleted_at__isnull=True).values_list(
            "id", "log_start_offset", "high_watermark"
        )
    }
    totals: dict[str, int] = {}
    for group_id, pid, offset in CommittedOffset.objects.values_list("group__group_id", "partition_id", "offset"):
        if pid in hw:
            start, high = hw[pid]
            lag = partition_lag(committed=offset, log_start_offset=start, high_watermark=high)
            totals[group_id] = totals.get(group_id, 0) + (lag or 0)
    return totals


def lag_history(*, group_id: str) -> list[tuple[int, int]]:
    return list(LagSample.objects.filter(group__group_id=group_id).order_by("at_ms").values_list("at_ms", "total_lag"))

