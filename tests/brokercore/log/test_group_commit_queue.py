"""The group-commit queue on its own, with a fake write: who leads, what is shared, who fails.

No database: `write` is a function the test controls, so each interleaving is forced, not hoped for.
"""

import threading
import time

import psycopg
import pytest
from psycopg.errors import CheckViolation

from brokercore.log import group_commit

META = ("topic", 1)  # any comparable value stands for TopicMeta here


class FakeLog:
    """A write that hands out offsets per partition like the watermark UPDATE; `gate` holds the
    first write until the test opens it, so followers queue behind a leader that is writing."""

    def __init__(self, *, refuse=None, outcome_unknown=False, stale=False):
        self.next = {}
        self.calls: list[dict] = []
        self.refuse = refuse  # a value whose presence makes the database refuse the whole write
        self.outcome_unknown = outcome_unknown
        self.stale = stale
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.lock = threading.Lock()

    def write(self, meta, batches):
        self.entered.set()
        self.gate.wait(5)
        with self.lock:
            self.calls.append({pid: list(items) for pid, items in batches.items()})
            if self.stale:
                return None
            if self.outcome_unknown and sum(len(v) for v in batches.values()) > 1:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            if self.refuse is not None and any(self.refuse in items for items in batches.values()):
                raise CheckViolation("refused")  # PostgreSQL answered: nothing committed
            bases = {}
            for pid, items in batches.items():
                bases[pid] = self.next.get(pid, 0)
                self.next[pid] = bases[pid] + len(items)
            return bases


def _append(log, batches, *, key="k", meta=META, linger_s=0.0, max_records=1000):
    return group_commit.append(
        key=key, meta=meta, batches=batches, write=log.write, linger_s=linger_s, max_records=max_records
    )


def _run_behind_leader(log, followers: list[dict], *, key="k", metas=None, max_records=1000):
    """Start a leader whose write blocks, queue `followers` behind it, then open the gate.
    Returns (leader's result, followers' results or exceptions, in order)."""
    log.gate.clear()
    results: dict[int, object] = {}

    def call(i, batches, meta):
        try:
            results[i] = _append(log, batches, key=key, meta=meta, max_records=max_records)
        except Exception as e:
            results[i] = e

    leader = threading.Thread(target=call, args=(-1, {1: ["lead"]}, META))
    leader.start()
    assert log.entered.wait(5)
    threads = []
    for i, batches in enumerate(followers):
        t = threading.Thread(target=call, args=(i, batches, (metas or {}).get(i, META)))
        t.start()
        threads.append(t)
        _wait_queued(key, i + 1)  # queue order = the order of this list
    log.gate.set()
    for t in [leader, *threads]:
        t.join(10)
    return results[-1], [results[i] for i in range(len(followers))]


