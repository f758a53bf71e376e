"""Reads of consumer groups: one GroupView and one MemberView for every reader (console, REST,
Kafka's DescribeGroups, the CLI), group lists, committed offsets, rebalance history, and the groups
consuming a topic. No side effects."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count

from brokercore.coordinator import consumer_protocol
from brokercore.coordinator.group import protocol_metadata
from brokercore.coordinator.lag import PartitionLag, group_lag, groups_lag_totals, partition_lag
from brokercore.db import read_snapshot
from brokercore.errors import GroupIdNotFound
from brokercore.models import (
    CommittedOffset,
    ConsumerGroup,
    GroupMember,
    Partition,
    RebalanceEvent,
)
from brokercore.topics.read import topic_get


@dataclass(frozen=True, slots=True)
class MemberView:
    """A group member as every reader sees it: the console, the REST proxy, the CLI and Kafka's
    DescribeGroups. `assignment` and `revoking` are decoded (topic, partition) pairs for every kind
    of member; `protocol_metadata`/`protocol_assignment` are the same in Kafka's encoding, as
    DescribeGroups gives them: only while the group is Stable (Kafka's ClassicGroup.summary) and
    only for a reader that asked for them (`wire=True`), empty otherwise."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    subscription: list[str]
    assignment: list[tuple[str, int]]
    revoking: list[tuple[str, int]]
    awaiting_join: bool
    leader: bool
    last_heartbeat_ms: int
    session_timeout_ms: int
    protocol_metadata: bytes
    protocol_assignment: bytes

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


def member_view(group: ConsumerGroup, m: GroupMember, *, wire: bool = False) -> MemberView:
    """The one way to describe a member row of `group` (see MemberView); `wire`: with the
    Kafka-encoded metadata and assignment (DescribeGroups), which no other reader needs."""
    metadata = assignment = b""
    if wire and group.state == ConsumerGroup.State.STABLE:
        if group.kind == ConsumerGroup.Kind.KAFKA:
            metadata = protocol_metadata(m, group.protocol_name) or b""
            assignment = bytes(m.assignment_bytes or b"")
        else:
            # A server-managed member, shown to Kafka tools as a consumer-protocol member would be.
            metadata = consumer_protocol.subscription_encode(m.subscription, [tuple(tp) for tp in m.assignment])
            assignment = consumer_protocol.assignment_encode([tuple(tp) for tp in m.assignment])
    return MemberView(
        member_id=m.member_id,
        group_instance_id=m.group_instance_id,
        client_id=m.client_id,
        client_host=m.client_host,
        subscription=list(m.subscription),
        assignment=[tuple(tp) for tp in m.assignment],
        revoking=[tuple(tp) for tp in m.revoking],
        awaiting_join=m.awaiting_join,
        leader=group.leader_member_id == m.member_id,
        last_heartbeat_ms=m.last_heartbeat_ms,
        session_timeout_ms=m.session_timeout_ms,
        protocol_metadata=metadata,
        protocol_assignment=assignment,
    )


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group as every reader sees it (see MemberView); members by join time. `partitions` is its
    lag per partition where the reader asked for it (group_describe), empty otherwise."""

    group_id: str
    state: str
    kind: str
    assignor: str
    protocol_type: str
    protocol_name: str
    generation: int
    leader: str
    members: list[MemberView]
    partitions: list[PartitionLag]
    rebalance_reasons: list[str]
    rebalance_started_ms: int | None
    rebalance_deadline_ms: int | None

    @property
    def partition_assignor(self) -> str:
        """The assignor in use (the protocol a Kafka client leader's group chose, else the server's
        assignor), as REST v3 reports it: none while the group has no members."""
        return (self.protocol_name or self.assignor) if self.members else ""

    @property
    def described_protocol(self) -> str:
        """The protocol DescribeGroups reports: the one chosen while Stable, none otherwise."""
        return self.protocol_name if self.state == ConsumerGroup.State.STABLE else ""

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


def group_view(
    group: ConsumerGroup, members: Iterable[GroupMember], *, partitions: list[PartitionLag] | None = None, wire: bool = False
) -> GroupView:
    """The one way to describe a group row and its member rows (see GroupView; `wire` as member_view)."""
    return GroupView(
        group_id=group.group_id,
        state=group.state,
        kind=group.kind,
        assignor=group.assignor,
        protocol_type=group.protocol_type,
        protocol_name=group.protocol_name,
        generation=group.generation,
        leader=group.leader_member_id,
        members=[member_view(group, m, wire=wire) for m in sorted(members, key=lambda m: (m.joined_at, m.member_id))],
        partitions=partitions or [],
        rebalance_reasons=list(group.rebalance_reasons),
        rebalance_started_ms=group.rebalance_started_ms,
        rebalance_deadline_ms=group.rebalance_deadline_ms,
    )


def group_describe(*, group_id: str) -> GroupView:
    """The group with its members and its lag per partition (in time too)."""
    with read_snapshot():
        group = group_get(group_id=group_id)
        members = list(GroupMember.objects.filter(group=group))
    owners = {tuple(tp): m.member_id for m in members for tp in [*m.assignment, *m.revoking]}
    return group_view(group, members, partitions=group_lag(group=group, owners=owners))


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """A group as lists show it: `assignor` is the protocol its members chose (classic groups) or
    the server's assignor, `members` a count, `total_lag` the sum of its partitions' lag."""

    group_id: str
    state: str
    kind: str
    assignor: str
    generation: int
    members: int
    total_lag: int

    @property
    def partition_assignor(self) -> str:
        """The assignor in use, as REST v3 reports it: none while the group has no members."""
        return self.assignor if self.members else ""


def group_list() -> list[GroupSummary]:
    """Every group by id, with member count and total lag (three queries)."""
    totals = groups_lag_totals()
    rows = ConsumerGroup.objects.annotate(member_count=Count("members")).order_by("group_id")
    return [
        GroupSummary(
            group_id=g.group_id,
            state=g.state,
            kind=g.kind,
            assignor=g.protocol_name or g.assignor,
            generation=g.generation,
            members=g.member_count,
            total_lag=totals.get(g.group_id, 0),
        )
        for g in rows
    ]


def rebalance_history(*, group_id: str, limit: int = 50) -> list[RebalanceEvent]:
    return list(RebalanceEvent.objects.filter(group__group_id=group_id).order_by("-generation")[:limit])


def committed_offsets_get(*, group_id: str, partitions: list[tuple[str, int]] | None = None) -> dict[tuple[str, int], tuple[int, str]]:
    """Kafka's OffsetFetch: committed offset and metadata per topic-partition."""
    group = ConsumerGroup.objects.filter(group_id=group_id).first()
    if group is None:
        return {}
    rows = CommittedOffset.objects.filter(group=group).values_list("partition__topic__name", "partition__index", "offset", "metadata")
    out = {(t, p): (o, CommittedOffset.metadata_decode(md)) for t, p, o, md in rows}
    if partitions is not None:
        out = {tp: v for tp, v in out.items() if tp in set(partitions)}
    return out


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


@dataclass(frozen=True, slots=True)
class TopicConsumerGroup:
    """A group consuming one topic: its members (all, and those subscribed to the topic), the
    topic's partitions assigned to them, and its lag on each of the topic's partitions (`owner`
    and `lag_ms` are not read here). `lag` is None while nothing is committed."""

    group_id: str
    state: str
    members: int
    subscribed_members: int
    assigned_partitions: int
    committed_partitions: int
    lag: int | None
    partitions: tuple[PartitionLag, ...]


def topic_consumer_groups(*, name: str) -> list[TopicConsumerGroup]:
    """Groups that committed offsets on the topic or have a member subscribed to it, with lag.

    Lag per partition is `partition_lag`: none without a commit, as Kafka's tools show "-".
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
        rows = tuple(
            PartitionLag(
                topic=name, partition=index, committed=offsets.get(pid), log_start_offset=start, high_watermark=high,
                owner=None, lag=partition_lag(committed=offsets.get(pid), log_start_offset=start, high_watermark=high),
                lag_ms=None,
            )
            for pid, (index, start, high) in partitions.items()
        )
        lags = [r.lag for r in rows if r.lag is not None]
        out.append(TopicConsumerGroup(
            group_id=g.group_id,
            state=g.state,
            members=g.member_count,
            subscribed_members=consuming.get(g.pk, 0),
            assigned_partitions=owners.get(g.pk, 0),
            committed_partitions=len(lags),
            lag=sum(lags) if lags else None,
            partitions=rows,
        ))
    return out

