"""Who may reach what: every URL pattern, REST operation, websocket route and Kafka API, anonymous and non-staff.

Each route is classified in a table below, and the test fails when a route exists that the table
does not name: a new page or endpoint cannot ship without someone deciding who may use it. The
objects the routes name (a topic, a group with a member, a lab with a consumer, a token, a REST
consumer instance) exist, so a read page answers 200 rather than 404.
"""

import json
import re
from urllib.parse import quote

import pytest
from django.contrib.auth.views import redirect_to_login
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from brokercore.cluster.read import cluster_id
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.server_members import group_join
from brokercore.topics.read import topic_describe, topic_names_list
from console.api import api
from console.api.tokens import token_create
from console.lab import runner
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db

# Console routes, by URL name.
READ = "login required: anonymous to the login page, any user may look"
STAFF = "staff only: anonymous to the login page, other users 403"
OWN = "login required, any user, for their own things (API tokens, SCRAM credentials)"
PUBLIC = "anyone (logging in and out)"
ADMIN = "Django's admin: anyone but staff to the admin's login page"
ADMIN_PUBLIC = "the admin's own login and logout"
REST = "a REST operation: classified in REST_OPERATIONS by method and path"
REST_NOT_FOUND = "the REST proxy's JSON 404 for paths it does not have"

CONSOLE: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (class, methods the route answers)
    "overview": (READ, ("GET",)),
    "broker_list": (READ, ("GET",)),
    "topic_list": (READ, ("GET",)),
    "topic_detail": (READ, ("GET",)),
    "messages": (READ, ("GET",)),
    "messages_tail": (READ, ("GET",)),
    "group_list": (READ, ("GET",)),
    "group_detail": (READ, ("GET",)),
    "lab": (READ, ("GET",)),
    "lab_detail": (READ, ("GET",)),
    "token_list": (READ, ("GET",)),
    "acl_list": (READ, ("GET",)),  # DESCRIBE on the cluster, which the default rule grants
    "acl_check": (READ, ("GET",)),
    "topic_create": (STAFF, ("GET", "POST")),
    "topic_name_check": (STAFF, ("GET",)),
    "topic_configs": (STAFF, ("POST",)),
    "topic_partitions_add": (STAFF, ("GET", "POST")),
    "topic_partitions_preview": (STAFF, ("GET",)),
    "topic_produce": (STAFF, ("POST",)),
    "topic_delete": (STAFF, ("GET", "POST")),
    "topic_purge": (STAFF, ("GET", "POST")),
    "group_reset_offsets": (STAFF, ("GET", "POST")),
    "group_delete": (STAFF, ("GET", "POST")),
    "lab_create": (STAFF, ("POST",)),
    "lab_preset": (STAFF, ("POST",)),
    "lab_consumer_add": (STAFF, ("POST",)),
    "lab_consumer_stop": (STAFF, ("POST",)),
    "lab_consumer_crash": (STAFF, ("POST",)),
    "lab_partitions_add": (STAFF, ("POST",)),
    "lab_producer_start": (STAFF, ("POST",)),
    "lab_producer_stop": (STAFF, ("POST",)),
    "lab_assignor_set": (STAFF, ("POST",)),
    "lab_stop": (STAFF, ("POST",)),
    "acl_new": (STAFF, ("POST",)),
    "acl_remove": (STAFF, ("POST",)),
    "token_new": (OWN, ("POST",)),
    "token_revoke": (OWN, ("POST",)),
    "scram_set": (OWN, ("POST",)),
    "scram_delete": (OWN, ("POST",)),
    "login": (PUBLIC, ("GET",)),
    "logout": (PUBLIC, ("POST",)),
    # The OpenAPI document and its page are for people who may use the API.
    "rest:openapi-json": (READ, ("GET",)),
    "rest:openapi-view": (READ, ("GET",)),
    "admin:login": (ADMIN_PUBLIC, ("GET",)),
    "admin:logout": (ADMIN_PUBLIC, ("POST",)),
}

