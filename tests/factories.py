"""Test data built through the services, never by saving models directly."""

import itertools

from brokercore.coordinator.read import group_describe
from brokercore.coordinator.server_members import group_join, member_sync
from brokercore.log.append import records_append
from brokercore.security.acl import AclBinding, Operation, PatternType, Permission, ResourceType, acls_create
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

_names = itertools.count()


def topic_factory(*, name: str | None = None, partitions: int = 3, configs: dict | None = None, **kwargs):
    return topic_create(name=name or f"topic-{next(_names)}", partitions=partitions, configs=configs, **kwargs)


def acl_factory(principal: str, operation: Operation, name: str, *, resource_type: ResourceType = ResourceType.TOPIC,
                pattern: PatternType = PatternType.LITERAL, permission: Permission = Permission.ALLOW,
                host: str = "*") -> AclBinding:
    """One ACL, created (an ALLOW on a literal topic name from any host unless told)."""
    binding = AclBinding(resource_type, name, pattern, principal, host, operation, permission)
    assert acls_create(bindings=[binding]) == [None]
    return binding


def records_factory(
    topic: str, n: int, *, key=lambda i: f"key-{i}".encode(), partition=None, timestamp=None, value_size=20, per_batch=None,
):
    """n records appended in one call (one record batch per partition), or `per_batch` at a time."""
    records = [
        RecordIn(
            key=key(i) if key else None,
            value=f"value-{i}".encode().ljust(value_size, b"."),
            timestamp=timestamp(i) if callable(timestamp) else timestamp,
        )
        for i in range(n)
    ]
    step = per_batch or max(1, n)
    out = []
    for i in range(0, n, step):
        out += records_append(topic=topic, records=records[i : i + step], partition=partition)
    return out


def topic_holding(name: str, records: list[RecordIn], **topic) -> None:
    """A one-partition topic `name` (with `topic`'s other arguments) holding `records`, appended in one call."""
    topic_factory(name=name, partitions=1, **topic)
    records_append(topic=name, records=records)


def partitions_fill(topic: str, counts: dict[int, int]) -> None:
    """`counts[p]` records appended to partition p of `topic` (one batch each); the others stay empty."""
    for partition, n in counts.items():
        records_factory(topic, n, partition=partition)


def member_factory(*, group: str = "g", topics=("t",), **kwargs):
    """A server-managed member of `group` subscribed to `topics` (group_join's own defaults else)."""
    return group_join(group_id=group, topics=list(topics), **kwargs)


def group_settle(group: str = "g", rounds: int = 6):
    """Every member polls (as running consumers do) until the group is Stable or Empty, at most
    `rounds` times; answers the group's last description, settled or not."""
    for _ in range(rounds):
        for m in group_describe(group_id=group).members:
            member_sync(group_id=group, member_id=m.member_id)
        info = group_describe(group_id=group)
        if info.state in ("Stable", "Empty") and not any(m.awaiting_join or m.revoking for m in info.members):
            return info
    return info


def stored_records(*, topic: str | None = None, partition: int | None = None, live_topics: bool = False):
    """Every record physically stored (below the log start too, until the cleaner removes its
    batch), decoded from the record batches, by topic, partition and offset."""
    from brokercore.log.batch import batch_records
    from brokercore.models import Partition, RecordBatch

    parts = Partition.objects.all()
    if topic is not None:
        parts = parts.filter(topic__name=topic)
    if partition is not None:
        parts = parts.filter(index=partition)
    if live_topics:
        parts = parts.filter(topic__deleted_at__isnull=True)
    names = {pk: (name, index) for pk, name, index in parts.values_list("pk", "topic__name", "index")}
    out = []
    batches = RecordBatch.objects.order_by("partition_id", "last_offset").values_list("partition_id", "data")
    if topic is not None or partition is not None or live_topics:
        batches = batches.filter(partition_id__in=list(names))
    for pid, data in batches:
        name, index = names.get(pid, ("", -1))
        out += batch_records(data, topic=name, partition=index)
    return sorted(out, key=lambda r: (r.topic, r.partition, r.offset))


def producer_batch_of(records, *, producer_id, producer_epoch=0, base_sequence=0):
    """A Kafka producer's batch of `records` (RecordIn) as the Produce API receives it, checked."""
    from brokercore import clock
    from brokercore.log.batch import batch_build, producer_batch

    now = clock.now_ms()
    data = batch_build(
        [(now if r.timestamp in (None, -1) else r.timestamp, r.key, r.value, r.headers) for r in records],
        producer_id=producer_id, producer_epoch=producer_epoch, base_sequence=base_sequence,
    )
    return producer_batch(data, version=9, max_uncompressed=1 << 30)
