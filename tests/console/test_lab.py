"""The lab: presets, virtual consumers (add, stop, crash), producer, partitions, bounds, pages."""

import threading
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from brokercore.coordinator.read import committed_offsets_get, group_describe, rebalance_history
from brokercore.errors import GroupIdNotFound, UnknownTopicOrPartition
from brokercore.log.read import partition_offsets_list
from brokercore.models import RebalanceEvent
from brokercore.topics.read import topic_describe, topic_get, topic_names_list
from console.lab import runner
from console.lab.presets import PRESETS
from console.lab.runner import LabError
from console.live.consumers import LiveConsumer
from console.presenters.groups import dom_id

pytestmark = pytest.mark.django_db


def lab_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lab-")]


@pytest.fixture(autouse=True)
def stepped_labs(monkeypatch):
    """Labs run without threads (tests step them); every test ends with no lab and no lab thread."""
    monkeypatch.setattr(runner, "THREADED", False)
    yield
    runner.shutdown()
    assert lab_threads() == []


def settle(lab, steps=6):
    for _ in range(steps):
        lab.step()


def describe(lab, index=0):
    return group_describe(group_id=lab.groups[index].group_id)


# --- Runner ---------------------------------------------------------------------------------------


def test_three_consumers_on_two_partitions_leave_one_idle():
    lab = runner.lab_start(partitions=2, consumers=3, producer_rate=0)
    settle(lab)
    info = describe(lab)
    assert info.state == "Stable" and len(info.members) == 3
    assert len(info.idle_members) == 1
    assert sorted(len(m.assignment) for m in info.members) == [0, 1, 1]


def test_consumers_poll_what_the_producer_writes_and_commit_it():
    lab = runner.lab_start(partitions=2, consumers=2, consumer_rate=100, producer_rate=40, keys=5)
    settle(lab, steps=8)
    produced = sum(p.high_watermark for p in partition_offsets_list(topic=lab.topic))
    assert produced == lab.producer.produced > 0
    committed = sum(o for o, _ in committed_offsets_get(group_id=lab.groups[0].group_id).values())
    assert 0 < committed <= produced
    assert sum(c.processed for c in lab.consumers) >= committed - produced  # read at most what was written


def test_a_consumer_processes_at_most_its_rate():
    lab = runner.lab_start(partitions=1, consumers=1, consumer_rate=4, producer_rate=0)
    from tests.factories import records_factory

    records_factory(lab.topic, 100)
    settle(lab, steps=5)  # 5 steps of 0.5 s at 4 records/s: about 10 records
    assert 8 <= lab.consumers[0].processed <= 12


def test_a_crashed_consumer_is_removed_after_its_session_timeout(fake_clock):
    lab = runner.lab_start(partitions=3, consumers=3, producer_rate=0)
    settle(lab)
    generation = describe(lab).generation
    lab.consumer_crash("c2")
    crashed = next(c for c in lab.consumers if c.name == "c2")
    assert crashed.status == "crashed" and not crashed.live
    fake_clock.advance(5_000)
    settle(lab)
    assert len(describe(lab).members) == 3  # still inside its session
    fake_clock.advance(2_000)  # past the 6 s session timeout
    settle(lab)
    info = describe(lab)
    assert info.state == "Stable" and len(info.members) == 2 and info.generation > generation
    assert sorted(len(m.assignment) for m in info.members) == [1, 2]
    latest = RebalanceEvent.objects.filter(group__group_id=lab.groups[0].group_id).order_by("-generation").first()
    assert any("expired" in r for r in latest.reasons)
    runner.tick(time.monotonic())
    assert crashed.status == "expired"
    assert any("session expired" in text for _, text in lab.log)


def test_a_stopped_consumer_leaves_and_the_group_rebalances_at_once():
    lab = runner.lab_start(partitions=2, consumers=2, producer_rate=0)
    settle(lab)
    generation = describe(lab).generation
    lab.consumer_stop("c1")
    info = describe(lab)
    assert len(info.members) == 1 and info.state == "PreparingRebalance"  # no session wait
    lab.step()  # the survivor rejoins inside its next poll
    info = describe(lab)
    assert info.state == "Stable" and info.generation == generation + 1 and len(info.members[0].assignment) == 2
    assert next(c for c in lab.consumers if c.name == "c1").status == "left"


