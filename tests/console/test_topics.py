"""Topics pages: list, create (with the inline name check), detail, configs, add partitions with
the key-move preview, produce, delete and purge; permissions, htmx partials and live pushes."""

import base64
import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from brokercore.cluster.nodes import throughput_sample
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import topic_consumer_groups
from brokercore.coordinator.server_members import group_join
from brokercore.log.append import records_append
from brokercore.log.browse import topic_partitions_add_preview, topic_recent_keys
from brokercore.log.read import records_fetch
from brokercore.partitioner import murmur2, partition_for_key, to_positive
from brokercore.topics.read import topic_describe, topic_names_list
from brokercore.topics.service import topic_delete
from brokercore.types import RecordIn
from console.live import fragments
from console.live.consumers import LiveConsumer
from tests.factories import records_factory, topic_factory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def html_of(response) -> str:
    return response.content.decode()


def field_before(html: str, message: str) -> str:
    """The name of the form field rendered last before `message`: the field the error is next to."""
    return re.findall(r'name="([^"]+)"', html[: html.index(message)])[-1]


def hw(topic: str) -> list[int]:
    return [p.high_watermark for p in topic_describe(name=topic).partitions]


def produce(client, topic="orders", htmx=True, **fields):
    data = {"key": "", "value_type": "text", "value": "", "headers": "", "partition": "", **fields}
    return client.post(f"/topics/{topic}/produce/", data, **(HTMX if htmx else {}))


# --- Permissions -------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    topic_factory(name="orders")
    gets = ["/topics/", "/new-topic/", "/new-topic/check/?name=x", "/topics/orders/", "/topics/orders/partitions/",
            "/topics/orders/partitions/preview/?count=4", "/topics/orders/delete/", "/topics/orders/purge/"]
    posts = ["/new-topic/", "/topics/orders/configs/", "/topics/orders/partitions/", "/topics/orders/produce/",
             "/topics/orders/delete/", "/topics/orders/purge/"]
    for url in gets:
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/"), url
    for url in posts:
        r = client.post(url, {"name": "x", "partitions": 1, "replication_factor": 1, "count": 5, "confirm": "orders"})
        assert r.status_code == 302 and r["Location"].startswith("/login/"), url
    assert topic_names_list() == ["orders"]


def test_viewer_reads_but_every_change_is_forbidden(viewer_client):
    topic_factory(name="orders", partitions=2)
    records_factory("orders", 3)
    list_html = html_of(viewer_client.get("/topics/"))
    assert ">orders<" in list_html and "Create a topic" not in list_html and "/delete/" not in list_html
    detail = html_of(viewer_client.get("/topics/orders/"))
    assert 'id="topic-partitions"' in detail and 'id="topic-configs"' in detail
    # No change forms for a viewer: no produce, no add partitions, no config inputs, no delete.
    for absent in ("Produce a record", 'name="count"', "Save configs", "Delete topic", "Purge records", "<form method=\"post\" action=\"/topics/orders"):
        assert absent not in detail, absent
    for url in ("/new-topic/", "/new-topic/check/?name=x", "/topics/orders/partitions/",
                "/topics/orders/partitions/preview/?count=3", "/topics/orders/delete/", "/topics/orders/purge/"):
        assert viewer_client.get(url).status_code == 403, url
    posts = {
        "/new-topic/": {"name": "new-one", "partitions": 1, "replication_factor": 1},
        "/topics/orders/configs/": {"retention.ms": "1000"},
        "/topics/orders/partitions/": {"count": 4},
        "/topics/orders/produce/": {"key": "k", "value_type": "text", "value": "v"},
        "/topics/orders/delete/": {"confirm": "orders"},
        "/topics/orders/purge/": {},
    }
    for url, data in posts.items():
        assert viewer_client.post(url, data).status_code == 403, url
        assert viewer_client.post(url, data, **HTMX).status_code == 403, url
    info = topic_describe(name="orders")
    assert topic_names_list() == ["orders"] and len(info.partitions) == 2 and info.records == 3 and info.overrides == {}


# --- The list ----------------------------------------------------------------------------------


