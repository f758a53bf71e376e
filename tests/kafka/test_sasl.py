"""SASL/PLAIN on the Kafka listener: console users' API tokens and passwords, over the wire and
with every real client; what an unauthenticated, anonymous or non-staff client may not do."""

import asyncio
import logging
import struct
import subprocess

import pytest
from django.contrib.auth import get_user_model

from brokercore.kafka.apis import sasl
from brokercore.log.read import records_fetch
from brokercore.models import Topic
from brokercore.topics.read import topic_describe
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from console.api.tokens import token_revoke
from console.models import ApiToken
from tests.kafka.conftest import (
    Credentials,
    Wire,
    aiokafka_produce_consume,
    aiokafka_producer_start,
    confluent_create_produce_consume,
    confluent_login_error,
    kafka_python_consume_all,
    kcat_produce_consume,
    listener_running,
    user_create,
)
from tests.kafka.test_records import producer_batch

pytestmark = pytest.mark.django_db(transaction=True)

API_VERSIONS, METADATA, PRODUCE, CREATE_TOPICS, DELETE_TOPICS = 18, 3, 0, 19, 20
DELETE_RECORDS, CREATE_PARTITIONS, DELETE_GROUPS, DESCRIBE_GROUPS = 21, 37, 42, 15
HANDSHAKE, AUTHENTICATE = 17, 36


def credentials(kind: str, **user) -> Credentials:
    """A new user's credentials, with an API token ("token") or the password ("password")."""
    u, password, token = user_create(**user)
    return Credentials(u.username, token if kind == "token" else password)


def metadata(wire, *names, auto_create=False):
    return wire.call(METADATA, 12, topics=[{"name": n} for n in names] if names else None,
                     allow_auto_topic_creation=auto_create)


# --- The exchange over the wire --------------------------------------------------------------


def test_api_versions_advertise_the_sasl_apis(connect):
    keys = {k.api_key: (k.min_version, k.max_version) for k in connect().call(API_VERSIONS, 3).api_keys}
    assert keys[HANDSHAKE] == (0, 1) and keys[AUTHENTICATE] == (0, 2)