def _until(condition, what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def _wait_queued(key, n):
    q = group_commit._queue(key)
    _until(lambda: len(q.waiting) >= n, "callers did not queue")


def _wait_lingering(key):
    """Until a leader of `key` lingers (it holds its linger lock)."""
    q = group_commit._queue(key)
    _until(lambda: q.linger is not None, "the leader did not linger")


@pytest.fixture(autouse=True)
def fresh_queues():
    group_commit._forget_all()
    yield
    group_commit._forget_all()


def test_a_lone_caller_writes_at_once_even_with_a_long_linger():
    log = FakeLog()
    t0 = time.perf_counter()
    for i in range(20):
        assert _append(log, {7: [f"r{i}"]}, linger_s=1.0) == {7: i}
    assert time.perf_counter() - t0 < 0.5
    assert len(log.calls) == 20


def test_callers_queued_behind_a_writing_leader_share_one_write_and_get_their_own_offsets():
    log = FakeLog()
    followers = [{1: [f"a{i}", f"b{i}"], 2: [f"c{i}"]} for i in range(5)]
    lead, res = _run_behind_leader(log, followers)
    assert lead == {1: 0}
    assert len(log.calls) == 2  # the leader's, then one for all five followers
    shared = log.calls[1]
    # Each caller's records are contiguous and in its own order; offsets point at them.
    for batches, bases in zip(followers, res):
        for pid, items in batches.items():
            start = bases[pid] - (1 if pid == 1 else 0)  # partition 1 already had the leader's record
            assert shared[pid][start : start + len(items)] == items


def test_a_group_takes_at_most_max_records_and_the_rest_follow():
    log = FakeLog()
    followers = [{1: [f"r{i}"] * 3} for i in range(4)]
    _, res = _run_behind_leader(log, followers, max_records=7)
    # Behind the leader: 3+3 fit in 7, then the next two.
    assert [sum(len(v) for v in c.values()) for c in log.calls] == [1, 6, 6]
    assert sorted(r[1] for r in res) == [1, 4, 7, 10]


def test_a_refused_shared_write_is_retried_alone_so_only_the_bad_caller_fails():
    log = FakeLog(refuse="poison")
    followers = [{1: ["good0"]}, {1: ["poison"], 2: ["x"]}, {1: ["good2"], 3: ["y"]}]
    _, res = _run_behind_leader(log, followers)
    assert isinstance(res[1], CheckViolation)
    # The good callers retried alone (in either order) after the leader's record at offset 0.
    assert sorted([res[0][1], res[2][1]]) == [1, 2] and res[2][3] == 0
    assert len(log.calls) == 5  # leader, the refused shared write, then each of the three alone
    # Partition 2 got nothing: the bad caller's other records went nowhere.
    assert 2 not in log.next


def test_an_outcome_unknown_failure_is_reported_to_every_caller_and_not_retried():
    log = FakeLog(outcome_unknown=True)
    _, res = _run_behind_leader(log, [{1: ["a"]}, {1: ["b"]}])
    assert all(isinstance(r, psycopg.OperationalError) for r in res)
    assert len(log.calls) == 2  # the leader's alone, and the shared one; no retries


def test_stale_metadata_returns_none_to_every_caller_of_the_group():
    log = FakeLog(stale=True)
    lead, res = _run_behind_leader(log, [{1: ["a"]}, {1: ["b"]}])
    assert lead is None and res == [None, None]


def test_callers_with_different_metadata_are_written_in_separate_transactions():
    log = FakeLog()
    other = ("topic", 2)
    _, res = _run_behind_leader(log, [{1: ["a"]}, {1: ["b"]}, {1: ["c"]}], metas={1: other})
    assert len(log.calls) == 3  # leader; a+c together; b alone
    assert log.calls[1] == {1: ["a", "c"]} and log.calls[2] == {1: ["b"]}
    assert res == [{1: 1}, {1: 3}, {1: 2}]


def test_different_keys_do_not_share_a_write():
    log = FakeLog()
    log.gate.clear()
    out = {}
    t1 = threading.Thread(target=lambda: out.setdefault("a", _append(log, {1: ["a"]}, key="acks=1")))
    t1.start()
    assert log.entered.wait(5)
    # Another key has no leader: this caller leads at once and its write waits on the same gate.
    t2 = threading.Thread(target=lambda: out.setdefault("b", _append(log, {1: ["b"]}, key="acks=all")))
    t2.start()
    time.sleep(0.05)
    log.gate.set()
    t1.join(5)
    t2.join(5)
    assert sorted(map(str, log.calls)) == sorted([str({1: ["a"]}), str({1: ["b"]})])


def test_the_leader_lingers_for_as_many_callers_as_its_previous_group_held():
    log = FakeLog()
    _run_behind_leader(log, [{1: ["a"]}, {1: ["b"]}, {1: ["c"]}])  # the last group held 3
    done = []
    linger_s = 5.0

    def call(v):
        done.append(_append(log, {1: [v]}, linger_s=linger_s))

    threads = {v: threading.Thread(target=call, args=(v,)) for v in "xyz"}
    t0 = time.monotonic()
    threads["x"].start()
    _wait_lingering("k")  # x leads and lingers: y and z queue behind it, in this order
    threads["y"].start()
    _wait_queued("k", 1)
    threads["z"].start()
    for t in threads.values():
        t.join(3 * linger_s)
    waited = time.monotonic() - t0
    # The first lingered until the other two queued: one shared write. It ended as the group
    # filled, well before the linger time (a leader that did not would wait two, 10 s).
    assert log.calls[-1] == {1: ["x", "y", "z"]}
    assert len(done) == 3
    assert waited < linger_s


# --- Waking a group: the leader wakes the first few, each woken caller the next ---------------


def test_every_caller_of_a_group_wider_than_the_wake_width_is_woken_with_its_offset():
    log = FakeLog()
    n = group_commit._WAKE_WIDTH * 3 + 2
    sizes_before = group_commit.group_sizes()
    followers = [{1: [f"r{i}"]} for i in range(n)]
    _, res = _run_behind_leader(log, followers)
    # The first follower led the rest: one shared write, each caller its own offset in queue order.
    assert len(log.calls) == 2 and log.calls[1] == {1: [f"r{i}" for i in range(n)]}
    assert res == [{1: 1 + i} for i in range(n)]
    sizes = group_commit.group_sizes()
    assert sizes.get(n, 0) - sizes_before.get(n, 0) == 1
    assert sizes.get(1, 0) - sizes_before.get(1, 0) == 1  # the leader's own, alone


def test_a_refused_shared_write_in_a_wide_group_fails_only_the_bad_caller():
    log = FakeLog(refuse="poison")
    n = group_commit._WAKE_WIDTH * 2 + 3
    followers = [{1: ["poison" if i == n - 2 else f"good{i}"]} for i in range(n)]
    _, res = _run_behind_leader(log, followers)
    assert isinstance(res[n - 2], CheckViolation)
    good = [r[1] for i, r in enumerate(res) if i != n - 2]
    assert sorted(good) == list(range(1, n))  # gapless after the leader's offset 0
    assert len(log.calls) == 2 + n  # leader, the refused shared write, then each caller alone


def test_an_outcome_unknown_failure_reaches_every_caller_of_a_wide_group():
    log = FakeLog(outcome_unknown=True)
    n = group_commit._WAKE_WIDTH * 2 + 1
    _, res = _run_behind_leader(log, [{1: [f"r{i}"]} for i in range(n)])
    assert len(res) == n and all(isinstance(r, psycopg.OperationalError) for r in res)
    assert len(log.calls) == 2


class Interrupted(BaseException):
    """Not an Exception: stands for KeyboardInterrupt or SystemExit in the writing thread."""


def test_a_leader_interrupted_while_writing_still_wakes_its_whole_group():
    log = FakeLog()
    n = group_commit._WAKE_WIDTH * 2 + 1
    write = log.write

    def interrupted_when_shared(meta, batches):
        if sum(len(v) for v in batches.values()) > 1:
            raise Interrupted()
        return write(meta, batches)

    log.gate.clear()
    results: dict[int, object] = {}

    def call(i, batches):
        try:
            results[i] = group_commit.append(
                key="k", meta=META, batches=batches, write=interrupted_when_shared, linger_s=0.0, max_records=1000
            )
        except BaseException as e:  # the interrupted leader's own thread sees it too
            results[i] = e

    threads = [threading.Thread(target=call, args=(-1, {1: ["lead"]}))]
    threads[0].start()
    assert log.entered.wait(5)
    for i in range(n):
        threads.append(threading.Thread(target=call, args=(i, {1: [f"r{i}"]})))
        threads[-1].start()
        _wait_queued("k", i + 1)
    log.gate.set()
    for t in threads:
        t.join(5)
        assert not t.is_alive(), "a caller was never woken"
    assert results[-1] == {1: 0}
    assert all(isinstance(results[i], Interrupted) for i in range(n))
    # Nobody is left leading: the next caller writes at once.
    assert _append(log, {1: ["after"]}) == {1: 1}


# --- Linger: while callers keep joining, at most four linger times ------------------------------


def _group_of(log, n):
    """Make the queue's last group hold `n` callers (the leader then lingers for as many)."""
    _run_behind_leader(log, [{1: [f"warm{i}"]} for i in range(n)])  # the leader alone, then n together
    assert group_commit._queue("k").last_group == n


class _Callers:
    """Callers appending one record each ("c0", "c1", ...) with the given linger, started by the
    test one at a time; each records its result and when it returned."""

    def __init__(self, log, linger_s):
        self.log, self.linger_s = log, linger_s
        self.q = group_commit._queue("k")
        self.threads: list[threading.Thread] = []
        self.out: list = []
        self.returned: dict[str, float] = {}

    def start(self):
        v = f"c{len(self.threads)}"

        def call():
            self.out.append(_append(self.log, {1: [v]}, linger_s=self.linger_s))
            self.returned[v] = time.monotonic()

        t = threading.Thread(target=call)
        self.threads.append(t)
        t.start()
        return t

    def lead(self):
        """Start c0 and return once it leads and lingers."""
        assert not self.threads
        self.start()
        _wait_lingering("k")

    def join_one(self):
        """Start the next caller; return once it queued behind the leader (or the leader is gone)."""
        joined = self.q.joined
        self.start()
        _until(lambda: self.q.joined != joined or self.q.linger is None, "the caller did not queue")

    def wait(self, timeout=30):
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive()


def _sleep_until(t):
    time.sleep(max(0.0, t - time.monotonic()))


def test_a_leader_keeps_lingering_while_callers_keep_joining():
    log = FakeLog()
    _group_of(log, 4)
    linger_s = 2.0
    callers = _Callers(log, linger_s)
    callers.lead()
    lingering = time.monotonic()  # the leader began lingering no later than this
    callers.join_one()  # well within the first linger time
    # The third joins after the first linger time has passed (a leader that lingered one linger
    # time in all would have written without it), with most of the second still to go.
    _sleep_until(lingering + 1.25 * linger_s)
    callers.join_one()
    callers.join_one()  # the fourth fills the group as the last one held: the write goes now
    callers.wait()
    # One write: the leader was still lingering when the third joined.
    assert log.calls[-1] == {1: ["c0", "c1", "c2", "c3"]}
    assert len(callers.out) == 4


def test_a_leader_stops_lingering_after_a_linger_time_without_a_caller():
    log = FakeLog()
    _group_of(log, 4)
    linger_s = 1.5
    callers = _Callers(log, linger_s)
    t0 = time.monotonic()
    callers.lead()
    callers.join_one()  # within the first linger time; then nobody comes
    callers.wait()
    waited = callers.returned["c0"] - t0
    # The group (two of the four expected) was written once a whole linger time passed with
    # nobody joining: after the second, not the fourth, linger time (the cap, 6 s).
    assert log.calls[-1] == {1: ["c0", "c1"]}
    assert 2 * linger_s - 0.05 <= waited < 3.5 * linger_s


def test_a_leader_lingers_at_most_four_linger_times_however_steadily_callers_join():
    log = FakeLog()
    _group_of(log, 40)
    linger_s = 1.0
    every_s = 0.2
    callers = _Callers(log, linger_s)
    t0 = time.monotonic()
    callers.lead()
    # A caller every 0.2 s while the leader lingers: five a linger time, so it never goes one
    # without a caller; the 39 it waits for would take 7.8 s. It writes after 4 x 1 s.
    while len(callers.threads) < 40:
        callers.join_one()
        time.sleep(every_s)
        if callers.q.linger is None or "c0" in callers.returned:
            break  # (a caller queued after the leader's group leads the next one: not fed)
    callers.wait()
    waited = callers.returned["c0"] - t0
    first = next(c for c in log.calls if "c0" in c.get(1, []))
    assert 3 <= len(first[1]) < 40
    assert 4 * linger_s - 0.05 <= waited < 6.0
    assert len(callers.out) == len(callers.threads)
