"""The lab runner: a topic, one or two consumer groups, virtual consumers and a producer.

A lab owns its workers (`console.lab.workers`: virtual consumers, which are brokercore's
server-side consumers, and a producer), schedules the presets' actions, notices crashed members
expiring, and publishes its page's changes. Only brokercore services write; this module only
calls them.

Lab state lives in memory in this server process: with several server processes each runs (and
shows) its own labs. Bounds, so a lab left running cannot grow memory or the database without
limit: at most MAX_LABS running labs per process and MAX_CONSUMERS live consumers per lab, the
producer at most MAX_PRODUCER_RATE records/s, lab topics created with retention
(LAB_TOPIC_CONFIGS), a bounded log and consumer list per lab, and a lab stops itself after
IDLE_STOP_S without a page watching it and after MAX_LIFETIME_S in any case.

Tests set THREADED = False and drive a lab with `Lab.step()` and `tick()` instead of threads.
"""

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from brokercore import clock, events
from brokercore.coordinator.assignors import ASSIGNOR_NAMES
from brokercore.coordinator.read import group_get, group_list, group_member_ids
from brokercore.coordinator.server_members import group_assignor_set
from brokercore.coordinator.sweep import group_delete
from brokercore.errors import BrokerError, GroupIdNotFound, UnknownTopicOrPartition
from brokercore.log.read import partition_offsets_list
from brokercore.partitioner import partition_for_key
from brokercore.topics.read import topic_names_list
from brokercore.topics.service import topic_create, topic_delete, topic_partitions_add
from console.lab.presets import GroupSpec, Preset
from console.lab.workers import POLL_INTERVAL_S, SESSION_TIMEOUT_MS, LabGroup, Producer, VirtualConsumer

logger = logging.getLogger(__name__)

THREADED = True
SUPERVISOR_TICK_S = 1.0
PRESENCE_TICK_S = 15  # a running lab re-renders its page at least this often (how it knows it is watched)
MAX_LABS = 3  # running labs per server process
KEEP_LABS = 10  # running and stopped labs remembered per process
MAX_CONSUMERS = 8  # live consumers per lab
KEEP_CONSUMERS = 24  # consumers (live and ended) a lab remembers
MAX_CONSUMER_RATE = 1000
MAX_PRODUCER_RATE = 500
MAX_KEYS = 1000
MAX_PARTITIONS = 32
IDLE_STOP_S = 10 * 60
MAX_LIFETIME_S = 60 * 60
LAB_TOPIC_CONFIGS = {"retention.ms": 600_000, "retention.bytes": 1_048_576}
LOG_LENGTH = 40

TOO_MANY_LABS = "This server process already runs {limit} labs: stop one first."
TOO_MANY_CONSUMERS = "A lab runs at most {limit} consumers at once: stop or crash one first."
CONSUMER_RATE_RANGE = "A consumer processes 1 to {limit} records/s."
PRODUCER_RATE_RANGE = "The producer writes 1 to {limit} records/s."
KEYS_RANGE = "The producer writes over 1 to {limit} keys."
PARTITIONS_RANGE = "A lab topic has 1 to {limit} partitions."
PARTITIONS_ROOM = "A lab topic has at most {limit} partitions: {topic} has {now}, so add at most {room}."
CONSUMERS_RANGE = "Start with 0 to {limit} consumers."
UNKNOWN_ASSIGNOR = "Unknown assignor {name!r}: use one of {names}."
NOT_RUNNING = "This lab is stopped."
NO_SUCH_CONSUMER = "No running consumer named {name!r} in this lab."
NO_SUCH_GROUP = "This lab has no group {group_id!r}."


class LabError(Exception):
    """A lab request refused by the lab's own limits (the broker's errors are BrokerError)."""


