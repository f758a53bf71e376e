"""Kafka's record batch (magic 2): the log's unit of storage, and what Produce sends and Fetch returns.

The log stores each batch as its producer sent it (compressed as received), with the base offset
written into its header at append; Fetch hands stored batches back as they are. Records are
decoded only where a caller needs them one by one (console, REST, CLI, compaction), bounded.

Layout (https://kafka.apache.org/documentation/#recordbatch): a 61-byte header (base offset,
length, leader epoch, magic, CRC-32C of everything after the CRC, attributes, last offset delta,
first and max timestamp, producer id and epoch, base sequence, record count), then the records,
compressed as one block when the attributes say so.

Not kio.records: its reader truncates record timestamps to whole seconds and does not decompress,
and its writer wants a datetime per record. The primitive varint readers are kio's (native).
"""

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cramjam
from crc32c import crc32c
from kio.serial.errors import BufferUnderflow
from kio.serial.readers import read_signed_varint, read_signed_varlong

from brokercore.errors import BrokerError, CorruptMessage, InvalidRecord, InvalidTimestamp
from brokercore.types import RecordIn, RecordOut

MAGIC = 2
HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
_CRC_START = 21  # the CRC covers attributes .. end of batch
_MAGIC_AT = 16  # where a batch, or a message of the old formats, says which it is
_LENGTH_END = 12  # base offset (8) and batch length (4) precede what batch length counts

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

NONE, GZIP, SNAPPY, LZ4, ZSTD = range(5)
CODECS = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
# Timestamps are Java longs (and BIGINT columns); base timestamp + delta can leave that range.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# First output buffer for a compressed block, as a multiple of its compressed size: most batches
# fit at once; one that does not is decompressed again into a buffer four times larger.
_FIRST_RATIO = 8
_MIN_BUFFER = 64 * 1024


class UnsupportedCompression(BrokerError):
    """The requesting client does not support the compression type of given partition."""

    code, name = 76, "UNSUPPORTED_COMPRESSION_TYPE"


@dataclass(frozen=True, slots=True)
class Batch:
    """One decoded producer batch: its producer fields and its records, in offset order."""

    base_offset: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: list[RecordIn]
    size: int  # bytes of the batch as sent (what max.message.bytes limits)

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def idempotent(self) -> bool:
        return self.producer_id != NO_PRODUCER_ID


# --- Decoding -----------------------------------------------------------------------------------


def _bounded(decompress_into: Callable[[bytes, bytearray], int], data: bytes, limit: int) -> memoryview:
    """Decompress into a buffer of at most limit + 1 bytes, so a small block that expands to
    gigabytes (a decompression bomb) costs bounded memory instead of all of it."""
    size = min(limit + 1, max(_MIN_BUFFER, _FIRST_RATIO * len(data)))
    while True:
        out = bytearray(size)
        try:
            n = decompress_into(data, out)
        except cramjam.DecompressionError as e:
            # cramjam says the output did not fit ("failed to write whole buffer" for zstd and
            # lz4 frames); any other message is corrupt input, which a bigger buffer will not mend.
            if "whole buffer" not in str(e):
                raise
            if size > limit:
                raise CorruptMessage(f"The batch decompresses to more than {limit} bytes.") from None
            size = min(limit + 1, size * 4)
            continue
        if n > limit:
            raise CorruptMessage(f"The batch decompresses to more than {limit} bytes.")
        return memoryview(out).toreadonly()[:n]  # kio's readers take read-only buffers only


def _snappy_raw(data: bytes, limit: int) -> bytes:
    # A raw snappy block states its uncompressed length first: refuse before allocating it.
    if cramjam.snappy.decompress_raw_len(data) > limit:
        raise CorruptMessage(f"The batch decompresses to more than {limit} bytes.")
    return bytes(cramjam.snappy.decompress_raw(data))


