"""The API versions Kafka 3.9 accepts and Kafka 4 dropped: message formats v0/v1 through Produce
v0-2 and Fetch v0-3 (built and read with kafka-python's own legacy codec, which no one here wrote),
ListOffsets v0, OffsetCommit/OffsetFetch v0-1, CreateTopics v0-1, DeleteTopics v0, DescribeConfigs
v0, and the newest versions of 3.9 (ListOffsets v9, ListGroups v5)."""

import gzip
import struct
import time
import zlib

import pytest
from kafka.record.legacy_records import LegacyRecordBatch, LegacyRecordBatchBuilder
from kio.schema.errors import ErrorCode

from brokercore.log import batch as codec
from brokercore.log.legacy import batches_down_convert, compress, lz4_frame_mended, message_set_batch
from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create
from tests.kafka.test_records import producer_batch

pytestmark = pytest.mark.django_db(transaction=True)

GZIP, SNAPPY, LZ4 = 1, 2, 3  # kafka-python's legacy codec attribute values, Kafka's too


def message_set(magic: int, rows: list[tuple[int, bytes | None, bytes | None]], *, compression: int = 0) -> bytes:
    """A message set of `magic` built by kafka-python: rows of (timestamp, key, value). Snappy and
    lz4 wrappers (kafka-python lacks those libraries here) wrap kafka-python's inner messages
    with the broker's compressor, offsets as Kafka's producer gives them."""
    own = compression in (SNAPPY, LZ4)
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0 if own else compression, batch_size=1 << 20)
    for i, (ts, key, value) in enumerate(rows):
        builder.append(i, timestamp=ts if magic else None, key=key, value=value)
    data = bytes(builder.build())
    if not own:
        return data
    attributes = compression
    body = struct.pack(">bb", magic, attributes) + (struct.pack(">q", max(r[0] for r in rows)) if magic else b"")
    packed = compress(compression, data, magic=magic)
    body += struct.pack(">i", -1) + struct.pack(">i", len(packed)) + packed
    return struct.pack(">qiI", len(rows) - 1, len(body) + 4, zlib.crc32(body)) + body


