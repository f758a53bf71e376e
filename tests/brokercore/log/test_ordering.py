"""log/ordering.py with group commit: the appends of a connection's pipelined requests keep
request order per partition, also when an attempt is retried. No database: the write is a fake
that records what it wrote, in order."""

import threading
import time

from brokercore.log import group_commit, ordering

PID = 7


class Log:
    """A fake write: appends each batch's items to its partition, in call order; answers None
    (stale metadata, nothing written) for metadata in `stale`."""

    def __init__(self) -> None:
        self.rows: dict[int, list] = {}
        self.stale: set[str] = set()
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.hold.set()

    def write(self, meta, batches):
        self.hold.wait(5)
        with self.lock:
            if meta in self.stale:
                return None
            bases = {}
            for pid, items in batches.items():
                run = self.rows.setdefault(pid, [])
                bases[pid] = len(run)
                run.extend(items)
            return bases


def appender(log: Log, key, turn, item, metas, pause_before_retry=0.0):
    """What records_append does around group commit: append, and on a stale answer place again
    with the next metadata."""

    def run():
        for attempt, meta in enumerate(metas):
            if attempt:
                time.sleep(pause_before_retry)
            if group_commit.append(key=key, meta=meta, batches={PID: [item]}, write=log.write,
                                   linger_s=0, max_records=1000) is not None:
                return
        raise AssertionError("never written")

    return lambda: turn.run(run) if turn is not None else run()


def start(fn) -> threading.Thread:
    t = threading.Thread(target=fn)
    t.start()
    return t


def retry_race(key, first=None, second=None) -> list:
    """Two requests ("k", then "k+1") queue behind someone else's write; both are stale and placed
    again, the first one's retry later than the second's. With turns `first` and `second` from one
    lane, request order must still hold. What the partition holds at the end."""
    log = Log()
    log.hold.clear()
    busy = start(appender(log, key, None, "other", ["fresh"]))
    time.sleep(0.05)
    log.stale.add("old")
    a = start(appender(log, key, first, "k", ["old", "fresh"], pause_before_retry=0.1))
    time.sleep(0.05)
    b = start(appender(log, key, second, "k+1", ["old", "fresh"]))
    time.sleep(0.05)
    log.hold.set()
    for t in (busy, a, b):
        t.join(5)
    return log.rows[PID]


def test_a_later_request_waits_for_the_retry_of_an_earlier_one_queued_with_it():
    lane = ordering.Lane()
    assert retry_race(("test", "ordering-retry"), lane.turn(), lane.turn()) == ["other", "k", "k+1"]


def test_without_a_turn_the_quicker_retry_goes_first():
    """The same race without ordering: shows the test above can fail."""
    assert retry_race(("test", "ordering-none")) == ["other", "k+1", "k"]


def test_a_later_request_for_another_partition_does_not_wait():
    log, key = Log(), ("test", "ordering-other")
    lane = ordering.Lane()
    first, second = lane.turn(), lane.turn()
    first.carries, second.carries = frozenset({PID}), frozenset({PID + 1})
    # The first request has not appended yet; the second goes to another partition meanwhile.
    done = threading.Event()

    def other():
        group_commit.append(key=key, meta="m", batches={PID + 1: ["x"]}, write=log.write, linger_s=0, max_records=10)
        done.set()

    t = start(lambda: second.run(other))
    assert done.wait(2)
    t.join(2)
    first.finish()


def test_a_later_request_waits_for_an_earlier_one_that_carries_the_partition():
    log, key = Log(), ("test", "ordering-wait")
    lane = ordering.Lane()
    first, second = lane.turn(), lane.turn()
    first.carries = second.carries = frozenset({PID})
    b = start(lambda: second.run(lambda: group_commit.append(
        key=key, meta="m", batches={PID: ["k+1"]}, write=log.write, linger_s=0, max_records=10)))
    time.sleep(0.1)
    assert PID not in log.rows  # waits for the first request, which has not appended yet
    first.run(lambda: group_commit.append(key=key, meta="m", batches={PID: ["k"]}, write=log.write, linger_s=0,
                                          max_records=10))
    b.join(2)
    assert log.rows[PID] == ["k", "k+1"]