def test_list_shows_counts_size_and_rate(viewer_client, monkeypatch):
    topic_factory(name="orders", partitions=3)
    topic_factory(name="payments", partitions=1)
    now = [1_700_000_000_000]
    monkeypatch.setattr("brokercore.clock.now_ms", lambda: now[0])
    throughput_sample()
    records_factory("orders", 30)
    now[0] += 10_000
    throughput_sample()
    html = html_of(viewer_client.get("/topics/"))
    assert ">orders<" in html and ">payments<" in html
    assert ">30<" in html and ">3.0<" in html  # 30 records in 10 s
    assert 'ws-connect="/ws/live/?s=cluster%3Atopics"' in html


def _names_in_order(html: str, names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: html.index(f">{n}<"))


def test_list_search_and_sort(viewer_client):
    topic_factory(name="alpha", partitions=1)
    topic_factory(name="beta", partitions=5)
    topic_factory(name="gamma", partitions=2)
    records_factory("alpha", 9)
    records_factory("gamma", 4)
    names = ["alpha", "beta", "gamma"]
    assert _names_in_order(html_of(viewer_client.get("/topics/")), names) == ["alpha", "beta", "gamma"]
    assert _names_in_order(html_of(viewer_client.get("/topics/?sort=-name")), names) == ["gamma", "beta", "alpha"]
    assert _names_in_order(html_of(viewer_client.get("/topics/?sort=-partitions")), names) == ["beta", "gamma", "alpha"]
    assert _names_in_order(html_of(viewer_client.get("/topics/?sort=-records")), names) == ["alpha", "gamma", "beta"]
    assert _names_in_order(html_of(viewer_client.get("/topics/?sort=size")), names) == ["beta", "gamma", "alpha"]
    assert _names_in_order(html_of(viewer_client.get("/topics/?sort=bogus")), names) == ["alpha", "beta", "gamma"]
    html = html_of(viewer_client.get("/topics/?sort=-records"))
    assert 'sort=records"' in html  # clicking the active column reverses it
    html = html_of(viewer_client.get("/topics/?q=AM&sort=-records"))
    assert ">gamma<" in html and ">alpha<" not in html and ">beta<" not in html
    assert "1 of 3 topics match" in html
    assert 'name="sort" value="-records" form="topic-search"' in html  # typing keeps the sort
    html = html_of(viewer_client.get("/topics/?q=zzz"))
    assert "No topic matches" in html and "Show all 3 topics" in html


