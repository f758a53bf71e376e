import base64
import json
import time

import pytest
from django.test import override_settings

from brokercore.coordinator.read import committed_offsets_get, group_describe
from brokercore.log.append import records_append
from brokercore.types import RecordIn
from console.api.rest_consumers import instances_expire
from console.models import RestConsumer
from tests.api.conftest import instance_operations
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
JSON = "application/vnd.kafka.json.v2+json"
BASE = "/rest/consumers"


def create(rest, group="g", **config):
    r = rest.send("POST", f"{BASE}/{group}", config, content_type=V2)
    assert r.status_code == 200, r.content
    return r.json()


def uri(group, name, suffix=""):
    return f"{BASE}/{group}/instances/{name}{suffix}"


def subscribe(rest, group, name, topics):
    r = rest.send("POST", uri(group, name, "/subscription"), {"topics": topics}, content_type=V2)
    assert r.status_code == 204, r.content


def subscribed(rest, **config):
    """Instance "c" of group "g", created with `config` and subscribed to topic "t" (one partition)."""
    topic_factory(name="t", partitions=1)
    create(rest, name="c", **config)
    subscribe(rest, "g", "c", ["t"])


def records(rest, group, name, accept=BINARY, timeout=0, **params):
    query = "&".join(f"{k}={v}" for k, v in {"timeout": timeout, **params}.items())
    return rest.get(uri(group, name, f"/records?{query}"), HTTP_ACCEPT=accept)


def produce(topic, values, partition=None):
    return records_append(topic=topic, records=[RecordIn(key=None, value=v) for v in values], partition=partition)


def get_offsets(rest, group, name, partitions):
    return rest.generic("GET", uri(group, name, "/offsets"), json.dumps({"partitions": partitions}), content_type=V2)


def assignments(group):
    return {m.client_id: sorted(m.assignment) for m in group_describe(group_id=group).members}


# --- Instances ------------------------------------------------------------------------------


def test_create_returns_instance_id_and_absolute_base_uri(rest):
    body = create(rest, "orders", name="c1", format="json")
    assert body == {"instance_id": "c1", "base_uri": "http://127.0.0.1/rest/consumers/orders/instances/c1"}
    generated = create(rest, "orders")
    assert generated["instance_id"].startswith("rest-consumer-")
    inst = RestConsumer.objects.get(group_id="orders", name="c1")
    assert (inst.format, inst.offset_reset, inst.auto_commit) == ("json", "latest", True)


