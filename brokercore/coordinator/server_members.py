"""The server-managed member API: REST consumer instances and the console's lab consumers join,
heartbeat, poll (member_sync), store positions and leave through these; the coordinator runs the
group's assignor itself (brokercore.coordinator.rebalance).

A server-managed member rejoins inside its next poll, as a Kafka consumer does inside poll(). Each
function is one transaction on the locked group (Group.lock ... Group.save).
"""

import uuid
from collections.abc import Mapping

from django.db import transaction

from brokercore import clock
from brokercore.coordinator.assignors import ASSIGNOR_NAMES
from brokercore.coordinator.group import (
    Group,
    MemberState,
    State,
    group_id_validate,
    session_timeout_validate,
    tp_split,
)
from brokercore.coordinator.rebalance import partition_counts_check, rebalance_maybe_complete
from brokercore.errors import (
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidRequest,
    RebalanceInProgress,
    UnknownMemberId,
)
from brokercore.models import ConsumerGroup, GroupMember

OFFSET_RESETS = ("earliest", "latest", "none")


def _topics_validate(topics: object) -> list[str]:
    if isinstance(topics, str) or not isinstance(topics, (list, tuple)) or not all(isinstance(t, str) and t for t in topics):
        raise InvalidRequest("A subscription is a list of topic names.")
    return sorted(set(topics))


def _view(g: Group, m: GroupMember) -> MemberState:
    return MemberState(
        group_id=g.group.group_id,
        member_id=m.member_id,
        generation=g.group.generation,
        state=g.group.state,
        assignment=[tuple(tp) for tp in m.assignment],
        revoking=[tuple(tp) for tp in m.revoking],
        awaiting_join=m.awaiting_join,
        leader=g.group.leader_member_id == m.member_id,
        protocol_name=g.group.protocol_name,
    )


@transaction.atomic
def group_join(
    *,
    group_id: str,
    topics: list[str] | tuple[str, ...],
    member_id: str | None = None,
    group_instance_id: str | None = None,
    assignor: str | None = None,
    session_timeout_ms: int = 10_000,
    rebalance_timeout_ms: int | None = None,
    client_id: str = "",
    client_host: str = "",
    offset_reset: str = "latest",
) -> MemberState:
    """Join (or rejoin) a server-managed member with a topic subscription.

    A new member gets a member id and starts a rebalance. A rejoin with a known member id, or a
    static member (group_instance_id) coming back with the same subscription, keeps its partitions.
    """
    group_id_validate(group_id)
    topics = _topics_validate(topics)
    session_timeout_ms = session_timeout_validate(session_timeout_ms)
    rebalance_timeout_ms = session_timeout_ms if rebalance_timeout_ms is None else rebalance_timeout_ms
    if assignor is not None and assignor not in ASSIGNOR_NAMES:
        raise InconsistentGroupProtocol(f"Unknown assignor '{assignor}': use one of {', '.join(ASSIGNOR_NAMES)}.")
    if offset_reset not in OFFSET_RESETS:
        raise InvalidRequest(f"auto.offset.reset must be one of {', '.join(OFFSET_RESETS)}.")

    g = Group.lock(group_id, create=True)
    group = g.group
    if group.kind == ConsumerGroup.Kind.KAFKA and g.members:
        raise InconsistentGroupProtocol(
            f"Group '{group_id}' has Kafka-protocol members; a group holds one kind of member."
        )
    g.expire_members(keep=member_id)
    if not g.members:
        group.kind = ConsumerGroup.Kind.SERVER
        if assignor:
            group.assignor = assignor
    elif assignor and assignor != group.assignor:
        raise InconsistentGroupProtocol(
            f"Group '{group_id}' uses the {group.assignor} assignor; a member asking for {assignor} "
            "cannot join it (change the group's assignor instead)."
        )

    if member_id is not None:
        m = g.member(member_id, group_instance_id)
        m.last_heartbeat_ms = g.now_ms
        if m.subscription != topics:
            m.subscription = topics
            g.rebalance_start(f"member {member_id} changed its subscription", initiator=member_id)
        if g.group.state == State.PREPARING_REBALANCE:
            g.rejoin(m)
        g.touch(m)
    else:
        static = next((x for x in g.members.values() if group_instance_id and x.group_instance_id == group_instance_id), None)
        new_id = f"{client_id or 'consumer'}-{uuid.uuid4()}"
        if static is not None:
            # KIP-345: the static member returns under a new member id; the old id is fenced.
            m = g.replace_static_member(static, new_id)
            m.last_heartbeat_ms = g.now_ms
            m.session_timeout_ms, m.rebalance_timeout_ms = session_timeout_ms, rebalance_timeout_ms
            if m.subscription != topics:
                m.subscription = topics
                g.rebalance_start(f"static member {group_instance_id} rejoined with a new subscription", initiator=new_id)
        else:
            m = GroupMember(
                group=group,
                member_id=new_id,
                group_instance_id=group_instance_id,
                client_id=client_id,
                client_host=client_host,
                session_timeout_ms=session_timeout_ms,
                rebalance_timeout_ms=rebalance_timeout_ms,
                subscription=topics,
                offset_reset=offset_reset,
                last_heartbeat_ms=g.now_ms,
                joined_at=clock.now(),
            )
            g.members[new_id] = m
            g.touch(m)
            g.note("member.joined", member_id=new_id, client_id=client_id)
            g.rebalance_start(f"member {new_id} joined", initiator=new_id)
    rebalance_maybe_complete(g)
    g.save()
    return _view(g, m)


