"""Message browser (seek, page, filter, show safely) and live tail (websocket pushes)."""

import os
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from brokercore.log.append import records_append
from brokercore.log.browse import records_browse, records_tail
from brokercore.log.cleaner import log_clean, records_delete_before
from brokercore.log.read import offset_for
from brokercore.topics.service import topic_delete
from brokercore.types import RecordIn
from console.live.consumers import LiveConsumer
from console.views import messages as views
from tests.factories import partitions_fill, records_factory, topic_factory, topic_holding

BASE_MS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


def _ts(i: int) -> int:
    return BASE_MS + i * 1000


def offsets(html: str) -> list[int]:
    """Offsets of the record rows shown, in page order."""
    if '<table class="grid records">' not in html:
        return []
    table = html.split('<table class="grid records">', 1)[1].split("</table>", 1)[0]
    return [int(x) for x in re.findall(r'<span class="off mono">(\d+)</span>', table)]


def link(html: str, rel: str) -> str | None:
    m = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def get(client, topic: str, **params):
    return client.get(f"/topics/{topic}/messages/", params)


@pytest.fixture
def orders(db):
    """One partition, offsets 0..119, timestamps one second apart."""
    topic_factory(name="orders", partitions=1)
    records_factory("orders", 120, partition=0, timestamp=_ts)
    return "orders"


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client, orders):
    for url in ("/topics/orders/messages/", "/topics/orders/tail/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_unknown_topic_is_404(viewer_client):
    assert viewer_client.get("/topics/nope/messages/").status_code == 404
    assert viewer_client.get("/topics/nope/tail/").status_code == 404


# --- Seeking and paging -------------------------------------------------------------------------


@pytest.mark.django_db
def test_default_is_the_newest_page_ending_at_the_high_watermark(viewer_client, orders):
    response = get(viewer_client, orders)
    html = response.content.decode()
    assert response.status_code == 200
    assert offsets(html) == list(range(70, 120))
    assert link(html, "prev") and link(html, "next") is None
    assert 'id="messages-results"' in html and "Times are UTC" in html


@pytest.mark.django_db
def test_oldest_then_page_forwards_and_backwards(viewer_client, orders):
    html = get(viewer_client, orders, seek="oldest", size=50).content.decode()
    assert offsets(html) == list(range(0, 50))
    assert link(html, "prev") is None
    page2 = viewer_client.get(f"/topics/orders/messages/{link(html, 'next')}").content.decode()
    assert offsets(page2) == list(range(50, 100))
    assert parse_qs(urlparse(link(html, "next")).query)["from"] == ["0:50"]
    page3 = viewer_client.get(f"/topics/orders/messages/{link(page2, 'next')}").content.decode()
    assert offsets(page3) == list(range(100, 120)) and link(page3, "next") is None
    back = viewer_client.get(f"/topics/orders/messages/{link(page3, 'prev')}").content.decode()
    assert offsets(back) == list(range(50, 100))
    back = viewer_client.get(f"/topics/orders/messages/{link(back, 'prev')}").content.decode()
    assert offsets(back) == list(range(0, 50)) and link(back, "prev") is None


@pytest.mark.django_db
def test_paging_is_stable_while_records_are_appended(viewer_client, orders):
    html = get(viewer_client, orders, seek="oldest", size=10).content.decode()
    records_factory("orders", 30, partition=0)
    page2 = viewer_client.get(f"/topics/orders/messages/{link(html, 'next')}").content.decode()
    assert offsets(page2) == list(range(10, 20))


@pytest.mark.django_db
def test_seek_to_an_offset(viewer_client, orders):
    html = get(viewer_client, orders, partition="0", seek="offset", offset="100").content.decode()
    assert offsets(html) == list(range(100, 120))
    html = get(viewer_client, orders, partition="0", seek="offset", offset="120").content.decode()
    assert offsets(html) == [] and "No records from this point on yet." in html


@pytest.mark.django_db
def test_seek_to_a_time_uses_utc(viewer_client, orders):
    at = datetime.fromtimestamp(_ts(30) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    html = get(viewer_client, orders, partition="0", seek="timestamp", time=at, size=5).content.decode()
    assert offsets(html) == [30, 31, 32, 33, 34]
    # A datetime-local without seconds, and milliseconds since the epoch, work too.
    html = get(viewer_client, orders, seek="timestamp", time=str(_ts(30) + 1), size=2).content.decode()
    assert offsets(html) == [31, 32]
    html = get(viewer_client, orders, seek="timestamp", time="2100-01-01T00:00").content.decode()
    assert offsets(html) == [] and link(html, "prev")


@pytest.mark.django_db
def test_all_partitions_are_merged_by_timestamp_and_every_record_is_seen_once(viewer_client):
    topic_factory(name="mix", partitions=3)
    # Partition p gets records at times p, p+3, p+6, ...: merged by time they interleave 0,1,2,0,1,2...
    for p in range(3):
        records_append(topic="mix", records=[RecordIn(value=f"p{p}-{i}".encode(), timestamp=_ts(p + 3 * i)) for i in range(20)], partition=p)
    html = get(viewer_client, "mix", seek="oldest", size=7).content.decode()
    assert re.findall(r"p(\d)-(\d+)</pre>", html) == [("0", "0"), ("1", "0"), ("2", "0"), ("0", "1"), ("1", "1"), ("2", "1"), ("0", "2")]
    seen, url = [], "?seek=oldest&size=7"
    while url:
        html = viewer_client.get(f"/topics/mix/messages/{url}").content.decode()
        seen += re.findall(r"(p\d-\d+)</pre>", html)
        url = link(html, "next")
    assert len(seen) == 60 and len(set(seen)) == 60
    seen, url = [], "?size=8"  # newest first, then back to the start
    while url:
        html = viewer_client.get(f"/topics/mix/messages/{url}").content.decode()
        seen = re.findall(r"(p\d-\d+)</pre>", html) + seen
        url = link(html, "prev")
    assert len(seen) == 60 and len(set(seen)) == 60
    assert seen[:3] == ["p0-0", "p1-0", "p2-0"]


@pytest.mark.django_db
def test_one_partition_of_several(viewer_client):
    topic_factory(name="three", partitions=3)
    partitions_fill("three", {1: 5, 2: 5})
    html = get(viewer_client, "three", partition="2", seek="oldest").content.decode()
    assert offsets(html) == [0, 1, 2, 3, 4] and "from partition 2" in html


@pytest.mark.django_db
def test_an_offset_with_every_partition_applies_to_each(viewer_client):
    topic_factory(name="uneven", partitions=2)
    partitions_fill("uneven", {0: 10, 1: 3})
    html = get(viewer_client, "uneven", seek="offset", offset="8").content.decode()
    assert offsets(html) == [8, 9]  # partition 1 (offsets 0..2) starts at its end
    html = get(viewer_client, "uneven", seek="offset", offset="11").content.decode()
    assert "Offset 11 is outside every partition" in html and offsets(html) == []


@pytest.mark.django_db
def test_cursor_below_the_log_start_is_clamped(viewer_client, orders):
    records_delete_before(topic="orders", partition=0, offset=60)
    html = viewer_client.get("/topics/orders/messages/?from=0:10&size=5").content.decode()
    assert offsets(html) == [60, 61, 62, 63, 64]
    html = viewer_client.get("/topics/orders/messages/?before=0:" + "9" * 30 + "&size=2").content.decode()
    assert offsets(html) == [118, 119]


@pytest.mark.django_db
def test_paging_crosses_compaction_gaps(viewer_client):
    # Keys k0..k9 repeat, then "solo-*" keys appear once each: compaction keeps 990..999 and the solos.
    keys = [f"k{i % 10}" for i in range(1000)] + [f"solo-{i}" for i in range(5)]
    records = [RecordIn(key=k.encode(), value=b"v", timestamp=_ts(i)) for i, k in enumerate(keys)]
    topic_holding("compacted", records, configs={"cleanup.policy": "compact"})
    log_clean(now_ms=_ts(2000))
    html = get(viewer_client, "compacted", seek="oldest", size=4).content.decode()
    assert offsets(html) == [990, 991, 992, 993]
    html = get(viewer_client, "compacted", size=12).content.decode()
    assert offsets(html) == list(range(993, 1005)) and link(html, "prev")
    html = viewer_client.get(f"/topics/compacted/messages/{link(html, 'prev')}").content.decode()
    assert offsets(html) == [990, 991, 992] and link(html, "prev") is None
    html = get(viewer_client, "compacted", seek="oldest", size=5, q="solo").content.decode()
    assert offsets(html) == [1000, 1001, 1002, 1003, 1004]


# --- Filters ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_filter_by_value_key_and_headers(viewer_client):
    topic_holding("f", [
        RecordIn(key=b"alice", value=b'{"item": "Needle"}'),
        RecordIn(key=b"needle-key", value=b"plain"),
        RecordIn(key=b"bob", value=b"other", headers=(("trace", b"has-NEEDLE"),)),
        RecordIn(key=b"carol", value=b"nothing"),
    ])
    def shown(**params):
        return offsets(get(viewer_client, "f", seek="oldest", q="needle", **params).content.decode())

    assert shown() == [0, 1, 2]
    assert shown(field="value") == [0]
    assert shown(field="key") == [1]
    assert shown(field="headers") == [2]
    html = get(viewer_client, "f", seek="oldest", q="needle").content.decode()
    assert "examined 4 records, 3 matched" in html


@pytest.mark.django_db
def test_filter_scans_a_bounded_number_of_records_and_offers_to_continue(viewer_client, monkeypatch):
    monkeypatch.setattr(views, "SCAN_LIMIT", 100)
    topic_holding("big", [RecordIn(value=b"hit" if i in (5, 250) else b"miss") for i in range(300)])
    html = get(viewer_client, "big", seek="oldest", q="hit").content.decode()
    assert offsets(html) == [5]
    assert "Stopped after examining 100 records" in html and "Continue with newer records" in html
    url = parse_qs(urlparse(link(html, "next")).query)
    assert url["from"] == ["0:100"] and url["q"] == ["hit"]
    html = viewer_client.get(f"/topics/big/messages/{link(html, 'next')}").content.decode()
    assert offsets(html) == []  # 100..199: nothing
    html = viewer_client.get(f"/topics/big/messages/{link(html, 'next')}").content.decode()
    assert offsets(html) == [250]
    # From the newest, the scan goes backwards and continues with older records.
    html = get(viewer_client, "big", q="hit").content.decode()
    assert offsets(html) == [250] and "Continue with older records" in html


@pytest.mark.django_db
def test_unfiltered_page_reads_only_what_it_shows(orders, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        page = records_browse(topic="orders", cursor={0: 60}, limit=10)
    assert [r.offset for r in page.records] == list(range(60, 70)) and page.end == {0: 70}


# --- Showing records ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_json_is_pretty_printed_and_text_kept(viewer_client):
    topic_holding("j", [RecordIn(key=b"k1", value=b'{"id":7,"tags":["a","b"]}'), RecordIn(value="héllo wörld".encode())])
    html = get(viewer_client, "j").content.decode()
    assert '<pre class="data json">{\n  &quot;id&quot;: 7,\n  &quot;tags&quot;: [' in html
    assert '<pre class="data text">héllo wörld</pre>' in html
    assert '<span class="null">null</span>' in html  # the second record has no key
    assert "CreateTime" in html


@pytest.mark.django_db
def test_binary_and_markup_are_shown_safely(viewer_client):
    topic_holding("bin", [
        RecordIn(key=bytes(range(256)), value=bytes(range(255, -1, -1)), headers=(("h", b"\x00\xff"),)),
        RecordIn(key=b"<b>k</b>", value=b"<script>alert(1)</script>", headers=(("<i>", b"<img src=x onerror=alert(1)>"),)),
    ])
    response = get(viewer_client, "bin")
    html = response.content.decode()
    assert response.status_code == 200
    assert "\x00" not in html and "\x1b" not in html
    assert "binary" in html and "\\x00\\x01\\x02" in html and "\\xff\\xfe" in html
    assert "00000000  00 01 02 03" in html  # the hex view
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>k</b>" not in html


def test_data_view_kinds():
    assert views.data_view(None) == {"kind": "null"}
    assert views.data_view(b"") == {"kind": "empty"}
    assert views.data_view(b"hi")["kind"] == "text"
    assert views.data_view(b"[1, 2]")["text"] == "[\n  1,\n  2\n]"
    assert views.data_view(b"{not json")["kind"] == "text"
    assert views.data_view(b"a\x00b")["kind"] == "binary"  # valid UTF-8, but not text
    assert views.data_view(b"\\ \xc3\x28")["text"] == "\\\\ \\xc3("
    long = views.data_view(b"x" * 1000)
    assert long["long"] and long["preview"].endswith("…")
    huge = views.data_view(b"y" * (views.SHOW_MAX_CHARS + 10))
    assert huge["truncated"] and len(huge["text"]) == views.SHOW_MAX_CHARS


@pytest.mark.django_db
def test_long_values_are_collapsed(viewer_client):
    topic_holding("long", [RecordIn(value=b"z" * 5000)])
    html = get(viewer_client, "long").content.decode()
    assert '<details class="data-long">' in html and "4.9\xa0KB" in html


# --- Bad input ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"partition": "0", "seek": "offset", "offset": "500"}, "offset", "Offset 500 is outside partition 0: it holds offsets 0–119."),
        ({"seek": "offset", "offset": "500"}, "offset", "Offset 500 is outside partition 0: it holds offsets 0–119."),
        ({"seek": "offset"}, "offset", views.ERR_OFFSET_MISSING),
        ({"seek": "offset", "offset": "-3"}, "offset", "greater than or equal to 0"),
        ({"partition": "9"}, "partition", "Partition 9 does not exist: this topic has partitions 0–0."),
        ({"seek": "timestamp", "time": "yesterday"}, "time", views.ERR_TIME_BAD),
        ({"seek": "timestamp"}, "time", views.ERR_TIME_MISSING),
        ({"seek": "timestamp", "time": "9" * 30}, "time", views.ERR_TIME_BAD),
        ({"seek": "offset", "offset": "9" * 30}, "offset", "is outside partition 0"),
        ({"size": "0"}, "size", "greater than or equal to 1"),
        ({"size": "501"}, "size", "less than or equal to 500"),
        ({"size": "lots"}, "size", "Enter a whole number."),
    ],
)
def test_bad_input_is_explained_next_to_its_field(viewer_client, orders, params, field, message):
    response = get(viewer_client, orders, **params)
    html = response.content.decode()
    assert response.status_code == 200
    slot = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html).group(1)
    assert message in slot.replace("&#x27;", "'")
    assert views.ERR_SEE_FIELD in html and offsets(html) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"seek": "sideways"},
        {"partition": "one"},
        {"field": "body"},
        {"from": "garbage"},
        {"from": "0:1,0:2"},
        {"before": "0:-1"},
        {"from": "5:0"},  # not the partitions chosen
        {"from": "0:1", "before": "0:5"},
    ],
)
def test_garbage_is_400_with_a_message(viewer_client, orders, params):
    response = get(viewer_client, orders, **params)
    assert response.status_code == 400
    assert 'class="callout warn" role="alert"' in response.content.decode()


