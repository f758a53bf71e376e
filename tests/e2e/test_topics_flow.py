"""Create a topic through the form, produce a keyed record and read why it went where it did.

The name is checked as it is typed (Kafka's own error for an illegal name, OK for a good one),
the produce result explains murmur2(key) % partitions, the partition table follows the append
over the websocket without a reload, and shrinking the topic is refused next to the field.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from brokercore.log.append import records_append
from brokercore.partitioner import murmur2, partition_for_key, to_positive
from brokercore.topics.read import topic_describe
from brokercore.types import RecordIn
from tests.e2e.conftest import htmx_settled, live_ready, screenshot
from tests.factories import topic_factory

pytestmark = pytest.mark.slow

TOPIC = "payments"


def _orders(topic: str, n: int, *, start: int = 0) -> None:
    """A few realistic keyed JSON records, so tables and screenshots have something to show."""
    records_append(
        topic=topic,
        records=[
            RecordIn(
                key=f"customer-{i % 7}".encode(),
                value=json.dumps({"order": 1000 + i, "amount": round(9.5 + 3.25 * i, 2), "currency": "EUR"}).encode(),
                headers=(("source", b"checkout"),),
            )
            for i in range(start, start + n)
        ],
    )


def _high_watermarks(topic: str) -> list[int]:
    return [p.high_watermark for p in topic_describe(name=topic).partitions]


def _hw_cell(page, partition: int):
    """The high-watermark cell of one row of the partition table (5th column)."""
    return page.locator("#topic-partitions table.partitions tbody tr").nth(partition).locator("td").nth(4)


def test_create_topic_produce_a_keyed_record_and_refuse_shrinking(page):
    # Some neighbours, so the list is not empty.
    for name, partitions, n in (("orders", 3, 40), ("audit.log", 1, 12), ("clicks", 6, 90)):
        topic_factory(name=name, partitions=partitions)
        _orders(name, n)

    page.goto("/topics/")
    expect(page.locator("table.topic-list")).to_contain_text("clicks")
    expect(page.locator("table.topic-list tbody tr")).to_have_count(3)
    screenshot(page, "topics-list")

    page.get_by_role("link", name="Create a topic").click()
    expect(page).to_have_url(re.compile(r"/new-topic/$"))
    name = page.locator("#id_name")
    check = page.locator("#name-check")

    # An illegal name: the broker's own words, as the name is typed.
    name.press_sequentially("bad name!")
    expect(check.locator(".field-error")).to_contain_text('Topic name "bad name!" is illegal')
    expect(check).to_contain_text("INVALID_TOPIC_EXCEPTION")
    # Submitting it anyway gets the same refusal on the field, in the form the server sends back
    # (a list of field errors there, where the inline check shows a paragraph).
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/new-topic/")):
        page.get_by_role("button", name="Create topic").click()
    expect(page.locator("#name-check .errorlist")).to_contain_text('Topic name "bad name!" is illegal')
    expect(page.locator("#name-check .errorlist")).to_contain_text("INVALID_TOPIC_EXCEPTION")
    expect(page.locator("#id_name")).to_have_value("bad name!")
    expect(page).to_have_url(re.compile(r"/new-topic/$"))
    htmx_settled(page.locator("#topic-create-form"))

    # A good name: OK inline, then create it.
    name = page.locator("#id_name")
    name.fill("")
    name.press_sequentially(TOPIC)
    expect(page.locator("#name-check .field-ok")).to_contain_text(f"“{TOPIC}” is a valid name")
    page.locator("#id_partitions").fill("3")
    page.get_by_role("button", name="Create topic").click()

    page.wait_for_url(f"**/topics/{TOPIC}/")
    expect(page.locator(".flash")).to_contain_text(f"Created topic {TOPIC} with 3 partitions.")
    expect(page.locator("h1")).to_have_text(TOPIC)
    expect(page.locator("#topic-partitions table.partitions tbody tr")).to_have_count(3)
    live_ready(page)
    page.evaluate("window.__marker = 1")

    # Records written by someone else reach the partition table without a reload.
    _orders(TOPIC, 12)
    expect(page.locator("#topic-partitions .stat .num").nth(1)).to_have_text("12")
    screenshot(page, "topic-detail")

    # Produce a keyed record with the form: the result explains murmur2(key) % 3.
    key = "alice"
    expected = partition_for_key(key.encode(), 3)
    offset = _high_watermarks(TOPIC)[expected]
    produce = page.locator("#topic-produce")
    produce.locator("#id_key").fill(key)
    produce.get_by_label("JSON", exact=True).check()
    produce.locator("#id_value").fill('{"order": 4242, "amount": 99.9, "currency": "EUR"}')
    produce.locator("#id_headers").fill("trace-id=e2e-1")
    produce.get_by_role("button", name="Produce").click()

    result = page.locator("#topic-produce .produce-result")
    expect(result).to_contain_text(f"Went to partition {expected} at offset {offset}")
    expect(result).to_contain_text("because of its key")
    positive = to_positive(murmur2(key.encode()))
    expect(result.locator(".formula")).to_contain_text(f'toPositive(murmur2("{key}")) = {positive}')
    expect(result.locator(".formula")).to_contain_text(f"{positive} % 3 partitions = {expected}")
    # The partition table follows over the websocket: the high watermark moves by one.
    expect(_hw_cell(page, expected)).to_have_text(str(offset + 1))
    expect(page.locator("#topic-partitions .stat .num").nth(1)).to_have_text("13")
    screenshot(page, "produce-result")

    # Shrinking is refused next to the count field, as the count is typed and when submitted.
    count = page.locator("#id_count")
    grow_preview = page.locator("#grow-preview")
    count.fill("2")
    expect(grow_preview).to_contain_text("Topic currently has 3 partitions, which is higher than the requested 2")
    expect(grow_preview).to_contain_text("INVALID_PARTITIONS")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/topics/{TOPIC}/partitions/")
    ) as posted:
        page.locator("#topic-grow").get_by_role("button", name="Add partitions").click()
    assert "INVALID_PARTITIONS" in posted.value.text()
    expect(page.locator("#topic-grow #grow-preview")).to_contain_text("INVALID_PARTITIONS")
    expect(page.locator("#topic-grow #id_count")).to_have_value("2")
    assert len(_high_watermarks(TOPIC)) == 3

    # All of that happened on one page load.
    assert page.evaluate("window.__marker") == 1

    # The result links to the record among the messages.
    page.locator("#topic-produce .produce-result").get_by_role("link", name="See it among the messages").click()
    page.wait_for_url(f"**/topics/{TOPIC}/messages/?partition={expected}&seek=offset&offset={offset}")
    first = page.locator("#messages-results table.records tbody tr").first
    expect(first.locator(".off")).to_have_text(str(offset))
    expect(first.locator(".key")).to_contain_text(key)
    expect(first.locator(".value")).to_contain_text('"order": 4242')
    expect(first.locator(".headers")).to_contain_text("trace-id")
    # The newest page over every partition, merged by timestamp: the keyed record comes last.
    page.locator("nav.tabs").get_by_role("link", name="Messages").click()
    rows = page.locator("#messages-results table.records tbody tr")
    expect(rows).to_have_count(13)
    expect(rows.last.locator(".key")).to_contain_text(key)
    screenshot(page, "messages")
