"""REST proxy v3: Confluent's shapes (kind, metadata, related links), codes and produce modes."""

import base64
import json

import pytest

from brokercore.cluster.read import cluster_id
from brokercore.coordinator.offsets import kafka_offsets_commit, offsets_commit
from brokercore.coordinator.server_members import group_join
from brokercore.log.append import records_append
from brokercore.log.read import records_fetch
from brokercore.partitioner import murmur2, to_positive
from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def cid():
    return cluster_id()


@pytest.fixture
def base(cid):
    return f"/rest/v3/clusters/{cid}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def concatenated(text: str) -> list:
    decoder, pos, out = json.JSONDecoder(), 0, []
    while pos < len(text):
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)
    return out


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error_code"] == code, response.json()


# --- clusters ---


def test_cluster_id_is_stable(cid):
    assert len(cid) == 22
    assert cluster_id() == cid


def test_clusters_list_and_get(rest, cid, base):
    r = rest.get("/rest/v3/clusters")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    body = r.json()
    assert body["kind"] == "KafkaClusterList" and body["metadata"]["next"] is None
    assert body["metadata"]["self"] == "http://127.0.0.1/rest/v3/clusters"
    (cluster,) = body["data"]
    assert cluster["kind"] == "KafkaCluster" and cluster["cluster_id"] == cid
    assert cluster["metadata"] == {"self": f"http://127.0.0.1{base}", "resource_name": f"crn:///kafka={cid}"}
    assert cluster["topics"] == {"related": f"http://127.0.0.1{base}/topics"}
    assert rest.get(base).json() == cluster


def test_unknown_cluster_is_40404(rest):
    assert_error(rest.get("/rest/v3/clusters/nope"), 404, 40404)
    assert_error(rest.get("/rest/v3/clusters/nope/topics"), 404, 40404)


def test_anonymous_is_401(rest_anonymous, base):
    assert_error(rest_anonymous.get(base + "/topics"), 401, 40101)


# --- topics ---


def test_topic_create_get_list_delete(rest, cid, base):
    r = rest.send(
        "POST",
        base + "/topics",
        {"topic_name": "orders", "partitions_count": 3, "replication_factor": 1,
         "configs": [{"name": "retention.ms", "value": "1000"}]},
    )
    assert r.status_code == 201, r.content
    topic = r.json()
    assert topic["kind"] == "KafkaTopic" and topic["topic_name"] == "orders"
    assert topic["partitions_count"] == 3 and topic["replication_factor"] == 1
    assert topic["metadata"] == {
        "self": f"http://127.0.0.1{base}/topics/orders",
        "resource_name": f"crn:///kafka={cid}/topic=orders",
    }
    assert topic["partitions"] == {"related": f"http://127.0.0.1{base}/topics/orders/partitions"}
    assert topic_describe(name="orders").overrides == {"retention.ms": "1000"}

    assert rest.get(base + "/topics/orders").json() == topic
    listed = rest.get(base + "/topics").json()
    assert listed["kind"] == "KafkaTopicList" and [t["topic_name"] for t in listed["data"]] == ["orders"]

    assert rest.delete(base + "/topics/orders").status_code == 204
    assert_error(rest.get(base + "/topics/orders"), 404, 40401)
    assert_error(rest.delete(base + "/topics/orders"), 404, 40401)


def test_topic_create_validate_only_writes_nothing(rest, base):
    r = rest.send("POST", base + "/topics", {"topic_name": "dry", "partitions_count": 2, "validate_only": True})
    assert r.status_code == 200 and r.json()["partitions_count"] == 2
    assert topic_names_list() == []


def test_topic_create_errors(rest, base):
    topic_create(name="t")
    assert_error(rest.send("POST", base + "/topics", {"topic_name": "t"}), 400, 40002)
    assert_error(rest.send("POST", base + "/topics", {"topic_name": "bad name!"}), 422, 42206)
    assert_error(rest.send("POST", base + "/topics", {"topic_name": "x", "partitions_count": 0}), 422, 42206)
    assert_error(rest.send("POST", base + "/topics", {"topic_name": "x", "partitions_count": 10**9}), 400, 40001)
    assert_error(rest.send("POST", base + "/topics", {"topic_name": "..", "partitions_count": 1}), 400, 40001)
    r = rest.send("POST", base + "/topics", {"topic_name": "x", "configs": [{"name": "nope", "value": "1"}]})
    assert_error(r, 400, 40001)
    assert_error(rest.send("POST", base + "/topics", {"partitions_count": 1}), 422, 42206)


