"""Consumer groups of real Kafka clients (kafka-python, aiokafka, confluent-kafka) against the listener.

Members run in threads of their own, polling as applications do. The group rebalances as members
join and leave; in every settled generation each partition has exactly one owner (extra members
idle), the console's view (decoded subscriptions and assignments, rebalance history) matches what
the clients were given, commits land, and a new consumer resumes from the committed offsets.
Records are appended with brokercore (not through Produce) and consumed through the listener.
"""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from brokercore.coordinator.read import committed_offsets_get, group_describe
from brokercore.errors import GroupIdNotFound
from brokercore.log.append import records_append
from brokercore.models import RebalanceEvent
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
SESSION_MS, HEARTBEAT_MS, POLL_INTERVAL_MS = 6000, 500, 10_000


def append(topic: str, partitions: int, start: int, n: int) -> None:
    records_append(
        topic=topic,
        records=[RecordIn(key=None, value=b"v%d" % i, partition=i % partitions) for i in range(start, start + n)],
    )


class Member(threading.Thread):
    """One group member polling in its own thread until stopped; commits after each batch."""

    def __init__(self, bootstrap: str, group: str, topic: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.values: list[str] = []
        self.assigned: set[tuple[str, int]] = set()
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            self.consume()
        except BaseException as e:  # surfaced by the test, not lost in the thread
            self.error = e

    def stop(self) -> None:
        self.stopping.set()
        self.join(20)
        assert not self.is_alive(), f"{self.name} did not stop"
        assert self.error is None, f"{self.name} failed: {self.error!r}"


class KafkaPythonMember(Member):
    def consume(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=self.group, client_id=self.name,
            auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=HEARTBEAT_MS, max_poll_interval_ms=POLL_INTERVAL_MS,
        )
        try:
            while not self.stopping.is_set():
                # Not shorter: kafka-python 3.0.12 drops a leader's SyncGroup answer that arrives
                # after poll() timed out if, meanwhile, its own assignment made need_rejoin() false
                # (it rejoined because it had assigned before seeing the topic's metadata); the
                # member then never gets partitions and stops heartbeating.
                batch = consumer.poll(timeout_ms=1000)
                self.values += [r.value.decode() for records in batch.values() for r in records]
                if batch:
                    try:
                        consumer.commit()
                    except Exception:  # CommitFailedError during a rebalance: the next owner re-reads
                        pass
                self.assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        finally:
            consumer.close()


class AiokafkaMember(Member):
    def consume(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import CommitFailedError, KafkaError

        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=self.group, client_id=self.name,
            auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=HEARTBEAT_MS, max_poll_interval_ms=POLL_INTERVAL_MS,
            rebalance_timeout_ms=POLL_INTERVAL_MS,
        )
        await consumer.start()
        try:
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                self.values += [r.value.decode() for records in batch.values() for r in records]
                if batch:
                    try:
                        await consumer.commit()
                    except (CommitFailedError, KafkaError):
                        pass
                self.assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        finally:
            await consumer.stop()


class ConfluentMember(Member):
    def consume(self) -> None:
        from confluent_kafka import Consumer, KafkaException

        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group, "client.id": self.name,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
            "max.poll.interval.ms": POLL_INTERVAL_MS, "topic.metadata.refresh.interval.ms": 1000,
        })
        consumer.subscribe([self.topic])
        try:
            while not self.stopping.is_set():
                msg = consumer.poll(0.1)
                if msg is not None and msg.error() is None:
                    self.values.append(msg.value().decode())
                    try:
                        consumer.commit(message=msg, asynchronous=False)
                    except KafkaException:
                        pass
                self.assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        finally:
            consumer.close()


CLIENTS = {"kafka-python": KafkaPythonMember, "aiokafka": AiokafkaMember, "confluent-kafka": ConfluentMember}


def wait_for(condition, timeout: float = 30, what: str = "condition", explain=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}" + (f": {explain()}" if explain else ""))


def group_state(group: str, members: list[Member]) -> str:
    try:
        info = group_describe(group_id=group)
    except GroupIdNotFound:
        return "no group"
    held = {m.name: sorted(m.assigned) for m in members}
    return (
        f"state {info.state} generation {info.generation} protocol {info.protocol_name} reasons {info.rebalance_reasons} "
        f"members {[(m.member_id, m.assignment, m.awaiting_join) for m in info.members]}; clients hold {held}; "
        f"errors {[repr(m.error) for m in members if m.error]}"
    )


