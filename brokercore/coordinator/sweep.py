"""The end of members and groups: the sweeper (expired sessions, overdue rebalances) and
DeleteGroups, as Kafka's GroupMetadataManager cleans up groups on a timer and on request.
"""

from django.db import transaction
from django.db.models import F, Q

from brokercore import clock, events
from brokercore.coordinator.group import KAFKA, Group, State, group_channel
from brokercore.coordinator.offsets_topic import offsets_log_group_deleted
from brokercore.coordinator.rebalance import rebalance_maybe_complete
from brokercore.errors import NonEmptyGroup
from brokercore.models import CommittedOffset, ConsumerGroup, GroupMember


@transaction.atomic
def group_delete(*, group_id: str) -> None:
    """Delete an Empty group with its committed offsets and history (Kafka's DeleteGroups)."""
    g = Group.lock(group_id)
    g.expire_members()
    rebalance_maybe_complete(g)
    if g.members or g.group.state not in (State.EMPTY, State.DEAD):
        raise NonEmptyGroup(
            f"Group '{group_id}' is not empty (state {g.group.state}, {len(g.members)} members): "
            "only an Empty group can be deleted."
        )
    pk = g.group.pk
    channel = group_channel(g.group)
    committed = CommittedOffset.objects.filter(group=g.group).values_list("partition__topic__name", "partition__index")
    offsets_log_group_deleted(group_id, list(committed), g.now_ms)
    g.group.delete()
    events.publish_on_commit([channel, events.CLUSTER_GROUP], "group.deleted", {"group_id": group_id, "group_pk": pk})


def groups_sweep() -> dict:
    """Expire silent members and finish timed-out rebalances in every group.

    Each group is handled in its own short transaction and skipped if another process holds it
    (SKIP LOCKED), so several server processes can sweep at once.
    """
    now_ms = clock.now_ms()
    expired_groups = set(
        GroupMember.objects.filter(last_heartbeat_ms__lt=now_ms - F("session_timeout_ms")).values_list("group__group_id", flat=True)
    )
    # Past a rebalance (or, for Kafka-protocol groups, SyncGroup) deadline, or a Kafka-protocol
    # rebalance that may be waiting only for a pending member id whose session has passed.
    overdue = set(
        ConsumerGroup.objects.filter(
            Q(rebalance_deadline_ms__lt=now_ms) | Q(kind=KAFKA, state=State.PREPARING_REBALANCE)
        ).values_list("group_id", flat=True)
    )
    swept = 0
    for group_id in sorted(expired_groups | overdue):
        with transaction.atomic():
            g = Group.lock(group_id, skip_locked=True)
            if g is None:
                continue
            before = (g.group.generation, len(g.members))
            g.expire_members()
            rebalance_maybe_complete(g)
            g.save()
            swept += (g.group.generation, len(g.members)) != before
    return {"groups_changed": swept}