def messages(data: bytes, magic: int) -> list[tuple[int, int | None, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of every message in a message set, by kafka-python's
    reader (which opens gzip wrappers, and checks each CRC); snappy and lz4 wrappers are opened
    with the broker's decompressor, their inner messages read by kafka-python."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        (size,) = struct.unpack_from(">i", data, pos + 8)
        raw = data[pos : pos + 12 + size]
        assert raw[16] == magic
        outer = LegacyRecordBatch(raw, magic)
        assert outer.validate_crc()
        if outer.compression_type in (SNAPPY, LZ4):
            (last,) = struct.unpack_from(">q", raw, 0)
            at = 18 + (8 if magic else 0)
            (key_length,) = struct.unpack_from(">i", raw, at)
            at += 4 + max(key_length, 0)
            value = raw[at + 4 : at + 4 + struct.unpack_from(">i", raw, at)[0]]
            inner = bytes(codec.decompress(outer.compression_type, lz4_frame_mended(value), limit=1 << 24))
            found = messages(inner, magic)
            base = last - found[-1][0] if magic else 0  # magic 1 inner offsets count from the first
            out += [(base + o, ts, k, v) for o, ts, k, v in found]
        else:
            out += [(r.offset, r.timestamp, r.key, r.value) for r in outer]
        pos += 12 + size
    return out


def produce(wire, version, topic, records, *, partition=0):
    r = wire.call(0, version, acks=-1, timeout=5000,
                  topic_data=[{"name": topic, "partition_data": [{"index": partition, "records": records}]}])
    return r.responses[0].partition_responses[0]


def fetch(wire, version, topic, offset, *, partition=0):
    r = wire.call(1, version, max_wait=0, min_bytes=1, max_bytes=1 << 20,
                  topics=[{"topic": topic, "partitions": [{"partition": partition, "fetch_offset": offset,
                                                            "partition_max_bytes": 1 << 20}]}])
    return r.responses[0].partitions[0]


@pytest.mark.parametrize("compression", [0, GZIP, SNAPPY, LZ4])
def test_produce_v0_magic_0_is_stored_as_a_batch_and_fetched_back_in_every_format(wire, compression):
    topic_create(name="old")
    rows = [(-1, b"k%d" % i, b"v" * i) for i in range(4)] + [(-1, None, b"null key")]
    p = produce(wire, 0, "old", message_set(0, rows, compression=compression))
    assert (p.error_code, p.base_offset) == (ErrorCode.none, 0)
    assert produce(wire, 1, "old", message_set(0, rows[:2], compression=compression)).base_offset == 5
    stored = records_fetch(topic="old", partition=0, offset=0).records
    # Magic 0 has no timestamps: Kafka stores NO_TIMESTAMP (-1).
    assert [(r.offset, r.key, r.value, r.timestamp) for r in stored] == [
        (i, k, v, -1) for i, (_, k, v) in enumerate(rows + rows[:2])]
    # Fetch v0/v1: magic 0 messages with their log offsets, from the fetch offset on.
    got = fetch(wire, 0, "old", 2)
    assert got.error_code == ErrorCode.none and got.high_watermark == 7
    assert messages(got.records, 0) == [(i, None, k, v) for i, (_, k, v) in enumerate(rows + rows[:2])][2:]
    # Fetch v2/v3: magic 1, the timestamps -1.
    assert messages(fetch(wire, 3, "old", 0).records, 1) == [(i, -1, k, v) for i, (_, k, v) in enumerate(rows + rows[:2])]
    # Fetch v4+: record batches, as stored.
    assert codec.batches_decode(fetch(wire, 4, "old", 0).records, max_uncompressed=1 << 20)[0].records[0].key == b"k0"


@pytest.mark.parametrize("compression", [0, GZIP, SNAPPY, LZ4])
def test_produce_v2_magic_1_keeps_timestamps_and_fetch_v2_gives_them_back(wire, compression):
    topic_create(name="one")
    now = 1_700_000_000_000
    rows = [(now + i, b"k%d" % i, b"value %d" % i) for i in range(3)]
    p = produce(wire, 2, "one", message_set(1, rows, compression=compression))
    assert (p.error_code, p.base_offset, p.log_append_time) == (ErrorCode.none, 0, None)
    assert [(r.timestamp, r.key) for r in records_fetch(topic="one", partition=0, offset=0).records] == [
        (ts, k) for ts, k, _ in rows]
    assert messages(fetch(wire, 2, "one", 1).records, 1) == [(i, ts, k, v) for i, (ts, k, v) in enumerate(rows)][1:]
    # A v2 batch produced today reads as magic 0 by a Fetch v1 client.
    produce_v9 = wire.call(0, 9, transactional_id=None, acks=-1, timeout=5000,
                           topic_data=[{"name": "one", "partition_data": [{"index": 0, "records": producer_batch(2)}]}])
    assert produce_v9.responses[0].partition_responses[0].base_offset == 3
    assert [m[0] for m in messages(fetch(wire, 1, "one", 0).records, 0)] == [0, 1, 2, 3, 4]


def test_down_conversion_of_a_compressed_batch_keeps_kafkas_wrapper_offsets():
    """Kafka gives a compressed wrapper the offset of its last message; magic 1 inner messages
    count from 0 (relative), magic 0 inner messages carry their log offsets."""
    rows = [(1000 + i, b"k", b"v%d" % i) for i in range(3)]
    pending = message_set_batch(message_set(1, rows, compression=GZIP), max_uncompressed=1 << 20)
    stored = codec.with_base_offset(pending.data, 10)
    for magic in (0, 1):
        out = batches_down_convert(stored, magic=magic, fetch_offset=11)
        (wrapper_offset,) = struct.unpack_from(">q", out, 0)
        assert wrapper_offset == 12
        assert out[17] & 0x07 == GZIP
        assert [(o, v) for o, _, _, v in messages(out, magic)] == [(11, b"v1"), (12, b"v2")]


def test_log_append_time_topic_down_converts_with_the_append_time(wire):
    topic_create(name="lat", configs={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    p = produce(wire, 2, "lat", message_set(1, [(5, b"k", b"v")]))
    assert p.log_append_time.timestamp() * 1000 >= before - 1
    ((_, ts, _, _),) = messages(fetch(wire, 2, "lat", 0).records, 1)
    assert ts >= before - 1
    assert fetch(wire, 2, "lat", 0).records[17] & 0x08  # the timestamp-type attribute says LogAppendTime


def test_bad_message_sets_are_refused_with_kafkas_errors(wire):
    topic_create(name="bad")
    good = message_set(1, [(1, b"k", b"v")])
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    assert produce(wire, 2, "bad", corrupt).error_code == ErrorCode.corrupt_message
    # A wrapper around a compressed message: Kafka's LogValidator refuses it.
    packed = gzip.compress(message_set(1, [(1, b"k", b"v")], compression=GZIP))
    body = struct.pack(">bbq", 1, GZIP, 1) + struct.pack(">i", -1) + struct.pack(">i", len(packed)) + packed
    nested = struct.pack(">qiI", 0, len(body) + 4, zlib.crc32(body)) + body
    assert produce(wire, 2, "bad", nested).error_code == ErrorCode.invalid_record
    # Magic 2 batches in Produce v3+ only; magic 0/1 messages after v2 are refused.
    assert wire.call(0, 3, transactional_id=None, acks=-1, timeout=5000, topic_data=[
        {"name": "bad", "partition_data": [{"index": 0, "records": good}]}]).responses[0].partition_responses[0].error_code \
        == ErrorCode.invalid_record
    assert records_fetch(topic="bad", partition=0, offset=0).records == []


def test_fetch_v0_of_a_zstd_batch_is_unsupported_compression(wire):
    import cramjam

    topic_create(name="z")
    plain = producer_batch(1)
    fields = list(codec.HEADER.unpack_from(plain, 0))
    body = bytes(cramjam.zstd.compress(plain[codec.HEADER_SIZE:]))
    fields[1], fields[5] = codec.HEADER_SIZE - 12 + len(body), fields[5] | codec.ZSTD
    head = bytearray(codec.HEADER.pack(*fields))
    from crc32c import crc32c

    struct.pack_into(">I", head, 17, crc32c(bytes(head[21:]) + body))
    r = wire.call(0, 9, transactional_id=None, acks=-1, timeout=5000,
                  topic_data=[{"name": "z", "partition_data": [{"index": 0, "records": bytes(head) + body}]}])
    assert r.responses[0].partition_responses[0].error_code == ErrorCode.none
    assert fetch(wire, 3, "z", 0).error_code == ErrorCode.unsupported_compression_type
    # Record batches, but before zstd (KIP-110: Fetch v10): refused too, not handed over unreadable.
    refused = fetch(wire, 9, "z", 0)
    assert refused.error_code == ErrorCode.unsupported_compression_type and not refused.records
    served = fetch(wire, 10, "z", 0)
    assert served.error_code == ErrorCode.none and served.records


def test_list_offsets_v0_old_style_and_negative_timestamps_by_version(wire):
    topic_create(name="lo")
    produce(wire, 2, "lo", message_set(1, [(1, b"k", b"v")] * 3))
    def v0(timestamp, most=10):
        r = wire.call(2, 0, replica_id=-1, topics=[{"name": "lo", "partitions": [
            {"partition_index": 0, "timestamp": timestamp, "max_num_offsets": most}]}])
        return r.topics[0].partitions[0]
    assert v0(-1).old_style_offsets == (3, 0)  # the log end, then the (one) segment's start
    assert v0(-1, most=1).old_style_offsets == (3,)
    assert v0(-2).old_style_offsets == (0,)
    assert v0(int(time.time() * 1000) + 60_000).old_style_offsets == (3, 0)
    assert v0(0).old_style_offsets == ()  # written after that time: no offset before it
    assert v0(-3).error_code == ErrorCode.unsupported_version

    def v(version, timestamp):
        r = wire.call(2, version, replica_id=-1, topics=[{"name": "lo", "partitions": [
            {"partition_index": 0, "timestamp": timestamp}]}])
        return r.topics[0].partitions[0]
    assert v(6, -3).error_code == ErrorCode.unsupported_version  # max timestamp: v7 on
    assert v(7, -3).error_code == ErrorCode.none
    assert v(8, -5).error_code == ErrorCode.unsupported_version
    assert (v(9, -5).error_code, v(9, -5).offset) == (ErrorCode.none, -1)  # nothing tiered
    assert v(9, -4).offset == 0


def test_offset_commit_v1_is_kept_and_v0_is_zookeepers(wire):
    topic_create(name="oc")
    r = wire.call(8, 1, group_id="g1", generation_id_or_member_epoch=-1, member_id="", topics=[
        {"name": "oc", "partitions": [{"partition_index": 0, "committed_offset": 7, "commit_timestamp": -1,
                                       "committed_metadata": "m"}]}])
    assert r.topics[0].partitions[0].error_code == ErrorCode.none
    got = wire.call(9, 1, group_id="g1", topics=[{"name": "oc", "partition_indexes": [0]}])
    assert (got.topics[0].partitions[0].committed_offset, got.topics[0].partitions[0].metadata) == (7, "m")
    # Version 0 kept offsets in ZooKeeper; Kafka 3.9 without it answers UNSUPPORTED_VERSION.
    r = wire.call(8, 0, group_id="g1", topics=[{"name": "oc", "partitions": [
        {"partition_index": 0, "committed_offset": 9, "committed_metadata": None}]}])
    assert r.topics[0].partitions[0].error_code == ErrorCode.unsupported_version
    got = wire.call(9, 0, group_id="g1", topics=[{"name": "oc", "partition_indexes": [0]}])
    assert (got.topics[0].partitions[0].error_code, got.topics[0].partitions[0].committed_offset) == (
        ErrorCode.unsupported_version, -1)
    assert wire.call(9, 1, group_id="g1", topics=[{"name": "oc", "partition_indexes": [0]}]).topics[0].partitions[0] \
        .committed_offset == 7


def test_create_delete_topics_and_describe_configs_v0(staff_wire):
    wire = staff_wire
    r = wire.call(19, 0, topics=[{"name": "v0.topic", "num_partitions": 2, "replication_factor": 1,
                                  "assignments": [], "configs": [{"name": "retention.ms", "value": "1000"}]}])
    assert r.topics[0].error_code == ErrorCode.none and not hasattr(r.topics[0], "error_message")
    r = wire.call(19, 1, topics=[{"name": "v1.topic", "num_partitions": 1, "replication_factor": 1,
                                  "assignments": [], "configs": []}], validate_only=True)
    assert r.topics[0].error_code == ErrorCode.none
    r = wire.call(19, 1, topics=[{"name": "v0.topic", "num_partitions": 1, "replication_factor": 1,
                                  "assignments": [], "configs": []}])
    assert r.topics[0].error_code == ErrorCode.topic_already_exists and r.topics[0].error_message
    r = wire.call(32, 0, resources=[{"resource_type": 2, "resource_name": "v0.topic",
                                     "configuration_keys": ["retention.ms", "cleanup.policy"]}])
    configs = {c.name: (c.value, c.is_default) for c in r.results[0].configs}
    assert configs == {"retention.ms": ("1000", False), "cleanup.policy": ("delete", True)}
    r = wire.call(20, 0, topic_names=["v0.topic", "v1.topic"], timeout=5000)
    assert [(t.name, t.error_code) for t in r.responses] == [
        ("v0.topic", ErrorCode.none), ("v1.topic", ErrorCode.unknown_topic_or_partition)]


def test_list_groups_v5_filters_by_type(wire):
    topic_create(name="lg")
    r = wire.call(8, 2, group_id="typed", generation_id_or_member_epoch=-1, member_id="", topics=[
        {"name": "lg", "partitions": [{"partition_index": 0, "committed_offset": 1, "committed_metadata": None}]}])
    assert r.topics[0].partitions[0].error_code == ErrorCode.none
    r = wire.call(16, 5, states_filter=[], types_filter=["Classic"])  # matched without case, as Kafka
    assert [(g.group_id, g.group_type) for g in r.groups] == [("typed", "classic")]
    assert [g.group_id for g in wire.call(16, 5, states_filter=[], types_filter=[]).groups] == ["typed"]
    assert wire.call(16, 5, states_filter=[], types_filter=["consumer"]).groups == ()


# Kafka 3.9's validVersions (clients/src/main/resources/common/message/*Request.json at the 3.9
# branch) of every API this broker implements.
KAFKA_3_9 = {
    0: (0, 11), 1: (0, 17), 2: (0, 9), 3: (0, 12), 8: (0, 9), 9: (0, 9), 10: (0, 6), 11: (0, 9), 12: (0, 4),
    13: (0, 5), 14: (0, 5), 15: (0, 5), 16: (0, 5), 17: (0, 1), 18: (0, 4), 19: (0, 7), 20: (0, 6), 21: (0, 2),
    22: (0, 5), 29: (0, 3), 30: (0, 3), 31: (0, 3), 32: (0, 4), 33: (0, 2), 35: (0, 4), 36: (0, 2), 37: (0, 3), 42: (0, 2),
    44: (0, 1), 47: (0, 0), 50: (0, 0), 51: (0, 0), 60: (0, 1),
    # Kafka 4.0's range, not 3.9's (v0 only, unstable): librdkafka asks for v1 before it tries the
    # consumer protocol, and it must try, to be refused loudly (test_group_protocol_consumer.py).
    68: (0, 1),
}


def test_every_api_serves_kafka_3_9s_versions_and_docs_list_them():
    import re
    from pathlib import Path

    from brokercore.kafka.apis import load
    from brokercore.kafka.apis.registry import HANDLERS

    load()
    served = {k: (a.min_version, a.max_version) for k, a in HANDLERS.items()}
    assert served == KAFKA_3_9
    doc = (Path(__file__).resolve().parents[2] / "docs" / "KAFKA.md").read_text()
    listed = {int(k): (int(lo), int(hi)) for k, lo, hi in re.findall(r"^\| (\d+) \| \w+ \| (\d+)–(\d+) \|", doc, re.M)}
    assert listed == served
