"""Consumer-group pages: list, detail (grid, lag, chart, timeline), reset offsets, delete."""

import functools

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from brokercore.coordinator.consumer import member_commit, member_poll
from brokercore.coordinator.lag import lag_samples_record
from brokercore.coordinator.offsets import kafka_offsets_commit, offsets_commit
from brokercore.coordinator.read import committed_offsets_get, group_describe, group_list
from brokercore.coordinator.server_members import member_leave, member_sync
from brokercore.errors import NonEmptyGroup
from console.live.consumers import LiveConsumer
from console.presenters.groups import dom_id, lag_chart, members_named
from tests.factories import group_settle as settle
from tests.factories import member_factory, records_factory, topic_factory

pytestmark = pytest.mark.django_db

# Every member has a client id, as real clients send one: the pages label members by it.
join = functools.partial(member_factory, client_id="c")


# --- Helpers -----------------------------------------------------------------------------------


def test_member_labels_are_client_ids_and_disambiguated_when_shared():
    ids = [
        "c1-0b7c5e4a-1111-2222-3333-444455556666",
        "consumer-aaaabbbb-1111-2222-3333-444455556666",
        "consumer-ccccdddd-1111-2222-3333-444455556666",
        "kafka-python-odd-id",
    ]
    names = members_named(ids)
    assert [names[i].label for i in ids] == ["c1", "consumer·aaaa", "consumer·cccc", "kafka-python-odd-id"]
    assert [names[i].colour for i in ids] == ["m0", "m1", "m2", "m3"]


def test_lag_chart_needs_two_points_and_scales_to_a_round_top():
    assert lag_chart([], 1000, None, []) is None
    assert lag_chart([(0, 5)], 0, None, []) is None
    chart = lag_chart([(0, 0), (30_000, 37)], 60_000, 12, [])
    assert chart["yticks"][-1]["label"] == "50" and chart["xticks"][-1]["label"] == "now"
    assert len(chart["line"].split()) == 3  # two samples and the current lag


def test_dom_ids_are_safe_for_any_group_id():
    assert dom_id("a b/c") == dom_id("a b/c") and dom_id("a b/c").isalnum()


