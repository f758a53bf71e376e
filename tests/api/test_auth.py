"""Who may call the REST proxy: tokens (Bearer and basic), passwords, the console session with its
CSRF check, anonymous callers, staff-only changes, the `tokens` command, and the error shape."""

import base64
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import resolve

from brokercore.cluster.read import cluster_id
from brokercore.topics.read import topic_describe, topic_names_list
from console.api import not_found
from console.api.tokens import token_create, token_revoke
from console.models import ApiToken
from tests.api.conftest import RestClient
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

# GET endpoints any authenticated caller may use, in Confluent's documented paths. The routers are
# written separately, so the tests use the first one that is routed.
PROBES = ["/rest/topics", "/rest/brokers", "/rest/v3/clusters"]


def routed(path: str) -> bool:
    return resolve(path).func is not not_found


@pytest.fixture
def probe():
    for path in PROBES:
        if routed(path):
            return path
    pytest.skip(f"none of {PROBES} is routed yet")


@pytest.fixture
def topics_path():
    """v3 topic creation (staff only), as Confluent documents it."""
    path = f"/rest/v3/clusters/{cluster_id()}/topics"
    if not routed(path):
        pytest.skip(f"{path} is not routed yet")
    return path


def assert_error(response, error_code: int):
    """The proxy's error shape, exactly: {"error_code", "message"}, status = the code's first three digits."""
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == error_code and isinstance(body["message"], str) and body["message"]
    assert response.status_code == int(str(error_code)[:3])
    assert response["Content-Type"].startswith("application/")


