"""Committed offsets (Kafka's OffsetMetadataManager): commit (fenced by member and generation),
Kafka's OffsetCommit and OffsetFetch, reset, delete.

A committed offset is the next offset the group will read (Kafka's convention), so lag is
`high watermark - committed`. A Kafka client may commit a negative (logical) offset, which is
stored as given, as Kafka does; lag.partition_lag says how lag reads it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from brokercore import events
from brokercore.coordinator.consumer_protocol import PROTOCOL_TYPE as CONSUMER_PROTOCOL_TYPE
from brokercore.coordinator.group import Group, State, group_id_validate
from brokercore.coordinator.offsets_topic import offsets_log_commits, offsets_log_deletes
from brokercore.coordinator.rebalance import rebalance_maybe_complete
from brokercore.errors import (
    NO_ERROR,
    BrokerError,
    GroupIdNotFound,
    GroupSubscribedToTopic,
    IllegalGeneration,
    InvalidRequest,
    NonEmptyGroup,
    OffsetMetadataTooLarge,
    OffsetOutOfRange,
    RebalanceInProgress,
    UnknownMemberId,
    UnknownTopicOrPartition,
)
from brokercore.log.read import offset_for
from brokercore.models import CommittedOffset, ConsumerGroup, GroupMember, Partition
from brokercore.topics.read import topic_get


def _partitions_resolve(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Partition]:
    keys = set(keys)
    topics = {t for t, _ in keys}
    found = {
        (p.topic.name, p.index): p
        for p in Partition.objects.filter(topic__name__in=topics, topic__deleted_at__isnull=True).select_related("topic")
        if (p.topic.name, p.index) in keys
    }
    missing = sorted(keys - set(found))
    if missing:
        t, p = missing[0]
        raise UnknownTopicOrPartition(f"Cannot commit to {t}-{p}: that topic-partition does not exist.")
    return found


def offset_check(tp: tuple[str, int], offset: object, metadata: str) -> None:
    """One committed offset's own rules for brokercore's callers (REST, the lab, the CLI): 0 or
    more, as Kafka's Java consumer requires of what it commits, and metadata_check. A Kafka client's
    OffsetCommit is not held to the first: Kafka stores whatever offset it is sent."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise OffsetOutOfRange(
            f"Cannot commit offset {offset!r} for {tp[0]}-{tp[1]}: a committed offset is the next "
            "offset to read, 0 or more."
        )
    metadata_check(metadata)


def metadata_check(metadata: str) -> None:
    """A committed offset's metadata is within offset.metadata.max.bytes, counted as Kafka counts
    it: the length of the Java String (UTF-16 code units), not its bytes."""
    limit = settings.BROKER["OFFSET_METADATA_MAX_BYTES"]
    if len(metadata.encode("utf-16-le")) // 2 > limit:
        raise OffsetMetadataTooLarge(f"Offset metadata is larger than offset.metadata.max.bytes ({limit}).")


def _normalise(offsets: Mapping) -> dict[tuple[str, int], tuple[int, str]]:
    out = {}
    for tp, value in offsets.items():
        if not (isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[0], str) and isinstance(tp[1], int)):
            raise InvalidRequest(f"Offsets are keyed by (topic, partition), got {tp!r}.")
        offset, metadata = (value, "") if not isinstance(value, tuple) else value
        metadata = metadata or ""
        offset_check(tp, offset, metadata)
        out[tp] = (offset, metadata)
    return out


def _upsert(
    group: ConsumerGroup,
    rows: dict[tuple[str, int], tuple[int, str]],
    parts: dict,
    now_ms: int,
    epochs: Mapping[tuple[str, int], int | None] | None = None,
) -> None:
    epochs = epochs or {}
    CommittedOffset.objects.bulk_create(
        [
            CommittedOffset(
                group=group, partition=parts[tp], offset=o, metadata=CommittedOffset.metadata_encode(md),
                leader_epoch=epochs.get(tp), committed_ms=now_ms,
            )
            for tp, (o, md) in rows.items()
        ],
        update_conflicts=True,
        unique_fields=["group", "partition"],
        update_fields=["offset", "metadata", "leader_epoch", "committed_ms"],
    )
    offsets_log_commits(group.group_id, [(t, p, o, epochs.get((t, p)), md) for (t, p), (o, md) in rows.items()], now_ms)


