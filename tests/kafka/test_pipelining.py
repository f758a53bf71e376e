"""A connection's pipelined requests: plain Produce requests handled together (sharing group
commits), answered in request order, their records in request order in every partition."""

import time

import pytest
from kio.schema.errors import ErrorCode

from brokercore.kafka.protocol import response_decode
from brokercore.log import group_commit
from brokercore.log.append import records_append
from brokercore.log.read import records_fetch
from brokercore.topics.service import topic_create, topic_delete
from brokercore.types import RecordIn
from tests.kafka.conftest import Wire, listener_running
from tests.kafka.test_records import producer_batch

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCE, FETCH, API_VERSIONS = 0, 1, 18


def send_produce(wire: Wire, topic: str, parts: dict[int, bytes], *, acks: int = -1, version: int = 9) -> int:
    return wire.send(PRODUCE, version, transactional_id=None, acks=acks, timeout=5000,
                     topic_data=[{"name": topic, "partition_data": [{"index": i, "records": b} for i, b in parts.items()]}])


def recv_any(wire: Wire, api_key: int, version: int):
    return response_decode(wire.read_frame(), api_key, version)


def requests_of(topic: str, partition: int) -> list[int]:
    """The request number each record of the partition came from (its value), in offset order."""
    return [int(r.value[1:]) for r in records_fetch(topic=topic, partition=partition, offset=0, max_records=100_000, max_bytes=1 << 26).records]


def pipelined_requests(n: int) -> list[dict[int, bytes]]:
    """`n` requests to a 3-partition topic, each record's value naming its request. Large and
    one-record requests alternate and cover changing sets of partitions, so that a later request
    is often ready to append before an earlier one: only the ordering keeps them in order."""
    out = []
    for k in range(n):
        size = 150 if k % 2 == 0 else 1
        parts = [p for p in range(3) if (k + p) % 4 != 3]
        out.append({p: producer_batch(size, value=b"r%05d" % k) for p in parts})
    return out


def test_pipelined_produce_requests_append_and_answer_in_request_order(kafka_bootstrap):
    topic_create(name="pipe", partitions=3)
    requests = pipelined_requests(120)
    before = group_commit.counts()
    wire = Wire(kafka_bootstrap, timeout=30)
    try:
        sent = [send_produce(wire, "pipe", parts) for parts in requests]
        answers = [recv_any(wire, PRODUCE, 9) for _ in sent]
    finally:
        wire.close()
    after = group_commit.counts()
    assert [cid for cid, _ in answers] == sent  # every answer, in request order
    last_base = {p: -1 for p in range(3)}
    for parts, (_, answer) in zip(requests, answers):
        got = {p.index: p for p in answer.responses[0].partition_responses}
        assert sorted(got) == sorted(parts)
        for index, p in got.items():
            assert p.error_code == ErrorCode.none
            assert p.base_offset > last_base[index]
            last_base[index] = p.base_offset
    for partition in range(3):
        order = requests_of("pipe", partition)
        assert order == sorted(order), f"partition {partition}: records out of request order"
        assert len(order) == sum(150 if k % 2 == 0 else 1 for k, parts in enumerate(requests) if partition in parts)
    # The requests were handled together: appends shared commits (else this proves nothing).
    assert after["callers"] - before["callers"] > after["groups"] - before["groups"]


def test_one_request_in_flight_handles_requests_one_at_a_time(transactional_db, monkeypatch):
    from django.conf import settings

    monkeypatch.setitem(settings.BROKER, "KAFKA_MAX_INFLIGHT_PER_CONNECTION", 1)
    topic_create(name="serial", partitions=3)
    requests = pipelined_requests(20)
    with listener_running(allow_anonymous=True) as listener:
        before = group_commit.counts()
        wire = Wire(listener.bootstrap, timeout=30)
        try:
            sent = [send_produce(wire, "serial", parts) for parts in requests]
            assert [recv_any(wire, PRODUCE, 9)[0] for _ in sent] == sent
        finally:
            wire.close()
        after = group_commit.counts()
    assert after["callers"] - before["callers"] == after["groups"] - before["groups"]  # nobody shared


