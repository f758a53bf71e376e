"""The change watcher: writes nobody announced reach this process's pages once, writes an event
already brought are not announced again, and a page's own part of a snapshot reads the same as
the whole snapshot does."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from brokercore import events
from brokercore.cluster.nodes import node_register
from brokercore.coordinator.server_members import group_join
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create, topic_delete
from brokercore.types import RecordIn
from console.live import watcher
from console.live.consumers import LiveConsumer
from tests.factories import topic_factory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_memory_layer")]

QUIET_S = 3 * watcher.POLL_S  # three polls: long enough for any echo to have come


def communicator(user, subscription: str) -> WebsocketCommunicator:
    path = f"/ws/live/?s={subscription}"
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    c.scope["user"] = user
    c.scope["query_string"] = path.partition("?")[2].encode()
    return c


def records_stat(n: int) -> str:
    return f'<span class="num">{n}</span><span class="label">records</span>'


async def _open(user, subscription: str, needle: str) -> WebsocketCommunicator:
    c = communicator(user, subscription)
    connected, _ = await c.connect()
    assert connected
    first = ""
    while needle not in first:
        first += await c.receive_from(timeout=5)
    return c


async def _open_topic_page(user, partitions: int = 2) -> WebsocketCommunicator:
    """Topic "orders", created, and its page open."""
    await database_sync_to_async(topic_factory)(name="orders", partitions=partitions)
    return await _open(user, "topic:orders", 'id="topic-groups"')


async def _close(c: WebsocketCommunicator) -> None:
    await c.disconnect()
    assert not any(get_channel_layer().groups.values())
    assert watcher._local == {}
    # No page left: the watcher stops polling (at its next poll, given time on a busy machine).
    await asyncio.wait_for(asyncio.shield(watcher._task), 10)
    await database_sync_to_async(connections.close_all)()


def _append(topic: str, n: int = 1) -> None:
    records_append(topic=topic, records=[RecordIn(key=b"k", value=b"v")] * n)


async def test_an_append_announced_in_process_is_not_announced_again(viewer):
    c = await _open_topic_page(viewer)
    await database_sync_to_async(_append)("orders")
    assert records_stat(1) in await c.receive_from(timeout=5)
    # The event brought it; the watcher's polls see the write but not as news to this page.
    assert await c.receive_nothing(timeout=QUIET_S)
    await _close(c)


async def test_an_append_from_another_process_is_announced_once(viewer, monkeypatch):
    c = await _open_topic_page(viewer)
    # Another process's write: it publishes nothing on this process's channel layer.
    monkeypatch.setattr(events, "publish", lambda *args, **kwargs: None)
    await database_sync_to_async(_append)("orders", 3)
    pushed = await c.receive_from(timeout=5)
    assert records_stat(3) in pushed
    assert await c.receive_nothing(timeout=QUIET_S)
    await _close(c)


async def test_an_append_whose_event_was_throttled_away_still_arrives(viewer):
    c = await _open_topic_page(viewer)

    def two_appends():
        # Back to back: the second append's event falls within events.THROTTLE_S and is skipped.
        _append("orders")
        _append("orders")

    await database_sync_to_async(two_appends)()
    seen = ""
    while records_stat(2) not in seen:
        seen += await c.receive_from(timeout=5)
    await _close(c)


async def test_a_topic_created_in_process_reaches_a_cluster_page_once(viewer):
    c = await _open(viewer, "cluster:overview", 'id="overview-stats"')
    await database_sync_to_async(topic_create)(name="fresh", partitions=1)
    assert "fresh" in await c.receive_from(timeout=5)
    assert await c.receive_nothing(timeout=QUIET_S)
    # An append is only ever announced to topic pages by its service: cluster pages hear of it
    # from the watcher, exactly once.
    await database_sync_to_async(_append)("fresh", 5)
    pushed = await c.receive_from(timeout=5)
    assert ">5<" in pushed
    assert await c.receive_nothing(timeout=QUIET_S)
    await _close(c)


async def test_a_topic_deleted_elsewhere_is_announced_to_its_page(viewer, monkeypatch):
    c = await _open_topic_page(viewer, partitions=1)
    monkeypatch.setattr(events, "publish", lambda *args, **kwargs: None)
    await database_sync_to_async(topic_delete)(name="orders")
    assert "This topic has been deleted." in await c.receive_from(timeout=5)
    await _close(c)


def test_a_pages_own_part_reads_as_the_whole_snapshot_does(db):
    topic_factory(name="orders", partitions=3)
    _append("orders", 4)
    topic_factory(name="empty", partitions=1)
    gone = topic_factory(name="gone", partitions=1)
    topic_delete(name="gone")
    group_join(group_id="billing", topics=["orders"], client_id="b-1", session_timeout_ms=60_000)
    node_register(node_id=7, kafka_host="127.0.0.1", kafka_port=19092)
    whole = watcher.views(watcher.snapshot())
    for name in ("orders", "empty"):
        group = events.topic_group(selectors_topic_id(name))
        assert watcher.view_read(group, ("topic", group.removeprefix("topic."))) == (group, whole[group])
    assert watcher.view_read(events.topic_group(gone.topic_id), ("topic", str(gone.topic_id)))[1] is None
    pk = _group_pk("billing")
    group = events.consumer_group_group(pk)
    assert watcher.view_read(group, ("group", pk)) == (group, whole[group])
    cluster = whole[events.CLUSTER_GROUP]
    assert watcher.view_read(events.CLUSTER_GROUP, ("group_id", "billing")) == (("group", pk), cluster[("group", pk)])
    assert watcher.view_read(events.CLUSTER_GROUP, ("group_id", "nobody"))[0] is None
    assert watcher.view_read(events.CLUSTER_GROUP, ("node", 7)) == (("node", 7), cluster[("node", 7)])
    # Changes name only the groups whose view differs; a view that went away counts as changed.
    after = dict(whole)
    after.pop(events.topic_group(selectors_topic_id("empty")))
    assert watcher.changes(whole, after) == [events.topic_group(selectors_topic_id("empty"))]
    assert watcher.changes(whole, whole) == []


def test_an_event_names_the_part_it_is_about():
    t = "topic.0f8e"
    assert watcher._target(t, {"type": "records.appended"}) == ("topic", "0f8e")
    assert watcher._target("group.12", {}) == ("group", 12)
    assert watcher._target("cluster", {"topic_id": "0f8e"}) == ("topic", "0f8e")
    assert watcher._target("cluster", {"group_id": "billing", "member_id": "m"}) == ("group_id", "billing")
    assert watcher._target("cluster", {"group_id": "billing", "group_pk": 3}) == ("group", 3)
    assert watcher._target("cluster", {"node_id": 2}) == ("node", 2)
    # Nothing the watcher keeps a view of: no re-read.
    assert watcher._target("lab.1", {"lab_id": 1}) is None
    assert watcher._target("cluster", {}) is None


def selectors_topic_id(name: str) -> str:
    from brokercore.models import Topic

    return str(Topic.objects.get(name=name, deleted_at__isnull=True).topic_id)


def _group_pk(group_id: str) -> int:
    from brokercore.models import ConsumerGroup

    return ConsumerGroup.objects.get(group_id=group_id).pk


@pytest.mark.parametrize("reread", [True, False])
async def test_a_write_a_page_reread_during_a_poll_is_not_announced_again(monkeypatch, reread):
    """The poll's snapshot began before an append committed; the append's event reached the page,
    which re-read its baseline, before the snapshot came back. Comparing that stale snapshot with
    the re-read baseline would announce the write again (and once more at the next poll)."""
    topic = ("topic", "0f8e")
    group = events.topic_group("0f8e")
    old, new = {topic: (0, 0, 1)}, {topic: (1, 0, 1)}
    sent = []

    class Layer:
        async def send(self, channel, message):
            sent.append(channel)

    polls = []
    taking, release = asyncio.Event(), asyncio.Event()

    def in_thread(func):  # the poll's snapshot waits for the test, as one taking long would
        async def run():
            taking.set()
            await release.wait()
            return func()
        return run

    def snapshot():
        polls.append(1)
        return old if len(polls) == 1 else new  # the first poll's snapshot began before the write

    monkeypatch.setattr(watcher, "get_channel_layer", Layer)
    monkeypatch.setattr(watcher, "database_sync_to_async", in_thread)
    monkeypatch.setattr(watcher, "snapshot", snapshot)
    monkeypatch.setattr(watcher, "POLL_S", 0.01)
    monkeypatch.setattr(watcher, "_seen", watcher.views(old))
    monkeypatch.setattr(watcher, "_local", {group: {"topic-page"}, events.CLUSTER_GROUP: {"cluster-page"}})
    task = asyncio.ensure_future(watcher._run())
    await asyncio.wait_for(taking.wait(), 5)
    if reread:  # both pages received the append's event and re-read their part
        watcher._rebase(group, group, watcher.views(new)[group])
        watcher._rebase(events.CLUSTER_GROUP, topic, new[topic])
    release.set()
    while len(polls) < 4:
        await asyncio.sleep(0.01)
    watcher._local.clear()
    await asyncio.wait_for(task, 5)
    # Re-read: the pages show the write, nobody is told again. Not re-read (no event came, as for
    # a write in another process): the next poll announces it, once to each page.
    assert sorted(sent) == ([] if reread else ["cluster-page", "topic-page"])