def _snappy_decompress(data: bytes, limit: int) -> bytes:
    # Java producers frame snappy the xerial way (a magic header, then length-prefixed blocks);
    # librdkafka and others send one raw block. Kafka reads both.
    if data.startswith(_XERIAL_MAGIC):
        out = bytearray()
        pos = 16  # magic (8), version (4), compatible version (4)
        while pos < len(data):
            (n,) = struct.unpack_from(">i", data, pos)
            pos += 4
            if n < 0 or pos + n > len(data):
                raise CorruptMessage("A snappy block runs past the end of its batch.")
            out += _snappy_raw(data[pos : pos + n], limit - len(out))
            pos += n
        return bytes(out)
    return _snappy_raw(data, limit)


def _gunzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    # Several gzip members are valid gzip (and what some producers send): each is read with what
    # is left of the limit, so no member can expand past it.
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise CorruptMessage(f"The batch decompresses to more than {limit} bytes.")
        if not d.eof:
            raise CorruptMessage("The gzip stream ends inside a member.")
        data = d.unused_data
    return bytes(out)


def decompress(codec: int, data: bytes, *, limit: int) -> bytes | memoryview:
    """The records block of a batch compressed with `codec` (bytes or a memoryview); at most
    `limit` bytes, and never more than about that much memory whatever the block claims."""
    try:
        if codec == GZIP:
            out = _gunzip(data, limit)
        elif codec == SNAPPY:
            out = _snappy_decompress(data, limit)
        elif codec == LZ4:
            out = _bounded(cramjam.lz4.decompress_into, data, limit)
        elif codec == ZSTD:
            out = _bounded(cramjam.zstd.decompress_into, data, limit)
        else:
            raise UnsupportedCompression(f"Unknown compression codec {codec}.")
    except BrokerError:
        raise
    except Exception as e:  # cramjam, zlib and gzip each raise their own types
        raise CorruptMessage(f"Could not decompress a {CODECS.get(codec)} batch: {e}") from None
    if len(out) > limit:
        raise CorruptMessage(f"The batch decompresses to more than {limit} bytes.")
    return out


def _bytes_field(buf: bytes | memoryview, pos: int) -> tuple[bytes | None, int]:
    n, used = read_signed_varint(buf, pos)
    pos += used
    if n < 0:
        if n != -1:
            raise CorruptMessage(f"Invalid field length {n}.")
        return None, pos
    end = pos + n
    if end > len(buf):
        raise CorruptMessage("A record field runs past the end of its batch.")
    return bytes(buf[pos:end]), end


def _records_decode(buf: bytes | memoryview, count: int, base_timestamp: int, last_offset_delta: int) -> list[RecordIn]:
    """A producer's records: Kafka's LogValidator rules for what producers send are checked."""
    records = [
        RecordIn(key=key, value=value, headers=headers, timestamp=base_timestamp + ts_delta)
        for ts_delta, _, key, value, headers in _records_walk(buf, count, last_offset_delta, strict=True)
    ]
    for i, r in enumerate(records):
        if not _INT64_MIN <= r.timestamp <= _INT64_MAX:
            raise InvalidTimestamp(f"Record {i} of the batch has a timestamp outside the range of a long.")
    return records


def _record_head(buf: bytes | memoryview, pos: int, end_all: int) -> tuple[int, int, int, int]:
    """A record's length, attributes, timestamp delta and offset delta from `pos`: (where its key
    starts, where it ends, timestamp delta, offset delta)."""
    length, used = read_signed_varint(buf, pos)
    pos += used
    end = pos + length
    if length < 0 or end > end_all:
        raise CorruptMessage("A record's length runs past the end of its batch.")
    pos += 1  # record attributes: unused
    ts_delta, used = read_signed_varlong(buf, pos)
    pos += used
    offset_delta, used = read_signed_varint(buf, pos)
    return pos + used, end, ts_delta, offset_delta