def test_non_staff_may_read_but_not_change(rest_user, base):
    topic_create(name="t")
    assert rest_user.get(base + "/topics/t").status_code == 200
    assert_error(rest_user.send("POST", base + "/topics", {"topic_name": "u"}), 403, 40301)
    assert_error(rest_user.delete(base + "/topics/t"), 403, 40301)
    assert_error(rest_user.send("PATCH", base + "/topics/t", {"partitions_count": 4}), 403, 40301)
    assert_error(rest_user.send("PUT", base + "/topics/t/configs/retention.ms", {"value": "5"}), 403, 40301)
    assert_error(rest_user.delete(base + "/topics/t/configs/retention.ms"), 403, 40301)
    assert_error(rest_user.send("POST", base + "/topics/t/configs:alter", {"data": []}), 403, 40301)
    assert len(topic_describe(name="t").partitions) == 1


def test_topic_partitions_grow_never_shrink(rest, base):
    topic_create(name="t", partitions=2)
    r = rest.send("PATCH", base + "/topics/t", {"partitions_count": 5})
    assert r.status_code == 200 and r.json()["partitions_count"] == 5
    r = rest.send("PATCH", base + "/topics/t", {"partitions_count": 3})
    assert_error(r, 400, 40001)
    assert "only be added" in r.json()["message"] and "INVALID_PARTITIONS" in r.json()["message"]
    assert_error(rest.send("PATCH", base + "/topics/missing", {"partitions_count": 3}), 404, 40401)


# --- partitions ---


def test_partitions_with_offsets_and_replicas(rest, cid, base):
    topic_create(name="t", partitions=2)
    records_append(topic="t", records=[RecordIn(value=b"a"), RecordIn(value=b"b")], partition=1)
    listed = rest.get(base + "/topics/t/partitions").json()
    assert listed["kind"] == "KafkaPartitionList" and [p["partition_id"] for p in listed["data"]] == [0, 1]
    p = rest.get(base + "/topics/t/partitions/1").json()
    assert p["kind"] == "KafkaPartition" and (p["beginning_offset"], p["end_offset"]) == (0, 2)
    assert p["metadata"]["resource_name"] == f"crn:///kafka={cid}/topic=t/partition=1"
    leader = rest.get(p["leader"]["related"].removeprefix("http://127.0.0.1")).json()
    assert leader["kind"] == "KafkaReplica" and leader["is_leader"] and leader["is_in_sync"]
    replicas = rest.get(p["replicas"]["related"].removeprefix("http://127.0.0.1")).json()
    assert replicas["kind"] == "KafkaReplicaList" and len(replicas["data"]) == 1
    assert_error(rest.get(base + "/topics/t/partitions/2"), 404, 40402)
    assert_error(rest.get(base + "/topics/t/partitions/99999999999"), 404, 40402)
    assert_error(rest.get(base + "/topics/none/partitions"), 404, 40401)


# --- configs ---


def test_configs_list_get_put_delete(rest, cid, base):
    topic_create(name="t")
    listed = rest.get(base + "/topics/t/configs").json()
    assert listed["kind"] == "KafkaTopicConfigList"
    retention = next(c for c in listed["data"] if c["name"] == "retention.ms")
    assert retention == {
        "kind": "KafkaTopicConfig",
        "metadata": {
            "self": f"http://127.0.0.1{base}/topics/t/configs/retention.ms",
            "resource_name": f"crn:///kafka={cid}/topic=t/config=retention.ms",
        },
        "cluster_id": cid, "topic_name": "t", "name": "retention.ms", "value": "604800000",
        "is_default": True, "is_read_only": False, "is_sensitive": False, "source": "DEFAULT_CONFIG",
        "synonyms": [{"name": "log.retention.hours", "value": "168", "source": "DEFAULT_CONFIG"}],
    }
    assert rest.send("PUT", base + "/topics/t/configs/retention.ms", {"value": "1000"}).status_code == 204
    c = rest.get(base + "/topics/t/configs/retention.ms").json()
    assert (c["value"], c["is_default"], c["source"]) == ("1000", False, "DYNAMIC_TOPIC_CONFIG")
    assert [s["source"] for s in c["synonyms"]] == ["DYNAMIC_TOPIC_CONFIG", "DEFAULT_CONFIG"]
    assert_error(rest.send("PUT", base + "/topics/t/configs/retention.ms", {"value": "x"}), 400, 40001)
    assert rest.delete(base + "/topics/t/configs/retention.ms").status_code == 204
    assert rest.get(base + "/topics/t/configs/retention.ms").json()["is_default"] is True
    assert_error(rest.get(base + "/topics/t/configs/no.such"), 404, 40406)
    assert_error(rest.get(base + "/topics/none/configs/retention.ms"), 404, 40401)