def commit_check(g: Group, *, member_id: str | None, generation: int, group_instance_id: str | None) -> GroupMember | None:
    """Who may commit, as Kafka's validateOffsetCommit (ClassicGroup), in its order: with
    generation -1 anybody while the group is Empty (the admin client, a consumer outside group
    management: a "simple" commit, whatever member id it names); else a member (its id, instance
    id and the current generation; REBALANCE_IN_PROGRESS while the group waits for the leader's
    assignment), so one that left or was removed gets UNKNOWN_MEMBER_ID; no member id and no
    generation while the group has members is UNKNOWN_MEMBER_ID. A member's commit counts as a
    heartbeat."""
    if generation < 0 and g.group.state == State.EMPTY:
        return None
    if generation >= 0 or member_id or group_instance_id is not None:
        m = g.member(member_id or "", group_instance_id)
        if generation != g.group.generation:
            raise IllegalGeneration(
                f"Commit from generation {generation} refused: group '{g.group.group_id}' is at generation "
                f"{g.group.generation} (the member was rebalanced out of its old assignment)."
            )
        if g.group.state == State.COMPLETING_REBALANCE:
            raise RebalanceInProgress(f"Group '{g.group.group_id}' is completing a rebalance.")
        m.last_heartbeat_ms = g.now_ms
        g.touch(m)
        return m
    raise UnknownMemberId(
        f"Group '{g.group.group_id}' has active members; a commit without a member id "
        "(generation -1) is only allowed while the group is Empty."
    )


def commit_group_lock(group_id: str, *, generation: int) -> Group:
    """Lock the group a commit goes to. A commit outside group management (generation -1) creates
    it; one from a generation of a group that does not exist is ILLEGAL_GENERATION, as in Kafka."""
    try:
        return Group.lock(group_id, create=generation < 0)
    except GroupIdNotFound:
        raise IllegalGeneration(
            f"Commit from generation {generation} refused: group '{group_id}' does not exist."
        ) from None


@transaction.atomic
def offsets_commit(
    *,
    group_id: str,
    offsets: Mapping[tuple[str, int], int | tuple[int, str]],
    member_id: str | None = None,
    generation: int = -1,
    group_instance_id: str | None = None,
) -> None:
    """Commit offsets for a group. All of them are written or none.

    Members commit with their member id and the current generation (a stale generation is
    ILLEGAL_GENERATION). A consumer outside any group commits with generation -1 and no member id,
    which Kafka allows only while the group has no members.
    """
    group_id_validate(group_id)
    rows = _normalise(offsets)
    parts = _partitions_resolve(rows)
    g = commit_group_lock(group_id, generation=generation)
    g.expire_members(keep=member_id)
    rebalance_maybe_complete(g)
    commit_check(g, member_id=member_id, generation=generation, group_instance_id=group_instance_id)
    _upsert(g.group, rows, parts, g.now_ms)
    g.note("offsets.committed", member_id=member_id, count=len(rows))
    g.save()
    commit_publish(group_id, parts.values())


def commit_publish(group_id: str, parts: Iterable[Partition]) -> None:
    """Topic pages show the lag of the groups consuming them: tell them about a commit."""
    for topic_id in {str(p.topic.topic_id) for p in parts}:
        events.publish_on_commit(
            [events.topic_group(topic_id)], "offsets.committed", {"group_id": group_id},
            throttle_key=f"commit:{topic_id}",
        )


@dataclass(frozen=True)
class OffsetReset:
    topic: str
    partition: int
    current: int | None
    new: int


RESET_SPECS = ("earliest", "latest", "datetime", "offset", "shift-by")


def _reset_target(spec: str, value: int | None, p: Partition, current: int | None, topic: str) -> int:
    low, high = p.log_start_offset, p.high_watermark
    if spec == "earliest":
        return low
    if spec == "latest":
        return high
    if spec == "datetime":
        return offset_for(topic=topic, partition=p.index, spec=int(value))[0]
    if spec == "offset":
        target = int(value)
    else:  # shift-by, from the committed offset (or the log start when nothing was committed)
        target = (current if current is not None else low) + int(value)
    # Like kafka-consumer-groups, an offset outside the log is clamped to its ends.
    return min(max(target, low), high)


