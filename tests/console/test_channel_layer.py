"""The Redis channel layer that several server processes share (REDIS_URL)."""

import uuid

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


async def test_redis_layer_delivers_group_messages(redis_service_url):
    assert await _roundtrip(redis_service_url) == {"type": "records.appended", "count": 3}
