"""SASL/SCRAM-SHA-256 and -512 on the Kafka listener, with every real client; credentials managed
by DescribeUserScramCredentials / AlterUserScramCredentials from kafka-python's and
confluent-kafka's admin clients, with Kafka's error codes."""

import asyncio
import logging
import struct
import subprocess

import pytest
from django.contrib.auth import get_user_model
from kafka.net.sasl.scram import ScramClient

from brokercore.kafka.apis import sasl
from brokercore.models import ScramCredential
from brokercore.security.credentials import scram_credential_delete, scram_credential_set
from brokercore.security.scram import GENERIC_FAILURE
from brokercore.topics.service import topic_create
from tests.kafka.conftest import (
    Credentials,
    Wire,
    aiokafka_produce_consume,
    aiokafka_producer_start,
    confluent_create_produce_consume,
    confluent_login_error,
    kafka_python_consume_all,
    kcat_produce_consume,
    user_create,
)

pytestmark = pytest.mark.django_db(transaction=True)

HANDSHAKE, AUTHENTICATE, METADATA, DESCRIBE, ALTER = 17, 36, 3, 50, 51
MECHANISMS = ["SCRAM-SHA-256", "SCRAM-SHA-512"]


def scram_user(mechanism: str, *, staff: bool = False, password: str = "scram-Secret-1") -> Credentials:
    """A new console user with a SCRAM credential for `mechanism` (set as `manage.py scram set` does)."""
    user, _, _ = user_create(staff=staff)
    scram_credential_set(username=user.username, mechanism=mechanism, password=password)
    return Credentials(user.username, password, mechanism)


def failure(mechanism: str) -> str:
    return GENERIC_FAILURE.format(mechanism)


def wire_login(w: Wire, creds: Credentials, *, handshake: int = 1, authenticate: int = 2):
    """SCRAM over SaslAuthenticate with kafka-python's SCRAM client: (first answer, final answer)."""
    r = w.call(HANDSHAKE, handshake, mechanism=creds.mechanism)
    assert r.error_code == 0 and set(MECHANISMS) <= set(r.mechanisms)
    client = ScramClient(creds.username, creds.password, creds.mechanism)
    first = w.call(AUTHENTICATE, authenticate, auth_bytes=client.first_message())
    if first.error_code:
        return first, None
    client.process_server_first_message(first.auth_bytes)
    final = w.call(AUTHENTICATE, authenticate, auth_bytes=client.final_message())
    if final.error_code == 0:
        client.process_server_final_message(final.auth_bytes)  # raises unless the server signature is right
    return first, final


# --- The exchange over the wire ----------------------------------------------------------------


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("version", [0, 1, 2])
def test_scram_over_sasl_authenticate(connect, mechanism, version):
    creds = scram_user(mechanism)
    w = connect()
    first, final = wire_login(w, creds, authenticate=version)
    assert first.error_code == 0 and first.auth_bytes.startswith(b"r=")
    assert final.error_code == 0 and final.auth_bytes.startswith(b"v=")
    assert w.call(METADATA, 12, topics=None, allow_auto_topic_creation=False).brokers


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_scram_after_handshake_v0_in_bare_frames(connect, mechanism):
    """Before KIP-152 each SCRAM message is a bare length-prefixed frame, and so is each answer."""
    creds = scram_user(mechanism)
    w = connect()
    assert w.call(HANDSHAKE, 0, mechanism=mechanism).error_code == 0
    client = ScramClient(creds.username, creds.password, mechanism)
    for send, receive in ((client.first_message, client.process_server_first_message),
                          (client.final_message, client.process_server_final_message)):
        token = send()
        w.sock.sendall(struct.pack(">i", len(token)) + token)
        receive(w.read_frame())
    assert w.call(METADATA, 12, topics=None, allow_auto_topic_creation=False).brokers

    bad = connect()
    bad.call(HANDSHAKE, 0, mechanism=mechanism)
    client = ScramClient(creds.username, "wrong", mechanism)
    token = client.first_message()
    bad.sock.sendall(struct.pack(">i", len(token)) + token)
    client.process_server_first_message(bad.read_frame())
    token = client.final_message()
    bad.sock.sendall(struct.pack(">i", len(token)) + token)
    assert bad.closed_by_peer()


@pytest.mark.parametrize("kind", ["wrong password", "unknown user", "no credential for this mechanism",
                                  "inactive user", "credential deleted"])
def test_bad_scram_credentials_fail_with_kafkas_message_and_close(connect, kind, caplog):
    creds = scram_user("SCRAM-SHA-256")
    if kind == "wrong password":
        creds = Credentials(creds.username, "wrong", creds.mechanism)
    elif kind == "unknown user":
        creds = Credentials("nobody", "whatever", creds.mechanism)
    elif kind == "no credential for this mechanism":
        creds = Credentials(creds.username, creds.password, "SCRAM-SHA-512")
    elif kind == "inactive user":
        get_user_model().objects.filter(username=creds.username).update(is_active=False)
    else:
        scram_credential_delete(username=creds.username, mechanism=creds.mechanism)
    w = connect()
    with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
        first, final = wire_login(w, creds)
        answer = final if kind == "wrong password" else first
        assert (answer.error_code, answer.error_message) == (sasl.SASL_AUTHENTICATION_FAILED, failure(creds.mechanism))
        assert w.closed_by_peer()
    assert "failed authentication" in caplog.text


