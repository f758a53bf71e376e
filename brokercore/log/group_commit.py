"""Group commit: concurrent appends to one topic in this process share one transaction.

Kafka's producer lingers to batch records before it sends them; a database-backed log pays one
commit (a WAL flush on PostgreSQL, a write-lock turn on SQLite) per append, so many producers
that each send one record are limited by commits, not by work. Here the callers themselves form
the batch, as a database's group commit does: the first caller to arrive leads, writes what is
queued in one transaction (one watermark UPDATE per partition, one insert), gives every caller
its own base offsets, and hands the lead to the next waiting caller.

Invariants:
- A caller's records are contiguous and in its own order within each partition of the shared
  write, so its offsets are the shared base plus its place; offsets stay gapless and unique
  (the partition row lock still serialises writers across processes).
- Only callers outside any transaction are queued: they hold no database lock while they wait,
  so waiting here cannot form a cycle with the database's locks.
- Callers with different acks never share a transaction (each acks level has its own queue), nor
  do callers that placed their records with different topic metadata (each such set is written
  in its own transaction).
- A lone caller never waits: the leader lingers only when the previous group held several
  callers, and only until as many are queued again, or the linger time has passed without a
  caller joining, or four linger times have passed in all.
- Callers appending for one client connection's pipelined requests (ordering.Turn) are queued
  and written in request order per partition (ordering.py says how).
- A shared write that fails before anything could be committed is retried by each caller alone,
  so only the caller whose records the database refuses sees an error. A failure whose outcome is
  unknown (the connection broke) is reported to every caller of the group: retrying it here
  could write records twice.
"""

import os
import sqlite3
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Hashable

from django.db import DatabaseError

from brokercore.log import ordering

# (partition pk -> batches) -> (partition pk -> base offset), or None when the topic's metadata went
# stale (nothing written).
Write = Callable[[object, dict[int, list]], dict[int, int] | None]
# How many offsets one item takes (a record batch: its span; see brokercore.log.batch.Pending).
Span = Callable[[object], int]


def _one(item: object) -> int:
    return 1

_WAITING, _DONE, _LEAD, _ALONE = range(4)

# Callers of a finished group the leader wakes itself; each of them wakes the one this far behind
# it. Woken all at once, a group's threads queue for the GIL together, each sleeping again on it.
# One at a time, since the append path's Python got cheaper (2026-11-25, 32 single-record
# producers on SQLite, three alternating 2-s rounds each): 17.6k/21.9k/22.0k records/s at 1.6
# context switches a record, against 16.3k/15.7k/17.9k at 3.3 with two at a time and 13.6k-16.8k
# at 5.1 with the whole group at once; with a busy loop holding one of the two cores,
# 14.2k/17.1k/20.6k against 11.3k/17.5k/15.9k. (Two at a time had measured best while each
# caller's Python was twice as long.) PostgreSQL, bound by its WAL flush, measured alike:
# 7.1k/8.0k/7.2k against 8.6k/8.0k/6.5k.
_WAKE_WIDTH = 1

# A lingering leader waits at most this many linger times, however steadily callers join.
_LINGER_ROUNDS = 4


class _Request:
    """One caller's append, waiting in its topic's queue."""

    __slots__ = ("meta", "batches", "span", "count", "state", "result", "error", "wake", "next", "turn")

    def __init__(self, meta: object, batches: dict[int, list], span: Span, turn: ordering.Turn | None = None) -> None:
        self.meta = meta  # what the caller placed its records with; groups share one
        self.batches = batches
        self.span = span
        self.count = sum(span(b) for bs in batches.values() for b in bs)
        self.state = _WAITING
        self.result: dict[int, int] | None = None
        self.error: BaseException | None = None
        # Held until the caller may go on (done, or leading): a bare lock is the cheapest
        # one-shot wake-up (an Event is a Condition around one).
        self.wake = threading.Lock()
        self.wake.acquire()
        # The next caller of the same group, which this one wakes once it runs (see _lead).
        self.next: _Request | None = None
        self.turn = turn  # the pipelined request this append is for, whose order is kept


