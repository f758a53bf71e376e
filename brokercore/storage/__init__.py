"""Hot-path SQL for the log, one small backend per database vendor.

The schema is Django's (models + migrations); these functions only move rows faster than ORM
objects can: an `UPDATE ... RETURNING` to reserve offsets and a bulk insert of the batch (binary
COPY on PostgreSQL, executemany elsewhere). All SQL here is valid on PostgreSQL and SQLite.
"""

import json
import uuid
from collections.abc import Sequence

from django.db import connection

from brokercore.models import Partition, Record

RECORD_TABLE = Record._meta.db_table
PARTITION_TABLE = Partition._meta.db_table
RECORD_COLUMNS = ("partition_id", "offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")

# (partition_id, offset, timestamp, timestamp_type, key, value, headers list or None, size)
Row = tuple[int, int, int, int, bytes | None, bytes | None, list | None, int]


TOPIC_TABLE = Partition._meta.get_field("topic").related_model._meta.db_table


def topic_for_append(cursor, name: str) -> tuple[int, str, int, dict, list[int]] | None:
    """(topic pk, topic id, replication factor, config overrides, partition pks by index) in one
    query; None when no live topic has that name. The append path's only read before it writes."""
    cursor.execute(
        f'SELECT t.id, t.topic_id, t.replication_factor, t.configs, p.id FROM {TOPIC_TABLE} t '
        f'JOIN {PARTITION_TABLE} p ON p.topic_id = t.id '
        f'WHERE t.name = %s AND t.deleted_at IS NULL ORDER BY p."index"',
        [name],
    )
    rows = cursor.fetchall()
    if not rows:
        return None
    pk, topic_id, rf, configs, _ = rows[0]
    if isinstance(configs, str):  # SQLite returns JSON as text
        configs = json.loads(configs)
    # SQLite stores UUIDs as 32 hex digits; channel group names use the canonical form.
    return pk, str(uuid.UUID(str(topic_id))), rf, configs or {}, [r[4] for r in rows]


def offsets_reserve_many(cursor, reservations: dict[int, tuple[int, int]], now) -> dict[int, int]:
    """Advance several partitions' high watermarks in one statement; return each first offset.

    `reservations` maps partition pk -> (record count, bytes). The rows are locked in ascending
    pk order first (PostgreSQL), so two batches touching the same partitions can never deadlock;
    the locks are held until commit, which is what serialises appends to one partition.
    """
    pids = sorted(reservations)
    if connection.vendor == "postgresql":
        cursor.execute(
            f"SELECT id FROM {PARTITION_TABLE} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [pids]
        )
    values = ", ".join(["(%s, %s, %s)"] * len(pids))
    params: list = [now]
    for pid in pids:
        params += [pid, *reservations[pid]]
    # VALUES columns are column1..3 on both databases; the sub-select names them portably.
    cursor.execute(
        f"UPDATE {PARTITION_TABLE} SET high_watermark = high_watermark + v.n, "
        f"size_bytes = size_bytes + v.bytes, last_append_at = %s "
        f"FROM (SELECT column1 AS pid, column2 AS n, column3 AS bytes FROM (VALUES {values}) AS vals) AS v "
        f"WHERE {PARTITION_TABLE}.id = v.pid RETURNING {PARTITION_TABLE}.id, {PARTITION_TABLE}.high_watermark",
        params,
    )
    return {pid: hw - reservations[pid][0] for pid, hw in cursor.fetchall()}


def records_insert(cursor, rows: Sequence[Row], *, table: str = RECORD_TABLE) -> None:
    if connection.vendor == "postgresql":
        _copy_binary(cursor, rows, table)
    else:
        columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [r if r[6] is None else (*r[:6], json.dumps(r[6]), r[7]) for r in rows],
        )


def _copy_binary(cursor, rows: Sequence[Row], table: str) -> None:
    from psycopg.types.json import Jsonb

    columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int8", "int8", "int2", "bytea", "bytea", "jsonb", "int4"])
        for row in rows:
            copy.write_row(row if row[6] is None else (*row[:6], Jsonb(row[6]), row[7]))


