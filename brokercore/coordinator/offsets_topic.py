"""`__consumer_offsets`: the group coordinator's log, as Kafka keeps it, for the tools that read it.

Here the committed offsets and groups live in tables (CommittedOffset, ConsumerGroup); Kafka keeps
them as records of an internal, compacted topic, and tools such as Burrow, Cruise Control and
kafka-consumer-groups' offset readers consume that topic and decode its records with Kafka's
key/value schemas. So every change the coordinator makes is also appended there, in the same
transaction as the tables (never one without the other), in Kafka's formats:

- an offset commit: key OffsetCommitKey (int16 1; group, topic, partition), value
  OffsetCommitValue v3 (offset, leader epoch, metadata, commit timestamp); a deleted offset is
  the key with a null value (a tombstone);
- a group's generation: key GroupMetadataKey (int16 2; group), value GroupMetadataValue v3
  (protocol type, generation, protocol, leader, state timestamp, members with their
  subscription and assignment bytes); a deleted group is a tombstone.

A group's records go to partition abs(groupId.hashCode()) % offsets.topic.num.partitions, as in
Kafka, so a reader that knows the group knows where to look. The topic is created with the first
record (BROKER_OFFSETS_TOPIC_PARTITIONS partitions, cleanup.policy=compact); producers may not
append to it (log/append.py), and it cannot be deleted or grown (topics/service.py).
"""

import struct
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from brokercore.coordinator import consumer_protocol
from brokercore.coordinator.group import protocol_metadata
from brokercore.errors import TopicAlreadyExists, UnknownTopicOrPartition
from brokercore.log.append import records_append
from brokercore.log.storage import topic_for_append, topic_meta_forget
from brokercore.models import ConsumerGroup, GroupMember
from brokercore.topics.rules import INTERNAL_TOPICS
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

OFFSETS_TOPIC = "__consumer_offsets"
assert OFFSETS_TOPIC in INTERNAL_TOPICS
OFFSET_COMMIT_KEY, GROUP_METADATA_KEY = 1, 2
OFFSET_COMMIT_VALUE_VERSION, GROUP_METADATA_VALUE_VERSION = 3, 3


def java_string_hash(s: str) -> int:
    """Java's String.hashCode (over UTF-16 code units, 32-bit overflow)."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return h - 2**32 if h >= 2**31 else h


def offsets_partition(group_id: str, partitions: int | None = None) -> int:
    """Kafka's partitionFor(groupId): Utils.abs(groupId.hashCode) % offsets.topic.num.partitions."""
    n = partitions or settings.BROKER["OFFSETS_TOPIC_PARTITIONS"]
    h = java_string_hash(group_id)
    return (0 if h == -(2**31) else abs(h)) % n


def _string(s: str) -> bytes:
    data = s.encode()
    return struct.pack(">h", len(data)) + data


def _nullable_string(s: str | None) -> bytes:
    return struct.pack(">h", -1) if s is None else _string(s)


