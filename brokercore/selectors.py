"""Reads shaped for callers. No side effects (a fetch may wait, but never writes)."""

import base64
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, Q, Sum

from brokercore.errors import GroupIdNotFound, InvalidFetchSize, OffsetOutOfRange, UnknownTopicOrPartition
from brokercore.models import (
    BrokerNode,
    Cluster,
    CommittedOffset,
    ConsumerGroup,
    GroupMember,
    LagSample,
    Partition,
    RebalanceEvent,
    Record,
    Topic,
)
from brokercore.notify import log_waiters
from brokercore.topic_rules import LogConfig, configs_effective
from brokercore.types import FetchResult, PartitionInfo, RecordOut, TopicInfo

EARLIEST = -2  # Kafka's ListOffsets sentinels
LATEST = -1


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


# --- Broker nodes and partition leadership ---------------------------------------------------
#
# Leaders are computed, not elected: every process derives them from the sorted ids of the live
# nodes, so all processes agree (up to CLUSTER_CACHE_S) without talking to each other.


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


def nodes_live_q(now=None) -> Q:
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


def topic_get(*, name: str) -> Topic:
    try:
        return Topic.objects.get(name=name, deleted_at__isnull=True)
    except Topic.DoesNotExist:
        raise UnknownTopicOrPartition(f"Topic '{name}' does not exist.") from None


def topic_log_config(*, topic: Topic) -> LogConfig:
    return LogConfig.from_overrides(topic.configs)


def partition_replicas(index: int, replication_factor: int, nodes: list[int], *, topic: str) -> tuple[int, ...]:
    """Replica node ids of partition `index` of `topic`, leader first, over the live `nodes`.

    Round-robin from a start that depends on the topic's name (as Kafka starts each topic at a
    random broker), so single-partition topics do not all land on the lowest node id. The database
    holds every record, so each "replica" is in sync by construction; replicas and ISR are
    reported for clients that expect them.
    """
    start = zlib.crc32(topic.encode()) + index
    return tuple(nodes[(start + i) % len(nodes)] for i in range(max(1, min(replication_factor, len(nodes)))))


def partition_leader(*, topic: str, partition: int) -> int:
    """The node id leading `topic`-`partition` now: what Metadata tells clients, and what a
    handler compares its own node id with before answering NOT_LEADER_OR_FOLLOWER."""
    return partition_replicas(partition, 1, brokers_live_ids(), topic=topic)[0]


def _partition_info(p: Partition, topic: Topic, nodes: list[int]) -> PartitionInfo:
    replicas = partition_replicas(p.index, topic.replication_factor, nodes, topic=topic.name)
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


def partition_describe(p: Partition) -> PartitionInfo:
    """One partition (from partition_get) as topic_describe shows it: offsets, leader, replicas."""
    return _partition_info(p, p.topic, brokers_live_ids())


