"""One websocket consumer for every live page: subscribe, then receive HTML fragments.

The page connects to /ws/live/?s=<subscription>&s=... (htmx's ws extension). The consumer joins
the channel-layer groups of those subscriptions, sends every fragment once on connect (so a
reconnect re-syncs the page), and afterwards re-renders a subscription's fragments when an event
arrives for it, at most once per THROTTLE_S (the first change at once) so a busy topic cannot flood the browser. Consumers
only read (through brokercore's read modules); they never write.
"""

import asyncio
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from console.live import fragments, watcher

logger = logging.getLogger(__name__)

THROTTLE_S = 0.25
MAX_SUBSCRIPTIONS = 10
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_SUBSCRIPTION = 4400


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        wanted = query.get("s", [])[:MAX_SUBSCRIPTIONS]
        resolved = await database_sync_to_async(self._resolve)(wanted)
        if resolved is None:
            await self.close(code=CLOSE_BAD_SUBSCRIPTION)
            return
        self.subscriptions = resolved  # channel-layer group -> [subscription, ...]
        self.state: dict[str, dict] = {s: {} for subs in resolved.values() for s in subs}
        self.dirty: set[str] = set()
        self.flusher: asyncio.Task | None = None
        self.last_push = 0.0
        for group in self.subscriptions:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await watcher.client_connected(self.channel_name, list(self.subscriptions))
        await self.push(list(self.state))

    @staticmethod
    def _resolve(wanted: list[str]) -> dict[str, list[str]] | None:
        out: dict[str, list[str]] = {}
        for subscription in wanted:
            name, argument = fragments.parse(subscription)
            k = fragments.KINDS.get(name)
            group = k.resolve(argument) if k else None
            if group is None:
                return None
            out.setdefault(group, []).append(subscription)
        return out or None

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "subscriptions"):
            return
        if self.flusher:
            self.flusher.cancel()
        for group in self.subscriptions:
            await self.channel_layer.group_discard(group, self.channel_name)
        watcher.client_disconnected(self.channel_name, list(self.subscriptions))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # pages only listen; changes go through views and services

    async def dispatch(self, message: dict) -> None:
        # Broker events ("records.appended", "group.rebalance.completed", ...) all mean "what
        # this subscription shows may have changed": mark it and let the flusher render once.
        group = message.get("_group")
        if group is not None and not message["type"].startswith("websocket."):
            if not message.get(watcher.FROM_WATCHER):
                # Before rendering, so the watcher's baseline never holds a write this page has
                # not rendered (and does not announce again one it has).
                await watcher.announced(group, message)
            self.dirty.update(self.subscriptions.get(group, ()))
            if self.dirty and (self.flusher is None or self.flusher.done()):
                self.flusher = asyncio.ensure_future(self.flush_later())
            return
        await super().dispatch(message)

    async def flush_later(self) -> None:
        # Leading edge: the first change after a quiet spell goes out at once; changes that
        # follow within THROTTLE_S are coalesced into one push.
        # Subscriptions marked while a push renders are flushed by this same task (a new one is
        # started only when none runs), in the next round.
        loop = asyncio.get_running_loop()
        while self.dirty:
            wait = self.last_push + THROTTLE_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            subs, self.dirty = list(self.dirty), set()
            if await self.push(subs):
                # Only a push that sent something opens a new throttle window; an empty re-render
                # (a live tail with no new record) must not delay the next one.
                self.last_push = loop.time()

    async def push(self, subscriptions: list[str]) -> bool:
        user = self.scope["user"]
        sent = False
        for s in subscriptions:
            try:
                html = await database_sync_to_async(fragments.render)(s, self.state[s], user)
            except Exception:
                logger.exception("could not render live fragment %s", s)
                continue
            if html.strip():
                await self.send(text_data=html)
                sent = True
        return sent