def test_list_htmx_returns_only_the_table(viewer_client):
    topic_factory(name="orders")
    r = viewer_client.get("/topics/?q=ord", **HTMX)
    html = html_of(r).strip()
    assert html.startswith('<div id="topic-table">') and "<html" not in html and ">orders<" in html
    # Back/forward after a pushed URL asks for the whole page again.
    full = html_of(viewer_client.get("/topics/?q=ord", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"))
    assert "<html" in full


def test_list_empty_state_says_what_to_do(staff_client):
    html = html_of(staff_client.get("/topics/"))
    assert "No topics yet." in html and 'href="/new-topic/"' in html and "manage.py topics create" in html


def test_list_empty_state_for_a_viewer(viewer_client):
    html = html_of(viewer_client.get("/topics/"))
    assert "No topics yet." in html and "A staff user can create one" in html and 'href="/new-topic/"' not in html


def test_list_live_push_refetches_the_table_with_the_pages_own_filters(viewer):
    html = fragments.render("cluster:topics", {}, viewer)
    assert 'id="topic-list-refresh"' in html
    start = html.index('id="topic-list-refresh"')
    pushed = html[start:html.index(">", start)]
    assert 'hx-trigger="load"' in pushed and 'hx-include="#topic-search"' in pushed and 'hx-target="#topic-table"' in pushed


# --- Create ------------------------------------------------------------------------------------


def test_create_page_and_topic(staff_client):
    html = html_of(staff_client.get("/new-topic/"))
    assert 'hx-trigger="input changed delay:300ms"' in html and "max.message.bytes" in html
    r = staff_client.post("/new-topic/", {"name": "orders", "partitions": 4, "replication_factor": 1,
                                           "configs": "retention.ms=86400000\n\ncleanup.policy = compact\n"})
    assert r.status_code == 302 and r["Location"] == "/topics/orders/"
    info = topic_describe(name="orders")
    assert len(info.partitions) == 4 and info.overrides == {"retention.ms": "86400000", "cleanup.policy": "compact"}
    page = html_of(staff_client.get(r["Location"]))
    assert "Created topic orders with 4 partitions." in page


def test_create_with_htmx_redirects_the_browser(staff_client):
    r = staff_client.post("/new-topic/", {"name": "orders", "partitions": 1, "replication_factor": 1}, **HTMX)
    assert r.status_code == 200 and r["HX-Redirect"] == "/topics/orders/"
    assert topic_names_list() == ["orders"]


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"name": "bad name"}, "name", "Topic name &quot;bad name&quot; is illegal, it contains a character other than ASCII alphanumerics"),
        ({"name": ""}, "name", "Topic name is illegal, it can&#x27;t be empty"),
        ({"name": ".."}, "name", "Topic name cannot be &quot;.&quot; or &quot;..&quot;"),
        ({"name": "x" * 250}, "name", "it can&#x27;t be longer than 249 characters"),
        ({"name": "existing"}, "name", "Topic &#x27;existing&#x27; already exists. (TOPIC_ALREADY_EXISTS)"),
        ({"name": "my_topic"}, "name", "Topic &#x27;my_topic&#x27; collides with existing topic: my.topic"),
        ({"partitions": 0}, "partitions", "Number of partitions must be larger than 0. (INVALID_PARTITIONS)"),
        ({"partitions": 5000}, "partitions", "above this broker&#x27;s limit of 1000"),
        ({"partitions": "many"}, "partitions", "Enter a whole number."),
        ({"replication_factor": 3}, "replication_factor", "Replication factor: 3 larger than available brokers: 1. (INVALID_REPLICATION_FACTOR)"),
        ({"configs": "retention.ms=abc"}, "configs", "Invalid value abc for configuration retention.ms: Not a number of type LONG (INVALID_CONFIG)"),
        ({"configs": "foo.bar=1"}, "configs", "Unknown topic config name: foo.bar (INVALID_CONFIG)"),
        ({"configs": "cleanup.policy=forever"}, "configs", "String must be one of: compact, delete"),
        ({"configs": "retention.ms"}, "configs", "Line 1: expected name=value"),
    ],
)
def test_create_refuses_bad_input_next_to_the_field(staff_client, fields, field, message):
    topic_factory(name="existing")
    topic_factory(name="my.topic")
    data = {"name": "fresh", "partitions": 3, "replication_factor": 1, "configs": "", **fields}
    for htmx in (False, True):
        r = staff_client.post("/new-topic/", data, **(HTMX if htmx else {}))
        html = html_of(r)
        assert r.status_code == 200 and message in html, html
        assert field_before(html, message) == field  # shown right after its own field
        if htmx:
            assert html.strip().startswith('<form id="topic-create-form"') and "<html" not in html
    assert topic_names_list() == ["existing", "my.topic"]


def test_create_shows_every_error_at_once(staff_client):
    data = {"name": "fresh", "partitions": 5000, "replication_factor": 1, "configs": "foo.bar=1"}
    html = html_of(staff_client.post("/new-topic/", data))
    assert field_before(html, "Unknown topic config name: foo.bar") == "configs"
    assert field_before(html, "above this broker&#x27;s limit of 1000") == "partitions"
    assert topic_names_list() == []


@pytest.mark.parametrize(
    "name, expected",
    [
        ("fresh-topic", "is a valid name and no topic has it"),
        ("a b", "Topic name &quot;a b&quot; is illegal"),
        ("orders", "Topic &#x27;orders&#x27; already exists."),
        ("my_topic", "collides with existing topic: my.topic"),
        ("", "1 to 249 characters"),
    ],
)
def test_name_check_answers_as_you_type(staff_client, name, expected):
    topic_factory(name="orders")
    topic_factory(name="my.topic")
    r = staff_client.get("/new-topic/check/", {"name": name}, **HTMX)
    html = html_of(r).strip()
    assert r.status_code == 200 and html.startswith('<div id="name-check"') and expected in html
    assert topic_names_list() == ["my.topic", "orders"]


# --- A topic's page ----------------------------------------------------------------------------


def test_detail_shows_partitions_configs_and_subscribes_live(staff_client):
    topic_factory(name="orders", partitions=3, configs={"retention.ms": "1000"})
    records_factory("orders", 6, partition=1)
    html = html_of(staff_client.get("/topics/orders/"))
    assert 'ws-connect="/ws/live/?s=topic%3Aorders"' in html
    assert 'id="topic-partitions"' in html and 'id="topic-groups"' in html and 'id="topic-configs"' in html
    assert html.count('<td class="n mono">') == 3  # one row per partition
    assert ">6<" in html  # records and high watermark of partition 1
    # Effective values, which are overrides, and the docs.
    assert "override" in html and ">1000<" in html and "604800000" in html
    assert "This configuration controls the maximum time we will retain a log" in html
    # Kafka configs this broker only stores are there, saying so and why.
    assert "stored, no effect here" in html and "not in segment files" in html
    assert "Produce a record" in html and "Add partitions" in html and 'href="/topics/orders/delete/"' in html


