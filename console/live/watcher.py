"""Sees writes made by other processes and announces them on this process's channel layer.

Services publish their own events after commit, but only inside the process that wrote. The CLI,
another server process or a Kafka client connected to another node write to the same database, so
while at least one live page is open this process polls a few aggregate rows (watermarks per
topic, generation and state per group, broker heartbeats) every POLL_S and publishes an event for
whatever changed. A poll instead of PostgreSQL LISTEN/NOTIFY: NOTIFY takes a cluster-wide lock at
every commit that sends one, which would serialise every append; one small query per process and
half-second is far cheaper, and the same code works on SQLite.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db.models import Count, Max, Sum

from brokercore import events
from brokercore.models import BrokerNode, CommittedOffset, ConsumerGroup, Partition, Topic

logger = logging.getLogger(__name__)

POLL_S = 0.5
_clients = 0
_task: asyncio.Task | None = None
_previous: dict | None = None


async def client_connected() -> None:
    """Count a page in; start watching if it is the first.

    The first snapshot is taken here, before the page's initial render is sent: a write landing
    between that render and the watcher's first poll is then still seen as a change.
    """
    global _clients, _task, _previous
    _clients += 1
    if _task is None or _task.done():
        _previous = await database_sync_to_async(snapshot)()
        _task = asyncio.ensure_future(_run())


def client_disconnected() -> None:
    global _clients
    _clients = max(0, _clients - 1)


def snapshot() -> dict:
    topics = {
        str(r["topic__topic_id"]): (r["hw"], r["start"], r["n"])
        for r in Partition.objects.filter(topic__deleted_at__isnull=True)
        .values("topic__topic_id")
        .annotate(hw=Sum("high_watermark"), start=Sum("log_start_offset"), n=Count("id"))
    }
    for t in Topic.objects.filter(deleted_at__isnull=True).values_list("topic_id", flat=True):
        topics.setdefault(str(t), (0, 0, 0))
    commits = dict(CommittedOffset.objects.values("group_id").annotate(m=Max("committed_ms")).values_list("group_id", "m"))
    groups = {
        pk: (gen, state, n, commits.get(pk))
        for pk, gen, state, n in ConsumerGroup.objects.annotate(n=Count("members")).values_list("pk", "generation", "state", "n")
    }
    nodes = {i: (hb, down is None) for i, hb, down in BrokerNode.objects.values_list("node_id", "heartbeat_at", "down_at")}
    return {"topics": topics, "groups": groups, "nodes": nodes}


def changes(before: dict, after: dict) -> list[tuple[str, str]]:
    """(channel-layer group, event type) for everything that differs between two snapshots."""
    out = []
    if set(before["topics"]) != set(after["topics"]) or set(before["groups"]) != set(after["groups"]):
        out.append((events.CLUSTER_GROUP, "cluster.changed"))
    for topic_id, value in after["topics"].items():
        if before["topics"].get(topic_id, value) != value:
            out.append((events.topic_group(topic_id), "records.changed"))
            out.append((events.CLUSTER_GROUP, "cluster.changed"))
    for pk, value in after["groups"].items():
        if before["groups"].get(pk, value) != value:
            out.append((events.consumer_group_group(pk), "group.changed"))
            out.append((events.CLUSTER_GROUP, "cluster.changed"))
    if before["nodes"] != after["nodes"]:
        out.append((events.CLUSTER_GROUP, "cluster.changed"))
    if {i for i, (_, up) in before["nodes"].items() if up} != {i for i, (_, up) in after["nodes"].items() if up}:
        # A node went up or down in another process: partition leaders moved on every topic page.
        out.extend((events.topic_group(t), "broker.changed") for t in after["topics"])
    return sorted(set(out))


async def _run() -> None:
    global _previous
    layer = get_channel_layer()
    while _clients > 0:
        await asyncio.sleep(POLL_S)
        try:
            current = await database_sync_to_async(snapshot)()
            if _previous is not None:
                for group, event_type in changes(_previous, current):
                    await layer.group_send(group, {"type": event_type, "_group": group})
            _previous = current
        except Exception:
            logger.exception("change watcher poll failed")
