import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from brokercore import events
from brokercore.errors import InvalidRecord
from brokercore.log.append import records_append
from brokercore.topics.service import topic_create, topic_delete
from brokercore.types import RecordIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    return get_channel_layer()


def _listen(layer, group):
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _receive(layer, channel):
    return async_to_sync(layer.receive)(channel)


def test_append_publishes_to_the_topic_group_after_commit(layer, django_capture_on_commit_callbacks):
    topic = topic_create(name="ev", partitions=2)
    channel = _listen(layer, events.topic_group(topic.topic_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        records_append(topic="ev", records=[RecordIn(key=b"a", value=b"1"), RecordIn(key=b"b", value=b"2")])
    # The fetch wake-up and the event wait for the commit (one callback does both).
    assert len(callbacks) == 1
    with pytest.raises(TimeoutError):
        async_to_sync(asyncio.wait_for)(layer.receive(channel), 0.05)
    for callback in callbacks:
        callback()
    message = _receive(layer, channel)
    assert message["type"] == "records.appended"
    assert message["topic"] == "ev" and message["count"] == 2


def test_failed_append_publishes_nothing(layer, django_capture_on_commit_callbacks):
    topic_create(name="ev", partitions=1)
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(InvalidRecord):
            records_append(topic="ev", records=[RecordIn(value=b"ok"), RecordIn(value="not bytes")])
    assert callbacks == []


def test_topic_lifecycle_reaches_cluster_group(layer, django_capture_on_commit_callbacks):
    channel = _listen(layer, events.CLUSTER_GROUP)
    with django_capture_on_commit_callbacks(execute=True):
        topic_create(name="ev", partitions=1)
        topic_delete(name="ev")
    assert _receive(layer, channel)["type"] == "topic.created"
    assert _receive(layer, channel)["type"] == "topic.deleted"


def test_group_names_fit_channels_rules():
    import re

    assert re.fullmatch(r"[A-Za-z0-9._-]{1,99}", events.topic_group("6c1b7c1e-8d0b-4c43-9a39-0c8f4a1d2e3f"))


@pytest.mark.django_db(transaction=True)
def test_a_failing_publish_after_an_append_does_not_fail_the_append(layer, monkeypatch, caplog):
    """The records are committed: an error after that must not reach the producer, who would
    write them again."""
    topic_create(name="ev", partitions=1)

    def broken(*args, **kwargs):
        raise RuntimeError("channel layer down")

    monkeypatch.setattr(events, "publish", broken)
    monkeypatch.setattr(events, "throttled", lambda key: False)
    [result] = records_append(topic="ev", records=[RecordIn(value=b"v")])
    assert result.offset == 0
    assert "after-commit work failed" in caplog.text