def topic_describe(*, name: str) -> TopicInfo:
    topic = topic_get(name=name)
    partitions = list(Partition.objects.filter(topic=topic).order_by("index"))
    nodes = brokers_live_ids()
    return TopicInfo(
        name=topic.name,
        topic_id=str(topic.topic_id),
        replication_factor=topic.replication_factor,
        partitions=[_partition_info(p, topic, nodes) for p in partitions],
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
    """Drivers return bytea as memoryview (PostgreSQL) or bytes (SQLite); copy only the former."""
    return v if v is None or type(v) is bytes else bytes(v)


def _records_read(partition: Partition, start: int, end: int, max_records: int, max_bytes: int) -> list[RecordOut]:
    # The offset window is bounded by max_records too, so even without table statistics the
    # planner reads a short primary-key range instead of everything up to the watermark. A window
    # that compaction emptied moves on to the next one.
    while True:
        window_end = min(end, start + max_records)
        rows = list(
            Record.objects.filter(partition_id=partition.pk, offset__gte=start, offset__lt=window_end)
            .order_by("offset")
            .values_list("offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")[:max_records]
        )
        if rows or window_end >= end:
            break
        start = window_end
    out: list[RecordOut] = []
    total = 0
    topic = partition.topic.name
    for offset, ts, ts_type, key, value, headers, size in rows:
        # Like Kafka (KIP-74) the first record is returned even when it alone exceeds max_bytes,
        # so a consumer can never get stuck behind one large record.
        if out and total + size > max_bytes:
            break
        total += size
        out.append(RecordOut(
            topic, partition.index, offset, ts, ts_type,
            _bytes(key), _bytes(value),
            headers_decode(headers) if headers else (), size,
        ))
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
            holds = (
                "the log is empty"
                if p.log_start_offset == p.high_watermark
                else f"the log holds offsets {p.log_start_offset}..{p.high_watermark - 1}"
            )
            raise OffsetOutOfRange(
                f"Offset {offset} is out of range for partition {topic}-{partition}: {holds} "
                f"(log start offset {p.log_start_offset}, high watermark {p.high_watermark})."
            )
        records = []
        if offset < p.high_watermark:
            records = _records_read(p, offset, p.high_watermark, max_records, max_bytes)
        remaining = deadline - time.monotonic()
        # Below the watermark but nothing read: compaction removed that whole range, so the
        # consumer moves past the gap to the watermark, as Kafka's fetch does.
        if records or offset < p.high_watermark or remaining <= 0:
            return FetchResult(
                topic=topic,
                partition=partition,
                records=records,
                high_watermark=p.high_watermark,
                log_start_offset=p.log_start_offset,
                next_offset=records[-1].offset + 1 if records else p.high_watermark,
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
    # Only (partition, timestamp) in the WHERE clause, so the planner always uses that index; rows
    # outside [log start, high watermark) (not yet purged, or not yet visible) are skipped here.
    # Read in LIMIT-ed slices continued by a (timestamp, offset) keyset: a server-side cursor
    # outside a transaction would make PostgreSQL materialise every later record first.
    after: tuple[int, int] | None = None
    while True:
        qs = Record.objects.filter(partition_id=p.pk, timestamp__gte=spec)
        if after is not None:
            qs = qs.filter(Q(timestamp__gt=after[0]) | Q(timestamp=after[0], offset__gt=after[1]))
        rows = list(qs.order_by("timestamp", "offset").values_list("offset", "timestamp")[:100])
        for offset, ts in rows:
            if p.log_start_offset <= offset < p.high_watermark:
                return offset, ts
        if len(rows) < 100:
            return p.high_watermark, None
        after = (rows[-1][1], rows[-1][0])


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


# --- Consumer groups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    log_start_offset: int
    high_watermark: int
    owner: str | None
    lag: int | None  # high watermark - committed; None when nothing is committed
    lag_ms: int | None  # age of the oldest unconsumed record

    @property
    def key(self) -> str:
        return f"{self.topic}:{self.partition}"


@dataclass(frozen=True)
class MemberInfo:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    subscription: list[str]
    assignment: list[tuple[str, int]]
    revoking: list[tuple[str, int]]
    awaiting_join: bool
    last_heartbeat_ms: int
    session_timeout_ms: int

    @property
    def idle(self) -> bool:
        """A member with no partitions: more members than partitions, or nothing subscribed exists."""
        return not self.assignment and not self.revoking

    @property
    def session_deadline_ms(self) -> int:
        """When the coordinator expires this member unless it heartbeats first."""
        return self.last_heartbeat_ms + self.session_timeout_ms

    def session_expires_in_ms(self, now_ms: int) -> int:
        return self.session_deadline_ms - now_ms


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str
    kind: str
    assignor: str
    protocol_name: str
    generation: int
    leader: str
    members: list[MemberInfo]
    partitions: list[PartitionLag]
    rebalance_reasons: list[str]
    rebalance_started_ms: int | None
    rebalance_deadline_ms: int | None

    @property
    def idle_members(self) -> list[str]:
        return [m.member_id for m in self.members if m.idle]

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)


def group_get(*, group_id: str) -> ConsumerGroup:
    try:
        return ConsumerGroup.objects.get(group_id=group_id)
    except ConsumerGroup.DoesNotExist:
        raise GroupIdNotFound(f"Group '{group_id}' does not exist.") from None


def _oldest_unconsumed_ms(partition_id: int, committed: int, now_ms: int) -> int | None:
    ts = (
        Record.objects.filter(partition_id=partition_id, offset__gte=committed)
        .order_by("offset")
        .values_list("timestamp", flat=True)
        .first()
    )
    return None if ts is None else max(0, now_ms - ts)


def group_lag(*, group: ConsumerGroup, owners: dict[tuple[str, int], str] | None = None, with_time: bool = True) -> list[PartitionLag]:
    """Lag of every partition the group has committed to or has assigned, by topic and partition."""
    from brokercore import clock

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
        lag = None if c is None else max(0, p.high_watermark - max(c, p.log_start_offset))
        lag_ms = _oldest_unconsumed_ms(p.pk, c, now_ms) if with_time and lag else (0 if lag == 0 else None)
        out.append(PartitionLag(tp[0], tp[1], c, p.log_start_offset, p.high_watermark, owners.get(tp), lag, lag_ms))
    return sorted(out, key=lambda x: (x.topic, x.partition))


def group_describe(*, group_id: str) -> GroupInfo:
    group = group_get(group_id=group_id)
    members = [
        MemberInfo(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            subscription=list(m.subscription),
            assignment=[tuple(tp) for tp in m.assignment],
            revoking=[tuple(tp) for tp in m.revoking],
            awaiting_join=m.awaiting_join,
            last_heartbeat_ms=m.last_heartbeat_ms,
            session_timeout_ms=m.session_timeout_ms,
        )
        for m in GroupMember.objects.filter(group=group).order_by("joined_at", "member_id")
    ]
    owners = {tp: m.member_id for m in members for tp in m.assignment + m.revoking}
    return GroupInfo(
        group_id=group.group_id,
        state=group.state,
        kind=group.kind,
        assignor=group.assignor,
        protocol_name=group.protocol_name,
        generation=group.generation,
        leader=group.leader_member_id,
        members=members,
        partitions=group_lag(group=group, owners=owners),
        rebalance_reasons=list(group.rebalance_reasons),
        rebalance_started_ms=group.rebalance_started_ms,
        rebalance_deadline_ms=group.rebalance_deadline_ms,
    )


def groups_lag_totals() -> dict[str, int]:
    """Total lag of every group, in two queries (for lists and the lag sampler)."""
    hw = dict(Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "high_watermark"))
    starts = dict(Partition.objects.filter(topic__deleted_at__isnull=True).values_list("id", "log_start_offset"))
    totals: dict[str, int] = {}
    for group_id, pid, offset in CommittedOffset.objects.values_list("group__group_id", "partition_id", "offset"):
        if pid in hw:
            totals[group_id] = totals.get(group_id, 0) + max(0, hw[pid] - max(offset, starts[pid]))
    return totals