def test_a_consumer_the_coordinator_dropped_rejoins_within_its_next_poll():
    """As a Kafka consumer does inside poll() (and as REST consumers did): the lab's consumers
    used to spend one loop without a member id and rejoin only in the loop after."""
    from brokercore.coordinator.read import group_member_ids
    from brokercore.coordinator.server_members import member_leave

    lab = runner.lab_start(partitions=2, consumers=1, producer_rate=0)
    settle(lab)
    c = lab.consumers[0]
    old = c.member_id
    member_leave(group_id=c.group.group_id, member_id=old)  # as when its session expired
    lab.step()
    assert c.member_id not in (None, old)
    assert group_member_ids(group_id=c.group.group_id) == [c.member_id]
    assert lab.log[0][1] == f"{c.name} was no longer a member and rejoins"


def test_adding_partitions_rebalances_and_moves_keys():
    lab = runner.lab_start(preset=PRESETS["keys"])
    settle(lab)
    assert lab.partitions_add(1) == (3, 4)
    settle(lab)
    info = describe(lab)
    assert sum(len(m.assignment) for m in info.members) == 4
    moves = lab.key_moves(4)
    assert any(k["moved"] for k in moves) and not all(k["moved"] for k in moves)


def test_eager_range_pauses_every_partition_cooperative_only_the_moving_ones():
    lab = runner.lab_start(preset=PRESETS["compare"])
    settle(lab)
    added = lab.consumer_add(rate=20)  # mirrored: one consumer joins each group
    assert [c.name for c in added] == ["r4", "s4"]
    settle(lab)
    eager = rebalance_history(group_id=lab.groups[0].group_id, limit=1)[0]
    coop = rebalance_history(group_id=lab.groups[1].group_id, limit=2)
    assert eager.paused == 6
    # 2,2,2 -> 2,2,1,1: cooperative-sticky moves one partition, revoked in one generation and
    # assigned in the next, while range stops all six.
    assert [e.paused for e in coop] == [0, 1] and coop[1].revoked and not coop[0].revoked
    assert all(len(m.assignment) in (1, 2) for m in describe(lab, 1).members)


def test_changing_the_assignor_rebalances_with_it():
    lab = runner.lab_start(partitions=4, consumers=2, producer_rate=0)
    settle(lab)
    lab.assignor_set(group_id=lab.groups[0].group_id, assignor="roundrobin")
    settle(lab)
    assert describe(lab).protocol_name == "roundrobin"


def test_limits(monkeypatch):
    lab = runner.lab_start(partitions=1, consumers=0, producer_rate=0)
    with pytest.raises(LabError, match="1 to 1000 records/s"):
        lab.consumer_add(rate=0)
    with pytest.raises(LabError, match="The producer writes 1 to 500 records/s"):
        lab.producer_start(rate=501, keys=3)
    with pytest.raises(LabError, match="over 1 to 1000 keys"):
        lab.producer_start(rate=5, keys=0)
    with pytest.raises(LabError, match="1 to 32 partitions"):
        lab.partitions_add(40)
    monkeypatch.setattr(runner, "MAX_CONSUMERS", 2)
    lab.consumer_add(rate=5)
    lab.consumer_add(rate=5)
    with pytest.raises(LabError, match=runner.TOO_MANY_CONSUMERS.format(limit=2)):
        lab.consumer_add(rate=5)
    with pytest.raises(LabError, match="No running consumer named 'c9'"):
        lab.consumer_crash("c9")
    monkeypatch.setattr(runner, "MAX_LABS", 1)
    with pytest.raises(LabError, match=runner.TOO_MANY_LABS.format(limit=1)):
        runner.lab_start(partitions=1, consumers=0, producer_rate=0)


def test_lab_topics_are_created_with_retention():
    lab = runner.lab_start(partitions=1, consumers=0, producer_rate=0)
    info = topic_describe(name=lab.topic)
    assert info.overrides == {"retention.ms": "600000", "retention.bytes": "1048576"}


def test_a_lab_nobody_watches_stops_itself_and_its_consumers_leave(fake_clock):
    lab = runner.lab_start(partitions=2, consumers=2, producer_rate=5)
    settle(lab)
    runner.tick(lab.seen_at + runner.IDLE_STOP_S - 1)
    assert lab.running
    runner.tick(lab.seen_at + runner.IDLE_STOP_S + 1)
    assert not lab.running and "nobody watched it" in lab.stop_reason
    assert describe(lab).state == "Empty" and not lab.producer.running
    with pytest.raises(LabError, match="This lab is stopped."):
        lab.consumer_add(rate=5)