@pytest.mark.parametrize("recreated", [False, True])
def test_acks_zero_requests_get_no_answer_in_a_pipeline_and_keep_their_order(kafka_bootstrap, recreated):
    if recreated:
        # A topic of the same name, known to the append path's metadata cache, then deleted: the
        # turns must not take their partitions from that cache (they did, and lost the order).
        topic_create(name="mixed")
        records_append(topic="mixed", records=[RecordIn(value=b"old")])
        topic_delete(name="mixed")
    topic_create(name="mixed")
    wire = Wire(kafka_bootstrap, timeout=30)
    try:
        sent = []
        for k in range(40):
            acks = 0 if k % 3 else 1  # separate group-commit queues, one partition
            cid = send_produce(wire, "mixed", {0: producer_batch(50 if k % 2 else 1, value=b"r%05d" % k)}, acks=acks)
            if acks:
                sent.append(cid)
        answers = [recv_any(wire, PRODUCE, 9) for _ in sent]
        # The next frame is the answer to the next request: no answer was sent for acks=0.
        cid = wire.send(API_VERSIONS, 3)
        assert recv_any(wire, API_VERSIONS, 3)[0] == cid
    finally:
        wire.close()
    assert [c for c, _ in answers] == sent
    assert all(a.responses[0].partition_responses[0].error_code == ErrorCode.none for _, a in answers)
    order = requests_of("mixed", 0)
    assert order == sorted(order) and len(set(order)) == 40


def test_a_failing_request_closes_the_connection_after_the_answers_before_it(kafka_bootstrap):
    topic_create(name="fails")
    wire = Wire(kafka_bootstrap, timeout=30)
    try:
        sent = [send_produce(wire, "fails", {0: producer_batch(100)}) for _ in range(6)]
        # acks=0 to a topic that does not exist: Kafka closes the connection, so the client
        # refreshes its metadata.
        send_produce(wire, "missing", {0: producer_batch(1)}, acks=0)
        for _ in range(3):
            send_produce(wire, "fails", {0: producer_batch(1)})
        assert [recv_any(wire, PRODUCE, 9)[0] for _ in sent] == sent
        assert wire.closed_by_peer()
    finally:
        wire.close()
    # The six requests before the failure are in the log, first.
    assert requests_of_count("fails") >= 600


def requests_of_count(topic: str) -> int:
    return records_fetch(topic=topic, partition=0, offset=0).high_watermark


def test_a_malformed_frame_after_pipelined_requests_is_answered_after_them(kafka_bootstrap):
    topic_create(name="bad")
    wire = Wire(kafka_bootstrap, timeout=30)
    try:
        sent = [send_produce(wire, "bad", {0: producer_batch(100)}) for _ in range(5)]
        wire.sock.sendall((8).to_bytes(4, "big") + b"\x00\x00\x00\x09\x00\x00\x00\x63")  # no client id: truncated
        assert [recv_any(wire, PRODUCE, 9)[0] for _ in sent] == sent
        assert wire.closed_by_peer()
    finally:
        wire.close()
    assert requests_of_count("bad") == 500