def offsets_reset(
    *,
    group_id: str,
    topic: str,
    to: str,
    value: int | None = None,
    partitions: Iterable[int] | None = None,
    dry_run: bool = True,
) -> list[OffsetReset]:
    """kafka-consumer-groups --reset-offsets: earliest, latest, datetime (ms), offset, shift-by.

    Refused while the group has members. With dry_run (the default) nothing is written.
    """
    group_id_validate(group_id)
    if to not in RESET_SPECS:
        raise InvalidRequest(f"Reset to one of {', '.join(RESET_SPECS)}, not {to!r}.")
    if to in ("datetime", "offset", "shift-by") and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidRequest(f"--{'to-' if to != 'shift-by' else ''}{to} needs an integer value.")
    t = topic_get(name=topic)
    all_parts = {p.index: p for p in Partition.objects.filter(topic=t)}
    chosen = sorted(all_parts) if partitions is None else sorted(set(partitions))
    for index in chosen:
        if index not in all_parts:
            raise UnknownTopicOrPartition(f"Partition {index} of topic '{topic}' does not exist.")

    with transaction.atomic():
        g = Group.lock(group_id, create=not dry_run) if not dry_run else None
        if g is not None:
            g.expire_members()
            rebalance_maybe_complete(g)
            group = g.group
            members = len(g.members)
            state = g.group.state
        else:
            group = ConsumerGroup.objects.filter(group_id=group_id).first()
            members = group.members.count() if group else 0
            state = group.state if group else State.EMPTY
        if members:
            raise NonEmptyGroup(
                f"Assignments can only be reset if the group '{group_id}' is inactive, but the "
                f"current state is {state}."
            )
        committed = {}
        if group is not None:
            committed = dict(
                CommittedOffset.objects.filter(group=group, partition__in=[all_parts[i] for i in chosen]).values_list(
                    "partition__index", "offset"
                )
            )
        plan = [
            OffsetReset(topic, i, committed.get(i), _reset_target(to, value, all_parts[i], committed.get(i), topic))
            for i in chosen
        ]
        if not dry_run:
            _upsert(g.group, {(topic, r.partition): (r.new, "") for r in plan}, {(topic, i): all_parts[i] for i in chosen}, g.now_ms)
            g.note("offsets.reset", topic=topic, count=len(plan))
            g.save()
    return plan


@transaction.atomic
def offsets_delete(*, group_id: str, topic: str, partitions: Iterable[int] | None = None) -> int:
    """Kafka's OffsetDelete: forget a topic's committed offsets, unless members consume it."""
    g = Group.lock(group_id)
    g.expire_members()
    rebalance_maybe_complete(g)
    if any(topic in m.subscription for m in g.members.values()):
        raise GroupSubscribedToTopic(f"Group '{group_id}' is subscribed to topic '{topic}'; its offsets stay.")
    deleted = _topic_offsets_forget(g, topic, partitions)
    g.save()
    return deleted


def _topic_offsets_forget(g: Group, topic: str, partitions: Iterable[int] | None) -> int:
    """Delete the locked group's committed offsets of `topic` (of `partitions`, or all), write
    their tombstones to __consumer_offsets and note it; how many were deleted."""
    qs = CommittedOffset.objects.filter(group=g.group, partition__topic__name=topic)
    if partitions is not None:
        qs = qs.filter(partition__index__in=list(partitions))
    had = list(qs.values_list("partition__index", flat=True))
    deleted, _ = qs.delete()
    offsets_log_deletes(g.group.group_id, [(topic, i) for i in had], g.now_ms)
    g.note("offsets.deleted", topic=topic, count=deleted)
    return deleted


def kafka_offsets_delete(*, group_id: str, partitions: Iterable[tuple[str, int]]) -> tuple[int, dict[tuple[str, int], int]]:
    """Kafka's OffsetDelete: (the group's error code, each partition's). A group that does not
    exist (or is Dead) is GROUP_ID_NOT_FOUND; a group of consumers keeps the offsets of topics a
    member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC, per partition) and loses the others'; a
    group of another protocol type must be empty (NON_EMPTY_GROUP). Unknown partitions are
    UNKNOWN_TOPIC_OR_PARTITION, answered before the coordinator as Kafka does; a partition with
    nothing committed is deleted without error."""
    partitions = list(dict.fromkeys(partitions))
    try:
        group_id_validate(group_id)
    except BrokerError as e:
        return e.code, {}
    known = {
        (t, i) for t, i in Partition.objects.filter(
            topic__name__in={t for t, _ in partitions}, topic__deleted_at__isnull=True
        ).values_list("topic__name", "index")
    }
    codes = {tp: UnknownTopicOrPartition.code for tp in partitions if tp not in known}
    wanted = [tp for tp in partitions if tp in known]
    with transaction.atomic():
        try:
            g = Group.lock(group_id)
        except GroupIdNotFound as e:
            return e.code, codes
        g.expire_members()
        rebalance_maybe_complete(g)
        if g.group.state == State.DEAD:
            return GroupIdNotFound.code, codes
        subscribed: set[str] = set()
        if g.members:
            if g.group.protocol_type not in ("", CONSUMER_PROTOCOL_TYPE):
                return NonEmptyGroup.code, codes
            subscribed = {t for m in g.members.values() for t in m.subscription}
        doomed = [tp for tp in wanted if tp[0] not in subscribed]
        codes.update({tp: GroupSubscribedToTopic.code if tp[0] in subscribed else NO_ERROR for tp in wanted})
        if doomed:
            by_topic: dict[str, list[int]] = {}
            for t, i in doomed:
                by_topic.setdefault(t, []).append(i)
            for topic, indexes in by_topic.items():
                _topic_offsets_forget(g, topic, indexes)
        g.save()
    return NO_ERROR, codes