def group_list() -> list[dict]:
    totals = groups_lag_totals()
    rows = ConsumerGroup.objects.annotate(member_count=Count("members")).order_by("group_id")
    return [
        {
            "group_id": g.group_id,
            "state": g.state,
            "kind": g.kind,
            "assignor": g.protocol_name or g.assignor,
            "generation": g.generation,
            "members": g.member_count,
            "total_lag": totals.get(g.group_id, 0),
        }
        for g in rows
    ]


def rebalance_history(*, group_id: str, limit: int = 50) -> list[RebalanceEvent]:
    return list(RebalanceEvent.objects.filter(group__group_id=group_id).order_by("-generation")[:limit])


def lag_history(*, group_id: str) -> list[tuple[int, int]]:
    return list(LagSample.objects.filter(group__group_id=group_id).order_by("at_ms").values_list("at_ms", "total_lag"))


def committed_offsets_get(*, group_id: str, partitions: list[tuple[str, int]] | None = None) -> dict[tuple[str, int], tuple[int, str]]:
    """Kafka's OffsetFetch: committed offset and metadata per topic-partition."""
    group = ConsumerGroup.objects.filter(group_id=group_id).first()
    if group is None:
        return {}
    rows = CommittedOffset.objects.filter(group=group).values_list("partition__topic__name", "partition__index", "offset", "metadata")
    out = {(t, p): (o, md) for t, p, o, md in rows}
    if partitions is not None:
        out = {tp: v for tp, v in out.items() if tp in set(partitions)}
    return out


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