def test_authzid_other_than_the_username(connect):
    creds = scram_user("SCRAM-SHA-256")
    w = connect()
    w.call(HANDSHAKE, 1, mechanism="SCRAM-SHA-256")
    r = w.call(AUTHENTICATE, 2, auth_bytes=f"n,a=admin,n={creds.username},r=abcdef".encode())
    assert (r.error_code, r.error_message) == (sasl.SASL_AUTHENTICATION_FAILED, sasl.OTHER_AUTHZID)


def test_a_connection_ends_when_its_scram_credential_changes(connect, monkeypatch):
    monkeypatch.setattr(sasl, "SESSION_RECHECK_S", 0)
    creds = scram_user("SCRAM-SHA-512")
    w = connect()
    wire_login(w, creds)
    assert w.call(METADATA, 12, topics=None, allow_auto_topic_creation=False).brokers
    scram_credential_set(username=creds.username, mechanism=creds.mechanism, password="another-one")
    w.send(METADATA, 12, topics=None, allow_auto_topic_creation=False)
    assert w.closed_by_peer()


# --- Real clients ------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_kafka(bootstrap, mechanism):
    creds = scram_user(mechanism, staff=True)
    assert confluent_create_produce_consume(bootstrap, creds, "ck-scram", 3) == [b"v0", b"v1", b"v2"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_kafka_reports_authentication_failure(bootstrap, mechanism):
    from confluent_kafka import KafkaError

    creds = scram_user(mechanism)
    error = confluent_login_error(bootstrap, Credentials(creds.username, "wrong", mechanism))
    assert error.code() == KafkaError._AUTHENTICATION and failure(mechanism) in error.str()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python(bootstrap, mechanism):
    from kafka import KafkaProducer

    topic_create(name="kp-scram", partitions=1)
    creds = scram_user(mechanism)
    producer = KafkaProducer(bootstrap_servers=bootstrap, **creds.kafka_python())
    try:
        for i in range(3):
            producer.send("kp-scram", value=b"v%d" % i).get(10)
    finally:
        producer.close()
    got = [r.value for r in kafka_python_consume_all(bootstrap, "kp-scram", 1, 3, **creds.kafka_python())]
    assert got == [b"v0", b"v1", b"v2"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_reports_authentication_failure(bootstrap, mechanism, caplog):
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    creds = scram_user(mechanism)
    with caplog.at_level(logging.ERROR, logger="kafka"), pytest.raises(KafkaTimeoutError):
        KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=1500,
                      **Credentials(creds.username, "wrong", mechanism).kafka_python())
    assert f"SaslAuthenticationFailedError: {failure(mechanism)}" in caplog.text


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_aiokafka(bootstrap, mechanism):
    topic_create(name="aio-scram", partitions=1)
    creds = scram_user(mechanism)
    assert asyncio.run(aiokafka_produce_consume(bootstrap, creds, "aio-scram", 3)) == [b"v0", b"v1", b"v2"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_aiokafka_reports_authentication_failure(bootstrap, mechanism, caplog):
    from aiokafka.errors import KafkaConnectionError

    creds = scram_user(mechanism)
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        asyncio.run(aiokafka_producer_start(bootstrap, Credentials(creds.username, "wrong", mechanism)))
    assert f"[Error 58] SaslAuthenticationFailed: {failure(mechanism)}" in caplog.text


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kcat(kcat, bootstrap, mechanism):
    topic_create(name="kc-scram", partitions=1)
    creds = scram_user(mechanism)
    assert kcat_produce_consume(kcat, bootstrap, creds, "kc-scram") == ["one", "two"]

    bad = Credentials(creds.username, "wrong", mechanism)
    done = subprocess.run([kcat, "-b", bootstrap, *bad.kcat(), "-L", "-m", "2"], timeout=30, capture_output=True)
    assert done.returncode != 0 and failure(mechanism) in done.stderr.decode()


# --- DescribeUserScramCredentials / AlterUserScramCredentials ----------------------------------


def test_kafka_python_admin_alters_and_describes_credentials_and_the_user_logs_in(bootstrap):
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion

    staff = scram_user("SCRAM-SHA-512", staff=True)
    user, _, _ = user_create()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **staff.kafka_python())
    try:
        assert admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion(user.username, "SCRAM-SHA-256", "set-by-admin", iterations=8192),
        ]) == {user.username: None}
        described = admin.describe_user_scram_credentials([user.username, "nobody"])
        assert described[user.username] == {"error": None, "credential_infos": [
            {"mechanism": ScramMechanism.SCRAM_SHA_256, "iterations": 8192}]}
        assert described["nobody"]["error"] == "Attempt to describe a user credential that does not exist: nobody"
        everyone = admin.describe_user_scram_credentials()
        assert set(everyone) == {staff.username, user.username}
        producer = KafkaProducer(bootstrap_servers=bootstrap,
                                 **Credentials(user.username, "set-by-admin", "SCRAM-SHA-256").kafka_python())
        producer.close()
        assert admin.alter_user_scram_credentials([
            UserScramCredentialDeletion(user.username, "SCRAM-SHA-256"),
        ]) == {user.username: None}
        assert not ScramCredential.objects.filter(user=user).exists()
    finally:
        admin.close()


