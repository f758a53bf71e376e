"""Hot-path SQL for the log, one small backend per database vendor.

The schema is Django's (models + migrations); these functions only move rows faster than ORM
objects can: an `UPDATE ... RETURNING` to reserve offsets and a bulk insert of the batch (binary
COPY on PostgreSQL, executemany elsewhere). All SQL here is valid on PostgreSQL and SQLite.
"""

import json
from collections.abc import Sequence

from django.db import connection

from brokercore.models import Partition, Record

RECORD_TABLE = Record._meta.db_table
PARTITION_TABLE = Partition._meta.db_table
RECORD_COLUMNS = ("partition_id", "offset", "timestamp", "timestamp_type", "key", "value", "headers", "size")

# (partition_id, offset, timestamp, timestamp_type, key, value, headers list or None, size)
Row = tuple[int, int, int, int, bytes | None, bytes | None, list | None, int]


def offsets_reserve(cursor, *, partition_id: int, count: int, size: int, now) -> int:
    """Advance the partition's high watermark by `count`; return the first reserved offset.

    The UPDATE takes the partition row lock until commit, which is what serialises appends to one
    partition and keeps offsets gapless and in commit order.
    """
    cursor.execute(
        f"UPDATE {PARTITION_TABLE} SET high_watermark = high_watermark + %s, "
        "size_bytes = size_bytes + %s, last_append_at = %s WHERE id = %s RETURNING high_watermark",
        [count, size, now, partition_id],
    )
    (high_watermark,) = cursor.fetchone()
    return high_watermark - count


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
