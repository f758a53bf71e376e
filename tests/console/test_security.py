"""Security settings and checks: production settings pass Django's deploy check, secrets only from
the environment, CSRF on forms and HTMX requests, and the websocket's session and origin checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from console.asgi import application
from tests.factories import topic_factory

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """manage.py in a child process with only these variables (and PATH), as a server starts."""
    environment = {"PATH": os.environ["PATH"], "STATE_DIR": str(tmp_path), **env}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=120)


PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "kafka.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}


def test_deploy_check_passes_with_the_production_variables(tmp_path):
    out = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **PRODUCTION_ENV)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout
    # Production never writes (or reads) a generated key file.
    assert not (tmp_path / "secret_key").exists()


def test_deploy_check_fails_without_production(tmp_path):
    # The development defaults are what the check is there to catch.
    out = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path)
    assert out.returncode != 0
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in out.stderr + out.stdout


@pytest.mark.parametrize("change, message", [
    ({"SECRET_KEY": None}, "PRODUCTION=1 needs SECRET_KEY in the environment"),
    ({"DEBUG": "1"}, "PRODUCTION=1 and DEBUG=1 cannot go together"),
    ({"REST_ALLOW_ANONYMOUS": "1"}, "PRODUCTION=1 refuses REST_ALLOW_ANONYMOUS=1"),
    ({"BROKER_KAFKA_ALLOW_ANONYMOUS": "1"}, "PRODUCTION=1 refuses BROKER_KAFKA_ALLOW_ANONYMOUS=1"),
    ({"TEST_FAST_PASSWORD_HASHER": "1"}, "TEST_FAST_PASSWORD_HASHER is for the test suite only"),
])
def test_production_refuses_to_start_when_misconfigured(tmp_path, change, message):
    env = {k: v for k, v in {**PRODUCTION_ENV, **change}.items() if v is not None}
    out = manage("check", tmp_path=tmp_path, **env)
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and message in out.stderr


def test_production_settings_values(tmp_path):
    code = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
            "s.SECURE_PROXY_SSL_HEADER, s.DEBUG)")
    out = manage("shell", "--no-imports", "-c", code, tmp_path=tmp_path, **PRODUCTION_ENV, SECURE_HSTS_SECONDS="600")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "600", "True", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')", "False"]


def test_development_key_is_generated_once_into_state_dir(tmp_path):
    code = "from django.conf import settings as s; print(s.SECRET_KEY)"
    first = manage("shell", "--no-imports", "-c", code, tmp_path=tmp_path)
    second = manage("shell", "--no-imports", "-c", code, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").read_text().strip() == first.stdout.strip()
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_state_dir_and_its_key_are_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT)
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "ls-files", "var"], cwd=ROOT, capture_output=True, text=True)
    assert tracked.stdout.strip() == ""


# --- CSRF -------------------------------------------------------------------------------------


def _csrf_client(user) -> tuple[Client, str]:
    """A client that enforces CSRF, logged in, with the token a page it opened carries."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/new-topic/")
    assert page.status_code == 200
    return client, page.cookies["csrftoken"].value


@pytest.mark.django_db
def test_form_post_without_csrf_token_is_refused(staff):
    client, token = _csrf_client(staff)
    data = {"name": "orders", "partitions": 1, "replication_factor": 1}
    assert client.post("/new-topic/", data).status_code == 403
    response = client.post("/new-topic/", {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302, response.content[:500]


@pytest.mark.django_db
def test_htmx_request_needs_the_csrf_header(staff):
    topic_factory(name="orders", partitions=1)
    client, token = _csrf_client(staff)
    hx = {"HTTP_HX_REQUEST": "true"}
    assert client.post("/topics/orders/produce/", {"value": "v"}, **hx).status_code == 403
    # What the page does: the token in <body hx-headers> goes out as X-CSRFToken.
    response = client.post("/topics/orders/produce/", {"value": "v"}, HTTP_X_CSRFTOKEN=token, **hx)
    assert response.status_code == 200, response.content[:500]


@pytest.mark.django_db
def test_every_page_puts_the_csrf_token_on_htmx_requests(staff, client):
    client.force_login(staff)
    body = client.get("/").content.decode()
    assert "hx-headers" in body and "X-CSRFToken" in body


@pytest.mark.django_db
def test_logout_is_a_csrf_protected_post(staff):
    client, token = _csrf_client(staff)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 403
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302


# --- Websocket: a session and an allowed origin -------------------------------------------------


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/live/?s=cluster", headers=headers)
    connected, code = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected, code


@pytest.mark.django_db(transaction=True)
async def test_websocket_needs_a_session_and_an_allowed_origin(viewer):
    from channels.db import database_sync_to_async
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    cookie = await database_sync_to_async(_session_cookie)(viewer)
    own = (b"origin", b"http://localhost:8000")
    assert (await _connect([own, (b"cookie", cookie)]))[0]
    # A page on another site cannot use the viewer's session (cross-site websocket hijacking).
    assert not (await _connect([(b"origin", b"http://evil.example"), (b"cookie", cookie)]))[0]
    assert not (await _connect([(b"origin", b"http://localhost.evil.example"), (b"cookie", cookie)]))[0]
    assert not (await _connect([(b"cookie", cookie)]))[0]  # no Origin at all
    # The right origin without a session: closed with 4401.
    assert await _connect([own]) == (False, 4401)
    # The session lookups ran on channels' database thread: close its connection, or PostgreSQL
    # cannot drop the test database.
    await database_sync_to_async(connections.close_all)()