# REST operations, by OpenAPI path and method, as they are without ACLs (the default
# BROKER_ACL_NO_MATCH): AUTH = any authenticated caller, STAFF_ONLY = staff (what ACLs change:
# tests/api/test_acls.py).
AUTH, STAFF_ONLY = "authenticated", "staff"
V2C = "/rest/consumers/{group}/instances/{instance}"
V3 = "/rest/v3/clusters/{cluster_id}"
V3T = V3 + "/topics/{topic_name}"
V3G = V3 + "/consumer-groups/{consumer_group_id}"
REST_OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/rest/topics"): AUTH,
    ("GET", "/rest/topics/{topic}"): AUTH,
    ("POST", "/rest/topics/{topic}"): AUTH,
    ("GET", "/rest/topics/{topic}/partitions"): AUTH,
    ("GET", "/rest/topics/{topic}/partitions/{partition}"): AUTH,
    ("POST", "/rest/topics/{topic}/partitions/{partition}"): AUTH,
    ("GET", "/rest/topics/{topic}/partitions/{partition}/offsets"): AUTH,
    ("GET", "/rest/brokers"): AUTH,
    ("POST", "/rest/consumers/{group}"): AUTH,
    ("DELETE", V2C): AUTH,
    ("POST", V2C + "/subscription"): AUTH,
    ("GET", V2C + "/subscription"): AUTH,
    ("DELETE", V2C + "/subscription"): AUTH,
    ("POST", V2C + "/assignments"): AUTH,
    ("GET", V2C + "/assignments"): AUTH,
    ("POST", V2C + "/positions"): AUTH,
    ("POST", V2C + "/positions/beginning"): AUTH,
    ("POST", V2C + "/positions/end"): AUTH,
    ("POST", V2C + "/offsets"): AUTH,
    ("GET", V2C + "/offsets"): AUTH,
    ("GET", V2C + "/records"): AUTH,
    ("GET", "/rest/v3/clusters"): AUTH,
    ("GET", V3): AUTH,
    ("GET", V3 + "/topics"): AUTH,
    ("POST", V3 + "/topics"): STAFF_ONLY,
    ("GET", V3T): AUTH,
    ("PATCH", V3T): STAFF_ONLY,
    ("DELETE", V3T): STAFF_ONLY,
    ("GET", V3T + "/partitions"): AUTH,
    ("GET", V3T + "/partitions/{partition_id}"): AUTH,
    ("GET", V3T + "/partitions/{partition_id}/replicas"): AUTH,
    ("GET", V3T + "/partitions/{partition_id}/replicas/{broker_id}"): AUTH,
    ("GET", V3T + "/configs"): AUTH,
    ("GET", V3T + "/configs/{name}"): AUTH,
    ("PUT", V3T + "/configs/{name}"): STAFF_ONLY,
    ("DELETE", V3T + "/configs/{name}"): STAFF_ONLY,
    ("POST", V3T + "/configs:alter"): STAFF_ONLY,
    ("POST", V3T + "/records"): AUTH,
    ("POST", V3T + "/records:batch"): AUTH,
    ("GET", V3 + "/consumer-groups"): AUTH,
    ("GET", V3G): AUTH,
    ("GET", V3G + "/consumers"): AUTH,
    ("GET", V3G + "/consumers/{consumer_id}"): AUTH,
    ("GET", V3G + "/consumers/{consumer_id}/assignments"): AUTH,
    ("GET", V3G + "/lags"): AUTH,
    ("GET", V3G + "/lags/{topic_name}/partitions/{partition_id}"): AUTH,
    ("GET", V3G + "/lag-summary"): AUTH,
    ("GET", V3 + "/brokers"): AUTH,
    ("GET", V3 + "/brokers/{broker_id}"): AUTH,
    ("GET", V3 + "/brokers/{broker_id}/configs"): AUTH,
    ("GET", V3 + "/brokers/{broker_id}/configs/{name}"): AUTH,
    ("GET", V3 + "/brokers/{broker_id}/partition-replicas"): AUTH,
    ("GET", V3 + "/broker-configs"): AUTH,
    ("GET", V3 + "/broker-configs/{name}"): AUTH,
    ("PUT", V3 + "/brokers/{broker_id}/configs/{name}"): STAFF_ONLY,
    ("DELETE", V3 + "/brokers/{broker_id}/configs/{name}"): STAFF_ONLY,
    ("POST", V3 + "/brokers/{broker_id}/configs:alter"): STAFF_ONLY,
    ("PUT", V3 + "/broker-configs/{name}"): STAFF_ONLY,
    ("DELETE", V3 + "/broker-configs/{name}"): STAFF_ONLY,
    ("POST", V3 + "/broker-configs:alter"): STAFF_ONLY,
    ("GET", V3 + "/topics/-/partitions/-/reassignment"): AUTH,
    ("GET", V3T + "/partitions/-/reassignment"): AUTH,
    ("GET", V3T + "/partitions/{partition_id}/reassignment"): AUTH,
    ("GET", V3G + "/consumers/{consumer_id}/assignments/{topic_name}/partitions/{partition_id}"): AUTH,
    ("GET", V3 + "/acls"): AUTH,  # DESCRIBE on the cluster
    ("POST", V3 + "/acls"): STAFF_ONLY,  # ALTER on the cluster
    ("POST", V3 + "/acls:batch"): STAFF_ONLY,
    ("DELETE", V3 + "/acls"): STAFF_ONLY,
}

