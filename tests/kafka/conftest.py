"""A Kafka listener on a free port for each test, on its own event loop in a background thread."""

import contextlib
import itertools
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from brokercore.kafka.server import KafkaListener, ListenerThread
from tests.services import required

_users = itertools.count()


@dataclass(frozen=True)
class Credentials:
    """A console user's SASL credentials in each client library's configuration: for PLAIN the
    password is an API token or the user's password; for SCRAM-SHA-256/512 the password the
    user's SCRAM credential was set from."""

    username: str
    password: str
    mechanism: str = "PLAIN"

    def confluent(self) -> dict:
        return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": self.mechanism,
                "sasl.username": self.username, "sasl.password": self.password}

    def kafka_python(self) -> dict:
        """kafka-python's keyword arguments (aiokafka takes the same)."""
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username, "sasl_plain_password": self.password}

    def kcat(self) -> list[str]:
        return ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={self.mechanism}",
                "-X", f"sasl.username={self.username}", "-X", f"sasl.password={self.password}"]


def user_create(*, staff: bool = False, active: bool = True, name: str | None = None):
    """(user, password, raw API token) of a new console user."""
    from django.contrib.auth import get_user_model

    from console.api.tokens import token_create

    name = name or f"{'staff' if staff else 'user'}-{next(_users)}"
    password = f"pw-{name}-Secret"
    user = get_user_model().objects.create_user(username=name, password=password, is_staff=staff, is_active=active)
    _, raw = token_create(user=user, name="kafka")
    return user, password, raw


def confluent_consume_all(bootstrap: str, topic: str, partitions: int, n: int, **config) -> list:
    """Up to `n` messages of `topic`'s first `partitions` partitions from the beginning, with
    confluent-kafka, waiting at most 10 s; `config` adds to or overrides the consumer's."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-manual-assign",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100, **config})
    try:
        consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])  # -2: beginning
        got, deadline = [], time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append(msg)
        return got
    finally:
        consumer.close()


def confluent_create_produce_consume(bootstrap: str, credentials: Credentials, topic: str, n: int) -> list[bytes]:
    """With confluent-kafka and these credentials: create `topic` (AdminClient), produce `n`
    records to it and read them back; what was read."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **credentials.confluent()})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **credentials.confluent()})
    for i in range(n):
        producer.produce(topic, value=b"v%d" % i)
    assert producer.flush(10) == 0
    return [m.value() for m in confluent_consume_all(bootstrap, topic, 1, n, **credentials.confluent())]


def confluent_login_error(bootstrap: str, credentials: Credentials):
    """The first error a confluent-kafka producer reports with these credentials (within 10 s)."""
    from confluent_kafka import Producer

    errors: list = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, **credentials.confluent()})
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        producer.poll(0.1)
    assert errors, "no error reported"
    return errors[0]


def kcat_produce_consume(kcat: str, bootstrap: str, credentials: Credentials, topic: str) -> list[str]:
    """Produce two lines to `topic` with kcat and consume them back from the beginning."""
    import subprocess

    run = [kcat, "-b", bootstrap, *credentials.kcat()]
    subprocess.run([*run, "-P", "-t", topic], input=b"one\ntwo\n", check=True, timeout=30, capture_output=True)
    out = subprocess.run([*run, "-C", "-t", topic, "-o", "beginning", "-e"], check=True, timeout=30,
                         capture_output=True).stdout.decode()
    return out.splitlines()


async def aiokafka_produce_consume(bootstrap: str, credentials: Credentials, topic: str, n: int) -> list[bytes]:
    """Produce `n` records to partition 0 of `topic` with aiokafka, then read them back from the
    beginning (at most 10 s): aiokafka's whole round trip with these credentials."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **credentials.kafka_python())
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, value=b"v%d" % i, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100,
                                **credentials.kafka_python())
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        got: list[bytes] = []
        async with asyncio.timeout(10):
            while len(got) < n:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got += [r.value for r in records]
    finally:
        await consumer.stop()
    return got


async def aiokafka_producer_start(bootstrap: str, credentials: Credentials) -> None:
    """Start (and stop) an aiokafka producer: raises what aiokafka raises when it cannot log in."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **credentials.kafka_python())
    try:
        await producer.start()
    finally:
        await producer.stop()