# --- Permissions ---------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    topic_factory(name="t", partitions=1)
    join()
    for url in ("/groups/", "/groups/g/", "/groups/g/reset-offsets/", "/groups/g/delete/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_viewers_may_look_but_not_change(viewer_client):
    topic_factory(name="t", partitions=1)
    join()
    assert viewer_client.get("/groups/g/").status_code == 200
    assert "Reset offsets" not in viewer_client.get("/groups/g/").content.decode()
    for url in ("/groups/g/reset-offsets/", "/groups/g/delete/"):
        assert viewer_client.get(url).status_code == 403
        assert viewer_client.post(url, {"topic": "t", "to": "earliest"}).status_code == 403
    assert group_describe(group_id="g").members  # nothing changed


# --- List ------------------------------------------------------------------------------------------


def test_list_shows_state_members_assignor_generation_and_lag(viewer_client):
    topic_factory(name="t", partitions=2)
    records_factory("t", 10)
    m = join(assignor="roundrobin")
    offsets_commit(group_id="g", member_id=m.member_id, generation=m.generation, offsets={("t", 0): 0, ("t", 1): 0})
    html = viewer_client.get("/groups/").content.decode()
    assert 'ws-connect="/ws/live/?s=cluster%3Agroups"' in html and 'id="group-list"' in html
    row = html[html.index('href="/groups/g/"'):]
    assert 'class="badge Stable"' in row and ">roundrobin<" in row and ">10<" in row


def test_list_empty_state_points_to_the_lab(viewer_client):
    html = viewer_client.get("/groups/").content.decode()
    assert "No consumer groups yet." in html and 'href="/lab/"' in html


def test_list_htmx_request_gets_only_the_table(viewer_client):
    html = viewer_client.get("/groups/", headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<section id="group-list">') and "<html" not in html


# --- Detail ---------------------------------------------------------------------------------------


def test_unknown_group_is_404(viewer_client):
    assert viewer_client.get("/groups/nope/").status_code == 404


def test_grid_marks_the_idle_member_when_members_outnumber_partitions(viewer_client):
    topic_factory(name="t", partitions=2)
    for name in ("c1", "c2", "c3"):
        join(client_id=name)
    info = settle()
    assert len(info.idle_members) == 1
    html = viewer_client.get("/groups/g/").content.decode()
    dom = dom_id("g")
    assert f'id="{dom}-grid"' in html and 'ws-connect="/ws/live/?s=group%3Ag"' in html
    assert html.count('class="cell owned') == 2
    assert "idle-badge" in html and "1 idle member" in html
    for name in ("c1", "c2", "c3"):
        assert f">{name}</span>" in html


def test_a_negative_committed_offset_is_shown_as_committed_without_lag(viewer_client):
    """A Kafka client may commit -2 (KafkaJS's reset to earliest), stored as Kafka stores it."""
    topic_factory(name="t", partitions=2)
    records_factory("t", 4, key=None, partition=0)
    records_factory("t", 4, key=None, partition=1)
    kafka_offsets_commit(group_id="g", offsets={("t", 0): (-2, None, None), ("t", 1): (1, None, None)})
    html = viewer_client.get("/groups/g/").content.decode()
    assert ">-2</td>" in html and "a logical offset" in html
    assert group_list()[0].total_lag == 3


def test_rebalance_in_progress_shows_reasons_deadline_and_paused_partitions(viewer_client):
    topic_factory(name="t", partitions=2)
    join(client_id="c1")
    join(client_id="c2")  # c1 must rejoin: the group is PreparingRebalance; range is eager
    html = viewer_client.get("/groups/g/").content.decode()
    assert "Rebalancing</strong> to generation 2" in html and "member c2 joined" in html
    assert "data-deadline-ms=" in html and ">c1</span> to rejoin" in html


def test_timeline_shows_each_generation_with_reasons_moves_and_diff(viewer_client):
    topic_factory(name="t", partitions=3)
    join(client_id="c1")
    join(client_id="c2")
    settle()
    html = viewer_client.get("/groups/g/").content.decode()
    assert "Gen 2" in html and "Gen 1" in html
    assert "member c2 joined" in html  # member ids are shown by their labels
    assert "3 of 3 paused" in html  # eager: every partition stops
    assert 'class="tp kept"' in html and 'class="tp added"' in html and 'class="tp removed"' in html


def test_cooperative_rebalance_shows_revoke_then_assign(viewer_client):
    topic_factory(name="t", partitions=4)
    join(client_id="c1", assignor="cooperative-sticky")
    join(client_id="c2")
    settle()
    html = viewer_client.get("/groups/g/").content.decode()
    assert "cooperative step 1 of 2: revoke" in html and "cooperative step 2 of 2: assign" in html
    assert 'class="move revoke"' in html and 'class="move assign"' in html
    assert "2 of 4 paused" in html  # only the moving partitions stop


def test_the_oldest_generation_shown_is_still_labelled_as_a_cooperative_step_2():
    """The timeline shows the newest `history` generations; a step 2 at its end is classified
    against the revoke before it, which is not shown."""
    from console.views.groups import group_context

    topic_factory(name="t", partitions=4)
    join(client_id="c1", assignor="cooperative-sticky")
    join(client_id="c2")
    settle()
    timeline = group_context("g")["timeline"]
    newest = timeline[0]
    assert newest.step == "assign"
    assert [e.step for e in group_context("g", history=1)["timeline"]] == ["assign"]


def test_revoking_partitions_are_striped_in_the_grid(viewer_client):
    topic_factory(name="t", partitions=4)
    a = join(client_id="c1", assignor="cooperative-sticky")
    join(client_id="c2")
    member_sync(group_id="g", member_id=a.member_id)  # c1 rejoins: generation 2 revokes two of its partitions
    info = group_describe(group_id="g")
    assert any(m.revoking for m in info.members)
    html = viewer_client.get("/groups/g/").content.decode()
    assert html.count('class="cell revoking') == 2


def test_lag_table_and_lag_over_time_chart(viewer_client, fake_clock):
    topic_factory(name="t", partitions=2)
    m = join(client_id="c1", offset_reset="earliest")
    records_factory("t", 8, partition=0)
    polled = member_poll(group_id="g", member_id=m.member_id, max_records=3)
    member_commit(group_id="g", member_id=m.member_id, generation=polled.member.generation)
    lag_samples_record()
    fake_clock.advance(10_000)
    lag_samples_record()
    html = viewer_client.get("/groups/g/").content.decode()
    assert '<svg class="lagchart"' in html and "<polyline" in html
    assert ">P0</td>" in html and ">5</span>" in html  # 8 records, 3 committed


def test_group_ids_with_slashes_and_spaces_work(viewer_client):
    topic_factory(name="t", partitions=1)
    join(group="team a/orders")
    html = viewer_client.get("/groups/").content.decode()
    assert 'href="/groups/team%20a/orders/"' in html
    assert viewer_client.get("/groups/team%20a/orders/").status_code == 200


def test_detail_htmx_request_gets_the_live_sections(viewer_client):
    topic_factory(name="t", partitions=1)
    join()
    html = viewer_client.get("/groups/g/", headers={"HX-Request": "true"}).content.decode()
    dom = dom_id("g")
    assert "<html" not in html
    for part in ("summary", "grid", "lag", "chart", "timeline", "members"):
        assert f'id="{dom}-{part}"' in html


# --- Reset offsets -----------------------------------------------------------------------------------


def _empty_group_with_commits():
    topic_factory(name="t", partitions=2)
    records_factory("t", 10, partition=0)
    records_factory("t", 4, partition=1)
    offsets_commit(group_id="g", offsets={("t", 0): 6, ("t", 1): 4})


def test_reset_form_then_dry_run_preview_changes_nothing(staff_client):
    _empty_group_with_commits()
    html = staff_client.get("/groups/g/reset-offsets/").content.decode()
    assert "Nothing previewed yet." in html and 'value="t"' in html
    html = staff_client.get("/groups/g/reset-offsets/", {"topic": "t", "to": "earliest"}).content.decode()
    assert "Execute: reset 2 offsets" in html and "-6 (re-reads)" in html and "-4 (re-reads)" in html
    assert committed_offsets_get(group_id="g") == {("t", 0): (6, ""), ("t", 1): (4, "")}


def test_reset_executes_on_post(staff_client):
    _empty_group_with_commits()
    response = staff_client.post("/groups/g/reset-offsets/", {"topic": "t", "to": "shift-by", "value": "-2", "partitions": "0"})
    assert response.status_code == 302 and response["Location"] == "/groups/g/"
    assert committed_offsets_get(group_id="g")[("t", 0)][0] == 4
    assert committed_offsets_get(group_id="g")[("t", 1)][0] == 4
    assert "Reset 1 committed offset of t." in staff_client.get("/groups/g/").content.decode()


def test_reset_to_a_datetime(staff_client):
    _empty_group_with_commits()
    response = staff_client.post("/groups/g/reset-offsets/", {"topic": "t", "to": "datetime", "when": "2000-01-01T00:00"})
    assert response.status_code == 302
    assert committed_offsets_get(group_id="g")[("t", 0)][0] == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"topic": "t", "to": "offset"}, "Give the offset (or the shift) as a whole number."),
        ({"topic": "t", "to": "datetime"}, "Pick the date and time to reset to."),
        ({"topic": "t", "to": "earliest", "partitions": "a,b"}, "Partitions are numbers separated by commas"),
        ({"topic": "t", "to": "earliest", "partitions": "9"}, "Partition 9 of topic &#x27;t&#x27; does not exist."),
        ({"topic": "nope", "to": "earliest"}, "Select a valid choice."),
        ({"topic": "t", "to": "sideways"}, "Select a valid choice."),
    ],
)
def test_reset_bad_input_shows_the_error(staff_client, data, message):
    _empty_group_with_commits()
    preview = staff_client.get("/groups/g/reset-offsets/", data)
    assert preview.status_code == 200 and message in preview.content.decode()
    execute = staff_client.post("/groups/g/reset-offsets/", data)
    assert execute.status_code == 400 and message in execute.content.decode()
    assert committed_offsets_get(group_id="g")[("t", 0)][0] == 6


