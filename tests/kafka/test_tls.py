"""TLS on the Kafka listener (BROKER_KAFKA_TLS_CERT/KEY): SASL_SSL with every real client, what a
client that does not speak TLS or does not trust the certificate sees, and bad certificate files."""

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest

from brokercore.cluster.read import broker_configs
from brokercore.kafka.server import KafkaListener, ListenerConfigError, ListenerThread
from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create
from tests.kafka.conftest import (
    Credentials,
    Wire,
    confluent_consume_all,
    kafka_python_consume_all,
    listener_running,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> dict:
    """A self-signed certificate for 127.0.0.1 and localhost: {"cert": path, "key": path}."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: it makes the test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "listener.pem", d / "listener.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return {"cert": str(cert), "key": str(key)}


@pytest.fixture
def tls_listener(transactional_db, settings, certificate):
    """A listener as `serve` runs one with BROKER_KAFKA_TLS_CERT/KEY set: TLS, SASL required."""
    settings.BROKER = {**settings.BROKER, "KAFKA_ALLOW_ANONYMOUS": False,
                       "KAFKA_TLS_CERT": certificate["cert"], "KAFKA_TLS_KEY": certificate["key"]}
    with listener_running() as listener:
        yield listener


def _confluent(creds: Credentials, ca: str) -> dict:
    return {**creds.confluent(), "security.protocol": "SASL_SSL", "ssl.ca.location": ca}


def test_confluent_kafka_produces_and_consumes_over_sasl_ssl(tls_listener, certificate, kafka_staff):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap, conf = tls_listener.bootstrap, _confluent(kafka_staff, certificate["cert"])
    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    for f in admin.create_topics([NewTopic("tls", 2, 1)]).values():
        f.result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", **conf})
    for i in range(20):
        producer.produce("tls", key=b"k%d" % i, value=b"v%d" % i)
    assert producer.flush(10) == 0
    got = {m.value() for m in confluent_consume_all(bootstrap, "tls", 2, 20, **conf)}
    assert got == {b"v%d" % i for i in range(20)}


def test_kafka_python_over_sasl_ssl(tls_listener, certificate, kafka_staff):
    from kafka import KafkaProducer

    topic_create(name="tls-kp", partitions=1)
    conf = {**kafka_staff.kafka_python(), "security_protocol": "SASL_SSL", "ssl_cafile": certificate["cert"]}
    producer = KafkaProducer(bootstrap_servers=tls_listener.bootstrap, **conf)
    try:
        for i in range(3):
            producer.send("tls-kp", value=b"v%d" % i).get(10)
    finally:
        producer.close()
    got = [r.value for r in kafka_python_consume_all(tls_listener.bootstrap, "tls-kp", 1, 3, **conf)]
    assert got == [b"v0", b"v1", b"v2"]


def test_aiokafka_over_sasl_ssl(tls_listener, certificate, kafka_staff):
    from aiokafka import AIOKafkaProducer
    from aiokafka.helpers import create_ssl_context

    topic_create(name="tls-aio", partitions=1)

    async def produce():
        producer = AIOKafkaProducer(
            bootstrap_servers=tls_listener.bootstrap, **kafka_staff.kafka_python() | {"security_protocol": "SASL_SSL"},
            ssl_context=create_ssl_context(cafile=certificate["cert"]),
        )
        await producer.start()
        try:
            await producer.send_and_wait("tls-aio", b"over tls")
        finally:
            await producer.stop()

    asyncio.run(produce())
    assert [r.value for r in records_fetch(topic="tls-aio", partition=0, offset=0).records] == [b"over tls"]


def test_kcat_over_sasl_ssl(kcat, tls_listener, certificate, kafka_staff):
    topic_create(name="tls-kcat", partitions=1)
    run = [kcat, "-b", tls_listener.bootstrap, *kafka_staff.kcat(), "-X", "security.protocol=SASL_SSL",
           "-X", f"ssl.ca.location={certificate['cert']}"]
    subprocess.run([*run, "-P", "-t", "tls-kcat"], input=b"one\ntwo\n", check=True, timeout=30, capture_output=True)
    out = subprocess.run([*run, "-C", "-t", "tls-kcat", "-o", "beginning", "-e"], check=True, timeout=30,
                         capture_output=True).stdout.decode()
    assert out.splitlines() == ["one", "two"]


def test_the_listener_advertises_sasl_ssl(tls_listener, certificate):
    configs = {c.name: c.value for c in broker_configs(node_id=1, host="127.0.0.1", port=tls_listener.port)}
    assert configs["advertised.listeners"] == f"SASL_SSL://127.0.0.1:{tls_listener.port}"
    assert "security.protocol=SASL_SSL" in tls_listener.client_settings
    assert "ssl.ca.location" in tls_listener.client_settings


def _logged(caplog, text: str, timeout: float = 10) -> str:
    """The listener's first log line containing `text` (it logs from its own thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in caplog.records:
            if r.name.startswith("brokercore") and text in r.getMessage():
                return r.getMessage()
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}:\n{caplog.text}")