def test_create_with_taken_name_is_40902(rest):
    create(rest, name="c1")
    r = rest.send("POST", f"{BASE}/g", {"name": "c1"}, content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40902


@pytest.mark.parametrize(
    "config",
    [{"format": "xml"}, {"format": "avro"}, {"auto.offset.reset": "sometimes"}, {"auto.commit.enable": "maybe"}, {"fetch.min.bytes": "x"}, {"name": "a/b"}],
)
def test_bad_config_is_42204(rest, config):
    r = rest.send("POST", f"{BASE}/g", config, content_type=V2)
    assert r.status_code == 422 and r.json()["error_code"] == 42204, r.content


def test_config_as_confluent_strings(rest):
    create(rest, name="c", **{"auto.commit.enable": "false", "auto.offset.reset": "earliest", "fetch.min.bytes": "10", "consumer.request.timeout.ms": "500"})
    inst = RestConsumer.objects.get(name="c")
    assert (inst.auto_commit, inst.offset_reset, inst.fetch_min_bytes, inst.request_timeout_ms) == (False, "earliest", 10, 500)


@pytest.mark.parametrize("method,suffix,body", instance_operations("t"))
def test_unknown_instance_is_40403_everywhere(rest, method, suffix, body):
    # generic(): Confluent's GET /offsets takes a JSON body, which the test client's get() cannot send.
    data = "" if body is None else json.dumps(body)
    r = rest.generic(method, uri("g", "nobody", suffix), data, content_type=V2, HTTP_ACCEPT=BINARY)
    assert r.status_code == 404
    assert r.json() == {"error_code": 40403, "message": "Consumer instance not found."}


def test_delete_instance(rest):
    create(rest, name="c")
    assert rest.delete(uri("g", "c")).status_code == 204
    assert rest.delete(uri("g", "c")).status_code == 404
    create(rest, name="c")  # the name is free again


def test_needs_authentication(rest_anonymous):
    r = rest_anonymous.send("POST", f"{BASE}/g", {}, content_type=V2)
    assert r.status_code == 401


# --- Subscription and assignment --------------------------------------------------------------


def test_subscription_roundtrip_joins_the_group(rest):
    topic_factory(name="t", partitions=2)
    create(rest, name="c")
    subscribe(rest, "g", "c", ["t"])
    assert rest.get(uri("g", "c", "/subscription")).json() == {"topics": ["t"]}
    info = group_describe(group_id="g")
    assert [m.client_id for m in info.members] == ["c"] and info.kind == "server"
    assert rest.get(uri("g", "c", "/assignments")).json() == {
        "partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}]
    }
    assert rest.delete(uri("g", "c", "/subscription")).status_code == 204
    assert rest.get(uri("g", "c", "/subscription")).json() == {"topics": []}
    assert group_describe(group_id="g").members == []


def test_topic_pattern_subscription(rest):
    topic_factory(name="logs-a", partitions=1)
    topic_factory(name="logs-b", partitions=1)
    topic_factory(name="other", partitions=1)
    create(rest, name="c")
    r = rest.send("POST", uri("g", "c", "/subscription"), {"topic_pattern": "logs-.*"}, content_type=V2)
    assert r.status_code == 204
    assert rest.get(uri("g", "c", "/subscription")).json() == {"topics": ["logs-a", "logs-b"]}


@pytest.mark.parametrize("body", [{"topics": ["t"], "topic_pattern": "t.*"}, {}, {"topics": []}])
def test_subscription_needs_topics_or_pattern_not_both(rest, body):
    create(rest, name="c")
    r = rest.send("POST", uri("g", "c", "/subscription"), body, content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40903


def test_bad_pattern_is_422(rest):
    create(rest, name="c")
    r = rest.send("POST", uri("g", "c", "/subscription"), {"topic_pattern": "("}, content_type=V2)
    assert r.status_code == 422


def test_subscribe_and_assign_are_mutually_exclusive(rest):
    topic_factory(name="t", partitions=2)
    create(rest, name="sub")
    subscribe(rest, "g", "sub", ["t"])
    r = rest.send("POST", uri("g", "sub", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]}, content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40903

    create(rest, name="man")
    r = rest.send("POST", uri("g", "man", "/assignments"), {"partitions": [{"topic": "t", "partition": 1}]}, content_type=V2)
    assert r.status_code == 204
    assert rest.get(uri("g", "man", "/assignments")).json() == {"partitions": [{"topic": "t", "partition": 1}]}
    r = rest.send("POST", uri("g", "man", "/subscription"), {"topics": ["t"]}, content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40903


def test_assign_unknown_partition_is_404(rest):
    topic_factory(name="t", partitions=1)
    create(rest, name="c")
    r = rest.send("POST", uri("g", "c", "/assignments"), {"partitions": [{"topic": "t", "partition": 5}]}, content_type=V2)
    assert r.status_code == 404 and r.json()["error_code"] == 40402
    r = rest.send("POST", uri("g", "c", "/assignments"), {"partitions": [{"topic": "nope", "partition": 0}]}, content_type=V2)
    assert r.status_code == 404 and r.json()["error_code"] == 40401


def test_records_without_subscription_is_illegal_state(rest):
    create(rest, name="c")
    r = records(rest, "g", "c")
    assert r.status_code == 409 and r.json()["error_code"] == 40903


# --- Records ----------------------------------------------------------------------------------


def test_binary_records(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"\x00\x01raw", b"two"])
    records_append(topic="t", records=[RecordIn(key=b"k", value=None)])
    create(rest, name="c", format="binary", **{"auto.offset.reset": "earliest"})
    subscribe(rest, "g", "c", ["t"])
    r = records(rest, "g", "c", timeout=1000)
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == BINARY
    assert r.json() == [
        {"topic": "t", "key": None, "value": base64.b64encode(b"\x00\x01raw").decode(), "partition": 0, "offset": 0},
        {"topic": "t", "key": None, "value": base64.b64encode(b"two").decode(), "partition": 0, "offset": 1},
        {"topic": "t", "key": base64.b64encode(b"k").decode(), "value": None, "partition": 0, "offset": 2},
    ]
    assert records(rest, "g", "c").json() == []


def test_json_records(rest):
    topic_factory(name="t", partitions=1)
    records_append(topic="t", records=[RecordIn(key=b'"k"', value=b'{"n": 1}'), RecordIn(value=b"[1, 2]")])
    create(rest, name="c", format="json", **{"auto.offset.reset": "earliest"})
    subscribe(rest, "g", "c", ["t"])
    r = records(rest, "g", "c", accept=JSON, timeout=1000)
    assert r.status_code == 200 and r["Content-Type"] == JSON
    assert [(x["key"], x["value"], x["offset"]) for x in r.json()] == [("k", {"n": 1}, 0), (None, [1, 2], 1)]


def test_json_consumer_stops_at_a_value_that_is_not_json(rest):
    # As Kafka's consumer with a deserializer that refuses a record: the records before it come
    # back, the next request is a client error naming the record, and the consumer stays there.
    topic_factory(name="t", partitions=1)
    produce("t", [b"1", b"not json", b"3"])
    create(rest, name="c", format="json", **{"auto.offset.reset": "earliest"})
    subscribe(rest, "g", "c", ["t"])
    r = records(rest, "g", "c", accept=JSON, timeout=1000)
    assert r.status_code == 200 and [x["value"] for x in r.json()] == [1]
    for _ in range(2):  # it stays at the bad record: nothing after it counts as consumed
        r = records(rest, "g", "c", accept=JSON)
        assert r.status_code == 406, r.content
        assert r.json()["error_code"] == 40602 and "t-0 offset 1" in r.json()["message"]
        assert (r.json()["topic"], r.json()["partition"], r.json()["offset"]) == ("t", 0, 1)
    # Auto commit committed what was returned (offset 0), never the bad record.
    assert get_offsets(rest, "g", "c", [{"topic": "t", "partition": 0}]).json()["offsets"][0]["offset"] == 1
    r = rest.send("POST", uri("g", "c", "/positions"), {"offsets": [{"topic": "t", "partition": 0, "offset": 2}]}, content_type=V2)
    assert r.status_code == 204
    assert [x["value"] for x in records(rest, "g", "c", accept=JSON, timeout=1000).json()] == [3]


def test_json_consumer_loses_no_record_of_other_partitions_around_a_bad_one(rest):
    topic_factory(name="t", partitions=2)
    records_append(topic="t", partition=0, records=[RecordIn(value=b"1"), RecordIn(value=b"\xff"), RecordIn(value=b"2")])
    records_append(topic="t", partition=1, records=[RecordIn(value=b"10"), RecordIn(value=b"11")])
    create(rest, name="c", format="json", **{"auto.offset.reset": "earliest"})
    r = rest.send("POST", uri("g", "c", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}]}, content_type=V2)
    assert r.status_code == 204
    seen: list[tuple[int, int]] = []

    def read_until_stuck_or_done():
        for _ in range(6):
            r = records(rest, "g", "c", accept=JSON, timeout=100)
            if r.status_code == 406:
                return r.json()
            assert r.status_code == 200, r.content
            seen.extend((x["partition"], x["offset"]) for x in r.json())
        return None

    # Like Kafka's consumer, it is stuck at the bad record until it seeks past it (whatever else
    # it was given before that); then the rest comes, and every good record arrives exactly once.
    assert read_until_stuck_or_done()["offset"] == 1
    r = rest.send("POST", uri("g", "c", "/positions"), {"offsets": [{"topic": "t", "partition": 0, "offset": 2}]}, content_type=V2)
    assert r.status_code == 204
    assert read_until_stuck_or_done() is None
    assert sorted(seen) == [(0, 0), (0, 2), (1, 0), (1, 1)]


