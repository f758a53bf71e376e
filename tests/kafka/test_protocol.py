"""Framing, headers, entity building, and how the listener treats clients that break the protocol."""

import logging
import struct
import uuid

import pytest
from kio.index import load_response_schema
from kio.schema.errors import ErrorCode

from brokercore.errors import UnknownTopicOrPartition
from brokercore.kafka.apis import load
from brokercore.kafka.apis.registry import HANDLERS, build_entity, error_code
from brokercore.kafka.protocol import ProtocolError, frame_length, header_peek, request_decode
from tests.kafka.conftest import Wire

pytestmark = pytest.mark.django_db(transaction=True)


def test_build_entity_nested_dicts_dropped_fields_and_defaults():
    schema = load_response_schema(3, 12)  # Metadata v12
    entity = build_entity(schema, {
        "brokers": [{"node_id": 1, "host": "h", "port": 9092}],
        "topics": [{"error_code": 3, "name": "t", "partitions": [{"partition_index": 0, "leader_id": 1, "error_code": 0}]}],
        "not_a_field": 1,
    })
    assert entity.throttle_time.total_seconds() == 0
    assert entity.brokers[0].rack is None
    assert entity.topics[0].error_code == ErrorCode.unknown_topic_or_partition
    assert entity.topics[0].topic_id is None  # kio writes the zero UUID for it
    assert entity.topics[0].partitions[0].replica_nodes == ()
    old = build_entity(load_response_schema(3, 0), {"brokers": [], "topics": [], "cluster_id": "dropped in v0"})
    assert not hasattr(old, "cluster_id")


def test_error_code_of_broker_errors_and_others():
    assert error_code(UnknownTopicOrPartition()) == 3
    assert error_code(ValueError()) == -1


def test_frame_length_bounds():
    assert frame_length(struct.pack(">i", 100), max_bytes=100) == 100
    with pytest.raises(ProtocolError):
        frame_length(struct.pack(">i", 101), max_bytes=100)
    with pytest.raises(ProtocolError):
        frame_length(struct.pack(">i", 3), max_bytes=100)


def test_request_round_trip_through_kio():
    from brokercore.kafka.protocol import RequestHeader, request_encode

    frame = request_encode(RequestHeader(3, 12, 7, "me"), build_entity(
        __import__("kio.index", fromlist=["x"]).load_request_schema(3, 12), {"topics": None, "allow_auto_topic_creation": False}
    ))[4:]
    assert header_peek(frame).correlation_id == 7
    header, request = request_decode(frame)
    assert (header.api_key, header.api_version, header.client_id) == (3, 12, "me")
    assert request.topics is None and request.allow_auto_topic_creation is False


def test_api_versions_lists_every_registered_api(wire):
    load()
    response = wire.call(18, 3, client_software_name="tests", client_software_version="1")
    assert response.error_code == ErrorCode.none
    ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert ranges == {k: (a.min_version, a.max_version) for k, a in HANDLERS.items()}
    assert ranges[0] == (0, 11) and ranges[1] == (0, 17) and ranges[3] == (0, 12)


def test_api_versions_of_an_unknown_version_answers_v0_with_unsupported_version(wire):
    # A v9 request (no such version): the broker answers v0-shaped, error 35, and its ranges.
    header = struct.pack(">hhih", 18, 9, 42, 5) + b"tests" + b"\x00"
    wire.sock.sendall(struct.pack(">i", len(header)) + header)
    frame = wire.read_frame()
    correlation_id, error, count = struct.unpack_from(">ihi", frame)
    assert (correlation_id, error) == (42, 35)
    assert count == len(HANDLERS)
    # The connection stays usable, as for a client that now retries with v0..v3.
    assert wire.call(18, 0).error_code == ErrorCode.none


@pytest.mark.parametrize(
    "frame, why",
    [
        (struct.pack(">hhi", 9999, 0, 1) + b"\xff\xff", "unknown API key"),
        (struct.pack(">hhi", 3, 99, 1) + b"\xff\xff", "unsupported version"),
        (struct.pack(">hhi", 3, 12, 1) + b"\x00\x05ab", "malformed"),
    ],
)
def test_bad_requests_close_only_their_connection(kafka_bootstrap, caplog, frame, why):
    bad, good = Wire(kafka_bootstrap), Wire(kafka_bootstrap)
    try:
        with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
            bad.sock.sendall(struct.pack(">i", len(frame)) + frame)
            assert bad.closed_by_peer()
        assert any("closing connection" in r.getMessage() for r in caplog.records)
        assert good.call(18, 3).error_code == ErrorCode.none
    finally:
        bad.close()
        good.close()