def _records_walk(
    buf: bytes | memoryview, count: int, last_offset_delta: int, *, strict: bool
) -> list[tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]]:
    """(timestamp delta, offset delta, key, value, headers) of each record. `strict`: a producer's
    batch, whose offset deltas must run 0, 1, 2 ...; a stored batch may have gaps (compaction)."""
    records = []
    pos = 0
    end_all = len(buf)
    for i in range(count):
        pos, end, ts_delta, offset_delta = _record_head(buf, pos, end_all)
        if strict and offset_delta != i:
            # Kafka's LogValidator: a producer's batch has consecutive offsets from 0.
            raise InvalidRecord(f"Record {i} of the batch has offset delta {offset_delta}; expected {i}.")
        key, pos = _bytes_field(buf, pos)
        value, pos = _bytes_field(buf, pos)
        n_headers, used = read_signed_varint(buf, pos)
        pos += used
        if n_headers < 0:
            raise CorruptMessage(f"Invalid header count {n_headers}.")
        headers = []
        for _ in range(n_headers):
            hkey, pos = _bytes_field(buf, pos)
            hvalue, pos = _bytes_field(buf, pos)
            if hkey is None:
                raise InvalidRecord("Invalid null header key found in headers.")
            # Header keys are Java Strings: decoded as Java does, replacing invalid UTF-8.
            headers.append((hkey.decode("utf-8", "replace"), hvalue))
        if pos != end:
            raise CorruptMessage("A record's fields do not add up to its length.")
        records.append((ts_delta, offset_delta, key, value, tuple(headers)))
    if pos != end_all:
        raise CorruptMessage("The batch holds bytes after its last record.")
    if strict and count and count - 1 != last_offset_delta:
        raise InvalidRecord(f"The batch has {count} records but a last offset delta of {last_offset_delta}.")
    return records


def batches_decode(data: bytes, *, max_uncompressed: int) -> list[Batch]:
    """Every batch in a Produce request's records field, CRC-checked and decompressed.

    Raises CorruptMessage (bad CRC, truncated or inconsistent bytes) or InvalidRecord (an old
    message format, or a batch that breaks Kafka's rules for what producers send).
    """
    view = memoryview(data)
    batches: list[Batch] = []
    pos = 0
    while pos < len(view):
        if len(view) - pos < HEADER_SIZE:
            raise CorruptMessage("The records end inside a batch header.")
        (base_offset, length, _epoch, magic, crc, attributes, last_offset_delta, base_ts, max_ts,
         producer_id, producer_epoch, base_sequence, count) = HEADER.unpack_from(view, pos)
        if magic != MAGIC:
            raise InvalidRecord(f"Produce requests of version 3 and above must use record batches (magic 2), got magic {magic}.")
        end = pos + _LENGTH_END + length
        if length < HEADER_SIZE - _LENGTH_END or end > len(view):
            raise CorruptMessage(f"Batch length {length} does not fit the {len(view) - pos} bytes sent.")
        if crc32c(view[pos + _CRC_START : end]) != crc:
            raise CorruptMessage(f"Record batch at byte {pos} failed its CRC-32C check.")
        if count < 0:
            raise CorruptMessage(f"Invalid record count {count}.")
        body = view[pos + HEADER_SIZE : end]
        codec = attributes & COMPRESSION_MASK
        if codec != NONE:
            body = decompress(codec, bytes(body), limit=max_uncompressed)
        try:
            records = _records_decode(body, count, base_ts, last_offset_delta)
        except (BufferUnderflow, ValueError) as e:
            # kio's varint readers: a field runs past the end, or a varint longer than its type.
            raise CorruptMessage(f"A record of the batch at byte {pos} is malformed: {e}") from None
        batches.append(Batch(
            base_offset, attributes, last_offset_delta, base_ts, max_ts, producer_id, producer_epoch,
            base_sequence, records, end - pos,
        ))
        pos = end
    return batches


# --- A producer's batch, validated for the log -------------------------------------------------


@dataclass(slots=True)
class Pending:
    """A batch ready to append: its bytes (the base offset in its header is written at append) and
    the index columns the log keeps beside them."""

    data: bytes
    span: int  # offsets the batch takes: last offset delta + 1
    count: int  # records in it
    size: int  # record bytes (keys, values, headers): what max_bytes and retention.bytes count
    max_timestamp: int
    attributes: int
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = -1
    base_sequence: int = NO_SEQUENCE
    null_key: bool = False  # a record without a key (refused by compacted topics)
    min_timestamp: int | None = None  # the earliest record timestamp of a producer's batch

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_BIT)