@pytest.mark.parametrize("fmt,accept", [("binary", JSON), ("json", BINARY), ("binary", V2)])
def test_accept_must_match_format(rest, fmt, accept):
    subscribed(rest, format=fmt)
    r = records(rest, "g", "c", accept=accept)
    assert r.status_code == 406 and r.json()["error_code"] == 40601


# A server cap far above the asked timeout: a request that ignored its timeout would wait 30 s.
@override_settings(REST={**__import__("django.conf").conf.settings.REST, "CONSUMER_REQUEST_TIMEOUT_MS": 30_000})
def test_long_poll_returns_within_timeout(rest):
    subscribed(rest)
    start = time.monotonic()
    r = records(rest, "g", "c", timeout=300)
    elapsed = time.monotonic() - start
    assert r.status_code == 200 and r.json() == []
    assert 0.25 <= elapsed < 20  # (the first request also joins the group)


@override_settings(REST={**__import__("django.conf").conf.settings.REST, "CONSUMER_REQUEST_TIMEOUT_MS": 100})
def test_timeout_is_capped_by_the_server_setting(rest):
    subscribed(rest)
    start = time.monotonic()
    assert records(rest, "g", "c", timeout=60_000).json() == []
    assert time.monotonic() - start < 40  # capped at 0.1 s (plus the group join), not 60 s