# Valid bodies for the staff operations, so a refusal is the permission check, not validation.
STAFF_BODIES = {
    ("POST", V3 + "/topics"): {"topic_name": "made-by-a-viewer", "partitions_count": 1},
    ("PATCH", V3T): {"partitions_count": 3},
    ("PUT", V3T + "/configs/{name}"): {"value": "1000"},
    ("POST", V3T + "/configs:alter"): {"data": [{"name": "retention.ms", "value": "1000"}]},
    ("PUT", V3 + "/brokers/{broker_id}/configs/{name}"): {"value": "1000"},
    ("POST", V3 + "/brokers/{broker_id}/configs:alter"): {"data": [{"name": "log.retention.ms", "value": "1000"}]},
    ("PUT", V3 + "/broker-configs/{name}"): {"value": "1000"},
    ("POST", V3 + "/broker-configs:alter"): {"data": [{"name": "log.retention.ms", "value": "1000"}]},
    ("POST", V3 + "/acls"): {"resource_type": "TOPIC", "resource_name": "orders", "pattern_type": "LITERAL",
                             "principal": "User:viewer", "host": "*", "operation": "ALL", "permission": "ALLOW"},
    ("POST", V3 + "/acls:batch"): {"data": [{"resource_type": "TOPIC", "resource_name": "orders", "pattern_type": "LITERAL",
                                             "principal": "User:viewer", "host": "*", "operation": "ALL",
                                             "permission": "ALLOW"}]},
}

WEBSOCKETS = {"ws/live/": READ}

# The Kafka listener's APIs, by API key (brokercore/kafka/apis). Behaviour: tests/kafka/test_sasl.py.
KAFKA_OPEN = "anyone, before authenticating: ApiVersions and the SASL exchange"
KAFKA_USER = "an authenticated user (or anyone, with BROKER_KAFKA_ALLOW_ANONYMOUS=1); others are disconnected"
KAFKA_STAFF = ("as KAFKA_USER, but without an ACL allowing it a non-staff caller's topics, groups or cluster changes "
               "fail *_AUTHORIZATION_FAILED, nothing written (tests/kafka/test_acls.py)")
KAFKA_APIS = {
    18: KAFKA_OPEN,  # ApiVersions
    17: KAFKA_OPEN,  # SaslHandshake
    36: KAFKA_OPEN,  # SaslAuthenticate
    0: KAFKA_USER,  # Produce
    1: KAFKA_USER,  # Fetch
    2: KAFKA_USER,  # ListOffsets
    3: KAFKA_USER,  # Metadata (its auto-creation of topics: CREATE, staff without an ACL)
    8: KAFKA_USER,  # OffsetCommit
    9: KAFKA_USER,  # OffsetFetch
    10: KAFKA_USER,  # FindCoordinator
    11: KAFKA_USER,  # JoinGroup
    12: KAFKA_USER,  # Heartbeat
    13: KAFKA_USER,  # LeaveGroup
    14: KAFKA_USER,  # SyncGroup
    15: KAFKA_USER,  # DescribeGroups
    16: KAFKA_USER,  # ListGroups
    22: KAFKA_USER,  # InitProducerId
    32: KAFKA_USER,  # DescribeConfigs
    60: KAFKA_USER,  # DescribeCluster
    35: KAFKA_USER,  # DescribeLogDirs
    29: KAFKA_USER,  # DescribeAcls (DESCRIBE on the cluster)
    68: KAFKA_USER,  # ConsumerGroupHeartbeat (KIP-848): answered UNSUPPORTED_VERSION
    19: KAFKA_STAFF,  # CreateTopics
    20: KAFKA_STAFF,  # DeleteTopics
    21: KAFKA_STAFF,  # DeleteRecords
    37: KAFKA_STAFF,  # CreatePartitions
    42: KAFKA_STAFF,  # DeleteGroups
    47: KAFKA_STAFF,  # OffsetDelete
    33: KAFKA_STAFF,  # AlterConfigs (a broker's: CLUSTER_AUTHORIZATION_FAILED)
    44: KAFKA_STAFF,  # IncrementalAlterConfigs
    30: KAFKA_STAFF,  # CreateAcls (ALTER on the cluster)
    31: KAFKA_STAFF,  # DeleteAcls
    50: KAFKA_STAFF,  # DescribeUserScramCredentials (CLUSTER_AUTHORIZATION_FAILED)
    51: KAFKA_STAFF,  # AlterUserScramCredentials (CLUSTER_AUTHORIZATION_FAILED per user)
}