def test_detail_of_an_unknown_topic_is_404(viewer_client):
    assert viewer_client.get("/topics/nope/").status_code == 404


# Legal topic names that are also words the console's URLs use: each must be a topic like any other.
URL_WORD_TOPICS = ["new", "check", "configs", "partitions", "produce", "delete", "purge", "messages", "tail", "preview"]


@pytest.mark.parametrize("name", URL_WORD_TOPICS)
def test_topics_named_like_url_words_have_their_pages_and_actions(staff_client, name):
    topic_factory(name=name, partitions=2)
    base = f"/topics/{name}/"
    page = html_of(staff_client.get(base))
    assert f'<h1 class="mono">{name}</h1>' in page and 'id="topic-partitions"' in page
    assert f'action="{base}produce/"' in page and f'href="{base}delete/"' in page
    r = produce(staff_client, topic=name, key="k", value="v", htmx=False)
    assert r.status_code == 302 and r["Location"] == f"{base}#topic-produce" and sum(hw(name)) == 1
    r = staff_client.post(f"{base}configs/", {"retention.ms": "1000"})
    assert r.status_code == 302 and topic_describe(name=name).overrides == {"retention.ms": "1000"}
    preview = html_of(staff_client.get(f"{base}partitions/preview/", {"count": 3}, **HTMX))
    assert "<strong>1 of 1</strong> distinct key" in preview or "<strong>0 of 1</strong> distinct key" in preview
    assert staff_client.post(f"{base}partitions/", {"count": 3})["Location"] == base
    assert len(topic_describe(name=name).partitions) == 3
    for tab, heading in (("messages/", "<h1>Messages</h1>"), ("tail/", "<h1>Live tail</h1>")):
        assert heading in html_of(staff_client.get(base + tab)), tab
    assert staff_client.post(f"{base}purge/")["Location"] == base and topic_describe(name=name).records == 0
    assert "Type <code>" + name + "</code> to confirm" in html_of(staff_client.get(f"{base}delete/"))
    assert staff_client.post(f"{base}delete/", {"confirm": name})["Location"] == "/topics/"
    assert name not in topic_names_list()
    assert staff_client.get(base).status_code == 404


def test_the_create_form_lives_outside_the_topic_namespace(staff_client):
    # /topics/new/ is the page of a topic called "new" (404 until it exists), not the form.
    assert staff_client.get("/topics/new/").status_code == 404
    page = html_of(staff_client.get("/new-topic/"))
    assert 'action="/new-topic/"' in page and 'hx-get="/new-topic/check/"' in page
    created = staff_client.post("/new-topic/", {"name": "new", "partitions": 1, "replication_factor": 1})
    assert created["Location"] == "/topics/new/"
    check = html_of(staff_client.get("/new-topic/check/", {"name": "new"}, **HTMX))
    assert "Topic &#x27;new&#x27; already exists." in check
    assert "Created topic new with 1 partition." in html_of(staff_client.get("/topics/new/"))


def test_detail_htmx_returns_the_partitions_partial(viewer_client):
    topic_factory(name="orders")
    html = html_of(viewer_client.get("/topics/orders/", **HTMX)).strip()
    assert html.startswith('<section id="topic-partitions">') and "<html" not in html


def test_groups_consuming_the_topic_with_their_lag(viewer_client):
    topic_factory(name="orders", partitions=2)
    topic_factory(name="other", partitions=1)
    records_factory("orders", 5, partition=0)
    records_factory("orders", 3, partition=1)
    offsets_commit(group_id="billing", offsets={("orders", 0): 2})
    offsets_commit(group_id="elsewhere", offsets={("other", 0): 0})
    group_join(group_id="shipping", topics=["orders"])
    groups = {g.group_id: g for g in topic_consumer_groups(name="orders")}
    assert set(groups) == {"billing", "shipping"}
    assert groups["billing"].lag == 3 and groups["billing"].committed_partitions == 1
    assert [p.lag for p in groups["billing"].partitions] == [3, None]
    assert groups["shipping"].lag is None and groups["shipping"].subscribed_members == 1
    assert groups["shipping"].assigned_partitions == 2
    html = html_of(viewer_client.get("/topics/orders/"))
    assert ">billing<" in html and ">shipping<" in html and ">elsewhere<" not in html
    assert "<strong>3</strong>" in html