def test_a_lab_stops_after_its_lifetime_even_when_watched():
    lab = runner.lab_start(partitions=1, consumers=1, producer_rate=0)
    later = lab.started_at + runner.MAX_LIFETIME_S + 1
    lab.seen_at = later
    runner.tick(later)
    assert not lab.running and "the most a lab runs" in lab.stop_reason


def test_stop_with_delete_removes_the_groups_and_topic_even_with_a_crashed_member():
    lab = runner.lab_start(partitions=2, consumers=2, producer_rate=5)
    settle(lab)
    lab.consumer_crash("c1")
    lab.stop(reason="test", delete=True)
    with pytest.raises(GroupIdNotFound):
        describe(lab)
    with pytest.raises(UnknownTopicOrPartition):
        topic_get(name=lab.topic)


def test_a_lab_on_existing_topic_and_group_never_deletes_them():
    from brokercore.coordinator.offsets import offsets_commit
    from tests.factories import topic_factory

    topic_factory(name="orders", partitions=2)
    offsets_commit(group_id="billing", offsets={("orders", 0): 0})
    lab = runner.lab_start(topic="orders", group="billing", consumers=1, producer_rate=0)
    assert not lab.created_topic and not lab.groups[0].created
    settle(lab)
    lab.stop(reason="test", delete=True)
    assert describe(lab).state == "Empty" and topic_get(name="orders")


def test_a_lab_that_cannot_start_cleans_up_only_what_it_created(monkeypatch):
    from brokercore.coordinator.offsets import offsets_commit
    from brokercore.errors import CoordinatorNotAvailable
    from tests.factories import topic_factory

    topic_factory(name="orders", partitions=1)
    offsets_commit(group_id="billing", offsets={("orders", 0): 0})

    def refuse(**kwargs):
        raise CoordinatorNotAvailable("the coordinator is away")

    from brokercore.coordinator import consumer

    monkeypatch.setattr(consumer, "group_join", refuse)  # the virtual consumer's join
    with pytest.raises(CoordinatorNotAvailable):
        runner.lab_start(group="billing", consumers=1, producer_rate=0)
    assert runner.labs_list() == []
    assert committed_offsets_get(group_id="billing") == {("orders", 0): (0, "")}  # not the lab's to delete
    assert not [t for t in topic_names_list() if t.startswith("lab")]  # the topic it created is gone


def test_the_preset_crash_is_scheduled():
    lab = runner.lab_start(preset=PRESETS["crash"])
    settle(lab)
    runner.tick(lab.started_at + 5)
    assert all(c.live for c in lab.consumers)
    runner.tick(lab.started_at + 11)
    assert [c.name for c in lab.consumers if c.status == "crashed"] == ["c2"]


def test_lab_ids_skip_names_left_by_an_earlier_process():
    from brokercore.topics.service import topic_create

    runner._ids = __import__("itertools").count(1)
    topic_create(name="lab1-orders", partitions=1)
    lab = runner.lab_start(partitions=1, consumers=0, producer_rate=0)
    assert lab.id == 2 and lab.topic == "lab2-orders"


@pytest.mark.django_db(transaction=True)
def test_threaded_lab_really_runs_and_stops_all_its_threads(monkeypatch):
    monkeypatch.setattr(runner, "THREADED", True)
    monkeypatch.setattr(runner, "POLL_INTERVAL_S", 0.05)
    monkeypatch.setattr(runner, "SUPERVISOR_TICK_S", 0.05)
    lab = runner.lab_start(partitions=2, consumers=3, producer_rate=50, keys=4)
    assert len(lab_threads()) >= 4  # three consumers, the producer, the supervisor
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = describe(lab)
        committed = committed_offsets_get(group_id=lab.groups[0].group_id)
        if info.state == "Stable" and len(info.idle_members) == 1 and sum(o for o, _ in committed.values()) > 0:
            break
        time.sleep(0.05)
    assert info.state == "Stable" and len(info.idle_members) == 1
    lab.stop(reason="test")
    assert describe(lab).state == "Empty"
    runner.shutdown()
    assert lab_threads() == []


