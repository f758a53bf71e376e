"""Log in, and watch the overview update without a reload when another process produces."""

import pytest
from playwright.sync_api import expect

from tests.brokercore.commands.helpers import cli
from tests.e2e.conftest import screenshot
from tests.factories import topic_factory

pytestmark = pytest.mark.slow


def test_login_is_required_and_works(browser, server, admin_user):
    context = browser.new_context(base_url=server)
    p = context.new_page()
    p.goto("/")
    assert "/login/" in p.url
    p.fill("input[name=username]", "admin")
    p.fill("input[name=password]", "wrong")
    p.click("button[type=submit]")
    expect(p.locator(".errorlist")).to_contain_text("correct username and password")
    context.close()


def test_overview_updates_live_from_another_process(page, db_url):
    topic_factory(name="orders", partitions=3)
    page.goto("/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    expect(page.locator("#overview-busiest")).to_contain_text("orders")
    # A record produced by the CLI (another process) reaches the page through the change watcher.
    proc = cli(db_url, "produce", "orders", "--key-separator", ":", input=b"alice:hello\nbob:hi\n")
    assert proc.returncode == 0, proc.stderr
    expect(page.locator("#overview-busiest tbody tr").first).to_contain_text("2", timeout=10_000)
    screenshot(page, "overview")
