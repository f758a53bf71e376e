"""REST v2: topic, partition and broker metadata, and produce in the json and binary formats."""

import base64
import json

import pytest

from brokercore.cluster.read import brokers_live_ids
from brokercore.log.append import records_append
from brokercore.log.cleaner import records_delete_before
from brokercore.log.read import records_fetch
from brokercore.partitioner import partition_for_key
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.factories import stored_records

pytestmark = pytest.mark.django_db

V2 = "application/vnd.kafka.v2+json"
V2_JSON = "application/vnd.kafka.json.v2+json"
V2_BINARY = "application/vnd.kafka.binary.v2+json"


@pytest.fixture
def orders(db):
    topic_create(name="orders", partitions=3)
    return "orders"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _error(response, status: int, code: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error_code"] == code
    assert body["message"]
    return body


def _values(topic: str, partition: int) -> list[bytes]:
    return [r.value for r in records_fetch(topic=topic, partition=partition, offset=0).records]


# --- Metadata -------------------------------------------------------------------------------------


def test_topics_list_names_in_order(rest, orders):
    topic_create(name="audit")
    r = rest.get("/rest/topics")
    assert r.status_code == 200
    assert r["Content-Type"] == V2
    assert r.json() == ["audit", "orders"]


def test_topic_get_has_configs_and_partitions(rest, orders):
    r = rest.get("/rest/topics/orders")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "orders"
    assert body["configs"]["cleanup.policy"] == "delete"
    assert all(isinstance(v, str) for v in body["configs"].values())
    broker = brokers_live_ids()[0]
    assert body["partitions"] == [
        {"partition": i, "leader": broker, "replicas": [{"broker": broker, "leader": True, "in_sync": True}]}
        for i in range(3)
    ]


def test_topic_get_shows_overrides(rest):
    topic_create(name="compacted", configs={"cleanup.policy": "compact"})
    assert rest.get("/rest/topics/compacted").json()["configs"]["cleanup.policy"] == "compact"


def test_partitions_list_and_get(rest, orders):
    listed = rest.get("/rest/topics/orders/partitions")
    assert listed.status_code == 200
    assert [p["partition"] for p in listed.json()] == [0, 1, 2]
    one = rest.get("/rest/topics/orders/partitions/2")
    assert one.status_code == 200
    assert one.json() == listed.json()[2]


def test_offsets_follow_appends_and_deletes(rest, orders):
    assert rest.get("/rest/topics/orders/partitions/1/offsets").json() == {"beginning_offset": 0, "end_offset": 0}
    records_append(topic="orders", records=[RecordIn(value=b"v%d" % i) for i in range(5)], partition=1)
    records_delete_before(topic="orders", partition=1, offset=2)
    r = rest.get("/rest/topics/orders/partitions/1/offsets")
    assert r.status_code == 200
    assert r.json() == {"beginning_offset": 2, "end_offset": 5}


def test_brokers(rest):
    r = rest.get("/rest/brokers")
    assert r.status_code == 200
    assert r.json() == {"brokers": brokers_live_ids()}


@pytest.mark.parametrize(
    "path",
    [
        "/rest/topics/missing",
        "/rest/topics/missing/partitions",
        "/rest/topics/missing/partitions/0",
        "/rest/topics/missing/partitions/0/offsets",
        "/rest/topics/" + "x" * 300,
    ],
)
def test_unknown_topic_is_40401(rest, path):
    _error(rest.get(path), 404, 40401)


def test_nul_in_a_topic_path_names_nothing(rest):
    # Refused before any view (console/request_checks.py): PostgreSQL's text cannot hold NUL.
    _error(rest.get("/rest/topics/bad%00name"), 404, 404)


@pytest.mark.parametrize("partition", ["3", "-1", str(2**63), str(2**31)])
def test_unknown_partition_is_40402(rest, orders, partition):
    _error(rest.get(f"/rest/topics/orders/partitions/{partition}"), 404, 40402)
    _error(rest.get(f"/rest/topics/orders/partitions/{partition}/offsets"), 404, 40402)


def test_non_integer_partition_is_42206(rest, orders):
    _error(rest.get("/rest/topics/orders/partitions/x"), 422, 42206)


# --- Authentication and negotiation --------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("get", "/rest/topics"), ("get", "/rest/brokers"), ("post", "/rest/topics/orders")])
def test_anonymous_is_401(rest_anonymous, orders, method, path):
    body = {"records": [{"value": 1}]} if method == "post" else None
    r = rest_anonymous.send(method, path, body, content_type=V2_JSON)
    _error(r, 401, 40101)
    assert not stored_records()


def test_non_staff_user_may_read_and_produce(rest_user, orders):
    assert rest_user.get("/rest/topics").status_code == 200
    assert rest_user.send("post", "/rest/topics/orders", {"records": [{"value": 1}]}, content_type=V2_JSON).status_code == 200


@pytest.mark.parametrize(
    "accept,expected",
    [
        (None, V2),
        ("*/*", V2),
        (V2, V2),
        ("application/json", "application/json"),
        ("application/json;q=0.5, application/vnd.kafka.v2+json", V2),
        ("application/vnd.kafka.v2+json;q=0.2, application/json", "application/json"),
        ("text/html, application/*;q=0.1", V2),
    ],
)
def test_accept_picks_response_type(rest, orders, accept, expected):
    assert rest.send("get", "/rest/topics", accept=accept)["Content-Type"] == expected
    r = rest.send("post", "/rest/topics/orders", {"records": [{"value": 1}]}, content_type=V2_JSON, accept=accept)
    assert r.status_code == 200
    assert r["Content-Type"] == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/plain", "application/json;q=0"])
def test_unacceptable_accept_is_406_and_writes_nothing(rest, orders, accept):
    _error(rest.send("get", "/rest/topics", accept=accept), 406, 40601)
    r = rest.send("post", "/rest/topics/orders", {"records": [{"value": 1}]}, content_type=V2_JSON, accept=accept)
    _error(r, 406, 40601)
    assert not stored_records()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/vnd.kafka.avro.v2+json", "application/vnd.kafka.protobuf.v2+json", "application/x-www-form-urlencoded"],
)
def test_unsupported_content_type_is_415(rest, orders, content_type):
    r = rest.send("post", "/rest/topics/orders", json.dumps({"records": [{"value": 1}]}), content_type=content_type)
    _error(r, 415, 41501)
    assert not stored_records()


