"""Kafka's message formats v0 and v1 (magic 0 and 1, the message sets of Kafka before 0.11),
converted to and from the log's record batches as Kafka does for Produce v0-2 and Fetch v0-3.

A message is offset (8), size (4), CRC-32 (4, of everything after it), magic (1), attributes
(1: the codec in bits 0-2, from magic 1 the timestamp type in bit 3), a timestamp (8, magic 1
only), then key and value as int32-length bytes (-1 for null). A compressed message set is one
wrapper message whose value is the inner messages compressed; Kafka gives the wrapper the offset
of the last inner message, and from magic 1 on the inner messages offsets relative to the first.

In (Kafka's LogValidator): every message's CRC is checked, wrappers are opened (an inner message
must not itself be compressed and must have its wrapper's magic), and all the messages of a
partition become one v2 batch, compressed with the producer's codec. Magic 0 messages have no
timestamp (-1). Out (Kafka's RecordsUtil.downConvert): each stored batch becomes a message set of
the client's magic, compressed with the batch's codec; control batches are left out, headers
dropped, and the records below the fetch offset skipped.

The compressed framings Kafka writes (`compress`) serve v2 batches too: a topic whose
compression.type names a codec has every batch stored with it (`batch_recompressed`).
"""

import gzip
import struct
import zlib
from collections.abc import Iterator

import cramjam
from crc32c import crc32c

from brokercore.errors import CorruptMessage, InvalidRecord
from brokercore.log.batch import (
    COMPRESSION_MASK,
    GZIP,
    HEADER,
    HEADER_SIZE,
    LZ4,
    MAGIC,
    NONE,
    SNAPPY,
    TIMESTAMP_TYPE_BIT,
    ZSTD,
    Pending,
    UnsupportedCompression,
    batch_attributes,
    batch_build,
    batch_records,
    decompress,
)

MAGIC_V0, MAGIC_V1 = 0, 1
NO_TIMESTAMP = -1
_LOG_OVERHEAD = 12  # offset and size precede what size counts
_HEAD = struct.Struct(">qiIbb")  # offset, size, crc, magic, attributes
_MAGIC_AT = 16
_TIMESTAMP = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_MIN_SIZE = {MAGIC_V0: 14, MAGIC_V1: 22}  # crc, magic, attributes, [timestamp,] two -1 lengths


def records_magic(data: bytes | memoryview) -> int | None:
    """The magic of the first batch or message in a Produce request's records (None if too short)."""
    return data[_MAGIC_AT] if len(data) > _MAGIC_AT else None


# --- Reading a message set ---------------------------------------------------------------------


def _bytes_at(buf: memoryview, pos: int, end: int) -> tuple[bytes | None, int]:
    if pos + 4 > end:
        raise CorruptMessage("A message ends inside a length.")
    (n,) = _LENGTH.unpack_from(buf, pos)
    pos += 4
    if n < 0:
        if n != -1:
            raise CorruptMessage(f"Invalid message field length {n}.")
        return None, pos
    if pos + n > end:
        raise CorruptMessage("A message field runs past the end of its message.")
    return bytes(buf[pos : pos + n]), pos + n


def _messages(buf: memoryview) -> Iterator[tuple[int, int, int, int, bytes | None, bytes | None]]:
    """(offset, magic, attributes, timestamp, key, value) of each whole message, CRC-checked. As
    Kafka's log input stream, bytes after the last whole message (a message cut short) are ignored."""
    pos = 0
    while len(buf) - pos >= _LOG_OVERHEAD:
        offset, size = struct.unpack_from(">qi", buf, pos)
        end = pos + _LOG_OVERHEAD + size
        if end > len(buf):
            return
        if size < _MIN_SIZE[MAGIC_V0]:
            raise CorruptMessage(f"Message at byte {pos} has size {size}, less than the smallest message.")
        _, _, crc, magic, attributes = _HEAD.unpack_from(buf, pos)
        if magic not in (MAGIC_V0, MAGIC_V1):
            raise InvalidRecord(f"Message at byte {pos} has magic {magic}; a message set holds magic 0 or 1.")
        if size < _MIN_SIZE[magic]:
            raise CorruptMessage(f"Message at byte {pos} has size {size}, less than the smallest message.")
        if zlib.crc32(buf[pos + _MAGIC_AT : end]) != crc:
            raise CorruptMessage(f"Message at byte {pos} failed its CRC-32 check.")
        at = pos + _MAGIC_AT + 2
        timestamp = NO_TIMESTAMP
        if magic == MAGIC_V1:
            (timestamp,) = _TIMESTAMP.unpack_from(buf, at)
            at += 8
        key, at = _bytes_at(buf, at, end)
        value, at = _bytes_at(buf, at, end)
        if at != end:
            raise CorruptMessage(f"Message at byte {pos} holds bytes after its value.")
        yield offset, magic, attributes, timestamp, key, value
        pos = end