# --- Enumerating what exists -----------------------------------------------------------------------


def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """(route, name with namespace, pattern) of every URL pattern, included ones too."""
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(x for x in (namespace, p.namespace) if x)
            yield from url_patterns(p, prefix + str(p.pattern), ns)
        else:
            assert isinstance(p, URLPattern)
            name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
            yield prefix + str(p.pattern), name, p


def classify(route: str, name: str, pattern: URLPattern) -> str | None:
    if name in CONSOLE:
        return CONSOLE[name][0]
    if route.startswith("admin/"):
        return ADMIN
    if route.startswith(("rest/", "^rest/")):
        if pattern.callback.__module__ == "ninja.operation":
            return REST
        if name == "rest:api-root" or pattern.callback.__name__ == "not_found":
            return REST_NOT_FOUND
    return None


def rest_operations() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def test_every_route_is_classified():
    unclassified = [(route, name) for route, name, p in url_patterns() if classify(route, name, p) is None]
    assert not unclassified, f"routes nobody decided who may use (add them to CONSOLE in this test): {unclassified}"
    named = {name for _, name, _ in url_patterns()}
    assert not set(CONSOLE) - named, f"the table names routes that no longer exist: {set(CONSOLE) - named}"


def test_every_rest_operation_is_classified():
    operations = rest_operations()
    assert operations - set(REST_OPERATIONS) == set(), "REST operations nobody classified (add to REST_OPERATIONS)"
    assert set(REST_OPERATIONS) - operations == set(), "REST_OPERATIONS names operations that no longer exist"
    # Every route ninja serves is one of those operations (the OpenAPI document lists them all).
    paths = {path for _, path in operations}
    for route, name, p in url_patterns():
        if classify(route, name, p) == REST:
            assert "/" + route.replace("<", "{").replace(">", "}") in paths, route


def test_every_websocket_route_is_classified():
    from console.live.routing import websocket_urlpatterns

    assert {str(p.pattern) for p in websocket_urlpatterns} == set(WEBSOCKETS)


def test_every_kafka_api_is_classified_and_only_the_open_ones_precede_authentication():
    from brokercore.kafka import apis
    from brokercore.kafka.apis.registry import HANDLERS
    from brokercore.kafka.apis.sasl import SASL_AUTHENTICATE, Session, State
    from brokercore.kafka.protocol import ProtocolError

    apis.load()
    assert set(HANDLERS) == set(KAFKA_APIS), "Kafka APIs nobody classified, or classified but gone (KAFKA_APIS)"
    for api_key, kind in KAFKA_APIS.items():
        session = Session(allow_anonymous=False)
        if kind == KAFKA_OPEN:
            if api_key == SASL_AUTHENTICATE:
                session.state = State.AUTHENTICATE  # it follows a SaslHandshake (v1)
            session.admit(api_key)
        else:
            with pytest.raises(ProtocolError, match="before SASL authentication"):
                session.admit(api_key)
        Session(allow_anonymous=True).admit(api_key)


# --- The objects routes name -----------------------------------------------------------------------


