"""REST consumer instances belong to whoever created them: another user (with any token, by basic
auth or through the session) is told the instance does not exist, and cannot change it."""

import base64
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from brokercore.coordinator.read import committed_offsets_get, group_describe
from brokercore.log.append import records_append
from brokercore.types import RecordIn
from console.api.tokens import token_create
from console.models import RestConsumer
from tests.api.conftest import RestClient, instance_operations
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
BASE = "/rest/consumers"
INST = f"{BASE}/g/instances/c1"

OPERATIONS = instance_operations("orders")


def call(client, method, suffix, body=None, path=INST):
    data = "" if body is None else json.dumps(body)
    return client.generic(
        method, path + suffix, data, content_type=V2, HTTP_ACCEPT=BINARY if "records" in suffix else V2
    )


def basic(username, password):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def orders(db):
    topic_factory(name="orders", partitions=1)
    records_append(topic="orders", records=[RecordIn(key=None, value=b"v%d" % i) for i in range(3)])


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(username="alice", password="alice-password")


@pytest.fixture
def mallory(db):
    return get_user_model().objects.create_user(username="mallory", password="mallory-password", is_staff=True)


def created_by(client):
    r = client.generic(
        "POST", f"{BASE}/g", json.dumps({"name": "c1", "auto.offset.reset": "earliest"}), content_type=V2
    )
    assert r.status_code == 200, r.content
    return RestConsumer.objects.get(group_id="g", name="c1")


def test_another_user_gets_40403_for_every_operation_and_changes_nothing(orders, alice, mallory):
    owner = RestClient(token_create(user=alice, name="a")[1])
    inst = created_by(owner)
    assert inst.owner == alice
    assert call(owner, "POST", "/assignments", {"partitions": [{"topic": "orders", "partition": 0}]}).status_code == 204
    # Other users, even staff, with a token, basic auth with a password, or the console session.
    session = Client(HTTP_HOST="127.0.0.1")
    session.force_login(mallory)
    others = [
        RestClient(token_create(user=mallory, name="m")[1]),
        Client(HTTP_HOST="127.0.0.1", **basic("mallory", "mallory-password")),
        session,
    ]
    for other in others:
        for method, suffix, body in OPERATIONS:
            r = call(other, method, suffix, body)
            assert r.status_code == 404, (method, suffix, r.status_code, r.content)
            # The same answer as for an instance that does not exist: nothing to tell them apart.
            assert r.json() == {"error_code": 40403, "message": "Consumer instance not found."}
            missing = call(other, method, suffix, body, path=f"{BASE}/g/instances/nobody")
            assert missing.json() == r.json()
    inst.refresh_from_db()
    assert inst.assignment == [["orders", 0]] and inst.positions == {}
    assert committed_offsets_get(group_id="g", partitions=[("orders", 0)]) == {}
    # And the owner's instance still works as before.
    r = call(owner, "GET", "/records?timeout=0")
    assert r.status_code == 200 and len(r.json()) == 3


def test_the_owner_may_use_it_with_another_token_basic_auth_or_the_session(orders, alice):
    created_by(RestClient(token_create(user=alice, name="first")[1]))
    second = RestClient(token_create(user=alice, name="second")[1])
    assert call(second, "POST", "/subscription", {"topics": ["orders"]}).status_code == 204
    by_password = Client(HTTP_HOST="127.0.0.1", **basic("alice", "alice-password"))
    assert call(by_password, "GET", "/subscription").json() == {"topics": ["orders"]}
    session = Client(HTTP_HOST="127.0.0.1")
    session.force_login(alice)
    r = call(session, "GET", "/records?timeout=0")
    assert r.status_code == 200 and len(r.json()) == 3
    assert call(session, "DELETE", "").status_code == 204
    assert not RestConsumer.objects.exists()


