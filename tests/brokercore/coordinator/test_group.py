"""The group object: loading under the lock, member checks, leadership, starting a rebalance."""

import pytest
from django.db import transaction

from brokercore.coordinator.group import Group, State
from brokercore.coordinator.server_members import group_join
from brokercore.errors import FencedInstanceId, GroupIdNotFound, UnknownMemberId
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db


def test_lock_creates_only_when_asked_and_skip_locked_answers_none():
    with transaction.atomic():
        with pytest.raises(GroupIdNotFound):
            Group.lock("missing")
        assert Group.lock("missing", skip_locked=True) is None
        g = Group.lock("new", create=True)
        assert g.group.state == State.EMPTY and g.members == {}
    assert Group.read("new") is not None and Group.read("missing") is None


def test_member_checks_the_static_instance_and_leader_moves_when_the_leader_goes():
    topic_factory(name="t", partitions=2)
    a = group_join(group_id="g", topics=["t"], group_instance_id="i-a")
    b = group_join(group_id="g", topics=["t"])
    with transaction.atomic():
        g = Group.lock("g")
        assert g.member(a.member_id, "i-a").member_id == a.member_id
        with pytest.raises(FencedInstanceId):
            g.member(b.member_id, "i-a")
        with pytest.raises(UnknownMemberId):
            g.member(b.member_id, "i-nobody")
        with pytest.raises(UnknownMemberId):
            g.member("nobody")
        assert g.group.leader_member_id == a.member_id
        g.remove_member(a.member_id, "left the group", "member.left")
        assert g.group.leader_member_id == b.member_id
        assert g.deleted == {a.member_id} and g.notes[-1][0] == "member.left"


def test_rebalance_start_asks_everyone_but_the_initiator_to_rejoin_and_collects_reasons():
    topic_factory(name="t", partitions=2)
    a = group_join(group_id="g", topics=["t"])
    b = group_join(group_id="g", topics=["t"])
    with transaction.atomic():
        g = Group.lock("g")
        g.set_state(State.STABLE)
        for m in g.members.values():
            m.awaiting_join = False
        g.rebalance_start("first", initiator=b.member_id)
        g.rebalance_start("second")
        g.rebalance_start("first")
        assert g.group.state == State.PREPARING_REBALANCE
        assert g.group.rebalance_reasons == ["first", "second"]
        assert g.members[a.member_id].awaiting_join and not g.members[b.member_id].awaiting_join
        assert g.group.rebalance_deadline_ms == g.now_ms + g.rebalance_timeout_ms()
