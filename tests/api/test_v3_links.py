"""Every link a v3 object carries leads somewhere that answers; broker configs, partition replicas
of a broker and partition reassignments as Confluent's proxy serves them."""

from collections import deque
from urllib.parse import urlsplit

import pytest

from brokercore.cluster.read import broker_configs, cluster_id, node_embedded
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import group_describe
from brokercore.coordinator.server_members import group_join
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def base():
    return f"/rest/v3/clusters/{cluster_id()}"


@pytest.fixture
def world(db):
    topic_create(name="orders", partitions=2)
    topic_create(name="audit", partitions=1)
    records_append(topic="orders", records=[RecordIn(value=b"x")] * 4, partition=0)
    offsets_commit(group_id="billing", offsets={("orders", 0): 1, ("orders", 1): 0})
    group_join(group_id="billing", topics=["orders"], client_id="billing-1")


def links(obj):
    """Every URL an answer names: related links and metadata.self / next, at any depth."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("related", "self", "next") and isinstance(value, str):
                yield value
            else:
                yield from links(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from links(item)


def test_every_link_answers(rest, world, base):
    seen, queue, answers = set(), deque(["/rest/v3/clusters"]), {}
    while queue:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        r = rest.get(path)
        answers[path] = r.status_code
        if r.status_code != 200:
            continue
        for url in links(r.json()):
            parts = urlsplit(url)
            assert parts.netloc == "127.0.0.1", url
            queue.append(parts.path)
    broken = {p: s for p, s in answers.items() if s != 200 and not p.endswith("/reassignment")}
    assert not broken, broken
    # A partition's reassignment is 404 as in Confluent's proxy when none is in progress, and
    # here none ever is; the lists of them answer, empty.
    assert answers[f"{base}/topics/orders/partitions/0/reassignment"] == 404
    assert answers[f"{base}/topics/-/partitions/-/reassignment"] == 200
    assert answers[f"{base}/topics/orders/partitions/-/reassignment"] == 200
    # The crawl reached the new endpoints through links alone.
    for path in ("/broker-configs", "/brokers/1/configs", "/brokers/1/partition-replicas", "/acls"):
        assert answers[base + path] == 200, path
    assert len(answers) > 40


def test_the_cluster_links_to_its_acls(rest, base):
    cluster = rest.get(base).json()
    assert cluster["acls"]["related"].endswith(base + "/acls")
    listed = rest.get(base + "/acls").json()
    assert listed["kind"] == "KafkaAclList" and listed["data"] == []


def test_broker_configs_are_the_kafka_listeners_read_only_settings(rest, world, base, settings):
    settings.BROKER = {**settings.BROKER, "MESSAGE_MAX_BYTES": 2_000_000, "AUTO_CREATE_TOPICS": False}
    listed = rest.get(base + "/brokers/1/configs").json()
    assert listed["kind"] == "KafkaBrokerConfigList" and listed["metadata"]["next"] is None
    configs = {c["name"]: c for c in listed["data"]}
    assert configs["message.max.bytes"]["value"] == "2000000"
    assert configs["auto.create.topics.enable"]["value"] == "false"
    assert configs["num.partitions"]["value"] == str(settings.BROKER["DEFAULT_PARTITIONS"])
    assert configs["broker.id"]["value"] == "1"
    one = configs["group.min.session.timeout.ms"]
    assert one["kind"] == "KafkaBrokerConfig" and one["broker_id"] == 1
    assert (one["is_read_only"], one["is_sensitive"], one["source"]) == (True, False, "STATIC_BROKER_CONFIG")
    assert one["value"] == str(settings.BROKER["GROUP_MIN_SESSION_TIMEOUT_MS"])
    assert one["metadata"]["resource_name"].endswith("/broker=1/config=group.min.session.timeout.ms")
    assert rest.get(base + "/brokers/1/configs/message.max.bytes").json() == configs["message.max.bytes"]
    # The settings' names and values a Kafka AdminClient's describe_configs gets, and the broker
    # configs topics default from.
    node = node_embedded()
    static = {c.name: c.value for c in broker_configs(node_id=node.node_id, host=node.host, port=node.port)}
    assert static.items() <= {n: c["value"] for n, c in configs.items()}.items()
    assert configs["log.retention.hours"]["value"] == "168" and configs["log.retention.hours"]["is_read_only"]
    assert configs["log.retention.ms"]["value"] is None and not configs["log.retention.ms"]["is_read_only"]

    cluster = rest.get(base + "/broker-configs").json()
    assert cluster["kind"] == "KafkaClusterConfigList"
    wide = {c["name"]: c for c in cluster["data"]}
    # Settings that name one node are not cluster-wide.
    assert "broker.id" not in wide and "node.id" not in wide and "advertised.listeners" not in wide
    assert wide["message.max.bytes"]["value"] == "2000000" and wide["message.max.bytes"]["config_type"] == "BROKER"
    assert wide["message.max.bytes"]["kind"] == "KafkaClusterConfig"
    assert rest.get(base + "/broker-configs/num.partitions").json() == wide["num.partitions"]


def test_broker_config_errors(rest, world, base, rest_anonymous):
    r = rest.get(base + "/brokers/1/configs/no.such.config")
    assert r.status_code == 404 and r.json()["error_code"] == 40406
    assert rest.get(base + "/brokers/7/configs").json()["error_code"] == 40407
    assert rest.get(base + "/brokers/7/configs/message.max.bytes").json()["error_code"] == 40407
    assert rest.get(base + "/brokers/7/partition-replicas").json()["error_code"] == 40407
    assert rest.get(base + "/broker-configs/broker.id").json()["error_code"] == 40406
    assert rest.get("/rest/v3/clusters/nope/broker-configs").json()["error_code"] == 40404
    assert rest_anonymous.get(base + "/broker-configs").status_code == 401
    # The settings a process starts with are read-only, as Kafka's non-dynamic configs.
    r = rest.put(base + "/broker-configs/num.partitions", '{"value": "3"}', content_type="application/json")
    assert r.status_code == 400 and "Cannot update these configs dynamically: Set(num.partitions)" in r.json()["message"]
    r = rest.put(base + "/broker-configs/log.retention.ms", '{"value": "soon"}', content_type="application/json")
    assert r.status_code == 400 and "Not a number of type LONG" in r.json()["message"]
    assert rest.get(base + "/broker-configs/num.partitions").json()["value"] == "1"


def test_broker_configs_set_cluster_wide_and_per_broker_are_topic_defaults(rest, world, base):
    r = rest.put(base + "/broker-configs/log.retention.ms", '{"value": "60000"}', content_type="application/json")
    assert r.status_code == 204, r.content
    wide = rest.get(base + "/broker-configs/log.retention.ms").json()
    assert (wide["value"], wide["source"], wide["is_read_only"]) == ("60000", "DYNAMIC_DEFAULT_BROKER_CONFIG", False)
    topic = rest.get(base + "/topics/orders/configs/retention.ms").json()
    assert (topic["value"], topic["source"]) == ("60000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
    assert topic["synonyms"][0] == {"name": "log.retention.ms", "value": "60000", "source": "DYNAMIC_DEFAULT_BROKER_CONFIG"}
    r = rest.post(base + "/brokers/1/configs:alter", {"data": [
        {"name": "log.retention.ms", "value": "30000"}, {"name": "log.cleanup.policy", "value": "compact", "operation": "APPEND"},
    ]}, content_type="application/json")
    assert r.status_code == 204, r.content
    configs = {c["name"]: c for c in rest.get(base + "/brokers/1/configs").json()["data"]}
    assert (configs["log.retention.ms"]["value"], configs["log.retention.ms"]["source"]) == ("30000", "DYNAMIC_BROKER_CONFIG")
    assert configs["log.cleanup.policy"]["value"] == "delete,compact"
    assert rest.get(base + "/topics/orders/configs/retention.ms").json()["value"] == "30000"
    assert rest.delete(base + "/brokers/1/configs/log.retention.ms").status_code == 204
    assert rest.delete(base + "/broker-configs/log.retention.ms").status_code == 204
    assert rest.get(base + "/topics/orders/configs/retention.ms").json()["value"] == "604800000"


def test_broker_partition_replicas_lists_what_the_broker_holds(rest, world, base):
    listed = rest.get(base + "/brokers/1/partition-replicas").json()
    assert listed["kind"] == "KafkaReplicaList"
    held = sorted((r["topic_name"], r["partition_id"]) for r in listed["data"])
    # The group's commits created __consumer_offsets, whose partitions this broker holds too.
    internal = [tp for tp in held if tp[0] == "__consumer_offsets"]
    assert len(internal) == 50
    assert [tp for tp in held if tp not in internal] == [("audit", 0), ("orders", 0), ("orders", 1)]
    for r in listed["data"]:
        assert r["kind"] == "KafkaReplica" and r["broker_id"] == 1 and r["is_leader"] and r["is_in_sync"]
        # The same object as under the partition.
        assert rest.get(urlsplit(r["metadata"]["self"]).path).json() == r


def test_reassignments(rest, world, base):
    for path in ("/topics/-/partitions/-/reassignment", "/topics/orders/partitions/-/reassignment"):
        body = rest.get(base + path).json()
        assert body["kind"] == "KafkaReassignmentList" and body["data"] == [] and body["metadata"]["next"] is None
    assert rest.get(base + "/topics/nope/partitions/-/reassignment").json()["error_code"] == 40401
    assert rest.get(base + "/topics/orders/partitions/0/reassignment").json()["error_code"] == 40402
    assert rest.get(base + "/topics/orders/partitions/9/reassignment").json()["error_code"] == 40402


def test_one_assignment_of_a_consumer(rest, world, base):
    [member] = group_describe(group_id="billing").members
    path = f"{base}/consumer-groups/billing/consumers/{member.member_id}/assignments"
    listed = rest.get(path).json()["data"]
    assert rest.get(path + "/orders/partitions/1").json() == listed[1]
    assert rest.get(path + "/audit/partitions/0").json()["error_code"] == 40402
    assert rest.get(path + "/orders/partitions/5").json()["error_code"] == 40402
    nobody = f"{base}/consumer-groups/billing/consumers/nobody/assignments/orders/partitions/0"
    assert rest.get(nobody).json()["error_code"] == 40403
