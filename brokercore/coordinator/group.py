"""The group: a locked consumer group with its members, and the behaviour every member kind shares.

Kafka's classic state machine (Empty -> PreparingRebalance -> CompletingRebalance -> Stable, Dead
when deleted) is driven by the modules around this one, each through a `Group` (Kafka's
ClassicGroup): `server_members` (REST and lab consumers; the coordinator assigns), `kafka_members`
(Kafka clients; their leader assigns), `rebalance` (completing a rebalance), `history` (the
timeline), `offsets` and `sweep`. A change (a member joins, leaves or expires, a subscription,
partition count or assignor changes) calls `Group.rebalance_start`: PreparingRebalance, and every
other member must rejoin.

Invariants: the group row is locked (SELECT ... FOR UPDATE, `Group.lock`) for every change, so one
process at a time changes a group, and a `Group` is changed in memory and saved once
(`Group.save`); a generation's assignment gives each partition to at most one member (for
Kafka-protocol groups, as far as the client leader's assignment does).
"""

import base64
import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from brokercore import clock, events
from brokercore.coordinator.assignors import is_cooperative
from brokercore.db import read_snapshot
from brokercore.errors import FencedInstanceId, GroupIdNotFound, InvalidGroupId, InvalidSessionTimeout, UnknownMemberId
from brokercore.models import ConsumerGroup, GroupMember
from brokercore.notify import group_waiters

logger = logging.getLogger(__name__)


# --- A Kafka-protocol member's protocols (stored base64 in a JSON column) ---------------------------


def member_protocols(m: GroupMember) -> list[tuple[str, bytes]]:
    """A Kafka-protocol member's (protocol name, metadata) pairs, in its order of preference."""
    return [(name, base64.b64decode(data)) for name, data in m.protocols]


def protocols_store(protocols: Iterable[tuple[str, bytes]]) -> list[list[str]]:
    """The stored form of a member's protocols (metadata base64 in the JSON column)."""
    return [[name, base64.b64encode(data).decode("ascii")] for name, data in protocols]


def protocol_metadata(m: GroupMember, name: str) -> bytes | None:
    """A member's metadata for protocol `name`, None if it does not offer it."""
    return next((data for n, data in member_protocols(m) if n == name), None)

State = ConsumerGroup.State
KAFKA = ConsumerGroup.Kind.KAFKA


def group_channel(group: ConsumerGroup) -> str:
    """The channel-layer group a group's live page listens on."""
    return events.consumer_group_group(group.pk)


def tp_key(topic: str, partition: int) -> str:
    """'topic:partition'; topic names cannot contain ':', so this is unambiguous."""
    return f"{topic}:{partition}"


def tp_split(key: str) -> tuple[str, int]:
    """The inverse of tp_key."""
    topic, _, partition = key.rpartition(":")
    return topic, int(partition)


def group_id_validate(group_id: object) -> str:
    """A group id every adapter accepts: non-empty, at most 255 characters (the column), and
    without NUL, which Kafka allows but PostgreSQL text cannot hold (INVALID_GROUP_ID)."""
    if not isinstance(group_id, str) or not group_id.strip():
        raise InvalidGroupId("The group id must be a non-empty string.")
    if len(group_id) > 255:
        raise InvalidGroupId("The group id may be at most 255 characters long.")
    if "\x00" in group_id:
        raise InvalidGroupId("The group id may not contain NUL characters.")
    return group_id


def session_timeout_validate(session_timeout_ms: object) -> int:
    """A member's session timeout within the broker's group.min/max.session.timeout.ms
    (INVALID_SESSION_TIMEOUT otherwise), for every kind of member."""
    low = settings.BROKER["GROUP_MIN_SESSION_TIMEOUT_MS"]
    high = settings.BROKER["GROUP_MAX_SESSION_TIMEOUT_MS"]
    if isinstance(session_timeout_ms, bool) or not isinstance(session_timeout_ms, int) or not low <= session_timeout_ms <= high:
        raise InvalidSessionTimeout(
            f"Session timeout {session_timeout_ms} ms is outside the broker's range "
            f"{low}..{high} ms (group.min.session.timeout.ms, group.max.session.timeout.ms)."
        )
    return session_timeout_ms


@dataclass
class MemberState:
    """What a member learns from the coordinator after a join, heartbeat or poll."""

    group_id: str
    member_id: str
    generation: int
    state: str
    assignment: list[tuple[str, int]]
    revoking: list[tuple[str, int]]
    awaiting_join: bool
    leader: bool
    protocol_name: str

    @property
    def rebalancing(self) -> bool:
        return self.state != State.STABLE or self.awaiting_join