def _records_scan(buf: bytes | memoryview, count: int) -> tuple[int, bool, int, int]:
    """Kafka's LogValidator checks on a producer's records without building them: (record bytes,
    whether a key is null, smallest and largest timestamp delta)."""
    pos = 0
    end_all = len(buf)
    size = 0
    null_key = False
    lo = hi = 0
    for i in range(count):
        pos, end, ts_delta, offset_delta = _record_head(buf, pos, end_all)
        if i == 0:
            lo = hi = ts_delta
        elif ts_delta < lo:
            lo = ts_delta
        elif ts_delta > hi:
            hi = ts_delta
        if offset_delta != i:
            raise InvalidRecord(f"Record {i} of the batch has offset delta {offset_delta}; expected {i}.")
        n, used = read_signed_varint(buf, pos)  # key
        pos += used
        if n < 0:
            if n != -1:
                raise CorruptMessage(f"Invalid field length {n}.")
            null_key = True
        else:
            pos += n
            size += n
        pos, n = _skip_nullable(buf, pos)  # value
        size += n
        n_headers, used = read_signed_varint(buf, pos)
        pos += used
        if n_headers < 0:
            raise CorruptMessage(f"Invalid header count {n_headers}.")
        for _ in range(n_headers):
            n, used = read_signed_varint(buf, pos)
            pos += used
            if n < 0:
                raise InvalidRecord("Invalid null header key found in headers.")
            pos += n
            size += n
            pos, n = _skip_nullable(buf, pos)  # header value
            size += n
        if pos != end:
            raise CorruptMessage("A record's fields do not add up to its length.")
    if pos != end_all:
        raise CorruptMessage("The batch holds bytes after its last record.")
    return size, null_key, lo, hi