def test_groups_empty_state(viewer_client):
    topic_factory(name="orders")
    assert "No consumer group reads this topic yet." in html_of(viewer_client.get("/topics/orders/"))


# --- Configs -----------------------------------------------------------------------------------


def test_configs_set_and_back_to_default(staff_client):
    topic_factory(name="orders", configs={"retention.ms": "1000"})
    data = {"retention.ms": "", "cleanup.policy": "compact", "max.message.bytes": "2048"}
    r = staff_client.post("/topics/orders/configs/", data)
    assert r.status_code == 302 and r["Location"] == "/topics/orders/#topic-configs"
    assert topic_describe(name="orders").overrides == {"cleanup.policy": "compact", "max.message.bytes": "2048"}
    page = html_of(staff_client.get("/topics/orders/"))
    assert "set cleanup.policy=compact" in page and "retention.ms back to its default" in page


def test_configs_with_htmx_return_the_partial_with_a_note(staff_client):
    topic_factory(name="orders")
    r = staff_client.post("/topics/orders/configs/", {"retention.ms": "5000"}, **HTMX)
    html = html_of(r).strip()
    assert html.startswith('<section id="topic-configs">') and "Configs saved: set retention.ms=5000." in html
    assert 'value="5000"' in html
    r = staff_client.post("/topics/orders/configs/", {"retention.ms": "5000"}, **HTMX)
    assert "No config changed." in html_of(r)


def test_configs_bad_values_show_the_brokers_message_and_write_nothing(staff_client):
    topic_factory(name="orders", configs={"retention.ms": "1000"})
    data = {"retention.ms": "-7", "cleanup.policy": "forever", "max.message.bytes": "99999999999", "retention.bytes": "5"}
    for htmx in (False, True):
        html = html_of(staff_client.post("/topics/orders/configs/", data, **(HTMX if htmx else {})))
        assert "Invalid value -7 for configuration retention.ms: Value must be at least -1 (INVALID_CONFIG)" in html
        assert "Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete" in html
        assert "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT" in html
        assert html.strip().startswith('<section id="topic-configs">') == htmx
    assert topic_describe(name="orders").overrides == {"retention.ms": "1000"}


# --- Add partitions ----------------------------------------------------------------------------


def test_add_partitions(staff_client):
    topic_factory(name="orders", partitions=2)
    r = staff_client.post("/topics/orders/partitions/", {"count": 5})
    assert r.status_code == 302 and r["Location"] == "/topics/orders/"
    assert len(topic_describe(name="orders").partitions) == 5
    assert "orders now has 5 partitions (it had 2)." in html_of(staff_client.get("/topics/orders/"))
    r = staff_client.post("/topics/orders/partitions/", {"count": 6}, **HTMX)
    assert r["HX-Redirect"] == "/topics/orders/" and len(topic_describe(name="orders").partitions) == 6


@pytest.mark.parametrize(
    "count, message",
    [
        (2, "Topic currently has 3 partitions, which is higher than the requested 2."),
        (3, "Topic already has 3 partitions."),
        (5000, "above this broker&#x27;s limit of 1000"),
        ("", "This field is required."),
    ],
)
def test_add_partitions_refuses_and_writes_nothing(staff_client, count, message):
    topic_factory(name="orders", partitions=3)
    html = html_of(staff_client.post("/topics/orders/partitions/", {"count": count}))
    assert message in html and "<html" in html
    html = html_of(staff_client.post("/topics/orders/partitions/", {"count": count}, **HTMX)).strip()
    assert message in html and html.startswith('<section id="topic-grow"')
    html = html_of(staff_client.get("/topics/orders/partitions/preview/", {"count": count}, **HTMX)).strip()
    assert message in html and html.startswith('<div id="grow-preview"')
    assert len(topic_describe(name="orders").partitions) == 3


