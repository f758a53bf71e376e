"""Wakes waiting fetches when their partitions grow.

Appends in this process wake waiters at once (after commit). Appends made by other processes are
seen by the waiter's periodic re-read of the watermark (FETCH_POLL_INTERVAL_MS). Thread-safe.
"""

import threading
import time
from collections.abc import Iterable


class LogWaiters:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[int, int] = {}

    def version(self, partition_ids: Iterable[int]) -> tuple[int, ...]:
        with self._cond:
            return tuple(self._versions.get(p, 0) for p in partition_ids)

    def notify(self, partition_ids: Iterable[int]) -> None:
        with self._cond:
            for p in partition_ids:
                self._versions[p] = self._versions.get(p, 0) + 1
            self._cond.notify_all()

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
