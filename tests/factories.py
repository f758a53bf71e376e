"""Test data built through the services, never by saving models directly."""

import itertools

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
