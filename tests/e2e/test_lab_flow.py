"""The lab, live: three consumers on two partitions leave one member idle; crash a busy one and,
once its session expires, the grid and the rebalance timeline change, all without a reload.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.slow

SESSION_EXPIRY_TIMEOUT_MS = 20_000  # 6 s session + the coordinator's sweep + the survivors' rejoin


@pytest.fixture(autouse=True)
def _frequent_lag_samples(monkeypatch):
    """The server samples lag every 2 s instead of 10, so the lag chart has a line by the crash.

    Autouse fixtures run first, so the server fixture's environment already has it.
    """
    monkeypatch.setenv("BROKER_LAG_SAMPLE_INTERVAL_S", "2")


def _lab_stop(page, lab_url: str) -> None:
    """Stop the lab (and delete what it created) if it still runs, so no lab thread lingers."""
    if page.is_closed():
        return
    csrf = next((c["value"] for c in page.context.cookies() if c["name"] == "csrftoken"), "")
    page.request.post(lab_url + "stop/", form={"delete": "1"}, headers={"X-CSRFToken": csrf, "Referer": page.url})


def test_idle_member_then_crash_rebalances_live(page):
    page.goto("/lab/")
    preset = page.locator("article.preset", has=page.get_by_role("heading", name="More consumers than partitions"))
    preset.get_by_role("button", name="Run this demo").click()
    page.wait_for_url(re.compile(r"/lab/\d+/$"))
    lab_url = page.url
    try:
        _idle_then_crash(page)
        # Stop the lab from its page: consumers leave, the producer stops, threads end.
        page.locator(".pagehead").get_by_role("button", name="Stop and delete").click()
        expect(page.locator(".labstatus")).to_contain_text("stopped")
        expect(page.locator(".labstatus")).to_contain_text("What it created is deleted.")
    finally:
        _lab_stop(page, lab_url)


def _idle_then_crash(page) -> None:
    grid = page.locator("table.agrid")
    columns = grid.locator("thead th.mcol")
    timeline = page.locator("ol.rtl > li.rtl-item")
    summary = page.locator(".gsummary")
    expect(page.locator(".labstatus")).to_contain_text("running")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")

    # Three members, two partitions: one column owns nothing and is marked idle.
    expect(columns).to_have_count(3)
    expect(grid.locator("tbody tr.prow")).to_have_count(2)
    expect(summary.locator(".badge.big")).to_have_text("Stable")
    expect(grid.locator("thead th.mcol.idle")).to_have_count(1)
    expect(grid.locator("thead th.mcol.idle .badge")).to_have_text("idle")
    expect(grid.locator("tbody tr.prow.owned")).to_have_count(2)
    expect(summary).to_contain_text("1 idle")
    expect(page.locator(".agrid-card")).to_contain_text("1 idle member:")
    # The consumers poll and commit: both partitions get a lag figure.
    expect(grid.locator("tbody td.lagcol .lagbar")).to_have_count(2, timeout=10_000)
    idle = grid.locator("thead th.mcol.idle .chip").inner_text()
    busy = grid.locator("thead th.mcol:not(.idle) .chip").first.inner_text()
    generations_before = timeline.count()
    assert generations_before >= 1
    screenshot(page, "lab-idle")

    page.evaluate("window.__marker = 1")

    # Crash a busy consumer: it stops heartbeating but stays a member until its session expires.
    consumer = page.locator("table.consumers tr", has=page.locator(".chip", has_text=re.compile(f"^{busy}$")))
    consumer.get_by_role("button", name="Crash").click()
    expect(consumer.locator(".cstatus")).to_contain_text("crashed")
    expect(consumer.locator(".cstatus")).to_contain_text("session ends")
    # Half-way through its session the grid marks it silent, with a countdown.
    expect(grid.locator("thead th.mcol .silent")).to_contain_text("session ends", timeout=10_000)

    # Expired: the coordinator removes it and the group rebalances; the idle member takes over.
    expect(columns).to_have_count(2, timeout=SESSION_EXPIRY_TIMEOUT_MS)
    expect(grid.locator("thead th.mcol .chip", has_text=re.compile(f"^{busy}$"))).to_have_count(0)
    expect(summary.locator(".badge.big")).to_have_text("Stable", timeout=10_000)
    expect(grid.locator("thead th.mcol.idle")).to_have_count(0)
    expect(grid.locator("tbody tr.prow.owned")).to_have_count(2)
    expect(grid.locator("tbody td.cell.owned", has_text=re.compile(f"^{idle}$"))).to_have_count(1)
    expect(timeline.nth(generations_before)).to_be_attached(timeout=10_000)  # at least one more generation
    expect(timeline.first).to_contain_text(busy)
    expect(consumer.locator(".cstatus")).to_contain_text("removed when its session expired", timeout=10_000)
    expect(page.locator("svg.lagchart")).to_be_visible(timeout=10_000)
    screenshot(page, "lab-crash")

    # All of it arrived over the websocket: the page never reloaded.
    assert page.evaluate("window.__marker") == 1
