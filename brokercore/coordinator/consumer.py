"""A server-managed consumer's poll loop: what a Kafka consumer does inside poll(), server-side.

REST consumer instances and the console's lab consumers call `member_poll` repeatedly. It
heartbeats, rejoins or revokes when the coordinator asks, then fetches from the member's
positions in its assigned partitions. Positions start at the group's committed offset, else at
auto.offset.reset. Polling never deletes and never commits by itself.
"""

import time
from dataclasses import dataclass

from django.conf import settings

from brokercore.coordinator.group import MemberState, tp_key, tp_split
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.server_members import member_positions_save, member_sync
from brokercore.errors import OffsetOutOfRange, UnknownMemberId
from brokercore.log.read import records_fetch
from brokercore.models import CommittedOffset, GroupMember, Partition
from brokercore.notify import log_waiters
from brokercore.topics.read import partition_get
from brokercore.types import RecordOut


@dataclass
class PollResult:
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
    max_records: int = 500,
    max_bytes: int = 1_048_576,
    max_wait_ms: int = 0,
) -> PollResult:
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