def _heartbeat(group_id: str, member_id: str, group_instance_id: str | None) -> tuple[Group, GroupMember]:
    """Lock the group, find the member (fenced by its instance id), record its heartbeat, expire the
    silent others and notice changed partition counts: what every call of a live member starts with."""
    g = Group.lock(group_id)
    m = g.member(member_id, group_instance_id)
    m.last_heartbeat_ms = g.now_ms
    g.touch(m)
    g.expire_members(keep=member_id)
    partition_counts_check(g)
    return g, m


def member_heartbeat(*, group_id: str, member_id: str, generation: int, group_instance_id: str | None = None) -> MemberState:
    """Keep the session alive. Raises REBALANCE_IN_PROGRESS (after recording the heartbeat)
    when the member must rejoin, and ILLEGAL_GENERATION for a stale generation."""
    with transaction.atomic():
        g, m = _heartbeat(group_id, member_id, group_instance_id)
        rebalance_maybe_complete(g)
        g.save()
        view = _view(g, m)
    if generation != view.generation and not view.rebalancing:
        raise IllegalGeneration(
            f"Generation {generation} is not the group's current generation {view.generation}."
        )
    if view.rebalancing:
        raise RebalanceInProgress(f"Group '{group_id}' is rebalancing: rejoin to get the new assignment.")
    return view


@transaction.atomic
def member_leave(*, group_id: str, member_id: str, group_instance_id: str | None = None) -> None:
    """A member leaves on purpose (LeaveGroup): the others rebalance at once, no session wait."""
    g = Group.lock(group_id)
    g.member(member_id, group_instance_id)
    g.remove_member(member_id, "left the group", "member.left")
    g.expire_members()
    if g.members:
        g.rebalance_start(f"member {member_id} left")
    else:
        g.rebalance_start(f"member {member_id} left (last member)")
    rebalance_maybe_complete(g)
    g.save()


@transaction.atomic
def member_sync(*, group_id: str, member_id: str, group_instance_id: str | None = None) -> MemberState:
    """The server-managed consumer's step inside poll(): heartbeat, rejoin or revoke when asked.

    Returns the member's view; `rebalancing` tells the caller not to fetch yet.
    """
    g, m = _heartbeat(group_id, member_id, group_instance_id)
    if m.revoking and g.group.state == State.STABLE:
        # Cooperative step 1 done: the member gave the partitions up; rejoin so they can move.
        gone = m.revoking
        m.revoking = []
        m.positions = {k: v for k, v in m.positions.items() if list(tp_split(k)) not in gone}
        g.rebalance_start(f"member {member_id} revoked {len(gone)} partition(s) for a cooperative move", initiator=member_id)
    if m.awaiting_join:
        g.rejoin(m)
    rebalance_maybe_complete(g)
    g.save()
    return _view(g, m)


@transaction.atomic
def member_positions_save(*, group_id: str, member_id: str, generation: int, positions: Mapping[str, int]) -> None:
    """Store a server-managed member's fetch positions ("topic:partition" -> next offset)."""
    updated = GroupMember.objects.filter(
        group__group_id=group_id, member_id=member_id, group__generation=generation
    ).update(positions=dict(positions))
    if not updated:
        raise UnknownMemberId(f"Member '{member_id}' is not in generation {generation} of group '{group_id}'.")


@transaction.atomic
def group_assignor_set(*, group_id: str, assignor: str) -> None:
    """Change a server-managed group's assignor; the group rebalances with it."""
    if assignor not in ASSIGNOR_NAMES:
        raise InconsistentGroupProtocol(f"Unknown assignor '{assignor}': use one of {', '.join(ASSIGNOR_NAMES)}.")
    g = Group.lock(group_id, create=True)
    if g.group.kind == ConsumerGroup.Kind.KAFKA:
        raise InconsistentGroupProtocol("A Kafka-protocol group's assignor is chosen by its clients.")
    if g.group.assignor == assignor:
        return
    old = g.group.assignor
    g.group.assignor = assignor
    if g.members:
        # Eager and cooperative protocols cannot mix inside one rebalance: everyone rejoins.
        for m in g.members.values():
            m.revoking = []
            g.touch(m)
        g.rebalance_start(f"assignor changed from {old} to {assignor}")
    g.save()
