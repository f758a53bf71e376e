"""RFC 5802/7677 SCRAM as Kafka's ScramSaslServer runs it: RFC 7677's worked example, and each
way an exchange fails (with Kafka's messages)."""

import base64

import pytest
from kafka.net.sasl.scram import ScramClient

from brokercore.security import scram
from brokercore.security.scram import (
    GENERIC_FAILURE,
    OTHER_AUTHZID,
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    Credential,
    ScramFailure,
    ScramServer,
    State,
    credential_generate,
    salted_password,
    username_from_saslname,
)


def test_rfc7677_example(monkeypatch):
    """RFC 7677 section 3: user "user", password "pencil"; the server's answers match the RFC's."""
    monkeypatch.setattr(scram, "server_nonce", lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    salted = salted_password(SCRAM_SHA_256, "pencil", salt, 4096)
    credential = scram.credential_from_salted_password(SCRAM_SHA_256, salted, salt, 4096)
    server = ScramServer(SCRAM_SHA_256)
    first = server.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", lambda name: ("the user", credential))
    assert first == b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = server.final(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                         b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.state is State.COMPLETE and server.user == "the user"


@pytest.mark.parametrize("mechanism", [SCRAM_SHA_256, SCRAM_SHA_512])
def test_kafka_pythons_client_logs_in_and_checks_the_server_signature(mechanism):
    credential = credential_generate(mechanism, "s3cret", 4096)
    client = ScramClient("alice", "s3cret", mechanism.name)
    server = ScramServer(mechanism)
    client.process_server_first_message(server.first(client.first_message(), lambda n: (n, credential)))
    client.process_server_final_message(server.final(client.final_message()))  # raises on a wrong signature
    assert server.state is State.COMPLETE


def _fail(server: ScramServer, step) -> ScramFailure:
    with pytest.raises(ScramFailure) as e:
        step()
    assert server.state is State.FAILED
    return e.value


@pytest.mark.parametrize("message, reason", [
    (b"p=tls-unique,,n=alice,r=abc", "invalid SCRAM client-first message format"),  # channel binding: not offered
    (b"n,,n=alice", "invalid SCRAM client-first message format"),  # no nonce
    (b"n,,n=al=3Xice,r=abc", "invalid SCRAM client-first message format"),
    (b"\xff", "client-first message is not UTF-8"),
])
def test_malformed_client_first_gets_the_generic_message(message, reason):
    server = ScramServer(SCRAM_SHA_256)
    failure = _fail(server, lambda: server.first(message, lambda n: pytest.fail("no lookup for a bad message")))
    assert failure.message == GENERIC_FAILURE.format("SCRAM-SHA-256")
    assert failure.reason == reason


def test_unknown_user_and_wrong_password_are_told_the_same():
    credential = credential_generate(SCRAM_SHA_512, "right", 4096)
    server = ScramServer(SCRAM_SHA_512)
    unknown = _fail(server, lambda: server.first(b"n,,n=nobody,r=abc", lambda n: None))
    client = ScramClient("alice", "wrong", "SCRAM-SHA-512")
    server = ScramServer(SCRAM_SHA_512)
    client.process_server_first_message(server.first(client.first_message(), lambda n: (n, credential)))
    wrong = _fail(server, lambda: server.final(client.final_message()))
    assert unknown.message == wrong.message == GENERIC_FAILURE.format("SCRAM-SHA-512")
    assert "invalid user credentials" in unknown.reason and wrong.reason == "invalid client credentials"


def test_the_final_nonce_may_repeat_the_clients_as_older_librdkafka_sends_it():
    """Kafka 3.8.1-3.9 accept a final nonce that ends with the combined one (librdkafka < 2.6.1)."""
    credential = credential_generate(SCRAM_SHA_256, "pw", 4096)
    client = ScramClient("alice", "pw", "SCRAM-SHA-256")
    client_nonce = client.nonce
    server = ScramServer(SCRAM_SHA_256)
    client.auth_message = b""
    first = client.first_message()
    server_first = server.first(first, lambda n: (n, credential))
    client.process_server_first_message(server_first)
    # Recompute the proof over the nonce librdkafka sends: its own nonce, then the combined one.
    client.nonce = client_nonce + client.nonce
    client.auth_message = first[3:] + b"," + server_first + b",c=biws,r=" + client.nonce
    client.create_salted_password(base64.b64decode(server_first.split(b",s=")[1].split(b",")[0]), 4096)
    client.client_key = client.hmac(client.salted_password, b"Client Key")
    client.stored_key = client.hashfunc(client.client_key).digest()
    client.client_signature = client.hmac(client.stored_key, client.auth_message)
    client.client_proof = bytes(a ^ b for a, b in zip(client.client_key, client.client_signature))
    assert server.final(client.final_message()).startswith(b"v=")


def test_the_final_nonce_must_end_with_the_servers():
    credential = credential_generate(SCRAM_SHA_256, "pw", 4096)
    client = ScramClient("alice", "pw", "SCRAM-SHA-256")
    server = ScramServer(SCRAM_SHA_256)
    client.process_server_first_message(server.first(client.first_message(), lambda n: (n, credential)))
    client.nonce = client.nonce[:-1] + b"X"  # the client's proof would be for another nonce
    failure = _fail(server, lambda: server.final(client.final_message()))
    assert failure.reason == "invalid client nonce in the final client message"


def test_authzid_other_than_the_username_is_refused_with_kafkas_message():
    credential = credential_generate(SCRAM_SHA_256, "pw", 4096)
    server = ScramServer(SCRAM_SHA_256)
    assert server.first(b"n,a=alice,n=alice,r=abc", lambda n: (n, credential)).startswith(b"r=abc")
    server = ScramServer(SCRAM_SHA_256)
    failure = _fail(server, lambda: server.first(b"n,a=bob,n=alice,r=abc", lambda n: (n, credential)))
    assert failure.message == OTHER_AUTHZID


def test_a_stored_credential_below_the_minimum_iterations_is_refused():
    weak = credential_generate(SCRAM_SHA_256, "pw", 1000)
    server = ScramServer(SCRAM_SHA_256)
    failure = _fail(server, lambda: server.first(b"n,,n=alice,r=abc", lambda n: (n, weak)))
    assert failure.reason == "iterations 1000 is less than the minimum 4096 for SCRAM-SHA-256"


def test_usernames_are_unescaped_as_rfc_5802_says():
    assert username_from_saslname("a=2Cb=3Dc") == "a,b=c"
    assert username_from_saslname("a=3Xb") is None
    server = ScramServer(SCRAM_SHA_256)
    seen = []
    server.first(b"n,,n=a=2Cb,r=abc", lambda n: seen.append(n) or (n, credential_generate(SCRAM_SHA_256, "p", 4096)))
    assert seen == ["a,b"]


def test_a_message_out_of_turn_fails():
    server = ScramServer(SCRAM_SHA_256)
    _fail(server, lambda: server.final(b"c=biws,r=abc,p=AAAA"))


def test_the_credential_keeps_no_password():
    c = credential_generate(SCRAM_SHA_256, "hunter2", 4096)
    assert isinstance(c, Credential) and b"hunter2" not in c.salt + c.stored_key + c.server_key
    assert len(c.stored_key) == len(c.server_key) == 32
    assert credential_generate(SCRAM_SHA_256, "hunter2", 4096).salt != c.salt
