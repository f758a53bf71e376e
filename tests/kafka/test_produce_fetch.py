"""Produce, Fetch, ListOffsets and DeleteRecords over the wire, with the batches we choose."""

import threading
import time

import pytest
from kio.schema.errors import ErrorCode

from brokercore.log.append import records_append
from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create
from brokercore.types import RecordIn
from tests.kafka.conftest import Wire
from tests.kafka.test_records import producer_batch

pytestmark = pytest.mark.django_db(transaction=True)


def produce(wire, topic, batch, *, partition=0, acks=-1, version=9):
    r = wire.call(0, version, transactional_id=None, acks=acks, timeout=5000,
                  topic_data=[{"name": topic, "partition_data": [{"index": partition, "records": batch}]}])
    return r.responses[0].partition_responses[0]


def fetch(wire, topic, offset, *, partition=0, max_wait_ms=0, min_bytes=1, version=12, partition_max_bytes=1 << 20):
    r = wire.call(1, version, max_wait=max_wait_ms, min_bytes=min_bytes, max_bytes=1 << 24, isolation_level=0,
                  session_id=0, session_epoch=-1,
                  topics=[{"topic": topic, "partitions": [{"partition": partition, "fetch_offset": offset,
                                                            "partition_max_bytes": partition_max_bytes}]}],
                  forgotten_topics_data=[])
    return r.responses[0].partitions[0]


def init_producer(wire) -> int:
    r = wire.call(22, 4, transactional_id=None, transaction_timeout=60000, producer_id=-1, producer_epoch=-1)
    assert r.error_code == ErrorCode.none and r.producer_epoch == 0
    return r.producer_id


def test_produce_appends_each_record_with_key_headers_and_timestamp(wire):
    topic_create(name="p", partitions=2)
    p = produce(wire, "p", producer_batch(3), partition=1)
    assert (p.error_code, p.base_offset) == (ErrorCode.none, 0)
    assert p.log_append_time is None  # CreateTime topic: the client's timestamps stand
    got = records_fetch(topic="p", partition=1, offset=0).records
    assert [(r.offset, r.key, r.timestamp) for r in got] == [(i, b"k%d" % i, 1_700_000_000_000 + i) for i in range(3)]
    assert got[0].headers == (("h", b"x"), ("nul", None))
    assert produce(wire, "p", producer_batch(2), partition=1).base_offset == 3