def test_reset_is_refused_while_members_are_active(staff_client):
    topic_factory(name="t", partitions=1)
    join()
    html = staff_client.get("/groups/g/reset-offsets/", {"topic": "t", "to": "earliest"}).content.decode()
    assert "only be reset if the group" in html and "NON_EMPTY_GROUP" in html
    assert "Execute" not in html
    response = staff_client.post("/groups/g/reset-offsets/", {"topic": "t", "to": "earliest"})
    assert response.status_code == 400 and "NON_EMPTY_GROUP" in response.content.decode()


def test_reset_preview_with_htmx_swaps_only_its_body(staff_client):
    _empty_group_with_commits()
    html = staff_client.get("/groups/g/reset-offsets/", {"topic": "t", "to": "latest"}, headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="reset-body"') and "+4 (skips)" in html


# --- Delete -----------------------------------------------------------------------------------------


def test_delete_asks_for_confirmation_then_deletes_an_empty_group(staff_client):
    _empty_group_with_commits()
    html = staff_client.get("/groups/g/delete/").content.decode()
    assert "Delete this group?" in html
    response = staff_client.post("/groups/g/delete/")
    assert response.status_code == 302 and response["Location"] == "/groups/"
    assert group_list() == []
    assert "Deleted consumer group g" in staff_client.get("/groups/").content.decode()


def test_delete_of_a_group_with_members_is_refused(staff_client):
    topic_factory(name="t", partitions=1)
    m = join()
    response = staff_client.post("/groups/g/delete/")
    assert response.status_code == 400 and "NON_EMPTY_GROUP" in response.content.decode()
    member_leave(group_id="g", member_id=m.member_id)
    assert staff_client.post("/groups/g/delete/").status_code == 302


def test_delete_unknown_group_is_404(staff_client):
    assert staff_client.post("/groups/nope/delete/").status_code == 404


def test_delete_keeps_offsets_the_service_refuses(staff_client):
    topic_factory(name="t", partitions=1)
    join()
    with pytest.raises(NonEmptyGroup):
        from brokercore.coordinator.sweep import group_delete

        group_delete(group_id="g")


# --- Live pushes ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_group_fragments_are_pushed_after_a_rebalance(viewer, in_memory_layer):
    await database_sync_to_async(topic_factory)(name="t", partitions=2)
    await database_sync_to_async(join)(client_id="c1")
    path = "/ws/live/?s=group:g"
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    c.scope["user"] = viewer
    c.scope["query_string"] = b"s=group:g"
    connected, _ = await c.connect()
    assert connected
    dom = dom_id("g")
    first = ""
    while f'id="{dom}-members"' not in first:
        first += await c.receive_from(timeout=5)
    assert "generation 1" in first
    await database_sync_to_async(join)(client_id="c2")
    await database_sync_to_async(settle)()
    pushed = ""
    while "Gen 2" not in pushed:
        pushed += await c.receive_from(timeout=5)
    assert f'id="{dom}-grid"' in pushed and ">c2</span>" in pushed
    await c.disconnect()
    assert not any(get_channel_layer().groups.values())
    await database_sync_to_async(connections.close_all)()  # the consumer's DB thread keeps one open otherwise
