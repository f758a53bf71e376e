"""Wakes waiting fetches when their partitions grow.

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


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