# --- Produce --------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [V2_JSON, "application/json", f"{V2_JSON}; charset=utf-8"])
def test_produce_json_stores_compact_utf8_json(rest, orders, content_type):
    body = {"records": [
        {"value": {"id": 1, "name": "Zoë", "tags": ["a", "b"]}, "partition": 0},
        {"value": "text", "partition": 0},
        {"value": None, "key": "k", "partition": 0},
        {"value": 3.5, "partition": 0},
    ]}
    r = rest.send("post", "/rest/topics/orders", body, content_type=content_type)
    assert r.status_code == 200, r.content
    assert r.json() == {
        "key_schema_id": None,
        "value_schema_id": None,
        "offsets": [{"partition": 0, "offset": i, "error_code": None, "error": None} for i in range(4)],
    }
    fetched = records_fetch(topic="orders", partition=0, offset=0).records
    assert [f.value for f in fetched] == [
        '{"id":1,"name":"Zoë","tags":["a","b"]}'.encode(), b'"text"', None, b"3.5"
    ]
    assert [f.key for f in fetched] == [None, None, b'"k"', None]


def test_produce_binary_decodes_base64(rest, orders):
    body = {"records": [{"key": _b64(b"\x00key"), "value": _b64(b"\xff\xfebytes")}, {"value": None}]}
    r = rest.send("post", "/rest/topics/orders/partitions/2", body, content_type=V2_BINARY)
    assert r.status_code == 200, r.content
    assert [o["partition"] for o in r.json()["offsets"]] == [2, 2]
    fetched = records_fetch(topic="orders", partition=2, offset=0).records
    assert [(f.key, f.value) for f in fetched] == [(b"\x00key", b"\xff\xfebytes"), (None, None)]


