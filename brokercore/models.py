"""The broker's schema. Only brokercore services write these rows.

Invariants (see docs/ARCHITECTURE.md):
- A partition's offsets are gapless and in commit order: an append locks the Partition row,
  takes offsets high_watermark .. high_watermark+n-1 and advances the row in one transaction.
- Records below log_start_offset are logically gone (readers never see them) even while the
  log cleaner has not yet deleted their rows in small chunks.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Topic(models.Model):
    topic_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=249)
    # '.' and '_' folded together: Kafka refuses names that collide this way.
    collision_key = models.CharField(max_length=249)
    replication_factor = models.PositiveSmallIntegerField(default=1)
    # Only the configs set on the topic, as Kafka stores them (strings); defaults fill the rest.
    configs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by topic_delete; the log cleaner then removes the rows in small chunks.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(deleted_at__isnull=True), name="topic_live_name_unique"
            ),
            models.UniqueConstraint(
                fields=["collision_key"],
                condition=Q(deleted_at__isnull=True),
                name="topic_live_collision_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Partition(models.Model):
    """One partition's watermark row: the lock every append to the partition takes."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="partitions")
    index = models.PositiveIntegerField()
    log_start_offset = models.BigIntegerField(default=0)
    high_watermark = models.BigIntegerField(default=0)
    # Bytes of the records in [log_start_offset, high_watermark), for retention.bytes.
    size_bytes = models.BigIntegerField(default=0)
    last_append_at = models.DateTimeField(null=True, blank=True)
    # Compaction has deduplicated keys among offsets below this one.
    cleaner_checkpoint = models.BigIntegerField(default=0)
    # A manual replica assignment (CreateTopics/CreatePartitions): node ids, preferred leader
    # first. None: replicas are placed over the live nodes (cluster.read.partition_replicas).
    replicas = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "index"], name="partition_topic_index_unique")
        ]
        ordering = ["topic_id", "index"]

    def __str__(self) -> str:
        return f"{self.topic_id}-{self.index}"


class RecordBatch(models.Model):
    """One record batch of a partition's log, stored as Kafka stores it: the batch's bytes as its
    producer sent them (compressed as received), with the base offset written into the header,
    and the index columns that fetch, seek, retention and idempotence read instead of the bytes.

    Keyed by (partition, last offset): a fetch from offset o reads the batches whose last offset
    is >= o, a range of the primary key, and gets the batch holding o first, as Kafka's does.
    """

    TIMESTAMP_CREATE = 0
    TIMESTAMP_LOG_APPEND = 1

    pk = models.CompositePrimaryKey("partition_id", "last_offset")
    # No database foreign key: only the log's append writes here, under the partition's row
    # lock, and a per-row FK check would cost the hot path a lookup per batch.
    partition = models.ForeignKey(
        Partition, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    base_offset = models.BigIntegerField()
    last_offset = models.BigIntegerField()
    max_timestamp = models.BigIntegerField(help_text="Milliseconds since the Unix epoch.")
    record_count = models.IntegerField()
    # Key + value + header bytes of its records: what max_bytes and retention.bytes count.
    size = models.IntegerField()
    # The batch header's attributes: compression (bits 0-2), timestamp type (3), transactional
    # (4), control (5).
    attributes = models.SmallIntegerField(default=0)
    producer_id = models.BigIntegerField(default=-1)
    producer_epoch = models.SmallIntegerField(default=-1)
    base_sequence = models.IntegerField(default=-1)
    data = models.BinaryField()

    class Meta:
        # ListOffsets by time: the first batch whose max timestamp reaches the target.
        indexes = [models.Index(fields=["partition", "max_timestamp"], name="batch_partition_ts_idx")]


class BrokerNode(models.Model):
    """A server process acting as a Kafka broker; it heartbeats while alive.

    Invariant: at most one live process holds a node id. `process` names the holder; a second
    process with the same id is refused while the holder's heartbeat is fresh and `down_at` unset.
    """

    class DownReason(models.TextChoices):
        STOPPED = "stopped", "stopped cleanly"
        EXPIRED = "expired", "no heartbeat within the session timeout"

    node_id = models.IntegerField(unique=True)
    # Where Kafka clients reach this node (the listener's advertised address).
    kafka_host = models.CharField(max_length=255, blank=True, default="")
    kafka_port = models.PositiveIntegerField(null=True, blank=True)
    # The web console served by the same process, if it serves one.
    web_host = models.CharField(max_length=255, blank=True, default="")
    web_port = models.PositiveIntegerField(null=True, blank=True)
    rack = models.CharField(max_length=255, blank=True, default="")
    # "<hostname>:<pid>:<random>" of the process holding this node id.
    process = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    # Set once when the node stops or is found dead, so broker.down is announced exactly once.
    down_at = models.DateTimeField(null=True, blank=True)
    down_reason = models.CharField(max_length=8, choices=DownReason.choices, blank=True, default="")

    def __str__(self) -> str:
        return f"node {self.node_id} ({self.kafka_host}:{self.kafka_port})"


class DynamicBrokerConfig(models.Model):
    """A broker config set by AlterConfigs (Kafka's dynamic broker configs): for one node, or for
    every node (`node_id` CLUSTER_DEFAULT, Kafka's resource name ""). Values are Kafka's strings."""

    CLUSTER_DEFAULT = -1

    node_id = models.IntegerField()
    name = models.CharField(max_length=255)
    value = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node_id", "name"], name="dynamicbrokerconfig_node_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value} (node {self.node_id})"


