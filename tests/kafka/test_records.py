"""Record batch v2: decoding what producers send (CRC-32C, every codec), encoding for Fetch."""

import struct

import cramjam
import pytest
from crc32c import crc32c
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from brokercore.errors import CorruptMessage, InvalidRecord
from brokercore.log import batch as rec
from brokercore.types import RecordOut

LIMIT = 1 << 20


def producer_batch(n=3, *, codec=0, producer_id=-1, epoch=-1, base_sequence=-1, value=b"v" * 50) -> bytes:
    """A batch as kafka-python's producer builds it (it can compress with gzip itself)."""
    b = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=False, producer_id=producer_id,
        producer_epoch=epoch, base_sequence=base_sequence, batch_size=LIMIT,
    )
    for i in range(n):
        b.append(i, timestamp=1_700_000_000_000 + i, key=b"k%d" % i, value=value, headers=[("h", b"x"), ("nul", None)])
    return bytes(b.build())


def recompressed(batch: bytes, codec: int, *, xerial: bool = False) -> bytes:
    """The same batch with its records block compressed by `codec` (what librdkafka or Java send)."""
    body = batch[rec.HEADER_SIZE:]
    if codec == rec.SNAPPY and xerial:
        block = bytes(cramjam.snappy.compress_raw(body))
        data = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block
    elif codec == rec.SNAPPY:
        data = bytes(cramjam.snappy.compress_raw(body))
    elif codec == rec.LZ4:
        data = bytes(cramjam.lz4.compress(body))
    elif codec == rec.ZSTD:
        data = bytes(cramjam.zstd.compress(body))
    else:
        data = bytes(cramjam.gzip.compress(body))
    head = bytearray(batch[: rec.HEADER_SIZE])
    attributes = struct.unpack_from(">h", head, 21)[0] & ~rec.COMPRESSION_MASK | codec
    struct.pack_into(">h", head, 21, attributes)
    out = bytearray(head + data)
    struct.pack_into(">i", out, 8, len(out) - 12)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def test_decodes_records_keys_headers_timestamps_and_producer_fields():
    [batch] = rec.batches_decode(producer_batch(producer_id=7, epoch=1, base_sequence=3), max_uncompressed=LIMIT)
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (7, 1, 3)
    assert batch.idempotent and not batch.transactional
    assert [r.key for r in batch.records] == [b"k0", b"k1", b"k2"]
    assert batch.records[2].timestamp == 1_700_000_000_002  # milliseconds kept (kio's reader drops them)
    assert batch.records[0].headers == (("h", b"x"), ("nul", None))


@pytest.mark.parametrize("codec, xerial", [
    (rec.GZIP, False), (rec.SNAPPY, False), (rec.SNAPPY, True), (rec.LZ4, False), (rec.ZSTD, False),
])
def test_every_codec(codec, xerial):
    plain = producer_batch(5)
    [batch] = rec.batches_decode(recompressed(plain, codec, xerial=xerial), max_uncompressed=LIMIT)
    assert batch.compression == codec
    assert batch.records == rec.batches_decode(plain, max_uncompressed=LIMIT)[0].records


def test_gzip_from_kafka_python_itself():
    [batch] = rec.batches_decode(producer_batch(4, codec=rec.GZIP), max_uncompressed=LIMIT)
    assert len(batch.records) == 4


def test_corrupt_crc_is_corrupt_message():
    data = bytearray(producer_batch())
    data[-1] ^= 0x01
    with pytest.raises(CorruptMessage, match="CRC"):
        rec.batches_decode(bytes(data), max_uncompressed=LIMIT)


def test_truncated_batch_and_garbage_are_corrupt():
    data = producer_batch()
    with pytest.raises(CorruptMessage):
        rec.batches_decode(data[:-5], max_uncompressed=LIMIT)
    with pytest.raises(CorruptMessage):
        rec.batches_decode(data[:30], max_uncompressed=LIMIT)
    bad = bytearray(recompressed(data, rec.LZ4))
    bad[rec.HEADER_SIZE + 8] ^= 0xFF  # inside the lz4 frame, CRC then recomputed to pass
    struct.pack_into(">I", bad, 17, crc32c(bytes(bad[21:])))
    with pytest.raises(CorruptMessage):
        rec.batches_decode(bytes(bad), max_uncompressed=LIMIT)


