"""Append order across the concurrent requests of one client connection.

Kafka handles a connection's requests one at a time, so a producer that pipelines requests (many
in flight on one connection) finds request k's records before request k+1's in every partition;
a producer that is not idempotent relies on nothing else for its order. The Kafka listener
handles a connection's Produce requests concurrently, so that they share group commits
(group_commit.py), and keeps Kafka's order with a Lane: each request is a Turn that names the
partitions it carries, and a turn's append to a partition joins group commit's queue only once
every earlier unfinished turn of the lane that carries the partition has either finished
appending there, or is queued there ahead of it, in the same queue and with the same topic
metadata (so the same transaction, or an earlier one, writes it first).

Invariants:
- A turn waits only for earlier turns of its lane, and a lane's turns reach the thread pool in
  order, each before any later one waits (the listener's side: `Lane.submit`), so a waiting
  thread never holds up the thread it waits for.
- An earlier turn that carries a partition and has not appended there yet will: a later turn
  waits for it there until it appends or finishes. A turn's partitions are found (by topic name
  and index, from the append path's cached metadata) when it starts, in its thread; a turn that
  named none (or has not started) may append anywhere. The partitions are read from the database,
  never from a cache that may still hold a deleted topic's. The one order this cannot keep: a
  topic deleted and created again while the turn runs, whose partitions it did not name.
- A queued append that turns out not to be its caller's last attempt (its metadata was stale, or
  the database refused the shared write and each caller writes alone) is marked void by the
  group's leader before anyone is woken; a later turn queued behind that attempt is not written
  (its metadata is as stale: it is placed again) and waits for the retry.
"""

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

from brokercore.log.storage import topic_for_append

P = ParamSpec("P")
T = TypeVar("T")

# A turn's mark for a partition: absent (not appended yet), _Queued (an attempt waits in group
# commit's queue or is being written), VOID (that attempt will be retried), DONE (finished there).
VOID = "void"
DONE = "done"


class _Queued:
    """One attempt of a turn's append, queued under `key` with `meta`; compared by identity, so
    a later turn can tell whether the attempt it queued behind is still the one in the queue."""

    __slots__ = ("key", "meta")

    def __init__(self, key: Hashable, meta: object) -> None:
        self.key = key
        self.meta = meta


_current = threading.local()


def current() -> "Turn | None":
    """The turn this thread appends for (None: the append has no order to keep)."""
    return getattr(_current, "turn", None)


