"""Broker nodes and throughput samples: what the maintenance thread records about the cluster.

A broker node is a server process holding a node id. It registers at start (refused while another
live process holds the id), heartbeats every NODE_HEARTBEAT_INTERVAL_S, and is down once it
deregisters (a clean stop) or stays silent for NODE_SESSION_TIMEOUT_S. Leadership is computed
from the live nodes (partition_replicas), so a node going down moves its partitions.
broker.up / broker.down are announced exactly once per transition: each is tied to a conditional
UPDATE (or a locked row) that only one process can win.
"""

import datetime
import os
import secrets
import socket

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from brokercore import clock, events
from brokercore.cluster.read import cluster_cache_clear, node_session_timeout
from brokercore.errors import DuplicateBrokerRegistration
from brokercore.models import BrokerNode, Partition, ThroughputSample, Topic

THROUGHPUT_KEEP_MS = 10 * 60 * 1000

# This process's identity, stored on the node row it holds: another process can tell whether a
# node id is held by someone else, and a human can tell which process that is.
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

DUPLICATE_NODE = (
    "broker node id {node_id} is already in use by the live process {holder} (last heartbeat {age:.1f} s ago); "
    "stop it or give this process another BROKER_NODE_ID"
)

# What each (node id, process) registered with, so a heartbeat can register again when its row
# was lost (a flushed database) or taken back from a process that has since died.
_registrations: dict[tuple[int, str], dict] = {}


def _node_event(event_type: str, node_id: int, reason: str = "") -> None:
    """broker.up / broker.down after commit, to the cluster and to every topic page (leaders move)."""
    transaction.on_commit(cluster_cache_clear, robust=True)
    groups = [events.CLUSTER_GROUP] + [
        events.topic_group(t) for t in Topic.objects.filter(deleted_at__isnull=True).values_list("topic_id", flat=True)
    ]
    events.publish_on_commit(groups, event_type, {"node_id": node_id, "reason": reason})


def _is_live(node: BrokerNode, now: datetime.datetime) -> bool:
    return node.down_at is None and node.heartbeat_at >= now - node_session_timeout()


@transaction.atomic
def node_register(
    *,
    kafka_host: str,
    kafka_port: int,
    web_host: str = "",
    web_port: int | None = None,
    rack: str = "",
    node_id: int | None = None,
    process: str | None = None,
) -> BrokerNode:
    """Make this process broker node `node_id` (default BROKER_NODE_ID), live from now on.

    Raises DuplicateBrokerRegistration while another live process holds the id. A row left by a
    dead or stopped process is taken over.
    """
    node_id = settings.BROKER["NODE_ID"] if node_id is None else node_id
    process = process or PROCESS
    now = clock.now()
    fields = {
        "kafka_host": kafka_host, "kafka_port": kafka_port, "web_host": web_host or "", "web_port": web_port,
        "rack": rack or "", "process": process, "started_at": now, "heartbeat_at": now,
        "down_at": None, "down_reason": "",
    }
    node, created = BrokerNode.objects.select_for_update().get_or_create(node_id=node_id, defaults=fields)
    was_live = False
    if not created:
        if node.process != process and _is_live(node, now):
            age = (now - node.heartbeat_at).total_seconds()
            raise DuplicateBrokerRegistration(DUPLICATE_NODE.format(node_id=node_id, holder=node.process, age=age))
        was_live = _is_live(node, now)
        for name, value in fields.items():
            setattr(node, name, value)
        node.save(update_fields=list(fields))
    _registrations[(node_id, process)] = {
        k: fields[k] for k in ("kafka_host", "kafka_port", "web_host", "web_port", "rack")
    }
    cluster_cache_clear()
    if created or not was_live:
        _node_event("broker.up", node_id)
    return node


def node_heartbeat(*, node_id: int | None = None, process: str | None = None) -> list[BrokerNode]:
    """Refresh the heartbeat of the nodes this process registered (or just `node_id`).

    A node found dead (this process stalled past the session timeout) comes back up, one stopped
    cleanly stays down; a row that vanished, or was left by a process that took the id over and then died, is registered
    again. Raises DuplicateBrokerRegistration if a live process took the id over meanwhile.
    """
    process = process or PROCESS
    keys = [k for k in list(_registrations) if k[1] == process and (node_id is None or k[0] == node_id)]
    return [_heartbeat_one(node_id=k[0], process=process) for k in keys]


@transaction.atomic
def _heartbeat_one(*, node_id: int, process: str) -> BrokerNode:
    now = clock.now()
    node = BrokerNode.objects.select_for_update().filter(node_id=node_id).first()
    if node is None or node.process != process:
        if node is not None and _is_live(node, now):
            _registrations.pop((node_id, process), None)  # fenced: stop heartbeating for this id
            age = (now - node.heartbeat_at).total_seconds()
            raise DuplicateBrokerRegistration(DUPLICATE_NODE.format(node_id=node_id, holder=node.process, age=age))
        return node_register(node_id=node_id, process=process, **_registrations[(node_id, process)])
    if node.down_reason == BrokerNode.DownReason.STOPPED:
        # Deregistered: a heartbeat that raced the clean stop must not bring the node back.
        _registrations.pop((node_id, process), None)
        return node
    came_back = node.down_at is not None
    node.heartbeat_at, node.down_at, node.down_reason = now, None, ""
    node.save(update_fields=["heartbeat_at", "down_at", "down_reason"])
    if came_back:
        cluster_cache_clear()
        _node_event("broker.up", node_id)
    return node


@transaction.atomic
def node_deregister(node_id: int | None = None, *, process: str | None = None) -> bool:
    """A clean stop: the node is down at once (no session timeout), its partitions move now.

    False when this process does not hold the node (never registered, or taken over).
    """
    node_id = settings.BROKER["NODE_ID"] if node_id is None else node_id
    process = process or PROCESS
    _registrations.pop((node_id, process), None)
    stopped = BrokerNode.objects.filter(node_id=node_id, process=process, down_at__isnull=True).update(
        down_at=clock.now(), down_reason=BrokerNode.DownReason.STOPPED
    )
    cluster_cache_clear()
    if stopped:
        _node_event("broker.down", node_id, BrokerNode.DownReason.STOPPED)
    return bool(stopped)


def nodes_sweep() -> list[int]:
    """Mark nodes silent for the session timeout as dead; announce each exactly once.

    Any live process may sweep: the conditional UPDATE lets one of them win each node.
    """
    now = clock.now()
    cutoff = now - node_session_timeout()
    silent = list(BrokerNode.objects.filter(down_at__isnull=True, heartbeat_at__lt=cutoff).values_list("node_id", flat=True))
    dead = []
    for node_id in silent:
        with transaction.atomic():
            won = BrokerNode.objects.filter(node_id=node_id, down_at__isnull=True, heartbeat_at__lt=cutoff).update(
                down_at=now, down_reason=BrokerNode.DownReason.EXPIRED
            )
            if won:
                dead.append(node_id)
                _node_event("broker.down", node_id, BrokerNode.DownReason.EXPIRED)
    if dead:
        cluster_cache_clear()
    return dead


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