def test_other_requests_wait_for_the_produce_requests_before_them(kafka_bootstrap):
    topic_create(name="seen")
    wire = Wire(kafka_bootstrap, timeout=30)
    try:
        sent = [send_produce(wire, "seen", {0: producer_batch(100)}) for _ in range(10)]
        fetch = wire.send(FETCH, 12, max_wait=0, min_bytes=1, max_bytes=1 << 24, isolation_level=0, session_id=0,
                          session_epoch=-1, forgotten_topics_data=[],
                          topics=[{"topic": "seen", "partitions": [{"partition": 0, "fetch_offset": 0,
                                                                    "partition_max_bytes": 1 << 24}]}])
        more = send_produce(wire, "seen", {0: producer_batch(1)})
        assert [recv_any(wire, PRODUCE, 9)[0] for _ in sent] == sent
        cid, answer = recv_any(wire, FETCH, 12)
        assert cid == fetch
        # The fetch ran after all ten appends, and before the request behind it.
        assert answer.responses[0].partitions[0].high_watermark == 1000
        assert recv_any(wire, PRODUCE, 9)[0] == more
    finally:
        wire.close()


def test_pipelined_idempotent_batches_are_appended_one_after_another(kafka_bootstrap):
    topic_create(name="idem-pipe")
    wire = Wire(kafka_bootstrap, timeout=30)
    try:
        r = wire.call(22, 4, transactional_id=None, transaction_timeout=60000, producer_id=-1, producer_epoch=-1)
        pid = r.producer_id
        sent = [send_produce(wire, "idem-pipe", {0: producer_batch(1 if k % 2 else 40, producer_id=pid, epoch=0,
                                                                   base_sequence=sum(1 if j % 2 else 40 for j in range(k)))})
                for k in range(20)]
        answers = [recv_any(wire, PRODUCE, 9) for _ in sent]
    finally:
        wire.close()
    assert [c for c, _ in answers] == sent
    # Sequence numbers checked out of order would refuse some (OUT_OF_ORDER_SEQUENCE_NUMBER).
    assert [a.responses[0].partition_responses[0].error_code for _, a in answers] == [ErrorCode.none] * 20


def test_requests_in_flight_stay_within_the_request_byte_limit(transactional_db, monkeypatch):
    from django.conf import settings

    big = producer_batch(200)
    # Room for two of these frames in flight, not three.
    monkeypatch.setitem(settings.BROKER, "KAFKA_MAX_REQUEST_BYTES", 2 * len(big) + 400)
    topic_create(name="bytes", partitions=1)
    with listener_running(allow_anonymous=True) as listener:
        wire = Wire(listener.bootstrap, timeout=30)
        try:
            sent = [send_produce(wire, "bytes", {0: big}) for _ in range(12)]
            assert [recv_any(wire, PRODUCE, 9)[0] for _ in sent] == sent
        finally:
            wire.close()
    assert requests_of_count("bytes") == 12 * 200


def test_confluent_default_producer_pipelines_in_order(kafka_bootstrap):
    """librdkafka's defaults (not idempotent, up to a million requests in flight), with small
    batches so that many requests are in flight: every record acknowledged, at its place in the
    partition in the order it was produced."""
    from confluent_kafka import Producer

    topic_create(name="lrd", partitions=4)
    acked: dict[int, list[tuple[int, int]]] = {p: [] for p in range(4)}
    errors: list[str] = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[msg.partition()].append((int(msg.value()), msg.offset()))

    before = group_commit.counts()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "batch.num.messages": 5})
    n = 4000
    for i in range(n):
        producer.produce("lrd", value=b"%d" % i, partition=i % 4, on_delivery=delivered)
        producer.poll(0)
        if i % 200 == 199:
            time.sleep(0.01)  # a steady stream of small requests, many of them in flight
    assert producer.flush(60) == 0
    after = group_commit.counts()
    assert errors == []
    assert sum(map(len, acked.values())) == n
    for p in range(4):
        values = [v for v, _ in sorted(acked[p], key=lambda x: x[1])]
        assert values == list(range(p, n, 4)), f"partition {p}: offsets not in produce order"
        stored = [int(r.value) for r in records_fetch(topic="lrd", partition=p, offset=0, max_records=100_000, max_bytes=1 << 26).records]
        assert stored == list(range(p, n, 4))
    assert after["callers"] > after["groups"] - before["groups"] + before["callers"]  # commits were shared
