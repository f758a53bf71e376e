"""authorization_explain: for each operation, the authorizer's answer and the rule that gave it
(super user, a DENY, an ALLOW, the no-ACL rule, no ALLOW), always agreeing with `authorize`."""

import pytest
from django.contrib.auth import get_user_model

from brokercore.security.acl import (
    CLUSTER_NAME,
    SUPPORTED_OPERATIONS,
    AclBinding,
    Decision,
    DecisionRule,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    acl_order,
    authorization_explain,
    authorize,
)
from brokercore.security.principal import Principal
from tests.factories import acl_factory

pytestmark = pytest.mark.django_db

TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = Permission.ALLOW, Permission.DENY


def acl(name: str, principal: str, operation: Operation, **kwargs) -> AclBinding:
    return acl_factory(principal, operation, name, **kwargs)


def person(name: str, *, staff: bool = False) -> Principal:
    user = get_user_model().objects.create_user(username=name, password=f"{name}-pw", is_staff=staff)
    return Principal(name, user.pk)


def decisions(principal: Principal, resource_type: ResourceType, name: str, host: str = "10.0.0.1") -> dict:
    explained = authorization_explain(principal, host, resource_type, name)
    assert [d.operation for d in explained] == list(SUPPORTED_OPERATIONS[resource_type])
    for d in explained:  # the explanation is the authorizer's answer, never a second opinion
        assert d.allowed == authorize(principal, host, d.operation, resource_type, name), d
    return {d.operation: d for d in explained}


def test_without_acls_the_no_acl_rule_decides(settings):
    alice = person("alice")
    by_op = decisions(alice, TOPIC, "orders")
    assert {op for op, d in by_op.items() if d.allowed} == {Operation.READ, Operation.WRITE, Operation.DESCRIBE,
                                                            Operation.DESCRIBE_CONFIGS}
    assert {d.rule for d in by_op.values()} == {DecisionRule.NO_ACL_MATCH}
    assert all(d.acl is None for d in by_op.values())
    settings.BROKER = {**settings.BROKER, "ACL_NO_MATCH": "deny"}
    assert not any(d.allowed for d in decisions(alice, TOPIC, "orders").values())


def test_an_allow_names_itself_and_what_it_implies():
    alice = person("alice")
    read = acl("orders", "User:alice", Operation.READ)
    by_op = decisions(alice, TOPIC, "orders")
    assert by_op[Operation.READ] == Decision(Operation.READ, True, DecisionRule.ALLOW_ACL, read)
    # READ implies DESCRIBE (Kafka's AclOperation): the READ ACL is what allowed it.
    assert by_op[Operation.DESCRIBE].allowed and by_op[Operation.DESCRIBE].acl == read
    # An ACL names the topic now, so the no-ACL rule no longer applies: WRITE is refused.
    assert not by_op[Operation.WRITE].allowed and by_op[Operation.WRITE].rule == DecisionRule.NO_ALLOW_ACL
    # Someone else: refused too, for the same reason.
    assert decisions(person("bob"), TOPIC, "orders")[Operation.READ].rule == DecisionRule.NO_ALLOW_ACL


def test_a_deny_wins_over_an_allow_and_is_the_reason():
    alice = person("alice")
    acl("orders", "User:*", Operation.ALL)
    deny = acl("orders", "User:alice", Operation.WRITE, permission=DENY)
    by_op = decisions(alice, TOPIC, "orders")
    assert not by_op[Operation.WRITE].allowed
    assert (by_op[Operation.WRITE].rule, by_op[Operation.WRITE].acl) == (DecisionRule.DENY_ACL, deny)
    assert by_op[Operation.READ].allowed and by_op[Operation.READ].acl.principal == "User:*"


def test_a_prefixed_acl_grants_exactly_its_prefix():
    ci = person("ci")
    grant = acl("build-", "User:ci", Operation.WRITE, pattern=PREFIXED)
    assert decisions(ci, TOPIC, "build-42")[Operation.WRITE].acl == grant
    # "buil" is not under the prefix: no ACL names it, the default rule decides.
    assert decisions(ci, TOPIC, "buil")[Operation.WRITE].rule == DecisionRule.NO_ACL_MATCH


def test_an_acl_for_another_host_does_not_apply():
    alice = person("alice")
    acl("orders", "User:alice", Operation.READ, host="10.9.9.9")
    assert decisions(alice, TOPIC, "orders", host="10.0.0.1")[Operation.READ].rule == DecisionRule.NO_ALLOW_ACL
    assert decisions(alice, TOPIC, "orders", host="10.9.9.9")[Operation.READ].rule == DecisionRule.ALLOW_ACL


def test_super_users_may_do_everything_even_against_a_deny():
    ops = person("ops", staff=True)
    acl("orders", "User:ops", Operation.ALL, permission=DENY)
    by_op = decisions(ops, TOPIC, "orders")
    assert all(d.allowed and d.rule == DecisionRule.SUPER_USER for d in by_op.values())
    assert all(d.allowed for d in decisions(ops, CLUSTER, CLUSTER_NAME).values())


def test_groups_and_the_cluster_list_their_own_operations():
    alice = person("alice")
    acl("billing", "User:alice", Operation.READ, resource_type=GROUP)
    by_op = decisions(alice, GROUP, "billing")
    assert set(by_op) == {Operation.READ, Operation.DESCRIBE, Operation.DELETE}
    assert by_op[Operation.READ].allowed and not by_op[Operation.DELETE].allowed
    cluster = decisions(alice, CLUSTER, CLUSTER_NAME)
    assert cluster[Operation.DESCRIBE].allowed and not cluster[Operation.ALTER].allowed


def test_acl_order_reads_by_resource_then_principal():
    a = AclBinding(TOPIC, "orders", LITERAL, "User:bob", "*", Operation.READ, ALLOW)
    b = AclBinding(GROUP, "billing", LITERAL, "User:alice", "*", Operation.READ, ALLOW)
    c = AclBinding(TOPIC, "orders", LITERAL, "User:alice", "*", Operation.WRITE, DENY)
    assert sorted([a, b, c], key=acl_order) == [b, c, a]