def test_oversize_frame_is_refused_before_reading_it(kafka_listener, caplog):
    w = Wire(kafka_listener.bootstrap)
    try:
        with caplog.at_level(logging.WARNING, logger="brokercore.kafka.server"):
            w.sock.sendall(struct.pack(">i", kafka_listener.max_request_bytes + 1))
            assert w.closed_by_peer()
        assert any("exceeds the limit" in r.getMessage() for r in caplog.records)
    finally:
        w.close()


def test_requests_on_one_connection_are_answered_in_order(wire):
    ids = [wire.send(18, 3) for _ in range(3)] + [wire.send(3, 12, topics=None)]
    got = [header_id(wire.read_frame()) for _ in ids]
    assert got == ids


def header_id(frame: bytes) -> int:
    return struct.unpack_from(">i", frame)[0]


def test_metadata_auto_creates_when_allowed(staff_wire, settings):
    wire = staff_wire  # only staff may create topics, by Metadata too
    from brokercore.topics.read import topic_describe

    settings.BROKER = {**settings.BROKER, "DEFAULT_PARTITIONS": 3}
    r = wire.call(3, 12, topics=[{"name": "auto.created", "topic_id": None}], allow_auto_topic_creation=True)
    assert r.topics[0].error_code == ErrorCode.none and len(r.topics[0].partitions) == 3
    assert r.topics[0].topic_id == uuid.UUID(topic_describe(name="auto.created").topic_id)
    r = wire.call(3, 12, topics=[{"name": "not.created", "topic_id": None}], allow_auto_topic_creation=False)
    assert r.topics[0].error_code == ErrorCode.unknown_topic_or_partition
    settings.BROKER = {**settings.BROKER, "AUTO_CREATE_TOPICS": False}
    r = wire.call(3, 4, topics=[{"name": "not.created"}], allow_auto_topic_creation=True)
    assert r.topics[0].error_code == ErrorCode.unknown_topic_or_partition
    r = wire.call(3, 12, topics=[{"name": "bad name!", "topic_id": None}], allow_auto_topic_creation=True)
    assert r.topics[0].error_code == ErrorCode.invalid_topic_exception


def test_metadata_by_topic_id_and_unknown_id(wire):
    from brokercore.topics.service import topic_create

    t = topic_create(name="by.id", partitions=2)
    r = wire.call(3, 12, topics=[{"name": None, "topic_id": t.topic_id}, {"name": None, "topic_id": uuid.uuid4()}])
    assert [x.name for x in r.topics] == ["by.id", None]
    assert r.topics[1].error_code == ErrorCode.unknown_topic_id
    assert [p.leader_id for p in r.topics[0].partitions] == [1, 1]


# Requests that only make sense with some fields set (the rest take kio's defaults or Kafka's zeros).
_FIELDS = {
    0: {"acks": -1, "timeout": 1000, "topic_data": [{"name": "sweep", "partition_data": [{"index": 0, "records": None}]}]},
    1: {"max_wait": 0, "min_bytes": 1, "max_bytes": 1000, "topics": [
        {"topic": "sweep", "topic_id": None, "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 100}]}
    ]},
    2: {"replica_id": -1, "topics": [{"name": "sweep", "partitions": [{"partition_index": 0, "timestamp": -1}]}]},
    3: {"topics": [{"name": "sweep", "topic_id": None}]},
}


def test_every_advertised_version_answers(wire):
    """Each API at each version it advertises decodes a request and answers it (fields that a
    version lacks are never touched)."""
    from brokercore.topics.service import topic_create

    topic_create(name="sweep")
    load()
    for api_key, a in sorted(HANDLERS.items()):
        if api_key in (11, 14):  # JoinGroup and SyncGroup wait at the rebalance barrier: their own tests
            continue
        if api_key in (17, 36):  # SaslHandshake and SaslAuthenticate change the connection: test_sasl.py
            continue
        for version in range(a.min_version, a.max_version + 1):
            response = wire.call(api_key, version, **_FIELDS.get(api_key, {}))
            assert response is not None, (api_key, version)


def test_metadata_says_which_topics_are_internal(wire):
    # Kafka's Topic.isInternal: __consumer_offsets and __transaction_state only (it was always false).
    from brokercore.topics.service import topic_create

    for name in ("__consumer_offsets", "__transaction_state", "__mine", "plain"):
        topic_create(name=name)
    r = wire.call(3, 12, topics=None)
    assert {t.name: t.is_internal for t in r.topics} == {
        "__consumer_offsets": True, "__transaction_state": True, "__mine": False, "plain": False,
    }
