"""The server-side consumer: what Kafka's KafkaConsumer does, run by the broker for clients that
cannot run their own (REST proxy consumer instances, the console's lab consumers).

`ServerConsumer` is one consumer's state with KafkaConsumer's operations: subscribe (to topics or
a pattern) or assign, poll, seek, commit, auto commit, close. A subscribed consumer is a
server-managed member of the group coordinator; a manually assigned one is outside the group and
keeps its own positions. Its state is plain data, so an adapter stores it between calls however
it likes (the REST proxy on a row, the lab in memory); nothing here knows HTTP or the console.

Underneath, `member_poll` is one subscribed poll step: heartbeat, rejoin or revoke when the
coordinator asks, then fetch from the member's positions. Positions start at the group's
committed offset, else at auto.offset.reset. Polling never deletes and never commits by itself.
"""

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from brokercore.coordinator.group import MemberState, tp_key, tp_split
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import committed_offsets_get
from brokercore.coordinator.server_members import group_join, member_leave, member_positions_save, member_sync
from brokercore.errors import BrokerError, GroupIdNotFound, OffsetOutOfRange, UnknownMemberId
from brokercore.log.read import EARLIEST, LATEST, offset_for, records_fetch
from brokercore.models import CommittedOffset, GroupMember, Partition
from brokercore.notify import log_waiters
from brokercore.topics.read import partition_get, topic_names_list
from brokercore.types import RecordOut

logger = logging.getLogger(__name__)

TP = tuple[str, int]
# Kafka's max.poll.records default: the most records one subscribed fetch step returns.
MAX_POLL_RECORDS = 500
# A poll rejoins at most this often when the coordinator keeps dropping the member (then it raises
# UNKNOWN_MEMBER_ID like any other poll error).
MAX_REJOINS_PER_POLL = 3


@dataclass(frozen=True, slots=True)
class PollResult:
    """One `member_poll` step: the member's view, the records, its positions after them."""

    member: MemberState
    records: list[RecordOut]
    positions: dict[str, int]


def initial_position(p: Partition, committed: int | None, reset: str) -> int:
    """Where a consumer starts on a partition: its committed offset if still in the log, else
    where auto.offset.reset says (Kafka's rule; the lab's members and REST consumers share it)."""
    if committed is not None and p.log_start_offset <= committed <= p.high_watermark:
        return committed
    if reset == "earliest":
        return p.log_start_offset
    if reset == "latest":
        return p.high_watermark
    raise OffsetOutOfRange(
        f"No valid committed offset for {p.topic.name}-{p.index} and auto.offset.reset is none: "
        "commit or reset an offset first."
    )


def positions_fetch(
    parts: dict[tuple[str, int], Partition],
    order: list[tuple[str, int]],
    positions: dict[str, int],
    offset_reset: str,
    *,
    max_records: int | None,
    max_bytes: int,
    max_wait_ms: int,
) -> list[RecordOut]:
    """Fetch from `positions` (advanced in place) across the partitions in `order`, waiting up to
    max_wait_ms for the first record. A position that retention or a purge removed restarts by
    auto.offset.reset, as Kafka does. max_records None: no total, each partition's fetch default."""
    deadline = time.monotonic() + max(0, max_wait_ms) / 1000
    poll_s = settings.BROKER["FETCH_POLL_INTERVAL_MS"] / 1000
    pids = tuple(parts[tp].pk for tp in order)
    records: list[RecordOut] = []
    while True:
        seen = log_waiters.version(pids)
        budget_records, budget_bytes = max_records, max_bytes
        for topic, index in order:
            if (budget_records is not None and budget_records <= 0) or budget_bytes <= 0:
                break
            key = tp_key(topic, index)
            limits = {"max_bytes": budget_bytes} if budget_records is None else {"max_records": budget_records, "max_bytes": budget_bytes}
            try:
                res = records_fetch(topic=topic, partition=index, offset=positions[key], **limits)
            except OffsetOutOfRange:
                p = partition_get(topic=topic, partition=index)
                positions[key] = initial_position(p, None, offset_reset)
                continue
            records.extend(res.records)
            positions[key] = res.next_offset
            if budget_records is not None:
                budget_records -= len(res.records)
            budget_bytes -= sum(r.size for r in res.records)
        remaining = deadline - time.monotonic()
        if records or remaining <= 0:
            return records
        log_waiters.wait(pids, seen, min(remaining, poll_s))


