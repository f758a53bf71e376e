"""The ACLs page with several users: staff add and remove ACLs (htmx and plain posts), others may
look (DESCRIBE on the cluster) but get 403 on changes, bad input gets the form's error in Kafka's
words, and the checker answers as the authorizer does (allow, deny, prefix, the no-ACL rule)."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from brokercore.security.acl import (
    CLUSTER_NAME,
    AclBinding,
    AclFilter,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    acls_describe,
)
from tests.factories import acl_factory as grant
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOPIC = ResourceType.TOPIC


def new(**fields) -> dict:
    """The add form's fields (prefix "new"), a valid ACL unless overridden."""
    base = {"resource_type": "TOPIC", "pattern_type": "LITERAL", "resource_name": "orders", "principal": "User:alice",
            "host": "*", "operation": "READ", "permission": "ALLOW"}
    return {f"new-{k}": v for k, v in {**base, **fields}.items()}


def removal(b: AclBinding) -> dict:
    return {"acl-resource_type": b.resource_type.name, "acl-pattern_type": b.pattern_type.name,
            "acl-resource_name": b.resource_name, "acl-principal": b.principal, "acl-host": b.host,
            "acl-operation": b.operation.name, "acl-permission": b.permission.name}


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw-alice-123")


def logged_in(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def all_acls() -> list[AclBinding]:
    return acls_describe(AclFilter())


def rows(html: str) -> list[str]:
    """The list's rows, as text with tags and spaces squeezed."""
    table = html.split('id="acl-table"', 1)[1]
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in table else ""
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in body.split("</tr>") if "<td" in r]


# --- Listing -------------------------------------------------------------------------------------


def test_the_page_lists_every_acl_and_filters_by_principal_and_resource(staff_client, alice):
    grant("User:alice", Operation.READ, "orders")
    grant("User:bob", Operation.WRITE, "pay-", pattern=PatternType.PREFIXED, permission=Permission.DENY)
    grant("User:alice", Operation.READ, "billing", resource_type=ResourceType.GROUP)
    page = staff_client.get("/acls/")
    assert page.status_code == 200
    listed = rows(page.content.decode())
    assert listed == [
        "ALLOW User:alice READ GROUP literal billing * Remove",
        "ALLOW User:alice READ TOPIC literal orders * Remove",
        "DENY User:bob WRITE TOPIC prefixed pay- * Remove",
    ]
    assert 'href="/acls/" aria-current="page"' in page.content.decode()  # in the navigation, current

    by_alice = staff_client.get("/acls/", {"principal": "User:alice"}, **HTMX, HTTP_HX_TARGET="acl-table")
    assert by_alice.content.decode().lstrip().startswith('<div id="acl-table"')  # the table alone
    assert [r.split()[1] for r in rows(by_alice.content.decode())] == ["User:alice", "User:alice"]
    # "Applies to" is Kafka's MATCH filter: the prefixed ACL applies to pay-in, the literal one on orders not.
    applies = rows(staff_client.get("/acls/", {"resource": "pay-in", "type": "TOPIC"}).content.decode())
    assert applies == ["DENY User:bob WRITE TOPIC prefixed pay- * Remove"]
    none = staff_client.get("/acls/", {"principal": "User:nobody"}).content.decode()
    assert "No ACL matches this filter" in none


def test_a_non_staff_user_sees_the_list_without_changes(alice):
    grant("User:alice", Operation.READ, "orders")
    page = logged_in(alice).get("/acls/")
    assert page.status_code == 200
    html = page.content.decode()
    assert rows(html) == ["ALLOW User:alice READ TOPIC literal orders *"]
    assert "Add an ACL" not in html and "Remove" not in html


def test_listing_needs_describe_on_the_cluster(alice, settings):
    grant("User:alice", Operation.DESCRIBE, CLUSTER_NAME, resource_type=ResourceType.CLUSTER,
          permission=Permission.DENY)
    refused = logged_in(alice).get("/acls/")
    assert refused.status_code == 403
    assert "User:alice is not authorized to DESCRIBE CLUSTER" in refused.content.decode()
    assert logged_in(alice).get("/acls/check/", {"user": "alice", "name": "orders"}).status_code == 403
    assert Client().get("/acls/").status_code == 302  # anonymous: to the login page


