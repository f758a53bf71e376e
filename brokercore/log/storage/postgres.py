"""The PostgreSQL backend of the append: the whole append as one statement (a watermark
`UPDATE ... RETURNING` feeding `INSERT ... SELECT unnest(...)` of binary arrays), or for large
batches a reserving UPDATE followed by binary COPY. Both re-check the topic's metadata as they
write, so the caller may use a cached copy."""

import datetime
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import connection
from django.db.backends.utils import CursorWrapper

from brokercore.log.storage.meta import PARTITION_TABLE, RECORD_COLUMNS, RECORD_TABLE, TOPIC_TABLE, Item, Row, TopicMeta

if TYPE_CHECKING:  # psycopg is imported where used, as below; these name its types only
    import psycopg
    from psycopg.adapt import Dumper

_BYTEA_OID, _INT4_OID, _INT8_OID = 17, 23, 20  # PostgreSQL's type oids of the binary arrays


def copy_binary(cursor: CursorWrapper, rows: Sequence[Row], table: str) -> None:
    from psycopg.types.json import Jsonb

    columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int8", "int8", "int2", "bytea", "bytea", "jsonb", "int4"])
        for row in rows:
            copy.write_row(row if row[6] is None else (*row[:6], Jsonb(row[6]), row[7]))


# From this many records on, a PostgreSQL batch goes in by binary COPY after a reserving UPDATE
# (four round trips, but PostgreSQL inserts COPY's rows faster than INSERT ... SELECT's); below,
# one statement (_PG_APPEND) does it all in one round trip. Measured crossover (batch of 8
# partitions, 116-byte records): 1.7 vs 2.0 ms at 100 records, even at 300, 7.8 vs 8.2 at 1000.
PG_COPY_FROM = 300


# The metadata check of both PostgreSQL paths (see _PG_APPEND).
_PG_CURRENT = f"""
    SELECT 1 FROM {TOPIC_TABLE} t
    WHERE t.id = {{pk}} AND t.deleted_at IS NULL AND t.configs = {{configs}}::jsonb
      AND (SELECT count(*) FROM {PARTITION_TABLE} WHERE topic_id = t.id) = {{count}}
"""


# Below PG_COPY_FROM: one statement does the whole append, so in autocommit it is its own transaction: no BEGIN and
# COMMIT round trips, one network round trip per batch.
# - `current` re-checks the metadata the records were placed and validated with (the topic is
#   live, has that many partitions and those configs); if not, nothing is locked or written and
#   the statement returns no rows, and the caller retries with fresh metadata.
# - `locked` takes the partition row locks in ascending id order before the UPDATE needs them:
#   the UPDATE locks in whatever order its join produces, and two batches locking in different
#   orders deadlock. The UPDATE can only reach a row after `locked` emitted it, so every append
#   acquires its locks in id order.
# - `reserved` advances the watermarks; its RETURNING feeds the INSERT the base offsets.
# - The records arrive as columns in partition order; `v.start` is where each partition's run
#   begins, so a record's offset is its partition's base plus its place in the run. A column
#   that is NULL throughout (no headers, one timestamp) is sent as one NULL instead of an
#   array: unnest pads it, and `coalesce` supplies the common timestamp.
# - `sync` sets synchronous_commit for this transaction only (the acks level); PostgreSQL reads
#   it at commit, after the statement.
_PG_APPEND = f"""
WITH current AS ({_PG_CURRENT.format(pk="%b", configs="%b", count="%b")}), locked AS (
    SELECT id FROM {PARTITION_TABLE}
    WHERE id = ANY(%b::int8[]) AND EXISTS (SELECT 1 FROM current)
    ORDER BY id FOR NO KEY UPDATE
), v AS (
    SELECT * FROM unnest(%b::int8[], %b::int8[], %b::int8[], %b::int8[]) AS v(pid, n, bytes, start)
), reserved AS (
    UPDATE {PARTITION_TABLE} AS p
    SET high_watermark = p.high_watermark + v.n, size_bytes = p.size_bytes + v.bytes, last_append_at = %b
    FROM v WHERE p.id = v.pid AND p.id IN (SELECT id FROM locked)
    RETURNING p.id, p.high_watermark - v.n AS base, v.start, v.n
), written AS (
    INSERT INTO {RECORD_TABLE} (partition_id, "offset", "timestamp", timestamp_type, key, value, headers, size)
    SELECT reserved.id, reserved.base + (r.ord - 1 - reserved.start), coalesce(r.ts, %b), %b, r.k, r.v, r.h, r.sz
    FROM unnest(%b::int8[], %b::bytea[], %b::bytea[], %b::jsonb[], %b::int4[]) WITH ORDINALITY AS r(ts, k, v, h, sz, ord)
    JOIN reserved ON r.ord > reserved.start AND r.ord <= reserved.start + reserved.n
), sync AS (
    SELECT set_config('synchronous_commit', %b, true)
)
SELECT id, base FROM reserved, sync
"""


