"""The database unavailable: the REST proxy answers 503 with a Kafka-style JSON error, the console a
503 page, never a traceback or a hung request; and everything recovers by itself when it returns.

The first tests make one query fail in process (both backends); the last stops a PostgreSQL
cluster of the test's own under a running server, with REST, console and Kafka clients.
"""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from brokercore.topics import read as topics_read
from console.api import v2_topics
from console.unavailable import REST_DATABASE_UNAVAILABLE, server_error
from tests.api.conftest import RestClient
from tests.conftest import ON_POSTGRES
from tests.reliability.checks import LOAD_USER
from tests.reliability.conftest import load_proc, report
from tests.serve import ServerProcess

V2 = "application/vnd.kafka.v2+json"
OUTAGE_S = 4


def _fail(*args, **kwargs):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


@pytest.fixture
def staff_token(db):
    from django.contrib.auth import get_user_model

    from console.api.tokens import token_create

    user = get_user_model().objects.create_user(username="ops", password="ops-password", is_staff=True)
    return token_create(user=user, name="tests")[1]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_rest_answers_503_with_a_kafka_style_error(staff_token, monkeypatch, error):
    monkeypatch.setattr(v2_topics, "topic_names_list", lambda: (_ for _ in ()).throw(error("connection already closed")))
    response = RestClient(staff_token).get("/rest/topics", HTTP_ACCEPT=V2)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["error_code"] == REST_DATABASE_UNAVAILABLE == 50301
    assert "unavailable" in body["message"] and "Traceback" not in response.content.decode()


def _driver_errors():
    """A lost connection as the driver raises it, unwrapped by Django: raw psycopg cursors (the
    PostgreSQL append) raise these."""
    import psycopg

    return [psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
            psycopg.OperationalError("server closed the connection unexpectedly"),
            psycopg.InterfaceError("the connection is closed")]


@pytest.mark.parametrize("error", _driver_errors(), ids=lambda e: type(e).__name__)
def test_a_lost_connection_raised_by_the_driver_is_503_too(staff_token, client, django_user_model, monkeypatch, error):
    def lost(*args, **kwargs):
        raise error

    monkeypatch.setattr(v2_topics, "records_append", lost)
    response = RestClient(staff_token).send("POST", "/rest/topics/orders", {"records": [{"value": "eA=="}]},
                                            content_type="application/vnd.kafka.binary.v2+json", accept=V2)
    assert response.status_code == 503 and response.json()["error_code"] == REST_DATABASE_UNAVAILABLE
    monkeypatch.setattr(topics_read, "topic_list", lost)
    client.force_login(django_user_model.objects.create_user("viewer", password="pw-viewer-123"))
    response = client.get("/topics/")
    assert response.status_code == 503 and "Database unavailable" in response.content.decode()


@pytest.mark.postgres
def test_a_backend_terminated_during_a_rest_produce_is_503_and_the_next_request_works(
    transactional_db, staff_token, monkeypatch
):
    """pg_terminate_backend on the request's connection just before the append's statement (not
    in a test transaction: the connection is replaced, as between a server's requests)."""
    import psycopg
    from django.db import close_old_connections, connection

    from brokercore.log.storage import postgres
    from tests.factories import topic_factory

    topic_factory(name="orders", partitions=1)
    enable = postgres._pg_binary_arrays_enable
    terminated = []

    def terminate_then_enable(conn):
        if not terminated:
            db = connection.settings_dict
            with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                                 dbname=db["NAME"], autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
            terminated.append(conn.info.backend_pid)
        enable(conn)

    monkeypatch.setattr(postgres, "_pg_binary_arrays_enable", terminate_then_enable)
    rest = RestClient(staff_token)
    body = {"records": [{"value": "eA=="}]}
    response = rest.send("POST", "/rest/topics/orders", body, content_type="application/vnd.kafka.binary.v2+json", accept=V2)
    assert terminated and response.status_code == 503, response.content
    assert response.json()["error_code"] == REST_DATABASE_UNAVAILABLE and response["Retry-After"] == "5"
    # What the server's request thread does after each request (console/asgi_http.py); the test
    # client disconnects it from the request signals.
    close_old_connections()
    response = rest.send("POST", "/rest/topics/orders", body, content_type="application/vnd.kafka.binary.v2+json", accept=V2)
    assert response.status_code == 200, response.content


def test_console_page_answers_a_friendly_503(client, django_user_model, monkeypatch):
    client.force_login(django_user_model.objects.create_user("viewer", password="pw-viewer-123"))
    monkeypatch.setattr(topics_read, "topic_list", _fail)
    response = client.get("/topics/")
    assert response.status_code == 503
    html = response.content.decode()
    assert "Database unavailable" in html and 'http-equiv="refresh"' in html
    assert "Traceback" not in html and "5432" not in html  # no internals shown