def test_preview_counts_the_keys_that_move_as_the_partitioner_does(staff_client):
    topic_factory(name="orders", partitions=3)
    keys = [f"customer-{i}".encode() for i in range(60)]
    records_append(topic="orders", records=[RecordIn(key=k, value=b"v") for k in keys + keys[:10]])
    records_append(topic="orders", records=[RecordIn(key=None, value=b"no key")])
    moved = [k for k in keys if partition_for_key(k, 3) != partition_for_key(k, 5)]
    assert 0 < len(moved) < 60
    preview = topic_partitions_add_preview(name="orders", count=5)
    assert (preview.current, preview.count, preview.keys, preview.moved) == (3, 5, 60, len(moved))
    by_move = {}
    for k in moved:
        pair = (partition_for_key(k, 3), partition_for_key(k, 5))
        by_move[pair] = by_move.get(pair, 0) + 1
    assert {(a, b): n for a, b, n in preview.moves} == by_move
    assert all(partition_for_key(k, 3) == a and partition_for_key(k, 5) == b for k, a, b in preview.examples)
    html = html_of(staff_client.get("/topics/orders/partitions/preview/", {"count": 5}, **HTMX))
    assert f"<strong>{len(moved)} of 60</strong> distinct keys" in html
    to_new = sum(1 for k in moved if partition_for_key(k, 5) >= 3)
    assert f"{to_new} to the new partitions, {len(moved) - to_new} between existing ones" in html
    assert len(topic_describe(name="orders").partitions) == 3  # a preview adds nothing


def test_preview_without_javascript(staff_client):
    topic_factory(name="orders", partitions=2)
    records_factory("orders", 40)
    page = html_of(staff_client.get("/topics/orders/partitions/preview/", {"count": 4}))
    assert "<html" in page and "<h1>Add partitions</h1>" in page and "distinct keys in the last 1,000 records" in page
    # The form's Preview button posts preview=1: shows the preview, adds nothing.
    page = html_of(staff_client.post("/topics/orders/partitions/", {"count": 4, "preview": "1"}))
    assert "distinct keys in the last 1,000 records" in page
    assert len(topic_describe(name="orders").partitions) == 2
    assert "New partition count" in html_of(staff_client.get("/topics/orders/partitions/"))


@pytest.mark.parametrize("path", ["/topics/orders/", "/topics/orders/partitions/"])
def test_preview_follows_the_count_as_it_is_typed(staff_client, path):
    topic_factory(name="orders", partitions=2)
    keys = [f"k{i}".encode() for i in range(50)]
    records_append(topic="orders", records=[RecordIn(key=k, value=b"v") for k in keys])
    html = html_of(staff_client.get(path))
    start = html.index('id="id_count"')
    field = html[html.rindex("<input", 0, start) : html.index(">", start)]
    # Typing fires a GET of the preview partial (the field's own value as ?count=) into #grow-preview.
    assert 'hx-get="/topics/orders/partitions/preview/"' in field and 'name="count"' in field
    assert 'hx-trigger="load, input changed delay:300ms"' in field and 'hx-target="#grow-preview"' in field
    assert 'hx-sync="this:replace"' in field and 'id="grow-preview"' in html
    answers = {}
    for count in (3, 7, "x", 1):
        r = staff_client.get("/topics/orders/partitions/preview/", {"count": count}, **HTMX)
        answers[count] = html_of(r).strip()
        assert r.status_code == 200 and answers[count].startswith('<div id="grow-preview"') and "<html" not in answers[count]
    for count in (3, 7):
        moved = sum(1 for k in keys if partition_for_key(k, 2) != partition_for_key(k, count))
        assert f"<strong>{moved} of 50</strong> distinct keys" in answers[count]
    assert answers[3] != answers[7]
    assert "Enter a whole number." in answers["x"]
    assert "Topic currently has 2 partitions, which is higher than the requested 1." in answers[1]
    assert len(topic_describe(name="orders").partitions) == 2


def test_preview_of_a_topic_without_keys(staff_client):
    topic_factory(name="orders", partitions=2)
    records_factory("orders", 5, key=None)
    html = html_of(staff_client.get("/topics/orders/partitions/preview/", {"count": 3}, **HTMX))
    assert "No keyed records in the last 1,000, so no key moves." in html


def test_recent_keys_are_the_newest_distinct_keys_still_in_the_log(db):
    topic_factory(name="orders", partitions=2)
    for i in range(10):
        records_append(topic="orders", records=[RecordIn(key=f"k{i}".encode(), value=b"v", timestamp=1_000 + i)])
    records_append(topic="orders", records=[RecordIn(key=b"k9", value=b"v", timestamp=2_000)])
    assert topic_recent_keys(name="orders", limit=3) == [b"k9", b"k8"]
    assert len(topic_recent_keys(name="orders")) == 10
    from brokercore.log.cleaner import topic_purge

    topic_purge(topic="orders")
    assert topic_recent_keys(name="orders") == []