def test_configs_alter(rest, base):
    topic_create(name="t", configs={"retention.ms": "1000"})
    r = rest.send("POST", base + "/topics/t/configs:alter", {"data": [
        {"name": "cleanup.policy", "value": "compact"},
        {"name": "retention.ms", "operation": "DELETE"},
    ]})
    assert r.status_code == 204, r.content
    assert topic_describe(name="t").overrides == {"cleanup.policy": "compact"}
    r = rest.send("POST", base + "/topics/t/configs:alter",
                  {"data": [{"name": "retention.ms", "value": "5"}], "validate_only": True})
    assert r.status_code == 204
    assert topic_describe(name="t").overrides == {"cleanup.policy": "compact"}
    assert_error(rest.send("POST", base + "/topics/t/configs:alter", {"data": [{"name": "x.y", "value": "1"}]}), 400, 40001)


# --- records ---


def fetch(topic, partition=0):
    return records_fetch(topic=topic, partition=partition, offset=0).records


def test_produce_binary_with_headers(rest, cid, base):
    topic_create(name="t")
    r = rest.send("POST", base + "/topics/t/records", {
        "headers": [{"name": "trace", "value": b64(b"\x00\x01")}, {"name": "empty", "value": None}],
        "key": {"type": "BINARY", "data": b64(b"\xffkey")},
        "value": {"type": "BINARY", "data": b64(b"hello")},
    })
    assert r.status_code == 200, r.content
    report = r.json()
    assert report["error_code"] == 200 and report["cluster_id"] == cid and report["topic_name"] == "t"
    assert (report["partition_id"], report["offset"]) == (0, 0)
    assert report["key"] == {"type": "BINARY", "size": 4} and report["value"] == {"type": "BINARY", "size": 5}
    assert report["timestamp"].endswith("Z")
    (rec,) = fetch("t")
    assert (rec.key, rec.value) == (b"\xffkey", b"hello")
    assert rec.headers == (("trace", b"\x00\x01"), ("empty", None))


def test_produce_json_and_string(rest, base):
    topic_create(name="t")
    r = rest.send("POST", base + "/topics/t/records", {
        "key": {"type": "STRING", "data": "clé"},
        "value": {"type": "JSON", "data": {"a": [1, 2], "b": "é"}},
        "timestamp": "2024-01-02T03:04:05.678Z",
    })
    assert r.status_code == 200, r.content
    assert r.json()["timestamp"] == "2024-01-02T03:04:05.678Z"
    assert r.json()["key"] == {"type": "STRING", "size": len("clé".encode())}
    (rec,) = fetch("t")
    assert rec.key == "clé".encode() and json.loads(rec.value) == {"a": [1, 2], "b": "é"}
    assert rec.value == '{"a":[1,2],"b":"é"}'.encode() and rec.timestamp == 1704164645678


def test_produce_without_key_reports_null_key(rest, base):
    topic_create(name="t")
    r = rest.send("POST", base + "/topics/t/records", {"value": {"type": "STRING", "data": "v"}})
    assert r.json()["key"] is None and fetch("t")[0].key is None


def test_keyed_records_use_murmur2_partitioner(rest, base):
    topic_create(name="t", partitions=6)
    for key in ["a", "b", "c", "user-42"]:
        r = rest.send("POST", base + "/topics/t/records",
                      {"key": {"type": "STRING", "data": key}, "value": {"type": "STRING", "data": "v"}})
        assert r.json()["partition_id"] == to_positive(murmur2(key.encode())) % 6


