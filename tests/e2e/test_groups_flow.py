"""A group's page: the assignment grid while two members consume; when they leave the page turns
Empty by itself, and the reset-offsets form previews (dry run) what a reset would do.
"""

import pytest
from playwright.sync_api import expect

from brokercore.coordinator.consumer import member_commit, member_poll
from brokercore.coordinator.lag import lag_samples_record
from brokercore.coordinator.read import committed_offsets_get, group_describe
from brokercore.coordinator.server_members import group_join, member_leave, member_sync
from tests.e2e.conftest import live_ready, screenshot
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.slow

GROUP = "billing"
TOPIC = "invoices"


def _stable_group_with_two_members() -> list[str]:
    topic_factory(name=TOPIC, partitions=3)
    records_factory(TOPIC, 60)
    members = [
        group_join(
            group_id=GROUP,
            topics=[TOPIC],
            client_id=name,
            session_timeout_ms=60_000,
            offset_reset="earliest",
            assignor="range",
        ).member_id
        for name in ("billing-1", "billing-2")
    ]
    for _ in range(6):  # every member polls (as running consumers do) until the group is Stable
        for m in members:
            member_sync(group_id=GROUP, member_id=m)
        info = group_describe(group_id=GROUP)
        if info.state == "Stable" and not any(m.awaiting_join or m.revoking for m in info.members):
            break
    assert info.state == "Stable", info
    # Each reads part of what it owns and commits, so the grid and the lag table show some lag.
    for m in members:
        polled = member_poll(group_id=GROUP, member_id=m, max_records=12)
        member_commit(group_id=GROUP, member_id=m, generation=polled.member.generation)
    lag_samples_record()
    return members


def test_group_page_grid_then_reset_offsets_dry_run_once_empty(page):
    members = _stable_group_with_two_members()

    page.goto(f"/groups/{GROUP}/")
    live_ready(page)
    grid = page.locator("table.agrid")
    # One column per member, one row per partition, every partition owned by one of them.
    expect(grid.locator("thead th.mcol")).to_have_count(2)
    expect(grid.locator("thead th.mcol .chip")).to_have_text(["billing-1", "billing-2"])
    expect(grid.locator("tbody tr.prow")).to_have_count(3)
    expect(grid.locator("tbody tr.prow.owned")).to_have_count(3)
    expect(grid.locator("td.cell.owned")).to_have_count(3)
    expect(page.locator(".gsummary .badge.big")).to_have_text("Stable")
    expect(page.locator(".rtl-item").first).to_contain_text("Gen")
    screenshot(page, "group-detail")
    page.evaluate("window.__marker = 1")

    # Both members leave (another "process": the test's own writes); the page follows live.
    for m in members:
        member_leave(group_id=GROUP, member_id=m)
    expect(page.locator(".gsummary .badge.big")).to_have_text("Empty", timeout=10_000)
    expect(grid.locator("thead th.mcol.none")).to_have_text("No members")
    expect(grid.locator("tbody tr.prow.unassigned")).to_have_count(3)
    assert page.evaluate("window.__marker") == 1

    # Reset offsets is offered now; the preview is a dry run.
    before = committed_offsets_get(group_id=GROUP)
    page.locator(".gactions").get_by_role("link", name="Reset offsets").click()
    page.wait_for_url(f"**/groups/{GROUP}/reset-offsets/")
    expect(page.locator("#reset-body")).to_contain_text("Nothing previewed yet.")
    expect(page.locator("#id_topic")).to_have_value(TOPIC)
    page.get_by_label("Earliest: the log start offset").check()
    page.get_by_role("button", name="Preview (dry run)").click()
    preview = page.locator("#reset-body table.grid tbody tr")
    expect(preview).to_have_count(3)
    expect(preview.first).to_contain_text(f"{TOPIC}-0")
    expect(page.locator("#reset-body")).to_contain_text("(re-reads)")
    expect(page.locator("#reset-body")).to_contain_text("This is a dry run: nothing has changed yet.")
    expect(page.get_by_role("button", name="Execute: reset 3 offsets")).to_be_visible()
    assert committed_offsets_get(group_id=GROUP) == before