def test_log_append_time_topic_answers_the_broker_time(wire):
    topic_create(name="lat", configs={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    p = produce(wire, "lat", producer_batch(1))
    assert p.log_append_time.timestamp() * 1000 >= before - 1
    assert records_fetch(topic="lat", partition=0, offset=0).records[0].timestamp_type == 1


def test_produce_errors_per_partition(wire):
    topic_create(name="small", configs={"max.message.bytes": "100"})
    corrupt = bytearray(producer_batch())
    corrupt[-1] ^= 1
    assert produce(wire, "small", bytes(corrupt)).error_code == ErrorCode.corrupt_message
    assert produce(wire, "small", producer_batch(3)).error_code == ErrorCode.message_too_large
    assert produce(wire, "nope", producer_batch()).error_code == ErrorCode.unknown_topic_or_partition
    assert produce(wire, "small", producer_batch(1, value=b""), partition=5).error_code == ErrorCode.unknown_topic_or_partition
    assert produce(wire, "small", producer_batch(1, value=b"") * 2).error_code == ErrorCode.invalid_record
    assert produce(wire, "small", producer_batch(1, value=b""), acks=2).error_code == ErrorCode.invalid_required_acks
    assert records_fetch(topic="small", partition=0, offset=0).high_watermark == 0


def test_acks_zero_gets_no_answer_and_still_appends(wire):
    topic_create(name="a0")
    wire.send(0, 9, transactional_id=None, acks=0, timeout=5000,
              topic_data=[{"name": "a0", "partition_data": [{"index": 0, "records": producer_batch(2)}]}])
    # The next frame on the connection is the answer to the next request.
    assert wire.call(18, 3).error_code == ErrorCode.none
    assert records_fetch(topic="a0", partition=0, offset=0).high_watermark == 2
    # A failed acks=0 produce closes the connection, as Kafka does, so the client notices.
    wire.send(0, 9, transactional_id=None, acks=0, timeout=5000,
              topic_data=[{"name": "missing", "partition_data": [{"index": 0, "records": producer_batch(1)}]}])
    assert wire.closed_by_peer()


def test_idempotent_retry_is_written_once_and_gaps_are_refused(wire):
    topic_create(name="idem")
    pid = init_producer(wire)
    assert init_producer(wire) != pid  # every InitProducerId without a transactional id: a new id
    first = producer_batch(3, producer_id=pid, epoch=0, base_sequence=0)
    assert produce(wire, "idem", first).base_offset == 0
    assert produce(wire, "idem", producer_batch(2, producer_id=pid, epoch=0, base_sequence=3)).base_offset == 3
    retry = produce(wire, "idem", first)  # a retry of the first batch: its offset, nothing written
    assert (retry.error_code, retry.base_offset) == (ErrorCode.none, 0)
    assert records_fetch(topic="idem", partition=0, offset=0).high_watermark == 5
    gap = produce(wire, "idem", producer_batch(1, producer_id=pid, epoch=0, base_sequence=9))
    assert gap.error_code == ErrorCode.out_of_order_sequence_number
    bumped = produce(wire, "idem", producer_batch(1, producer_id=pid, epoch=1, base_sequence=0))
    assert (bumped.error_code, bumped.base_offset) == (ErrorCode.none, 5)
    fenced = produce(wire, "idem", producer_batch(1, producer_id=pid, epoch=0, base_sequence=5))
    assert fenced.error_code == ErrorCode.invalid_producer_epoch


def test_one_retried_batch_racing_on_two_connections_is_written_once(kafka_bootstrap):
    topic_create(name="race")
    conns = [Wire(kafka_bootstrap) for _ in range(4)]
    try:
        pid = init_producer(conns[0])
        batch = producer_batch(5, producer_id=pid, epoch=0, base_sequence=0)
        answers = []

        def send(w):
            answers.append(produce(w, "race", batch))

        threads = [threading.Thread(target=send, args=(w,)) for w in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert [(a.error_code, a.base_offset) for a in answers] == [(ErrorCode.none, 0)] * 4
        assert records_fetch(topic="race", partition=0, offset=0).high_watermark == 5
    finally:
        for w in conns:
            w.close()


def test_transactional_batches_are_refused(wire):
    topic_create(name="tx")
    data = bytearray(producer_batch(1, producer_id=1, epoch=0, base_sequence=0))
    data[22] |= 0x10  # attributes: transactional (the CRC covers it: recompute)
    from crc32c import crc32c

    data[17:21] = crc32c(bytes(data[21:])).to_bytes(4, "big")
    assert produce(wire, "tx", bytes(data)).error_code == ErrorCode.invalid_txn_state
    r = wire.call(22, 4, transactional_id="txn-1", transaction_timeout=60000, producer_id=-1, producer_epoch=-1)
    assert r.error_code != ErrorCode.none


def test_fetch_returns_batches_and_offset_errors(wire):
    topic_create(name="f")
    records_append(topic="f", records=[RecordIn(key=b"k%d" % i, value=b"v", headers=(("h", b"1"),)) for i in range(5)])
    part = fetch(wire, "f", 2)
    assert (part.error_code, part.high_watermark, part.last_stable_offset, part.log_start_offset) == (0, 5, 5, 0)
    from tests.kafka.test_records import _batches

    # The five records are one stored batch: a fetch from its middle gets the whole batch, as from
    # Kafka, and the client skips the records before its offset.
    got = [(r.offset, r.key, r.headers) for b in _batches(part.records) for r in b]
    assert got == [(i, b"k%d" % i, [("h", b"1")]) for i in range(0, 5)]
    assert fetch(wire, "f", 5).records == b""  # at the watermark: nothing, no error
    assert fetch(wire, "f", 6).error_code == ErrorCode.offset_out_of_range
    assert fetch(wire, "nope", 0).error_code == ErrorCode.unknown_topic_or_partition


def test_fetch_returns_one_record_larger_than_partition_max_bytes(wire):
    topic_create(name="big")
    records_append(topic="big", records=[RecordIn(value=b"x" * 5000)])  # two batches
    records_append(topic="big", records=[RecordIn(value=b"y" * 5000)])
    from tests.kafka.test_records import _batches

    part = fetch(wire, "big", 0, partition_max_bytes=100)
    assert [r.offset for b in _batches(part.records) for r in b] == [0]


def test_fetch_by_topic_id_v13(wire):
    t = topic_create(name="byid")
    records_append(topic="byid", records=[RecordIn(value=b"v")])
    import uuid

    r = wire.call(1, 13, max_wait=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0, session_id=0, session_epoch=-1,
                  topics=[{"topic_id": t.topic_id, "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1000}]},
                          {"topic_id": uuid.uuid4(), "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1000}]}],
                  forgotten_topics_data=[])
    assert r.responses[0].partitions[0].high_watermark == 1
    assert r.responses[1].partitions[0].error_code == ErrorCode.unknown_topic_id


def test_long_poll_waits_for_max_wait_and_wakes_on_append(wire):
    topic_create(name="lp")
    start = time.monotonic()
    assert fetch(wire, "lp", 0, max_wait_ms=300).records == b""
    assert 0.25 <= time.monotonic() - start < 5  # ends at max_wait, not at the next append

    def append_later():
        from django.db import connection

        time.sleep(0.3)
        try:
            records_append(topic="lp", records=[RecordIn(value=b"wake")])
        finally:
            connection.close()  # this thread's own connection (PostgreSQL drops the test database after)

    t = threading.Thread(target=append_later)
    start = time.monotonic()
    t.start()
    part = fetch(wire, "lp", 0, max_wait_ms=10_000)
    t.join()
    assert part.high_watermark == 1 and part.records
    assert time.monotonic() - start < 8  # woken by the append, not the 10 s max wait


def test_list_offsets_and_delete_records(staff_wire):
    wire = staff_wire  # deleting records needs staff
    topic_create(name="lo")
    records_append(topic="lo", records=[RecordIn(value=b"v", timestamp=1000 + 10 * i) for i in range(5)])

    def offsets(ts, version=8):
        r = wire.call(2, version, replica_id=-1, isolation_level=0,
                      topics=[{"name": "lo", "partitions": [{"partition_index": 0, "timestamp": ts}]}])
        p = r.topics[0].partitions[0]
        return p.error_code, p.offset, p.timestamp

    assert offsets(-2) == (0, 0, -1)
    assert offsets(-1) == (0, 5, -1)
    assert offsets(1015) == (0, 2, 1020)
    assert offsets(9999) == (0, -1, -1)
    assert offsets(-3) == (0, 4, 1040)
    assert offsets(-1, version=1)[:2] == (0, 5)
    r = wire.call(21, 2, timeout=1000, topics=[{"name": "lo", "partitions": [{"partition_index": 0, "offset": 3},
                                                                             {"partition_index": 7, "offset": 1}]}])
    assert [(p.low_watermark, p.error_code) for p in r.topics[0].partitions] == [(3, 0), (-1, 3)]
    assert offsets(-2)[:2] == (0, 3)
    assert fetch(wire, "lo", 1).error_code == ErrorCode.offset_out_of_range


def test_partitions_led_by_another_live_node_are_refused(wire, kafka_listener):
    from brokercore.cluster.nodes import node_deregister, node_register
    from brokercore.cluster.read import partition_leader

    topic_create(name="led", partitions=4)
    me = kafka_listener.node
    node_register(kafka_host=me.host, kafka_port=me.port, node_id=me.node_id, process="this-test-process")
    node_register(kafka_host="127.0.0.1", kafka_port=1, node_id=2, process="other-test-process")
    try:
        md = wire.call(3, 12, topics=[{"name": "led", "topic_id": None}])
        assert sorted(b.node_id for b in md.brokers) == [1, 2]
        leaders = {p.partition_index: p.leader_id for p in md.topics[0].partitions}
        assert leaders == {i: partition_leader(topic="led", partition=i) for i in range(4)}
        assert set(leaders.values()) == {1, 2}
        theirs = next(i for i, n in leaders.items() if n == 2)
        mine = next(i for i, n in leaders.items() if n == 1)
        assert produce(wire, "led", producer_batch(1), partition=theirs).error_code == ErrorCode.not_leader_or_follower
        assert fetch(wire, "led", 0, partition=theirs).error_code == ErrorCode.not_leader_or_follower
        assert produce(wire, "led", producer_batch(1), partition=mine).error_code == ErrorCode.none
    finally:
        node_deregister(2, process="other-test-process")
        node_deregister(me.node_id, process="this-test-process")
    # Node 2 stopped: this node leads everything again.
    assert produce(wire, "led", producer_batch(1), partition=theirs).error_code == ErrorCode.none