def basic(username: str, password: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def new_topic(name: str) -> dict:
    return {"topic_name": name, "partitions_count": 1, "replication_factor": 1}


# --- Tokens -------------------------------------------------------------------------------------


def test_bearer_token_works_and_records_its_use(probe, plain_user):
    token, raw = token_create(user=plain_user, name="ci")
    assert RestClient(raw).get(probe).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_token_is_refused(probe, plain_user):
    token, raw = token_create(user=plain_user, name="ci")
    token_revoke(token=token)
    response = RestClient(raw).get(probe)
    assert_error(response, 40101)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_refused(probe):
    assert_error(RestClient("kc_not-a-real-token").get(probe), 40101)
    assert_error(RestClient("something-else").get(probe), 40101)


def test_token_of_an_inactive_user_is_refused(probe, plain_user):
    _, raw = token_create(user=plain_user, name="ci")
    plain_user.is_active = False
    plain_user.save()
    assert_error(RestClient(raw).get(probe), 40101)


# --- Basic auth ---------------------------------------------------------------------------------


def test_basic_auth_with_the_token_as_password(probe, plain_user):
    _, raw = token_create(user=plain_user, name="ci")
    assert Client().get(probe, **basic("dev", raw)).status_code == 200
    # The username may be left out, as curl -u :token does; a wrong one is refused.
    assert Client().get(probe, **basic("", raw)).status_code == 200
    assert_error(Client().get(probe, **basic("ops", raw)), 40101)


def test_basic_auth_with_the_users_password(probe, plain_user):
    assert Client().get(probe, **basic("dev", "dev-password")).status_code == 200


def test_basic_auth_with_a_wrong_password_is_refused(probe, plain_user):
    assert_error(Client().get(probe, **basic("dev", "wrong")), 40101)
    assert_error(Client().get(probe, **basic("nobody", "dev-password")), 40101)


def test_basic_auth_of_an_inactive_user_is_refused(probe, plain_user):
    plain_user.is_active = False
    plain_user.save()
    assert_error(Client().get(probe, **basic("dev", "dev-password")), 40101)


# --- The console session ------------------------------------------------------------------------


def test_session_works_for_get(probe, plain_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(plain_user)
    assert client.get(probe).status_code == 200


def test_session_post_needs_the_csrf_token(topics_path, staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post(topics_path, json.dumps(new_topic("from-session")), content_type="application/json")
    assert_error(response, 40301)
    assert "from-session" not in topic_names_list()

    client.get("/tokens/")  # any console page sets the CSRF cookie, as the browser has it
    csrf = client.cookies["csrftoken"].value
    response = client.post(topics_path, json.dumps(new_topic("from-session")), content_type="application/json",
                           HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code in (200, 201), response.content
    assert "from-session" in topic_names_list()


@pytest.fixture
def produce_path():
    """v2 produce (any authenticated user), as Confluent documents it."""
    topic_factory(name="session-topic", partitions=1)
    path = "/rest/topics/session-topic"
    if not routed(path):
        pytest.skip(f"{path} is not routed yet")
    return path


def test_session_produce_needs_the_csrf_token(produce_path, plain_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(plain_user)
    body, kind = json.dumps({"records": [{"value": {"n": 1}}]}), "application/vnd.kafka.json.v2+json"
    assert_error(client.post(produce_path, body, content_type=kind), 40301)
    client.get("/tokens/")
    response = client.post(produce_path, body, content_type=kind, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 200, response.content
    assert topic_describe(name="session-topic").partitions[0].high_watermark == 1


def test_token_post_needs_no_csrf_token(topics_path, staff_token):
    client = RestClient(staff_token, enforce_csrf_checks=True)
    assert client.send("POST", topics_path, new_topic("from-token")).status_code in (200, 201)


# --- Anonymous callers --------------------------------------------------------------------------


def test_anonymous_is_refused_with_a_challenge(probe):
    response = Client().get(probe)
    assert_error(response, 40101)
    assert response["WWW-Authenticate"] == 'Bearer realm="kafka-console"'


def test_anonymous_post_is_401_not_a_csrf_error(topics_path):
    response = Client(enforce_csrf_checks=True).post(topics_path, json.dumps(new_topic("anon")), content_type="application/json")
    assert_error(response, 40101)


def test_anonymous_allowed_when_configured(probe, settings):
    settings.REST = {**settings.REST, "ALLOW_ANONYMOUS": True}
    assert Client().get(probe).status_code == 200


def test_anonymous_allowed_still_cannot_create_topics(topics_path, settings):
    settings.REST = {**settings.REST, "ALLOW_ANONYMOUS": True}
    assert_error(Client().post(topics_path, json.dumps(new_topic("anon")), content_type="application/json"), 40301)
    assert "anon" not in topic_names_list()


# --- Staff only changes -------------------------------------------------------------------------


def test_non_staff_token_may_read_but_not_create_topics(probe, topics_path, rest_user):
    assert rest_user.get(probe).status_code == 200
    response = rest_user.send("POST", topics_path, new_topic("not-yours"))
    assert_error(response, 40301)
    assert "staff" in response.json()["message"]
    assert "not-yours" not in topic_names_list()


def test_staff_token_creates_topics(topics_path, rest):
    assert rest.send("POST", topics_path, new_topic("ours")).status_code in (200, 201)
    assert "ours" in topic_names_list()


# --- The tokens command -------------------------------------------------------------------------


def tokens(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("tokens", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_create_prints_the_token_once_on_stdout(plain_user):
    out, err = tokens("create", "dev", "--name", "billing")
    raw = out.strip()
    assert raw.startswith("kc_") and "\n" not in raw
    assert raw not in err and "only time" in err
    token = ApiToken.objects.get()
    assert token.user == plain_user and token.name == "billing" and raw.startswith(token.prefix)


def test_command_token_authenticates(probe, plain_user):
    raw = tokens("create", "dev", "--name", "billing")[0].strip()
    assert RestClient(raw).get(probe).status_code == 200


def test_command_list_shows_prefixes_not_tokens(plain_user, staff_user):
    raw_dev = tokens("create", "dev", "--name", "billing")[0].strip()
    raw_ops = tokens("create", "ops", "--name", "deploys")[0].strip()
    out = tokens("list")[0]
    assert raw_dev not in out and raw_ops not in out
    for t in ApiToken.objects.all():
        assert f"{t.prefix}…" in out
    assert "billing" in out and "deploys" in out and "never" in out
    only_dev = tokens("list", "dev")[0]
    assert "billing" in only_dev and "deploys" not in only_dev


def test_command_revoke_by_id(probe, plain_user):
    raw = tokens("create", "dev", "--name", "billing")[0].strip()
    token = ApiToken.objects.get()
    assert "Revoked" in tokens("revoke", str(token.pk))[0]
    assert_error(RestClient(raw).get(probe), 40101)
    assert "revoked" in tokens("list")[0]


def test_command_revoke_by_prefix(plain_user):
    tokens("create", "dev", "--name", "billing")
    token = ApiToken.objects.get()
    # As `list` prints it, ellipsis included.
    tokens("revoke", f"{token.prefix}…")
    token.refresh_from_db()
    assert not token.active


def test_command_revoke_needs_exactly_one_match(plain_user):
    tokens("create", "dev", "--name", "a")
    tokens("create", "dev", "--name", "b")
    with pytest.raises(CommandError, match="2 do"):
        tokens("revoke", "kc_")
    with pytest.raises(CommandError, match="0 do"):
        tokens("revoke", "99999")
    assert all(t.active for t in ApiToken.objects.all())


def test_command_refuses_an_unknown_user_and_an_empty_name(plain_user):
    with pytest.raises(CommandError, match="No user called 'nobody'"):
        tokens("create", "nobody", "--name", "x")
    with pytest.raises(CommandError, match="needs a name"):
        tokens("create", "dev", "--name", "  ")
    assert not ApiToken.objects.exists()


def test_command_error_exits_non_zero_with_one_line(db_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": db_url, "STATE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "manage.py", "tokens", "create", "nobody", "--name", "x"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.strip() == "CommandError: No user called 'nobody'."


# --- Paths, docs and the error shape ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/rest/nowhere", "/rest/v3/nothing/here", "/rest/"])
def test_unknown_rest_path_is_a_json_404(rest, path):
    response = rest.get(path)
    assert_error(response, 404)
    assert "/rest/docs" in response.json()["message"]


def test_unknown_rest_path_is_json_even_for_anonymous_callers():
    assert_error(Client().post("/rest/nowhere", "{}", content_type="application/json"), 404)


@pytest.mark.parametrize("path", ["/rest/docs", "/rest/openapi.json"])
def test_docs_need_login(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_docs_work_logged_in(plain_user):
    client = Client()
    client.force_login(plain_user)
    schema = client.get("/rest/openapi.json").json()
    assert schema["openapi"].startswith("3.") and schema["info"]["title"] == "Kafka console REST proxy"
    page = client.get("/rest/docs")
    assert page.status_code == 200 and b"swagger" in page.content.lower()


def test_docs_need_a_login_not_a_token(staff_token):
    # The docs page is for people in a browser; a token does not open it.
    assert RestClient(staff_token).get("/rest/openapi.json").status_code == 302


def test_user_model_is_the_one_tokens_point_at():
    assert ApiToken._meta.get_field("user").related_model is get_user_model()