def test_produce_explicit_partition(rest, base):
    topic_create(name="t", partitions=3)
    r = rest.send("POST", base + "/topics/t/records", {"partition_id": 2, "value": {"type": "STRING", "data": "v"}})
    assert r.json()["partition_id"] == 2 and fetch("t", 2)[0].value == b"v"
    assert_error(rest.send("POST", base + "/topics/t/records", {"partition_id": 7, "value": None}), 404, 40402)


def test_produce_errors(rest, base):
    topic_create(name="t")
    url = base + "/topics/t/records"
    assert_error(rest.send("POST", url, {"value": {"type": "BINARY", "data": "not base64!"}}), 422, 42206)
    assert_error(rest.send("POST", url, {"headers": [{"name": "h", "value": "%%%"}]}), 422, 42206)
    assert_error(rest.send("POST", url, {"value": {"type": "AVRO", "data": 1}}), 422, 42206)
    assert_error(rest.send("POST", url, {"value": {"type": "STRING", "data": 5}}), 422, 42206)
    assert_error(rest.send("POST", url, {"timestamp": "yesterday"}), 422, 42206)
    assert_error(rest.send("POST", url, "{not json"), 400, 40001)
    assert_error(rest.send("POST", url, ""), 400, 40001)
    assert_error(rest.send("POST", base + "/topics/missing/records", {"value": None}), 404, 40401)
    assert fetch("t") == []


def test_produce_stream_of_three_records(rest, base):
    topic_create(name="t")
    body = (
        json.dumps({"value": {"type": "STRING", "data": "one"}})
        + "\n"
        + json.dumps({"value": {"type": "BINARY", "data": "!!bad"}})
        + json.dumps({"key": {"type": "JSON", "data": 1}, "value": {"type": "JSON", "data": [3]}})
    )
    r = rest.send("POST", base + "/topics/t/records", body)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    reports = concatenated(r.content.decode())
    assert [rep["error_code"] for rep in reports] == [200, 400, 200]
    assert "base64" in reports[1]["message"]
    assert [reports[0]["offset"], reports[2]["offset"]] == [0, 1]
    assert [rec.value for rec in fetch("t")] == [b"one", b"[3]"]


def test_produce_stream_truncated_json_is_reported_last(rest, base):
    topic_create(name="t")
    body = json.dumps({"value": {"type": "STRING", "data": "one"}}) + '{"value": '
    reports = concatenated(rest.send("POST", base + "/topics/t/records", body).content.decode())
    assert [rep["error_code"] for rep in reports] == [200, 400]


def test_produce_batch_with_a_failing_entry(rest, base):
    topic_create(name="t")
    r = rest.send("POST", base + "/topics/t/records:batch", {"entries": [
        {"id": "1", "value": {"type": "STRING", "data": "first"}},
        {"id": "2", "partition_id": 9, "value": {"type": "STRING", "data": "nowhere"}},
        {"id": "3", "key": {"type": "BINARY", "data": "???"}},
        {"id": "4", "value": {"type": "JSON", "data": {"ok": True}}},
    ]})
    assert r.status_code == 207, r.content
    body = r.json()
    assert [s["id"] for s in body["successes"]] == ["1", "4"]
    assert [s["offset"] for s in body["successes"]] == [0, 1]
    assert [(f["id"], f["error_code"]) for f in body["failures"]] == [("2", 404), ("3", 400)]
    assert [rec.value for rec in fetch("t")] == [b"first", b'{"ok":true}']


def test_produce_batch_needs_unique_ids(rest, base):
    topic_create(name="t")
    url = base + "/topics/t/records:batch"
    assert_error(rest.send("POST", url, {"entries": [{"id": "1"}, {"id": "1"}]}), 422, 42206)
    assert_error(rest.send("POST", url, {"entries": [{"value": None}]}), 422, 42206)
    assert_error(rest.send("POST", url, {"entries": []}), 422, 42206)


def test_produce_is_open_to_non_staff(rest_user, base):
    topic_create(name="t")
    r = rest_user.send("POST", base + "/topics/t/records", {"value": {"type": "STRING", "data": "v"}})
    assert r.status_code == 200


# --- consumer groups ---


