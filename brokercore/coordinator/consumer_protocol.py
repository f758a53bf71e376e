"""Kafka's consumer protocol: the subscription and assignment bytes consumer-group clients exchange.

The group coordinator never needs them to run the classic protocol (they are opaque to it, as to
Kafka's), but the console shows what Kafka-protocol members subscribe to and own, and Kafka tools
describing a server-managed group expect them. Each blob is an int16 version then that version's
struct (kio's ConsumerProtocolSubscription / ConsumerProtocolAssignment); a version newer than
kio's is read with the newest known one, as Kafka's ConsumerProtocol does (fields are only ever
appended).
"""

import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kio.schema.consumer_protocol_assignment import v0 as assignment_v0
from kio.schema.consumer_protocol_assignment import v1 as assignment_v1
from kio.schema.consumer_protocol_assignment import v2 as assignment_v2
from kio.schema.consumer_protocol_assignment import v3 as assignment_v3
from kio.schema.consumer_protocol_subscription import v0 as subscription_v0
from kio.schema.consumer_protocol_subscription import v1 as subscription_v1
from kio.schema.consumer_protocol_subscription import v2 as subscription_v2
from kio.schema.consumer_protocol_subscription import v3 as subscription_v3
from kio.serial import entity_reader, entity_writer
from kio.serial.readers import Reader

# The protocol_type of consumer groups; other types (Kafka Connect's "connect", ...) are opaque.
PROTOCOL_TYPE = "consumer"

_SUBSCRIPTIONS = (
    subscription_v0.ConsumerProtocolSubscription,
    subscription_v1.ConsumerProtocolSubscription,
    subscription_v2.ConsumerProtocolSubscription,
    subscription_v3.ConsumerProtocolSubscription,
)
_ASSIGNMENTS = (
    assignment_v0.ConsumerProtocolAssignment,
    assignment_v1.ConsumerProtocolAssignment,
    assignment_v2.ConsumerProtocolAssignment,
    assignment_v3.ConsumerProtocolAssignment,
)
SubscriptionEntity = (
    subscription_v0.ConsumerProtocolSubscription
    | subscription_v1.ConsumerProtocolSubscription
    | subscription_v2.ConsumerProtocolSubscription
    | subscription_v3.ConsumerProtocolSubscription
)
AssignmentEntity = (
    assignment_v0.ConsumerProtocolAssignment
    | assignment_v1.ConsumerProtocolAssignment
    | assignment_v2.ConsumerProtocolAssignment
    | assignment_v3.ConsumerProtocolAssignment
)
_SUBSCRIPTION_READERS: tuple[Reader[SubscriptionEntity], ...] = tuple(entity_reader(cls) for cls in _SUBSCRIPTIONS)
_ASSIGNMENT_READERS: tuple[Reader[AssignmentEntity], ...] = tuple(entity_reader(cls) for cls in _ASSIGNMENTS)


E = TypeVar("E")


class _TopicPartitions(Protocol):
    """A topic's partitions as every version of both structs holds them."""

    @property
    def topic(self) -> str: ...

    @property
    def partitions(self) -> tuple[int, ...]: ...


class MalformedConsumerProtocol(ValueError):
    """The bytes are not a consumer-protocol subscription or assignment."""


@dataclass(frozen=True)
class Subscription:
    topics: list[str]
    # Partitions the member owns as it rejoins (v1+; cooperative members keep consuming them).
    owned: list[tuple[str, int]]


def _read(data: bytes, readers: tuple[Reader[E], ...]) -> E:
    if len(data) < 2:
        raise MalformedConsumerProtocol("shorter than its version")
    (version,) = struct.unpack_from(">h", data)
    if version < 0:
        raise MalformedConsumerProtocol(f"negative version {version}")
    try:
        entity, _ = readers[min(version, len(readers) - 1)](data, 2)
    except Exception as e:  # kio raises its own buffer errors and UnicodeDecodeError alike
        raise MalformedConsumerProtocol(f"cannot read version {version}: {e}") from e
    return entity


def _partitions(topic_partitions: Iterable[_TopicPartitions]) -> list[tuple[str, int]]:
    return sorted((tp.topic, int(p)) for tp in topic_partitions for p in tp.partitions)


def subscription_decode(data: bytes) -> Subscription:
    entity = _read(data, _SUBSCRIPTION_READERS)
    return Subscription(
        topics=sorted(set(entity.topics)),
        owned=_partitions(getattr(entity, "owned_partitions", ())),
    )


def assignment_decode(data: bytes) -> list[tuple[str, int]]:
    """The partitions an assignment gives; empty bytes (Kafka's filler for a member the leader
    left out) give none."""
    if not data:
        return []
    return _partitions(_read(data, _ASSIGNMENT_READERS).assigned_partitions)


def _grouped(partitions: Iterable[tuple[str, int]], entity_type: Callable[..., E]) -> tuple[E, ...]:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        by_topic.setdefault(topic, []).append(partition)
    return tuple(entity_type(topic=t, partitions=tuple(ps)) for t, ps in by_topic.items())


def subscription_encode(topics: Iterable[str], owned: Iterable[tuple[str, int]] = ()) -> bytes:
    """A version 1 subscription (topics and owned partitions), as Kafka clients send."""
    cls = subscription_v1.ConsumerProtocolSubscription
    entity = cls(
        topics=tuple(sorted(set(topics))),
        user_data=None,
        owned_partitions=_grouped(owned, subscription_v1.data.TopicPartition),
    )
    out = io.BytesIO()
    out.write(struct.pack(">h", 1))
    entity_writer(cls)(out, entity)
    return out.getvalue()


def assignment_encode(partitions: Iterable[tuple[str, int]]) -> bytes:
    """A version 1 assignment of `partitions` ([(topic, partition), ...])."""
    cls = assignment_v1.ConsumerProtocolAssignment
    entity = cls(assigned_partitions=_grouped(partitions, assignment_v1.data.TopicPartition), user_data=None)
    out = io.BytesIO()
    out.write(struct.pack(">h", 1))
    entity_writer(cls)(out, entity)
    return out.getvalue()
