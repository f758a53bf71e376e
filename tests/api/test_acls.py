"""REST v2 and v3 under Kafka's ACLs, with several users (API tokens): each route asks the one
authorizer what its Kafka API equivalent needs, refusals are 403/40301, topics and groups one may
not describe are invisible; and v3's /acls in Confluent's shape, sharing the Kafka listener's ACLs."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model

from brokercore.cluster.read import cluster_id
from brokercore.coordinator.offsets import offsets_commit
from brokercore.security.acl import (
    AclFilter,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    acls_describe,
)
from brokercore.topics.read import topic_names_list
from console.api.tokens import token_create
from tests.api.conftest import RestClient
from tests.factories import acl_factory as grant
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db

TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
V2 = "application/vnd.kafka.v2+json"
V2_JSON = "application/vnd.kafka.json.v2+json"
V2_BINARY = "application/vnd.kafka.binary.v2+json"


def client(username: str, *, staff: bool = False) -> RestClient:
    user = get_user_model().objects.create_user(username=username, password=f"{username}-password", is_staff=staff)
    return RestClient(token_create(user=user, name="tests")[1])


@pytest.fixture
def people(db):
    """alice (an ACL reader of orders), bob (no ACL), ops (staff), topics orders and payments."""
    topic_factory(name="orders", partitions=1)
    topic_factory(name="payments", partitions=1)
    records_factory("orders", 3)
    offsets_commit(group_id="billing", offsets={("orders", 0): 1})
    offsets_commit(group_id="audit", offsets={("payments", 0): 0})
    return {"alice": client("alice"), "bob": client("bob"), "ops": client("ops", staff=True)}


@pytest.fixture
def base():
    return f"/rest/v3/clusters/{cluster_id()}"


def refused(response, words: str = "") -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error_code"] == 40301, body
    assert "is not authorized to" in body["message"] and words in body["message"], body


def user_topics(names) -> list[str]:
    """Topic names without the internal ones (__consumer_offsets: no ACL names it, all see it)."""
    return [n for n in names if not n.startswith("__")]


def produce_v3(c: RestClient, base: str, topic: str):
    return c.send("POST", f"{base}/topics/{topic}/records", {"value": {"type": "JSON", "data": 1}})


def test_without_acls_everyone_reads_and_writes_and_only_staff_change(people, base):
    alice, ops = people["alice"], people["ops"]
    assert produce_v3(alice, base, "orders").status_code == 200
    assert user_topics(alice.get("/rest/topics").json()) == ["orders", "payments"]
    refused(alice.send("POST", f"{base}/topics", {"topic_name": "new-one"}), "CREATE CLUSTER")
    refused(alice.delete(f"{base}/topics/orders"), "DELETE TOPIC 'orders'")
    assert ops.send("POST", f"{base}/topics", {"topic_name": "new-one"}).status_code == 201


def test_an_acl_on_a_topic_takes_it_from_everyone_else(people, base):
    alice, bob, ops = people["alice"], people["bob"], people["ops"]
    grant("User:alice", Operation.READ, "orders")
    # alice may read (READ implies DESCRIBE) but not write; bob cannot even see it; staff may all.
    assert alice.get(f"{base}/topics/orders").status_code == 200
    refused(produce_v3(alice, base, "orders"), "User:alice is not authorized to WRITE TOPIC 'orders'")
    refused(alice.send("POST", "/rest/topics/orders", {"records": [{"value": 1}]}, content_type=V2_JSON),
            "WRITE TOPIC")
    refused(bob.get(f"{base}/topics/orders"), "DESCRIBE TOPIC 'orders'")
    refused(bob.get("/rest/topics/orders"), "DESCRIBE")
    refused(bob.get("/rest/topics/orders/partitions/0/offsets"))
    refused(bob.get(f"{base}/topics/orders/partitions"))
    refused(bob.get(f"{base}/topics/orders/configs"), "DESCRIBE_CONFIGS")
    assert user_topics(t["topic_name"] for t in bob.get(f"{base}/topics").json()["data"]) == ["payments"]
    assert user_topics(bob.get("/rest/topics").json()) == ["payments"]
    assert produce_v3(ops, base, "orders").status_code == 200
    assert produce_v3(bob, base, "payments").status_code == 200  # no ACL names payments


def test_refusal_says_nothing_about_existence(people, base):
    grant("User:alice", Operation.READ, "secret-", pattern=PatternType.PREFIXED)
    bob = people["bob"]
    refused(bob.get(f"{base}/topics/secret-missing"))
    refused(bob.get("/rest/topics/secret-missing"))
    assert people["alice"].get(f"{base}/topics/secret-missing").json()["error_code"] == 40401


def test_a_prefixed_write_grants_exactly_its_prefix_and_a_deny_beats_it(people, base):
    topic_factory(name="ci-builds", partitions=1)
    topic_factory(name="ci-secrets", partitions=1)
    alice = people["alice"]
    grant("User:alice", Operation.WRITE, "ci-", pattern=PatternType.PREFIXED)
    grant("User:alice", Operation.WRITE, "ci-secrets", permission=Permission.DENY)
    grant("User:*", Operation.DESCRIBE, "orders")  # orders now has an ACL, none for alice's writes
    assert produce_v3(alice, base, "ci-builds").status_code == 200
    batch = alice.send("POST", f"{base}/topics/ci-builds/records:batch",
                       {"entries": [{"id": "1", "value": {"type": "JSON", "data": 1}}]})
    assert batch.status_code == 207 and len(batch.json()["successes"]) == 1
    refused(produce_v3(alice, base, "ci-secrets"), "WRITE TOPIC 'ci-secrets'")
    refused(produce_v3(alice, base, "orders"))


def test_changes_follow_the_kafka_operations(people, base):
    alice, bob = people["alice"], people["bob"]
    grant("User:alice", Operation.CREATE, "team-", pattern=PatternType.PREFIXED)
    grant("User:alice", Operation.ALTER_CONFIGS, "orders")
    grant("User:alice", Operation.DELETE, "payments")
    grant("User:alice", Operation.ALTER, "payments")
    assert alice.send("POST", f"{base}/topics", {"topic_name": "team-a"}).status_code == 201
    refused(alice.send("POST", f"{base}/topics", {"topic_name": "other"}), "CREATE")
    refused(bob.send("POST", f"{base}/topics", {"topic_name": "team-b"}), "CREATE")
    assert alice.send("PUT", f"{base}/topics/orders/configs/retention.ms", {"value": "1000"}).status_code == 204
    # ALTER_CONFIGS implies DESCRIBE_CONFIGS.
    assert alice.get(f"{base}/topics/orders/configs/retention.ms").json()["value"] == "1000"
    refused(bob.send("PUT", f"{base}/topics/orders/configs/retention.ms", {"value": "5"}), "ALTER_CONFIGS")
    assert alice.send("PATCH", f"{base}/topics/payments", {"partitions_count": 2}).status_code == 200
    assert alice.delete(f"{base}/topics/payments").status_code == 204
    assert "payments" not in topic_names_list()
    refused(alice.send("PUT", f"{base}/broker-configs/log.retention.ms", {"value": "1"}), "ALTER_CONFIGS CLUSTER")
    # Refused before the body is read, ACL or not.
    refused(bob.send("PATCH", f"{base}/topics/orders", "{not json"), "ALTER TOPIC 'orders'")


def test_authorized_operations_are_the_callers(people, base):
    grant("User:alice", Operation.READ, "orders")
    grant("User:alice", Operation.ALTER_CONFIGS, "orders")
    topic = people["alice"].get(f"{base}/topics/orders?include_authorized_operations=true").json()
    assert topic["authorized_operations"] == ["READ", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"]
    assert people["alice"].get(f"{base}/topics/orders").json()["authorized_operations"] == []
    listed = people["ops"].get(f"{base}/topics?include_authorized_operations=true").json()["data"]
    assert len(listed[0]["authorized_operations"]) == 8


def test_groups_need_describe_and_lags_hide_topics(people, base):
    alice, bob, ops = people["alice"], people["bob"], people["ops"]
    grant("User:alice", Operation.DESCRIBE, "billing", resource_type=GROUP)
    grant("User:carol", Operation.DESCRIBE, "audit", resource_type=GROUP)
    grant("User:carol", Operation.READ, "orders")  # billing's lag is on orders
    grant("User:bob", Operation.DESCRIBE, "kafka-cluster", resource_type=CLUSTER, permission=Permission.DENY)

    def listed(c):
        return sorted(g["consumer_group_id"] for g in c.get(f"{base}/consumer-groups").json()["data"])

    # Without DESCRIBE on the cluster, ListGroups is the groups one may DESCRIBE.
    assert listed(alice) == ["billing"] and listed(bob) == [] and listed(ops) == ["audit", "billing"]
    assert alice.get(f"{base}/consumer-groups/billing").status_code == 200
    refused(alice.get(f"{base}/consumer-groups/audit"), "DESCRIBE GROUP 'audit'")
    refused(bob.get(f"{base}/consumer-groups/billing/lags"), "DESCRIBE GROUP 'billing'")
    # OffsetFetch leaves out topics one may not describe: so does the lag.
    assert alice.get(f"{base}/consumer-groups/billing/lags").json()["data"] == []
    assert alice.get(f"{base}/consumer-groups/billing/lag-summary").json()["total_lag"] == 0
    assert [lag["topic_name"] for lag in ops.get(f"{base}/consumer-groups/billing/lags").json()["data"]] == ["orders"]


def test_v2_consumers_need_read_on_the_group_and_the_topics(people, settings):
    settings.REST = {**settings.REST, "CONSUMER_REQUEST_TIMEOUT_MS": 0}
    alice, bob = people["alice"], people["bob"]
    grant("User:alice", Operation.READ, "readers", resource_type=GROUP)
    grant("User:alice", Operation.READ, "orders")
    grant("User:bob", Operation.DESCRIBE, "orders")
    refused(bob.send("POST", "/rest/consumers/readers", {"name": "b"}, content_type=V2), "READ GROUP 'readers'")
    created = alice.send("POST", "/rest/consumers/readers", {"name": "a", "auto.offset.reset": "earliest"},
                         content_type=V2)
    assert created.status_code == 200, created.content
    inst = "/rest/consumers/readers/instances/a"
    # payments has no ACL, so alice may see it too: the pattern matches both.
    assert alice.send("POST", inst + "/subscription", {"topic_pattern": "[a-z].*"}, content_type=V2).status_code == 204
    assert alice.get(inst + "/subscription").json()["topics"] == ["orders", "payments"]
    records = alice.get(inst + "/records", HTTP_ACCEPT=V2_BINARY)
    assert records.status_code == 200 and [r["topic"] for r in records.json()] == ["orders"] * 3
    assert alice.delete(inst).status_code == 204


def test_v2_pattern_subscriptions_match_only_visible_topics_and_poll_needs_read(people, settings):
    settings.REST = {**settings.REST, "CONSUMER_REQUEST_TIMEOUT_MS": 0}
    bob = people["bob"]
    grant("User:alice", Operation.READ, "orders")
    grant("User:bob", Operation.DESCRIBE, "payments")
    grant("User:bob", Operation.READ, "bobs", resource_type=GROUP)
    assert bob.send("POST", "/rest/consumers/bobs", {"name": "b"}, content_type=V2).status_code == 200
    inst = "/rest/consumers/bobs/instances/b"
    assert bob.send("POST", inst + "/subscription", {"topic_pattern": "[a-z].*"}, content_type=V2).status_code == 204
    assert bob.get(inst + "/subscription").json()["topics"] == ["payments"]  # orders is invisible to bob
    refused(bob.get(inst + "/records", HTTP_ACCEPT=V2_BINARY), "READ TOPIC 'payments'")
    refused(bob.send("POST", inst + "/subscription", {"topics": ["orders"]}, content_type=V2), "DESCRIBE TOPIC 'orders'")
    assert bob.send("DELETE", inst + "/subscription").status_code == 204
    refused(bob.send("POST", inst + "/assignments", {"partitions": [{"topic": "orders", "partition": 0}]},
                     content_type=V2))
    refused(bob.send("POST", inst + "/offsets", {"offsets": [{"topic": "payments", "partition": 0, "offset": 0}]},
                     content_type=V2), "READ TOPIC 'payments'")
    assert bob.delete(inst).status_code == 204  # closing is never refused


# --- /acls --------------------------------------------------------------------------------------


def acl_body(**overrides):
    return {"resource_type": "TOPIC", "resource_name": "orders", "pattern_type": "LITERAL", "principal": "User:alice",
            "host": "*", "operation": "READ", "permission": "ALLOW", **overrides}


def test_acls_create_search_delete_in_confluents_shape(people, base):
    ops = people["ops"]
    created = ops.send("POST", f"{base}/acls", acl_body())
    assert created.status_code == 201, created.content
    query = parse_qs(urlsplit(created["Location"]).query)
    assert query["resource_name"] == ["orders"] and query["operation"] == ["READ"]
    assert ops.send("POST", f"{base}/acls:batch", {"data": [
        acl_body(resource_name="ci-", pattern_type="PREFIXED", operation="WRITE"),
        acl_body(resource_type="GROUP", resource_name="billing", principal="User:bob", permission="DENY"),
    ]}).status_code == 204
    listed = ops.get(f"{base}/acls").json()
    assert listed["kind"] == "KafkaAclList" and listed["metadata"]["self"].startswith("http://127.0.0.1" + base + "/acls?")
    assert [(a["resource_type"], a["resource_name"], a["operation"]) for a in listed["data"]] == [
        ("GROUP", "billing", "READ"), ("TOPIC", "ci-", "WRITE"), ("TOPIC", "orders", "READ")]
    one = listed["data"][2]
    assert one["kind"] == "KafkaAcl" and one["cluster_id"] == cluster_id() and one["permission"] == "ALLOW"
    assert ops.get(one["metadata"]["self"].replace("http://127.0.0.1", "")).json()["data"] == [one]
    # MATCH finds what applies to a topic name: the prefix.
    matched = ops.get(f"{base}/acls?resource_type=topic&resource_name=ci-builds&pattern_type=match").json()["data"]
    assert [a["resource_name"] for a in matched] == ["ci-"]
    assert ops.get(f"{base}/acls?principal=User:bob").json()["data"][0]["permission"] == "DENY"
    # The Kafka listener's ACLs are these.
    assert len(acls_describe(AclFilter())) == 3
    deleted = ops.delete(f"{base}/acls?resource_type=TOPIC")
    assert deleted.status_code == 200
    assert sorted(a["resource_name"] for a in deleted.json()["data"]) == ["ci-", "orders"]
    assert [a.resource_name for a in acls_describe(AclFilter())] == ["billing"]


def test_acls_bad_input(people, base):
    ops = people["ops"]
    for body, words in ((acl_body(resource_type="ANY"), "resource_type cannot be ANY"),
                        (acl_body(pattern_type="MATCH"), "pattern_type cannot be MATCH"),
                        (acl_body(principal="alice"), "Could not parse principal"),
                        (acl_body(resource_type="CLUSTER"), "kafka-cluster"),
                        (acl_body(resource_name=""), "empty resource name")):
        answer = ops.send("POST", f"{base}/acls", body)
        assert answer.status_code == 400 and words in answer.json()["message"], (body, answer.content)
    assert ops.send("POST", f"{base}/acls", acl_body(operation="READS")).status_code == 422
    bad = ops.get(f"{base}/acls?operation=reads")
    assert bad.status_code == 400 and "operation must be one of" in bad.json()["message"]
    # A batch with one bad ACL creates none.
    answer = ops.send("POST", f"{base}/acls:batch", {"data": [acl_body(), acl_body(principal="nobody")]})
    assert answer.status_code == 400
    assert acls_describe(AclFilter()) == []
    assert ops.send("POST", f"{base}/acls:batch", {"data": []}).status_code == 400


def test_acls_need_describe_and_alter_on_the_cluster(people, base):
    alice, bob = people["alice"], people["bob"]
    refused(alice.send("POST", f"{base}/acls", acl_body(principal="User:alice", operation="ALL")), "ALTER CLUSTER")
    refused(alice.send("POST", f"{base}/acls", "{not json"), "ALTER CLUSTER")
    refused(alice.delete(f"{base}/acls"), "ALTER CLUSTER")
    assert alice.get(f"{base}/acls").status_code == 200  # DESCRIBE: no ACL names the cluster
    grant("User:alice", Operation.ALTER, "kafka-cluster", resource_type=CLUSTER)
    # ALTER implies DESCRIBE; bob now has neither (an ACL names the cluster).
    assert alice.send("POST", f"{base}/acls", acl_body(principal="User:bob")).status_code == 201
    assert len(alice.get(f"{base}/acls").json()["data"]) == 2
    refused(bob.get(f"{base}/acls"), "DESCRIBE CLUSTER")
    assert json.loads(alice.delete(f"{base}/acls?principal=User:bob").content)["data"][0]["principal"] == "User:bob"