class ConsumerGroup(models.Model):
    """A consumer group as Kafka's classic group coordinator keeps it."""

    class State(models.TextChoices):
        EMPTY = "Empty"
        PREPARING_REBALANCE = "PreparingRebalance"
        COMPLETING_REBALANCE = "CompletingRebalance"
        STABLE = "Stable"
        DEAD = "Dead"

    class Kind(models.TextChoices):
        NONE = "", "no members"
        SERVER = "server", "server-managed (REST, lab)"
        KAFKA = "kafka", "Kafka protocol clients"

    group_id = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, blank=True, default="")
    protocol_type = models.CharField(max_length=64, blank=True, default="consumer")
    # The assignor in use (Kafka's "protocol name" for consumer groups).
    protocol_name = models.CharField(max_length=64, blank=True, default="")
    # Server-managed groups: the assignor the coordinator runs.
    assignor = models.CharField(max_length=64, default="range")
    state = models.CharField(max_length=24, choices=State.choices, default=State.EMPTY)
    generation = models.IntegerField(default=0)
    leader_member_id = models.CharField(max_length=255, blank=True, default="")
    state_changed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # The rebalance under way (PreparingRebalance / CompletingRebalance).
    rebalance_started_ms = models.BigIntegerField(null=True, blank=True)
    rebalance_deadline_ms = models.BigIntegerField(null=True, blank=True)
    rebalance_reasons = models.JSONField(default=list, blank=True)
    # The last completed generation: member id -> [[topic, partition], ...], and the partition
    # counts it was computed for (a change of count triggers a rebalance).
    assignment = models.JSONField(default=dict, blank=True)
    partition_counts = models.JSONField(default=dict, blank=True)
    # Kafka-protocol groups (KIP-394): member ids handed out with MEMBER_ID_REQUIRED that have not
    # joined with them yet -> when their session ends (ms). A rebalance waits for them too.
    pending_members = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.group_id


class GroupMember(models.Model):
    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="members")
    member_id = models.CharField(max_length=255)
    group_instance_id = models.CharField(max_length=255, null=True, blank=True)
    client_id = models.CharField(max_length=255, blank=True, default="")
    client_host = models.CharField(max_length=255, blank=True, default="")
    session_timeout_ms = models.IntegerField()
    rebalance_timeout_ms = models.IntegerField()
    subscription = models.JSONField(default=list)  # topic names
    # Kafka-protocol members: [[protocol name, base64 metadata], ...] and the bytes SyncGroup hands out.
    protocols = models.JSONField(default=list, blank=True)
    assignment_bytes = models.BinaryField(null=True, blank=True)
    # What the member may consume in the current generation, and (cooperative) what it must give up.
    assignment = models.JSONField(default=list, blank=True)
    revoking = models.JSONField(default=list, blank=True)
    # True while a rebalance waits for this member to rejoin.
    awaiting_join = models.BooleanField(default=False)
    # Kafka-protocol members: True from the end of a JoinGroup round until the member's SyncGroup
    # (one still not sent when the rebalance timeout ends is removed, as Kafka's DelayedSync does).
    awaiting_sync = models.BooleanField(default=False)
    # Server-managed members: next offset to read per "topic:partition", and auto.offset.reset.
    positions = models.JSONField(default=dict, blank=True)
    offset_reset = models.CharField(max_length=8, default="latest")
    last_heartbeat_ms = models.BigIntegerField()
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "member_id"], name="member_group_member_id_unique"),
            models.UniqueConstraint(
                fields=["group", "group_instance_id"],
                condition=Q(group_instance_id__isnull=False),
                name="member_group_instance_id_unique",
            ),
        ]
        ordering = ["member_id"]

    def __str__(self) -> str:
        return self.member_id


class CommittedOffset(models.Model):
    """A group's committed offset of one partition, with the client's metadata string.

    The metadata is kept as its UTF-8 bytes: Kafka accepts any string, and PostgreSQL's text
    columns refuse NUL. `metadata_encode`/`metadata_decode` are the only way in and out."""

    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="offsets")
    partition = models.ForeignKey(Partition, on_delete=models.CASCADE, related_name="+")
    offset = models.BigIntegerField()
    metadata = models.BinaryField(blank=True, default=b"")
    leader_epoch = models.IntegerField(null=True, blank=True)
    committed_ms = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "partition"], name="offset_group_partition_unique")
        ]

    @staticmethod
    def metadata_encode(metadata: str) -> bytes:
        return metadata.encode()

    @staticmethod
    def metadata_decode(stored: bytes | memoryview) -> str:
        return bytes(stored).decode()


