"""Reads of the cluster: its id, the live broker nodes (cached briefly per process), where each
partition's replicas and leader are (computed from the sorted live node ids, so every process gives
the same answer), the broker configs clients may read, and the brokers list. No side effects."""

import base64
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import Q

from brokercore.models import (
    BrokerNode,
    Cluster,
    Partition,
    Topic,
)
from brokercore.types import PartitionInfo


def cluster_id_new() -> str:
    """Kafka's form of a cluster id: a random UUID in unpadded URL-safe base64 (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


_cluster_id: str | None = None


def cluster_id() -> str:
    """The cluster's persistent id. Migration 0005 creates it; a flushed database (tests, a
    `manage.py flush`) gets a new one here, so callers never see the cluster without an id.

    It never changes once written, so each process reads it once (every v3 REST request and
    Kafka Metadata answer carries it); `cluster_cache_clear` forgets it (tests flush databases).
    """
    global _cluster_id
    if _cluster_id is None:
        row = Cluster.objects.filter(pk=1).values_list("cluster_id", flat=True).first()
        if row is None:
            row = Cluster.objects.get_or_create(pk=1, defaults={"cluster_id": cluster_id_new()})[0].cluster_id
        _cluster_id = row
    return _cluster_id


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """A live broker node as Kafka clients see it: where to connect to reach what it leads."""

    node_id: int
    host: str
    port: int
    rack: str | None = None


CLUSTER_CACHE_S = 1.0


_cluster_cache: tuple[float, tuple[ClusterNode, ...]] | None = None


def node_session_timeout() -> timedelta:
    return timedelta(seconds=settings.BROKER["NODE_SESSION_TIMEOUT_S"])


def nodes_live_q(now: datetime | None = None) -> Q:
    """Live = heartbeat within the session timeout and not marked down (stopped or found dead)."""
    from brokercore import clock

    return Q(down_at__isnull=True, heartbeat_at__gte=(now or clock.now()) - node_session_timeout())


def node_embedded() -> ClusterNode:
    """The node a process stands for before any server process registered (CLI-only use)."""
    b = settings.BROKER
    host = b["KAFKA_ADVERTISED_HOST"] or b["KAFKA_HOST"]
    if host in ("", "0.0.0.0", "::"):
        import socket

        host = socket.gethostname()
    return ClusterNode(
        node_id=b["NODE_ID"],
        host=host,
        port=b["KAFKA_ADVERTISED_PORT"] or b["KAFKA_PORT"],
        rack=b["KAFKA_RACK"] or None,
    )


def cluster_nodes() -> tuple[ClusterNode, ...]:
    """Live broker nodes with a Kafka listener, by node id; the embedded node when none is.

    Cached for CLUSTER_CACHE_S per process (the listener asks on every Metadata and Produce);
    this process's own node changes clear it at once.
    """
    global _cluster_cache
    now = time.monotonic()
    cached = _cluster_cache
    if cached is not None and now < cached[0]:
        return cached[1]
    rows = (
        BrokerNode.objects.filter(nodes_live_q(), kafka_port__isnull=False)
        .order_by("node_id")
        .values_list("node_id", "kafka_host", "kafka_port", "rack")
    )
    nodes = tuple(ClusterNode(node_id=i, host=h, port=p, rack=r or None) for i, h, p, r in rows) or (node_embedded(),)
    _cluster_cache = (now + CLUSTER_CACHE_S, nodes)
    return nodes


def cluster_cache_clear() -> None:
    global _cluster_cache, _cluster_id
    _cluster_cache = None
    _cluster_id = None
    assigned_replicas_forget()


def brokers_live_ids() -> list[int]:
    return [n.node_id for n in cluster_nodes()]


def brokers_live_count() -> int:
    """Live broker nodes; the embedded broker counts as one even before any node registers."""
    return len(cluster_nodes())


def kafka_security_protocol(allow_anonymous: bool, tls: bool = False) -> str:
    """The security.protocol a Kafka client sets for a listener: SASL/PLAIN is always offered, and
    required unless anonymous clients are allowed; TLS when the listener has a certificate."""
    if tls:
        return "SSL" if allow_anonymous else "SASL_SSL"
    return "PLAINTEXT" if allow_anonymous else "SASL_PLAINTEXT"


class BrokerConfig(NamedTuple):
    name: str
    value: str
    type: str  # Kafka's config type: int, long, short, string, boolean
    doc: str
    per_broker: bool = False  # names one broker process; the rest every process shares


def cluster_configs() -> list[BrokerConfig]:
    """The broker settings every server process shares (broker_configs without those naming one)."""
    e = node_embedded()
    return [c for c in broker_configs(node_id=e.node_id, host=e.host, port=e.port) if not c.per_broker]


def broker_configs(*, node_id: int, host: str, port: int, protocol: str | None = None) -> list[BrokerConfig]:
    """The broker settings a client may want to see: the Kafka listener's DescribeConfigs and the
    REST proxy's broker and cluster configs answer from this. `protocol`: the security.protocol of
    the listener asked (default: a listener built from the settings, as `serve` starts one)."""
    b = settings.BROKER
    if protocol is None:
        protocol = kafka_security_protocol(b["KAFKA_ALLOW_ANONYMOUS"], bool(b["KAFKA_TLS_CERT"]))
    return [
        BrokerConfig("node.id", str(node_id), "int", "This broker's node id (BROKER_NODE_ID).", per_broker=True),
        BrokerConfig("broker.id", str(node_id), "int", "Same as node.id.", per_broker=True),
        BrokerConfig("advertised.listeners", f"{protocol}://{host}:{port}", "string", "Where clients connect to this broker.", per_broker=True),
        BrokerConfig("auto.create.topics.enable", str(b["AUTO_CREATE_TOPICS"]).lower(), "boolean", "Metadata requests create unknown topics (BROKER_AUTO_CREATE_TOPICS)."),
        BrokerConfig("num.partitions", str(b["DEFAULT_PARTITIONS"]), "int", "Partitions of auto-created topics (BROKER_DEFAULT_PARTITIONS)."),
        BrokerConfig("default.replication.factor", str(b["DEFAULT_REPLICATION_FACTOR"]), "short", "Replication factor of auto-created topics."),
        BrokerConfig("message.max.bytes", str(b["MESSAGE_MAX_BYTES"]), "int", "Default max.message.bytes of topics (BROKER_MESSAGE_MAX_BYTES)."),
        BrokerConfig("socket.request.max.bytes", str(b["KAFKA_MAX_REQUEST_BYTES"]), "int", "Largest request frame (BROKER_KAFKA_MAX_REQUEST_BYTES)."),
        BrokerConfig("group.min.session.timeout.ms", str(b["GROUP_MIN_SESSION_TIMEOUT_MS"]), "int", "Shortest session timeout a group member may ask for."),
        BrokerConfig("group.max.session.timeout.ms", str(b["GROUP_MAX_SESSION_TIMEOUT_MS"]), "int", "Longest session timeout a group member may ask for."),
        BrokerConfig("offset.metadata.max.bytes", str(b["OFFSET_METADATA_MAX_BYTES"]), "int", "Largest metadata string of a committed offset."),
        BrokerConfig("producer.id.expiration.ms", str(b["PRODUCER_ID_EXPIRATION_MS"]), "int", "How long an idle idempotent producer's state is kept."),
        BrokerConfig("log.cleaner.backoff.ms", str(b["LOG_CLEANER_INTERVAL_S"] * 1000), "long", "How often retention and compaction run."),
    ]


_assigned_cache: tuple[float, dict[tuple[str, int], tuple[int, ...]]] | None = None


def assigned_replicas() -> dict[tuple[str, int], tuple[int, ...]]:
    """The manual replica assignments of live topics' partitions, (topic, index) -> node ids.
    Cached for CLUSTER_CACHE_S per process like the live nodes, so every process places a
    partition the same way within that time; this process's own topic changes clear it."""
    global _assigned_cache
    now = time.monotonic()
    cached = _assigned_cache
    if cached is not None and now < cached[0]:
        return cached[1]
    rows = Partition.objects.filter(topic__deleted_at__isnull=True, replicas__isnull=False).values_list(
        "topic__name", "index", "replicas"
    )
    assigned = {(name, index): tuple(replicas) for name, index, replicas in rows}
    _assigned_cache = (now + CLUSTER_CACHE_S, assigned)
    return assigned


