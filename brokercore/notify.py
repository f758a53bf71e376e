"""Wakes waiting fetches when their partitions grow, and parked Kafka group requests when their group
changes.

Appends in this process wake waiters at once (after commit). Appends made by other processes are
seen by the waiter's periodic re-read of the watermark (FETCH_POLL_INTERVAL_MS). Thread-safe.
"""

import asyncio
import threading
import time
from collections.abc import Iterable


class LogWaiters:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[int, int] = {}
        # asyncio waiters (the Kafka listener's fetches, which must not hold a thread), by partition.
        self._waiting: dict[int, set[asyncio.Future]] = {}

    def version(self, partition_ids: Iterable[int]) -> tuple[int, ...]:
        with self._cond:
            return tuple(self._versions.get(p, 0) for p in partition_ids)

    def notify(self, partition_ids: Iterable[int]) -> None:
        futures: set[asyncio.Future] = set()
        with self._cond:
            for p in partition_ids:
                self._versions[p] = self._versions.get(p, 0) + 1
                futures |= self._waiting.pop(p, set())
            self._cond.notify_all()
        for future in futures:
            future.get_loop().call_soon_threadsafe(_resolve, future)

    async def wait_async(self, partition_ids: tuple[int, ...], seen: tuple[int, ...], timeout_s: float) -> bool:
        """`wait` for an event loop: until one of the partitions had an append after `seen`, or the
        timeout passes, without holding a thread."""
        future = asyncio.get_running_loop().create_future()
        with self._cond:
            if tuple(self._versions.get(p, 0) for p in partition_ids) != seen:
                return True
            for p in partition_ids:
                self._waiting.setdefault(p, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            with self._cond:
                for p in partition_ids:
                    waiting = self._waiting.get(p)
                    if waiting is not None:
                        waiting.discard(future)
                        if not waiting:
                            del self._waiting[p]

    def wait(self, partition_ids: tuple[int, ...], seen: tuple[int, ...], timeout_s: float) -> bool:
        """Block until one of the partitions had an append after `seen`, or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while tuple(self._versions.get(p, 0) for p in partition_ids) == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True


log_waiters = LogWaiters()


class GroupWaiters:
    """Wakes Kafka group requests parked at a barrier (JoinGroup, SyncGroup) when their group
    changes. Changes committed in this process wake them at once; changes made by other processes
    are seen by the waiter's own periodic re-read. Thread-safe; waiters are asyncio tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._waiting: dict[str, set[asyncio.Future]] = {}

    def version(self, group_id: str) -> int:
        with self._lock:
            return self._versions.get(group_id, 0)

    def notify(self, group_id: str) -> None:
        with self._lock:
            self._versions[group_id] = self._versions.get(group_id, 0) + 1
            futures = self._waiting.pop(group_id, set())
        for future in futures:
            future.get_loop().call_soon_threadsafe(_resolve, future)

    async def wait(self, group_id: str, seen: int, timeout_s: float) -> bool:
        """Until the group changed after version `seen`, or the timeout passes."""
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._versions.get(group_id, 0) != seen:
                return True
            self._waiting.setdefault(group_id, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiting.get(group_id)
                if waiting is not None:
                    waiting.discard(future)
                    if not waiting:
                        del self._waiting[group_id]


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


group_waiters = GroupWaiters()