# --- Kafka clients: OffsetCommit and OffsetFetch --------------------------------------------------


def kafka_offsets_commit(
    *,
    group_id: str,
    offsets: Mapping[tuple[str, int], tuple[int, str | None, int | None]],
    member_id: str = "",
    generation: int = -1,
    group_instance_id: str | None = None,
) -> dict[tuple[str, int], int]:
    """OffsetCommit: (topic, partition) -> (offset, metadata, leader epoch). Returns each
    partition's error code, as Kafka answers per partition: unknown partitions and oversize
    metadata fail alone, the rest together (the member and generation checks of
    commit_check, Kafka's validateOffsetCommit)."""
    codes: dict[tuple[str, int], int] = {}
    try:
        group_id_validate(group_id)
    except BrokerError as e:
        return {tp: e.code for tp in offsets}
    parts = {
        (p.topic.name, p.index): p
        for p in Partition.objects.filter(
            topic__name__in={t for t, _ in offsets}, topic__deleted_at__isnull=True
        ).select_related("topic")
    }
    rows, epochs = {}, {}
    for tp, (offset, metadata, epoch) in offsets.items():
        if tp not in parts:
            codes[tp] = UnknownTopicOrPartition.code  # answered before the coordinator, as Kafka does
            continue
        try:
            # Any offset, as Kafka stores it: clients commit logical ones too (KafkaJS's
            # resetOffsets commits -2 for earliest, -1 for latest).
            metadata_check(metadata or "")
        except BrokerError as e:
            codes[tp] = e.code
            continue
        rows[tp] = (offset, metadata or "")
        epochs[tp] = epoch if epoch is not None and epoch >= 0 else None
    if not rows:
        return codes
    error = None
    with transaction.atomic():
        try:
            g = commit_group_lock(group_id, generation=generation)
        except BrokerError as e:
            error = e
        else:
            g.expire_members()
            rebalance_maybe_complete(g)
            try:
                commit_check(g, member_id=member_id, generation=generation, group_instance_id=group_instance_id)
            except BrokerError as e:
                error = e
            else:
                _upsert(g.group, rows, parts, g.now_ms, epochs)
                g.note("offsets.committed", member_id=member_id or None, count=len(rows))
            g.save()
    if error is None:
        commit_publish(group_id, [parts[tp] for tp in rows])
    for tp in rows:
        codes[tp] = error.code if error is not None else NO_ERROR
    return codes


@dataclass(frozen=True, slots=True)
class CommittedPartition:
    """One partition of an OffsetFetch answer."""

    topic: str
    partition: int
    offset: int  # -1: nothing committed
    leader_epoch: int | None
    metadata: str


def kafka_offsets_fetch(*, group_id: str, partitions: Iterable[tuple[str, int]] | None = None) -> list[CommittedPartition]:
    """OffsetFetch: the committed offsets of `partitions` (-1 where none), or every partition the
    group committed to when None. A group that does not exist has none (not an error, in Kafka)."""
    rows = CommittedOffset.objects.filter(group__group_id=group_id, partition__topic__deleted_at__isnull=True).values_list(
        "partition__topic__name", "partition__index", "offset", "leader_epoch", "metadata"
    )
    if partitions is not None:
        partitions = list(dict.fromkeys(partitions))
        rows = rows.filter(partition__topic__name__in={t for t, _ in partitions})
    found = {(t, p): CommittedPartition(t, p, o, e, CommittedOffset.metadata_decode(md)) for t, p, o, e, md in rows}
    if partitions is None:
        return [found[tp] for tp in sorted(found)]
    return [found.get(tp) or CommittedPartition(tp[0], tp[1], -1, None, "") for tp in partitions]
