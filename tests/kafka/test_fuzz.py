"""Fuzzing the Kafka listener with random and mutated frames: it never falls over.

Seeds are real requests: the bytes confluent-kafka (librdkafka) sends, recorded by a proxy in front
of a listener while it produces with every codec, consumes and administers, plus kio-built
requests for the group APIs it did not use. Hypothesis mutates them: flipped, overwritten, cut,
duplicated and inserted bytes, boundary integers over lengths and counts; some frames get their
length prefix repaired, and some Produce requests are re-encoded around a mutated record batch
whose CRC is repaired, so the mutation reaches the record decoder instead of the framing checks.

What must hold:
- the decoders raise only their own errors: ProtocolError for frames, Kafka errors for batches,
  and a batch the broker accepts reads back the same with kafka-python's independent reader;
- a compressed batch that expands past the limit is refused without expanding it all;
- the listener survives: a malformed frame closes only its own connection, a bystander connection
  is answered after every example, and no handler ends in an unexpected exception;
- a mutated Produce writes each partition's batch whole or not at all (watermarks), always answers
  (acks=-1), and says so per partition, as Kafka does.

Examples are derandomized (the same on every run); each test stays within a few seconds.
"""

import logging
import socket
import struct
import threading
import time

import cramjam
import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka.record.memory_records import MemoryRecords
from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from brokercore.errors import BrokerError, CorruptMessage
from brokercore.kafka.apis.registry import build_entity
from brokercore.kafka.protocol import ProtocolError, RequestHeader, header_peek, request_decode, request_encode
from brokercore.kafka.server import KafkaListener, ListenerThread
from brokercore.log import batch as rec
from brokercore.models import Partition
from tests.factories import topic_factory
from tests.kafka.conftest import Wire
from tests.kafka.test_records import producer_batch, recompressed

FUZZ = settings(
    derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOPIC = "fuzz"
PARTITIONS = 3
LIMIT = 1 << 20
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]


# --- Mutations ----------------------------------------------------------------------------------


@st.composite
def mutated(draw, seed: bytes, *, keep: int = 0) -> bytes:
    """`seed` with one to three mutations, leaving its first `keep` bytes alone."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(keep, max(keep, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "set", "int", "cut", "truncate", "insert", "duplicate", "varint"]))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "int":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from(INTERESTING)) & ((1 << 8 * width) - 1)
            data[pos : pos + width] = value.to_bytes(width, "big")
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[max(keep, pos) :]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 32))]
        elif kind == "varint":  # continuation bytes: a varint too long for its type, or unended
            data[pos:pos] = b"\xff" * draw(st.integers(1, 10))
    return bytes(data)


def crc_repaired(batch: bytes, *, length: bool) -> bytes:
    """The batch with its CRC-32C (and, if asked, its length field) made to match its bytes."""
    out = bytearray(batch)
    if len(out) >= rec.HEADER_SIZE:
        if length:
            struct.pack_into(">i", out, 8, len(out) - 12)
        struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def framed(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def header_end(frame: bytes) -> int:
    """Where the request header of a whole frame (length prefix included) ends."""
    from kio.serial import entity_reader

    peek = header_peek(frame[4:])
    header = load_request_schema(peek.api_key, peek.api_version).__header_schema__
    return 4 + entity_reader(header)(frame[4:], 0)[1]


# --- Decoders, without a listener -----------------------------------------------------------------

BATCH_SEEDS = [
    producer_batch(3),
    producer_batch(2, codec=rec.GZIP),
    producer_batch(4, producer_id=9, epoch=0, base_sequence=5),
    recompressed(producer_batch(3), rec.ZSTD),
    recompressed(producer_batch(3), rec.LZ4),
    recompressed(producer_batch(3), rec.SNAPPY),
    recompressed(producer_batch(3), rec.SNAPPY, xerial=True),
]


def reference_records(batch: bytes) -> list[tuple] | None:
    """The records kafka-python's reader finds in `batch` (None where it has no codec for it, or
    where it is stricter than Kafka: it refuses header keys that are not UTF-8, which Java reads
    with replacement characters, as the broker does)."""
    from kafka.errors import CorruptRecordError

    records = MemoryRecords(batch)
    found = []
    try:
        while records.has_next():
            b = records.next_batch()
            if b.compression_type not in (rec.NONE, rec.GZIP):
                return None  # kafka-python needs extra packages for the other codecs
            found += [(r.key, r.value, tuple(r.headers), r.timestamp) for r in b]
    except CorruptRecordError as e:
        if "UnicodeDecodeError" in str(e):
            return None
        raise
    return found


@settings(FUZZ, max_examples=600)
@given(st.sampled_from(BATCH_SEEDS).flatmap(lambda s: st.tuples(mutated(s, keep=0), st.sampled_from(["crc", "crc+length", "none"]))))
def test_record_batch_decoder_raises_only_kafka_errors(case):
    data, repair = case
    if repair != "none":
        data = crc_repaired(data, length=repair == "crc+length")
    try:
        batches = rec.batches_decode(data, max_uncompressed=LIMIT)
    except BrokerError:
        return
    # Accepted: then it is a batch Kafka's format allows, and another reader sees the same records.
    ours = [(r.key, r.value, r.headers, r.timestamp) for b in batches for r in b.records]
    theirs = reference_records(data)
    if theirs is not None:
        assert ours == [(k, v, tuple((hk, hv) for hk, hv in h), ts) for k, v, h, ts in theirs]


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=200))
def test_record_batch_decoder_on_random_bytes(data):
    try:
        rec.batches_decode(data, max_uncompressed=LIMIT)
    except BrokerError:
        pass


BOMB = """
import gzip, resource, sys, time
import cramjam
from brokercore.errors import CorruptMessage
from brokercore.log import batch as rec