class _Queue:
    """The callers waiting to append to one topic at one acks level, and whether one of them is
    writing; not thread-safe without `lock`."""

    __slots__ = ("lock", "waiting", "queued_records", "writing", "linger", "last_group", "joined")

    def __init__(self) -> None:
        # A bare lock, not a Condition: every caller takes it once, and a Condition's enter and
        # exit are Python calls.
        self.lock = threading.Lock()
        self.waiting: deque[_Request] = deque()  # never holds a leader's own request
        self.queued_records = 0
        # A leader is taking or writing a group. One at a time: a second group written beside it
        # (PostgreSQL would queue it on the row locks) measured no faster, halving the groups.
        self.writing = False
        # Held while a leader lingers; released by the caller that makes the group full.
        self.linger: threading.Lock | None = None
        self.last_group = 1  # callers in the previous group: how many the next leader expects
        self.joined = 0  # callers queued so far: a lingering leader sees whether any came

    def full(self, max_records: int) -> bool:
        """Whether a leader (not in `waiting`) has as many callers as last time, or enough records."""
        return len(self.waiting) + 1 >= self.last_group or self.queued_records >= max_records


# Groups written and callers they served in this process (for benchmarks and diagnostics).
_sizes: dict[int, int] = defaultdict(int)  # callers in a group -> groups of that size


def counts() -> dict[str, int]:
    """{"groups": transactions written for queued callers, "callers": callers they served}."""
    sizes = dict(_sizes)
    return {"groups": sum(sizes.values()), "callers": sum(k * v for k, v in sizes.items())}


def group_sizes() -> dict[int, int]:
    """How many groups held each number of callers, since the process started."""
    return dict(_sizes)


_queues: dict[Hashable, _Queue] = {}
_queues_lock = threading.Lock()
_QUEUES_MAX = 4096


def _queue(key: Hashable) -> _Queue:
    q = _queues.get(key)
    if q is not None:
        return q
    with _queues_lock:
        q = _queues.get(key)
        if q is None:
            if len(_queues) >= _QUEUES_MAX:
                # Forget idle queues (topics no longer written); a busy one is kept, since its
                # callers hold it.
                for k in [k for k, v in _queues.items() if not v.writing and not v.waiting]:
                    del _queues[k]
            q = _queues[key] = _Queue()
        return q


def _forget_all() -> None:
    """A forked child starts with no queues: locks held by the parent's threads would never be
    released in it."""
    global _queues_lock
    _queues.clear()
    _queues_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_all)


def append(
    *, key: Hashable, meta: object, batches: dict[int, list], write: Write, linger_s: float, max_records: int,
    span: Span = _one,
) -> dict[int, int] | None:
    """Write `batches` (partition pk -> items, each taking `span(item)` offsets) together with whatever other callers queue under
    `key`; return this caller's base offset per partition (None: stale metadata, nothing written).

    `write(meta, batches)` runs in the leading caller's thread on that thread's connection, outside
    any transaction of its own, and must be one transaction.
    """
    turn = ordering.current()
    if turn is None:
        return _append(key, meta, batches, write, linger_s, max_records, span, None)
    turn.enter(key, batches, meta)
    try:
        result = _append(key, meta, batches, write, linger_s, max_records, span, turn)
    except BaseException:
        turn.returned(batches, written=True)  # the caller does not retry it
        raise
    turn.returned(batches, written=result is not None)
    return result


def _append(
    key: Hashable, meta: object, batches: dict[int, list], write: Write, linger_s: float, max_records: int,
    span: Span, turn: ordering.Turn | None,
) -> dict[int, int] | None:
    req = _Request(meta, batches, span, turn)
    q = _queue(key)
    release = None
    with q.lock:
        if turn is not None:
            turn.queued(key, batches, meta)
        lead = not q.writing
        if lead:
            q.writing = True
        else:
            q.waiting.append(req)
            q.queued_records += req.count
            q.joined += 1
            if q.linger is not None and q.full(max_records):
                release, q.linger = q.linger, None
    if release is not None:
        release.release()  # outside the queue's lock, which the leader takes next
    if not lead:
        req.wake.acquire()
        if req.next is not None:
            req.next.wake.release()  # before anything else: the rest of the group waits on it
        lead = req.state == _LEAD
    if lead:
        _lead(q, req, write, linger_s, max_records)
    if req.state == _ALONE:
        if turn is not None:
            turn.enter(key, batches, None)  # after the earlier requests' own writes
        return write(meta, batches)
    if req.error is not None:
        raise req.error
    return req.result