@pytest.mark.parametrize("kind", ["token", "password"])
@pytest.mark.parametrize("versions", [(1, 2), (1, 0), (1, 1)])
def test_handshake_v1_and_authenticate(connect, kind, versions):
    topic_create(name="seen", partitions=1)
    w = connect()
    assert w.call(API_VERSIONS, 3).error_code == 0
    handshake = w.call(HANDSHAKE, versions[0], mechanism="PLAIN")
    assert (handshake.error_code, handshake.mechanisms) == (0, ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
    creds = credentials(kind)
    r = w.call(AUTHENTICATE, versions[1], auth_bytes=f"\0{creds.username}\0{creds.password}".encode())
    assert r.error_code == 0 and r.error_message is None
    [t] = metadata(w, "seen").topics
    assert (t.error_code, t.name) == (0, "seen")


def test_authzid_equal_to_the_username_is_accepted(connect):
    creds = credentials("token")
    w = connect()
    w.call(HANDSHAKE, 1, mechanism="PLAIN")
    message = f"{creds.username}\0{creds.username}\0{creds.password}".encode()
    assert w.call(AUTHENTICATE, 2, auth_bytes=message).error_code == 0
    assert metadata(w).brokers


def test_handshake_v0_then_a_bare_token(connect):
    """Before KIP-152 the PLAIN message follows the handshake as a bare length-prefixed frame,
    answered by an empty token; a failure closes the connection without an answer."""
    creds = credentials("token")
    w = connect()
    assert w.call(HANDSHAKE, 0, mechanism="PLAIN").error_code == 0
    token = f"\0{creds.username}\0{creds.password}".encode()
    w.sock.sendall(struct.pack(">i", len(token)) + token)
    assert w.read_frame() == b""
    assert metadata(w).brokers

    bad = connect()
    bad.call(HANDSHAKE, 0, mechanism="PLAIN")
    token = f"\0{creds.username}\0wrong".encode()
    bad.sock.sendall(struct.pack(">i", len(token)) + token)
    assert bad.closed_by_peer()


def test_unsupported_mechanism_lists_the_enabled_ones_and_closes(connect, caplog):
    w = connect()
    with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
        r = w.call(HANDSHAKE, 1, mechanism="GSSAPI")
        assert (r.error_code, r.mechanisms) == (sasl.UNSUPPORTED_SASL_MECHANISM,
                                                ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
        assert w.closed_by_peer()
    assert "unsupported SASL mechanism 'GSSAPI'" in caplog.text


def _bad(kind: str) -> tuple[bytes, str]:
    """(PLAIN message, Kafka's error message) of each way credentials can be wrong."""
    if kind == "wrong password":
        u, _, _ = user_create()
        return f"\0{u.username}\0not-the-password".encode(), sasl.INVALID_CREDENTIALS
    if kind == "revoked token":
        u, _, raw = user_create()
        token_revoke(token=ApiToken.objects.get(user=u))
        return f"\0{u.username}\0{raw}".encode(), sasl.INVALID_CREDENTIALS
    if kind == "another user's token":
        u, _, _ = user_create()
        _, _, raw = user_create()
        return f"\0{u.username}\0{raw}".encode(), sasl.INVALID_CREDENTIALS
    if kind == "unknown user":
        return b"\0nobody\0whatever", sasl.INVALID_CREDENTIALS
    if kind == "inactive user (password)":
        u, password, _ = user_create(active=False)
        return f"\0{u.username}\0{password}".encode(), sasl.INVALID_CREDENTIALS
    if kind == "inactive user (token)":
        u, _, raw = user_create(active=False)
        return f"\0{u.username}\0{raw}".encode(), sasl.INVALID_CREDENTIALS
    if kind == "other authzid":
        u, _, raw = user_create()
        return f"admin\0{u.username}\0{raw}".encode(), sasl.OTHER_AUTHZID
    if kind == "no username":
        _, _, raw = user_create()
        return f"\0\0{raw}".encode(), sasl.NO_USERNAME
    if kind == "no password":
        return b"\0admin\0", sasl.NO_PASSWORD
    if kind == "two fields":
        return b"admin\0secret", sasl.MALFORMED
    if kind == "four fields":
        return b"\0admin\0secret\0more", sasl.MALFORMED
    if kind == "not UTF-8":
        return b"\0adm\xffin\0secret", sasl.MALFORMED
    assert kind == "empty"
    return b"", sasl.MALFORMED


BAD = ["wrong password", "revoked token", "another user's token", "unknown user", "inactive user (password)",
       "inactive user (token)", "other authzid", "no username", "no password", "two fields", "four fields",
       "not UTF-8", "empty"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_credentials_fail_and_close_the_connection(connect, kind, caplog):
    message, expected = _bad(kind)
    w = connect()
    w.call(HANDSHAKE, 1, mechanism="PLAIN")
    with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
        r = w.call(AUTHENTICATE, 2, auth_bytes=message)
        assert (r.error_code, r.error_message) == (sasl.SASL_AUTHENTICATION_FAILED, expected)
        assert w.closed_by_peer()
    [line] = [r.getMessage() for r in caplog.records]
    assert "failed authentication" in line and expected in line
    assert b"secret" not in line.encode() and b"not-the-password" not in line.encode()


def test_failed_logins_count_against_the_clients_address_too(connect, settings):
    """As the console's and REST's logins (console.login_limit): wrong passwords for any usernames
    from one address lock that address's passwords out; a valid token is still accepted, and wrong
    tokens are counted apart (tests/console/test_login_limit.py)."""
    settings.LOGIN_LIMIT = {**settings.LOGIN_LIMIT, "FAILURES_PER_USERNAME": 100, "FAILURES_PER_IP": 3}

    def attempt(message: bytes) -> int:
        w = connect()
        w.call(HANDSHAKE, 1, mechanism="PLAIN")
        code = w.call(AUTHENTICATE, 2, auth_bytes=message).error_code
        w.close()
        return code

    good_password, good_token = credentials("password"), credentials("token")
    assert attempt(_bad("wrong password")[0]) == sasl.SASL_AUTHENTICATION_FAILED
    assert attempt(b"\0nobody\0not-a-password") == sasl.SASL_AUTHENTICATION_FAILED
    assert attempt(f"\0{good_password.username}\0nope".encode()) == sasl.SASL_AUTHENTICATION_FAILED
    # Three failures from 127.0.0.1: even the right password is refused now, from this address.
    assert attempt(f"\0{good_password.username}\0{good_password.password}".encode()) == sasl.SASL_AUTHENTICATION_FAILED
    assert attempt(f"\0{good_token.username}\0{good_token.password}".encode()) == 0


def test_unauthenticated_requests_close_the_connection_and_write_nothing(connect, caplog):
    topic_create(name="locked", partitions=1)
    with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
        w = connect()
        w.send(METADATA, 12, topics=None, allow_auto_topic_creation=False)
        assert w.closed_by_peer()
        w = connect()
        w.send(PRODUCE, 9, acks=-1, timeout_ms=1000, transactional_id=None, topic_data=[
            {"name": "locked", "partition_data": [{"index": 0, "records": producer_batch(1)}]}])
        assert w.closed_by_peer()
        # After ApiVersions and a handshake, anything but SaslAuthenticate closes too.
        w = connect()
        w.call(API_VERSIONS, 3)
        w.call(HANDSHAKE, 1, mechanism="PLAIN")
        w.send(METADATA, 12, topics=None, allow_auto_topic_creation=False)
        assert w.closed_by_peer()
        # And SaslAuthenticate without a handshake.
        w = connect()
        w.send(AUTHENTICATE, 2, auth_bytes=b"\0admin\0x")
        assert w.closed_by_peer()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and all("closing connection" in line for line in lines)
    assert "before SASL authentication" in lines[0] and "BROKER_KAFKA_ALLOW_ANONYMOUS is off" in lines[0]
    assert "during SASL authentication" in lines[2]
    assert records_fetch(topic="locked", partition=0, offset=0).records == []


def test_unauthenticated_frames_are_held_to_sasl_server_max_receive_size(connect, caplog):
    w = connect()
    with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
        w.sock.sendall(struct.pack(">i", sasl.MAX_RECEIVE_SIZE + 1))
        assert w.closed_by_peer()
    assert "sasl.server.max.receive.size" in caplog.text


def test_malformed_sasl_frames_close_only_their_connection(connect, kafka_user):
    good = connect()
    assert good.authenticate(kafka_user).error_code == 0
    # A SaslAuthenticate frame cut short.
    w = connect()
    w.call(HANDSHAKE, 1, mechanism="PLAIN")
    from kio.index import load_request_schema

    from brokercore.kafka.apis.registry import build_entity
    from brokercore.kafka.protocol import RequestHeader, request_encode

    request = build_entity(load_request_schema(AUTHENTICATE, 2), {"auth_bytes": b"\0a\0b"})
    frame = request_encode(RequestHeader(AUTHENTICATE, 2, 9, "t"), request)
    w.sock.sendall(struct.pack(">i", len(frame) - 4 - 3) + frame[4:-3])
    assert w.closed_by_peer()
    # A SaslHandshake whose mechanism string claims more bytes than the frame holds.
    w = connect()
    w.sock.sendall(struct.pack(">ihhih", 14, HANDSHAKE, 1, 1, -1) + struct.pack(">h", 500) + b"PL")
    assert w.closed_by_peer()
    # A bare v0 token frame with a negative length.
    w = connect()
    w.call(HANDSHAKE, 0, mechanism="PLAIN")
    w.sock.sendall(struct.pack(">i", -5))
    assert w.closed_by_peer()
    # The authenticated connection is still served.
    assert metadata(good).brokers


def test_sasl_requests_on_an_authenticated_connection_are_illegal_but_harmless(connect, kafka_user):
    w = connect()
    assert w.authenticate(kafka_user).error_code == 0
    assert w.call(HANDSHAKE, 1, mechanism="PLAIN").error_code == sasl.ILLEGAL_SASL_STATE
    r = w.call(AUTHENTICATE, 2, auth_bytes=b"\0x\0y")
    assert r.error_code == sasl.ILLEGAL_SASL_STATE and "after successful authentication" in r.error_message
    assert metadata(w).brokers


def test_the_setting_decides_when_the_listener_is_not_told(transactional_db, settings):
    settings.BROKER = {**settings.BROKER, "KAFKA_ALLOW_ANONYMOUS": True}
    with listener_running() as listener:
        w = Wire(listener.bootstrap)
        assert metadata(w).brokers
        w.close()


# --- Anonymous clients (BROKER_KAFKA_ALLOW_ANONYMOUS=1) -------------------------------------


def test_anonymous_clients_may_read_and_produce_but_not_create(wire):
    topic_create(name="open", partitions=1)
    r = wire.call(PRODUCE, 9, acks=-1, timeout_ms=1000, transactional_id=None, topic_data=[
        {"name": "open", "partition_data": [{"index": 0, "records": producer_batch(1)}]}])
    assert r.responses[0].partition_responses[0].error_code == 0
    # Kafka's KafkaApis: auto-creation refused for lack of CREATE is TOPIC_AUTHORIZATION_FAILED.
    [missing] = metadata(wire, "not-yet", auto_create=True).topics
    assert missing.error_code == 29 and not Topic.objects.filter(name="not-yet").exists()
    [unknown] = metadata(wire, "not-yet", auto_create=False).topics
    assert unknown.error_code == 3
    [refused] = wire.call(CREATE_TOPICS, 7, timeout=1000, validate_only=False, topics=[
        {"name": "anon", "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []}]).topics
    assert refused.error_code == 29 and "User:ANONYMOUS is not authorized to CREATE TOPIC 'anon'" in refused.error_message
    assert not Topic.objects.filter(name="anon").exists()


def test_anonymous_connection_may_still_authenticate(wire, kafka_staff):
    assert metadata(wire).brokers
    assert wire.authenticate(kafka_staff).error_code == 0
    [t] = metadata(wire, "by-staff", auto_create=True).topics
    assert t.error_code == 0 and topic_describe(name="by-staff")


# --- Staff only: topic and group changes -----------------------------------------------------


def _create(w, *names, validate_only=False):
    return w.call(CREATE_TOPICS, 7, timeout=1000, validate_only=validate_only, topics=[
        {"name": n, "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []} for n in names
    ]).topics


def test_non_staff_topic_and_group_changes_are_refused_per_item(connect, kafka_user):
    from brokercore.coordinator.server_members import group_join
    from brokercore.log.append import records_append

    topic_create(name="keep", partitions=2)
    records_append(topic="keep", partition=0, records=[RecordIn(key=None, value=b"v%d" % i) for i in range(3)])
    group_join(group_id="g-keep", client_id="c", topics=["keep"])
    w = connect()
    assert w.authenticate(kafka_user).error_code == 0

    created = _create(w, "new-a", "new-b")
    assert [(t.name, t.error_code) for t in created] == [("new-a", 29), ("new-b", 29)]
    assert f"User:{kafka_user.username} is not authorized to CREATE TOPIC 'new-a'" in created[0].error_message
    assert [t.error_code for t in _create(w, "new-c", validate_only=True)] == [29]
    assert not Topic.objects.filter(name__startswith="new-").exists()

    keep_id = topic_describe(name="keep").topic_id
    deleted = w.call(DELETE_TOPICS, 6, timeout_ms=1000, topics=[
        {"name": "keep", "topic_id": None}, {"name": "ghost", "topic_id": None}, {"name": None, "topic_id": keep_id}])
    # Kafka checks DELETE before the topic's existence, which it does not disclose.
    assert [(r.name, r.error_code) for r in deleted.responses] == [("keep", 29), ("ghost", 29), ("keep", 29)]

    grown = w.call(CREATE_PARTITIONS, 3, timeout_ms=1000, validate_only=False, topics=[
        {"name": "keep", "count": 5, "assignments": None}])
    assert [r.error_code for r in grown.results] == [29]
    assert len(topic_describe(name="keep").partitions) == 2

    trimmed = w.call(DELETE_RECORDS, 2, timeout_ms=1000, topics=[
        {"name": "keep", "partitions": [{"partition_index": 0, "offset": 2}]}])
    assert trimmed.topics[0].partitions[0].error_code == 29
    assert len(records_fetch(topic="keep", partition=0, offset=0).records) == 3

    groups = w.call(DELETE_GROUPS, 2, groups_names=["g-keep"])
    assert [(r.group_id, r.error_code) for r in groups.results] == [("g-keep", 30)]
    described = w.call(DESCRIBE_GROUPS, 5, groups=["g-keep"], include_authorized_operations=True)
    assert described.groups[0].error_code == 0
    assert described.groups[0].authorized_operations == (1 << 3) | (1 << 8)  # READ, DESCRIBE; no DELETE

    [missing] = metadata(w, "auto-by-user", auto_create=True).topics
    assert missing.error_code == 29 and not Topic.objects.filter(name="auto-by-user").exists()
    assert topic_describe(name="keep").topic_id == keep_id


def test_staff_topic_changes_and_auto_create(connect, kafka_staff):
    w = connect()
    assert w.authenticate(kafka_staff).error_code == 0
    assert [t.error_code for t in _create(w, "made")] == [0]
    [auto] = metadata(w, "auto-made", auto_create=True).topics
    assert auto.error_code == 0
    deleted = w.call(DELETE_TOPICS, 6, timeout_ms=1000, topics=[{"name": "made", "topic_id": None}])
    assert [r.error_code for r in deleted.responses] == [0]


def test_a_demoted_or_deactivated_user_loses_staff_rights_at_once(connect, monkeypatch):
    """Staff is read at each request that needs it, not at the session's next re-check."""
    monkeypatch.setattr(sasl, "SESSION_RECHECK_S", 3600)
    u, _, token = user_create(staff=True)
    w = connect()
    assert w.authenticate(Credentials(u.username, token)).error_code == 0
    assert [t.error_code for t in _create(w, "before")] == [0]
    get_user_model().objects.filter(pk=u.pk).update(is_staff=False)
    assert [t.error_code for t in _create(w, "after-demotion")] == [29]
    get_user_model().objects.filter(pk=u.pk).update(is_staff=True, is_active=False)
    assert [t.error_code for t in _create(w, "after-deactivation")] == [29]
    assert metadata(w).brokers  # the session itself ends at its next re-check


def _change(change: str, user, token_raw: str) -> None:
    from console.api import tokens

    User = get_user_model()
    if change == "revoke the token":
        token_revoke(token=ApiToken.objects.get(key_hash=tokens.token_hash(token_raw)))
    elif change == "change the password":
        user.set_password("a-new-Password-1")
        user.save()
    elif change == "deactivate the user":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif change == "delete the user":
        User.objects.filter(pk=user.pk).delete()
    else:
        assert change == "nothing"
    # What REST and the listener see of a token is cached for tokens._CACHE_SECONDS: as if they
    # had passed.
    tokens._cache.clear()


@pytest.mark.parametrize("kind, change, closed", [
    ("token", "revoke the token", True),
    ("token", "deactivate the user", True),
    ("token", "delete the user", True),
    ("token", "change the password", False),
    ("token", "nothing", False),
    ("password", "change the password", True),
    ("password", "deactivate the user", True),
    ("password", "delete the user", True),
    ("password", "revoke the token", False),
    ("password", "nothing", False),
])
def test_a_session_ends_when_its_credentials_are_no_longer_accepted(connect, monkeypatch, caplog, kind, change, closed):
    monkeypatch.setattr(sasl, "SESSION_RECHECK_S", 0)
    user, password, token = user_create()
    w = connect()
    assert w.authenticate(Credentials(user.username, token if kind == "token" else password)).error_code == 0
    assert metadata(w).brokers
    _change(change, user, token)
    with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
        if closed:
            w.send(METADATA, 12, topics=None, allow_auto_topic_creation=False)
            assert w.closed_by_peer()
            assert f"User:{user.username}'s credentials are no longer accepted" in caplog.text
        else:
            assert metadata(w).brokers and metadata(w).brokers
            assert not caplog.records


def test_credentials_are_rechecked_only_every_session_recheck_s(connect, monkeypatch):
    monkeypatch.setattr(sasl, "SESSION_RECHECK_S", 3600)
    user, _, token = user_create()
    w = connect()
    assert w.authenticate(Credentials(user.username, token)).error_code == 0
    _change("revoke the token", user, token)
    assert metadata(w).brokers  # not yet: the check is due in an hour
    monkeypatch.setattr(sasl, "SESSION_RECHECK_S", 0)
    w.send(METADATA, 12, topics=None, allow_auto_topic_creation=False)
    assert w.closed_by_peer()


# --- Real clients ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["token", "password"])
def test_confluent_kafka(bootstrap, kind):
    creds = credentials(kind, staff=True)
    assert confluent_create_produce_consume(bootstrap, creds, "ck-sasl", 5) == [b"v%d" % i for i in range(5)]


@pytest.mark.parametrize("kind", ["wrong password", "revoked token", "unknown user", "inactive user (password)"])
def test_confluent_kafka_reports_authentication_failure(bootstrap, kind):
    from confluent_kafka import KafkaError

    message, expected = _bad(kind)
    _, username, password = message.decode().split("\0")
    error = confluent_login_error(bootstrap, Credentials(username, password))
    assert error.code() == KafkaError._AUTHENTICATION and expected in error.str()


def test_confluent_kafka_producer_whose_token_is_revoked_gets_authentication_errors(bootstrap, monkeypatch):
    from confluent_kafka import KafkaError, Producer

    monkeypatch.setattr(sasl, "SESSION_RECHECK_S", 0)
    topic_create(name="revoked", partitions=1)
    user, _, token = user_create()
    errors, delivered = [], []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, "linger.ms": 0,
                         "message.timeout.ms": 3000, **Credentials(user.username, token).confluent()})
    producer.produce("revoked", value=b"before", on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(10) == 0 and delivered == [None]
    _change("revoke the token", user, token)
    producer.produce("revoked", value=b"after", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(10)
    assert delivered[1] is not None  # never stored
    assert any(e.code() == KafkaError._AUTHENTICATION and sasl.INVALID_CREDENTIALS in e.str() for e in errors)
    assert [r.value for r in records_fetch(topic="revoked", partition=0, offset=0).records] == [b"before"]


@pytest.mark.parametrize("kind", ["token", "password"])
def test_kafka_python(bootstrap, kind):
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    creds = credentials(kind, staff=True)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **creds.kafka_python())
    try:
        admin.create_topics([NewTopic("kp-sasl", num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, **creds.kafka_python())
    try:
        for i in range(5):
            producer.send("kp-sasl", value=b"v%d" % i).get(10)
    finally:
        producer.close()
    got = [r.value for r in kafka_python_consume_all(bootstrap, "kp-sasl", 1, 5, **creds.kafka_python())]
    assert got == [b"v%d" % i for i in range(5)]


@pytest.mark.parametrize("kind", ["wrong password", "revoked token", "unknown user", "inactive user (token)"])
def test_kafka_python_reports_authentication_failure(bootstrap, kind, caplog):
    """kafka-python 3 retries a failed bootstrap until bootstrap_timeout_ms, logging each failure."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    message, expected = _bad(kind)
    _, username, password = message.decode().split("\0")
    with caplog.at_level(logging.ERROR, logger="kafka"), pytest.raises(KafkaTimeoutError):
        KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=1500,
                      **Credentials(username, password).kafka_python())
    assert f"SaslAuthenticationFailedError: {expected}" in caplog.text


@pytest.mark.parametrize("kind", ["token", "password"])
def test_aiokafka(bootstrap, kind):
    creds = credentials(kind, staff=True)
    assert asyncio.run(_aiokafka_roundtrip(bootstrap, creds)) == [b"v%d" % i for i in range(5)]


async def _aiokafka_roundtrip(bootstrap, creds):
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **creds.kafka_python())
    await admin.start()
    try:
        await admin.create_topics([NewTopic("aio-sasl", num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return await aiokafka_produce_consume(bootstrap, creds, "aio-sasl", 5)


@pytest.mark.parametrize("kind", ["wrong password", "revoked token", "unknown user", "inactive user (password)"])
def test_aiokafka_reports_authentication_failure(bootstrap, kind, caplog):
    """aiokafka gives up bootstrapping with a connection error and logs the broker's answer."""
    from aiokafka.errors import KafkaConnectionError

    message, expected = _bad(kind)
    _, username, password = message.decode().split("\0")
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        asyncio.run(aiokafka_producer_start(bootstrap, Credentials(username, password)))
    assert f"[Error 58] SaslAuthenticationFailed: {expected}" in caplog.text


@pytest.mark.parametrize("kind", ["token", "password"])
def test_kcat(kcat, bootstrap, kind):
    topic_create(name="kc-sasl", partitions=1)
    assert kcat_produce_consume(kcat, bootstrap, credentials(kind), "kc-sasl") == ["one", "two"]


@pytest.mark.parametrize("kind", ["wrong password", "revoked token", "unknown user", "inactive user (token)"])
def test_kcat_reports_authentication_failure(kcat, bootstrap, kind):
    message, expected = _bad(kind)
    _, username, password = message.decode().split("\0")
    done = subprocess.run([kcat, "-b", bootstrap, *Credentials(username, password).kcat(), "-L", "-m", "2"],
                          timeout=30, capture_output=True)
    assert done.returncode != 0
    assert expected in done.stderr.decode()


def test_kcat_without_credentials_is_refused(kcat, bootstrap):
    done = subprocess.run([kcat, "-b", bootstrap, "-L", "-m", "3"], timeout=30, capture_output=True)
    assert done.returncode != 0



def test_ensure_admin_prints_a_kcat_line_that_works(kcat, secure_listener, settings):
    import io
    import shlex

    from django.core.management import call_command

    settings.BROKER = {**settings.BROKER, "KAFKA_HOST": "127.0.0.1", "KAFKA_PORT": secure_listener.port}
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    [line] = [x.strip() for x in out.getvalue().splitlines() if x.strip().startswith("kcat ")]
    assert f"-b 127.0.0.1:{secure_listener.port} " in line and "sasl.username=admin" in line
    args = shlex.split(line)
    done = subprocess.run([kcat, *args[1:]], timeout=30, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert b"1 brokers:" in done.stdout


# The last case: a listener built with other options than the settings' (as in tests, or a second
# listener) names its own protocol.
@pytest.mark.parametrize("anonymous, listener_anonymous, protocol", [
    (False, None, "SASL_PLAINTEXT"), (True, None, "PLAINTEXT"), (False, True, "PLAINTEXT")])
def test_describe_configs_names_the_security_protocol_clients_set(transactional_db, settings, anonymous,
                                                                  listener_anonymous, protocol):
    settings.BROKER = {**settings.BROKER, "KAFKA_ALLOW_ANONYMOUS": anonymous}
    with listener_running(allow_anonymous=listener_anonymous) as listener:
        w = Wire(listener.bootstrap)
        try:
            if not listener.allow_anonymous:
                assert w.authenticate(credentials("token")).error_code == 0
            r = w.call(32, 4, include_synonyms=False, include_documentation=False, resources=[
                {"resource_type": 4, "resource_name": "1", "configuration_keys": ["advertised.listeners"]}])
        finally:
            w.close()
    [entry] = r.results[0].configs
    assert entry.value == f"{protocol}://{listener.bootstrap}"