class RebalanceEvent(models.Model):
    """One generation change of a group, kept so the console can draw the rebalance timeline."""

    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="rebalances")
    generation = models.IntegerField()
    reasons = models.JSONField(default=list)
    protocol_name = models.CharField(max_length=64, blank=True, default="")
    started_ms = models.BigIntegerField()
    completed_ms = models.BigIntegerField()
    members = models.JSONField(default=list)
    assignment_before = models.JSONField(default=dict)
    assignment_after = models.JSONField(default=dict)
    # Cooperative rebalances: partitions taken away this generation, to move in the next one.
    revoked = models.JSONField(default=dict)
    # [[topic, partition, from member or null, to member or null], ...]
    moved = models.JSONField(default=list)
    # Partitions nobody could consume during the rebalance (all of them for eager assignors).
    paused = models.IntegerField(default=0)
    removed_members = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["group", "-generation"], name="rebalance_group_gen_idx")]
        ordering = ["-generation"]

    @property
    def duration_ms(self) -> int:
        return self.completed_ms - self.started_ms


class LagSample(models.Model):
    """A group's lag at one moment; a bounded history for the lag-over-time chart."""

    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="lag_samples")
    at_ms = models.BigIntegerField()
    total_lag = models.BigIntegerField()
    partitions = models.JSONField(default=dict)  # "topic:partition" -> lag

    class Meta:
        indexes = [models.Index(fields=["group", "at_ms"], name="lagsample_group_at_idx")]


class ThroughputSample(models.Model):
    """A topic's total high watermark at one moment; rates come from the difference of two.

    Written every few seconds by the server's maintenance thread and kept for a few minutes.
    """

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="+")
    at_ms = models.BigIntegerField()
    high_watermark_sum = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["at_ms"], name="throughput_at_idx")]


class Cluster(models.Model):
    """The cluster's identity. One row: clients (Kafka's Metadata, the REST proxy's
    /v3/clusters/{cluster_id}) need an id that survives restarts and differs between installs."""

    cluster_id = models.CharField(max_length=22, unique=True)

    def __str__(self) -> str:
        return self.cluster_id


class Acl(models.Model):
    """One Kafka ACL binding (Kafka's AclBinding: a resource pattern and an access control entry),
    as CreateAcls, REST v3 and the console write it and brokercore.security.acl decides with it.

    The numbers are Kafka's wire codes (ResourceType, PatternType, AclOperation,
    AclPermissionType), so the listener stores and answers them without translation; only
    concrete values are stored (never ANY, MATCH or UNKNOWN). A binding is a set member: the
    same one created twice is one row, as Kafka's authorizer keeps a set per resource."""

    resource_type = models.PositiveSmallIntegerField()
    resource_name = models.CharField(max_length=1000)
    pattern_type = models.PositiveSmallIntegerField()
    principal = models.CharField(max_length=1000)  # "User:alice", or "User:*" for everyone
    host = models.CharField(max_length=255, default="*")
    operation = models.PositiveSmallIntegerField()
    permission = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission"],
                name="acl_binding_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.permission}:{self.operation} on {self.resource_type}:{self.pattern_type}:{self.resource_name}"


# --- Idempotent producers (Kafka protocol) ----------------------------------------------------


class KafkaProducer(models.Model):
    """A producer id handed out by InitProducerId. The id only needs to be unique, so an
    auto-increment key (unlike offsets) is right here."""

    producer_id = models.BigAutoField(primary_key=True)
    client_id = models.CharField(max_length=255, blank=True, default="")
    client_host = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"producer {self.producer_id}"


class ProducerState(models.Model):
    """An idempotent producer's progress on one partition, written in the append's transaction:
    its epoch and its last few batches, so that a retried batch is recognised and not written
    twice, and a gap in its sequence numbers is refused (Kafka's ProducerStateManager)."""

    partition = models.ForeignKey(Partition, on_delete=models.CASCADE, related_name="+")
    producer_id = models.BigIntegerField()
    producer_epoch = models.SmallIntegerField()
    # [[first sequence, last sequence, base offset, timestamp], ...], oldest first: the last
    # five batches, as many as a producer may have in flight.
    batches = models.JSONField(default=list)
    updated_ms = models.BigIntegerField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partition", "producer_id"], name="producerstate_partition_producer_unique")
        ]


class ScramCredential(models.Model):
    """A console user's SCRAM credential for one mechanism (Kafka's UserScramCredentialRecord):
    RFC 5802's salt, iteration count, StoredKey and ServerKey, never the password. Written only by
    brokercore.security.credentials."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scram_credentials")
    # Kafka's ScramMechanism type: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    mechanism = models.PositiveSmallIntegerField()
    iterations = models.PositiveIntegerField()
    salt = models.BinaryField()
    stored_key = models.BinaryField()
    server_key = models.BinaryField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "mechanism"], name="scramcredential_user_mechanism_unique")
        ]

    def __str__(self) -> str:
        return f"SCRAM credential {self.mechanism} of user {self.user_id}"