# The reserving half for COPY: sent with BEGIN and SET LOCAL as one simple-protocol message (one
# round trip), so its values are quoted into the text by psycopg.sql.
_PG_RESERVE = f"""
WITH current AS ({_PG_CURRENT.format(pk="{pk}", configs="{configs}", count="{count}")}), locked AS (
    SELECT id FROM {PARTITION_TABLE}
    WHERE id = ANY({{pids}}::int8[]) AND EXISTS (SELECT 1 FROM current)
    ORDER BY id FOR NO KEY UPDATE
), v AS (
    SELECT * FROM unnest({{pids}}::int8[], {{counts}}::int8[], {{sizes}}::int8[]) AS v(pid, n, bytes)
)
UPDATE {PARTITION_TABLE} AS p
SET high_watermark = p.high_watermark + v.n, size_bytes = p.size_bytes + v.bytes, last_append_at = {{now}}
FROM v WHERE p.id = v.pid AND p.id IN (SELECT id FROM locked)
RETURNING p.id, p.high_watermark - v.n
"""


def pg_append(
    cursor: CursorWrapper, batches: dict[int, list[Item]], *, meta: TopicMeta, timestamp_type: int,
    now: datetime.datetime, synchronous_commit: str,
) -> dict[int, int] | None:
    """PostgreSQL: append the batch, re-checking `meta` as it writes; return each partition's base
    offset, or None (nothing written) when `meta` is no longer the topic's. In the caller's
    transaction if there is one, else in its own."""
    total = sum(len(items) for items in batches.values())
    if total < PG_COPY_FROM:
        return _pg_append_statement(cursor, batches, meta, timestamp_type, now, synchronous_commit)
    return _pg_append_copy(cursor, batches, meta, timestamp_type, now, synchronous_commit)


def _pg_append_copy(
    cursor: CursorWrapper, batches: dict[int, list[Item]], meta: TopicMeta, timestamp_type: int,
    now: datetime.datetime, synchronous_commit: str,
) -> dict[int, int] | None:
    from psycopg import sql
    from psycopg.types.json import Jsonb

    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    own = not connection.in_atomic_block
    pids = sorted(batches)
    reserve = sql.SQL(_PG_RESERVE).format(
        pk=sql.Literal(meta.pk),
        configs=sql.Literal(Jsonb(meta.configs)),
        count=sql.Literal(len(meta.partition_ids)),
        pids=sql.Literal(pids),
        counts=sql.Literal([len(batches[p]) for p in pids]),
        sizes=sql.Literal([sum(i[4] for i in batches[p]) for p in pids]),
        now=sql.Literal(now),
    )
    if own:
        reserve = sql.SQL("BEGIN; SET LOCAL synchronous_commit TO {}; ").format(sql.Literal(synchronous_commit)) + reserve
    try:
        raw.execute(reserve)
        while raw.nextset():  # BEGIN and SET answer first; the UPDATE's rows come last
            pass
        bases = dict(raw.fetchall())
        if len(bases) != len(pids):
            if own:
                raw.execute("ROLLBACK")
            return None
        copy_binary(
            cursor,
            [
                (pid, bases[pid] + n, ts, timestamp_type, key, value, headers, size)
                for pid in pids
                for n, (ts, key, value, headers, size) in enumerate(batches[pid])
            ],
            RECORD_TABLE,
        )
        if own:
            raw.execute("COMMIT")
    except BaseException:
        if own and not raw.connection.closed:
            raw.connection.execute("ROLLBACK")
        raise
    return bases


# The append statement's per-record columns travel as PostgreSQL binary arrays built here in one
# pass (struct + join): psycopg's generic list dumper works element by element in Python, which
# for a 100-record batch cost more CPU than the rest of the statement's client side together.
_ARRAY_HEADER = struct.Struct(">iiiii")  # ndim 1, has-null flag, element oid, length, lower bound 1