def _bytes(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def offset_commit_key(group_id: str, topic: str, partition: int) -> bytes:
    return struct.pack(">h", OFFSET_COMMIT_KEY) + _string(group_id) + _string(topic) + struct.pack(">i", partition)


def offset_commit_value(offset: int, leader_epoch: int | None, metadata: str, commit_ms: int) -> bytes:
    return (
        struct.pack(">hqi", OFFSET_COMMIT_VALUE_VERSION, offset, -1 if leader_epoch is None else leader_epoch)
        + _string(metadata) + struct.pack(">q", commit_ms)
    )


def group_metadata_key(group_id: str) -> bytes:
    return struct.pack(">h", GROUP_METADATA_KEY) + _string(group_id)


def _member_bytes(group: ConsumerGroup, m: GroupMember) -> tuple[bytes, bytes]:
    """(subscription, assignment) as Kafka stores a member's: the chosen protocol's metadata and
    the leader's assignment for Kafka clients; the consumer protocol's encoding of what the
    coordinator knows for server-managed members."""
    subscription = protocol_metadata(m, group.protocol_name)
    if subscription is None:
        subscription = consumer_protocol.subscription_encode(m.subscription)
    if m.assignment_bytes is not None:
        assignment = bytes(m.assignment_bytes)
    else:
        assignment = consumer_protocol.assignment_encode(tuple(tp) for tp in m.assignment)
    return subscription, assignment


def group_metadata_value(group: ConsumerGroup, members: Sequence[GroupMember], state_ms: int) -> bytes:
    out = [
        struct.pack(">h", GROUP_METADATA_VALUE_VERSION),
        _string(group.protocol_type or ""),
        struct.pack(">i", group.generation),
        _nullable_string(group.protocol_name or None),
        _nullable_string(group.leader_member_id or None),
        struct.pack(">q", state_ms),
        struct.pack(">i", len(members)),
    ]
    for m in members:
        subscription, assignment = _member_bytes(group, m)
        out += [
            _string(m.member_id), _nullable_string(m.group_instance_id), _string(m.client_id), _string(m.client_host),
            struct.pack(">ii", m.rebalance_timeout_ms, m.session_timeout_ms), _bytes(subscription), _bytes(assignment),
        ]
    return b"".join(out)


def _ensure_topic() -> None:
    """Create the topic on first use (Kafka creates it at the first FindCoordinator). A savepoint
    keeps a concurrent creator's win from failing the caller's transaction."""
    try:
        with transaction.atomic():
            topic_create(
                name=OFFSETS_TOPIC, partitions=settings.BROKER["OFFSETS_TOPIC_PARTITIONS"], replication_factor=1,
                configs={"cleanup.policy": "compact"},
            )
    except (TopicAlreadyExists, IntegrityError):
        pass


def offsets_log_append(group_id: str, entries: Iterable[tuple[bytes, bytes | None]], timestamp_ms: int) -> None:
    """Append a group's (key, value) records (value None: a tombstone) to its partition, inside
    the caller's transaction."""
    entries = list(entries)
    if not entries:
        return
    for attempt in range(2):
        meta = topic_for_append(OFFSETS_TOPIC, cached=attempt == 0)
        if meta is None:
            _ensure_topic()
            meta = topic_for_append(OFFSETS_TOPIC, cached=False)
        # The topic's own count, in case somebody created it before the broker did.
        partition = offsets_partition(group_id, len(meta.partition_ids))
        records = [RecordIn(key=k, value=v, timestamp=timestamp_ms, partition=partition) for k, v in entries]
        try:
            with transaction.atomic():
                records_append(topic=OFFSETS_TOPIC, records=records, internal=True)
            return
        except UnknownTopicOrPartition:  # a cached topic since deleted: look again, create it
            if attempt:
                raise
            topic_meta_forget(OFFSETS_TOPIC)


def offsets_log_commits(group_id: str, rows: Iterable[tuple[str, int, int, int | None, str]], commit_ms: int) -> None:
    """Offset commits: (topic, partition, offset, leader epoch, metadata) each."""
    offsets_log_append(group_id, [
        (offset_commit_key(group_id, t, p), offset_commit_value(o, e, md, commit_ms)) for t, p, o, e, md in rows
    ], commit_ms)


def offsets_log_deletes(group_id: str, partitions: Iterable[tuple[str, int]], now_ms: int) -> None:
    """Tombstones for deleted offsets."""
    offsets_log_append(group_id, [(offset_commit_key(group_id, t, p), None) for t, p in partitions], now_ms)


def offsets_log_group(group: ConsumerGroup, members: Sequence[GroupMember], now_ms: int) -> None:
    """A group's new generation (or state), with its members."""
    offsets_log_append(group.group_id, [(group_metadata_key(group.group_id), group_metadata_value(group, members, now_ms))], now_ms)


def offsets_log_group_deleted(group_id: str, partitions: Iterable[tuple[str, int]], now_ms: int) -> None:
    """A deleted group: tombstones for its offsets and its metadata."""
    offsets_log_append(group_id, [
        *((offset_commit_key(group_id, t, p), None) for t, p in partitions), (group_metadata_key(group_id), None)
    ], now_ms)