@pytest.mark.parametrize("bad", ["not base64!", "abc", 42, {"a": 1}])
def test_produce_binary_rejects_bad_base64(rest, orders, bad):
    body = {"records": [{"value": _b64(b"fine")}, {"value": bad}]}
    _error(rest.send("post", "/rest/topics/orders", body, content_type=V2_BINARY), 422, 42206)
    assert not stored_records()


def test_keyed_records_land_on_the_murmur2_partition(rest, orders):
    keys = [f"customer-{i}" for i in range(30)]
    body = {"records": [{"key": k, "value": i} for i, k in enumerate(keys)]}
    offsets = rest.send("post", "/rest/topics/orders", body, content_type=V2_JSON).json()["offsets"]
    # A json key is hashed on its serialized JSON text (quotes included), as Confluent's proxy does.
    assert [o["partition"] for o in offsets] == [partition_for_key(json.dumps(k).encode(), 3) for k in keys]
    binary = {"records": [{"key": _b64(k.encode()), "value": None} for k in keys]}
    offsets = rest.send("post", "/rest/topics/orders", binary, content_type=V2_BINARY).json()["offsets"]
    assert [o["partition"] for o in offsets] == [partition_for_key(k.encode(), 3) for k in keys]


def test_per_record_partition_and_partition_endpoint(rest, orders):
    r = rest.send("post", "/rest/topics/orders", {"records": [{"value": 1, "partition": 1}, {"value": 2, "partition": 2}]},
                  content_type=V2_JSON)
    assert [o["partition"] for o in r.json()["offsets"]] == [1, 2]
    # The partition in the path wins over anything in the records.
    r = rest.send("post", "/rest/topics/orders/partitions/0", {"records": [{"key": "k", "value": 3, "partition": 2}]},
                  content_type=V2_JSON)
    assert r.json()["offsets"] == [{"partition": 0, "offset": 0, "error_code": None, "error": None}]
    assert _values("orders", 0) == [b"3"]


def test_offsets_continue_across_requests(rest, orders):
    for expected in (0, 2, 4):
        r = rest.send("post", "/rest/topics/orders/partitions/1", {"records": [{"value": 1}, {"value": 2}]},
                      content_type=V2_JSON)
        assert [o["offset"] for o in r.json()["offsets"]] == [expected, expected + 1]
    assert rest.get("/rest/topics/orders/partitions/1/offsets").json() == {"beginning_offset": 0, "end_offset": 6}


def test_produce_to_unknown_topic_is_40401(rest):
    _error(rest.send("post", "/rest/topics/missing", {"records": [{"value": 1}]}, content_type=V2_JSON), 404, 40401)
    _error(rest.send("post", "/rest/topics/missing/partitions/0", {"records": [{"value": 1}]}, content_type=V2_JSON),
           404, 40401)


@pytest.mark.parametrize("partition", [3, -1, 2**40])
def test_produce_to_unknown_partition_is_40402_and_writes_nothing(rest, orders, partition):
    body = {"records": [{"value": 1, "partition": 0}, {"value": 2, "partition": partition}]}
    _error(rest.send("post", "/rest/topics/orders", body, content_type=V2_JSON), 404, 40402)
    _error(rest.send("post", f"/rest/topics/orders/partitions/{partition}", {"records": [{"value": 1}]},
                     content_type=V2_JSON), 404, 40402)
    assert not stored_records()


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        {},
        {"records": None},
        {"records": {"value": 1}},
        [{"value": 1}],
        b'"records"',
        {"records": [{"value": 1}, "not an object"]},
        {"records": [{"value": 1}, {"value": 2, "partition": "1"}]},
        {"records": [{"value": 1}, {"value": 2, "partition": 1.5}]},
        {"records": [{"value": 1}, {"value": 2, "partition": True}]},
    ],
)
def test_invalid_payload_is_42206_and_writes_nothing(rest, orders, body):
    _error(rest.send("post", "/rest/topics/orders", body, content_type=V2_JSON), 422, 42206)
    assert not stored_records()