_NULL_ELEMENT = b"\xff\xff\xff\xff"  # length -1


class _PgBinaryArray:
    """Bytes already in PostgreSQL's binary array format, with the array type's oid."""

    __slots__ = ("data",)
    oid = 0

    def __init__(self, data: bytes) -> None:
        self.data = data


class _ByteaArray(_PgBinaryArray):
    oid = 1001


class _Int4Array(_PgBinaryArray):
    oid = 1007


class _Int8Array(_PgBinaryArray):
    oid = 1016


def _pg_bytea_array(values: Sequence[bytes | None]) -> _ByteaArray:
    pack_len = struct.Struct(">i").pack
    parts = [_ARRAY_HEADER.pack(1, None in values, _BYTEA_OID, len(values), 1)]
    append = parts.append
    for v in values:
        if v is None:
            append(_NULL_ELEMENT)
        else:
            append(pack_len(len(v)))
            append(v)
    return _ByteaArray(b"".join(parts))


def _pg_int_array(values: Sequence[int], *, bits: int) -> _PgBinaryArray:
    """Non-null integers as int4[] (bits 32) or int8[] (bits 64)."""
    if bits == 32:
        cls, elem_oid, size, code = _Int4Array, _INT4_OID, 4, "i"
    else:
        cls, elem_oid, size, code = _Int8Array, _INT8_OID, 8, "q"
    body = struct.pack(">" + ("i" + code) * len(values), *[x for v in values for x in (size, v)])
    return cls(_ARRAY_HEADER.pack(1, 0, elem_oid, len(values), 1) + body)


def _pg_binary_arrays_enable(conn: "psycopg.Connection") -> None:
    """Teach this psycopg connection to send _PgBinaryArray values as they are (once per
    connection: a connection's adapters are copied from the global ones when it opens)."""
    if getattr(conn, "_kc_binary_arrays", False):
        return
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    for cls in (_ByteaArray, _Int4Array, _Int8Array):
        dumper = type(f"{cls.__name__}Dumper", (Dumper,), {"format": Format.BINARY, "oid": cls.oid, "dump": _dump_as_is})
        conn.adapters.register_dumper(cls, dumper)
    conn._kc_binary_arrays = True


def _dump_as_is(self: "Dumper", obj: _PgBinaryArray) -> bytes:
    return obj.data


def _pg_append_statement(
    cursor: CursorWrapper, batches: dict[int, list[Item]], meta: TopicMeta, timestamp_type: int,
    now: datetime.datetime, synchronous_commit: str,
) -> dict[int, int] | None:
    import psycopg
    from psycopg.types.json import Jsonb

    pids = sorted(batches)
    counts, sizes, starts = [], [], []
    r_ts, r_key, r_value, r_headers, r_size = [], [], [], [], []
    for pid in pids:
        items = batches[pid]
        starts.append(len(r_key))
        counts.append(len(items))
        ts, keys, values, headers, item_sizes = zip(*items)
        r_ts += ts
        r_key += keys
        r_value += values
        r_headers += headers
        r_size += item_sizes
        sizes.append(sum(item_sizes))
    common_ts = r_ts[0]
    if r_ts.count(common_ts) == len(r_ts):
        r_ts = None
    if r_headers.count(None) == len(r_headers):
        r_headers = None
    else:
        r_headers = [None if h is None else Jsonb(h) for h in r_headers]
    params = [
        meta.pk, Jsonb(meta.configs), len(meta.partition_ids), pids, pids, counts, sizes, starts, now,
        common_ts, timestamp_type, None if r_ts is None else _pg_int_array(r_ts, bits=64),
        _pg_bytea_array(r_key), _pg_bytea_array(r_value), r_headers, _pg_int_array(r_size, bits=32), synchronous_commit,
    ]
    # A server-side-binding psycopg cursor on the same connection; %b sends the arrays as binary
    # parameters instead of quoting them into the SQL text, and the plan is prepared once per
    # connection.
    _pg_binary_arrays_enable(cursor.connection)
    with psycopg.Cursor(cursor.connection) as raw:
        raw.execute(_PG_APPEND, params, prepare=True)
        rows = raw.fetchall()
    if len(rows) != len(pids):
        return None
    return dict(rows)