def settled(group: str, members: list[Member], partitions: set[tuple[str, int]]):
    """The group is Stable with exactly these members, each partition owned by exactly one of
    them, and the console's decoded assignments are the ones the clients hold."""
    for m in members:
        assert m.error is None, f"{m.name} failed: {m.error!r}"
    try:
        info = group_describe(group_id=group)
    except GroupIdNotFound:
        return None
    if info.state != "Stable" or len(info.members) != len(members):
        return None
    held = [m.assigned for m in members]
    if sum(len(a) for a in held) != len(partitions) or set().union(*held) != partitions:
        return None
    if sorted(map(sorted, held)) != sorted(sorted(m.assignment) for m in info.members):
        return None
    return info


def check_group(bootstrap: str, member_class, group: str, topic: str, partitions: int, n: int) -> None:
    tps = {(topic, p) for p in range(partitions)}
    members = []

    def add(name):
        m = member_class(bootstrap, group, topic, name)
        m.start()
        members.append(m)
        return wait_for(lambda: settled(group, members, tps), what=f"{len(members)} members to settle",
                        explain=lambda: group_state(group, members))

    info = add("m1")
    assert info.members[0].subscription == [topic]
    add("m2")
    info = add("m3")  # more members than partitions: one idles
    assert len(info.idle_members) == 3 - partitions
    first = members.pop(0)
    first.stop()  # it leaves the group (LeaveGroup)
    wait_for(lambda: settled(group, members, tps), what="the group to settle after m1 left",
             explain=lambda: group_state(group, members))
    wait_for(lambda: len({v for m in [first, *members] for v in m.values}) == n, what="every record consumed")
    for m in members:
        m.stop()
    info = group_describe(group_id=group)
    assert info.state == "Empty" and not info.members
    # Everything was consumed and committed: a commit per batch, the last of them after the end.
    committed = committed_offsets_get(group_id=group)
    assert {tp: off for tp, (off, _) in committed.items()} == {(topic, p): n // partitions for p in range(partitions)}

    events = list(RebalanceEvent.objects.filter(group__group_id=group).order_by("generation"))
    assert [e.generation for e in events] == list(range(1, len(events) + 1))
    for e in events:
        owners = [tuple(tp) for tps_ in e.assignment_after.values() for tp in tps_]
        assert len(owners) == len(set(owners)), f"generation {e.generation} gave a partition twice"
    assert any(len(e.members) == 3 for e in events) and events[-1].members == []


@pytest.mark.parametrize("client", list(CLIENTS))
def test_group_rebalances_commits_and_resumes(kafka_bootstrap, client):
    topic, group = f"g-{client}", f"grp-{client}"
    topic_create(name=topic, partitions=2)
    append(topic, 2, 0, 20)
    check_group(kafka_bootstrap, CLIENTS[client], group, topic, partitions=2, n=20)

    # A new consumer of the group starts from the committed offsets: only the newer records.
    append(topic, 2, 20, 6)
    late = CLIENTS[client](kafka_bootstrap, group, topic, "late")
    late.start()
    wait_for(lambda: len(late.values) >= 6, what="the new records")
    time.sleep(0.3)
    late.stop()
    assert sorted(late.values) == sorted(f"v{i}" for i in range(20, 26))


def test_mixed_clients_agree_on_a_protocol_all_support(kafka_bootstrap):
    """aiokafka offers only roundrobin; kafka-python and librdkafka prefer range but also offer
    roundrobin, so the coordinator must choose roundrobin (a protocol every member supports)."""
    topic, group = "mixed", "mixed-group"
    topic_create(name=topic, partitions=3)
    append(topic, 3, 0, 9)
    tps = {(topic, p) for p in range(3)}
    members = []
    for cls, name in ((KafkaPythonMember, "kp"), (ConfluentMember, "ck"), (AiokafkaMember, "ak")):
        m = cls(kafka_bootstrap, group, topic, name)
        m.start()
        members.append(m)
    info = wait_for(lambda: settled(group, members, tps), what="three clients to settle",
                    explain=lambda: group_state(group, members))
    assert info.protocol_name == "roundrobin"
    assert sorted(len(m.assigned) for m in members) == [1, 1, 1]
    for m in members:
        m.stop()


def test_static_member_restart_keeps_its_partitions_without_rebalance(kafka_bootstrap):
    """KIP-345 with librdkafka: a static member that restarts within its session comes back to the
    same partitions and the group stays in its generation (a static member does not LeaveGroup)."""
    from confluent_kafka import Consumer

    topic, group = "static", "static-group"
    topic_create(name=topic, partitions=2)

    def consumer(instance):
        c = Consumer({
            "bootstrap.servers": kafka_bootstrap, "group.id": group, "group.instance.id": instance,
            "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
            "max.poll.interval.ms": POLL_INTERVAL_MS,
        })
        c.subscribe([topic])
        return c

    a, b = consumer("a"), consumer("b")

    def both_assigned():
        a.poll(0.05)
        b.poll(0.05)
        info = group_describe(group_id=group)
        return info if info.state == "Stable" and len(a.assignment()) == 1 and len(b.assignment()) == 1 else None

    info = wait_for(both_assigned, what="two static members")
    generation = info.generation
    owned_by_b = [(tp.topic, tp.partition) for tp in b.assignment()]
    b.close()
    b = consumer("b")
    wait_for(lambda: (a.poll(0.05), b.poll(0.05), len(b.assignment()) == 1)[-1], what="b back")
    assert [(tp.topic, tp.partition) for tp in b.assignment()] == owned_by_b
    info = group_describe(group_id=group)
    assert info.generation == generation and {m.group_instance_id for m in info.members} == {"a", "b"}
    a.close()
    b.close()


@pytest.mark.postgres
def test_members_in_separate_processes_through_two_broker_nodes(db_url, tmp_path):
    """Two listener processes share the database; the members are processes of their own, each
    bootstrapped to a different node, which each answer as the group's coordinator: the barrier
    completes across processes."""
    from tests.kafka.test_failover import BrokerProcess

    topic, group = "procs", "proc-group"
    topic_create(name=topic, partitions=4)
    append(topic, 4, 0, 40)
    nodes = [BrokerProcess(db_url, node_id, tmp_path) for node_id in (11, 12)]
    members = []
    stop = tmp_path / "stop"
    try:
        for node in nodes:
            node.wait_registered()
        for i, node in enumerate(nodes):
            out = tmp_path / f"member{i}.jsonl"
            out.touch()
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.kafka.group_member_proc", "--bootstrap", node.address, "--group", group,
                 "--topic", topic, "--out", str(out), "--stop-file", str(stop)],
                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / f"member{i}.log", "w"),  # noqa: SIM115 (the child holds it)
            )
            members.append((proc, out))

        def events(out):
            return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]

        def split_evenly():
            try:
                info = group_describe(group_id=group)
            except GroupIdNotFound:
                return False
            last = [next((e["assignment"] for e in reversed(events(out)) if "assignment" in e), None) for _, out in members]
            if info.state != "Stable" or len(info.members) != 2 or None in last:
                return False
            return sorted(len(a) for a in last) == [2, 2] and sorted(tuple(tp) for a in last for tp in a) == [
                (topic, p) for p in range(4)
            ]

        wait_for(split_evenly, timeout=45, what="two processes to share the four partitions", explain=lambda: "; ".join(
            f"member {i}: exit {proc.poll()} {out.read_text()[-500:]} {(tmp_path / f'member{i}.log').read_text()[-1500:]}"
            for i, (proc, out) in enumerate(members)
        ))
        seen = lambda: {v for _, out in members for e in events(out) for v in e.get("values", [])}  # noqa: E731
        wait_for(lambda: len(seen()) == 40, what="all records consumed")
        stop.touch()
        for proc, _ in members:
            proc.wait(20)
        info = group_describe(group_id=group)
        assert info.state == "Empty"
        committed = committed_offsets_get(group_id=group)
        assert {tp: off for tp, (off, _) in committed.items()} == {(topic, p): 10 for p in range(4)}
    finally:
        stop.touch()
        for proc, _ in members:
            if proc.poll() is None:
                proc.kill()
        for node in nodes:
            node.stop()
