"""Background work a server process does besides serving: the periodic log cleaner.

Runs in a daemon thread with its own database connection. Safe with several server processes
(see `log_clean`). Failures are logged and retried on the next tick, never fatal to the server.
"""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from brokercore.services.log import log_clean

logger = logging.getLogger(__name__)


class LogCleanerThread(threading.Thread):
    def __init__(self, interval_s: float | None = None) -> None:
        super().__init__(name="log-cleaner", daemon=True)
        self.interval_s = interval_s or settings.BROKER["LOG_CLEANER_INTERVAL_S"]
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            close_old_connections()
            try:
                stats = log_clean()
                if stats.retention_deleted or stats.compacted or stats.rows_purged or stats.topics_purged:
                    logger.info("log cleaner: %s", stats)
            except Exception:
                logger.exception("log cleaner pass failed; retrying in %ss", self.interval_s)
            finally:
                connection.close()

    def stop(self) -> None:
        self.stopped.set()