def test_consumer_groups_consumers_and_assignments(rest, cid, base):
    topic_create(name="t", partitions=2)
    member = group_join(group_id="g", topics=["t"], client_id="app-1")
    listed = rest.get(base + "/consumer-groups").json()
    assert listed["kind"] == "KafkaConsumerGroupList"
    (group,) = listed["data"]
    assert group["kind"] == "KafkaConsumerGroup" and group["consumer_group_id"] == "g"
    assert group["state"] == "STABLE" and group["is_simple"] is False
    assert group["metadata"]["resource_name"] == f"crn:///kafka={cid}/consumer-group=g"
    assert rest.get(base + "/consumer-groups/g").json() == group

    consumers = rest.get(base + "/consumer-groups/g/consumers").json()
    assert consumers["kind"] == "KafkaConsumerList"
    (consumer,) = consumers["data"]
    assert consumer["kind"] == "KafkaConsumer" and consumer["consumer_id"] == member.member_id
    assert consumer["client_id"] == "app-1"
    path = f"{base}/consumer-groups/g/consumers/{member.member_id}"
    assert rest.get(path).json() == consumer
    assignments = rest.get(path + "/assignments").json()
    assert assignments["kind"] == "KafkaConsumerAssignmentList"
    assert [(a["kind"], a["topic_name"], a["partition_id"]) for a in assignments["data"]] == [
        ("KafkaConsumerAssignment", "t", 0), ("KafkaConsumerAssignment", "t", 1)
    ]
    assert_error(rest.get(base + "/consumer-groups/g/consumers/nobody"), 404, 40403)


def test_unknown_group_is_40405(rest, base):
    assert_error(rest.get(base + "/consumer-groups/nope"), 404, 40405)
    assert_error(rest.get(base + "/consumer-groups/nope/lags"), 404, 40405)
    assert_error(rest.get(base + "/consumer-groups/nope/lag-summary"), 404, 40405)


def test_lags_after_commit(rest, cid, base):
    topic_create(name="t", partitions=2)
    records_append(topic="t", records=[RecordIn(value=b"x")] * 5, partition=0)
    records_append(topic="t", records=[RecordIn(value=b"x")] * 3, partition=1)
    offsets_commit(group_id="g", offsets={("t", 0): 1, ("t", 1): 3})

    lags = rest.get(base + "/consumer-groups/g/lags").json()
    assert lags["kind"] == "KafkaConsumerLagList"
    assert [(x["partition_id"], x["current_offset"], x["log_end_offset"], x["lag"]) for x in lags["data"]] == [
        (0, 1, 5, 4), (1, 3, 3, 0)
    ]
    one = rest.get(base + "/consumer-groups/g/lags/t/partitions/0").json()
    assert one["kind"] == "KafkaConsumerLag" and one["lag"] == 4
    assert one["metadata"]["resource_name"] == f"crn:///kafka={cid}/consumer-group=g/lag=t/partition=0"
    assert_error(rest.get(base + "/consumer-groups/g/lags/t/partitions/5"), 404, 40402)

    summary = rest.get(base + "/consumer-groups/g/lag-summary").json()
    assert summary["kind"] == "KafkaConsumerGroupLagSummary"
    assert (summary["total_lag"], summary["max_lag"]) == (4, 4)
    assert (summary["max_lag_topic_name"], summary["max_lag_partition_id"]) == ("t", 0)
    assert summary["max_lag_partition"] == {"related": f"http://127.0.0.1{base}/topics/t/partitions/0"}
    group = rest.get(base + "/consumer-groups/g").json()
    assert group["is_simple"] is True and group["state"] == "EMPTY"


def test_a_negative_committed_offset_has_no_lag(rest, base):
    """A Kafka client may commit -2 (KafkaJS's reset to earliest): no lag is measured from it."""
    topic_create(name="t", partitions=2)
    records_append(topic="t", records=[RecordIn(value=b"x")] * 5, partition=0)
    records_append(topic="t", records=[RecordIn(value=b"x")] * 3, partition=1)
    kafka_offsets_commit(group_id="g", offsets={("t", 0): (-2, None, None), ("t", 1): (1, None, None)})
    lags = rest.get(base + "/consumer-groups/g/lags").json()
    assert [(x["partition_id"], x["current_offset"], x["lag"]) for x in lags["data"]] == [(1, 1, 2)]
    assert rest.get(base + "/consumer-groups/g/lag-summary").json()["total_lag"] == 2