def test_decompression_limit():
    data = recompressed(producer_batch(50, value=b"\0" * 10_000), rec.GZIP)
    with pytest.raises(CorruptMessage, match="decompresses"):
        rec.batches_decode(data, max_uncompressed=10_000)


def test_old_magic_is_invalid_record():
    data = bytearray(producer_batch())
    data[16] = 1
    with pytest.raises(InvalidRecord, match="magic"):
        rec.batches_decode(bytes(data), max_uncompressed=LIMIT)


def test_encoded_batches_read_back_with_kafka_python():
    records = [RecordOut("t", 0, 5 + 2 * i, 1_700_000_000_000 + i, 0, b"k", None if i == 1 else b"v", (("a", b"1"),), 3) for i in range(4)]
    records.append(RecordOut("t", 0, 20, 1_700_000_000_500, 1, b"k", b"x", (), 2))  # LogAppendTime: own batch
    batches = list(_batches(rec.batches_encode(records)))
    assert [b.timestamp_type for b in batches] == [0, 1]
    assert all(b.validate_crc() for b in batches)
    got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for b in batches for r in b]
    assert got[1] == (7, 1_700_000_000_001, b"k", None, [("a", b"1")])
    assert got[-1][:2] == (20, 1_700_000_000_500)


def test_empty_batch_spans_a_compacted_gap():
    [batch] = _batches(rec.empty_batch_encode(10, 19, 1_700_000_000_000))
    assert batch.validate_crc() and batch.next_offset == 20 and list(batch) == []


def _batches(data: bytes):
    mr = MemoryRecords(data)
    while (batch := mr.next_batch()) is not None:
        yield batch


@pytest.mark.parametrize("codec,xerial", [(0, False), (rec.GZIP, False), (rec.SNAPPY, False), (rec.SNAPPY, True),
                                          (rec.LZ4, False), (rec.ZSTD, False)])
def test_a_producers_batch_is_stored_as_sent_and_reads_back_record_by_record(codec, xerial):
    """What the Produce path checks without building records (producer_batch) agrees with a full
    decode, and the stored batch, with its base offset written in, reads back the same records."""
    plain = producer_batch(4, producer_id=9, epoch=2, base_sequence=7)
    data = recompressed(plain, codec, xerial=xerial) if codec else plain
    pending = rec.producer_batch(data, version=9, max_uncompressed=LIMIT)
    [decoded] = rec.batches_decode(data, max_uncompressed=LIMIT)
    assert pending.data == data and (pending.span, pending.count) == (4, 4)
    assert (pending.producer_id, pending.producer_epoch, pending.base_sequence) == (9, 2, 7)
    assert pending.size == sum(len(r.key) + len(r.value) + sum(len(k) + len(v or b"") for k, v in r.headers)
                               for r in decoded.records)
    assert pending.max_timestamp == 1_700_000_000_003 and not pending.null_key
    stored = rec.with_base_offset(pending.data, 100)
    got = rec.batch_records(stored, topic="t", partition=0, start=101, end=103)
    assert [(r.offset, r.key, r.timestamp) for r in got] == [(101, b"k1", 1_700_000_000_001), (102, b"k2", 1_700_000_000_002)]
    assert crc32c(stored[21:]) == struct.unpack_from(">I", stored, 17)[0]  # the base offset is outside the CRC


def test_producer_batch_refuses_what_kafka_refuses():
    good = producer_batch(2)
    with pytest.raises(CorruptMessage):
        rec.producer_batch(good[:-3], version=9, max_uncompressed=LIMIT)
    flipped = bytearray(good)
    flipped[-1] ^= 1
    with pytest.raises(CorruptMessage):
        rec.producer_batch(bytes(flipped), version=9, max_uncompressed=LIMIT)
    with pytest.raises(InvalidRecord):
        rec.producer_batch(good + good, version=9, max_uncompressed=LIMIT)  # one batch per partition
    with pytest.raises(rec.UnsupportedCompression):
        rec.producer_batch(recompressed(good, rec.ZSTD), version=6, max_uncompressed=LIMIT)


def test_log_append_time_stamps_the_header_and_the_crc_still_holds():
    stamped = rec.with_log_append_time(producer_batch(3), 1_800_000_000_000)
    assert crc32c(stamped[21:]) == struct.unpack_from(">I", stamped, 17)[0]
    got = rec.batch_records(stamped, topic="t", partition=0)
    assert {(r.timestamp, r.timestamp_type) for r in got} == {(1_800_000_000_000, 1)}