@pytest.fixture
def world(db, staff, viewer):
    """A topic with records, a group with a member and commits, a lab with a consumer, tokens."""
    runner.THREADED, threaded = False, runner.THREADED
    topic_factory(name="orders", partitions=2)
    records_factory("orders", 6)
    offsets_commit(group_id="billing", offsets={("orders", 0): 2, ("orders", 1): 1})
    member = group_join(group_id="billing", topics=["orders"], client_id="billing-1", session_timeout_ms=60_000)
    lab = runner.lab_start(partitions=1, consumers=1, producer_rate=0)
    viewer_token, viewer_raw = token_create(user=viewer, name="viewer's")
    staff_raw = token_create(user=staff, name="staff's")[1]
    try:
        yield {
            "name": "orders", "group_id": "billing", "lab_id": lab.id, "slug": "idle", "token_id": viewer_token.pk,
            "lab_consumer": lab.live_consumers()[0].name, "member_id": member.member_id,
            "viewer_token": viewer_raw, "staff_token": staff_raw,
        }
    finally:
        runner.shutdown()
        runner.THREADED = threaded


def console_url(route: str, world: dict) -> str:
    """The route with its parameters filled from `world`."""

    def value(match):
        param = match.group(2)
        if param == "name" and route.startswith("lab/"):
            return world["lab_consumer"]
        return quote(str(world[param]), safe="")

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


def _send(client: Client, method: str, url: str):
    return client.get(url) if method == "GET" else client.generic(method, url)


def test_console_routes_answer_anonymous_and_non_staff_users_as_classified(world, client, viewer, staff):
    viewer_client, staff_client = Client(), Client()
    viewer_client.force_login(viewer)
    staff_client.force_login(staff)
    checked = 0
    for route, name, p in url_patterns():
        cls = classify(route, name, p)
        if cls not in (READ, STAFF, OWN, PUBLIC) or name.startswith("rest:") and cls != READ:
            continue
        url = console_url(route, world)
        methods = CONSOLE[name][1]
        for method in methods:
            anonymous = _send(client, method, url)
            if cls == PUBLIC:
                assert anonymous.status_code in (200, 302), (url, method, anonymous.status_code)
                continue
            # Anonymous: to the login page, coming back here afterwards.
            assert anonymous.status_code == 302, (url, method, anonymous.status_code)
            assert anonymous["Location"] == redirect_to_login(url).url, (url, anonymous["Location"])
            seen = _send(viewer_client, method, url)
            if cls == STAFF:
                assert seen.status_code == 403, (url, method, seen.status_code)
            elif cls == READ:
                assert seen.status_code == 200, (url, method, seen.status_code)
            else:  # OWN: the viewer's own token
                assert seen.status_code in (200, 201, 302, 400), (url, method, seen.status_code)
            checked += 1
        if cls == STAFF and "GET" in methods:
            # Staff see the form (and prove the objects exist: 200, not 404).
            assert _send(staff_client, "GET", url).status_code == 200, url
    assert checked >= len([n for n, (c, _) in CONSOLE.items() if c in (READ, STAFF, OWN)])


def test_admin_routes_send_anyone_but_staff_to_the_admin_login(world, client, viewer):
    viewer_client = Client()
    viewer_client.force_login(viewer)
    values = {"app_label": "auth", "object_id": str(viewer.pk), "id": str(viewer.pk), "content_type_id": "1", "url": "auth/user/"}
    checked = 0
    for route, name, p in url_patterns():
        if classify(route, name, p) != ADMIN:
            continue
        url = "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>", lambda m: values[m.group(1) or m.group(2)],
                           route.replace("^", "").replace("$", ""))
        for who in (client, viewer_client):
            response = who.get(url)
            assert response.status_code == 302, (url, response.status_code)
            assert response["Location"].startswith("/admin/login/"), (url, response["Location"])
        checked += 1
    assert checked > 10
    assert client.get("/admin/login/").status_code == 200


