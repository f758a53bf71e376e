"""Kafka's ACLs: the authorizer's rules (brokercore/security/acl.py), the ACL APIs and their
enforcement on the listener, with several users and real clients."""

import time

import pytest

from brokercore.security.acl import (
    AclBinding,
    AclFilter,
    Operation,
    PatternType,
    Permission,
    Requester,
    ResourceType,
    acls_create,
    acls_delete,
    acls_describe,
    operations_from_bits,
)
from brokercore.security.principal import ANONYMOUS, Principal
from brokercore.topics.service import topic_create
from tests.kafka.conftest import Credentials, user_create

TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = Permission.ALLOW, Permission.DENY


def acl(principal: str, operation: Operation, name: str, *, resource_type=TOPIC, pattern=LITERAL, permission=ALLOW,
        host: str = "*") -> AclBinding:
    return AclBinding(resource_type, name, pattern, principal, host, operation, permission)


def grant(*bindings: AclBinding) -> None:
    assert acls_create(bindings=bindings) == [None] * len(bindings)


def may(name: str, operation: Operation, resource: str, *, resource_type=TOPIC, host="10.0.0.1", user_id=None) -> bool:
    return Requester(Principal(name, user_id), host).may(operation, resource_type, resource)


# --- The authorizer's rules ------------------------------------------------------------------------


def test_without_acls_everyone_reads_and_writes_and_only_staff_change(db):
    staff, _, _ = user_create(staff=True)
    for op in (Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS):
        assert may("alice", op, "t")
    for op in (Operation.CREATE, Operation.DELETE, Operation.ALTER, Operation.ALTER_CONFIGS):
        assert not may("alice", op, "t")
        assert may(staff.username, op, "t", user_id=staff.pk)


@pytest.mark.parametrize(("rule", "read", "delete"), [("read-write", True, False), ("allow", True, True),
                                                      ("deny", False, False)])
def test_the_no_acl_rule_is_a_setting(db, settings, rule, read, delete):
    settings.BROKER = {**settings.BROKER, "ACL_NO_MATCH": rule}
    assert may("alice", Operation.READ, "t") is read
    assert may("alice", Operation.DELETE, "t") is delete


def test_an_acl_on_a_resource_takes_it_out_of_the_no_acl_rule_for_everyone(db):
    grant(acl("User:alice", Operation.READ, "orders"))
    assert may("alice", Operation.READ, "orders")
    assert may("alice", Operation.DESCRIBE, "orders")  # READ implies DESCRIBE
    assert not may("alice", Operation.WRITE, "orders")
    assert not may("bob", Operation.READ, "orders") and not may("bob", Operation.DESCRIBE, "orders")
    assert may("bob", Operation.READ, "other")  # no ACL names it


def test_a_prefixed_acl_grants_exactly_its_prefix(db):
    grant(acl("User:ci", Operation.WRITE, "ci-", pattern=PREFIXED))
    assert may("ci", Operation.WRITE, "ci-builds") and may("ci", Operation.WRITE, "ci-")
    assert not may("other", Operation.WRITE, "ci-builds")
    assert may("ci", Operation.WRITE, "cj-x")  # not named by the ACL: the no-ACL rule
    grant(acl("User:*", Operation.READ, "c", pattern=PREFIXED))
    assert not may("ci", Operation.WRITE, "cj-x")  # now named by `c`, which grants only READ


def test_deny_beats_allow_and_all_matches_every_operation(db):
    grant(acl("User:*", Operation.ALL, "t"), acl("User:mallory", Operation.WRITE, "t", permission=DENY))
    assert may("alice", Operation.WRITE, "t") and may("alice", Operation.DELETE, "t")
    assert not may("mallory", Operation.WRITE, "t")
    assert may("mallory", Operation.READ, "t")
    grant(acl("User:mallory", Operation.ALL, "t", pattern=PREFIXED, permission=DENY))
    assert not may("mallory", Operation.READ, "t")


def test_hosts_wildcards_and_staff(db):
    grant(acl("User:alice", Operation.READ, "*", host="10.0.0.1"))
    assert may("alice", Operation.READ, "anything", host="10.0.0.1")
    assert not may("alice", Operation.READ, "anything", host="10.0.0.2")
    staff, _, _ = user_create(staff=True)
    grant(acl(f"User:{staff.username}", Operation.ALL, "t", permission=DENY))
    assert may(staff.username, Operation.DELETE, "t", user_id=staff.pk)  # super users pass every ACL


def test_alter_configs_implies_describe_configs_and_bitfields(db):
    grant(acl("User:ops", Operation.ALTER_CONFIGS, "t"))
    assert may("ops", Operation.DESCRIBE_CONFIGS, "t") and not may("ops", Operation.READ, "t")
    bits = Requester(Principal("ops"), "h").operations(TOPIC, "t")
    assert operations_from_bits(bits) == [Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS]
    assert operations_from_bits(Requester(ANONYMOUS, "h").operations(GROUP, "g")) == [Operation.READ, Operation.DESCRIBE]