# (timestamp, key, value, headers list or None, size) of one record, in produce order
Item = tuple[int, bytes | None, bytes | None, list | None, int]


def batch_append(cursor, batches: dict[int, list[Item]], *, timestamp_type: int, now) -> dict[int, int]:
    """Reserve offsets in every touched partition and write the records; return base offsets.

    Runs inside the caller's transaction. PostgreSQL: lock the partition rows in id order, then
    one statement in which the UPDATE ... RETURNING that advances the watermarks feeds the INSERT
    of the rows, whose offsets the database computes from the reserved base. Elsewhere: one
    UPDATE, then executemany.
    """
    total = sum(len(items) for items in batches.values())
    if connection.vendor == "postgresql" and total < PG_COPY_FROM:
        return _batch_append_postgres(cursor, batches, timestamp_type, now)
    # Large batches: COPY beats INSERT ... SELECT unnest(...) once rows dominate round trips.
    bases = offsets_reserve_many(cursor, {pid: (len(items), sum(i[4] for i in items)) for pid, items in batches.items()}, now)
    rows = [
        (pid, bases[pid] + n, ts, timestamp_type, key, value, headers, size)
        for pid in sorted(batches)
        for n, (ts, key, value, headers, size) in enumerate(batches[pid])
    ]
    records_insert(cursor, rows)
    return bases


_PG_APPEND = f"""
WITH v AS (
    SELECT * FROM unnest(%b::int8[], %b::int8[], %b::int8[]) AS v(pid, n, bytes)
), reserved AS (
    UPDATE {PARTITION_TABLE} AS p
    SET high_watermark = p.high_watermark + v.n, size_bytes = p.size_bytes + v.bytes, last_append_at = %b
    FROM v WHERE p.id = v.pid
    RETURNING p.id, p.high_watermark - v.n AS base
), written AS (
    INSERT INTO {RECORD_TABLE} (partition_id, "offset", "timestamp", timestamp_type, key, value, headers, size)
    SELECT r.pid, reserved.base + r.idx, r.ts, %b, r.k, r.v, r.h, r.sz
    FROM unnest(%b::int8[], %b::int8[], %b::int8[], %b::bytea[], %b::bytea[], %b::jsonb[], %b::int4[])
         AS r(pid, idx, ts, k, v, h, sz)
    JOIN reserved ON reserved.id = r.pid
)
SELECT id, base FROM reserved
"""


# From this many records on, a PostgreSQL batch goes in by binary COPY (measured crossover).
PG_COPY_FROM = 300

_PG_LOCK = f"SELECT id FROM {PARTITION_TABLE} WHERE id = ANY(%b::int8[]) ORDER BY id FOR NO KEY UPDATE"


def _batch_append_postgres(cursor, batches: dict[int, list[Item]], timestamp_type: int, now) -> dict[int, int]:
    import psycopg
    from psycopg.types.json import Jsonb

    pids = sorted(batches)
    counts = [len(batches[p]) for p in pids]
    sizes = [sum(i[4] for i in batches[p]) for p in pids]
    r_pid, r_idx, r_ts, r_key, r_value, r_headers, r_size = [], [], [], [], [], [], []
    for pid in pids:
        for n, (ts, key, value, headers, size) in enumerate(batches[pid]):
            r_pid.append(pid)
            r_idx.append(n)
            r_ts.append(ts)
            r_key.append(key)
            r_value.append(value)
            r_headers.append(None if headers is None else Jsonb(headers))
            r_size.append(size)
    # A server-side-binding psycopg cursor on the same connection (and transaction); %b sends the
    # arrays as binary parameters instead of quoting them into the SQL text.
    with psycopg.Cursor(cursor.connection) as raw:
        # Lock the partition rows in ascending id order first: the UPDATE below locks rows in
        # whatever order its join produces, and two batches locking in different orders deadlock.
        raw.execute(_PG_LOCK, [pids], prepare=True)
        raw.execute(
            _PG_APPEND,
            [pids, counts, sizes, now, timestamp_type, r_pid, r_idx, r_ts, r_key, r_value, r_headers, r_size],
            prepare=True,  # parsed and planned once per connection, not once per batch
        )
        return {pid: base for pid, base in raw.fetchall()}

