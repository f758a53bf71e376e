"""A stateful property test of the coordinator: random joins, leaves, expiries, heartbeats,
commits and partition additions, with Kafka's invariants checked after every step."""

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from brokercore import clock
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import group_describe, group_get
from brokercore.coordinator.server_members import group_join, member_heartbeat, member_leave, member_sync
from brokercore.coordinator.sweep import groups_sweep
from brokercore.errors import BrokerError, IllegalGeneration, RebalanceInProgress, UnknownMemberId
from brokercore.topics.read import topic_describe
from brokercore.topics.service import topic_create, topic_partitions_add

_ids = itertools.count()


def make_machine(assignor: str):
    class Coordinator(RuleBasedStateMachine):
        @initialize(partitions=st.integers(1, 5))
        def setup(self, partitions):
            n = next(_ids)
            self.now = 1_700_000_000_000 + n * 10**9
            self.topic = f"st-{n}"
            self.group = f"g-{n}"
            topic_create(name=self.topic, partitions=partitions)
            self.members: list[str] = []
            self.generations: dict[str, int] = {}

        def tick(self, ms):
            self.now += ms

        def sync(self, member_id):
            try:
                view = member_sync(group_id=self.group, member_id=member_id)
                self.generations[member_id] = view.generation
            except UnknownMemberId:
                self.members.remove(member_id)

        @rule()
        def join(self):
            view = group_join(group_id=self.group, topics=[self.topic], assignor=assignor, session_timeout_ms=6000, rebalance_timeout_ms=6000)
            self.members.append(view.member_id)
            self.generations[view.member_id] = view.generation

        @precondition(lambda self: self.members)
        @rule(data=st.data())
        def leave(self, data):
            member = data.draw(st.sampled_from(self.members))
            member_leave(group_id=self.group, member_id=member)
            self.members.remove(member)

        @precondition(lambda self: self.members)
        @rule(data=st.data())
        def poll(self, data):
            self.sync(data.draw(st.sampled_from(self.members)))

        @precondition(lambda self: self.members)
        @rule()
        def everyone_polls(self):
            for m in list(self.members):
                self.sync(m)

        @precondition(lambda self: len(self.members) > 1)
        @rule(data=st.data())
        def one_member_goes_silent(self, data):
            silent = data.draw(st.sampled_from(self.members))
            self.tick(4000)
            for m in list(self.members):
                if m != silent:
                    self.sync(m)
            self.tick(4000)
            groups_sweep()
            for m in list(self.members):
                if m != silent:
                    self.sync(m)
            if silent in self.members:
                self.members.remove(silent)

        @precondition(lambda self: self.members)
        @rule(data=st.data())
        def heartbeat(self, data):
            member = data.draw(st.sampled_from(self.members))
            try:
                member_heartbeat(group_id=self.group, member_id=member, generation=self.generations[member])
            except (RebalanceInProgress, IllegalGeneration):
                pass
            except UnknownMemberId:
                self.members.remove(member)

        @precondition(lambda self: self.members)
        @rule(data=st.data(), offset=st.integers(0, 50))
        def commit(self, data, offset):
            member = data.draw(st.sampled_from(self.members))
            info = group_describe(group_id=self.group)
            stale = self.generations[member] != info.generation
            try:
                offsets_commit(group_id=self.group, member_id=member, generation=self.generations[member], offsets={(self.topic, 0): offset})
            except IllegalGeneration:
                assert stale, "a current-generation commit was refused"
            except BrokerError as e:
                raise AssertionError(f"unexpected {e.name}: {e}") from e
            else:
                assert not stale, "a stale-generation commit was accepted"

        @rule(extra=st.integers(1, 3))
        def add_partitions(self, extra):
            current = len(topic_describe(name=self.topic).partitions)
            topic_partitions_add(name=self.topic, count=current + extra)

        @invariant()
        def kafka_invariants(self):
            if not hasattr(self, "group"):
                return
            try:
                info = group_describe(group_id=self.group)
            except BrokerError:
                return
            live = {m.member_id for m in info.members}
            owned = [tp for m in info.members for tp in m.assignment + m.revoking]
            assert len(owned) == len(set(owned)), "a partition is owned by two members in one generation"
            for tp in owned:
                assert tp[0] == self.topic
            if info.state == "Stable" and info.members and info.partitions is not None:
                count = len(topic_describe(name=self.topic).partitions)
                group_counts = group_get(group_id=self.group).partition_counts
                if group_counts.get(self.topic) == count:
                    assert sorted(owned) == [(self.topic, i) for i in range(count)], "a partition has no owner"
                if assignor in ("roundrobin", "sticky") and not any(m.revoking for m in info.members):
                    sizes = [len(m.assignment) for m in info.members]
                    assert max(sizes) - min(sizes) <= 1, f"unbalanced: {sizes}"
            assert live >= set(info.leader and [info.leader] or [])

    return Coordinator


@pytest.fixture
def fake_now(monkeypatch):
    holder = {}

    def now_ms():
        machine = holder.get("machine")
        return machine.now if machine is not None and hasattr(machine, "now") else 1_700_000_000_000

    monkeypatch.setattr(clock, "now_ms", now_ms)
    return holder


@pytest.mark.django_db
@pytest.mark.parametrize("assignor", ["range", "roundrobin", "sticky", "cooperative-sticky"])
def test_coordinator_state_machine(assignor, fake_now):
    base = make_machine(assignor)

    class Tracked(base):
        def __init__(self):
            super().__init__()
            fake_now["machine"] = self

    run_state_machine_as_test(Tracked, settings=settings(max_examples=25, stateful_step_count=25, deadline=None))
