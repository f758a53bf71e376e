"""The only module that touches the channel layer.

Services call `publish_on_commit`; the event goes out after the transaction commits (never for a
rolled-back write). Group names use ids, so they stay within Channels' 100-char `[A-Za-z0-9._-]`.
"""

import asyncio
import concurrent.futures
import logging
import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

CLUSTER_GROUP = "cluster"


def topic_group(topic_id: uuid.UUID | str) -> str:
    return f"topic.{topic_id}"


def consumer_group_group(group_pk: int | str) -> str:
    return f"group.{group_pk}"


def lab_group(lab_id: int | str) -> str:
    return f"lab.{lab_id}"


_server_loop: asyncio.AbstractEventLoop | None = None


def server_loop_set(loop: asyncio.AbstractEventLoop | None) -> None:
    """The server's event loop (set by `serve`): events from worker threads are handed to it.

    Without it, each publish from a thread starts a private event loop (async_to_sync), which
    costs a thread hop per event and, with the in-memory layer, would touch the consumers' queues
    from a loop that does not own them.
    """
    global _server_loop
    _server_loop = loop


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("could not publish an event: %s", future.exception())


def publish(groups: list[str], event_type: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            for group in groups:
                message = {"type": event_type, "_group": group, **payload}
                future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
                future.add_done_callback(_log_failure)
            return
    for group in groups:
        # "_group" tells a consumer subscribed to several groups which one this came through.
        message = {"type": event_type, "_group": group, **payload}
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # a live-view push must never fail the write that already committed
            logger.exception("could not publish %s to %s", event_type, group)


# Frequent events (appends) go out at most once per THROTTLE_S per key from one process: a
# publish costs a thread hop and an event loop, and pages re-render the same fragments anyway.
# What happens after a skipped event still reaches open pages through the change watcher
# (console/live/watcher.py), which polls while any page is open.
THROTTLE_S = 0.1
_last_sent: dict[str, float] = {}


def throttled(key: str) -> bool:
    """Whether an event under `key` went out less than THROTTLE_S ago (skip this one); if not,
    the caller sends it now and it counts as sent."""
    now = time.monotonic()
    if now - _last_sent.get(key, -THROTTLE_S) < THROTTLE_S:
        return True
    _last_sent[key] = now
    return False


def after_commit(conn: BaseDatabaseWrapper, func: Callable[[], object]) -> None:
    """Run `func` once `conn`'s transaction commits (at once outside a transaction, without
    transaction.on_commit's per-call cost on the append path). Robust either way: an exception is
    logged, never raised, since what it follows is already committed and a caller told of an
    error would write it again."""
    if conn.in_atomic_block:
        transaction.on_commit(func, using=conn.alias, robust=True)
        return
    try:
        func()
    except Exception:
        logger.exception("after-commit work failed: %r", func)


def publish_on_commit(groups: list[str], event_type: str, payload: dict, *, throttle_key: str | None = None) -> None:
    def send() -> None:
        if throttle_key is None or not throttled(throttle_key):
            publish(groups, event_type, payload)

    transaction.on_commit(send, robust=True)