def assigned_replicas_forget() -> None:
    global _assigned_cache
    _assigned_cache = None


def partition_replicas(index: int, replication_factor: int, nodes: list[int], *, topic: str) -> tuple[int, ...]:
    """Replica node ids of partition `index` of `topic`, leader first, over the live `nodes`.

    A manual assignment places it on the live nodes it names, in its order (the first, Kafka's
    preferred leader, leads while it is live; else the next live one, as Kafka elects from the
    ISR); when none of them is live, or there is none, placement is computed: round-robin from a
    start that depends on the topic's name (as Kafka starts each topic at a random broker), so
    single-partition topics do not all land on the lowest node id. The database holds every
    record, so each "replica" is in sync by construction; replicas and ISR are reported for
    clients that expect them.
    """
    assigned = assigned_replicas().get((topic, index))
    if assigned:
        live = tuple(n for n in assigned if n in nodes)
        if live:
            return live
    start = zlib.crc32(topic.encode()) + index
    return tuple(nodes[(start + i) % len(nodes)] for i in range(max(1, min(replication_factor, len(nodes)))))


def partition_leader(*, topic: str, partition: int) -> int:
    """The node id leading `topic`-`partition` now: what Metadata tells clients, and what a
    handler compares its own node id with before answering NOT_LEADER_OR_FOLLOWER."""
    return partition_replicas(partition, 1, brokers_live_ids(), topic=topic)[0]


