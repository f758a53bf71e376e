"""The Redis channel layer that several server processes share (REDIS_URL)."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels_redis.core import RedisChannelLayer

pytestmark = pytest.mark.redis


async def _roundtrip(url: str) -> dict:
    layer = RedisChannelLayer(hosts=[url], prefix=f"kconsole-test-{uuid.uuid4().hex[:8]}")
    group = "topic.test"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "records.appended", "count": 3})
    message = await layer.receive(channel)
    await layer.group_discard(group, channel)
    await layer.flush()
    return message


def test_redis_layer_delivers_group_messages(redis_service_url):
    # Its own thread and event loop: other tests (the browser's) may keep a loop running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        message = pool.submit(asyncio.run, _roundtrip(redis_service_url)).result(timeout=30)
    assert message == {"type": "records.appended", "count": 3}