@pytest.mark.parametrize("raw", [b"{not json", b" ", b'{"records": [{"value": NaN}]}', b"\xff\xfe", b"[" * 100_000])
def test_malformed_json_is_400(rest, orders, raw):
    _error(rest.send("post", "/rest/topics/orders", raw, content_type=V2_JSON), 400, 400)
    assert not stored_records()


def test_unencodable_json_value_is_42206(rest, orders):
    raw = b'{"records": [{"value": 1}, {"value": "\\ud800"}]}'
    _error(rest.send("post", "/rest/topics/orders", raw, content_type=V2_JSON), 422, 42206)
    assert not stored_records()


def test_a_record_over_max_message_bytes_rejects_the_whole_request(rest):
    topic_create(name="small", configs={"max.message.bytes": "100"})
    body = {"records": [{"value": "ok"}, {"value": "x" * 200}]}
    body_json = _error(rest.send("post", "/rest/topics/small", body, content_type=V2_JSON), 413, 41301)
    assert "max.message.bytes" in body_json["message"]
    assert not stored_records()


def test_compacted_topic_refuses_unkeyed_records_and_writes_nothing(rest):
    topic_create(name="compacted", configs={"cleanup.policy": "compact"})
    body = {"records": [{"key": "a", "value": 1}, {"value": 2}]}
    r = rest.send("post", "/rest/topics/compacted", body, content_type=V2_JSON)
    assert r.status_code == 400
    assert not stored_records()


def test_too_many_records_is_refused_with_the_limit(rest, orders, settings):
    settings.REST = {**settings.REST, "MAX_RECORDS_PER_REQUEST": 5}
    body = {"records": [{"value": i} for i in range(6)]}
    error = _error(rest.send("post", "/rest/topics/orders", body, content_type=V2_JSON), 413, 41301)
    assert "at most 5" in error["message"]
    assert not stored_records()
    assert rest.send("post", "/rest/topics/orders", {"records": body["records"][:5]}, content_type=V2_JSON).status_code == 200


def test_body_over_the_limit_is_refused_before_reading(rest, orders, settings):
    settings.REST = {**settings.REST, "MAX_BODY_BYTES": 50}
    body = {"records": [{"value": "x" * 100}]}
    _error(rest.send("post", "/rest/topics/orders", body, content_type=V2_JSON), 413, 41301)
    assert not stored_records()


def test_schema_fields_are_ignored(rest, orders):
    body = {"key_schema": None, "value_schema_id": None, "records": [{"value": {"a": 1}}]}
    assert rest.send("post", "/rest/topics/orders", body, content_type=V2_JSON).status_code == 200


# --- OpenAPI --------------------------------------------------------------------------------------


def test_openapi_describes_every_v2_topic_endpoint():
    from console.api import api

    paths = api.get_openapi_schema()["paths"]
    produce = paths["/rest/topics/{topic}"]["post"]
    assert set(produce["requestBody"]["content"]) == {V2_JSON, V2_BINARY, "application/json"}
    for path in ("/rest/topics", "/rest/topics/{topic}", "/rest/topics/{topic}/partitions",
                 "/rest/topics/{topic}/partitions/{partition}", "/rest/topics/{topic}/partitions/{partition}/offsets",
                 "/rest/brokers"):
        responses = paths[path]["get"]["responses"]
        assert {V2, "application/json"} <= set(responses[200]["content"])
        assert 404 in responses and 406 in responses
