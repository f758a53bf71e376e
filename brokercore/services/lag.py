"""Lag samples: a bounded history of each group's total lag, for the lag-over-time chart."""

from django.conf import settings
from django.db import transaction

from brokercore import clock
from brokercore.models import CommittedOffset, LagSample, Partition


def lag_samples_record() -> int:
    """Record one sample per group with committed offsets; keep the newest LAG_SAMPLES_PER_GROUP."""
    now_ms = clock.now_ms()
    keep = settings.BROKER["LAG_SAMPLES_PER_GROUP"]
    hw = {pid: (start, high) for pid, start, high in Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "log_start_offset", "high_watermark")}
    per_group: dict[int, dict[str, int]] = {}
    names = dict(Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "topic__name"))
    indexes = dict(Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "index"))
    for group_pk, pid, offset in CommittedOffset.objects.values_list("group_id", "partition_id", "offset"):
        if pid in hw:
            start, high = hw[pid]
            per_group.setdefault(group_pk, {})[f"{names[pid]}:{indexes[pid]}"] = max(0, high - max(offset, start))
    with transaction.atomic():
        LagSample.objects.bulk_create(
            LagSample(group_id=g, at_ms=now_ms, total_lag=sum(parts.values()), partitions=parts) for g, parts in per_group.items()
        )
    for group_pk in per_group:
        old = list(LagSample.objects.filter(group_id=group_pk).order_by("-at_ms").values_list("id", flat=True)[keep:])
        if old:
            LagSample.objects.filter(id__in=old).delete()
    return len(per_group)