def _skip_nullable(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Past a nullable bytes field at `pos`: (where the next field starts, its length, 0 for null)."""
    n, used = read_signed_varint(buf, pos)
    if n < -1:
        raise CorruptMessage(f"Invalid field length {n}.")
    n = max(n, 0)
    return pos + used + n, n


def producer_batch(data: bytes, *, version: int, max_uncompressed: int) -> Pending:
    """The one batch of a partition in a Produce request (v3+), checked as Kafka's
    ProduceRequest.validateRecords and LogValidator do: magic 2, CRC-32C, lengths, offset deltas
    0..n-1, timestamps, header keys; compressed batches are decompressed (bounded) to be checked
    and stored as received."""
    view = memoryview(data)
    if len(view) > _MAGIC_AT and view[_MAGIC_AT] != MAGIC:  # an old message, shorter than a batch header
        raise InvalidRecord(f"Produce requests of version 3 and above must use record batches (magic 2), got magic {view[_MAGIC_AT]}.")
    if len(view) < HEADER_SIZE:
        raise CorruptMessage("The records end inside a batch header." if view else
                             "A record batch must hold at least one record.")
    (_base, length, _epoch, magic, crc, attributes, last_offset_delta, base_ts, max_ts,
     producer_id, producer_epoch, base_sequence, count) = HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise InvalidRecord(f"Produce requests of version 3 and above must use record batches (magic 2), got magic {magic}.")
    end = _LENGTH_END + length
    if length < HEADER_SIZE - _LENGTH_END or end > len(view):
        raise CorruptMessage(f"Batch length {length} does not fit the {len(view)} bytes sent.")
    if end != len(view):
        raise InvalidRecord(f"Produce requests with version {version} must contain exactly one record batch per partition.")
    if crc32c(view[_CRC_START:end]) != crc:
        raise CorruptMessage("Record batch at byte 0 failed its CRC-32C check.")
    if count < 0:
        raise CorruptMessage(f"Invalid record count {count}.")
    if count == 0:
        raise InvalidRecord("A record batch must hold at least one record.")
    codec = attributes & COMPRESSION_MASK
    if codec == ZSTD and version < 7:
        raise UnsupportedCompression("zstd-compressed batches need Produce version 7 or later.")
    body = view[HEADER_SIZE:end]
    if codec != NONE:
        body = decompress(codec, bytes(body), limit=max_uncompressed)
    try:
        size, null_key, lo, hi = _records_scan(body, count)
    except (BufferUnderflow, ValueError) as e:
        raise CorruptMessage(f"A record of the batch is malformed: {e}") from None
    if count - 1 != last_offset_delta:
        raise InvalidRecord(f"The batch has {count} records but a last offset delta of {last_offset_delta}.")
    if not (_INT64_MIN <= base_ts + lo and base_ts + hi <= _INT64_MAX):
        raise InvalidTimestamp("A record of the batch has a timestamp outside the range of a long.")
    return Pending(
        data=bytes(data), span=count, count=count, size=size, max_timestamp=max_ts if max_ts >= 0 else base_ts + hi,
        attributes=attributes, producer_id=producer_id, producer_epoch=producer_epoch, base_sequence=base_sequence,
        null_key=null_key, min_timestamp=base_ts + lo,
    )


# --- Stored batches ------------------------------------------------------------------------------


_BASE_OFFSET = struct.Struct(">q")
_LAST_DELTA, _LAST_DELTA_AT = struct.Struct(">i"), 23
_MAX_TS_AT = 35  # attributes (21), last offset delta (23), base timestamp (27), max timestamp (35)


def batch_base_offset(data: bytes | memoryview) -> int:
    """A stored batch's first offset, from its header."""
    return _BASE_OFFSET.unpack_from(data, 0)[0]


def batch_last_offset(data: bytes | memoryview) -> int:
    """A stored batch's last offset: its base offset plus its header's last offset delta."""
    return _BASE_OFFSET.unpack_from(data, 0)[0] + _LAST_DELTA.unpack_from(data, _LAST_DELTA_AT)[0]


def batch_attributes(data: bytes | memoryview, at: int = 0) -> int:
    """The attributes of the batch starting at `at` (codec, timestamp type, transactional, control)."""
    return int.from_bytes(data[at + _CRC_START:at + _CRC_START + 2], "big")


def batches_use_zstd(data: bytes | memoryview) -> bool:
    """Whether any of the stored batches in `data` is zstd-compressed (read off each header)."""
    view, pos = memoryview(data), 0
    while pos + HEADER_SIZE <= len(view):
        if batch_attributes(view, pos) & COMPRESSION_MASK == ZSTD:
            return True
        pos += _LENGTH_END + int.from_bytes(view[pos + 8:pos + _LENGTH_END], "big")
    return False


def with_base_offset(data: bytes | memoryview, base_offset: int) -> bytes:
    """The batch with its first offset in the log written in: outside the CRC, so nothing else changes."""
    return _BASE_OFFSET.pack(base_offset) + data[8:]


def with_log_append_time(data: bytes, now_ms: int) -> bytes:
    """The batch stamped as Kafka's LogValidator does for message.timestamp.type=LogAppendTime:
    the timestamp-type attribute set and the max timestamp the append time (consumers give it to
    every record); the CRC covers both, so it is computed again."""
    buf = bytearray(data)
    (attributes,) = struct.unpack_from(">h", buf, _CRC_START)
    struct.pack_into(">h", buf, _CRC_START, attributes | TIMESTAMP_TYPE_BIT)
    struct.pack_into(">q", buf, _MAX_TS_AT, now_ms)
    struct.pack_into(">I", buf, 17, crc32c(memoryview(buf)[_CRC_START:]))
    return bytes(buf)


def batch_records(
    data: bytes | memoryview, *, topic: str, partition: int, start: int = 0, end: int = 2**63 - 1,
    max_uncompressed: int = 64 * 1024 * 1024,
) -> list[RecordOut]:
    """The records of one stored batch with offsets in [start, end), in offset order. A control
    batch (transaction markers) holds no records for applications: it yields none."""
    (base_offset, _length, _epoch, _magic, _crc, attributes, last_offset_delta, base_ts, max_ts,
     _pid, _pepoch, _seq, count) = HEADER.unpack_from(data, 0)
    if attributes & CONTROL_BIT or base_offset + last_offset_delta < start or base_offset >= end:
        return []
    body: bytes | memoryview = memoryview(data)[HEADER_SIZE:]
    codec = attributes & COMPRESSION_MASK
    if codec != NONE:
        body = decompress(codec, bytes(body), limit=max_uncompressed)
    append_time = bool(attributes & TIMESTAMP_TYPE_BIT)
    ts_type = 1 if append_time else 0
    out = []
    for ts_delta, offset_delta, key, value, headers in _records_walk(body, count, last_offset_delta, strict=False):
        offset = base_offset + offset_delta
        if offset < start or offset >= end:
            continue
        size = len(key or b"") + len(value or b"")
        for hk, hv in headers:
            size += len(hk.encode()) + len(hv or b"")
        out.append(RecordOut(
            topic, partition, offset, max_ts if append_time else base_ts + ts_delta, ts_type, key, value, headers, size,
        ))
    return out


# --- Encoding ------------------------------------------------------------------------------------


def _zigzag(n: int, out: bytearray) -> None:
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _bytes_out(b: bytes | None, out: bytearray) -> None:
    if b is None:
        out.append(1)  # zigzag(-1)
    else:
        _zigzag(len(b), out)
        out += b


# (timestamp, key, value, headers) of one record to encode.
Row = tuple[int, bytes | None, bytes | None, Sequence[tuple[str, bytes | None]]]


def batch_build(
    rows: Sequence[Row], *, offset_deltas: Sequence[int] | None = None, base_offset: int = 0,
    last_offset_delta: int | None = None, log_append_time: bool = False, producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1, base_sequence: int = NO_SEQUENCE, transactional: bool = False,
) -> bytes:
    """One uncompressed v2 batch of `rows` (offset deltas 0..n-1 unless given: compaction leaves
    gaps, and keeps a batch's last offset delta as Kafka's cleaner does)."""
    base_ts = rows[0][0] if rows else 0
    body = bytearray()
    rec = bytearray()
    max_ts = base_ts
    for i, (ts, key, value, headers) in enumerate(rows):
        rec.clear()
        rec.append(0)  # attributes
        _zigzag(ts - base_ts, rec)
        _zigzag(i if offset_deltas is None else offset_deltas[i], rec)
        _bytes_out(key, rec)
        _bytes_out(value, rec)
        _zigzag(len(headers), rec)
        for hk, hv in headers:
            _bytes_out(hk.encode(), rec)
            _bytes_out(hv, rec)
        _zigzag(len(rec), body)
        body += rec
        if ts > max_ts:
            max_ts = ts
    if last_offset_delta is None:
        last_offset_delta = (len(rows) if offset_deltas is None else offset_deltas[-1] + 1) - 1
    attributes = (TIMESTAMP_TYPE_BIT if log_append_time else 0) | (TRANSACTIONAL_BIT if transactional else 0)
    tail = struct.pack(
        ">hiqqqhii", attributes, last_offset_delta, base_ts, max_ts, producer_id, producer_epoch, base_sequence, len(rows),
    ) + body
    return struct.pack(">qiibI", base_offset, len(tail) + 9, -1, MAGIC, crc32c(tail)) + tail


def batches_encode(records: list[RecordOut]) -> bytes:
    """Uncompressed v2 batches holding `records` (offset order; gaps allowed, as compaction leaves).

    A new batch starts where the timestamp type changes; LogAppendTime records are batched only
    with records of the same timestamp, since consumers take such a batch's max timestamp for all.
    """
    out = bytearray()
    start = 0
    for i in range(1, len(records) + 1):
        if i < len(records):
            prev, cur = records[i - 1], records[i]
            if cur.timestamp_type == prev.timestamp_type and (cur.timestamp_type == 0 or cur.timestamp == prev.timestamp):
                continue
        chunk = records[start:i]
        base = chunk[0].offset
        out += batch_build(
            [(r.timestamp, r.key, r.value, r.headers) for r in chunk], offset_deltas=[r.offset - base for r in chunk],
            base_offset=base, log_append_time=chunk[0].timestamp_type == 1,
        )
        start = i
    return bytes(out)


def empty_batch_encode(base_offset: int, last_offset: int, timestamp: int) -> bytes:
    """A batch with no records spanning base_offset..last_offset: how Kafka's log tells a consumer
    that compaction removed a whole range, so the consumer moves past it instead of asking again."""
    tail = struct.pack(
        ">hiqqqhii", 0, last_offset - base_offset, timestamp, timestamp, NO_PRODUCER_ID, -1, NO_SEQUENCE, 0
    )
    return struct.pack(">qiibI", base_offset, len(tail) + 9, -1, MAGIC, crc32c(tail)) + tail
