"""The broker's clock, in one place so tests can move time (session expiry, retention)."""

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def now() -> datetime:
    return datetime.fromtimestamp(now_ms() / 1000, tz=UTC)
