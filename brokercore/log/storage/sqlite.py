"""The SQLite backend of the append: one UPDATE of the watermarks and multi-row INSERTs inside the
caller's BEGIN IMMEDIATE transaction, and acks=all's synchronous=FULL commit."""

import datetime
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from brokercore.log.storage.meta import PARTITION_TABLE, RECORD_COLUMNS, RECORD_TABLE, TOPIC_TABLE, Item, TopicMeta

logger = logging.getLogger(__name__)

_sqlite_inserts: dict[int, str] = {}  # rows -> the multi-row INSERT for that many

# The metadata check of the SQLite path: the caller's transaction holds the database's write lock
# (BEGIN IMMEDIATE), so what it reads cannot change before the commit.
_SQLITE_CURRENT = (
    f"SELECT t.configs, (SELECT count(*) FROM {PARTITION_TABLE} WHERE topic_id = t.id) "
    f"FROM {TOPIC_TABLE} t WHERE t.id = %s AND t.deleted_at IS NULL"
)


def sqlite_append(
    cursor: CursorWrapper, batches: dict[int, list[Item]], *, meta: TopicMeta, timestamp_type: int, now: datetime.datetime
) -> dict[int, int] | None:
    """SQLite, inside the caller's transaction (BEGIN IMMEDIATE, so appends are already serialised
    by the database's write lock): check `meta` is still the topic's (else None, nothing written),
    advance the watermarks in one UPDATE, then executemany."""
    cursor.execute(_SQLITE_CURRENT, [meta.pk])
    row = cursor.fetchone()
    if row is None or row[1] != len(meta.partition_ids) or (json.loads(row[0] or "null") or {}) != meta.configs:
        return None
    pids = sorted(batches)
    values = ", ".join(["(%s, %s, %s)"] * len(pids))
    params: list = [now]
    for pid in pids:
        params += [pid, len(batches[pid]), sum(i[4] for i in batches[pid])]
    # VALUES columns are column1..3; the sub-select names them.
    cursor.execute(
        f"UPDATE {PARTITION_TABLE} SET high_watermark = high_watermark + v.n, "
        f"size_bytes = size_bytes + v.bytes, last_append_at = %s "
        f"FROM (SELECT column1 AS pid, column2 AS n, column3 AS bytes FROM (VALUES {values}) AS vals) AS v "
        f"WHERE {PARTITION_TABLE}.id = v.pid RETURNING {PARTITION_TABLE}.id, {PARTITION_TABLE}.high_watermark",
        params,
    )
    bases = {pid: hw - len(batches[pid]) for pid, hw in cursor.fetchall()}
    params = [
        v
        for pid in pids
        for n, (ts, key, value, headers, size) in enumerate(batches[pid])
        for v in (pid, bases[pid] + n, ts, timestamp_type, key, value, None if headers is None else json.dumps(headers), size)
    ]
    width = len(RECORD_COLUMNS)
    step = _sqlite_rows_per_insert(cursor) * width
    # The sqlite3 cursor under Django's wrapper, with qmark SQL: Django's %s-to-? rewrite of a
    # statement with thousands of parameters would cost more than the insert. Errors are still
    # Django's.
    raw = cursor.cursor
    with cursor.db.wrap_database_errors:
        for i in range(0, len(params), step):
            chunk = params[i : i + step]
            sqlite3.Cursor.execute(raw, _sqlite_insert(len(chunk) // width), chunk)
    return bases


# The level console/settings.py's init_command gives every SQLite connection.
SQLITE_SYNCHRONOUS_DEFAULT = "NORMAL"


@contextmanager
def sqlite_synchronous_full(conn: BaseDatabaseWrapper) -> Iterator[None]:
    """Transactions committed inside fsync the WAL before COMMIT returns (PRAGMA synchronous=FULL);
    the connection goes back to its default after. SQLite refuses the pragma inside a
    transaction, so this wraps the caller's whole transaction."""
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS_DEFAULT}")
        except DatabaseError:
            # What was committed inside stays committed and must be reported so; a connection
            # that cannot take the pragma is not reused (a new one starts at the default).
            logger.warning("Could not restore synchronous=%s; closing the connection.", SQLITE_SYNCHRONOUS_DEFAULT, exc_info=True)
            conn.close()


# Multi-row INSERTs rather than executemany: the sqlite3 module releases the GIL around every
# step, and executemany steps once per row. A thread that writes for others (group commit) and
# has to win the GIL back after each row from busy threads would crawl; one step per chunk does not.
_SQLITE_INSERT_ROW = "(" + ", ".join(["?"] * len(RECORD_COLUMNS)) + ")"


def _sqlite_insert(rows: int) -> str:
    sql = _sqlite_inserts.get(rows)
    if sql is None:
        columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
        sql = f"INSERT INTO {RECORD_TABLE} ({columns}) VALUES " + ", ".join([_SQLITE_INSERT_ROW] * rows)
        if len(_sqlite_inserts) < 64:  # the common sizes: small groups and full chunks
            _sqlite_inserts[rows] = sql
    return sql


def _sqlite_rows_per_insert(cursor: CursorWrapper) -> int:
    """Rows per INSERT within SQLite's limit on bound parameters (32766 since 3.32, 999 before)."""
    limit = cursor.db.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(limit, 8000) // len(RECORD_COLUMNS))