# --- Pages ------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    lab = runner.lab_start(partitions=1, consumers=0, producer_rate=0)
    for url in ("/lab/", f"/lab/{lab.id}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post("/lab/presets/idle/").status_code == 302
    assert len(runner.labs_list()) == 1


def test_viewers_watch_but_cannot_change(viewer_client):
    lab = runner.lab_start(partitions=1, consumers=1, producer_rate=0)
    html = viewer_client.get("/lab/").content.decode()
    assert "More consumers than partitions" in html and "Run this demo" not in html
    html = viewer_client.get(f"/lab/{lab.id}/").content.decode()
    assert ">c1</span>" in html and "Crash" not in html and "Add consumer" not in html
    for url in ("/lab/presets/idle/", "/lab/new/", f"/lab/{lab.id}/consumers/", f"/lab/{lab.id}/consumers/c1/crash/",
                f"/lab/{lab.id}/consumers/c1/stop/", f"/lab/{lab.id}/partitions/", f"/lab/{lab.id}/producer/",
                f"/lab/{lab.id}/producer/stop/", f"/lab/{lab.id}/assignor/", f"/lab/{lab.id}/stop/"):
        assert viewer_client.post(url, {"rate": "5", "keys": "3", "add": "1"}).status_code == 403, url
    assert len(lab.live_consumers()) == 1 and lab.running


def test_running_a_preset_opens_its_lab_page(staff_client):
    response = staff_client.post("/lab/presets/idle/")
    lab = runner.labs_list()[0]
    assert response.status_code == 302 and response["Location"] == f"/lab/{lab.id}/"
    settle(lab)
    html = staff_client.get(response["Location"]).content.decode()
    group = lab.groups[0].group_id
    assert "More consumers than partitions" in html and "Try this</strong>" in html
    assert f"s=lab%3A{lab.id}" in html and f"s=group%3A{group}" in html
    assert f'id="{dom_id(group)}-grid"' in html and "idle-badge" in html
    assert f'id="lab-{lab.id}-consumers"' in html and "Add consumer" in html
    assert "stops itself 10 minutes after the last page" in html


def test_unknown_preset_and_lab_are_404(staff_client):
    assert staff_client.post("/lab/presets/nope/").status_code == 404
    assert staff_client.get("/lab/99/").status_code == 404


def test_custom_lab_form_and_its_errors(staff_client):
    response = staff_client.post("/lab/new/", {"topic": "", "partitions": "2", "group": "", "assignor": "sticky",
                                               "consumers": "1", "consumer_rate": "10", "producer_rate": "0", "keys": "5"})
    lab = runner.labs_list()[0]
    assert response.status_code == 302 and lab.groups[0].assignor == "sticky"
    assert describe(lab).assignor == "sticky"
    bad = staff_client.post("/lab/new/", {"topic": "bad topic!", "partitions": "0", "assignor": "nope", "consumers": "9",
                                          "consumer_rate": "1", "producer_rate": "0", "keys": "5"})
    html = bad.content.decode()
    assert bad.status_code == 400
    assert "greater than or equal to 1" in html and "Select a valid choice" in html and "less than or equal to 8" in html
    broker = staff_client.post("/lab/new/", {"topic": "bad topic!", "partitions": "1", "assignor": "range", "consumers": "0",
                                             "consumer_rate": "1", "producer_rate": "0", "keys": "5"})
    assert broker.status_code == 400 and "INVALID_TOPIC_EXCEPTION" in broker.content.decode()


def test_actions_by_plain_post_redirect_back(staff_client, fake_clock):
    lab = runner.lab_start(partitions=2, consumers=1, producer_rate=0)
    base = f"/lab/{lab.id}/"
    assert staff_client.post(base + "consumers/", {"rate": "15"})["Location"] == base
    assert [c.rate for c in lab.live_consumers()] == [20, 15]
    assert staff_client.post(base + "producer/", {"rate": "30", "keys": "7"}).status_code == 302
    assert lab.producer.running and (lab.producer.rate, lab.producer.keys) == (30, 7)
    assert staff_client.post(base + "producer/stop/").status_code == 302 and not lab.producer.running
    assert staff_client.post(base + "partitions/", {"add": "2"}).status_code == 302 and lab.partitions == 4
    assert staff_client.post(base + "assignor/", {"group": lab.groups[0].group_id, "assignor": "cooperative-sticky"}).status_code == 302
    assert staff_client.post(base + "consumers/c2/crash/").status_code == 302
    assert staff_client.post(base + "consumers/c1/stop/").status_code == 302
    html = staff_client.get(base).content.decode()
    assert "crashed" in html and "session ends:" in html and "left the group" in html
    assert staff_client.post(base + "stop/", {"delete": "1"}).status_code == 302
    assert not lab.running and lab.deleted
    assert "What it created is deleted." in staff_client.get(base).content.decode()


def test_htmx_actions_answer_with_out_of_band_sections(staff_client):
    lab = runner.lab_start(partitions=2, consumers=1, producer_rate=0)
    hx = {"HX-Request": "true"}
    html = staff_client.post(f"/lab/{lab.id}/consumers/", {"rate": "12"}, headers=hx).content.decode()
    assert f'id="lab-{lab.id}-controls" hx-swap-oob="true"' in html and f'id="lab-{lab.id}-consumers" hx-swap-oob="true"' in html
    assert ">c2</span>" in html and "<html" not in html


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("consumers/", {"rate": "0"}, "greater than or equal to 1"),
        ("consumers/", {"rate": "abc"}, "Enter a whole number."),
        ("producer/", {"rate": "9999", "keys": "3"}, "less than or equal to 500"),
        ("partitions/", {"add": "40"}, "less than or equal to 32"),
        ("partitions/", {"add": "31"}, "has 2, so add at most 30."),
        ("assignor/", {"group": "other", "assignor": "range"}, "This lab has no group &#x27;other&#x27;."),
        ("consumers/c7/crash/", {}, "No running consumer named &#x27;c7&#x27; in this lab."),
    ],
)
def test_bad_actions_show_the_error(staff_client, url, data, message):
    lab = runner.lab_start(partitions=2, consumers=1, producer_rate=0)
    plain = staff_client.post(f"/lab/{lab.id}/{url}", data)
    assert plain.status_code == 400 and message in plain.content.decode()
    hx = staff_client.post(f"/lab/{lab.id}/{url}", data, headers={"HX-Request": "true"})
    assert hx.status_code == 200 and message in hx.content.decode() and 'role="alert"' in hx.content.decode()
    assert len(lab.live_consumers()) == 1 and lab.partitions == 2