def _in_range(value: object, low: int, high: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LabError(message.format(limit=high))
    return value


class Lab:
    """One demo: its topic, groups, consumers and producer. Methods are safe from any thread."""

    def __init__(self, *, lab_id: int, topic: str, groups: list[LabGroup], created_topic: bool, preset: Preset | None, partitions: int) -> None:
        self.id = lab_id
        self.topic = topic
        self.groups = groups
        self.created_topic = created_topic
        self.preset = preset
        self.threaded = THREADED
        self.interval_s = POLL_INTERVAL_S
        self.initial_partitions = partitions
        self.partitions = partitions
        self.keys = preset.keys if preset else 12
        self.consumers: list[VirtualConsumer] = []
        self.producer: Producer | None = None
        self.status = "running"  # running, stopping, stopped
        self.stop_reason = ""
        self.deleted = False
        self.started_ms = clock.now_ms()
        self.started_at = time.monotonic()
        self.seen_at = self.started_at
        self.published_at = 0.0
        self.log: deque[tuple[int, str]] = deque(maxlen=LOG_LENGTH)
        self.schedule: list[tuple[float, str, str]] = []  # (monotonic time, action, consumer name)
        self.generations: list[int | None] = []  # the groups' generations at the last tick
        self.lock = threading.RLock()

    # --- Reading -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def title(self) -> str:
        return self.preset.title if self.preset else f"Lab {self.id}"

    @property
    def mirror(self) -> bool:
        """With two groups, adding a consumer adds one to each, so the groups stay comparable."""
        return len(self.groups) > 1

    def live_consumers(self) -> list[VirtualConsumer]:
        with self.lock:
            return [c for c in self.consumers if c.live]

    def consumers_snapshot(self) -> list[VirtualConsumer]:
        with self.lock:
            return list(self.consumers)

    def group(self, group_id: str) -> LabGroup:
        for g in self.groups:
            if g.group_id == group_id:
                return g
        raise LabError(NO_SUCH_GROUP.format(group_id=group_id))

    def key_moves(self, partitions_now: int) -> list[dict]:
        """Where each of the producer's keys goes with the lab's first partition count and now."""
        rows = []
        for i in range(min(self.keys, 48)):
            key = f"key-{i}"
            before = partition_for_key(key.encode(), self.initial_partitions)
            after = partition_for_key(key.encode(), partitions_now)
            rows.append({"key": key, "before": before, "after": after, "moved": before != after})
        return rows

    def seen(self) -> None:
        """A page showed this lab: it is being watched, so it keeps running."""
        self.seen_at = time.monotonic()

    def note(self, text: str) -> None:
        self.log.appendleft((clock.now_ms(), text))

    def publish(self) -> None:
        self.published_at = time.monotonic()
        events.publish([events.lab_group(self.id)], "lab.changed", {"lab_id": self.id})

    # --- Changing --------------------------------------------------------------------------------

    @contextmanager
    def _change(self) -> Iterator[None]:
        """A change to a running lab (NOT_RUNNING otherwise): made under the lock, then published to
        its page; a change that fails publishes nothing."""
        with self.lock:
            if not self.running:
                raise LabError(NOT_RUNNING)
            yield
        self.publish()

    def consumer_add(self, *, rate: int, group_id: str | None = None) -> list[VirtualConsumer]:
        """Start a consumer in the given group; with no group, one in each of the lab's groups."""
        _in_range(rate, 1, MAX_CONSUMER_RATE, CONSUMER_RATE_RANGE)
        with self._change():
            targets = [self.group(group_id)] if group_id else list(self.groups)
            if len(self.live_consumers()) + len(targets) > MAX_CONSUMERS:
                raise LabError(TOO_MANY_CONSUMERS.format(limit=MAX_CONSUMERS))
            added = []
            for g in targets:
                c = VirtualConsumer(self, g, f"{g.prefix}{g.next_number}", rate)
                g.next_number += 1
                c.start()
                self.consumers.append(c)
                added.append(c)
                self.note(f"{c.name} joined {g.group_id} ({rate} records/s)")
            ended = [c for c in self.consumers if not c.live]
            for c in ended[: max(0, len(self.consumers) - KEEP_CONSUMERS)]:
                self.consumers.remove(c)
        return added

    def _consumer(self, name: str) -> VirtualConsumer:
        for c in self.consumers:
            if c.name == name and c.live:
                return c
        raise LabError(NO_SUCH_CONSUMER.format(name=name))

    def consumer_stop(self, name: str) -> None:
        with self._change():
            c = self._consumer(name)
            c.stop()
            self.note(f"{name} stopped: it leaves the group, which rebalances at once")

    def consumer_crash(self, name: str) -> None:
        with self._change():
            c = self._consumer(name)
            c.crash()
            self.note(f"{name} crashed: no more heartbeats; its session expires in {SESSION_TIMEOUT_MS // 1000} s")

    def partitions_add(self, add: int) -> tuple[int, int]:
        with self._change():
            before = len(partition_offsets_list(topic=self.topic))
            _in_range(add, 1, MAX_PARTITIONS, PARTITIONS_RANGE)
            total = before + add
            if total > MAX_PARTITIONS:
                room = max(0, MAX_PARTITIONS - before)
                raise LabError(PARTITIONS_ROOM.format(limit=MAX_PARTITIONS, topic=self.topic, now=before, room=room))
            topic_partitions_add(name=self.topic, count=total)
            self.partitions = total
            self.note(f"{self.topic}: partitions {before} → {total}; the groups notice on their next poll")
        return before, total

    def producer_start(self, *, rate: int, keys: int) -> None:
        _in_range(rate, 1, MAX_PRODUCER_RATE, PRODUCER_RATE_RANGE)
        _in_range(keys, 1, MAX_KEYS, KEYS_RANGE)
        with self._change():
            if self.producer is not None:
                self.producer.stop()
            self.producer = Producer(self, rate, keys)
            self.keys = keys
            self.producer.start()
            self.note(f"Producer: {rate} records/s over {keys} keys")

    def producer_stop(self) -> None:
        with self._change():
            if self.producer is not None and self.producer.running:
                self.producer.stop()
                self.note("Producer stopped")

    def assignor_set(self, *, group_id: str, assignor: str) -> None:
        if assignor not in ASSIGNOR_NAMES:
            raise LabError(UNKNOWN_ASSIGNOR.format(name=assignor, names=", ".join(ASSIGNOR_NAMES)))
        with self._change():
            g = self.group(group_id)
            if g.assignor != assignor:
                group_assignor_set(group_id=g.group_id, assignor=assignor)
                self.note(f"{g.group_id}: assignor {g.assignor} → {assignor}; every member rejoins")
                g.assignor = assignor

    def stop(self, *, reason: str, delete: bool = False) -> None:
        """Stop every thread (consumers leave), then, with delete, remove what the lab created."""
        with self.lock:
            if self.status == "running":
                self.status = "stopping"
                if self.producer is not None:
                    self.producer.stop()
                for c in self.consumers:
                    c.stop()
            workers = [*self.consumers, *([self.producer] if self.producer else [])]
        for w in workers:
            if w.thread is not None and w.thread is not threading.current_thread():
                w.thread.join(timeout=10)
        with self.lock:
            if self.status == "stopping":
                self.status = "stopped"
                self.stop_reason = reason
                self.note(f"Lab stopped: {reason}")
            if delete and not self.deleted:
                self._delete()
        self.publish()

    def _delete(self) -> None:
        for c in self.consumers:
            if c.status == "crashed" and c.member_id:
                c.leave()  # the crashed process "restarts" just to leave, so the group can go now
                c.status = "expired"
        for g in self.groups:
            if not g.created:
                continue  # someone else's group: the lab only deletes what it created
            try:
                group_delete(group_id=g.group_id)
            except GroupIdNotFound:
                pass
            except BrokerError as e:
                self.note(f"Kept group {g.group_id}: {e}")
        if self.created_topic:
            try:
                topic_delete(name=self.topic)
            except UnknownTopicOrPartition:
                pass
        self.deleted = True
        self.note("Deleted what the lab created")

    # --- Driving -------------------------------------------------------------------------------

    def step(self, dt: float | None = None) -> None:
        """One loop of every live consumer, then the producer (tests, instead of threads)."""
        dt = self.interval_s if dt is None else dt
        for c in self.live_consumers():
            c.step(dt)
        if self.producer is not None:
            self.producer.step(dt)

    def tick(self, now: float) -> None:
        """The supervisor's check: scheduled actions, crashed members expiring, auto-stop."""
        if not self.running:
            return
        for item in [s for s in self.schedule if s[0] <= now]:
            self.schedule.remove(item)
            _, action, name = item
            if action == "crash":
                try:
                    self.consumer_crash(name)
                except LabError:
                    pass
        if now - self.seen_at > IDLE_STOP_S:
            self.stop(reason=f"nobody watched it for {IDLE_STOP_S // 60} minutes")
            return
        if now - self.started_at > MAX_LIFETIME_S:
            self.stop(reason=f"it ran for {MAX_LIFETIME_S // 60} minutes, the most a lab runs")
            return
        changed = False
        crashed = [c for c in self.consumers_snapshot() if c.status == "crashed"]
        for g in {c.group.group_id for c in crashed}:
            present = set(group_member_ids(group_id=g))
            for c in crashed:
                if c.group.group_id == g and c.member_id not in present:
                    c.status = "expired"
                    self.note(f"{c.name}'s session expired: the coordinator removed it and the group rebalanced")
                    changed = True
        for w in self.consumers_snapshot():
            if w.thread is not None and not w.thread.is_alive() and w.live:
                w.status = "failed"
                changed = True
        # The page's lab panels (paused per rebalance, colours) follow the groups' generations.
        generations = []
        for g in self.groups:
            try:
                generations.append(group_get(group_id=g.group_id).generation)
            except GroupIdNotFound:
                generations.append(None)
        if generations != self.generations:
            self.generations = generations
            changed = True
        if changed or now - self.published_at >= PRESENCE_TICK_S:
            self.publish()


# --- This process's labs ---------------------------------------------------------------------------

_labs: dict[int, Lab] = {}
_registry_lock = threading.RLock()
_ids = itertools.count(1)
_supervisor: threading.Thread | None = None
_supervisor_stop = threading.Event()


def lab_get(lab_id: int) -> Lab | None:
    return _labs.get(lab_id)


def labs_list() -> list[Lab]:
    """This process's labs, newest first."""
    return sorted(_labs.values(), key=lambda lab: -lab.id)


def _fresh_id() -> int:
    """The next lab number whose default topic and groups do not exist yet (ids restart with the
    process, the topics they created may still be there)."""
    topics = set(topic_names_list())
    groups = {g.group_id for g in group_list()}
    while True:
        n = next(_ids)
        prefix = f"lab{n}-"
        if n not in _labs and not any(t.startswith(prefix) for t in topics) and not any(g.startswith(prefix) for g in groups):
            return n


def lab_start(
    *,
    preset: Preset | None = None,
    topic: str = "",
    partitions: int = 3,
    group: str = "",
    assignor: str = "range",
    consumers: int = 2,
    consumer_rate: int = 20,
    producer_rate: int = 10,
    keys: int = 12,
) -> Lab:
    """Create (or reuse) the topic and groups, start the consumers and the producer."""
    if preset is not None:
        partitions, consumers, consumer_rate = preset.partitions, preset.consumers, preset.consumer_rate
        producer_rate, keys = preset.producer_rate, preset.keys
        specs = preset.groups
    else:
        if assignor not in ASSIGNOR_NAMES:
            raise LabError(UNKNOWN_ASSIGNOR.format(name=assignor, names=", ".join(ASSIGNOR_NAMES)))
        specs = (GroupSpec("app", assignor, "c"),)
    _in_range(partitions, 1, MAX_PARTITIONS, PARTITIONS_RANGE)
    _in_range(consumers * len(specs), 0, MAX_CONSUMERS, CONSUMERS_RANGE)
    _in_range(consumer_rate, 1, MAX_CONSUMER_RATE, CONSUMER_RATE_RANGE)
    if producer_rate:
        _in_range(producer_rate, 1, MAX_PRODUCER_RATE, PRODUCER_RATE_RANGE)
    _in_range(keys, 1, MAX_KEYS, KEYS_RANGE)
    with _registry_lock:
        if sum(1 for lab in _labs.values() if lab.running) >= MAX_LABS:
            raise LabError(TOO_MANY_LABS.format(limit=MAX_LABS))
        lab_id = _fresh_id()
        topic = topic or f"lab{lab_id}-orders"
        try:
            existing = len(partition_offsets_list(topic=topic))
        except UnknownTopicOrPartition:
            existing = 0
        if not existing:
            topic_create(name=topic, partitions=partitions, configs=LAB_TOPIC_CONFIGS)
        known = {g.group_id for g in group_list()}
        groups = []
        for s in specs:
            group_id = group if preset is None and group else f"lab{lab_id}-{s.suffix}"
            groups.append(LabGroup(group_id=group_id, assignor=s.assignor, prefix=s.prefix, created=group_id not in known))
        lab = Lab(lab_id=lab_id, topic=topic, groups=groups, created_topic=not existing, preset=preset, partitions=existing or partitions)
        lab.keys = keys
        try:
            for g in groups:
                group_assignor_set(group_id=g.group_id, assignor=g.assignor)
            _labs[lab_id] = lab
            lab.note(f"Lab started on {topic} ({lab.partitions} partitions)")
            for _ in range(consumers):
                for g in groups:
                    lab.consumer_add(rate=consumer_rate, group_id=g.group_id)
            if producer_rate:
                lab.producer_start(rate=producer_rate, keys=keys)
        except Exception:
            lab.stop(reason="it could not start", delete=True)
            _labs.pop(lab_id, None)
            raise
        if preset is not None and preset.crash_after_s is not None:
            victim = f"{groups[0].prefix}2"
            lab.schedule.append((lab.started_at + preset.crash_after_s, "crash", victim))
        _forget_old_labs()
        _supervisor_ensure()
    return lab


def _forget_old_labs() -> None:
    stopped = sorted((lab for lab in _labs.values() if not lab.running), key=lambda lab: lab.id)
    for lab in stopped[: max(0, len(_labs) - KEEP_LABS)]:
        _labs.pop(lab.id, None)


# --- The supervisor: scheduled actions, expiry notices and auto-stop, once a second ---------------


def tick(now: float | None = None) -> None:
    now = time.monotonic() if now is None else now
    for lab in list(_labs.values()):
        try:
            lab.tick(now)
        except Exception:
            logger.exception("lab %s: supervisor tick failed", lab.id)


def _supervise() -> None:
    global _supervisor
    while not _supervisor_stop.wait(SUPERVISOR_TICK_S):
        try:
            tick()
        finally:
            connection.close()
        with _registry_lock:
            if not any(lab.running for lab in _labs.values()):
                _supervisor = None
                return


def _supervisor_ensure() -> None:
    global _supervisor
    if not THREADED:
        return
    with _registry_lock:
        if _supervisor is None or not _supervisor.is_alive():
            _supervisor_stop.clear()
            _supervisor = threading.Thread(target=_supervise, name="lab-supervisor", daemon=True)
            _supervisor.start()


def shutdown() -> None:
    """Stop every lab and the supervisor, and forget them (process exit, tests)."""
    global _supervisor
    for lab in list(_labs.values()):
        lab.stop(reason="the server is shutting down")
    _supervisor_stop.set()
    thread = _supervisor
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout=10)
    _supervisor = None
    _labs.clear()
