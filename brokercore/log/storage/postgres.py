"""The PostgreSQL backend of the append: the whole append as one statement (a watermark
`UPDATE ... RETURNING` feeding `INSERT ... SELECT unnest(...)` of binary arrays, one row per
record batch), which re-checks the topic's metadata as it writes, so the caller may use a cached
copy."""

import datetime
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db.backends.utils import CursorWrapper

from brokercore.log.storage.meta import (
    BATCH_COLUMNS,
    BATCH_TABLE,
    PARTITION_TABLE,
    TOPIC_TABLE,
    Batches,
    TopicMeta,
    spans,
)

if TYPE_CHECKING:  # psycopg is imported where used, as below; these name its types only
    import psycopg
    from psycopg.adapt import Dumper

_BYTEA_OID, _INT4_OID, _INT8_OID = 17, 23, 20  # PostgreSQL's type oids of the binary arrays


# The metadata check (see _PG_APPEND).
_PG_CURRENT = f"""
    SELECT 1 FROM {TOPIC_TABLE} t
    WHERE t.id = %b AND t.deleted_at IS NULL AND t.configs = %b::jsonb
      AND (SELECT count(*) FROM {PARTITION_TABLE} WHERE topic_id = t.id) = %b
      AND (SELECT count(*) FROM {PARTITION_TABLE} WHERE topic_id = t.id AND id = ANY(%b::int8[])) = %b
"""


# One statement does the whole append, so in autocommit it is its own transaction: no BEGIN and
# COMMIT round trips, one network round trip per append.
# - `current` re-checks the metadata the batches were placed and validated with (the topic is
#   live, has that many partitions and those configs, and the partitions written are its own); if not, nothing is locked or written and
#   the statement returns no rows, and the caller retries with fresh metadata.
# - `locked` takes the partition row locks in ascending id order before the UPDATE needs them:
#   the UPDATE locks in whatever order its join produces, and two appends locking in different
#   orders deadlock. The UPDATE can only reach a row after `locked` emitted it, so every append
#   acquires its locks in id order.
# - `reserved` advances the watermarks by the offsets each partition's batches take; its
#   RETURNING feeds the INSERT the base offsets.
# - The batches arrive as columns, each with its partition (`b.pid`, an equality join: a range
#   join on positions cost a thousand-partition append a million comparisons) and `b.off`, its
#   first offset within its partition's run, so its base offset is the partition's base plus `off`, written into the batch's first 8 bytes by `overlay` (the
#   base offset is outside the batch's CRC).
# - `sync` sets synchronous_commit for this transaction only (the acks level); PostgreSQL reads
#   it at commit, after the statement.
_PG_APPEND = f"""
WITH current AS ({_PG_CURRENT}), locked AS (
    SELECT id FROM {PARTITION_TABLE}
    WHERE id = ANY(%b::int8[]) AND EXISTS (SELECT 1 FROM current)
    ORDER BY id FOR NO KEY UPDATE
), v AS (
    SELECT * FROM unnest(%b::int8[], %b::int8[], %b::int8[]) AS v(pid, n, bytes)
), reserved AS (
    UPDATE {PARTITION_TABLE} AS p
    SET high_watermark = p.high_watermark + v.n, size_bytes = p.size_bytes + v.bytes, last_append_at = %b
    FROM v WHERE p.id = v.pid AND p.id IN (SELECT id FROM locked)
    RETURNING p.id, p.high_watermark - v.n AS base
), written AS (
    INSERT INTO {BATCH_TABLE} ({", ".join(BATCH_COLUMNS)})
    SELECT reserved.id, reserved.base + b.off, reserved.base + b.off + b.span - 1, b.max_ts, b.count, b.size,
           b.attributes, b.producer_id, b.producer_epoch, b.base_sequence,
           overlay(b.data PLACING int8send(reserved.base + b.off) FROM 1 FOR 8)
    FROM unnest(%b::int8[], %b::int8[], %b::int8[], %b::int8[], %b::int4[], %b::int4[], %b::int4[], %b::int8[],
                %b::int4[], %b::int4[], %b::bytea[])
         AS b(pid, off, span, max_ts, count, size, attributes, producer_id, producer_epoch, base_sequence, data)
    JOIN reserved ON reserved.id = b.pid
), sync AS (
    SELECT set_config('synchronous_commit', %b, true)
)
SELECT id, base FROM reserved, sync
"""


def pg_append(
    cursor: CursorWrapper, batches: Batches, *, meta: TopicMeta, now: datetime.datetime, synchronous_commit: str,
) -> dict[int, int] | None:
    """PostgreSQL: append the batches, re-checking `meta` as it writes; return each partition's
    base offset, or None (nothing written) when `meta` is no longer the topic's. In the caller's
    transaction if there is one, else in its own."""
    import psycopg
    from psycopg.types.json import Jsonb

    taken = spans(batches)
    pids = sorted(batches)
    counts, sizes = [], []
    owner, off, span, max_ts, count, size, attributes, producer_id, producer_epoch, base_sequence, data = (
        [] for _ in range(11)
    )
    for pid in pids:
        n, nbytes = taken[pid]
        counts.append(n)
        sizes.append(nbytes)
        at = 0
        for b in batches[pid]:
            owner.append(pid)
            off.append(at)
            at += b.span
            span.append(b.span)
            max_ts.append(b.max_timestamp)
            count.append(b.count)
            size.append(b.size)
            attributes.append(b.attributes)
            producer_id.append(b.producer_id)
            producer_epoch.append(b.producer_epoch)
            base_sequence.append(b.base_sequence)
            data.append(b.data)
    params = [
        meta.pk, Jsonb(meta.configs), len(meta.partition_ids), pids, len(pids), pids,
        _pg_int_array(pids, bits=64), _pg_int_array(counts, bits=64), _pg_int_array(sizes, bits=64), now,
        _pg_int_array(owner, bits=64), _pg_int_array(off, bits=64), _pg_int_array(span, bits=64), _pg_int_array(max_ts, bits=64),
        _pg_int_array(count, bits=32), _pg_int_array(size, bits=32), _pg_int_array(attributes, bits=32),
        _pg_int_array(producer_id, bits=64), _pg_int_array(producer_epoch, bits=32), _pg_int_array(base_sequence, bits=32),
        _pg_bytea_array(data), synchronous_commit,
    ]
    # A server-side-binding psycopg cursor on the same connection; %b sends the arrays as binary
    # parameters instead of quoting them into the SQL text, and the plan is prepared once per
    # connection. Django's error wrapping as for its own cursors: a lost connection is then
    # django.db's OperationalError, and the connection is marked for replacement.
    with cursor.db.wrap_database_errors:
        _pg_binary_arrays_enable(cursor.connection)
        with psycopg.Cursor(cursor.connection) as raw:
            raw.execute(_PG_APPEND, params, prepare=True)
            rows = raw.fetchall()
    if len(rows) != len(pids):
        return None
    return dict(rows)


# The append statement's per-batch columns travel as PostgreSQL binary arrays built here in one
# pass (struct + join): psycopg's generic list dumper works element by element in Python, which
# for a 100-record append cost more CPU than the rest of the statement's client side together.
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