def _leaders_by_topic(names: list[str] | None, nodes: list[int]) -> dict[str, list[tuple[int, int]]]:
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
        info = _partition_info(p, p.topic, nodes)
        if node_id in info.replicas:
            out.append((p.topic.name, info))
    return out


def brokers_list(*, node_id: int | None = None) -> list[dict]:
    """Every broker node ever registered, live or not, with how many partitions each leads now
    (`leader_count`); with `node_id`, only that node and its `leader_count` None (counting would
    place every partition of the cluster).

    `host`/`port` are the Kafka listener's advertised address (what clients connect to);
    `web_host`/`web_port` the console served by the same process, if any.
    """
    from brokercore import clock

    now = clock.now()
    leader_counts = node_id is None
    leaders: dict[int, int] = {}
    if leader_counts:
        live = brokers_live_ids()
        leaders = dict.fromkeys(live, 0)
        for partitions in _leaders_by_topic(None, live).values():
            for _, leader in partitions:
                leaders[leader] += 1
    alive = set(BrokerNode.objects.filter(nodes_live_q(now)).values_list("node_id", flat=True))
    nodes = BrokerNode.objects.order_by("node_id")
    if node_id is not None:
        nodes = nodes.filter(node_id=node_id)
    out = []
    for n in nodes:
        is_alive = n.node_id in alive
        out.append({
            "node_id": n.node_id,
            "host": n.kafka_host,
            "port": n.kafka_port,
            "web_host": n.web_host,
            "web_port": n.web_port,
            "rack": n.rack,
            "process": n.process,
            "alive": is_alive,
            # "alive", "stopped" (clean stop), or "dead" (no heartbeat within the session timeout)
            "status": "alive" if is_alive else ("stopped" if n.down_reason == BrokerNode.DownReason.STOPPED else "dead"),
            "embedded": False,
            "started_at": n.started_at,
            "down_at": n.down_at,
            "heartbeat_age_s": max(0.0, (now - n.heartbeat_at).total_seconds()),
            "leader_count": (leaders.get(n.node_id, 0) if is_alive else 0) if leader_counts else None,
        })
    if not alive:
        # No server process is alive (or none ever registered: CLI-only use): the embedded broker
        # stands in under this process's node id, in place of that id's old row.
        e = node_embedded()
        out = [b for b in out if b["node_id"] != e.node_id]
        if node_id is None or node_id == e.node_id:
            out.append({"node_id": e.node_id, "host": e.host, "port": e.port, "web_host": "", "web_port": None,
                        "rack": "", "process": "", "alive": True, "status": "alive", "embedded": True,
                        "started_at": None, "down_at": None, "heartbeat_age_s": None,
                        "leader_count": leaders.get(e.node_id, 0) if leader_counts else None})
            out.sort(key=lambda b: b["node_id"])
    return out


def broker_get(node_id: int) -> dict | None:
    """One node as `brokers_list` shows it, without counting the partitions it leads."""
    found = brokers_list(node_id=node_id)
    return found[0] if found else None


# --- Console: messages -------------------------------------------------------------------------

MATCH_FIELDS = ("any", "key", "value", "headers")
_CHUNK_MAX = 2000
_CHUNK_BYTES = 4 << 20


def record_matches(record: RecordOut, text: str, field: str = "any") -> bool:
    """Case-insensitive substring match on the record's key, value or headers (decoded as UTF-8)."""
    needle = text.casefold()

    def has(data: bytes | None) -> bool:
        return data is not None and needle in data.decode("utf-8", "replace").casefold()

    if field in ("any", "key") and has(record.key):
        return True
    if field in ("any", "value") and has(record.value):
        return True
    if field in ("any", "headers"):
        return any(needle in k.casefold() or has(v) for k, v in record.headers)
    return False


def _records_read_backward(partition: Partition, start: int, end: int, max_records: int) -> list[RecordOut]:
    """Up to max_records records of [start, end), newest offset first (the primary key, read backwards)."""
    rows = (
        Record.objects.filter(partition_id=partition.pk, offset__gte=start, offset__lt=end)
        .order_by("-offset")
        .values_list("offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")[:max_records]
    )
    topic = partition.topic.name
    return [
        RecordOut(topic, partition.index, o, ts, tt, _bytes(k), _bytes(v), headers_decode(h), size)
        for o, ts, tt, k, v, h, size in rows
    ]


