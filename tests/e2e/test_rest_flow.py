"""REST and console see the same log: a record produced over the REST proxy appears live in the
console's tail, and a record produced with the console's form is read by a REST consumer."""

import base64
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from brokercore.log.append import records_append
from brokercore.types import RecordIn
from console.api.tokens import token_create
from tests.e2e.conftest import live_ready
from tests.factories import topic_factory

pytestmark = pytest.mark.slow

TOPIC = "payments"
V2_JSON = "application/vnd.kafka.json.v2+json"


def _call(server: str, token: str, method: str, path: str, body=None, content_type="application/vnd.kafka.v2+json",
          accept="application/vnd.kafka.v2+json"):
    request = urllib.request.Request(
        f"{server}/rest{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type, "Accept": accept},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


def test_rest_records_show_in_the_console_and_console_records_reach_a_rest_consumer(page, server, admin_user):
    topic_factory(name=TOPIC, partitions=2)
    records_append(topic=TOPIC, records=[RecordIn(key=b"order-6", value=b'{"amount": 1, "via": "service"}')])
    _, token = token_create(user=admin_user, name="e2e")

    page.goto(f"/topics/{TOPIC}/tail/")
    rows = page.locator("#tail-rows tr[data-pos]")
    live_ready(page)
    status, body = _call(server, token, "POST", f"/topics/{TOPIC}",
                         {"records": [{"key": "order-7", "value": {"amount": 12.5, "via": "rest"}}]},
                         content_type=V2_JSON)
    assert status == 200 and body["offsets"][0]["error_code"] is None
    expect(rows).to_have_count(2, timeout=10_000)
    expect(rows.first).to_contain_text("order-7")
    expect(rows.first).to_contain_text("rest")

    # The other way: the console's produce form, then a REST consumer reading from the beginning.
    page.goto(f"/topics/{TOPIC}/")
    produce = page.locator("#topic-produce")
    produce.locator("#id_key").fill("order-8")
    produce.get_by_label("JSON", exact=True).check()
    produce.locator("#id_value").fill('{"amount": 3, "via": "console"}')
    produce.get_by_role("button", name="Produce").click()
    expect(page.locator("#topic-produce .produce-result")).to_be_visible()

    _, created = _call(server, token, "POST", "/consumers/e2e-readers",
                       {"name": "reader", "format": "binary", "auto.offset.reset": "earliest"})
    base = f"/consumers/e2e-readers/instances/{created['instance_id']}"
    _call(server, token, "POST", f"{base}/subscription", {"topics": [TOPIC]})
    seen = {}
    for _ in range(20):
        _, records = _call(server, token, "GET", f"{base}/records?timeout=500",
                           accept="application/vnd.kafka.binary.v2+json")
        for r in records:
            seen[base64.b64decode(r["key"]).decode()] = json.loads(base64.b64decode(r["value"]))
        if len(seen) == 3:
            break
    # The json embedded format stores the key as JSON too, quotes included, as Confluent's does.
    assert seen == {
        "order-6": {"amount": 1, "via": "service"},
        '"order-7"': {"amount": 12.5, "via": "rest"},
        "order-8": {"amount": 3, "via": "console"},
    }
    _call(server, token, "DELETE", base)