def test_create_validates_describe_and_delete_filter(db):
    errors = acls_create(bindings=[
        acl("User:a", Operation.READ, "t"),
        acl("User:a", Operation.READ, "t"),  # the same ACL again: one row, no error
        acl("User:a", Operation.READ, ""),
        acl("User:a", Operation.CREATE, "other", resource_type=CLUSTER),
        acl("alice", Operation.READ, "t"),
        acl("User:a", Operation.ANY, "t"),
        acl("User:a", Operation.READ, "t", pattern=PatternType.MATCH),
    ])
    assert [None if e is None else str(e) for e in errors] == [
        None, None, "Invalid empty resource name", "The only valid name for the CLUSTER resource is kafka-cluster",
        "Could not parse principal from `alice` (no colon is present separating the principal type from the "
        "principal name)", "Invalid operation ANY", "Invalid patternType MATCH",
    ]
    grant(acl("User:b", Operation.WRITE, "t-", pattern=PREFIXED), acl("User:b", Operation.READ, "g", resource_type=GROUP))
    assert len(acls_describe(AclFilter())) == 3
    matching = acls_describe(AclFilter(resource_type=TOPIC, resource_name="t-1", pattern_type=PatternType.MATCH))
    assert [b.resource_name for b in matching] == ["t-"]
    assert [b.resource_name for b in acls_describe(AclFilter(resource_name="t"))] == ["t"]
    with pytest.raises(Exception, match="UNKNOWN"):
        acls_describe(AclFilter(operation=Operation.UNKNOWN))
    deleted = acls_delete(filters=[AclFilter(principal="User:b"), AclFilter(resource_type=GROUP)])
    assert [[b.resource_name for b in r] for r in deleted] == [["t-", "g"], []]  # the first filter counts
    assert [b.principal for b in acls_describe(AclFilter())] == ["User:a"]


# --- ACL APIs with confluent-kafka's AdminClient -------------------------------------------------


def _admin(bootstrap: str, who: Credentials):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, **who.confluent()})


def test_confluent_admin_creates_describes_and_deletes_acls(kafka_bootstrap, kafka_staff, kafka_user):
    from confluent_kafka import KafkaException
    from confluent_kafka import admin as ck
    from confluent_kafka.admin import AclOperation, AclPermissionType, ResourcePatternType

    Binding, AclBindingFilter, RT = ck.AclBinding, ck.AclBindingFilter, ck.ResourceType

    admin = _admin(kafka_bootstrap, kafka_staff)
    read = Binding(RT.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ,
                   AclPermissionType.ALLOW)
    write = Binding(RT.TOPIC, "ci-", ResourcePatternType.PREFIXED, "User:ci", "*", AclOperation.WRITE,
                    AclPermissionType.ALLOW)
    for f in admin.create_acls([read, write]).values():
        assert f.result(10) is None
    assert {(b.resource_name, b.principal) for b in acls_describe(AclFilter())} == {
        ("orders", "User:alice"), ("ci-", "User:ci")}

    everything = AclBindingFilter(RT.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    described = admin.describe_acls(everything).result(10)
    assert sorted((b.name, b.resource_pattern_type, b.operation) for b in described) == [
        ("ci-", ResourcePatternType.PREFIXED, AclOperation.WRITE), ("orders", ResourcePatternType.LITERAL, AclOperation.READ)]
    match = AclBindingFilter(RT.TOPIC, "ci-builds", ResourcePatternType.MATCH, None, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    assert [b.name for b in admin.describe_acls(match).result(10)] == ["ci-"]

    # A user who may not ALTER the cluster gets CLUSTER_AUTHORIZATION_FAILED and changes nothing.
    user_admin = _admin(kafka_bootstrap, kafka_user)
    with pytest.raises(KafkaException) as refused:
        user_admin.delete_acls([everything])[everything].result(10)
    assert refused.value.args[0].code() == 31  # CLUSTER_AUTHORIZATION_FAILED
    assert len(acls_describe(AclFilter())) == 2

    [deleted] = admin.delete_acls([match]).values()
    assert [b.name for b in deleted.result(10)] == ["ci-"]
    assert [b.resource_name for b in acls_describe(AclFilter())] == ["orders"]


# --- Enforcement with real clients -----------------------------------------------------------------


@pytest.fixture
def limited(transactional_db) -> tuple[Credentials, Credentials]:
    """(alice, bob): alice may read and write topic `shared` and read group `team`; bob is named
    by no ACL, so the ACLs on `shared` and `team` leave him out of both."""
    alice, _, alice_token = user_create(name="alice")
    bob, _, bob_token = user_create(name="bob")
    topic_create(name="shared", partitions=1)
    grant(acl("User:alice", Operation.READ, "shared"), acl("User:alice", Operation.WRITE, "shared"),
          acl("User:alice", Operation.READ, "team", resource_type=GROUP))
    return Credentials(alice.username, alice_token), Credentials(bob.username, bob_token)


def _produce(bootstrap: str, who: Credentials, topic: str):
    from confluent_kafka import Producer

    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 5000, **who.confluent()})
    p.produce(topic, b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    return errors[0]


def test_confluent_kafka_producer_and_consumer_are_held_to_the_acls(kafka_bootstrap, limited):
    from confluent_kafka import Consumer, KafkaError

    alice, bob = limited
    assert _produce(kafka_bootstrap, alice, "shared") is None
    assert _produce(kafka_bootstrap, bob, "shared").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    def consume(who: Credentials, group: str, topic: str = "shared"):
        c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      **who.confluent()})
        c.subscribe([topic])
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is not None:
                    return msg
        finally:
            c.close()

    assert consume(alice, "team").value() == b"v"
    topic_create(name="open", partitions=1)  # named by no ACL: everyone reads it
    assert consume(bob, "team", "open").error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert consume(bob, "bobs").error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_kafka_python_is_held_to_the_acls_and_its_describes_work(kafka_bootstrap, limited, kafka_staff):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

    alice, bob = limited
    with pytest.raises(TopicAuthorizationFailedError):
        p = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=5000, **bob.kafka_python())
        try:
            p.send("shared", b"v").get(timeout=10)
        finally:
            p.close()
    topic_create(name="open", partitions=1)
    c = KafkaConsumer("open", bootstrap_servers=kafka_bootstrap, group_id="team",
                      auto_offset_reset="earliest", **bob.kafka_python())
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            c.poll(timeout_ms=10000)
    finally:
        c.close()

    # kafka-python 2.3+ turns the authorized-operations bitfields into ACLOperations: INT32_MIN
    # crashed it ("31 is not a valid ACLOperation").
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **alice.kafka_python())
    try:
        cluster = admin.describe_cluster()
        # No ACL names the cluster: the default rule's reads and writes.
        assert set(cluster["authorized_operations"]) == {"DESCRIBE", "DESCRIBE_CONFIGS", "IDEMPOTENT_WRITE"}
        [shared] = admin.describe_topics(["shared"])
        assert set(shared["authorized_operations"]) == {"READ", "WRITE", "DESCRIBE"}
    finally:
        admin.close()
    staff = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **kafka_staff.kafka_python())
    try:
        assert set(staff.describe_cluster()["authorized_operations"]) == {
            "CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"}
    finally:
        staff.close()


