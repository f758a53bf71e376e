"""Two broker processes on one PostgreSQL database; one is killed while a real client produces.

The client (confluent-kafka or kafka-python, acks=all, idempotent) is given both bootstrap
addresses. Whatever it
was told was acknowledged must be in the log exactly once, at the offset it was told, and the
client must carry on without an error. Node processes are `manage.py kafka` subprocesses with a
short session timeout, so the dead node's partitions move within a few seconds.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from brokercore.cluster.read import brokers_live_ids, cluster_cache_clear, nodes_live_q, partition_leader
from brokercore.log.read import records_fetch
from brokercore.models import BrokerNode
from brokercore.topics.service import topic_create

confluent_kafka = pytest.importorskip("confluent_kafka")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# A session of 5 heartbeats: a survivor starved for a few seconds on a busy machine is not taken
# for dead.
HEARTBEAT_S, SESSION_TIMEOUT_S = 1, 5
TOPIC, PARTITIONS = "failover", 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerProcess:
    """`manage.py kafka` as broker node `node_id` on `port`, against the test database."""

    def __init__(self, db_url: str, node_id: int, tmp_path: Path) -> None:
        self.node_id, self.port = node_id, free_port()
        self.log = tmp_path / f"node{node_id}.log"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "BROKER_NODE_ID": str(node_id),
            "BROKER_NODE_HEARTBEAT_INTERVAL_S": str(HEARTBEAT_S),
            "BROKER_NODE_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
            # The clients here are about failover, not authentication (tests/kafka/test_sasl.py).
            "BROKER_KAFKA_ALLOW_ANONYMOUS": "1",
        }
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "kafka", "--port", str(self.port)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_registered(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"node {self.node_id} exited with {self.proc.returncode}:\n{self.log.read_text()}")
            cluster_cache_clear()
            if BrokerNode.objects.filter(nodes_live_q(), node_id=self.node_id, kafka_port=self.port).exists():
                return
            time.sleep(0.1)
        pytest.fail(f"node {self.node_id} did not register:\n{self.log.read_text()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def cluster(db_url, tmp_path):
    topic_create(name=TOPIC, partitions=PARTITIONS)
    nodes = {n: BrokerProcess(db_url, n, tmp_path) for n in (1, 2)}
    try:
        for node in nodes.values():
            node.wait_registered()
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def producer(nodes) -> "confluent_kafka.Producer":
    return confluent_kafka.Producer({
        "bootstrap.servers": ",".join(n.address for n in nodes.values()),
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",  # Kafka's Java partitioner, as the console's
        "linger.ms": 5,
        "message.timeout.ms": 60_000,
        "reconnect.backoff.max.ms": 500,
    })


class ConfluentClient:
    def __init__(self, nodes) -> None:
        self.p = producer(nodes)

    def send(self, key: bytes, value: bytes, acked: dict, errors: list) -> None:
        def delivered(err, msg):
            if err is not None:
                errors.append(f"{msg.key()!r}: {err}")
            else:
                acked[msg.key()] = (msg.partition(), msg.offset())

        self.p.produce(TOPIC, key=key, value=value, on_delivery=delivered)
        self.p.poll(0)

    def flush(self) -> bool:
        return self.p.flush(60) == 0

    def close(self) -> None:
        pass


class KafkaPythonClient:
    """kafka-python 3.x: idempotent with acks=all by default."""

    def __init__(self, nodes) -> None:
        from kafka import KafkaProducer

        self.p = KafkaProducer(
            bootstrap_servers=[n.address for n in nodes.values()], linger_ms=5,
            request_timeout_ms=5000, retry_backoff_ms=200, reconnect_backoff_max_ms=500,
        )

    def send(self, key: bytes, value: bytes, acked: dict, errors: list) -> None:
        future = self.p.send(TOPIC, key=key, value=value)
        future.add_callback(lambda md: acked.__setitem__(key, (md.partition, md.offset)))
        future.add_errback(lambda e: errors.append(f"{key!r}: {e!r}"))

    def flush(self) -> bool:
        self.p.flush(60)
        return True

    def close(self) -> None:
        self.p.close(5)


def leaders(p) -> dict[int, int]:
    md = p.list_topics(TOPIC, timeout=10)
    return {index: part.leader for index, part in md.topics[TOPIC].partitions.items()}


def log_contents() -> dict[bytes, list[tuple[int, int]]]:
    """Every record of the topic by key: [(partition, offset), ...], read through brokercore."""
    out: dict[bytes, list[tuple[int, int]]] = {}
    for partition in range(PARTITIONS):
        position = 0
        while True:
            batch = records_fetch(topic=TOPIC, partition=partition, offset=position, max_records=5000)
            if not batch.records:
                break
            for r in batch.records:
                out.setdefault(r.key, []).append((partition, r.offset))
            position = batch.records[-1].offset + 1
    return out


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster_cache_clear()
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def produce_through_a_kill(client, victim: BrokerProcess, *, before_s: float, after_s: float):
    """Produce keyed records, kill -9 `victim` once `before_s` passed and some records were
    acknowledged (a loaded machine may take longer to connect), keep producing `after_s` more."""
    acked: dict[bytes, tuple[int, int]] = {}
    errors: list[str] = []
    sent, acked_before_kill, start = 0, None, time.monotonic()
    killed_at = None
    while killed_at is None or time.monotonic() - killed_at < after_s:
        client.send(b"key-%06d" % sent, b"value-%06d" % sent, acked, errors)
        sent += 1
        now = time.monotonic()
        if killed_at is None and now - start >= before_s and len(acked) >= 20:
            acked_before_kill = len(acked)
            victim.kill()
            killed_at = time.monotonic()
        elif killed_at is None and now - start > 30:
            pytest.fail(f"{len(acked)} of {sent} records acknowledged in 30 s before the kill: {errors[:3]}")
        time.sleep(0.002)
    assert client.flush(), "records still unacknowledged a minute after the last send"
    return sent, acked, errors, acked_before_kill


@pytest.mark.parametrize("client_class", [ConfluentClient, KafkaPythonClient], ids=["confluent-kafka", "kafka-python"])
def test_no_acknowledged_record_is_lost_when_a_broker_is_killed(cluster, client_class):
    # Kill a node that leads something in what the clients are told.
    victim = cluster[leaders(producer(cluster))[0]]
    survivor = next(n for n in cluster.values() if n is not victim)
    client = client_class(cluster)
    try:
        sent, acked, errors, acked_before_kill = produce_through_a_kill(
            client, victim, before_s=1.5, after_s=SESSION_TIMEOUT_S + 3
        )
    finally:
        client.close()

    assert errors == []
    assert acked_before_kill > 0 and len(acked) == sent  # the client carried on past the kill
    stored = log_contents()
    assert Counter(len(places) for places in stored.values()) == {1: sent}  # exactly once each
    assert {key: places[0] for key, places in stored.items()} == acked  # where the client was told

    # The survivor found the dead node and announced it once; a clean stop is told apart.
    wait_for(lambda: BrokerNode.objects.filter(node_id=victim.node_id, down_reason="expired").exists(),
             SESSION_TIMEOUT_S + 5, "the killed node to be marked dead")
    assert brokers_live_ids() == [survivor.node_id]
    assert survivor.stop() == 0
    assert BrokerNode.objects.get(node_id=survivor.node_id).down_reason == "stopped"


def test_metadata_spreads_leaders_and_moves_them_off_a_dead_node(cluster):
    p = producer(cluster)
    md = p.list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2]
    before = leaders(p)
    assert set(before.values()) == {1, 2}
    assert before == {i: partition_leader(topic=TOPIC, partition=i) for i in range(PARTITIONS)}

    cluster[2].kill()
    wait_for(lambda: set(leaders(p).values()) == {1}, SESSION_TIMEOUT_S + 5, "node 1 to lead every partition")
    assert sorted(p.list_topics(timeout=10).brokers) == [1]
