"""The ACLs page in a browser: staff add an ACL (htmx swaps the list in place), the checker says
what it decides, and Remove (after the confirm dialog) takes it away."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from brokercore.security.acl import AclFilter, acls_describe
from tests.e2e.conftest import screenshot
from tests.factories import topic_factory

pytestmark = pytest.mark.slow


def test_staff_add_an_acl_see_it_listed_check_it_and_remove_it(page):
    topic_factory(name="orders", partitions=1)
    User.objects.create_user("alice", password="alice-Password-42")
    page.goto("/acls/")
    expect(page.locator("#acl-table")).to_contain_text("No ACLs yet")

    add = page.locator("#acl-add")
    add.locator("select[name=new-permission]").select_option("DENY")
    add.locator("input[name=new-principal]").fill("User:alice")
    add.locator("select[name=new-operation]").select_option("WRITE")
    add.locator("input[name=new-resource_name]").fill("orders")
    add.get_by_role("button", name="Add ACL").click()

    row = page.locator("#acl-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_class("just-added")
    expect(row).to_contain_text("DENY")
    expect(row).to_contain_text("User:alice")
    expect(row).to_contain_text("WRITE")
    assert page.url.endswith("/acls/")  # swapped in place, no reload
    assert [(b.principal, b.operation.name, b.permission.name) for b in acls_describe(AclFilter())] == [
        ("User:alice", "WRITE", "DENY")]

    # The cluster has one name: choosing it fills and locks the name field.
    add.locator("select[name=new-resource_type]").select_option("CLUSTER")
    expect(add.locator("input[name=new-resource_name]")).to_have_value("kafka-cluster")
    add.locator("select[name=new-resource_type]").select_option("TOPIC")
    expect(add.locator("input[name=new-resource_name]")).to_have_value("")

    checker = page.locator("#acl-checker")
    checker.locator("select[name=user]").select_option("alice")
    checker.locator("input[name=name]").fill("orders")
    checker.get_by_role("button", name="Check").click()
    result = page.locator("#acl-check-result tbody tr")
    expect(result.filter(has_text="WRITE")).to_contain_text("refused")
    expect(result.filter(has_text="WRITE")).to_contain_text("a DENY ACL")
    expect(result.filter(has_text="READ")).to_contain_text("refused")
    screenshot(page, "acls")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#acl-table")).to_contain_text("No ACLs yet")
    assert acls_describe(AclFilter()) == []