def test_rest_operations_answer_anonymous_and_non_staff_callers_as_classified(world, settings):
    existing = {
        "cluster_id": cluster_id(), "topic": "orders", "topic_name": "orders", "partition": 0,
        "partition_id": 0, "broker_id": settings.BROKER["NODE_ID"], "consumer_group_id": "billing",
        "consumer_id": world["member_id"], "name": "retention.ms", "group": "rest-billing", "instance": "rest-1",
    }
    settings.REST = {**settings.REST, "CONSUMER_REQUEST_TIMEOUT_MS": 0}
    anonymous = Client(HTTP_HOST="127.0.0.1")
    viewer = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {world['viewer_token']}")
    created = viewer.post("/rest/consumers/rest-billing", {"name": "rest-1", "format": "binary"},
                          content_type="application/vnd.kafka.v2+json")
    assert created.status_code == 200, created.content
    # Staff operations last (and deletes of the instance after everything else used it).
    order = sorted(REST_OPERATIONS, key=lambda op: (REST_OPERATIONS[op] == STAFF_ONLY, op[0] == "DELETE", op))
    for method, path in order:
        url = path.format(**{k: quote(str(v), safe="") for k, v in existing.items()})
        answer = anonymous.generic(method, url, "{}", content_type="application/json")
        assert answer.status_code == 401 and answer.json()["error_code"] == 40101, (method, url, answer.content)
        answer = viewer.generic(method, url, json.dumps(STAFF_BODIES.get((method, path), {})), content_type="application/json")
        if REST_OPERATIONS[(method, path)] == STAFF_ONLY:
            assert answer.status_code == 403 and answer.json()["error_code"] == 40301, (method, url, answer.content)
        else:
            assert answer.status_code not in (401, 403) and answer.status_code < 500, (method, url, answer.content)


def test_rest_allow_anonymous_lets_anonymous_callers_read_but_never_change_topics(world, settings):
    settings.REST = {**settings.REST, "ALLOW_ANONYMOUS": True}
    anonymous = Client(HTTP_HOST="127.0.0.1")
    cluster = cluster_id()
    assert anonymous.get("/rest/topics").status_code == 200
    assert anonymous.get(f"/rest/v3/clusters/{cluster}/topics/orders").status_code == 200
    for (method, path), cls in REST_OPERATIONS.items():
        if cls == STAFF_ONLY:
            url = path.format(cluster_id=cluster, topic_name="orders", name="retention.ms", broker_id=1)
            answer = anonymous.generic(method, url, json.dumps(STAFF_BODIES.get((method, path), {})), content_type="application/json")
            assert answer.status_code == 403 and answer.json()["error_code"] == 40301, (method, url)


@pytest.mark.django_db(transaction=True)
async def test_websocket_routes_refuse_anonymous_users():
    from channels.testing import WebsocketCommunicator

    from console.asgi import application

    for route, cls in WEBSOCKETS.items():
        assert cls == READ
        communicator = WebsocketCommunicator(application, f"/{route}?s=cluster", headers=[(b"origin", b"http://localhost")])
        assert await communicator.connect() == (False, 4401)
    # Closes the connection channels' database thread opened for the session lookup (PostgreSQL
    # cannot drop a test database that is still in use).
    from channels.db import database_sync_to_async
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


@pytest.mark.parametrize("body", ['{"bogus": [1]}', '{"topic_name": 5, "partitions_count": "many", "data": 3}', "{not json", ""])
def test_staff_operations_refuse_non_staff_before_reading_the_body(world, body):
    """A caller who may not change topics gets 403 whatever they send: the permission check comes
    before validation, so a bad body is never reported to someone who may not send one at all."""
    cluster = cluster_id()
    anonymous = Client(HTTP_HOST="127.0.0.1")
    viewer = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {world['viewer_token']}")
    staff = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {world['staff_token']}")
    staff_ops = [op for op, cls in REST_OPERATIONS.items() if cls == STAFF_ONLY]
    assert len(staff_ops) >= 6
    for method, path in staff_ops:
        url = path.format(cluster_id=cluster, topic_name="orders", name="retention.ms", broker_id=1)
        answer = anonymous.generic(method, url, body, content_type="application/json")
        assert answer.status_code == 401 and answer.json()["error_code"] == 40101, (method, url, answer.content)
        answer = viewer.generic(method, url, body, content_type="application/json")
        assert answer.status_code == 403 and answer.json()["error_code"] == 40301, (method, url, answer.content)
        if (method, path) in STAFF_BODIES and body.startswith('{"'):
            # Staff are told what is wrong with the body; nothing changed.
            answer = staff.generic(method, url, body, content_type="application/json")
            assert answer.status_code == 422 and answer.json()["error_code"] == 42206, (method, url, answer.content)
    assert "orders" in topic_names_list()
    assert len(topic_describe(name="orders").partitions) == 2