class Turn:
    """One request of a lane: what it has appended where, and whether it has finished."""

    __slots__ = ("lane", "places", "carries", "marks", "behind", "finished", "submitted", "changed")

    def __init__(self, lane: "Lane", places: Iterable[tuple[str, int]] | None) -> None:
        self.lane = lane
        self.places = None if places is None else list(places)  # (topic name, partition index)
        # The partition pks of `places`, once found; None: it may append to any partition.
        self.carries: frozenset[int] | None = None
        self.marks: dict[int, object] = {}  # partition pk -> _Queued | VOID | DONE
        # partition pk -> the earlier turns' attempts this turn's current attempt queued behind.
        self.behind: dict[int, list[tuple[Turn, _Queued]]] = {}
        self.finished = False
        self.submitted = False
        self.changed = threading.Condition(lane.lock)  # notified when a mark or `finished` changes

    def _earlier(self) -> list["Turn"]:
        turns = self.lane.turns
        out = []
        for t in turns:
            if t is self:
                return out
            out.append(t)
        return []  # finished, and so removed: nothing binds it any more

    def enter(self, key: Hashable, pids: Iterable[int], meta: object | None) -> None:
        """Block until this turn's records for `pids` may join `key`'s queue with `meta` (None:
        be written alone, so only turns that finished there pass)."""
        pids = list(pids)
        with self.lane.lock:
            while True:
                blocker, behind = None, {}
                for t in self._earlier():
                    for pid in pids:
                        mark = t.marks.get(pid)
                        if mark is DONE or (mark is None and t.carries is not None and pid not in t.carries):
                            continue
                        if (isinstance(mark, _Queued) and meta is not None and mark.key == key
                                and (mark.meta is meta or mark.meta == meta)):
                            behind.setdefault(pid, []).append((t, mark))
                            continue
                        blocker = t
                        break
                    if blocker is not None:
                        break
                if blocker is None:
                    self.behind = behind
                    return
                blocker.changed.wait()

    def queued(self, key: Hashable, pids: Iterable[int], meta: object) -> None:
        """This turn's records for `pids` are in `key`'s queue (call under the queue's lock, so
        no later caller can be queued ahead of them)."""
        with self.lane.lock:
            mark = _Queued(key, meta)
            for pid in pids:
                self.marks[pid] = mark
            self.changed.notify_all()

    def queued_behind_void(self) -> bool:
        """Whether an attempt this turn queued behind was since voided (or retried): then its
        own attempt must not be written before the retry."""
        with self.lane.lock:
            return any(not t.finished and t.marks.get(pid) not in (mark, DONE)
                       for pid, deps in self.behind.items() for t, mark in deps)

    def void(self, pids: Iterable[int]) -> None:
        """This turn's queued attempt for `pids` will not stand: it appends there again."""
        self._mark(pids, VOID)

    def returned(self, pids: Iterable[int], *, written: bool) -> None:
        """Its append for `pids` returned: written (or failed for good), or to be tried again."""
        self._mark(pids, DONE if written else VOID)

    def _mark(self, pids: Iterable[int], mark: object) -> None:
        with self.lane.lock:
            for pid in pids:
                self.marks[pid] = mark
            self.changed.notify_all()

    def finish(self) -> None:
        """The request appends nothing more (done, failed, or never run); idempotent."""
        with self.lane.lock:
            if self.finished:
                return
            self.finished = True
            self.lane.turns.remove(self)
            self.changed.notify_all()

    def _find_partitions(self) -> None:
        if self.places is None:
            return
        partition_ids: dict[str, list[int]] = {}
        try:
            for name, _ in self.places:
                if name not in partition_ids:
                    # Not the append path's cached copy: one left by a topic of the same name,
                    # deleted since, names other partitions, and later turns would not wait for
                    # this one (seen: a pipelined acks=0/acks=1 mix out of order).
                    meta = topic_for_append(name, cached=False)
                    partition_ids[name] = meta.partition_ids if meta is not None else []
        except Exception:  # noqa: BLE001 - the database failed: the turn may append anywhere
            return  # (and the append reports the failure)
        carries = frozenset(partition_ids[name][index] for name, index in self.places
                            if 0 <= index < len(partition_ids[name]))
        with self.lane.lock:
            self.carries = carries
            self.changed.notify_all()

    def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in this thread, its appends ordered as this turn's."""
        _current.turn = self
        try:
            self._find_partitions()
            return fn(*args, **kwargs)
        finally:
            _current.turn = None
            self.finish()


class Lane:
    """The turns of one connection, in request order."""

    __slots__ = ("lock", "turns")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.turns: deque[Turn] = deque()  # unfinished turns, oldest first

    def turn(self, places: Iterable[tuple[str, int]] | None = None) -> Turn:
        """A turn after every turn taken so far, appending to `places` (topic name, partition
        index; None: anywhere)."""
        t = Turn(self, places)
        with self.lock:
            self.turns.append(t)
        return t

    def submit(self, executor: Executor, turn: Turn, fn: Callable[..., T], /, *args: object, **kwargs: object) -> "Future[T]":
        """Run `fn` in `executor` as `turn`'s one piece of work. Refused (RuntimeError) unless
        every earlier unfinished turn has submitted its own: a thread waiting for an earlier turn
        must never stand in the pool's queue ahead of it."""
        with self.lock:
            if turn.submitted:
                raise RuntimeError("an ordered request submits its database work once (one run_sync call)")
            for t in turn._earlier():
                if not t.submitted:
                    raise RuntimeError("ordered requests must submit their database work in request order")
            turn.submitted = True
        future = executor.submit(turn.run, fn, *args, **kwargs)
        # Cancelled before it ran (its connection closed): nobody may wait for it.
        future.add_done_callback(lambda _: turn.finish())
        return future


class TurnExecutor(Executor):
    """An executor that runs work as one turn of a lane, in another executor's threads: what a
    request handler's `run_sync` goes through when its request is pipelined."""

    def __init__(self, executor: Executor, turn: Turn) -> None:
        self._executor = executor
        self._turn = turn

    def submit(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> "Future[T]":
        return self._turn.lane.submit(self._executor, self._turn, fn, *args, **kwargs)