def test_latest_reset_skips_existing_records(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"old"])
    create(rest, name="c")
    subscribe(rest, "g", "c", ["t"])
    assert records(rest, "g", "c").json() == []
    produce("t", [b"new"])
    assert [base64.b64decode(x["value"]) for x in records(rest, "g", "c", timeout=1000).json()] == [b"new"]


def test_max_bytes_limits_a_response(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"x" * 100] * 5)
    create(rest, name="c", **{"auto.offset.reset": "earliest"})
    subscribe(rest, "g", "c", ["t"])
    first = records(rest, "g", "c", timeout=1000, max_bytes=150).json()
    assert 1 <= len(first) < 5
    rest_of = records(rest, "g", "c", timeout=1000).json()
    assert [x["offset"] for x in first + rest_of] == [0, 1, 2, 3, 4]


def test_manual_assignment_positions_and_records(rest):
    topic_factory(name="t", partitions=2)
    produce("t", [b"a0", b"a1", b"a2"], partition=0)
    produce("t", [b"b0"], partition=1)
    create(rest, name="c", **{"auto.offset.reset": "earliest"})
    rest.send("POST", uri("g", "c", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]}, content_type=V2)
    r = rest.send("POST", uri("g", "c", "/positions"), {"offsets": [{"topic": "t", "partition": 0, "offset": 1}]}, content_type=V2)
    assert r.status_code == 204
    assert [x["offset"] for x in records(rest, "g", "c", timeout=1000).json()] == [1, 2]
    r = rest.send("POST", uri("g", "c", "/positions/beginning"), {"partitions": [{"topic": "t", "partition": 0}]}, content_type=V2)
    assert r.status_code == 204
    assert [x["offset"] for x in records(rest, "g", "c", timeout=1000).json()] == [0, 1, 2]
    r = rest.send("POST", uri("g", "c", "/positions/end"), {"partitions": [{"topic": "t", "partition": 0}]}, content_type=V2)
    assert r.status_code == 204
    assert records(rest, "g", "c").json() == []
    # Seeking a partition the consumer does not have is Kafka's IllegalStateException.
    r = rest.send("POST", uri("g", "c", "/positions"), {"offsets": [{"topic": "t", "partition": 1, "offset": 0}]}, content_type=V2)
    assert r.status_code == 409 and r.json()["error_code"] == 40903


def test_positions_on_a_subscribed_consumer(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"0", b"1", b"2"])
    create(rest, name="c")
    subscribe(rest, "g", "c", ["t"])
    records(rest, "g", "c")  # gets the assignment; latest: at the end
    r = rest.send("POST", uri("g", "c", "/positions/beginning"), {"partitions": [{"topic": "t", "partition": 0}]}, content_type=V2)
    assert r.status_code == 204
    assert [x["offset"] for x in records(rest, "g", "c", timeout=1000).json()] == [0, 1, 2]


# --- Offsets ----------------------------------------------------------------------------------