def _lead(q: _Queue, own: _Request, write: Write, linger_s: float, max_records: int) -> None:
    """Take a group (the leader's own request, then the head of the queue), write it, hand the
    lead on to the first caller still waiting, and wake the group."""
    if linger_s > 0:
        with q.lock:
            linger = None
            if q.last_group > 1 and not q.full(max_records):
                linger = q.linger = threading.Lock()
                linger.acquire()
                seen = q.joined
        if linger is not None:
            # The wait ends once no caller joined for a linger time, not a linger time after it
            # began: a group's callers come back one by one (each runs its Python under the GIL),
            # and on a quiet 2-core machine 30 of them took longer than 1 ms, so groups were cut
            # short (measured: 21 callers a group instead of 31; waiting so, 1.07-1.2x the rate
            # in paired runs, and no higher p99).
            for _ in range(_LINGER_ROUNDS):
                if linger.acquire(timeout=linger_s):
                    break
                with q.lock:
                    if q.joined == seen:
                        break
                    seen = q.joined
    with q.lock:
        q.linger = None
        group = [own]
        taken = own.count
        while q.waiting and taken + q.waiting[0].count <= max_records:
            r = q.waiting.popleft()
            q.queued_records -= r.count
            group.append(r)
            taken += r.count
        q.last_group = len(group)
        # Under this queue's lock only: a rare lost update across topics is harmless.
        _sizes[len(group)] += 1
    try:
        _write_group(group, write)
    except BaseException as e:  # the leader's thread is interrupted: nobody may wait forever
        for r in group:
            if r.state == _WAITING:
                r.state, r.error = _DONE, e
        raise
    finally:
        with q.lock:
            if q.waiting:
                nxt = q.waiting.popleft()  # leads in this writer's place
                q.queued_records -= nxt.count
                nxt.state = _LEAD
            else:
                nxt = None
                q.writing = False
        if nxt is not None:
            nxt.wake.release()
        # The leader wakes the first few callers of its group and each woken caller wakes the
        # one _WAKE_WIDTH behind it, so only a few threads ask for the GIL at a time.
        followers = group[1:]
        for a, b in zip(followers, followers[_WAKE_WIDTH:]):
            a.next = b
        for r in followers[:_WAKE_WIDTH]:
            r.wake.release()


def _write_group(group: list[_Request], write: Write) -> None:
    try:
        _write_by_meta(group, write)
    finally:
        # Before anyone is woken: a later request of the same connection must not go ahead of an
        # attempt that will be made again.
        for r in group:
            if r.turn is not None and (r.state == _ALONE or (r.result is None and r.error is None)):
                r.turn.void(r.batches)


def _write_by_meta(group: list[_Request], write: Write) -> None:
    # Callers that placed with different metadata (one had a stale cached copy) are written in
    # separate transactions: the write checks one copy.
    by_meta: list[tuple[object, list[_Request]]] = []
    for r in group:
        if r.turn is not None and r.turn.queued_behind_void():
            # Queued behind an earlier request's attempt that will be made again, with the same
            # metadata, which was stale: placed again, it follows that request's retry.
            r.state = _DONE
            continue
        for meta, rs in by_meta:
            if meta is r.meta or meta == r.meta:
                rs.append(r)
                break
        else:
            by_meta.append((r.meta, [r]))
    for meta, rs in by_meta:
        if len(rs) == 1:
            r = rs[0]
            try:
                r.result = write(meta, r.batches)
            except Exception as e:
                r.error = e
            r.state = _DONE
            continue
        combined: dict[int, list] = defaultdict(list)
        starts = []
        taken: dict[int, int] = defaultdict(int)  # offsets the group's earlier callers take
        for r in rs:
            start = {}
            for pid, items in r.batches.items():
                start[pid] = taken[pid]
                taken[pid] += sum(r.span(b) for b in items)
                combined[pid].extend(items)
            starts.append(start)
        try:
            bases = write(meta, combined)
        except Exception as e:
            if _outcome_unknown(e):
                # The connection may have failed after the commit: whether the records are in is
                # unknown, so nobody writes them again here (each caller decides, as without
                # grouping).
                for r in rs:
                    r.state, r.error = _DONE, e
            else:
                # The database refused the write (or it never ran): nothing is written. Each
                # caller retries alone, so only the one whose records are refused fails.
                for r in rs:
                    r.state = _ALONE
            continue
        for r, start in zip(rs, starts):
            r.result = None if bases is None else {pid: bases[pid] + start[pid] for pid in r.batches}
            r.state = _DONE


def _outcome_unknown(error: Exception) -> bool:
    """Whether a failed write may have committed all the same: PostgreSQL did not answer (a
    psycopg error without SQLSTATE: the connection failed, possibly after the commit), or
    SQLite's disk I/O failed. An error PostgreSQL answered ended the statement's transaction
    without committing it; an error that is not the database's came before anything was sent."""
    driver = error.__cause__ if isinstance(error, DatabaseError) and error.__cause__ is not None else error
    if hasattr(driver, "sqlstate"):  # psycopg
        return driver.sqlstate is None
    if isinstance(driver, sqlite3.Error):
        return "disk i/o" in str(driver).lower()
    return isinstance(driver, DatabaseError)  # wrapped, but without the driver's error: be safe