def message_set_batch(data: bytes, *, max_uncompressed: int) -> Pending:
    """A Produce v0-2 partition's message set as one v2 batch for the log, checked as Kafka's
    LogValidator checks magic 0/1 messages (see the module docstring)."""
    rows = []
    codec = NONE
    null_key = False
    size = 0
    for _offset, magic, attributes, timestamp, key, value in _messages(memoryview(data)):
        wrapper_codec = attributes & COMPRESSION_MASK
        if wrapper_codec == NONE:
            inner = [(magic, attributes, timestamp, key, value)]
        else:
            if wrapper_codec == ZSTD:
                raise UnsupportedCompression("zstd needs record batches (Produce version 7 or later).")
            if value is None:
                raise CorruptMessage("A compressed message has no value.")
            codec = wrapper_codec
            unpacked = decompress(wrapper_codec, lz4_frame_mended(value) if wrapper_codec == LZ4 else value,
                                  limit=max_uncompressed)
            inner = [m[1:] for m in _messages(memoryview(bytes(unpacked)))]
            for inner_magic, inner_attributes, *_ in inner:
                if inner_attributes & COMPRESSION_MASK:
                    raise InvalidRecord("Compressed outer record should not have an inner record with a compression attribute set.")
                if inner_magic != magic:
                    raise InvalidRecord(f"Log record magic {inner_magic} does not match outer magic {magic}.")
        for m, _attrs, ts, k, v in inner:
            rows.append((ts if m == MAGIC_V1 else NO_TIMESTAMP, k, v, ()))
            null_key = null_key or k is None
            size += len(k or b"") + len(v or b"")
    if not rows:
        raise InvalidRecord("A message set must hold at least one message.")
    batch = batch_build(rows)
    if codec != NONE:
        batch = batch_compress(batch, codec)
    return Pending(
        data=batch, span=len(rows), count=len(rows), size=size, max_timestamp=max(r[0] for r in rows),
        attributes=HEADER.unpack_from(batch, 0)[5], null_key=null_key,
    )


# --- Writing a message set ---------------------------------------------------------------------


def _message(offset: int, magic: int, attributes: int, timestamp: int, key: bytes | None, value: bytes | None) -> bytes:
    body = bytearray(struct.pack(">bb", magic, attributes))
    if magic == MAGIC_V1:
        body += _TIMESTAMP.pack(timestamp)
    for field in (key, value):
        if field is None:
            body += _LENGTH.pack(-1)
        else:
            body += _LENGTH.pack(len(field)) + field
    return struct.pack(">qiI", offset, len(body) + 4, zlib.crc32(body)) + bytes(body)


def batches_down_convert(data: bytes, *, magic: int, fetch_offset: int, max_uncompressed: int = 64 * 1024 * 1024) -> bytes:
    """Stored v2 batches as a message set of `magic` (0 or 1) for Fetch v0-3, from `fetch_offset`
    on. Raises UnsupportedCompression for a zstd batch, which no message set can carry (Kafka
    answers UNSUPPORTED_COMPRESSION_TYPE)."""
    out = bytearray()
    view = memoryview(data)
    pos = 0
    while len(view) - pos >= HEADER_SIZE:
        (_base, length, _epoch, batch_magic, _crc, attributes, *_rest) = HEADER.unpack_from(view, pos)
        end = pos + 12 + length
        if batch_magic != MAGIC or end > len(view):
            break
        codec = attributes & COMPRESSION_MASK
        if codec == ZSTD:
            raise UnsupportedCompression("The partition holds zstd-compressed batches, which Fetch versions below 10 cannot carry.")
        records = batch_records(view[pos:end], topic="", partition=-1, start=fetch_offset,
                                max_uncompressed=max_uncompressed)
        pos = end
        if not records:
            continue  # a control batch, or records all below the fetch offset or compacted away
        # A LogAppendTime batch gives every record its max timestamp (batch_records does so too).
        ts_bit = TIMESTAMP_TYPE_BIT if magic == MAGIC_V1 and attributes & TIMESTAMP_TYPE_BIT else 0
        if codec == NONE:
            for r in records:
                out += _message(r.offset, magic, ts_bit, r.timestamp, r.key, r.value)
            continue
        first = records[0].offset
        inner = b"".join(
            _message(r.offset - first if magic == MAGIC_V1 else r.offset, magic, ts_bit, r.timestamp, r.key, r.value)
            for r in records
        )
        out += _message(records[-1].offset, magic, codec | ts_bit, max(r.timestamp for r in records), None,
                        compress(codec, inner, magic=magic))
    return bytes(out)


# --- Compression as Kafka's Java codecs write it ----------------------------------------------

_XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # xerial's SnappyOutputStream block size, as Kafka uses it
_LZ4_MAGIC = struct.pack("<I", 0x184D2204)
_LZ4_FLG, _LZ4_BD = 0x60, 0x40  # version 01 with independent blocks; 64 KB blocks (Kafka's)
_LZ4_BLOCK = 64 * 1024