def test_alter_answers_kafkas_error_codes(connect):
    """Each of ScramControlManager's refusals, per user; the accepted changes of the same request apply."""
    staff = scram_user("SCRAM-SHA-256", staff=True)
    alice, bob, carol = (user_create()[0].username for _ in range(3))
    scram_credential_set(username=carol, mechanism="SCRAM-SHA-256", password="pw")
    w = connect()
    wire_login(w, staff)

    def upsert(name, mechanism=1, iterations=4096):
        return {"name": name, "mechanism": mechanism, "iterations": iterations, "salt": b"salt",
                "salted_password": b"x" * 32}

    r = w.call(ALTER, 0, deletions=[{"name": bob, "mechanism": 1}, {"name": carol, "mechanism": 1}], upsertions=[
        upsert(alice, iterations=4095), upsert(bob), upsert("nobody"), upsert(staff.username, mechanism=3),
        upsert(staff.username + "x", iterations=16385), upsert(""), upsert(carol, 2),
    ])
    got = {x.user: (x.error_code, x.error_message) for x in r.results}
    assert got == {
        carol: (92, "A user credential cannot be altered twice in the same request"),
        bob: (91, "Attempt to delete a user credential that does not exist"),
        alice: (93, "Too few iterations"),
        "nobody": (91, "No console user called 'nobody': SCRAM credentials belong to console users."),
        staff.username: (33, "Unknown SCRAM mechanism"),
        staff.username + "x": (93, "Too many iterations"),
        "": (93, "Username must not be empty"),
    }
    r = w.call(ALTER, 0, deletions=[{"name": carol, "mechanism": 1}], upsertions=[upsert(alice, iterations=4096)])
    assert [(x.user, x.error_code) for x in r.results] == [(carol, 0), (alice, 0)]
    assert list(ScramCredential.objects.filter(user__username=alice).values_list("mechanism", "iterations")) == [
        (1, 4096)]
    assert not ScramCredential.objects.filter(user__username=carol).exists()
    r = w.call(DESCRIBE, 0, users=[{"name": alice}, {"name": alice}, {"name": carol}])
    assert [(x.user, x.error_code, x.error_message) for x in r.results] == [
        (alice, 92, f"Cannot describe SCRAM credentials for the same user twice in a single request: {alice}"),
        (carol, 91, f"Attempt to describe a user credential that does not exist: {carol}"),
    ]


def test_non_staff_may_describe_by_default_but_not_alter(connect):
    """The authorizer decides (DESCRIBE / ALTER on the cluster): with no ACL on the cluster, the
    default rule lets users describe (mechanisms and iterations, never salts or keys) and keeps
    changes to staff; an ACL denying DESCRIBE takes that away, as in Kafka."""
    from brokercore.security.acl import AclBinding, Operation, PatternType, Permission, ResourceType, acls_create

    creds = scram_user("SCRAM-SHA-256")
    w = connect()
    wire_login(w, creds)
    r = w.call(DESCRIBE, 0, users=None)
    assert r.error_code == 0 and creds.username in [x.user for x in r.results]
    acls_create(bindings=[AclBinding(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, f"User:{creds.username}",
                                     "*", Operation.DESCRIBE, Permission.DENY)])
    r = w.call(DESCRIBE, 0, users=None)
    assert (r.error_code, r.error_message, r.results) == (31, "Cluster authorization failed.", ())
    r = w.call(ALTER, 0, deletions=[{"name": creds.username, "mechanism": 1}], upsertions=[])
    assert [(x.user, x.error_code) for x in r.results] == [(creds.username, 31)]
    assert ScramCredential.objects.filter(user__username=creds.username).exists()


def test_confluent_kafka_admin_alters_and_describes_credentials(bootstrap):
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    staff = scram_user("SCRAM-SHA-256", staff=True)
    user, _, _ = user_create()
    admin = AdminClient({"bootstrap.servers": bootstrap, **staff.confluent()})
    upsert = UserScramCredentialUpsertion(user.username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 10000),
                                          b"from-confluent")
    for f in admin.alter_user_scram_credentials([upsert]).values():
        assert f.result(10) is None
    [description] = [f.result(10) for f in admin.describe_user_scram_credentials([user.username]).values()]
    assert [(i.mechanism, i.iterations) for i in description.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_512, 10000)]
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap,
                         **Credentials(user.username, "from-confluent", "SCRAM-SHA-512").confluent()})
    assert producer.list_topics(timeout=10).brokers
    [f] = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion(user.username, ScramMechanism.SCRAM_SHA_256)]).values()
    with pytest.raises(Exception, match="does not exist"):
        f.result(10)
