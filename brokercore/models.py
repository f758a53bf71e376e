"""The broker's schema. Only brokercore services write these rows.

Invariants (see docs/ARCHITECTURE.md):
- A partition's offsets are gapless and in commit order: an append locks the Partition row,
  takes offsets high_watermark .. high_watermark+n-1 and advances the row in one transaction.
- Records below log_start_offset are logically gone (readers never see them) even while the
  log cleaner has not yet deleted their rows in small chunks.
"""

import uuid

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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "index"], name="partition_topic_index_unique")
        ]
        ordering = ["topic_id", "index"]

    def __str__(self) -> str:
        return f"{self.topic_id}-{self.index}"


class Record(models.Model):
    """One record of a partition's log, addressed by (partition, offset) like Kafka's."""

    TIMESTAMP_CREATE = 0
    TIMESTAMP_LOG_APPEND = 1

    pk = models.CompositePrimaryKey("partition_id", "offset")
    # No database foreign key: only records_append writes here, under the partition's row lock,
    # and a per-row FK check would cost the hot path a lookup per record.
    partition = models.ForeignKey(
        Partition, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    offset = models.BigIntegerField()
    timestamp = models.BigIntegerField(help_text="Milliseconds since the Unix epoch.")
    timestamp_type = models.SmallIntegerField(default=TIMESTAMP_CREATE)
    key = models.BinaryField(null=True)
    value = models.BinaryField(null=True)
    # [[header key, base64 value or null], ...] in produce order; null when there are none.
    headers = models.JSONField(null=True)
    # key + value + header bytes: what max.message.bytes, max_bytes and retention.bytes count.
    size = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["partition", "timestamp"], name="record_partition_ts_idx")]


class BrokerNode(models.Model):
    """A server process acting as a Kafka broker; it heartbeats while alive."""

    node_id = models.IntegerField(unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    rack = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"node {self.node_id} ({self.host}:{self.port})"
