"""Test data built through the services, never by saving models directly."""

import itertools

from brokercore.coordinator.read import group_describe
from brokercore.coordinator.server_members import group_join, member_sync
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

_names = itertools.count()


def topic_factory(*, name: str | None = None, partitions: int = 3, configs: dict | None = None, **kwargs):
    return topic_create(name=name or f"topic-{next(_names)}", partitions=partitions, configs=configs, **kwargs)


def records_factory(topic: str, n: int, *, key=lambda i: f"key-{i}".encode(), partition=None, timestamp=None, value_size=20):
    return records_append(
        topic=topic,
        records=[
            RecordIn(
                key=key(i) if key else None,
                value=f"value-{i}".encode().ljust(value_size, b"."),
                timestamp=timestamp(i) if callable(timestamp) else timestamp,
            )
            for i in range(n)
        ],
        partition=partition,
    )


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