@dataclass
class Group:
    """A group and its members, changed in memory and saved once (`save`).

    Changes go through its methods so that every changed member is saved (`touch`) and every
    change reaches live pages on commit (`note`). Get one with `lock` to change it; `read` gives
    an unlocked snapshot that must not be saved.
    """

    group: ConsumerGroup
    members: dict[str, GroupMember]
    now_ms: int
    dirty: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    notes: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    # The group held Kafka-protocol members when loaded: requests of theirs may be parked.
    kafka: bool = False

    # --- Loading and saving ---------------------------------------------------------------------

    @classmethod
    def lock(cls, group_id: str, *, create: bool = False, skip_locked: bool = False) -> "Group | None":
        """Lock the group's row for this transaction and load its members. A missing group is
        created with `create`, else GROUP_ID_NOT_FOUND (None with `skip_locked`, which also skips
        a group another process holds). A Dead group is loaded Empty: its id is reusable."""
        qs = ConsumerGroup.objects.select_for_update(skip_locked=skip_locked)
        try:
            group = qs.get(group_id=group_id)
        except ConsumerGroup.DoesNotExist:
            if not create:
                if skip_locked:
                    return None
                raise GroupIdNotFound(f"Group '{group_id}' does not exist.") from None
            try:
                with transaction.atomic():
                    ConsumerGroup.objects.create(group_id=group_id, state_changed_at=clock.now())
            except IntegrityError:
                pass  # another process created it first; lock theirs
            group = qs.get(group_id=group_id)
        if group.state == State.DEAD:
            # A deleted group's id is reusable, as in Kafka.
            group.state = State.EMPTY
        return cls._load(group)

    @classmethod
    def read(cls, group_id: str) -> "Group | None":
        """The group and its members as committed now, without a lock (for parked requests' polls),
        read on one snapshot."""
        with read_snapshot():
            group = ConsumerGroup.objects.filter(group_id=group_id).first()
            return None if group is None else cls._load(group)

    @classmethod
    def _load(cls, group: ConsumerGroup) -> "Group":
        members = {m.member_id: m for m in GroupMember.objects.filter(group=group)}
        return cls(group=group, members=members, now_ms=clock.now_ms(), kafka=group.kind == KAFKA)

    def save(self) -> None:
        """Write the group row and the changed members; publish the notes and wake parked Kafka
        requests on commit."""
        self.group.save()
        if self.deleted:
            GroupMember.objects.filter(group=self.group, member_id__in=self.deleted).delete()
        for member_id in self.dirty - self.deleted:
            m = self.members.get(member_id)
            if m is not None:
                m.save()
        if self.notes:
            groups = [group_channel(self.group), events.CLUSTER_GROUP]
            for event_type, payload in self.notes:
                events.publish_on_commit(groups, event_type, {"group_id": self.group.group_id, **payload})
        if self.kafka or self.group.kind == KAFKA:
            group_id = self.group.group_id
            transaction.on_commit(lambda: group_waiters.notify((group_id,)), robust=True)

    def touch(self, member: GroupMember) -> None:
        """Mark a member changed, to be saved."""
        self.dirty.add(member.member_id)

    def note(self, event_type: str, **payload: object) -> None:
        """An event to publish to the group's and the cluster's channels on commit."""
        self.notes.append((event_type, payload))

    def set_state(self, state: str) -> None:
        """Move to `state`, stamping when the state last changed."""
        if self.group.state != state:
            self.group.state = state
            self.group.state_changed_at = clock.now()

    # --- Members ----------------------------------------------------------------------------------

    def members_ordered(self) -> list[GroupMember]:
        """Members by join time: the order leaders are elected in and assignors see them."""
        return sorted(self.members.values(), key=lambda m: (m.joined_at, m.member_id))

    def static_member(self, group_instance_id: str | None) -> GroupMember | None:
        """The member holding a group.instance.id (KIP-345), if any."""
        if group_instance_id is None:
            return None
        return next((m for m in self.members.values() if m.group_instance_id == group_instance_id), None)

    def member(self, member_id: str, group_instance_id: str | None = None) -> GroupMember:
        """The member making a request, checked as Kafka's validateCurrentMember: a static member's
        instance id must be held by this member id (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID
        when nobody holds it)."""
        if group_instance_id is not None:
            holder = self.static_member(group_instance_id)
            if holder is not None and holder.member_id != member_id:
                raise FencedInstanceId(
                    f"Static member '{group_instance_id}' is now member {holder.member_id}; "
                    f"member {member_id} was fenced."
                )
            if holder is None:
                raise UnknownMemberId(
                    f"No member of group '{self.group.group_id}' has group.instance.id '{group_instance_id}' "
                    "(it left or its session timed out): join again."
                )
        try:
            return self.members[member_id]
        except KeyError:
            raise UnknownMemberId(
                f"Member '{member_id}' is not in group '{self.group.group_id}' (it left, was removed after "
                "its session timed out, or never joined): join again."
            ) from None

    def remove_member(self, member_id: str, reason: str, event_type: str) -> None:
        """Remove a member (it left, expired or was dropped from a rebalance); a new leader is
        elected at once if it led."""
        self.members.pop(member_id, None)
        self.deleted.add(member_id)
        if self.group.leader_member_id == member_id:
            # Kafka elects a new leader at once when the leader goes, even mid-rebalance.
            rest = self.members_ordered()
            self.group.leader_member_id = rest[0].member_id if rest else ""
        self.note(event_type, member_id=member_id, reason=reason)

    def replace_static_member(self, old: GroupMember, new_id: str) -> GroupMember:
        """KIP-345: a static member returns under a new member id and takes the old one's place,
        assignment and leadership; the old id is fenced."""
        self.members.pop(old.member_id)
        self.deleted.add(old.member_id)
        # Django's way to copy a row: a copy of the instance without a primary key is inserted as a
        # new row. Every field carries over (one added to GroupMember later too) but these three.
        fresh = copy.copy(old)
        fresh.pk = None
        fresh._state.adding = True
        fresh.member_id = new_id
        fresh.awaiting_join = False
        fresh.last_heartbeat_ms = self.now_ms
        self.members[new_id] = fresh
        self.touch(fresh)
        # The group's record of who owns what follows the instance, so stickiness survives.
        assignment = dict(self.group.assignment)
        if old.member_id in assignment:
            assignment[new_id] = assignment.pop(old.member_id)
            self.group.assignment = assignment
        if self.group.leader_member_id == old.member_id:
            self.group.leader_member_id = new_id
        self.note("member.replaced", member_id=new_id, previous=old.member_id, group_instance_id=old.group_instance_id)
        # Delete the old row now so the new one can take the instance id's unique slot.
        GroupMember.objects.filter(group=self.group, member_id=old.member_id).delete()
        return fresh

    def parked(self, m: GroupMember) -> bool:
        """A Kafka-protocol member whose JoinGroup or SyncGroup is waiting at the barrier: like Kafka
        (MemberMetadata.hasSatisfiedHeartbeat), its session does not run out while it waits."""
        state = self.group.state
        return (state == State.PREPARING_REBALANCE and not m.awaiting_join) or (
            state == State.COMPLETING_REBALANCE and not m.awaiting_sync
        )

    def expire_members(self, *, keep: str | None = None) -> None:
        """Lazy expiry: members whose session passed without a heartbeat leave the group.

        Kafka-protocol groups also drop pending member ids (KIP-394) whose session passed, and remove
        members that did not send SyncGroup within the rebalance timeout after the join round.
        """
        group = self.group
        kafka = group.kind == KAFKA
        for m in list(self.members.values()):
            if m.member_id == keep or (kafka and self.parked(m)):
                continue
            if m.last_heartbeat_ms + m.session_timeout_ms < self.now_ms:
                self.remove_member(m.member_id, "session timeout", "member.expired")
                self.rebalance_start(f"member {m.member_id} expired (no heartbeat for {m.session_timeout_ms} ms)")
        if group.pending_members:
            live = {mid: deadline for mid, deadline in group.pending_members.items() if deadline >= self.now_ms}
            if live != group.pending_members:
                group.pending_members = live
        if kafka and group.state in (State.COMPLETING_REBALANCE, State.STABLE) and group.rebalance_deadline_ms is not None:
            if self.now_ms < group.rebalance_deadline_ms:
                return
            late = [m.member_id for m in self.members.values() if m.awaiting_sync]
            if not late:
                group.rebalance_deadline_ms = None
                return
            for member_id in late:
                self.remove_member(member_id, "did not send SyncGroup within the rebalance timeout", "member.removed")
            self.rebalance_start(f"member(s) {', '.join(late)} did not send SyncGroup within the rebalance timeout")

    # --- Starting a rebalance (completing one is brokercore.coordinator.rebalance) ------------------

    def rebalance_timeout_ms(self) -> int:
        """Kafka's GroupMetadata.rebalanceTimeoutMs: the longest any member asked for."""
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def rebalance_start(self, reason: str, *, initiator: str | None = None) -> None:
        """PreparingRebalance: every member but `initiator` must rejoin before the deadline. During
        a rebalance already under way, only the reason is added."""
        group = self.group
        if group.state != State.PREPARING_REBALANCE:
            if group.kind == KAFKA:
                # Kafka's prepareRebalance: SyncGroups still waiting for the leader's assignment are
                # answered REBALANCE_IN_PROGRESS, and nobody is awaited at the SyncGroup barrier any more.
                interrupted = group.state == State.COMPLETING_REBALANCE
                for m in self.members.values():
                    if m.awaiting_sync or interrupted:
                        m.awaiting_sync = False
                        if interrupted:
                            m.assignment_bytes = None
                        self.touch(m)
            self.set_state(State.PREPARING_REBALANCE)
            group.rebalance_started_ms = self.now_ms
            group.rebalance_reasons = []
            group.rebalance_deadline_ms = self.now_ms + self.rebalance_timeout_ms()
            for m in self.members.values():
                if m.member_id != initiator:
                    m.awaiting_join = True
                    self.touch(m)
            self.note("rebalance.started", reason=reason, generation=group.generation)
        if reason not in group.rebalance_reasons and len(group.rebalance_reasons) < 20:
            group.rebalance_reasons = [*group.rebalance_reasons, reason]

    def rejoin(self, m: GroupMember) -> None:
        """The member (re)joins the pending generation. Eager protocols revoke everything first."""
        m.awaiting_join = False
        if not is_cooperative(self.group.assignor):
            m.assignment = []
            m.revoking = []
        self.touch(m)