# --- Adding and removing -------------------------------------------------------------------------


def test_staff_add_an_acl_and_the_list_updates_in_place(staff_client, alice):
    grant("User:bob", Operation.WRITE, "orders")
    response = staff_client.post("/acls/new/", {**new(), "principal": "User:bob"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert all_acls()[-1] == AclBinding(TOPIC, "orders", PatternType.LITERAL, "User:alice", "*", Operation.READ,
                                        Permission.ALLOW)
    # A fresh form, and the list (still filtered by the page's filter, sent along) swapped out of band.
    assert html.lstrip().startswith('<section id="acl-add"')
    assert '<div id="acl-table" hx-swap-oob="true">' in html
    assert rows(html) == ["ALLOW User:bob WRITE TOPIC literal orders * Remove"]
    unfiltered = staff_client.post("/acls/new/", new(operation="WRITE", permission="DENY"), **HTMX).content.decode()
    assert 'class="just-added"' in unfiltered
    assert len(rows(unfiltered)) == 3


def test_staff_add_without_htmx_is_redirected_with_a_message(staff_client):
    response = staff_client.post("/acls/new/", new(resource_type="CLUSTER", resource_name="", operation="ALTER"),
                                 follow=True)
    assert response.redirect_chain == [("/acls/", 302)]
    assert "Added: ALLOW User:alice ALTER on CLUSTER literal “kafka-cluster” from *." in response.content.decode()
    assert all_acls()[0].resource_name == CLUSTER_NAME  # the cluster's one name, filled in


@pytest.mark.parametrize(("fields", "error"), [
    ({"principal": "alice"}, "Could not parse principal from `alice`"),
    ({"resource_name": ""}, "Invalid empty resource name"),
    ({"resource_type": "CLUSTER", "resource_name": "prod"}, "The only valid name for the CLUSTER resource is kafka-cluster"),
    ({"operation": "ANY"}, "Select a valid choice. ANY is not one of the available choices."),
    ({"pattern_type": "MATCH"}, "Select a valid choice."),
])
def test_bad_input_is_the_forms_error_and_creates_nothing(staff_client, fields, error):
    htmx = staff_client.post("/acls/new/", new(**fields), **HTMX)
    assert htmx.status_code == 200  # htmx swaps only 2xx answers
    assert error in htmx.content.decode()
    assert 'id="acl-table"' not in htmx.content.decode()  # the list did not change
    plain = staff_client.post("/acls/new/", new(**fields))
    assert plain.status_code == 400 and error in plain.content.decode()
    assert all_acls() == []


def test_staff_remove_exactly_one_acl(staff_client):
    keep = grant("User:alice", Operation.READ, "orders", pattern=PatternType.PREFIXED)
    gone = grant("User:alice", Operation.READ, "orders")
    response = staff_client.post("/acls/remove/", removal(gone), **HTMX)
    assert response.status_code == 200
    assert all_acls() == [keep]
    assert rows(response.content.decode()) == ["ALLOW User:alice READ TOPIC prefixed orders * Remove"]
    again = staff_client.post("/acls/remove/", removal(gone), follow=True)
    assert "Already gone" in again.content.decode()
    assert staff_client.post("/acls/remove/", {**removal(keep), "acl-operation": "ANY"}).status_code == 400
    assert all_acls() == [keep]


def test_non_staff_get_403_on_changes_and_nothing_changes(alice):
    b = grant("User:alice", Operation.READ, "orders")
    # Even with ALTER on the cluster from an ACL: the console's changes are staff's.
    alter = grant("User:alice", Operation.ALTER, CLUSTER_NAME, resource_type=ResourceType.CLUSTER)
    viewer = logged_in(alice)
    assert viewer.post("/acls/new/", new(principal="User:alice", operation="ALL")).status_code == 403
    assert viewer.post("/acls/new/", new(), **HTMX).status_code == 403
    assert viewer.post("/acls/remove/", removal(b)).status_code == 403
    assert all_acls() == [b, alter]


# --- The checker ---------------------------------------------------------------------------------


def check(c: Client, **params) -> dict[str, str]:
    """The checker's answer: operation -> "allowed|refused <why>"."""
    response = c.get("/acls/check/", {"resource_type": "TOPIC", **params}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="acl-check-result"')
    out = {}
    for row in rows_of(html):
        op, verdict, *why = row.split()
        out[op] = f"{verdict} {' '.join(why)}"
    return out


def rows_of(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in body.split("</tr>") if "<td" in r]


def test_the_checker_explains_allow_deny_prefix_and_the_default(viewer_client, alice, staff):
    topic_factory(name="orders", partitions=1)
    # Without ACLs: the default rule (read-write) for alice.
    default = check(viewer_client, user="alice", name="orders")
    assert default["READ"] == "allowed no ACL names the resource: BROKER_ACL_NO_MATCH=read-write"
    assert default["ALTER"].startswith("refused no ACL names the resource")

    grant("User:alice", Operation.READ, "orders")
    grant("User:*", Operation.WRITE, "orders", permission=Permission.DENY)
    grant("User:alice", Operation.ALL, "build-", pattern=PatternType.PREFIXED)
    answer = check(viewer_client, user="alice", name="orders")
    assert answer["READ"] == "allowed an ALLOW ACL: ALLOW User:alice READ on TOPIC literal “orders” from *"
    assert answer["DESCRIBE"].startswith("allowed an ALLOW ACL: ALLOW User:alice READ")  # READ implies DESCRIBE
    assert answer["WRITE"] == "refused a DENY ACL: DENY User:* WRITE on TOPIC literal “orders” from *"
    assert answer["DELETE"] == "refused no ALLOW ACL applies"
    prefixed = check(viewer_client, user="alice", name="build-7")
    assert prefixed["DELETE"] == "allowed an ALLOW ACL: ALLOW User:alice ALL on TOPIC prefixed “build-” from *"
    assert check(viewer_client, user="alice", name="buil")["DELETE"].startswith("refused no ACL names")
    # Staff are super users, whatever the ACLs say.
    assert check(viewer_client, user="staff", name="orders")["WRITE"] == "allowed super user"


def test_the_checker_knows_groups_the_cluster_and_hosts(viewer_client, alice):
    grant("User:alice", Operation.READ, "billing", resource_type=ResourceType.GROUP, host="10.0.0.5")
    group = check(viewer_client, user="alice", resource_type="GROUP", name="billing")
    assert set(group) == {"READ", "DESCRIBE", "DELETE"}
    assert group["READ"] == "refused no ALLOW ACL applies"  # not from any host
    from_host = check(viewer_client, user="alice", resource_type="GROUP", name="billing", host="10.0.0.5")
    assert from_host["READ"].startswith("allowed an ALLOW ACL")
    cluster = check(viewer_client, user="alice", resource_type="CLUSTER", name="")
    assert "IDEMPOTENT_WRITE" in cluster and cluster["DESCRIBE"].startswith("allowed")


def test_the_checker_page_without_htmx_and_its_errors(viewer_client, alice):
    page = viewer_client.get("/acls/check/", {"user": "alice", "resource_type": "TOPIC", "name": "orders"})
    assert page.status_code == 200
    assert "What may a user do?" in page.content.decode() and "allowed" in page.content.decode()
    missing = viewer_client.get("/acls/check/", {"user": "alice", "resource_type": "TOPIC", "name": ""})
    assert missing.status_code == 400 and "Name the topic to check." in missing.content.decode()
    nobody = viewer_client.get("/acls/check/", {"user": "nobody", "resource_type": "TOPIC", "name": "x"}, **HTMX)
    assert "Select a valid choice. nobody is not one of the available choices." in nobody.content.decode()