def test_anonymous_instances_are_only_for_anonymous_callers(orders, alice, settings):
    settings.REST = {**settings.REST, "ALLOW_ANONYMOUS": True}
    anonymous = RestClient()
    inst = created_by(anonymous)
    assert inst.owner is None
    user = RestClient(token_create(user=alice, name="a")[1])
    for method, suffix, body in OPERATIONS:
        r = call(user, method, suffix, body)
        assert r.status_code == 404 and r.json()["error_code"] == 40403, (method, suffix, r.content)
    assert call(anonymous, "POST", "/subscription", {"topics": ["orders"]}).status_code == 204
    assert call(anonymous, "GET", "/subscription").json() == {"topics": ["orders"]}
    # A user's instance is not an anonymous caller's either.
    RestConsumer.objects.all().delete()
    created_by(user)
    assert call(anonymous, "GET", "/subscription").json()["error_code"] == 40403


def test_instances_of_two_users_in_one_group_rebalance_together_and_stay_apart(orders, alice, mallory):
    a = RestClient(token_create(user=alice, name="a")[1])
    m = RestClient(token_create(user=mallory, name="m")[1])
    for client, name in ((a, "ca"), (m, "cm")):
        r = client.generic("POST", f"{BASE}/shared", json.dumps({"name": name}), content_type=V2)
        assert r.status_code == 200
        assert (
            call(
                client, "POST", "/subscription", {"topics": ["orders"]}, path=f"{BASE}/shared/instances/{name}"
            ).status_code
            == 204
        )
    assert call(a, "GET", "/subscription", path=f"{BASE}/shared/instances/cm").status_code == 404
    assert call(m, "GET", "/subscription", path=f"{BASE}/shared/instances/ca").status_code == 404
    assert call(a, "GET", "/subscription", path=f"{BASE}/shared/instances/ca").status_code == 200


def test_deleting_a_user_closes_their_instances(orders, alice, mallory):
    a = RestClient(token_create(user=alice, name="a")[1])
    created_by(a)
    assert call(a, "POST", "/subscription", {"topics": ["orders"]}).status_code == 204
    r = call(a, "GET", "/records?timeout=0")
    assert r.status_code == 200
    m = RestClient(token_create(user=mallory, name="m")[1])
    r = m.generic("POST", f"{BASE}/g", json.dumps({"name": "kept"}), content_type=V2)
    assert r.status_code == 200
    [member] = group_describe(group_id="g").members
    assert member.member_id.startswith("c1-")
    alice.delete()
    assert list(RestConsumer.objects.values_list("name", flat=True)) == ["kept"]
    # Closed, not only forgotten: it left the group and its auto commit happened.
    assert group_describe(group_id="g").members == []
    assert committed_offsets_get(group_id="g", partitions=[("orders", 0)])[("orders", 0)][0] == 3


def test_two_users_may_each_have_an_instance_of_the_same_name_in_one_group(orders, alice, mallory, settings):
    """A taken name answers 40902 only to its owner: anyone else cannot learn it is taken."""
    a = RestClient(token_create(user=alice, name="a")[1])
    m = RestClient(token_create(user=mallory, name="m")[1])
    mine = created_by(a)
    r = m.generic("POST", f"{BASE}/g", json.dumps({"name": "c1"}), content_type=V2)
    assert r.status_code == 200, r.content
    theirs = RestConsumer.objects.get(group_id="g", name="c1", owner=mallory)
    assert mine.pk != theirs.pk
    assert call(a, "POST", "/subscription", {"topics": ["orders"]}).status_code == 204
    assert call(m, "GET", "/subscription").json() == {"topics": []}
    assert len(group_describe(group_id="g").members) == 1
    assert call(m, "POST", "/subscription", {"topics": ["orders"]}).status_code == 204
    assert len(group_describe(group_id="g").members) == 2
    # The owner's own second instance of that name is refused, as in Confluent's proxy.
    r = a.generic("POST", f"{BASE}/g", json.dumps({"name": "c1"}), content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40902
    assert call(a, "DELETE", "").status_code == 204
    assert call(m, "GET", "/subscription").json() == {"topics": ["orders"]}
    assert list(RestConsumer.objects.values_list("owner__username", flat=True)) == ["mallory"]
    # Anonymous instances share one namespace.
    settings.REST = {**settings.REST, "ALLOW_ANONYMOUS": True}
    anonymous = RestClient()
    assert anonymous.generic("POST", f"{BASE}/g", json.dumps({"name": "c1"}), content_type=V2).status_code == 200
    r = anonymous.generic("POST", f"{BASE}/g", json.dumps({"name": "c1"}), content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40902
