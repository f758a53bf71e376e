"""Wakes waiting fetches when their partitions grow, and parked Kafka group requests when their group
changes.

Appends in this process wake waiters at once (after commit). Appends made by other processes are
seen by the waiter's periodic re-read of the watermark (FETCH_POLL_INTERVAL_MS). Thread-safe.
"""

import asyncio
import threading
import time
from collections.abc import Hashable, Iterable


class Waiters:
    """Versions per key (a partition id, a group id), bumped by `notify`; waiters block (a thread)
    or await (an event loop, holding no thread) until one of their keys moved past what they saw."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[Hashable, int] = {}
        # asyncio waiters (the Kafka listener's fetches and group barriers), by key.
        self._waiting: dict[Hashable, set[asyncio.Future]] = {}

    def version(self, keys: Iterable[Hashable]) -> tuple[int, ...]:
        with self._cond:
            return tuple(self._versions.get(k, 0) for k in keys)

    def notify(self, keys: Iterable[Hashable]) -> None:
        futures: set[asyncio.Future] = set()
        with self._cond:
            for k in keys:
                self._versions[k] = self._versions.get(k, 0) + 1
                futures |= self._waiting.pop(k, set())
            self._cond.notify_all()
        for future in futures:
            future.get_loop().call_soon_threadsafe(_resolve, future)

    async def wait_async(self, keys: tuple[Hashable, ...], seen: tuple[int, ...], timeout_s: float) -> bool:
        """`wait` for an event loop, without holding a thread."""
        future = asyncio.get_running_loop().create_future()
        with self._cond:
            if tuple(self._versions.get(k, 0) for k in keys) != seen:
                return True
            for k in keys:
                self._waiting.setdefault(k, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            with self._cond:
                for k in keys:
                    waiting = self._waiting.get(k)
                    if waiting is not None:
                        waiting.discard(future)
                        if not waiting:
                            del self._waiting[k]

    def wait(self, keys: tuple[Hashable, ...], seen: tuple[int, ...], timeout_s: float) -> bool:
        """Block until one of the keys was notified after `seen`, or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while tuple(self._versions.get(k, 0) for k in keys) == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True


# Fetches wait on partition ids; Kafka group requests parked at a barrier (JoinGroup, SyncGroup)
# wait on their group id.
log_waiters = Waiters()
group_waiters = Waiters()


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)