# --- htmx ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_htmx_request_gets_only_the_results_and_field_errors(viewer_client, orders):
    response = viewer_client.get("/topics/orders/messages/?seek=oldest&size=3", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert html.lstrip().startswith('<section id="messages-results"') and "<html" not in html
    assert offsets(html) == [0, 1, 2]
    assert 'id="err-offset" hx-swap-oob="true"></p>' in html  # clears an old error
    bad = viewer_client.get("/topics/orders/messages/?seek=offset", headers={"HX-Request": "true"}).content.decode()
    assert f'id="err-offset" hx-swap-oob="true">{views.ERR_OFFSET_MISSING}</p>' in bad
    # Back/forward after a cache miss asks for the whole page.
    full = viewer_client.get("/topics/orders/messages/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in full.content.decode()


@pytest.mark.django_db
def test_form_and_links_carry_htmx_attributes(viewer_client, orders):
    html = get(viewer_client, orders).content.decode()
    assert 'hx-get="/topics/orders/messages/" hx-target="#messages-results"' in html and 'hx-push-url="true"' in html
    prev = link(html, "prev")
    assert f'hx-get="{prev.replace("&", "&amp;")}"' in html


# --- Live tail ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tail_page_subscribes_to_the_topic(viewer_client, orders):
    html = viewer_client.get("/topics/orders/tail/").content.decode()
    assert 'ws-connect="/ws/live/?s=tail%3Aorders"' in html
    assert 'id="tail-rows"' in html and 'id="tail-pause"' in html and "js/tail.js" in html


@pytest.mark.django_db
def test_records_tail_returns_only_new_records_newest_first(orders):
    first = records_tail(topic="orders", initial=3)
    assert [r.offset for r in first.records] == [119, 118, 117] and first.positions == {0: 120}
    assert records_tail(topic="orders", positions=first.positions).records == []
    records_factory("orders", 5, partition=0)
    batch = records_tail(topic="orders", positions=first.positions, limit=2)
    assert [r.offset for r in batch.records] == [124, 123] and batch.skipped == 3 and batch.positions == {0: 125}


@pytest.mark.django_db
def test_tail_stream_pushes_rows_for_the_top_of_the_table(orders):
    state = {}
    html = views.tail_stream("orders", state)
    assert html.startswith('<tbody id="tail-rows" hx-swap-oob="afterbegin">')
    assert html.count("<tr data-pos=") == views.TAIL_INITIAL and 'data-pos="0:119"' in html
    assert views.tail_stream("orders", state) == ""
    topic_delete(name="orders")
    assert 'id="tail-notice"' in views.tail_stream("orders", state)
    assert views.tail_stream("orders", state) == ""


@pytest.mark.django_db(transaction=True)
async def test_tail_websocket_pushes_a_newly_appended_record(viewer, in_memory_layer, monkeypatch):
    monkeypatch.setattr(views, "TAIL_PUSH_MAX", 3)
    await database_sync_to_async(topic_factory)(name="live", partitions=2)
    await database_sync_to_async(records_factory)("live", 2)
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/?s=tail:live")
    c.scope["user"] = viewer
    c.scope["query_string"] = b"s=tail:live"
    connected, _ = await c.connect()
    assert connected
    first = await c.receive_from(timeout=5)
    assert first.count("<tr data-pos=") == 2
    await database_sync_to_async(records_append)(
        topic="live", records=[RecordIn(key=b"k", value=b'{"fresh": true}', headers=(("src", b"test"),))], partition=1
    )
    pushed = await c.receive_from(timeout=5)
    assert pushed.startswith('<tbody id="tail-rows" hx-swap-oob="afterbegin">')
    assert pushed.count("<tr data-pos=") == 1 and "&quot;fresh&quot;: true" in pushed and "src" in pushed
    await database_sync_to_async(records_factory)("live", 10, partition=0)
    pushed = await c.receive_from(timeout=5)
    assert pushed.count("<tr data-pos=") == 3 and "7 more records arrived" in pushed
    shown = [int(o) for o in re.findall(r'data-pos="0:(\d+)"', pushed)]
    assert shown == sorted(shown, reverse=True) and len(shown) == 3  # newest on top
    await c.disconnect()
    assert not any(get_channel_layer().groups.values())
    await database_sync_to_async(connections.close_all)()  # so the test database can be dropped


# --- A big partition ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_seeks_on_a_big_partition_use_the_indexes(viewer_client, django_assert_max_num_queries):
    """Prints timings (`-s`); BIG_PARTITION_RECORDS sets the size (default 200,000)."""
    n = int(os.environ.get("BIG_PARTITION_RECORDS", "200000"))
    topic_factory(name="huge", partitions=1)
    t0 = time.perf_counter()
    for start in range(0, n, 5000):
        records_append(
            topic="huge",
            records=[RecordIn(key=f"k{i}".encode(), value=f'{{"n": {i}}}'.encode(), timestamp=_ts(i)) for i in range(start, min(n, start + 5000))],
            partition=0,
        )
    print(f"\n{n:,} records appended in {time.perf_counter() - t0:.1f} s")
    middle = n // 2
    at = datetime.fromtimestamp(_ts(middle) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    cases = {
        "newest": {},
        "oldest": {"seek": "oldest"},
        "offset (middle)": {"partition": "0", "seek": "offset", "offset": str(middle)},
        "time (middle)": {"partition": "0", "seek": "timestamp", "time": at},
        "newer page": {"from": f"0:{middle}"},
        "older page": {"before": f"0:{middle}"},
        "filter, 10k examined": {"seek": "offset", "offset": str(middle), "q": "no such text"},
    }
    get(viewer_client, "orders-none")  # warm up (templates, URL resolver)
    # First as right after a bulk load (no planner statistics yet), then as autovacuum leaves it.
    for when in ("fresh table", "after ANALYZE"):
        if when == "after ANALYZE":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE brokercore_recordbatch")
        print(f"  {when}:")
        for label, params in cases.items():
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                html = get(viewer_client, "huge", **params).content.decode()
                took = time.perf_counter() - t0
            print(f"{label:>24}: {took * 1000:7.1f} ms, {len(queries)} queries")
            if label.startswith(("offset", "time", "newer")):
                assert offsets(html)[:2] == [middle, middle + 1]
            if label.startswith("older"):
                assert offsets(html)[-1] == middle - 1
            if label.startswith("filter"):
                assert f"examined {views.SCAN_LIMIT:,} records, 0 matched" in html
    with django_assert_max_num_queries(6):
        offset_for(topic="huge", partition=0, spec=_ts(middle))