def member_poll(
    *,
    group_id: str,
    member_id: str,
    group_instance_id: str | None = None,
    max_records: int = MAX_POLL_RECORDS,
    max_bytes: int = 1_048_576,
    max_wait_ms: int = 0,
) -> PollResult:
    """One poll step of a subscribed member: sync with the coordinator, then, unless it is
    rebalancing or owns nothing, fetch from its positions and store them on the member."""
    view = member_sync(group_id=group_id, member_id=member_id, group_instance_id=group_instance_id)
    if view.rebalancing or not view.assignment:
        return PollResult(view, [], {})
    row = GroupMember.objects.select_related("group").get(group__group_id=group_id, member_id=member_id)
    positions = dict(row.positions)
    parts = {
        (p.topic.name, p.index): p
        for p in Partition.objects.filter(
            topic__name__in={t for t, _ in view.assignment}, topic__deleted_at__isnull=True
        ).select_related("topic")
    }
    assigned = [tp for tp in view.assignment if tp in parts]
    missing = [tp for tp in assigned if tp_key(*tp) not in positions]
    if missing:
        committed = dict(
            CommittedOffset.objects.filter(group=row.group, partition__in=[parts[tp] for tp in missing]).values_list(
                "partition_id", "offset"
            )
        )
        for tp in missing:
            positions[tp_key(*tp)] = initial_position(parts[tp], committed.get(parts[tp].pk), row.offset_reset)

    # Start at a different partition each poll so one busy partition cannot starve the others.
    start = (sum(positions.values()) % len(assigned)) if assigned else 0
    order = assigned[start:] + assigned[:start]
    records = positions_fetch(
        parts, order, positions, row.offset_reset, max_records=max_records, max_bytes=max_bytes, max_wait_ms=max_wait_ms
    )
    try:
        member_positions_save(group_id=group_id, member_id=member_id, generation=view.generation, positions=positions)
    except UnknownMemberId:
        pass  # rebalanced meanwhile: the records are delivered, the next owner starts from the commit
    return PollResult(view, records, positions)


def member_commit(*, group_id: str, member_id: str, generation: int, offsets: dict[tuple[str, int], int] | None = None) -> dict[tuple[str, int], int]:
    """Commit the given offsets, or the member's current positions (what it has consumed)."""
    if offsets is None:
        row = GroupMember.objects.filter(group__group_id=group_id, member_id=member_id).first()
        if row is None:
            raise UnknownMemberId(f"Member '{member_id}' is not in group '{group_id}'.")
        offsets = {tp_split(k): v for k, v in row.positions.items()}
    if offsets:
        offsets_commit(group_id=group_id, member_id=member_id, generation=generation, offsets=offsets)
    return offsets


# --- The consumer -------------------------------------------------------------------------------


class ConsumerStateError(Exception):
    """What KafkaConsumer raises as IllegalStateException: the call does not fit the consumer's
    state (subscribe while assigned, poll with neither, commit while out of the group). A client
    rule, not a protocol error, so not a BrokerError."""


@dataclass(frozen=True, slots=True)
class CommittedOffsetView:
    """A group's committed offset of one partition; -1 and no metadata when it never committed
    one, as Kafka's OffsetFetch answers."""

    topic: str
    partition: int
    offset: int
    metadata: str


@dataclass(frozen=True, slots=True)
class ConsumerPoll:
    """What one `ServerConsumer.poll` returned. `member` is the coordinator's last view of a
    subscribed consumer (None for a manual assignment); `positions` the next offsets after the
    last fetch step ("topic:partition" keys, empty while the group rebalances); `rejoined` says
    the coordinator had dropped the member and it joined again under a new member id."""

    records: list[RecordOut]
    member: MemberState | None
    positions: dict[str, int]
    rejoined: bool


def topics_matching(pattern: str, visible: Callable[[str], bool] | None = None) -> list[str]:
    """The topics a pattern subscription covers now (the whole name must match, as in Kafka),
    among those `visible` lets through (a Kafka client matches its pattern against Metadata,
    which lists only the topics its principal may DESCRIBE). Raises re.error for a pattern that
    is not a regular expression."""
    rx = re.compile(pattern)
    return sorted(t for t in topic_names_list() if rx.fullmatch(t) and (visible is None or visible(t)))


