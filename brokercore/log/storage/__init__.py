"""The log's hot-path SQL: one entry (`append`, `durability`) over one small backend per database
vendor (`postgres.py`, `sqlite.py`).

The schema is Django's (models + migrations); the backends only move rows faster than ORM objects
can, one row per record batch. Both re-check the topic's metadata as they write, so the caller may place records with a
cached copy (`topic_for_append(cached=True)`); a stale copy costs a retry, never a misplaced record.
"""

from contextlib import AbstractContextManager, nullcontext

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from brokercore import clock
from brokercore.log.storage.meta import Batches, TopicMeta, topic_for_append, topic_meta_forget
from brokercore.log.storage.postgres import pg_append
from brokercore.log.storage.sqlite import sqlite_append, sqlite_synchronous_full

__all__ = ["Batches", "TopicMeta", "append", "durability", "topic_for_append", "topic_meta_forget"]

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