# --- Produce -----------------------------------------------------------------------------------


def test_produce_with_a_key_says_why_it_landed_there(staff_client):
    topic_factory(name="orders", partitions=3)
    r = produce(staff_client, key="alice", value="hello", headers="trace=1\nsource = console")
    html = html_of(r).strip()
    p = partition_for_key(b"alice", 3)
    h = to_positive(murmur2(b"alice"))
    assert html.startswith('<section id="topic-produce"')
    assert f"Went to partition {p} at offset 0" in html
    assert f'toPositive(murmur2("alice")) = {h}' in html and f"{h} % 3 partitions = <strong>{p}</strong>" in html
    assert "already positive as Java's signed int" in html  # alice's murmur2 is positive
    [record] = records_fetch(topic="orders", partition=p, offset=0).records
    assert (record.key, record.value, record.headers) == (b"alice", b"hello", (("trace", b"1"), ("source", b"console")))


def test_produce_without_a_key_or_to_a_chosen_partition(staff_client):
    topic_factory(name="orders", partitions=3)
    html = html_of(produce(staff_client, value="x"))
    assert "round-robin, because the record has no key" in html
    # The round-robin record may itself have gone to partition 2 (the counter is per process).
    before = hw("orders")[2]
    html = html_of(produce(staff_client, key="alice", value="x", partition="2"))
    assert f"Went to partition 2 at offset {before}</strong>: explicit partition." in html
    assert "the key “alice” was not hashed" in html
    assert sum(hw("orders")) == 2 and hw("orders")[2] == before + 1


def test_produce_value_types(staff_client):
    topic_factory(name="orders", partitions=1)
    produce(staff_client, value='{"id": 1, "items": [2, 3]}', value_type="json")
    produce(staff_client, value=base64.b64encode(b"\x00\xffbinary").decode(), value_type="base64")
    produce(staff_client, key="gone", value_type="null")
    records = records_fetch(topic="orders", partition=0, offset=0).records
    assert json.loads(records[0].value) == {"id": 1, "items": [2, 3]}
    assert records[1].value == b"\x00\xffbinary"
    assert records[2].value is None and records[2].key == b"gone"


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"value_type": "json", "value": "{not json"}, "value", "Invalid JSON: Expecting property name enclosed in double quotes"),
        ({"value_type": "base64", "value": "###"}, "value", "Invalid base64:"),
        ({"value_type": "null", "value": "something"}, "value", "A null value has no content"),
        ({"headers": "just-a-name"}, "headers", "Line 1: expected name=value"),
        ({"value": "x" * 40}, "value", "The record is 40 bytes, larger than the topic&#x27;s max.message.bytes of 32. (MESSAGE_TOO_LARGE)"),
        ({"partition": "7"}, "partition", "Select a valid choice."),
    ],
)
def test_produce_refuses_bad_input_and_writes_nothing(staff_client, fields, field, message):
    topic_factory(name="orders", partitions=2, configs={"max.message.bytes": "32"})
    for htmx in (False, True):
        html = html_of(produce(staff_client, htmx=htmx, **fields))
        assert message in html, html
        assert field_before(html, message) == field
        assert html.strip().startswith('<section id="topic-produce"') == htmx
    assert hw("orders") == [0, 0]


def test_produce_without_a_key_to_a_compacted_topic_is_refused_at_the_key(staff_client):
    topic_factory(name="compacted", partitions=1, configs={"cleanup.policy": "compact"})
    html = html_of(produce(staff_client, topic="compacted", value="v"))
    assert field_before(html, "Compacted topic cannot accept message without key. (INVALID_RECORD)") == "key"
    assert hw("compacted") == [0]


def test_produce_without_javascript_redirects_and_shows_the_result_once(staff_client):
    topic_factory(name="orders", partitions=2)
    r = produce(staff_client, htmx=False, key="bob", value="hi")
    assert r.status_code == 302 and r["Location"] == "/topics/orders/#topic-produce"
    page = html_of(staff_client.get("/topics/orders/"))
    p = partition_for_key(b"bob", 2)
    assert f"Produced to partition {p} at offset 0." in page and f"Went to partition {p} at offset 0" in page
    assert f"{murmur2(b'bob')} as Java's signed int; toPositive clears the sign bit" in page  # a negative hash
    assert "Went to partition" not in html_of(staff_client.get("/topics/orders/"))