@dataclass(slots=True)
class ServerConsumer:
    """One KafkaConsumer run by the broker. Its fields are the whole state an adapter stores.

    Invariants, as in Kafka: a subscription (topics or a pattern) and a manual assignment exclude
    each other; a subscribed consumer's positions live on its group member (the coordinator drops
    those of partitions it loses), a manual one's in `positions` ("topic:partition" -> next
    offset). With auto commit, every poll, subscription change, assignment change and close
    first commits the positions reached, so a record counts as consumed only once the client came
    back for more. A member the coordinator dropped rejoins on its next poll.
    """

    group_id: str
    client_id: str
    offset_reset: str = "latest"
    auto_commit: bool = True
    session_timeout_ms: int = 10_000
    client_host: str = ""
    # Subscribed: the coordinator's member id ("" before joining, and after the coordinator
    # dropped the member) and the topics subscribed to (a pattern's current matches).
    member_id: str = ""
    topics: list[str] = field(default_factory=list)
    topic_pattern: str = ""
    assignment: list[TP] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    # Which topics a pattern may match (the principal's visible ones); not state: None is all.
    visible: Callable[[str], bool] | None = None
    # The generation this object last saw. None (an adapter that rebuilds the consumer per call
    # never polled in this object's life): commit under the group's current generation.
    generation: int | None = None

    @property
    def subscribed(self) -> bool:
        return bool(self.topics or self.topic_pattern)

    # --- Subscription and assignment -------------------------------------------------------------

    def subscribe(self, *, topics: Sequence[str] | None = None, pattern: str | None = None) -> None:
        """Subscribe to topics or to a pattern (re-evaluated on every poll); joins the group, or
        changes the member's subscription (the group rebalances either way)."""
        if bool(topics) == bool(pattern):
            raise ConsumerStateError("Give either topics or a pattern: subscriptions to topics and to a pattern are mutually exclusive.")
        if self.assignment:
            raise ConsumerStateError(
                "The consumer has a manual assignment; subscribing and assigning partitions are mutually exclusive (unsubscribe first)."
            )
        resolved = topics_matching(pattern, self.visible) if pattern else sorted(set(topics or []))
        self.commit_auto()
        self._join(resolved)
        self.topics, self.topic_pattern = resolved, pattern or ""

    def unsubscribe(self) -> None:
        """Kafka's unsubscribe(): leaves the group and drops a manual assignment too."""
        self.commit_auto()
        self._leave()
        self.topics, self.topic_pattern, self.assignment, self.positions = [], "", [], {}

    def assign(self, partitions: Sequence[TP], *, validate: Callable[[list[TP]], None] | None = None) -> None:
        """A manual assignment (outside the group); positions of partitions kept are kept.
        `validate` is the caller's check of the partitions (e.g. that they exist, with its own
        errors), run once the state allows the assignment and before anything changes."""
        if self.subscribed:
            raise ConsumerStateError(
                "The consumer is subscribed; subscribing and assigning partitions are mutually exclusive (unsubscribe first)."
            )
        wanted = sorted(set(partitions))
        if validate is not None:
            validate(wanted)
        self.commit_auto()
        keys = {tp_key(*tp) for tp in wanted}
        self.assignment = wanted
        self.positions = {k: v for k, v in self.positions.items() if k in keys}

    def assigned(self) -> list[TP]:
        """A manual assignment, or the partitions the group gave the member in its current generation."""
        if self.subscribed:
            row = self._member_row()
            return [tuple(tp) for tp in row.assignment] if row is not None else []
        return list(self.assignment)

    def close(self) -> None:
        """KafkaConsumer.close(): auto commit, leave the group (the others rebalance now)."""
        self.commit_auto()
        self._leave()

    def _join(self, topics: list[str]) -> None:
        if self.member_id:
            try:
                view = group_join(group_id=self.group_id, topics=topics, member_id=self.member_id, session_timeout_ms=self.session_timeout_ms)
                self.generation = view.generation
                return
            except UnknownMemberId:
                pass
        view = group_join(
            group_id=self.group_id,
            topics=topics,
            client_id=self.client_id,
            client_host=self.client_host,
            session_timeout_ms=self.session_timeout_ms,
            offset_reset=self.offset_reset,
        )
        self.member_id, self.generation = view.member_id, view.generation

    def _leave(self) -> None:
        if self.member_id:
            try:
                member_leave(group_id=self.group_id, member_id=self.member_id)
            except (UnknownMemberId, GroupIdNotFound):
                pass  # the coordinator already dropped it (session timeout)
            self.member_id = ""

    def _member_row(self) -> GroupMember | None:
        if not self.member_id:
            return None
        return GroupMember.objects.select_related("group").filter(group__group_id=self.group_id, member_id=self.member_id).first()

    # --- Positions ---------------------------------------------------------------------------------

    def position_map(self) -> dict[TP, int]:
        """The next offset to read of each assigned partition that has one yet."""
        if self.subscribed:
            row = self._member_row()
            return {tp_split(k): v for k, v in row.positions.items()} if row is not None else {}
        return {tp_split(k): v for k, v in self.positions.items()}

    def seek(self, offsets: Mapping[TP, int]) -> None:
        """Set next offsets to read; every partition must be assigned now."""
        self._positions_write(offsets, strict=True)

    def seek_to(self, partitions: Sequence[TP], *, end: bool) -> None:
        """seekToBeginning / seekToEnd: the log start offset or the high watermark, as of now."""
        spec = LATEST if end else EARLIEST
        self._positions_write({tp: offset_for(topic=tp[0], partition=tp[1], spec=spec)[0] for tp in partitions}, strict=True)

    def rewind(self, unreturned: Sequence[RecordOut]) -> None:
        """Put each partition's position back to its first record of `unreturned` (polled but not
        handed to the client), so nothing from there on counts as consumed. Best effort: a
        partition lost meanwhile is skipped."""
        offsets: dict[TP, int] = {}
        for r in unreturned:
            offsets.setdefault((r.topic, r.partition), r.offset)
        self._positions_write(offsets, strict=False)

    def _positions_write(self, offsets: Mapping[TP, int], *, strict: bool) -> None:
        assigned = set(self.assigned())
        unknown = sorted(tp for tp in offsets if tp not in assigned)
        if unknown and strict:
            t, p = unknown[0]
            raise ConsumerStateError(f"No current assignment for partition {t}-{p}.")
        updates = {tp_key(*tp): o for tp, o in offsets.items() if tp in assigned}
        if not self.subscribed:
            self.positions = {**self.positions, **updates}
            return
        row = self._member_row()
        if row is None:
            return
        try:
            member_positions_save(
                group_id=self.group_id, member_id=self.member_id, generation=row.group.generation, positions={**row.positions, **updates}
            )
        except UnknownMemberId:
            if strict:
                raise ConsumerStateError("The group is rebalancing; poll, then seek again.") from None

    # --- Committing --------------------------------------------------------------------------------

    def commit(self, offsets: Mapping[TP, int | tuple[int, str]] | None = None) -> None:
        """commitSync: the given next offsets to read (optionally with metadata), or every
        current position."""
        offsets = self.position_map() if offsets is None else offsets
        if not offsets:
            return
        if self.subscribed:
            row = self._member_row()
            if row is None:
                raise ConsumerStateError("The consumer is not in its group at the moment (it rejoins on its next poll).")
            generation = row.group.generation if self.generation is None else self.generation
            offsets_commit(group_id=self.group_id, offsets=offsets, member_id=self.member_id, generation=generation)
            return
        try:
            offsets_commit(group_id=self.group_id, offsets=offsets)
        except UnknownMemberId:
            # Kafka's rule: a consumer outside the group may commit only while the group is empty.
            raise ConsumerStateError(
                f"Group '{self.group_id}' has subscribed members, so a consumer with a manual "
                "assignment cannot commit to it (use another group for manual assignment)."
            ) from None

    def commit_consumed(self, offsets: Mapping[TP, tuple[int, str]]) -> None:
        """Commit the offsets of the last records consumed: the committed offset is one more,
        the next offset to read (what Confluent's proxy takes)."""
        self.commit({tp: (o + 1, md) for tp, (o, md) in offsets.items()})

    def commit_auto(self) -> None:
        """enable.auto.commit: commit the positions reached. A failure is only logged, as Kafka's
        auto commit does; the records then come again after the rebalance."""
        if not self.auto_commit:
            return
        try:
            self.commit()
        except (BrokerError, ConsumerStateError) as e:
            logger.info("Auto commit of %s in group %s skipped: %s", self.client_id, self.group_id, e)

    def committed(self, partitions: Sequence[TP] | None = None) -> list[CommittedOffsetView]:
        """The group's committed offsets of `partitions` (None: the assigned ones)."""
        partitions = self.assigned() if partitions is None else list(partitions)
        found = committed_offsets_get(group_id=self.group_id, partitions=list(partitions))
        return [CommittedOffsetView(t, p, *found.get((t, p), (-1, ""))) for t, p in partitions]

    # --- Polling -----------------------------------------------------------------------------------

    def poll(self, *, wait_ms: int, max_bytes: int, max_records: int | None = None, min_bytes: int = 1) -> ConsumerPoll:
        """KafkaConsumer.poll(): auto commit, then records from the positions, waiting up to
        wait_ms for the first ones and then up to it for min_bytes (fetch.min.bytes) of them.
        Every poll heartbeats a subscribed member, rejoins a dropped one and re-evaluates a pattern.

        max_records bounds each subscribed fetch step (None: max.poll.records, 500; 0: only
        heartbeat); a manual assignment's fetch is bounded by max_records if given, else by
        max_bytes only.
        """
        if not self.subscribed and not self.assignment:
            raise ConsumerStateError("The consumer is not subscribed to any topics or assigned any partitions.")
        self.commit_auto()
        deadline = time.monotonic() + wait_ms / 1000
        result = ConsumerPoll([], None, {}, False)
        size = 0
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            if self.subscribed:
                step = self._subscribed_fetch(max_bytes - size, remaining, MAX_POLL_RECORDS if max_records is None else max_records)
            else:
                step = self._manual_fetch(max_bytes - size, remaining, max_records)
            result = ConsumerPoll(result.records + step.records, step.member, step.positions, result.rejoined or step.rejoined)
            size += sum(r.size for r in step.records)
            if not result.records or size >= max(1, min_bytes) or size >= max_bytes or deadline - time.monotonic() <= 0:
                return result

    def _manual_fetch(self, max_bytes: int, wait_s: float, max_records: int | None) -> ConsumerPoll:
        wanted = set(self.assignment)
        parts = {
            (p.topic.name, p.index): p
            for p in Partition.objects.filter(topic__name__in={t for t, _ in wanted}, topic__deleted_at__isnull=True).select_related("topic")
            if (p.topic.name, p.index) in wanted
        }
        if not parts:
            time.sleep(max(0.0, wait_s))
            return ConsumerPoll([], None, dict(self.positions), False)
        positions = dict(self.positions)
        missing = [tp for tp in parts if tp_key(*tp) not in positions]
        if missing:
            committed = committed_offsets_get(group_id=self.group_id, partitions=missing)
            for tp in missing:
                positions[tp_key(*tp)] = initial_position(parts[tp], committed.get(tp, (None,))[0], self.offset_reset)
        records = positions_fetch(
            parts, sorted(parts), positions, self.offset_reset, max_records=max_records, max_bytes=max_bytes, max_wait_ms=int(wait_s * 1000)
        )
        self.positions = positions
        return ConsumerPoll(records, None, dict(positions), False)

    def _subscribed_fetch(self, max_bytes: int, wait_s: float, max_records: int) -> ConsumerPoll:
        rejoined = False
        if self.topic_pattern:
            # Kafka re-evaluates a pattern subscription against metadata; new matching topics join it.
            topics = topics_matching(self.topic_pattern, self.visible)
            if topics != self.topics:
                self.commit_auto()
                self._join(topics)
                self.topics = topics
        deadline = time.monotonic() + wait_s
        poll_s = settings.BROKER["FETCH_POLL_INTERVAL_MS"] / 1000
        rejoins = 0
        while True:
            remaining = deadline - time.monotonic()
            if not self.member_id:
                self._join(list(self.topics))
            try:
                if max_records <= 0:
                    step = PollResult(member_sync(group_id=self.group_id, member_id=self.member_id), [], {})
                else:
                    step = member_poll(
                        group_id=self.group_id,
                        member_id=self.member_id,
                        max_records=max_records,
                        max_bytes=max_bytes,
                        max_wait_ms=max(0, int(remaining * 1000)),
                    )
            except (UnknownMemberId, GroupIdNotFound):
                # Dropped by the coordinator (session timeout, group deleted): rejoin, as a Kafka consumer does.
                # Bounded, so a group dropping the member faster than it can join does not spin here.
                rejoins += 1
                if rejoins > MAX_REJOINS_PER_POLL:
                    raise
                self.member_id, rejoined = "", True
                continue
            self.generation = step.member.generation
            remaining = deadline - time.monotonic()
            if step.records or remaining <= 0 or max_records <= 0:
                return ConsumerPoll(step.records, step.member, step.positions, rejoined)
            # Rebalancing, or no partitions: wait a little and sync again, so the rebalance can
            # finish inside this poll.
            time.sleep(min(remaining, poll_s))