codec = int(sys.argv[1])
zeros = bytes(16 << 20)
# 512 MiB of zeros from little: 32 concatenated frames (gzip members) of 16 MiB each; a raw snappy
# block (which cannot be concatenated) of one literal zero and 8 Mi copies of the 64 before it.
frame = {rec.GZIP: lambda: gzip.compress(zeros, 1), rec.LZ4: lambda: bytes(cramjam.lz4.compress(zeros)),
         rec.ZSTD: lambda: bytes(cramjam.zstd.compress(zeros))}.get(codec)
if codec == rec.GZIP:
    block = gzip.compress(b"x") + frame() * 32  # the bomb after a harmless first member
elif frame:
    block = frame() * 32
else:
    size, copies = 1 + 64 * (8 << 20), 8 << 20
    header = bytearray()
    while size > 0x7F:
        header.append(size & 0x7F | 0x80)
        size >>= 7
    block = bytes(header) + bytes([size]) + b"\\x00\\x00" + b"\\xfe\\x01\\x00" * copies
del zeros
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    rec.decompress(codec, block, limit=1 << 20)
except CorruptMessage as e:
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(grew // 1024, round(time.perf_counter() - started, 2), e)
"""


@pytest.mark.parametrize("codec", [rec.GZIP, rec.SNAPPY, rec.LZ4, rec.ZSTD])
def test_decompression_bomb_is_refused_without_expanding_it(codec):
    # In a child process, so its peak memory is its own: a 512 MiB bomb against a 1 MiB limit
    # must stop near the limit, not allocate what the block expands to.
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", BOMB, str(codec)], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and out.stdout, out.stderr
    grew_mib, seconds, message = out.stdout.split(" ", 2)
    assert "more than 1048576 bytes" in message, message
    assert int(grew_mib) < 32 and float(seconds) < 2, out.stdout


def test_a_block_just_under_the_limit_decompresses_whole():
    data = bytes(range(256)) * 4000  # ~1 MiB, compressible: needs more than one output buffer
    for codec, block in [(rec.ZSTD, cramjam.zstd.compress(data)), (rec.LZ4, cramjam.lz4.compress(data))]:
        assert bytes(rec.decompress(codec, bytes(block), limit=len(data))) == data
        with pytest.raises(CorruptMessage):
            rec.decompress(codec, bytes(block), limit=len(data) - 1)


def test_malformed_varints_and_timestamps_are_kafka_errors():
    from brokercore.errors import InvalidTimestamp

    def record_bytes(body: bytes) -> bytes:
        head = bytearray(producer_batch(1)[: rec.HEADER_SIZE])
        return crc_repaired(bytes(head) + body, length=True)

    # A record length varint of ten continuation bytes (kio: "Varint is too long").
    with pytest.raises(CorruptMessage):
        rec.batches_decode(record_bytes(b"\xff" * 10), max_uncompressed=LIMIT)
    # A record that ends inside its timestamp delta.
    with pytest.raises(CorruptMessage):
        rec.batches_decode(record_bytes(b"\x04\x00\xff\xff"), max_uncompressed=LIMIT)
    # base timestamp + the second record's delta (1) past a Java long.
    head = bytearray(producer_batch(2))
    struct.pack_into(">q", head, 27, 2**63 - 1)
    with pytest.raises(InvalidTimestamp):
        rec.batches_decode(crc_repaired(bytes(head), length=False), max_uncompressed=LIMIT)


def _request_frames() -> list[bytes]:
    """A few kio-built requests (without length prefixes) for the frame-decoder test."""
    frames = []
    for key, version, fields in [
        (18, 3, {"client_software_name": "fuzz", "client_software_version": "1"}),
        (3, 12, {"topics": [{"name": TOPIC}], "allow_auto_topic_creation": False}),
        (0, 9, {"acks": -1, "timeout": 1000, "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": producer_batch(2)}]}]}),
        (1, 12, {"max_wait": 0, "topics": [{"topic": TOPIC, "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1000}]}]}),
    ]:
        request = build_entity(load_request_schema(key, version), fields)
        frames.append(request_encode(RequestHeader(key, version, 1, "fuzz"), request)[4:])
    return frames


@settings(FUZZ, max_examples=400)
@given(st.one_of(st.binary(min_size=8, max_size=100), st.sampled_from(_request_frames()).flatmap(mutated)))
def test_frame_decoder_raises_only_protocol_errors(frame):
    try:
        header_peek(frame)
        request_decode(frame)
    except ProtocolError:
        pass


@pytest.mark.django_db(transaction=True)
def test_a_null_array_where_kafka_allows_none_closes_only_that_connection(kafka_listener, caplog):
    # kio reads a -1 array length as None even where the schema says non-nullable; Kafka's parser
    # refuses it, and so must the listener (handlers iterate these arrays).
    caplog.set_level(logging.WARNING, logger="brokercore")
    request = build_entity(load_request_schema(0, 3), {"acks": -1, "timeout": 1000, "topic_data": [
        {"name": TOPIC, "partition_data": []}]})
    frame = request_encode(RequestHeader(0, 3, 1, "fuzz"), request)
    assert frame.endswith(b"\0\0\0\0")  # the empty partition_data array, last in the frame
    null = frame[:-4] + b"\xff\xff\xff\xff"
    with pytest.raises(ProtocolError, match="partition_data is null"):
        request_decode(null[4:])
    bystander = Wire(kafka_listener.bootstrap)
    try:
        assert exchange(kafka_listener.bootstrap, null) == (b"", True)
        assert bystander.call(18, 3).error_code == ErrorCode.none
    finally:
        bystander.close()
    _no_unexpected_errors(caplog)
    assert any("partition_data is null" in r.getMessage() for r in caplog.records)


def test_a_count_of_billions_is_refused_before_kio_allocates_for_it():
    # A flexible Fetch whose topics array claims 17.8 billion elements: kio would reserve 142 GB
    # for it and abort the whole process (Rust's allocation failure), listener and console alike.
    request = build_entity(load_request_schema(1, 12), {"max_wait": 0, "topics": []})
    frame = request_encode(RequestHeader(1, 12, 1, "fuzz"), request)[4:]
    empty_topics = frame.index(b"\x01\x01\x01")  # topics, forgotten topics, rack id: all empty
    claim = frame[:empty_topics] + b"\xad\xd3\xe4\xb7\x42" + frame[empty_topics + 1 :]
    with pytest.raises(ProtocolError, match="array of 17833732524 elements"):
        request_decode(claim)
    # Legacy (int32) counts too, and a string that claims more than the frame holds.
    metadata = struct.pack(">hhih", 3, 4, 1, 4) + b"fuzz"
    with pytest.raises(ProtocolError, match="array of 2147483647 elements"):
        request_decode(metadata + struct.pack(">i", 2**31 - 1))
    with pytest.raises(ProtocolError, match="past the end"):
        request_decode(metadata + struct.pack(">ih", 1, 300) + b"short")


@pytest.mark.django_db(transaction=True)
def test_nul_characters_in_client_and_group_ids(kafka_listener, caplog):
    # Kafka takes any string; PostgreSQL text cannot hold a NUL. A client id is only a label: it
    # is stored with a replacement character. A group id the database refuses closes only that
    # connection, with one warning (no traceback).
    caplog.set_level(logging.WARNING, logger="brokercore")
    wire = Wire(kafka_listener.bootstrap)
    try:
        wire.send(22, 4, client_id="app\x00one", transactional_id=None, transaction_timeout_ms=1000,
                  producer_id=-1, producer_epoch=-1)
        answer = wire.recv(22, 4)
        assert answer.error_code == ErrorCode.none and answer.producer_id >= 0
    finally:
        wire.close()
    topic_factory(name=TOPIC, partitions=1)
    request = build_entity(load_request_schema(8, 8), {"group_id": "g\x00", "generation_id_or_member_epoch": -1, "member_id": "",
                                                       "topics": [{"name": TOPIC, "partitions": [{"partition_index": 0, "committed_offset": 1}]}]})
    exchange(kafka_listener.bootstrap, request_encode(RequestHeader(8, 8, 1, "fuzz"), request))
    bystander = Wire(kafka_listener.bootstrap)
    try:
        assert bystander.call(18, 3).error_code == ErrorCode.none
    finally:
        bystander.close()
    _no_unexpected_errors(caplog)


# --- Seeds: what a real client sends --------------------------------------------------------------


class Recorder:
    """A TCP proxy that forwards to the listener and keeps every byte clients send it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.streams: list[bytearray] = []
        self.upstream = 0

    def start(self, upstream: int) -> None:
        self.upstream = upstream
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                broker = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:  # the listener has stopped; the client will give up
                client.close()
                continue
            sent = bytearray()
            self.streams.append(sent)
            threading.Thread(target=self._pump, args=(client, broker, sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(broker, client, None), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while chunk := src.recv(65536):
                if keep is not None:
                    keep += chunk
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def frames(self) -> list[bytes]:
        """Every complete request frame recorded (length prefix included)."""
        out = []
        for stream in self.streams:
            pos = 0
            while pos + 4 <= len(stream):
                size = int.from_bytes(stream[pos : pos + 4], "big")
                if pos + 4 + size > len(stream):
                    break
                out.append(bytes(stream[pos : pos + 4 + size]))
                pos += 4 + size
        return out

    def close(self) -> None:
        self.server.close()


_SEEDS: list[bytes] = []


def _record_client_frames() -> list[bytes]:
    """confluent-kafka producing (every codec, idempotent too), consuming and administering,
    through a Recorder in front of a listener that advertises the Recorder's address."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    from tests.kafka.conftest import Credentials, user_create

    recorder = Recorder()
    thread = ListenerThread(KafkaListener(host="127.0.0.1", port=0, advertised_host="127.0.0.1",
                                          advertised_port=recorder.port, allow_anonymous=True)).start()
    recorder.start(thread.listener.port)
    bootstrap = f"127.0.0.1:{recorder.port}"
    try:
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5,
                                 "enable.idempotence": codec == "none", "partitioner": "murmur2_random"})
            for i in range(6):
                producer.produce(TOPIC, key=f"key-{i}".encode(), value=b"value-%d" % i * 8, headers=[("h", b"x")])
            assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fuzz-seed", "fetch.wait.max.ms": 10,
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(TOPIC, p, -2) for p in range(PARTITIONS)])  # -2: beginning
        deadline = time.monotonic() + 5
        got = 0
        while got < 5 and time.monotonic() < deadline:
            got += len(consumer.consume(10, timeout=0.2))
        consumer.close()
        # As a staff user (topic changes need one), which also records SaslHandshake and
        # SaslAuthenticate frames to mutate.
        staff, _, token = user_create(staff=True)
        admin = AdminClient({"bootstrap.servers": bootstrap, **Credentials(staff.username, token).confluent()})
        for future in admin.create_topics([NewTopic("fuzz-admin", 2, 1)]).values():
            future.result(10)
        for future in admin.create_partitions([NewPartitions("fuzz-admin", 3)]).values():
            future.result(10)
        for future in admin.describe_configs([ConfigResource("topic", TOPIC)]).values():
            future.result(10)
    finally:
        thread.stop()
        recorder.close()
    return recorder.frames()


def _built_group_frames() -> list[bytes]:
    """Group requests librdkafka sent none of here; each answers at once (no barrier waits)."""
    frames = []
    for key, version, fields in [
        (10, 4, {"key_type": 0, "coordinator_keys": ["fuzz-group"]}),
        (12, 4, {"group_id": "fuzz-group", "generation_id": 1, "member_id": "m-1"}),
        (8, 8, {"group_id": "fuzz-group", "generation_id_or_member_epoch": -1, "member_id": "", "topics": [
            {"name": TOPIC, "partitions": [{"partition_index": 0, "committed_offset": 1, "committed_metadata": "m"}]}]}),
        (9, 7, {"group_id": "fuzz-group", "topics": [{"name": TOPIC, "partition_indexes": [0, 1]}]}),
        (15, 5, {"groups": ["fuzz-group"], "include_authorized_operations": True}),
        (16, 4, {"states_filter": ["Empty"]}),
        (13, 4, {"group_id": "fuzz-group", "members": [{"member_id": "m-1", "reason": "bye"}]}),
        (2, 7, {"replica_id": -1, "isolation_level": 0, "topics": [{"name": TOPIC, "partitions": [
            {"partition_index": 0, "timestamp": -1}]}]}),
    ]:
        request = build_entity(load_request_schema(key, version), fields)
        frames.append(request_encode(RequestHeader(key, version, 7, "fuzz"), request))
    return frames


@pytest.fixture
def seeds(kafka_listener) -> list[bytes]:
    """Request frames of real clients (recorded once per run) and the group requests, with the
    topic they name created in this test's database."""
    topic_factory(name=TOPIC, partitions=PARTITIONS)
    if not _SEEDS:
        # One frame per API, version and codec, in a fixed order, so that the derandomized
        # examples change little from run to run although a client's bytes do (ids, timing).
        kept: dict[tuple, bytes] = {}
        for frame in _record_client_frames() + _built_group_frames():
            peek = header_peek(frame[4:])
            codec = None
            if peek.api_key == 0:
                records = request_decode(frame[4:])[1].topic_data[0].partition_data[0].records
                codec = rec.batches_decode(records, max_uncompressed=LIMIT)[0].compression
            kept.setdefault((peek.api_key, peek.api_version, codec), frame)
        _SEEDS.extend(kept[k] for k in sorted(kept, key=str))
    return _SEEDS


def exchange(bootstrap: str, data: bytes, *, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Send `data` on a new connection, end the sending side, read until the listener closes it.
    (what was answered, whether it closed within the timeout)"""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = bytearray()
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            return bytes(answer), False
        except ConnectionResetError:
            pass
        return bytes(answer), True


def _no_unexpected_errors(caplog) -> None:
    failures = [r for r in caplog.records if r.name.startswith("brokercore") and r.levelno >= logging.ERROR]
    assert not failures, "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in failures[:3])


# --- The listener under mutated frames --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_seeds_cover_the_clients_requests(seeds):
    kinds = {header_peek(f[4:]).api_key for f in seeds}
    # ApiVersions, Metadata, Produce (with InitProducerId), Fetch, ListOffsets, admin and group APIs.
    assert {18, 3, 0, 22, 1, 2, 19, 37, 32, 10, 12, 8, 9, 15, 16, 13, 17, 36} <= kinds, kinds
    assert len({rec.batches_decode(request_decode(f[4:])[1].topic_data[0].partition_data[0].records,
                                   max_uncompressed=LIMIT)[0].compression
                for f in seeds if header_peek(f[4:]).api_key == 0}) == 5  # every codec


@pytest.mark.django_db(transaction=True)
def test_every_seed_is_answered_intact(kafka_listener, seeds):
    """The seeds reach their handlers as they are, so a mutation of one tests a handler's decoding,
    not a frame the listener refuses anyway."""
    unanswered = []
    for frame in seeds:
        answer, closed = exchange(kafka_listener.bootstrap, frame)
        if not answer or not closed:
            unanswered.append(header_peek(frame[4:]))
    assert not unanswered, unanswered


@pytest.mark.django_db(transaction=True)
def test_listener_survives_random_and_mutated_frames(kafka_listener, seeds, caplog):
    caplog.set_level(logging.WARNING, logger="brokercore")
    bootstrap = kafka_listener.bootstrap
    bystander = Wire(bootstrap)
    outcomes = {"answered": 0, "closed": 0, "slow": 0}

    # Mostly real frames: mutated anywhere after the length prefix, or only in the payload (the
    # header intact, so the mutation reaches the handler); with the prefix repaired or not.
    mutated_seed = st.tuples(st.sampled_from(seeds), st.integers(0, 3)).flatmap(
        lambda c: mutated(c[0], keep=header_end(c[0]) if c[1] else 4))
    frames = st.one_of(
        st.binary(min_size=0, max_size=64),
        st.binary(min_size=8, max_size=64).map(framed),
        *[st.tuples(mutated_seed, st.integers(0, 3)).map(lambda c: framed(c[0][4:]) if c[1] else c[0])] * 6,
    )

    @settings(FUZZ, max_examples=250)
    @given(frames)
    def run(data):
        # 5 s: a mutated Fetch may ask to wait long; a busy machine may pause a connection 2 s.
        answer, closed = exchange(bootstrap, data, timeout=5)
        outcomes["answered" if answer else "closed"] += 1
        outcomes["slow"] += not closed
        # Everybody else keeps being served, and a new connection is accepted.
        assert bystander.call(18, 3, client_software_name="bystander", client_software_version="1").error_code == ErrorCode.none

    try:
        run()
        assert bystander.call(3, 12, topics=[{"name": TOPIC}]).topics[0].error_code == ErrorCode.none
    finally:
        bystander.close()
    _no_unexpected_errors(caplog)
    # Some mutations reach the handlers, not just the framing checks (the share moves with the
    # recorded seeds, whose bytes depend on the clients' timing: 24 to 38 of 250 seen), and they
    # rarely hang a connection (a mutated Fetch may ask to wait long).
    assert outcomes["answered"] >= 10, outcomes
    assert outcomes["slow"] <= 5, outcomes


def _watermarks() -> dict[int, int]:
    return dict(Partition.objects.filter(topic__name=TOPIC, topic__deleted_at__isnull=True)
                .values_list("index", "high_watermark"))


@pytest.mark.django_db(transaction=True)
def test_mutated_produce_writes_each_batch_whole_or_not_at_all(kafka_listener, seeds, caplog):
    caplog.set_level(logging.WARNING, logger="brokercore")
    produce = [request_decode(f[4:]) for f in seeds if header_peek(f[4:]).api_key == 0]
    batches = [p.records for _, req in produce for t in req.topic_data for p in t.partition_data if p.records]
    # Non-idempotent batches: an idempotent one's sequence check would refuse most replays, and
    # hide what the record decoder does.
    batches = [b for b in batches if not rec.batches_decode(b, max_uncompressed=LIMIT)[0].idempotent]
    version = max(h.api_version for h, _ in produce)
    wire = Wire(kafka_listener.bootstrap)
    outcomes = {"written": 0, "refused": 0}

    one_batch = st.tuples(st.sampled_from(batches), st.sampled_from(["intact", "crc", "crc+length", "raw"])).flatmap(
        lambda c: st.just(c[0]) if c[1] == "intact" else mutated(c[0]).map(
            lambda m, how=c[1]: m if how == "raw" else crc_repaired(m, length=how == "crc+length"))
    )

    @settings(FUZZ, max_examples=200)
    @given(st.lists(one_batch, min_size=PARTITIONS, max_size=PARTITIONS))
    def run(three):
        before = _watermarks()
        response = wire.call(0, version, acks=-1, timeout_ms=5000, topic_data=[
            {"name": TOPIC, "partition_data": [{"index": i, "records": b} for i, b in enumerate(three)]},
        ])
        after = _watermarks()
        [topic] = response.responses
        for part in topic.partition_responses:
            grew = after[part.index] - before[part.index]
            if part.error_code == ErrorCode.none:
                [batch] = rec.batches_decode(three[part.index], max_uncompressed=LIMIT)
                if batch.idempotent and grew == 0:
                    # A mutation made it an idempotent batch its producer sent already: Kafka
                    # answers a duplicate with the original's offset and writes nothing.
                    assert part.base_offset < before[part.index]
                else:
                    assert part.base_offset == before[part.index] and grew == len(batch.records)
                outcomes["written"] += 1
            else:
                assert grew == 0, f"partition {part.index} refused ({part.error_code}) but grew by {grew}"
                outcomes["refused"] += 1

    try:
        run()
    finally:
        wire.close()
    _no_unexpected_errors(caplog)
    assert outcomes["written"] >= 30 and outcomes["refused"] >= 30, outcomes
