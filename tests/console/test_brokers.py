"""The Brokers page: nodes, their addresses and liveness, leaders, and live updates as nodes come and go."""

import re

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from brokercore.cluster.nodes import node_deregister, node_register, nodes_sweep
from brokercore.cluster.read import cluster_cache_clear
from console.live.consumers import LiveConsumer
from tests.factories import topic_factory


def register(node_id, **kwargs):
    return node_register(
        kafka_host=f"kafka-{node_id}.local", kafka_port=9092, web_host="127.0.0.1", web_port=8000 + node_id,
        node_id=node_id, process=f"proc-{node_id}", **kwargs,
    )


def row(html, node_id):
    match = re.search(rf'<tr id="broker-{node_id}".*?</tr>', html, re.S)
    assert match, f"no row for node {node_id}"
    return match.group(0)


@pytest.mark.django_db
def test_page_shows_each_node_with_addresses_status_and_leaderships(viewer_client, fake_clock):
    topic_factory(name="orders", partitions=4)
    register(1, rack="eu-1a")
    register(2)
    register(3)
    node_deregister(3, process="proc-3")
    html = viewer_client.get("/brokers/").content.decode()
    first = row(html, 1)
    assert "kafka-1.local:9092" in first and "127.0.0.1:8001" in first and "eu-1a" in first
    assert "alive" in first and "2 partitions" in first and "s ago" in first
    assert "stopped" in row(html, 3)
    assert "2 of 3 nodes alive" in html
    # The leader table agrees with the leader counts.
    leaders = re.findall(r"(\d) → (\d)</span>", html)
    assert sorted(int(node) for _, node in leaders) == [1, 1, 2, 2]


@pytest.mark.django_db
def test_a_node_without_a_heartbeat_is_shown_dead(viewer_client, fake_clock):
    register(1)
    register(2)
    fake_clock.advance(3000)
    cluster_cache_clear()
    from brokercore.cluster.nodes import node_heartbeat

    node_heartbeat(process="proc-1")
    fake_clock.advance(4000)
    nodes_sweep()
    html = viewer_client.get("/brokers/").content.decode()
    assert "dead" in row(html, 2) and "alive" in row(html, 1)
    assert "7 s ago" in row(html, 2)


@pytest.mark.django_db
def test_page_needs_a_login(client):
    response = client.get("/brokers/")
    assert response.status_code == 302 and "/login" in response["Location"]


# --- Live updates -----------------------------------------------------------------------------


def communicator(user, subscription):
    path = f"/ws/live/?s={subscription}"
    c = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    c.scope["user"] = user
    c.scope["query_string"] = path.partition("?")[2].encode()
    return c


async def receive_until(c, needle, timeout=5):
    text = ""
    while needle not in text:
        text += await c.receive_from(timeout=timeout)
    return text


@pytest.mark.django_db(transaction=True)
async def test_brokers_page_updates_live_as_nodes_come_and_go(viewer, in_memory_layer):
    await database_sync_to_async(topic_factory)(name="orders", partitions=2)
    await database_sync_to_async(register)(1)
    c = communicator(viewer, "cluster:brokers")
    connected, _ = await c.connect()
    assert connected
    first = await receive_until(c, 'id="broker-nodes"')
    assert 'id="broker-2"' not in first

    await database_sync_to_async(register)(2)
    pushed = await receive_until(c, 'id="broker-2"')
    assert "1 of" not in pushed and "2 of 2 nodes alive" in pushed

    await database_sync_to_async(node_deregister)(2, process="proc-2")
    pushed = await receive_until(c, "stopped")
    assert "1 of 2 nodes alive" in pushed and "2 partitions" in row(pushed, 1)

    await c.disconnect()
    layer = get_channel_layer()
    assert not any(layer.groups.values())
    await database_sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_topic_page_leader_column_follows_a_node_going_down(viewer, in_memory_layer):
    await database_sync_to_async(topic_factory)(name="orders", partitions=2)
    await database_sync_to_async(register)(1)
    await database_sync_to_async(register)(2)
    c = communicator(viewer, "topic:orders")
    connected, _ = await c.connect()
    assert connected
    first = await receive_until(c, 'id="topic-partitions"')
    assert {int(n) for n in re.findall(r'<td><span class="chip m\d">(\d)</span></td>', first)} == {1, 2}

    await database_sync_to_async(node_deregister)(2, process="proc-2")
    pushed = await receive_until(c, 'id="topic-partitions"')
    assert {int(n) for n in re.findall(r'<td><span class="chip m\d">(\d)</span></td>', pushed)} == {1}

    await c.disconnect()
    await database_sync_to_async(connections.close_all)()