def test_an_outage_outside_a_view_is_a_503_too(db):
    """handler500 sees the exception (e.g. a middleware reading the session) and answers 503."""
    for path, content_type in (("/topics/", "text/html"), ("/rest/topics", "application/json")):
        request = RequestFactory().get(path)
        try:
            _fail()
        except OperationalError:
            response = server_error(request)
        assert response.status_code == 503 and response["Content-Type"].startswith(content_type)


def test_other_errors_stay_500(db):
    request = RequestFactory().get("/rest/topics")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500 and json.loads(response.content)["error_code"] == 50001


# --- A real outage ----------------------------------------------------------------------------------

class Browser:
    """A logged-in console session over HTTP (cookies, CSRF), with urllib."""

    def __init__(self, base: str) -> None:
        self.base, self.jar = base, CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, *, headers: dict | None = None, timeout: float = 15) -> tuple[int, str, float]:
        began = time.monotonic()
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=timeout) as r:
                return r.status, r.read().decode(), time.monotonic() - began
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), time.monotonic() - began

    def login(self, username: str, password: str) -> None:
        self.get("/login/")
        csrf = next(c.value for c in self.jar if c.name == "csrftoken")
        data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf}).encode()
        request = urllib.request.Request(self.base + "/login/", data=data, headers={"Referer": self.base + "/login/"})
        with self.opener.open(request, timeout=15) as r:
            assert "/login/" not in r.url, "login failed"


def _kafka_producer(bootstrap: str, token: str):
    from confluent_kafka import Producer

    # SASL/PLAIN as the load user: a reconnect during the outage cannot authenticate (the token is
    # checked in the database) and is closed like any other request that meets the outage.
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "message.timeout.ms": 60_000, "reconnect.backoff.max.ms": 500,
                     "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                     "sasl.username": LOAD_USER, "sasl.password": token})


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="runs once, in the SQLite pass (it starts a PostgreSQL cluster of its own)")
def test_a_postgresql_outage_gives_clear_errors_and_recovers_by_itself(own_postgres, load_dir):
    pytest.importorskip("confluent_kafka")
    cluster, url = own_postgres
    token = load_proc(url, load_dir, "setup", "--topic", "orders", "--partitions", "2")["token"]
    # A short connect timeout: with the server stopped connects are refused at once anyway; the
    # timeout bounds the case of a server that does not answer at all.
    server = ServerProcess(url, load_dir, kafka=True, env={"DB_CONNECT_TIMEOUT_S": "3"})
    rest_headers = {"Authorization": f"Bearer {token}", "Accept": V2}
    try:
        server.start()
        browser = Browser(server.base)
        browser.login("reliability", "reliability-pw")
        assert browser.get("/topics/")[0] == 200
        assert browser.get("/rest/topics", headers=rest_headers)[0] == 200
        producer = _kafka_producer(server.bootstrap, token)
        acked, errors = [], []

        def delivered(err, msg):
            (errors if err else acked).append(msg.key())

        producer.produce("orders", key=b"before", value=b"x", on_delivery=delivered)
        assert producer.flush(30) == 0 and acked == [b"before"]

        cluster.stop()
        stopped_at = time.monotonic()
        # While it is down: clear answers, quickly, from every surface.
        status, body, took_rest = browser.get("/rest/topics", headers=rest_headers)
        assert status == 503 and json.loads(body)["error_code"] == 50301, body
        status, page, took_page = browser.get("/topics/")
        assert status == 503 and "Database unavailable" in page and "Traceback" not in page
        status, partial, _ = browser.get("/topics/", headers={"HX-Request": "true"})
        assert status == 503
        assert max(took_rest, took_page) < 5, (took_rest, took_page)
        producer.produce("orders", key=b"during", value=b"x", on_delivery=delivered)
        producer.poll(2)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))  # past node heartbeats and retries
        assert server.proc.poll() is None, "the server died with its database"

        cluster.start()
        restarted_at = time.monotonic()
        # Back by itself: the idempotent Kafka producer's retried record lands once, REST and
        # pages answer 200 on every pooled request thread (their old connections are replaced).
        assert producer.flush(60) == 0 and errors == [] and sorted(acked) == [b"before", b"during"]
        recovered = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if browser.get("/rest/topics", headers=rest_headers)[0] == 200:
                recovered = time.monotonic() - restarted_at
                break
            time.sleep(0.2)
        assert recovered is not None, "REST did not recover"
        statuses = [browser.get("/topics/")[0] for _ in range(40)] + [
            browser.get("/rest/topics", headers=rest_headers)[0] for _ in range(40)]
        assert set(statuses) == {200}, statuses
        log = load_proc(url, load_dir, "verify", "--topic", "orders")
        keys = sorted(k for p in log["partitions"].values() for _, k in p["records"])
        assert keys == ["before", "during"]
    finally:
        server.stop()
    report("database unavailable (PostgreSQL stopped)", {
        "rest_503_after_s": round(took_rest, 3), "page_503_after_s": round(took_page, 3),
        "outage_s": round(restarted_at - stopped_at, 2), "rest_recovered_after_s": round(recovered, 2),
    }, database="postgresql (own cluster)")