def test_produce_to_a_missing_topic_is_404(staff_client):
    assert produce(staff_client, topic="nope", value="x").status_code == 404


# --- Delete and purge --------------------------------------------------------------------------


def test_delete_needs_the_typed_name(staff_client):
    topic_factory(name="orders")
    records_factory("orders", 4)
    page = html_of(staff_client.get("/topics/orders/delete/"))
    assert "Type <code>orders</code> to confirm" in page and "4 records" in page
    html = html_of(staff_client.post("/topics/orders/delete/", {"confirm": "order"}))
    assert "Type the topic&#x27;s name, orders, exactly to delete it." in html and topic_names_list() == ["orders"]
    html = html_of(staff_client.post("/topics/orders/delete/", {"confirm": ""}, **HTMX)).strip()
    assert html.startswith('<form id="topic-delete-form"') and topic_names_list() == ["orders"]
    r = staff_client.post("/topics/orders/delete/", {"confirm": "orders"})
    assert r.status_code == 302 and r["Location"] == "/topics/" and topic_names_list() == []
    assert "Deleted topic orders and its 4 records." in html_of(staff_client.get("/topics/"))
    assert staff_client.get("/topics/orders/delete/").status_code == 404


def test_delete_with_htmx_redirects_the_browser(staff_client):
    topic_factory(name="orders")
    r = staff_client.post("/topics/orders/delete/", {"confirm": "orders"}, **HTMX)
    assert r["HX-Redirect"] == "/topics/" and topic_names_list() == []


def test_purge_empties_the_partitions_and_keeps_them(staff_client):
    topic_factory(name="orders", partitions=2)
    records_factory("orders", 10)
    page = html_of(staff_client.get("/topics/orders/purge/"))
    assert "Purge 10 records" in page
    detail = html_of(staff_client.get("/topics/orders/"))
    assert 'hx-post="/topics/orders/purge/"' in detail and "hx-confirm=" in detail
    r = staff_client.post("/topics/orders/purge/")
    assert r.status_code == 302 and r["Location"] == "/topics/orders/"
    info = topic_describe(name="orders")
    assert info.records == 0 and len(info.partitions) == 2 and sum(hw("orders")) == 10
    assert "Purged 10 records from orders" in html_of(staff_client.get("/topics/orders/"))
    records_factory("orders", 1)
    assert staff_client.post("/topics/orders/purge/", **HTMX)["HX-Redirect"] == "/topics/orders/"
    assert topic_describe(name="orders").records == 0


# --- Live --------------------------------------------------------------------------------------


async def _receive_until(c: WebsocketCommunicator, needle: str) -> str:
    seen = ""
    while needle not in seen:
        seen += await c.receive_from(timeout=5)
    return seen


@pytest.mark.django_db(transaction=True)
async def test_topic_page_gets_partitions_and_groups_pushed(viewer, in_memory_layer):
    await database_sync_to_async(topic_factory)(name="orders", partitions=2)
    path = "/ws/live/?s=topic:orders"
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    c.scope["user"] = viewer
    c.scope["query_string"] = path.partition("?")[2].encode()
    connected, _ = await c.connect()
    assert connected
    first = await _receive_until(c, 'id="topic-groups"')
    assert 'id="topic-partitions"' in first
    await database_sync_to_async(records_append)(
        topic="orders", records=[RecordIn(key=None, value=b"v", partition=1) for _ in range(7)]
    )
    pushed = await _receive_until(c, 'id="topic-partitions"')
    assert ">7<" in pushed
    await database_sync_to_async(topic_delete)(name="orders")
    pushed = await _receive_until(c, "This topic has been deleted.")
    await c.disconnect()
    assert not any(get_channel_layer().groups.values())
    # The worker thread's connection would otherwise keep PostgreSQL from dropping the test database.
    await database_sync_to_async(connections.close_all)()


def test_list_shows_at_most_the_limit_and_says_so(viewer_client, monkeypatch):
    from console.views import topics as topics_views

    monkeypatch.setattr(topics_views, "LIST_LIMIT", 3)
    for i in range(5):
        topic_factory(name=f"many-{i}", partitions=1)
    html = html_of(viewer_client.get("/topics/"))
    assert "Showing the first 3 of 5 topics" in html
    assert html.count('href="/topics/many-') == 3