def compress(codec: int, data: bytes, *, magic: int = MAGIC) -> bytes:
    """`data` compressed with `codec` (gzip, snappy or lz4) in the framing Kafka's producer and
    broker write: gzip streams, xerial-framed snappy, LZ4 frames of independent 64 KB blocks (with
    the frame descriptor checksum Kafka computed wrongly for magic 0)."""
    if codec == GZIP:
        return gzip.compress(data, compresslevel=6, mtime=0)
    if codec == SNAPPY:
        out = bytearray(_XERIAL_HEADER)
        for i in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(data[i : i + _XERIAL_BLOCK]))
            out += _LENGTH.pack(len(block)) + block
        return bytes(out)
    if codec == LZ4:
        descriptor = bytes((_LZ4_FLG, _LZ4_BD))
        checked = _LZ4_MAGIC + descriptor if magic == MAGIC_V0 else descriptor
        out = bytearray(_LZ4_MAGIC + descriptor + bytes(((xxh32(checked) >> 8) & 0xFF,)))
        for i in range(0, len(data), _LZ4_BLOCK):
            raw = data[i : i + _LZ4_BLOCK]
            block = bytes(cramjam.lz4.compress_block(raw, store_size=False))
            if len(block) >= len(raw):
                out += struct.pack("<I", len(raw) | 0x80000000) + raw  # stored uncompressed
            else:
                out += struct.pack("<I", len(block)) + block
        out += struct.pack("<I", 0)
        return bytes(out)
    if codec == ZSTD and magic == MAGIC:  # zstd exists for record batches only (KIP-110)
        return bytes(cramjam.zstd.compress(data))
    if codec == NONE:
        return data
    raise UnsupportedCompression(f"Compression codec {codec} cannot be written here.")


# compression.type -> the codec batches are stored with (producer: none, as they came)
TOPIC_CODECS = {"uncompressed": NONE, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}


def batch_recompressed(batch: bytes, compression: str, *, max_uncompressed: int) -> bytes | None:
    """A v2 batch with its records in the topic's `compression.type` codec (Kafka's LogValidator
    when the target codec differs from the producer's), or None when it already is (or the topic
    keeps the producer's). Offsets, timestamps, producer id and sequence are kept."""
    target = TOPIC_CODECS.get(compression)
    codec = batch_attributes(batch) & COMPRESSION_MASK
    if target is None or target == codec:
        return None
    records = batch[HEADER_SIZE:] if codec == NONE else bytes(decompress(codec, batch[HEADER_SIZE:], limit=max_uncompressed))
    return batch_compress(batch[:HEADER_SIZE] + records, target)


def batch_compress(batch: bytes, codec: int) -> bytes:
    """An uncompressed v2 batch with its records compressed with `codec`: the attributes, length
    and CRC-32C rewritten, nothing else changed."""
    fields = list(HEADER.unpack_from(batch, 0))
    body = compress(codec, batch[HEADER_SIZE:])
    fields[1] = HEADER_SIZE - 12 + len(body)
    fields[5] = (fields[5] & ~COMPRESSION_MASK) | codec
    head = bytearray(HEADER.pack(*fields))
    crc = crc32c(bytes(head[21:]) + body)
    struct.pack_into(">I", head, 17, crc)
    return bytes(head) + body


def lz4_frame_mended(frame: bytes) -> bytes:
    """A magic-0 LZ4 frame with its descriptor checksum made right: Kafka before 0.10 computed it
    over the frame's magic number too, which standard LZ4 readers refuse."""
    if len(frame) < 7 or frame[:4] != _LZ4_MAGIC:
        return frame
    end = 6 + (8 if frame[4] & 0x08 else 0) + (4 if frame[4] & 0x01 else 0)
    if len(frame) <= end:
        return frame
    right = (xxh32(frame[4:end]) >> 8) & 0xFF
    if frame[end] == right:
        return frame
    return frame[:end] + bytes((right,)) + frame[end + 1 :]


_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def xxh32(data: bytes, seed: int = 0) -> int:
    """XXH32 of `data` (the LZ4 frame descriptor checksum); short inputs only (under 16 bytes),
    which is all a frame descriptor is."""
    if len(data) >= 16:
        raise ValueError("xxh32 here hashes frame descriptors (under 16 bytes)")
    h = (seed + _P5 + len(data)) & _M32
    i = 0
    while i + 4 <= len(data):
        (k,) = struct.unpack_from("<I", data, i)
        h = (_rotl((h + k * _P3) & _M32, 17) * _P4) & _M32
        i += 4
    for b in data[i:]:
        h = (_rotl((h + b * _P5) & _M32, 11) * _P1) & _M32
    h ^= h >> 15
    h = (h * _P2) & _M32
    h ^= h >> 13
    h = (h * _P3) & _M32
    h ^= h >> 16
    return h