def test_commit_and_a_new_instance_resumes_from_the_commit(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"0", b"1", b"2", b"3"])
    create(rest, name="a", **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"})
    subscribe(rest, "g", "a", ["t"])
    assert len(records(rest, "g", "a", timeout=1000).json()) == 4
    # The body names the last record handled; the group's committed offset is the next one.
    r = rest.send("POST", uri("g", "a", "/offsets"), {"offsets": [{"topic": "t", "partition": 0, "offset": 1, "metadata": "m"}]}, content_type=V2)
    assert r.status_code == 200, r.content
    assert get_offsets(rest, "g", "a", [{"topic": "t", "partition": 0}]).json() == {
        "offsets": [{"topic": "t", "partition": 0, "offset": 2, "metadata": "m"}]
    }
    assert rest.delete(uri("g", "a")).status_code == 204
    create(rest, name="b", **{"auto.offset.reset": "earliest"})
    subscribe(rest, "g", "b", ["t"])
    assert [x["offset"] for x in records(rest, "g", "b", timeout=1000).json()] == [2, 3]


def test_empty_commit_commits_current_positions(rest):
    topic_factory(name="t", partitions=2)
    produce("t", [b"0", b"1"], partition=0)
    produce("t", [b"0"], partition=1)
    create(rest, name="a", **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"})
    subscribe(rest, "g", "a", ["t"])
    assert len(records(rest, "g", "a", timeout=1000).json()) == 3
    assert rest.post(uri("g", "a", "/offsets"), content_type=V2).status_code == 200
    assert committed_offsets_get(group_id="g") == {("t", 0): (2, ""), ("t", 1): (1, "")}
    # Query parameters instead of a body, and no partitions at all (the assigned ones).
    r = rest.get(uri("g", "a", "/offsets?topic=t&partition=1"))
    assert r.json() == {"offsets": [{"topic": "t", "partition": 1, "offset": 1, "metadata": ""}]}
    assert [o["offset"] for o in rest.get(uri("g", "a", "/offsets")).json()["offsets"]] == [2, 1]


def test_uncommitted_partition_reads_minus_one(rest):
    topic_factory(name="t", partitions=1)
    create(rest, name="a")
    r = get_offsets(rest, "g", "a", [{"topic": "t", "partition": 0}])
    assert r.json() == {"offsets": [{"topic": "t", "partition": 0, "offset": -1, "metadata": ""}]}


def test_auto_commit_commits_what_was_returned_on_the_next_poll_and_on_delete(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"0", b"1"])
    create(rest, name="a", **{"auto.offset.reset": "earliest"})
    subscribe(rest, "g", "a", ["t"])
    assert len(records(rest, "g", "a", timeout=1000).json()) == 2
    assert committed_offsets_get(group_id="g") == {}
    records(rest, "g", "a")
    assert committed_offsets_get(group_id="g") == {("t", 0): (2, "")}
    produce("t", [b"2"])
    assert len(records(rest, "g", "a", timeout=1000).json()) == 1
    rest.delete(uri("g", "a"))
    assert committed_offsets_get(group_id="g") == {("t", 0): (3, "")}


def test_manual_assignment_commits_outside_the_group(rest):
    topic_factory(name="t", partitions=1)
    produce("t", [b"0", b"1"])
    create(rest, "solo", name="a", **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"})
    rest.send("POST", uri("solo", "a", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]}, content_type=V2)
    assert len(records(rest, "solo", "a", timeout=1000).json()) == 2
    assert rest.post(uri("solo", "a", "/offsets"), content_type=V2).status_code == 200
    assert committed_offsets_get(group_id="solo") == {("t", 0): (2, "")}


def test_bad_commit_body_is_422(rest):
    create(rest, name="a")
    r = rest.send("POST", uri("g", "a", "/offsets"), {"offsets": [{"topic": "t"}]}, content_type=V2)
    assert r.status_code == 422 and r.json()["error_code"] == 42206


# --- Group membership ---------------------------------------------------------------------------


def test_two_instances_share_the_partitions_and_deleting_one_rebalances(rest):
    topic_factory(name="t", partitions=4)
    create(rest, name="a")
    create(rest, name="b")
    subscribe(rest, "g", "a", ["t"])
    subscribe(rest, "g", "b", ["t"])
    # Polling is the heartbeat that lets the rebalance finish.
    records(rest, "g", "a", timeout=200)
    records(rest, "g", "b", timeout=200)
    owned = assignments("g")
    assert sorted(len(v) for v in owned.values()) == [2, 2]
    assert sorted(tp for v in owned.values() for tp in v) == [("t", i) for i in range(4)]
    assert len(rest.get(uri("g", "b", "/assignments")).json()["partitions"]) == 2

    assert rest.delete(uri("g", "b")).status_code == 204
    records(rest, "g", "a", timeout=200)
    assert assignments("g") == {"a": [("t", i) for i in range(4)]}


def test_two_instances_consume_each_record_once(rest):
    topic_factory(name="t", partitions=4)
    for name in ("a", "b"):
        create(rest, name=name, **{"auto.offset.reset": "earliest"})
        subscribe(rest, "g", name, ["t"])
    records(rest, "g", "a", timeout=200)
    records(rest, "g", "b", timeout=200)
    for p in range(4):
        produce("t", [f"{p}".encode()], partition=p)
    got = records(rest, "g", "a", timeout=500).json() + records(rest, "g", "b", timeout=500).json()
    assert sorted(x["partition"] for x in got) == [0, 1, 2, 3]


def test_idle_instance_expires_lazily(rest, fake_clock, settings):
    topic_factory(name="t", partitions=2)
    create(rest, name="a")
    subscribe(rest, "g", "a", ["t"])
    fake_clock.advance(settings.REST["CONSUMER_INSTANCE_TIMEOUT_MS"] - 1000)
    assert rest.get(uri("g", "a", "/subscription")).status_code == 200  # any use keeps it
    fake_clock.advance(settings.REST["CONSUMER_INSTANCE_TIMEOUT_MS"] + 1)
    r = rest.get(uri("g", "a", "/subscription"))
    assert r.status_code == 404 and r.json()["error_code"] == 40403
    assert group_describe(group_id="g").members == []
    assert not RestConsumer.objects.exists()


def test_idle_instances_expire_in_the_maintenance_sweep(rest, fake_clock, settings):
    from console.management.commands.serve import console_jobs

    topic_factory(name="t", partitions=2)
    create(rest, name="idle")
    subscribe(rest, "g", "idle", ["t"])
    fake_clock.advance(settings.REST["CONSUMER_INSTANCE_TIMEOUT_MS"] - 1000)
    create(rest, name="busy")
    subscribe(rest, "g", "busy", ["t"])
    fake_clock.advance(2000)
    [(_, _, expire)] = console_jobs()  # what `serve` hands the maintenance thread
    assert expire() == {"rest_consumers_expired": 1}
    assert list(RestConsumer.objects.values_list("name", flat=True)) == ["busy"]
    assert [m.client_id for m in group_describe(group_id="g").members] == ["busy"]
    assert instances_expire() == {"rest_consumers_expired": 0}


def test_member_dropped_by_the_coordinator_rejoins_on_the_next_poll(rest, fake_clock, settings):
    topic_factory(name="t", partitions=1)
    settings.REST = {**settings.REST, "CONSUMER_INSTANCE_TIMEOUT_MS": 10 * settings.BROKER["GROUP_MAX_SESSION_TIMEOUT_MS"]}
    create(rest, name="a")
    subscribe(rest, "g", "a", ["t"])
    fake_clock.advance(settings.BROKER["GROUP_MAX_SESSION_TIMEOUT_MS"] + 1)
    from brokercore.coordinator.sweep import groups_sweep

    groups_sweep()
    assert group_describe(group_id="g").members == []
    assert records(rest, "g", "a", timeout=200).status_code == 200
    assert assignments("g") == {"a": [("t", 0)]}


@pytest.mark.parametrize(
    "suffix,body",
    [
        ("/subscription", {"topic_pattern": "a\x00b"}),
        ("/subscription", {"topics": ["bad name"]}),
        ("/assignments", {"partitions": [{"topic": "t\x00", "partition": 0}]}),
        ("/offsets", {"offsets": [{"topic": "t", "partition": 0, "offset": 1, "metadata": "\x00"}]}),
        ("/offsets", '{"offsets": [{"topic": "t", "partition": 0, "offset": 1, "metadata": "\\ud800"}]}'),
    ],
)
def test_text_the_database_cannot_store_is_refused(rest, suffix, body):
    topic_factory(name="t", partitions=1)
    create(rest, name="c", **{"auto.commit.enable": "false"})
    r = rest.send("POST", uri("g", "c", suffix), body, content_type=V2)
    assert r.status_code == 422, r.content


def test_nul_in_path_is_not_found(rest):
    assert rest.get(f"{BASE}/g%00/instances/c/subscription").status_code == 404
    # Refused before any view (console/request_checks.py): no group name may hold NUL.
    r = rest.send("POST", f"{BASE}/g%00", {}, content_type=V2)
    assert r.status_code == 404 and r.json()["error_code"] == 404


def test_out_of_range_settings_are_42204(rest):
    r = rest.send("POST", f"{BASE}/g", {"fetch.min.bytes": 2**40}, content_type=V2)
    assert r.status_code == 422 and r.json()["error_code"] == 42204
