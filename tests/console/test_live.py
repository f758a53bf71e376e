"""The live websocket: auth, origin, subscriptions, and fragments pushed on broker events."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections

from brokercore.log.append import records_append
from brokercore.types import RecordIn
from console.asgi import application
from console.live.consumers import LiveConsumer
from tests.factories import topic_factory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()


def communicator(user, path="/ws/live/?s=cluster"):
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    c.scope["user"] = user
    c.scope["query_string"] = path.partition("?")[2].encode()
    return c


async def _assert_no_groups_left():
    layer = get_channel_layer()
    assert not any(layer.groups.values())


async def test_anonymous_is_refused():
    c = communicator(AnonymousUser())
    connected, code = await c.connect()
    assert not connected and code == 4401


async def test_cross_origin_is_refused(viewer):
    c = WebsocketCommunicator(application, "/ws/live/?s=cluster", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await c.connect()
    assert not connected


async def test_unknown_subscription_is_refused(viewer):
    c = communicator(viewer, "/ws/live/?s=topic:nope")
    connected, code = await c.connect()
    assert not connected and code == 4400


async def test_connect_sends_current_fragments_then_pushes_on_append(viewer):
    await database_sync_to_async(topic_factory)(name="orders", partitions=2)
    c = communicator(viewer, "/ws/live/?s=cluster:overview")
    connected, _ = await c.connect()
    assert connected
    first = ""
    while 'id="overview-stats"' not in first:
        first += await c.receive_from(timeout=5)
    await database_sync_to_async(records_append)(topic="orders", records=[RecordIn(key=b"k", value=b"v")])
    pushed = await c.receive_from(timeout=5)
    while "overview-busiest" not in pushed:
        pushed += await c.receive_from(timeout=5)
    assert ">1<" in pushed  # the record count in the busiest-topics table
    await c.disconnect()
    await _assert_no_groups_left()
    await database_sync_to_async(connections.close_all)()


async def test_pages_get_only_their_own_cluster_fragments(viewer):
    c = communicator(viewer, "/ws/live/?s=cluster:brokers")
    connected, _ = await c.connect()
    assert connected
    first = await c.receive_from(timeout=5)
    assert 'id="broker-nodes"' in first and "overview-stats" not in first
    await c.disconnect()
    await database_sync_to_async(connections.close_all)()