def kafka_python_consume_all(bootstrap: str, topic: str, partitions: int, n: int, **config) -> list:
    """The same with kafka-python (its keyword arguments in `config`): up to `n` records."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, **config)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        got, deadline = [], time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got += records
        return got
    finally:
        consumer.close()


@pytest.fixture
def kafka_staff(transactional_db) -> Credentials:
    """SASL credentials (an API token) of a staff user, who may create and delete topics."""
    user, _, token = user_create(staff=True)
    return Credentials(user.username, token)


@pytest.fixture
def kafka_user(transactional_db) -> Credentials:
    """SASL credentials (an API token) of a user who is not staff."""
    user, _, token = user_create()
    return Credentials(user.username, token)


@pytest.fixture
def kafka_listener(transactional_db):
    """A running KafkaListener (its database work sees the test database: transactional_db).

    Anonymous clients are let in (as BROKER_KAFKA_ALLOW_ANONYMOUS=1 does), so that tests about
    other things need no credentials; anonymous is not staff, so a test that creates or deletes
    topics through Kafka authenticates (`kafka_staff`). tests/kafka/test_sasl.py covers
    authentication with the default (anonymous off)."""
    with listener_running(allow_anonymous=True) as listener:
        yield listener


@contextlib.contextmanager
def listener_running(**options):
    """A KafkaListener on a free port of 127.0.0.1 (its options as KafkaListener's), stopped after."""
    thread = ListenerThread(KafkaListener(host="127.0.0.1", port=0, **options)).start()
    try:
        yield thread.listener
    finally:
        thread.stop()


@pytest.fixture
def kcat():
    """The kcat executable (Debian's, on librdkafka)."""
    path = shutil.which("kcat")
    if path is None:
        if required("KCAT"):
            pytest.fail("REQUIRE_KCAT=1 but kcat is not installed (apt-get install kcat)")
        pytest.skip("kcat is not installed (apt-get install kcat); set REQUIRE_KCAT=1 to fail instead")
    return path


JS_DIR = Path(__file__).resolve().parents[1] / "js"


@dataclass(frozen=True)
class NodeScript:
    """Runs JavaScript with the project's npm clients (tests/js: KafkaJS) importable."""

    node: str

    def run(self, script: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> dict:
        """Run `script` (CommonJS; `require("kafkajs")` works) and return the JSON object it
        prints on its last line of output; a non-zero exit fails the test with its stderr."""
        import json
        import os
        import subprocess

        proc = subprocess.run(
            [self.node, "-e", script], cwd=JS_DIR, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "NODE_PATH": str(JS_DIR / "node_modules"), **(env or {})},
        )
        if proc.returncode != 0:
            pytest.fail(f"node exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        lines = proc.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else {}


@pytest.fixture
def kafkajs() -> NodeScript:
    """Node.js with KafkaJS from tests/js (`make test` installs it with npm ci where npm exists)."""
    node = shutil.which("node")
    why = ("Node.js is not installed" if node is None
           else "KafkaJS is not installed in tests/js (run `npm ci --prefix tests/js`)"
           if not (JS_DIR / "node_modules" / "kafkajs").is_dir() else "")
    if why:
        if required("NODE"):
            pytest.fail(f"REQUIRE_NODE=1 but {why}")
        pytest.skip(f"{why}; set REQUIRE_NODE=1 to fail instead")
    return NodeScript(node)


@pytest.fixture
def secure_listener(transactional_db, settings):
    """A listener as `serve` runs one by default: anonymous clients refused (tests of SASL)."""
    settings.BROKER = {**settings.BROKER, "KAFKA_ALLOW_ANONYMOUS": False}
    with listener_running() as listener:
        yield listener


@pytest.fixture
def bootstrap(secure_listener) -> str:
    """The secure listener's bootstrap address."""
    return secure_listener.bootstrap


@pytest.fixture
def connect(bootstrap):
    """A factory of raw connections (Wire) to the secure listener, closed after the test."""
    wires = []

    def open_wire() -> Wire:
        wires.append(Wire(bootstrap))
        return wires[-1]

    yield open_wire
    for w in wires:
        w.close()


@pytest.fixture
def kafka_bootstrap(kafka_listener) -> str:
    """"127.0.0.1:PORT" of the running listener, for bootstrap.servers."""
    return kafka_listener.bootstrap


class Wire:
    """A bare Kafka protocol connection: send requests built from plain values, read responses.

    For tests that need what no client library sends (bad frames, chosen producer sequences).
    """

    def __init__(self, bootstrap: str, *, timeout: float = 5.0) -> None:
        import socket

        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation_id = 0

    def send(self, api_key: int, version: int, client_id: str | None = "tests", **fields) -> int:
        from brokercore.kafka.apis.registry import build_entity
        from brokercore.kafka.protocol import RequestHeader, request_encode
        from brokercore.kafka.schemas_legacy import load_request_schema

        self.correlation_id += 1
        request = build_entity(load_request_schema(api_key, version), fields)
        self.sock.sendall(request_encode(RequestHeader(api_key, version, self.correlation_id, client_id), request))
        return self.correlation_id

    def read_frame(self) -> bytes:
        size = int.from_bytes(self._read(4), "big")
        return self._read(size)

    def recv(self, api_key: int, version: int):
        from brokercore.kafka.protocol import response_decode

        correlation_id, response = response_decode(self.read_frame(), api_key, version)
        assert correlation_id == self.correlation_id
        return response

    def call(self, api_key: int, version: int, **fields):
        self.send(api_key, version, **fields)
        return self.recv(api_key, version)

    def authenticate(self, credentials: Credentials, *, handshake: int = 1, authenticate: int = 2):
        """SaslHandshake then SaslAuthenticate with PLAIN; the SaslAuthenticate response."""
        r = self.call(17, handshake, mechanism="PLAIN")
        assert r.error_code == 0, r
        message = f"\0{credentials.username}\0{credentials.password}".encode()
        return self.call(36, authenticate, auth_bytes=message)

    def closed_by_peer(self) -> bool:
        """True when the listener closed this connection (reads end-of-stream)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the listener")
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire(kafka_bootstrap):
    """A raw protocol connection to the test listener (see Wire)."""
    w = Wire(kafka_bootstrap)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def staff_wire(wire, kafka_staff):
    """A raw protocol connection authenticated as a staff user (topic changes allowed)."""
    r = wire.authenticate(kafka_staff)
    assert r.error_code == 0, r
    return wire