# --- brokers ---


def test_brokers(rest, cid, base):
    listed = rest.get(base + "/brokers").json()
    assert listed["kind"] == "KafkaBrokerList"
    (broker,) = listed["data"]
    assert broker["kind"] == "KafkaBroker" and broker["broker_id"] == 1
    assert broker["metadata"]["resource_name"] == f"crn:///kafka={cid}/broker=1"
    assert rest.get(base + "/brokers/1").json() == broker
    assert_error(rest.get(base + "/brokers/7"), 404, 40407)
    controller = rest.get(base).json()["controller"]["related"]
    assert controller == f"http://127.0.0.1{base}/brokers/1"


# --- OpenAPI ---


def test_openapi_describes_v3_bodies_and_responses():
    from console.api import api

    doc = api.get_openapi_schema()
    produce = doc["paths"]["/rest/v3/clusters/{cluster_id}/topics/{topic_name}/records"]["post"]
    assert "application/json" in produce["requestBody"]["content"]
    assert {"200", "401", "404", "422"} <= {str(k) for k in produce["responses"]}
    for path, ops in doc["paths"].items():
        if path.startswith("/rest/v3/"):
            for op in ops.values():
                assert {"401", "404"} <= {str(k) for k in op["responses"]}, path


# --- Kafka rules the proxy shares with the Kafka listener ---


def test_topic_create_without_counts_takes_the_broker_defaults(rest, base, settings):
    # Kafka's CreateTopics and Metadata auto-creation use num.partitions / default.replication.factor
    # when the client leaves them out; so does v3 (it used to hard-code 1 and 1).
    settings.BROKER = {**settings.BROKER, "DEFAULT_PARTITIONS": 3}
    r = rest.send("POST", base + "/topics", {"topic_name": "defaults", "validate_only": True})
    assert r.status_code == 200 and r.json()["partitions_count"] == 3
    r = rest.send("POST", base + "/topics", {"topic_name": "defaults"})
    assert r.status_code == 201 and (r.json()["partitions_count"], r.json()["replication_factor"]) == (3, 1)
    assert len(topic_describe(name="defaults").partitions) == 3
    settings.BROKER = {**settings.BROKER, "DEFAULT_REPLICATION_FACTOR": 2}
    r = rest.send("POST", base + "/topics", {"topic_name": "rf"})  # one live broker: rf 2 is refused
    assert_error(r, 400, 40001)
    assert "Replication factor: 2" in r.json()["message"]


def test_is_internal_is_kafkas_internal_topics_only(rest, base):
    # Kafka's Topic.isInternal: the coordinators' own topics, not every name starting with "__".
    topic_create(name="__consumer_offsets")
    topic_create(name="__mine")
    topics = {t["topic_name"]: t["is_internal"] for t in rest.get(base + "/topics").json()["data"]}
    assert topics == {"__consumer_offsets": True, "__mine": False}


def test_topic_configs_are_what_describe_configs_reports(rest, base):
    from types import SimpleNamespace

    from brokercore.kafka.apis.meta import TOPIC, describe_configs_answer
    from brokercore.kafka.apis.registry import Node
    from brokercore.security.acl import Requester
    from brokercore.security.principal import ANONYMOUS

    topic_create(name="t", configs={"retention.ms": "1000"})
    v3 = rest.get(base + "/topics/t/configs").json()["data"]
    resource = SimpleNamespace(resource_type=TOPIC, resource_name="t", configuration_keys=None)
    (wire,) = describe_configs_answer([resource], Node(1, "localhost", 9092, None), synonyms=True, documentation=False,
                                      requester=Requester(ANONYMOUS, "127.0.0.1"))
    from brokercore.configdef import ConfigSource

    sources = {int(s): s.name for s in ConfigSource}
    assert [
        (c["name"], c["value"], c["is_default"], c["is_read_only"], c["source"],
         [(s["value"], s["source"]) for s in c["synonyms"]])
        for c in v3
    ] == [
        (c["name"], c["value"], c["is_default"], c["read_only"], sources[c["config_source"]],
         [(s["value"], sources[s["source"]]) for s in c["synonyms"]])
        for c in wire["configs"]
    ]