def test_preset_refused_by_a_limit_says_why(staff_client, monkeypatch):
    monkeypatch.setattr(runner, "MAX_LABS", 0)
    response = staff_client.post("/lab/presets/crash/", follow=True)
    assert "already runs 0 labs" in response.content.decode()


def test_keys_and_compare_panels(staff_client):
    keys = runner.lab_start(preset=PRESETS["keys"])
    settle(keys)
    keys.partitions_add(1)
    html = staff_client.get(f"/lab/{keys.id}/").content.decode()
    assert "Where each key goes" in html and "keys moved</strong> when the topic went from 3 to 4 partitions" in html
    compare = runner.lab_start(preset=PRESETS["compare"])
    settle(compare)
    compare.consumer_add(rate=20)
    settle(compare)
    html = staff_client.get(f"/lab/{compare.id}/").content.decode()
    assert "Partitions paused per rebalance" in html and "6 of 6" in html and "1 of 6" in html
    assert "Add a consumer to each group" in html


@pytest.mark.django_db(transaction=True)
async def test_lab_fragments_are_pushed_when_a_consumer_crashes(viewer, in_memory_layer):
    lab = await database_sync_to_async(runner.lab_start)(partitions=2, consumers=2, producer_rate=0)
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), f"/ws/live/?s=lab:{lab.id}")
    c.scope["user"] = viewer
    c.scope["query_string"] = f"s=lab:{lab.id}".encode()
    connected, _ = await c.connect()
    assert connected
    first = ""
    while f'id="lab-{lab.id}-log"' not in first:
        first += await c.receive_from(timeout=5)
    assert ">c2</span>" in first and "polling" in first
    await database_sync_to_async(lab.consumer_crash)("c2")
    pushed = ""
    while f'id="lab-{lab.id}-log"' not in pushed:
        pushed += await c.receive_from(timeout=5)
    assert "crashed" in pushed and "session ends:" in pushed
    await c.disconnect()
    await database_sync_to_async(runner.shutdown)()
    assert not any(get_channel_layer().groups.values())
    await database_sync_to_async(connections.close_all)()  # the consumer's DB thread keeps one open otherwise
