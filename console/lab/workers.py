"""The lab's workers: virtual consumers and the producer, each a loop in its own thread.

A virtual consumer is brokercore's server-side consumer (`ServerConsumer`), so a real member of
the group coordinator: every loop it polls (which heartbeats, and rejoins or revokes when the
coordinator asks) for at most what its processing rate allows, then commits what it read. Stop =
close (leave the group), then the thread ends; crash = the thread ends without leaving, so the
coordinator expires the member once its session timeout passes. The producer appends N records/s
over a fixed set of keys. Only brokercore services write; this module only calls them.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection

from brokercore import clock
from brokercore.coordinator.consumer import ConsumerStateError, ServerConsumer
from brokercore.coordinator.group import tp_split
from brokercore.errors import IllegalGeneration, RebalanceInProgress, UnknownMemberId
from brokercore.log.append import records_append
from brokercore.types import RecordIn

if TYPE_CHECKING:
    from console.lab.runner import Lab

logger = logging.getLogger(__name__)

SESSION_TIMEOUT_MS = 6000  # the broker's minimum (group.min.session.timeout.ms): crashes expire fast
POLL_INTERVAL_S = 0.5  # a consumer's loop period
POLL_MAX_BYTES = 1_048_576  # a virtual consumer's fetch size per poll (its rate bounds it first)
PRODUCER_INTERVAL_S = 0.25
LIVE = ("running", "leaving")


@dataclass
class LabGroup:
    group_id: str
    assignor: str
    prefix: str
    created: bool = True  # the lab created it (so "stop and delete" may delete it)
    next_number: int = 1


class _Worker:
    """A loop in its own thread (THREADED) or stepped by the caller; closes its DB connection."""

    interval_s = POLL_INTERVAL_S

    def __init__(self, lab: "Lab", name: str) -> None:
        self.lab = lab
        self.name = name
        self.thread: threading.Thread | None = None
        self.error = ""
        self.failures = 0
        self._stopped = threading.Event()

    def _start_thread(self) -> None:
        if self.lab.threaded:
            self.thread = threading.Thread(target=self._run, name=f"lab-{self.lab.id}-{self.name}", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        try:
            while not self._stopped.wait(self.interval_s):
                now = time.monotonic()
                try:
                    self.step(now - last)
                    self.failures = 0
                except Exception as e:  # a lab thread must never die silently: show it, retry, give up
                    self.failures += 1
                    self.error = str(e)
                    logger.warning("lab %s %s: %s", self.lab.id, self.name, e)
                    if self.failures >= 20:
                        self._failed()
                        break
                last = now
        finally:
            try:
                self._finish()
            except Exception:
                logger.exception("lab %s %s could not finish cleanly", self.lab.id, self.name)
            finally:
                connection.close()
            self.lab.publish()

    def step(self, dt: float) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        pass

    def _failed(self) -> None:
        pass


class VirtualConsumer(_Worker):
    """A consumer in one group that polls at most `rate` records/s and commits what it read.

    Its Kafka behaviour is brokercore's ServerConsumer (join, poll with heartbeat and rejoin,
    commit, close); this class adds only the processing rate and what the lab page shows."""

    def __init__(self, lab: "Lab", group: LabGroup, name: str, rate: int) -> None:
        super().__init__(lab, name)
        self.group = group
        self.rate = rate
        self.interval_s = lab.interval_s
        self.consumer = ServerConsumer(
            group_id=group.group_id,
            client_id=name,
            client_host="lab",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            offset_reset="earliest",
            auto_commit=False,  # it commits after every poll instead, like a commitSync loop
        )
        self.status = "joining"  # running, leaving, left, crashed, expired, failed
        self.processed = 0
        self.tokens = 0.0
        self.committed: dict[str, int] = {}
        self.crashed_ms: int | None = None
        self._leave_on_stop = True

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def member_id(self) -> str | None:
        """The coordinator's member id, None while not a member."""
        return self.consumer.member_id or None

    @property
    def generation(self) -> int:
        return -1 if self.consumer.generation is None else self.consumer.generation

    def start(self) -> None:
        # Join in the caller's thread, so the member (and its group) exist when the page loads.
        self.consumer.subscribe(topics=[self.lab.topic])
        self.status = "running"
        self._start_thread()

    def step(self, dt: float) -> None:
        if not self.live:
            return
        # A token bucket: at most `rate` records/s on average, bursts of two loop periods.
        self.tokens = min(self.tokens + self.rate * dt, max(1.0, 2 * self.rate * self.interval_s))
        # Below one token the poll only heartbeats (and rejoins or revokes when asked).
        polled = self.consumer.poll(wait_ms=0, max_bytes=POLL_MAX_BYTES, max_records=int(self.tokens))
        if polled.rejoined:
            # The coordinator had dropped the member (its session expired while this process
            # stalled, or the group was deleted): it rejoined under a new member id.
            self.committed = {}
            self.lab.note(f"{self.name} was no longer a member and rejoins")
        count = len(polled.records)
        self.tokens -= count
        self.processed += count
        if polled.positions and polled.positions != self.committed:
            try:
                self.consumer.commit({tp_split(k): v for k, v in polled.positions.items()})
                self.committed = dict(polled.positions)
            except (IllegalGeneration, RebalanceInProgress, UnknownMemberId, ConsumerStateError):
                pass  # rebalanced meanwhile: the partition's next owner starts from the last commit

    def stop(self) -> None:
        """Leave the group gracefully (the group rebalances at once), then end."""
        if not self.live:
            return
        self.status = "leaving"
        self._stopped.set()
        if self.thread is None:
            self._finish()

    def crash(self) -> None:
        """End without leaving: the member stays until its session times out."""
        if not self.live:
            return
        self._leave_on_stop = False
        self.crashed_ms = clock.now_ms()
        self.status = "crashed"
        self._stopped.set()

    def leave(self) -> None:
        """Leave the group now (close the consumer); a member already gone is fine."""
        self.consumer.close()

    def _finish(self) -> None:
        if self._leave_on_stop and self.status in ("leaving", "failed"):
            self.leave()
        if self.status == "leaving":
            self.status = "left"

    def _failed(self) -> None:
        self.status = "failed"
        self.lab.note(f"{self.name} failed: {self.error}")


class Producer(_Worker):
    """Appends `rate` records/s with keys key-0 .. key-(keys-1), round robin over the keys."""

    interval_s = PRODUCER_INTERVAL_S

    def __init__(self, lab: "Lab", rate: int, keys: int) -> None:
        super().__init__(lab, "producer")
        self.rate = rate
        self.keys = keys
        self.produced = 0
        self.seq = 0
        self.tokens = 0.0
        self.running = False

    def start(self) -> None:
        self.running = True
        self._start_thread()

    def step(self, dt: float) -> None:
        if not self.running:
            return
        self.tokens = min(self.tokens + self.rate * dt, 2.0 * self.rate)
        n = int(self.tokens)
        if n < 1:
            return
        batch = []
        for _ in range(n):
            key = f"key-{self.seq % self.keys}"
            batch.append(RecordIn(key=key.encode(), value=f'{{"order": {self.seq}, "key": "{key}"}}'.encode()))
            self.seq += 1
        records_append(topic=self.lab.topic, records=batch, acks=1)
        self.tokens -= n
        self.produced += n

    def stop(self) -> None:
        self.running = False
        self._stopped.set()

    def _failed(self) -> None:
        self.running = False
        self.lab.note(f"The producer failed: {self.error}")
