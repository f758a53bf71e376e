"""Broker nodes and throughput samples: what the maintenance thread records about the cluster."""

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from brokercore import clock, events
from brokercore.models import BrokerNode, Partition, ThroughputSample

THROUGHPUT_KEEP_MS = 10 * 60 * 1000


@transaction.atomic
def node_heartbeat(*, host: str, port: int, rack: str = "") -> BrokerNode:
    """Register this process's broker node, or refresh its heartbeat."""
    now = clock.now()
    node, created = BrokerNode.objects.select_for_update().get_or_create(
        node_id=settings.BROKER["NODE_ID"],
        defaults={"host": host, "port": port, "rack": rack, "started_at": now, "heartbeat_at": now},
    )
    if not created:
        node.host, node.port, node.rack, node.heartbeat_at = host, port, rack, now
        node.save(update_fields=["host", "port", "rack", "heartbeat_at"])
    else:
        events.publish_on_commit([events.CLUSTER_GROUP], "broker.up", {"node_id": node.node_id})
    return node


def throughput_sample() -> int:
    """One sample per live topic, and forget samples older than ten minutes."""
    now_ms = clock.now_ms()
    rows = (
        Partition.objects.filter(topic__deleted_at__isnull=True)
        .values("topic_id")
        .annotate(hw=Sum("high_watermark"))
    )
    with transaction.atomic():
        ThroughputSample.objects.bulk_create(
            ThroughputSample(topic_id=r["topic_id"], at_ms=now_ms, high_watermark_sum=r["hw"] or 0) for r in rows
        )
        ThroughputSample.objects.filter(at_ms__lt=now_ms - THROUGHPUT_KEEP_MS).delete()
    return len(rows)