def partition_info(p: Partition, topic: Topic, nodes: list[int]) -> PartitionInfo:
    replicas = partition_replicas(p.index, topic.replication_factor, nodes, topic=topic.name)
    return PartitionInfo(
        index=p.index, log_start_offset=p.log_start_offset, high_watermark=p.high_watermark,
        size_bytes=p.size_bytes, last_append_at=p.last_append_at, replicas=replicas,
    )


def leaders_by_topic(names: list[str] | None, nodes: list[int]) -> dict[str, list[tuple[int, int]]]:
    """(partition, leader node) of each live topic (of `names`, or all), in one query."""
    rows = Partition.objects.filter(topic__deleted_at__isnull=True).order_by("topic__name", "index")
    if names is not None:
        rows = rows.filter(topic__name__in=names)
    out: dict[str, list[tuple[int, int]]] = {}
    for name, index in rows.values_list("topic__name", "index"):
        out.setdefault(name, []).append((index, partition_replicas(index, 1, nodes, topic=name)[0]))
    return out


def broker_replicas(node_id: int) -> list[tuple[str, PartitionInfo]]:
    """(topic name, partition) of every live partition with a replica on `node_id`, in one query."""
    nodes = brokers_live_ids()
    out = []
    for p in Partition.objects.filter(topic__deleted_at__isnull=True).select_related("topic").order_by("topic__name", "index"):
        info = partition_info(p, p.topic, nodes)
        if node_id in info.replicas:
            out.append((p.topic.name, info))
    return out


@dataclass(frozen=True, slots=True)
class BrokerView:
    """A broker node as the console, the REST proxy and the CLI show it.

    `host`/`port` are the Kafka listener's advertised address (what clients connect to);
    `web_host`/`web_port` the console served by the same process, if any. `status` is "alive",
    "stopped" (clean stop) or "dead" (no heartbeat within the session timeout). `embedded`: no
    server process is alive, and this process's broker stands in.
    """

    node_id: int
    host: str
    port: int | None
    web_host: str
    web_port: int | None
    rack: str
    process: str
    alive: bool
    status: str
    embedded: bool
    started_at: datetime | None
    down_at: datetime | None
    heartbeat_age_s: float | None
    leader_count: int | None  # partitions it leads now; None when not counted (broker_get)


def brokers_list(*, node_id: int | None = None) -> list[BrokerView]:
    """Every broker node ever registered, live or not, with how many partitions each leads now
    (`leader_count`); with `node_id`, only that node and its `leader_count` None (counting would
    place every partition of the cluster).
    """
    from brokercore import clock

    now = clock.now()
    leader_counts = node_id is None
    leaders: dict[int, int] = {}
    if leader_counts:
        live = brokers_live_ids()
        leaders = dict.fromkeys(live, 0)
        for partitions in leaders_by_topic(None, live).values():
            for _, leader in partitions:
                leaders[leader] += 1
    alive = set(BrokerNode.objects.filter(nodes_live_q(now)).values_list("node_id", flat=True))
    nodes = BrokerNode.objects.order_by("node_id")
    if node_id is not None:
        nodes = nodes.filter(node_id=node_id)
    out = []
    for n in nodes:
        is_alive = n.node_id in alive
        out.append(BrokerView(
            node_id=n.node_id,
            host=n.kafka_host,
            port=n.kafka_port,
            web_host=n.web_host,
            web_port=n.web_port,
            rack=n.rack,
            process=n.process,
            alive=is_alive,
            status="alive" if is_alive else ("stopped" if n.down_reason == BrokerNode.DownReason.STOPPED else "dead"),
            embedded=False,
            started_at=n.started_at,
            down_at=n.down_at,
            heartbeat_age_s=max(0.0, (now - n.heartbeat_at).total_seconds()),
            leader_count=(leaders.get(n.node_id, 0) if is_alive else 0) if leader_counts else None,
        ))
    if not alive:
        # No server process is alive (or none ever registered: CLI-only use): the embedded broker
        # stands in under this process's node id, in place of that id's old row.
        e = node_embedded()
        out = [b for b in out if b.node_id != e.node_id]
        if node_id is None or node_id == e.node_id:
            out.append(BrokerView(
                node_id=e.node_id, host=e.host, port=e.port, web_host="", web_port=None, rack="", process="",
                alive=True, status="alive", embedded=True, started_at=None, down_at=None, heartbeat_age_s=None,
                leader_count=leaders.get(e.node_id, 0) if leader_counts else None,
            ))
            out.sort(key=lambda b: b.node_id)
    return out


def broker_get(node_id: int) -> BrokerView | None:
    """One node as `brokers_list` shows it, without counting the partitions it leads."""
    found = brokers_list(node_id=node_id)
    return found[0] if found else None

