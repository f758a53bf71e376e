"""Background work a server process does besides serving requests.

Daemon threads, each with its own database connection, run jobs each on its own period: the broker
node heartbeat and sweep (nodes silent past the session timeout are marked dead; in a thread of
their own), the group sweeper (expire silent members, finish timed-out rebalances), the lag and
throughput samplers, the log cleaner (retention, compaction, physical deletes), and whatever jobs
the composition root adds (console's `serve` adds the expiry of idle REST consumer instances). All are safe with several server processes. A failure is logged and
retried on the next tick, never fatal to the server.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import close_old_connections, connection

from brokercore.cluster.nodes import node_heartbeat, nodes_sweep, throughput_sample
from brokercore.coordinator.lag import lag_samples_record
from brokercore.coordinator.sweep import groups_sweep
from brokercore.log.cleaner import log_clean

logger = logging.getLogger(__name__)


class PeriodicThread(threading.Thread):
    """A daemon thread running `jobs` (name, period in seconds, callable), each on its own period."""

    def __init__(self, name: str, jobs: list[tuple[str, float, Callable[[], object]]]) -> None:
        super().__init__(name=name, daemon=True)
        self.jobs = jobs
        self.tick_s = min(period for _, period, _ in self.jobs)
        self.stopped = threading.Event()

    def run_due(self, last_run: dict[str, float], now: float) -> None:
        close_old_connections()
        try:
            for name, period, job in self.jobs:
                if now - last_run.get(name, 0.0) < period:
                    continue
                last_run[name] = now
                try:
                    result = job()
                    logger.debug("%s: %s", name, result)
                except Exception:
                    logger.exception("%s failed; retrying next period", name)
        finally:
            connection.close()

    def run(self) -> None:
        last_run: dict[str, float] = {}
        while not self.stopped.wait(self.tick_s):
            self.run_due(last_run, time.monotonic())

    def stop(self) -> None:
        self.stopped.set()


class MaintenanceThread(PeriodicThread):
    """The housekeeping jobs, plus (started and stopped with it) the node heartbeat thread.

    The heartbeat has a thread of its own: a long log-cleaner pass must not silence this node
    past its session timeout, which would move its partitions to other nodes.
    """

    def __init__(self, extra_jobs: Sequence[tuple[str, float, Callable[[], object]]] = ()) -> None:
        b = settings.BROKER
        super().__init__("broker-maintenance", [
            ("throughput sampler", 5, throughput_sample),
            ("group sweeper", b["GROUP_SWEEP_INTERVAL_S"], groups_sweep),
            ("lag sampler", b["LAG_SAMPLE_INTERVAL_S"], lag_samples_record),
            ("log cleaner", b["LOG_CLEANER_INTERVAL_S"], log_clean),
            *extra_jobs,
        ])
        # Heartbeats the node(s) this process registered (node_register at start); a process
        # that registered none heartbeats nothing but still sweeps: any live process may find a
        # dead node and announce it.
        self.nodes = PeriodicThread("broker-node-heartbeat", [
            ("node heartbeat", b["NODE_HEARTBEAT_INTERVAL_S"], node_heartbeat),
            ("node sweeper", b["NODE_HEARTBEAT_INTERVAL_S"], nodes_sweep),
        ])

    def start(self) -> None:
        self.nodes.start()
        super().start()

    def stop(self) -> None:
        self.nodes.stop()
        super().stop()