def test_a_plaintext_client_is_refused_and_others_are_still_served(tls_listener, certificate, kafka_staff, caplog):
    """A client that does not speak TLS gets no Kafka answer, the operator a line saying why; the
    listener goes on serving."""
    from confluent_kafka.admin import AdminClient

    caplog.set_level(logging.WARNING)
    host, port = tls_listener.bootstrap.rsplit(":", 1)
    wire = Wire(tls_listener.bootstrap, timeout=3)
    try:
        wire.send(18, 3, client_software_name="plain", client_software_version="1")
        assert wire.closed_by_peer()
    finally:
        wire.close()
    line = _logged(caplog, "TLS handshake with")
    assert "does not speak TLS" in line and "security.protocol=SASL_SSL" in line, line
    # A TLS client still connects and authenticates.
    context = ssl.create_default_context(cafile=certificate["cert"])
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw, server_hostname=host):
        pass
    admin = AdminClient({"bootstrap.servers": tls_listener.bootstrap, **_confluent(kafka_staff, certificate["cert"])})
    assert admin.list_topics(timeout=10).brokers
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_client_that_does_not_trust_the_certificate_refuses_it(tls_listener, certificate, kafka_staff, caplog):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    caplog.set_level(logging.WARNING)
    errors = []
    admin = AdminClient({"bootstrap.servers": tls_listener.bootstrap, **kafka_staff.confluent(),
                         "security.protocol": "SASL_SSL", "error_cb": errors.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=3)
    admin.poll(1)  # error callbacks are served from poll()
    assert any(e.code() == KafkaError._SSL or "certificate verify failed" in e.str() for e in errors), errors
    line = _logged(caplog, "TLS handshake with")
    assert "does not trust this listener's certificate" in line and "ssl.ca.location" in line, line


@pytest.mark.parametrize("problem", ["missing certificate", "key that does not match", "not a certificate"])
def test_a_certificate_that_does_not_load_stops_the_listener_with_one_line(tmp_path, certificate, problem):
    cert, key = certificate["cert"], certificate["key"]
    if problem == "missing certificate":
        cert = str(tmp_path / "missing.pem")
    elif problem == "key that does not match":
        other = tmp_path / "other.key"
        subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True, timeout=60)
        key = str(other)
    else:
        (tmp_path / "junk.pem").write_text("not a certificate\n")
        cert = str(tmp_path / "junk.pem")
    listener = KafkaListener(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    with pytest.raises(ListenerConfigError, match="Cannot load the Kafka listener's TLS certificate"):
        asyncio.run(listener.start())
    assert listener._executor is None  # nothing left running


def test_manage_py_kafka_exits_with_one_line_for_a_bad_certificate(tmp_path):
    env = {"BROKER_KAFKA_TLS_CERT": str(tmp_path / "missing.pem"), "STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "manage.py", "kafka", "--port", "0", "--no-maintenance"], env=env,
                          capture_output=True, timeout=60, text=True)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Cannot load the Kafka listener's TLS certificate" in lines[0], done.stderr


def test_a_key_without_a_certificate_is_a_configuration_error(tmp_path):
    env = {"BROKER_KAFKA_TLS_KEY": str(tmp_path / "k.key"), "STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, timeout=60, text=True)
    assert done.returncode != 0
    assert "BROKER_KAFKA_TLS_KEY is set without BROKER_KAFKA_TLS_CERT" in done.stderr


def test_a_request_before_authenticating_is_told_the_tls_protocol():
    from brokercore.kafka.apis import sasl
    from brokercore.kafka.protocol import ProtocolError

    with pytest.raises(ProtocolError, match=r"security\.protocol=SASL_SSL"):
        sasl.Session(allow_anonymous=False, tls=True).admit(3)
    with pytest.raises(ProtocolError, match=r"security\.protocol=SASL_PLAINTEXT"):
        sasl.Session(allow_anonymous=False).admit(3)


def test_handshake_failures_are_told_in_the_words_an_operator_acts_on():
    from brokercore.kafka.server import _tls_failure

    # A hang-up mid-handshake (a TCP health check, a port scan) is routine: INFO, not a warning.
    assert _tls_failure(ConnectionResetError()) == ("the client closed the connection during the handshake", logging.INFO)
    why, level = _tls_failure(ssl.SSLError(1, "[SSL: NO_SHARED_CIPHER] no shared cipher"))
    assert "no shared cipher" in why and level == logging.WARNING


def test_a_client_that_never_starts_its_handshake_is_closed_after_the_timeout(tls_listener, caplog, monkeypatch):
    """A silent client is closed at the handshake deadline, with a line naming it, and leaves no
    connection task behind (asyncio never tells a stream whose handshake failed that it closed)."""
    from brokercore.kafka import server

    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(server, "TLS_HANDSHAKE_TIMEOUT_S", 0.3)
    host, port = tls_listener.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as silent:
        assert silent.recv(1) == b""  # closed by the listener
    assert "no handshake within 0.3 s" in _logged(caplog, "TLS handshake with")
    deadline = time.monotonic() + 5
    while tls_listener._connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tls_listener._connections


def test_the_listener_stops_while_a_client_is_mid_handshake(transactional_db, settings, certificate):
    settings.BROKER = {**settings.BROKER, "KAFKA_TLS_CERT": certificate["cert"], "KAFKA_TLS_KEY": certificate["key"]}
    thread = ListenerThread(KafkaListener(host="127.0.0.1", port=0)).start()
    host, port = thread.listener.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10):
        deadline = time.monotonic() + 5
        while not thread.listener._connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert thread.listener._connections  # the silent client's task is waiting on its handshake
        started = time.monotonic()
        thread.stop(timeout=10)  # raises if the listener's stop does not finish
        assert time.monotonic() - started < 5