def _partition_stream(partition: Partition, position: int, *, backward: bool, chunk: int):
    """One partition's records from `position` (forward: up to the watermark read; backward: down
    to the log start), read lazily in growing chunks so a merge only reads what it uses.

    Each query also bounds the offsets to a window of about `chunk` offsets: offsets are gapless
    (but for compaction), so the window holds the chunk, and no plan (even one made without table
    statistics, as after a bulk load on PostgreSQL) can read more of the partition than that.
    """
    lo, hi = partition.log_start_offset, partition.high_watermark
    # About _CHUNK_BYTES per query whatever the record size (the row holds the partition's bytes).
    most = max(1, _CHUNK_BYTES * max(1, hi - lo) // max(1, partition.size_bytes))
    chunk = window = min(chunk, most)
    while lo <= position <= hi and (position > lo if backward else position < hi):
        if backward:
            start = max(lo, position - window)
            rows = _records_read_backward(partition, start, position, chunk)
        else:
            end = min(hi, position + window)
            rows = _records_read(partition, position, end, chunk, 1 << 62)
        yield from rows
        if len(rows) == chunk:
            position = rows[-1].offset if backward else rows[-1].offset + 1
            chunk = window = min(chunk * 2, _CHUNK_MAX, most)
        else:  # the window is read; fewer rows than offsets means compaction left gaps: widen it
            position = start if backward else end
            window *= 2


@dataclass(frozen=True)
class BrowsePage:
    """A page of the message browser and what it examined in each partition.

    A page examines [start[p], end[p]) of every partition p: upwards from the cursor when paging
    forwards, downwards when paging backwards. So "previous" is the page before `start` and "next"
    the page from `end`, and paging stays stable while records are appended.
    """

    records: list[RecordOut]  # oldest first: merged by timestamp across partitions
    start: dict[int, int]
    end: dict[int, int]
    bounds: dict[int, tuple[int, int]]  # partition -> (log start offset, high watermark), read first
    scanned: int
    scan_limited: bool  # the scan budget ran out before the page filled (only with a filter)

    @property
    def has_previous(self) -> bool:
        return any(self.start[p] > lo for p, (lo, _) in self.bounds.items())

    @property
    def has_next(self) -> bool:
        return any(self.end[p] < hi for p, (_, hi) in self.bounds.items())


def records_browse(
    *,
    topic: str,
    cursor: dict[int, int],
    backward: bool = False,
    limit: int = 50,
    text: str = "",
    field: str = "any",
    scan_limit: int = 10_000,
    scan_bytes: int = 32 << 20,
    page_bytes: int = 4 << 20,
) -> BrowsePage:
    """Up to `limit` records of the partitions in `cursor`, from (or, backward, before) its offsets.

    Partitions are merged by timestamp, each read in offset order through the primary key, never
    past the watermark read first. With `text`, only matching records count, and the scan stops
    after `scan_limit` records or `scan_bytes` bytes so one request never reads a whole partition.
    Cursor offsets outside a partition's log are clamped to it (retention may have moved it).
    """
    from heapq import merge

    if field not in MATCH_FIELDS:
        raise ValueError(f"field must be one of {MATCH_FIELDS}")
    t = topic_get(name=topic)
    parts = {p.index: p for p in Partition.objects.filter(topic=t, index__in=list(cursor)).select_related("topic")}
    missing = sorted(set(cursor) - set(parts))
    if missing:
        raise UnknownTopicOrPartition(f"Partition {missing[0]} of topic '{topic}' does not exist.")
    bounds = {i: (p.log_start_offset, p.high_watermark) for i, p in parts.items()}
    position = {i: min(max(o, bounds[i][0]), bounds[i][1]) for i, o in cursor.items()}
    budget = scan_limit if text else limit
    chunk = max(10, min(budget, -(-2 * budget // max(1, len(cursor))), _CHUNK_MAX))
    streams = [_partition_stream(parts[i], position[i], backward=backward, chunk=chunk) for i in sorted(parts)]
    start, end = dict(position), dict(position)
    taken: list[RecordOut] = []
    scanned = scanned_size = taken_size = 0
    scan_limited = False
    for r in merge(*streams, key=lambda r: (r.timestamp, r.partition), reverse=backward):
        scanned += 1
        scanned_size += r.size
        if backward:
            start[r.partition] = r.offset
        else:
            end[r.partition] = r.offset + 1
        if not text or record_matches(r, text, field):
            taken.append(r)
            taken_size += r.size
            if len(taken) >= limit or taken_size >= page_bytes:
                break
        if text and (scanned >= scan_limit or scanned_size >= scan_bytes):
            scan_limited = True
            break
    else:  # every stream ran out: the page reaches the end of each partition in its direction
        if backward:
            start = {i: lo for i, (lo, _) in bounds.items()}
        else:
            end = {i: hi for i, (_, hi) in bounds.items()}
    if backward:
        taken.reverse()
    return BrowsePage(records=taken, start=start, end=end, bounds=bounds, scanned=scanned, scan_limited=scan_limited)


@dataclass(frozen=True)
class TailBatch:
    records: list[RecordOut]  # newest first
    positions: dict[int, int]  # partition -> the next offset to read (its watermark when read)
    skipped: int  # offsets that arrived but were not returned (more than `limit` at once)


def records_tail(*, topic: str, positions: dict[int, int] | None = None, initial: int = 20, limit: int = 200) -> TailBatch:
    """What a live tail shows next: the newest `initial` records when `positions` is None, else the
    records appended since `positions` (the newest `limit` of them), newest first by timestamp."""
    from heapq import merge

    t = topic_get(name=topic)
    parts = list(Partition.objects.filter(topic=t).select_related("topic").order_by("index"))
    want = initial if positions is None else limit
    streams, arrived = [], 0
    for p in parts:
        if positions is None:
            lo = max(p.log_start_offset, p.high_watermark - initial)
        else:
            lo = max(p.log_start_offset, positions.get(p.index, p.log_start_offset))
            arrived += max(0, p.high_watermark - lo)
        if lo < p.high_watermark:
            # The newest `want` offsets hold the newest `want` records (gapless but for compaction).
            streams.append(_records_read_backward(p, max(lo, p.high_watermark - want), p.high_watermark, want))
    records = list(merge(*streams, key=lambda r: (r.timestamp, r.partition), reverse=True))[:want] if want else []
    skipped = 0 if positions is None else max(0, arrived - len(records))
    return TailBatch(records=records, positions={p.index: p.high_watermark for p in parts}, skipped=skipped)


# --- Console: groups ---------------------------------------------------------------------------


def group_partitions_subscribed(*, group_id: str) -> list[tuple[str, int]]:
    """Every partition of the topics the group's members subscribe to or the group has committed
    offsets for, by topic and partition: the rows of the console's assignment grid (including the
    partitions nobody owns during an eager rebalance)."""
    group = ConsumerGroup.objects.filter(group_id=group_id).first()
    if group is None:
        return []
    topics = {t for sub in GroupMember.objects.filter(group=group).values_list("subscription", flat=True) for t in sub}
    topics.update(CommittedOffset.objects.filter(group=group).values_list("partition__topic__name", flat=True))
    return list(
        Partition.objects.filter(topic__name__in=topics, topic__deleted_at__isnull=True)
        .order_by("topic__name", "index")
        .values_list("topic__name", "index")
    )


def group_members_seen(*, group_id: str) -> list[str]:
    """Member ids in order of first appearance: the kept rebalance history oldest first, then the
    current members by join time. Gives each member a stable position (and colour) on the page
    even after earlier members left."""
    seen: dict[str, None] = {}
    for members in RebalanceEvent.objects.filter(group__group_id=group_id).order_by("generation").values_list("members", flat=True):
        seen.update(dict.fromkeys(members))
    current = GroupMember.objects.filter(group__group_id=group_id).order_by("joined_at", "member_id").values_list("member_id", flat=True)
    seen.update(dict.fromkeys(current))
    return list(seen)


def group_member_ids(*, group_id: str) -> list[str]:
    """The group's current member ids (one cheap query: the lab watches crashed members expire)."""
    return list(GroupMember.objects.filter(group__group_id=group_id).values_list("member_id", flat=True))


# --- Console: topics ---


def topic_recent_keys(*, name: str, limit: int = 1000) -> list[bytes]:
    """Distinct non-null keys of the topic's newest `limit` records (by timestamp), newest first.

    Reads at most the last `limit` offsets of each partition (the primary-key range), so a large
    log costs no more than a small one.
    """
    from django.db.models import F
    from django.db.models.functions import Greatest

    topic = topic_get(name=name)
    rows = (
        Record.objects.filter(
            partition__topic=topic,
            offset__gte=Greatest(F("partition__log_start_offset"), F("partition__high_watermark") - limit),
            offset__lt=F("partition__high_watermark"),
        )
        .order_by("-timestamp", "-offset")
        .values_list("key", flat=True)[:limit]
    )
    seen: dict[bytes, None] = {}
    for key in rows:
        if key is not None:
            seen.setdefault(bytes(key), None)
    return list(seen)


@dataclass(frozen=True)
class KeyMovePreview:
    """What growing a topic to `count` partitions does to the mapping of its recent keys."""

    current: int
    count: int
    keys: int  # distinct keys sampled
    moved: int  # of those, keys that would map to another partition
    moves: list[tuple[int, int, int]]  # (from partition, to partition, keys), most keys first
    examples: list[tuple[bytes, int, int]]  # (key, from, to), a few of the moved keys


def topic_partitions_add_preview(*, name: str, count: int, sample: int = 1000, examples: int = 8) -> KeyMovePreview:
    """Which recent keys would land elsewhere after growing to `count` partitions.

    Records already written stay where they are; only records produced after the change follow
    the new toPositive(murmur2(key)) % count, so a moved key's old and new records sit on two
    partitions and per-key order holds only within each.
    """
    from collections import Counter

    from brokercore.partitioner import partition_for_key

    current = Partition.objects.filter(topic=topic_get(name=name)).count()
    keys = topic_recent_keys(name=name, limit=sample)
    moves: Counter = Counter()
    moved_examples = []
    for key in keys:
        old, new = partition_for_key(key, current), partition_for_key(key, count)
        if old != new:
            moves[(old, new)] += 1
            if len(moved_examples) < examples:
                moved_examples.append((key, old, new))
    return KeyMovePreview(
        current=current,
        count=count,
        keys=len(keys),
        moved=sum(moves.values()),
        moves=[(a, b, n) for (a, b), n in sorted(moves.items(), key=lambda item: (-item[1], item[0]))],
        examples=moved_examples,
    )


def topic_consumer_groups(*, name: str) -> list[dict]:
    """Groups that committed offsets on the topic or have a member subscribed to it, with lag.

    Lag per partition is high watermark - committed (counted from the log start when the commit
    fell below it); a partition without a commit has no lag figure, as Kafka's tools show "-".
    """
    topic = topic_get(name=name)
    partitions = {
        pid: (index, start, high)
        for pid, index, start, high in Partition.objects.filter(topic=topic)
        .order_by("index")
        .values_list("id", "index", "log_start_offset", "high_watermark")
    }
    committed: dict[int, dict[int, int]] = {}
    for group_pk, pid, offset in CommittedOffset.objects.filter(partition_id__in=list(partitions)).values_list(
        "group_id", "partition_id", "offset"
    ):
        committed.setdefault(group_pk, {})[pid] = offset
    consuming: dict[int, int] = {}  # group pk -> members subscribed to the topic
    owners: dict[int, int] = {}  # group pk -> partitions of the topic assigned to its members
    for group_pk, subscription, assignment in GroupMember.objects.values_list("group_id", "subscription", "assignment"):
        if name in (subscription or []):
            consuming[group_pk] = consuming.get(group_pk, 0) + 1
            owners[group_pk] = owners.get(group_pk, 0) + sum(1 for t, _ in assignment or [] if t == name)
    out = []
    groups = ConsumerGroup.objects.filter(pk__in=set(committed) | set(consuming)).annotate(member_count=Count("members"))
    for g in groups.order_by("group_id"):
        offsets = committed.get(g.pk, {})
        rows = []
        for pid, (index, start, high) in partitions.items():
            c = offsets.get(pid)
            rows.append({"partition": index, "committed": c, "high_watermark": high,
                         "lag": None if c is None else max(0, high - max(c, start))})
        lags = [r["lag"] for r in rows if r["lag"] is not None]
        out.append({
            "group_id": g.group_id,
            "state": g.state,
            "members": g.member_count,
            "subscribed_members": consuming.get(g.pk, 0),
            "assigned_partitions": owners.get(g.pk, 0),
            "committed_partitions": len(lags),
            "lag": sum(lags) if lags else None,
            "partitions": rows,
        })
    return out


def partition_leaders(*, limit_topics: int = 200) -> list[dict]:
    """Each live topic's partitions with their leader node, by topic name (two queries in all)."""
    names = topic_names_list()[:limit_topics]
    by_topic = _leaders_by_topic(names, brokers_live_ids())
    return [{"name": n, "partitions": by_topic.get(n, [])} for n in names]


# --- Kafka protocol: topic metadata -----------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class FetchMany:
    """What `records_fetch_many` read: one FetchResult or error per request, and how to wait
    for more (`notify.log_waiters` keys and the versions seen before reading)."""

    results: list[FetchResult | Exception]
    partition_ids: tuple[int, ...]
    seen: tuple[int, ...]
    size: int  # record bytes in all results


def records_fetch_many(*, requests: list[tuple[str, int, int, int]], max_bytes: int, max_records: int = 5000) -> FetchMany:
    """Kafka's Fetch over many partitions: for each (topic, partition, offset, partition max
    bytes), the records from `offset` on, never past the watermark read first; never waits.

    The response's `max_bytes` is shared in request order; like Kafka (KIP-74) a partition still
    returns its first record when that alone is larger, as long as no earlier partition returned
    anything, so a consumer never gets stuck behind a large record.
    """
    names = {t for t, _, _, _ in requests}
    indexes = {p for _, p, _, _ in requests}
    partitions = {
        (p.topic.name, p.index): p
        for p in Partition.objects.select_related("topic").filter(
            topic__name__in=names, topic__deleted_at__isnull=True, index__in=indexes
        )
    }
    pids = tuple(p.pk for p in partitions.values())
    seen = log_waiters.version(pids)
    results: list[FetchResult | Exception] = []
    remaining = max_bytes
    total = 0
    for topic, index, offset, partition_max in requests:
        p = partitions.get((topic, index))
        if p is None:
            results.append(UnknownTopicOrPartition(f"Partition {index} of topic '{topic}' does not exist."))
            continue
        if offset < p.log_start_offset or offset > p.high_watermark:
            results.append(OffsetOutOfRange(
                f"Offset {offset} is out of range for partition {topic}-{index} "
                f"(log start offset {p.log_start_offset}, high watermark {p.high_watermark})."
            ))
            continue
        limit = min(partition_max, remaining)
        records: list[RecordOut] = []
        if offset < p.high_watermark and (limit > 0 or total == 0):
            # Rows to read: about what `limit` holds at the partition's mean record size, so one
            # fetch of large records does not read thousands of them to return a few.
            live = max(1, p.high_watermark - p.log_start_offset)
            mean = max(1, p.size_bytes // live)
            rows = max(1, min(max_records, 2 * max(limit, 1) // mean + 1))
            records = _records_read(p, offset, p.high_watermark, rows, max(limit, 1))
        size = sum(r.size for r in records)
        total += size
        remaining -= size
        results.append(FetchResult(
            topic=topic,
            partition=index,
            records=records,
            high_watermark=p.high_watermark,
            log_start_offset=p.log_start_offset,
            next_offset=records[-1].offset + 1 if records else p.high_watermark,
        ))
    return FetchMany(results=results, partition_ids=pids, seen=seen, size=total)


def offset_max_timestamp(*, topic: str, partition: int) -> tuple[int, int | None]:
    """Kafka's ListOffsets MAX_TIMESTAMP (-3): (offset, timestamp) of the first record with the
    largest timestamp in the log, or (-1, None) when the log is empty."""
    p = partition_get(topic=topic, partition=partition)
    row = (
        Record.objects.filter(partition_id=p.pk, offset__gte=p.log_start_offset, offset__lt=p.high_watermark)
        .order_by("-timestamp", "offset")
        .values_list("offset", "timestamp")
        .first()
    )
    return row if row is not None else (-1, None)
