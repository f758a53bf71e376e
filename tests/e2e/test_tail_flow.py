"""The live tail: records produced by another process (the CLI) appear on top without a reload;
pause holds and counts them, resume shows them, and the filter box hides rows that do not match.
"""

import pytest
from playwright.sync_api import expect

from brokercore.log.append import records_append
from brokercore.types import RecordIn
from tests.brokercore.commands.helpers import cli
from tests.e2e.conftest import live_ready, screenshot
from tests.factories import topic_factory

pytestmark = pytest.mark.slow

TOPIC = "events"


def _produce(db_url: str, line: bytes) -> None:
    proc = cli(db_url, "produce", TOPIC, "--key-separator", ":", input=line)
    assert proc.returncode == 0, proc.stderr


def test_tail_shows_records_from_another_process_with_pause_and_filter(page, db_url):
    topic_factory(name=TOPIC, partitions=2)
    records_append(
        topic=TOPIC,
        records=[
            RecordIn(
                key=f"user-{i}".encode(),
                value=f'{{"event": "page_view", "user": "user-{i}", "page": "/pricing"}}'.encode(),
            )
            for i in range(5)
        ],
    )

    page.goto(f"/topics/{TOPIC}/tail/")
    rows = page.locator("#tail-rows tr[data-pos]")
    counts = page.locator("#tail-counts")
    pause = page.locator("#tail-pause")
    live_ready(page)
    # The tail starts with the records already there.
    expect(rows).to_have_count(5)
    expect(counts).to_have_text("5 rows")
    expect(page.locator("#tail-empty")).to_be_hidden()
    page.evaluate("window.__marker = 1")

    # A record from another process arrives on top, without a reload.
    _produce(db_url, b"k:hello-from-cli\n")
    expect(rows).to_have_count(6, timeout=10_000)
    expect(rows.first.locator(".value")).to_contain_text("hello-from-cli")
    expect(rows.first.locator(".key")).to_contain_text("k")
    expect(counts).to_have_text("6 rows")

    # Paused: the next record is held and counted, not shown.
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "true")
    _produce(db_url, b"k2:while-paused\n")
    expect(counts).to_contain_text("1 new held while paused", timeout=10_000)
    expect(pause).to_have_text("Resume (1 new)")
    expect(rows).to_have_count(6)
    expect(page.locator("#tail-rows")).not_to_contain_text("while-paused")
    screenshot(page, "tail")

    # Resumed: the held record goes on top.
    pause.click()
    expect(pause).to_have_text("Pause")
    expect(rows).to_have_count(7)
    expect(rows.first.locator(".value")).to_contain_text("while-paused")
    expect(counts).to_have_text("7 rows")

    # The filter hides the rows that do not contain the text, and brings them back when cleared.
    page.locator("#tail-filter").fill("hello-from")
    expect(page.locator("#tail-rows tr[data-pos]:visible")).to_have_count(1)
    expect(page.locator("#tail-rows tr[data-pos]:visible")).to_contain_text("hello-from-cli")
    expect(counts).to_have_text("1 of 7 rows match")
    page.locator("#tail-filter").fill("")
    expect(page.locator("#tail-rows tr[data-pos]:visible")).to_have_count(7)

    assert page.evaluate("window.__marker") == 1
