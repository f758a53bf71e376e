"""The log's hot-path SQL: one entry (`append`, `durability`) over one small backend per database
vendor (`postgres.py`, `sqlite.py`).

The schema is Django's (models + migrations); the backends only move rows faster than ORM objects
can, one row per record batch. Both re-check the topic's metadata as they write, so the caller may place records with a
cached copy (`topic_for_append(cached=True)`); a stale copy costs a retry, never a misplaced record.
"""

import shutil
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from brokercore import clock
from brokercore.log.storage.meta import Batches, TopicMeta, topic_for_append, topic_meta_forget
from brokercore.log.storage.postgres import pg_append
from brokercore.log.storage.sqlite import sqlite_append, sqlite_synchronous_full

__all__ = ["Batches", "TopicMeta", "append", "durability", "storage_location", "topic_for_append", "topic_meta_forget"]

ACKS_ALL = -1
# acks -> PostgreSQL's synchronous_commit for the append's transaction (docs/ARCHITECTURE.md,
# "What acks mean"): acks=0 may lose the last commits if PostgreSQL crashes, acks=1 is durable on
# the primary, acks=all waits for what the server is configured to wait for (standbys included).
_SYNCHRONOUS_COMMIT = {ACKS_ALL: "on", 1: "local", 0: "off"}


def durability(conn: BaseDatabaseWrapper, acks: int) -> AbstractContextManager[None]:
    """Wraps a transaction that appends records with `acks` (parsed): on SQLite, acks=all commits
    with synchronous=FULL. Inside a caller's transaction it does nothing: that one's commit decides
    (open this around it). PostgreSQL sets synchronous_commit in the append's own statement."""
    if acks == ACKS_ALL and conn.vendor == "sqlite" and not conn.in_atomic_block:
        return sqlite_synchronous_full(conn)
    return nullcontext()


def append(conn: BaseDatabaseWrapper, batches: Batches, *, meta: TopicMeta, acks: int) -> dict[int, int] | None:
    """Reserve offsets for each partition and insert every batch on `conn`, in one transaction (or
    the caller's); return each partition id's base offset, or None when `meta` went stale (nothing
    written)."""
    now = clock.now()
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            return pg_append(cursor, batches, meta=meta, now=now, synchronous_commit=_SYNCHRONOUS_COMMIT[acks])
    with durability(conn, acks), transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        return sqlite_append(cursor, batches, meta=meta, now=now)


def storage_location() -> tuple[str, int, int]:
    """(where the log is kept, the volume's total bytes, its free bytes; -1 where unknown): the
    SQLite file and its disk, or the PostgreSQL database's address (without credentials)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        path = Path(str(db["NAME"])).resolve()
        try:
            usage = shutil.disk_usage(path.parent)
        except OSError:
            return str(path), -1, -1
        return str(path), usage.total, usage.free
    return f"{connection.vendor}://{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}", -1, -1
