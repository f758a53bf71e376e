"""The add-partitions preview follows the count as it is typed, on the topic page and on the
add-partitions page of its own, and a preview never adds a partition."""

import pytest
from playwright.sync_api import expect

from brokercore.log.append import records_append
from brokercore.partitioner import partition_for_key
from brokercore.topics.read import topic_describe
from brokercore.types import RecordIn
from tests.factories import topic_factory

pytestmark = pytest.mark.slow

TOPIC = "carts"
KEYS = [f"cart-{i}".encode() for i in range(40)]


def _moved(count: int) -> int:
    return sum(1 for k in KEYS if partition_for_key(k, 2) != partition_for_key(k, count))


def _partitions() -> int:
    return len(topic_describe(name=TOPIC).partitions)


@pytest.mark.parametrize("path", [f"/topics/{TOPIC}/", f"/topics/{TOPIC}/partitions/"])
def test_preview_updates_as_the_count_changes(page, path):
    topic_factory(name=TOPIC, partitions=2)
    records_append(topic=TOPIC, records=[RecordIn(key=k, value=b"v") for k in KEYS])
    assert _moved(3) != _moved(7)  # the two counts below must tell their previews apart

    page.goto(path)
    preview = page.locator("#grow-preview")
    count = page.locator("#id_count")
    # Loaded once for the suggested count (one more than now).
    expect(count).to_have_value("3")
    expect(preview).to_contain_text(f"{_moved(3)} of 40 distinct keys")

    # Typed, no button pressed: the preview follows each value.
    count.fill("7")
    expect(preview).to_contain_text(f"{_moved(7)} of 40 distinct keys")
    count.press("Backspace")
    count.press_sequentially("12")
    expect(preview).to_contain_text(f"{_moved(12)} of 40 distinct keys")
    count.fill("1")
    expect(preview).to_contain_text("Topic currently has 2 partitions, which is higher than the requested 1")
    count.fill("")
    expect(preview).to_contain_text("This field is required.")
    count.fill("4")
    expect(preview).to_contain_text(f"{_moved(4)} of 40 distinct keys")
    # The URL is where it was: the preview is fetched, never navigated to.
    assert page.url.endswith(path)
    assert _partitions() == 2