def test_metadata_and_list_groups_hide_what_one_may_not_describe(kafka_bootstrap, limited):
    from confluent_kafka.admin import AdminClient

    from brokercore.coordinator.server_members import group_join

    alice, bob = limited
    # Who may DESCRIBE the cluster lists every group (Kafka's ListGroups): an ACL on the cluster
    # takes that from everyone else.
    grant(acl("User:admin", Operation.DESCRIBE, "kafka-cluster", resource_type=CLUSTER))
    topic_create(name="open", partitions=1)
    group_join(group_id="team", client_id="c", topics=["shared"])
    group_join(group_id="public", client_id="c", topics=["open"])
    for who, topics, groups in ((alice, {"open", "shared"}, {"team", "public"}), (bob, {"open"}, {"public"})):
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap, **who.confluent()})
        assert set(admin.list_topics(timeout=10).topics) - {"__consumer_offsets"} == topics
        assert {g.group_id for g in admin.list_consumer_groups().result(10).valid} == groups


def test_kafkajs_gets_the_authorization_errors(kafka_bootstrap, limited, kafkajs):
    alice, bob = limited
    out = kafkajs.run(f"""
const {{ Kafka, logLevel }} = require("kafkajs");
const sasl = (u, p) => ({{ mechanism: "plain", username: u, password: p }});
(async () => {{
  const result = {{}};
  const bob = new Kafka({{ brokers: ["{kafka_bootstrap}"], sasl: sasl("{bob.username}", "{bob.password}"),
                          logLevel: logLevel.NOTHING, retry: {{ retries: 0 }} }});
  const producer = bob.producer();
  await producer.connect();
  try {{ await producer.send({{ topic: "shared", messages: [{{ value: "v" }}] }}); result.produce = "ok"; }}
  catch (e) {{ result.produce = e.type || (e.cause && e.cause.type) || (e.originalError && e.originalError.type) || e.name; }}
  await producer.disconnect();
  const alice = new Kafka({{ brokers: ["{kafka_bootstrap}"], sasl: sasl("{alice.username}", "{alice.password}"),
                            logLevel: logLevel.NOTHING, retry: {{ retries: 0 }} }});
  const admin = alice.admin();
  await admin.connect();
  try {{ await admin.deleteGroups(["team"]); result.deleteGroups = "ok"; }}
  catch (e) {{ result.deleteGroups = (e.groups && e.groups[0].error.type) || e.type || e.name; }}
  await admin.disconnect();
  console.log(JSON.stringify(result));
}})().catch(e => {{ console.error(e); process.exit(1); }});
""")
    assert out == {"produce": "TOPIC_AUTHORIZATION_FAILED", "deleteGroups": "GROUP_AUTHORIZATION_FAILED"}
