"""The SQLite backend of the append: one UPDATE of the watermarks and a multi-row INSERT of the
batches inside the caller's BEGIN IMMEDIATE transaction, and acks=all's synchronous=FULL commit."""

import datetime
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from brokercore.log.storage.meta import (
    BATCH_COLUMNS,
    BATCH_TABLE,
    PARTITION_TABLE,
    TOPIC_TABLE,
    Batches,
    TopicMeta,
    batch_rows,
    spans,
)

logger = logging.getLogger(__name__)

# The metadata check of the SQLite path: the caller's transaction holds the database's write lock
# (BEGIN IMMEDIATE), so what it reads cannot change before the commit.
# The partitions written to must be the topic's own: SQLite reuses the ids of deleted rows, so a
# topic deleted and created again can have the old one's id, configs and partition count.
_SQLITE_CURRENT = (
    f"SELECT t.configs, (SELECT count(*) FROM {PARTITION_TABLE} WHERE topic_id = t.id), "
    f"(SELECT count(*) FROM {PARTITION_TABLE} WHERE topic_id = t.id AND id IN (SELECT value FROM json_each(%s))) "
    f"FROM {TOPIC_TABLE} t WHERE t.id = %s AND t.deleted_at IS NULL"
)

_ROW = "(" + ", ".join(["?"] * len(BATCH_COLUMNS)) + ")"
_INSERT = f"INSERT INTO {BATCH_TABLE} ({', '.join(BATCH_COLUMNS)}) VALUES "


def sqlite_append(
    cursor: CursorWrapper, batches: Batches, *, meta: TopicMeta, now: datetime.datetime
) -> dict[int, int] | None:
    """SQLite, inside the caller's transaction (BEGIN IMMEDIATE, so appends are already serialised
    by the database's write lock): check `meta` is still the topic's (else None, nothing written),
    advance the watermarks in one UPDATE, then insert the batches."""
    taken = spans(batches)
    pids = sorted(taken)
    cursor.execute(_SQLITE_CURRENT, [json.dumps(pids), meta.pk])
    row = cursor.fetchone()
    if (
        row is None or row[1] != len(meta.partition_ids) or row[2] != len(pids)
        or (json.loads(row[0] or "null") or {}) != meta.configs
    ):
        return None
    values = ", ".join(["(%s, %s, %s)"] * len(pids))
    params: list = [now]
    for pid in pids:
        params += [pid, *taken[pid]]
    # VALUES columns are column1..3; the sub-select names them.
    cursor.execute(
        f"UPDATE {PARTITION_TABLE} SET high_watermark = high_watermark + v.n, "
        f"size_bytes = size_bytes + v.bytes, last_append_at = %s "
        f"FROM (SELECT column1 AS pid, column2 AS n, column3 AS bytes FROM (VALUES {values}) AS vals) AS v "
        f"WHERE {PARTITION_TABLE}.id = v.pid RETURNING {PARTITION_TABLE}.id, {PARTITION_TABLE}.high_watermark",
        params,
    )
    bases = {pid: hw - taken[pid][0] for pid, hw in cursor.fetchall()}
    rows = batch_rows(batches, bases)
    # The sqlite3 cursor under Django's wrapper, with qmark SQL: one multi-row INSERT (SQLite
    # releases the GIL around every step, and executemany steps once per row; a group commit's
    # leader that must win the GIL back after each row from busy threads would crawl). Errors are
    # still Django's.
    per = max(1, 8000 // len(BATCH_COLUMNS))
    with cursor.db.wrap_database_errors:
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            sqlite3.Cursor.execute(cursor.cursor, _INSERT + ", ".join([_ROW] * len(chunk)), [v for r in chunk for v in r])
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
