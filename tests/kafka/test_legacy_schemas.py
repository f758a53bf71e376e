"""The legacy entities (brokercore/kafka/schemas_legacy) against kafka-python's own definitions of
the same versions (kafka.protocol.old, which no one here wrote): for every legacy (api, version),
a request and a response encode to the bytes kafka-python encodes, and kafka-python's bytes read
back to an entity that writes them unchanged."""

import io
from dataclasses import fields

import pytest
from kafka.protocol.old import admin, commit, fetch, list_offsets, produce
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import EntityField, EntityTupleField, classify_field

from brokercore.kafka.apis.registry import build_entity
from brokercore.kafka.schemas_legacy import ENTITIES
from brokercore.kafka.schemas_legacy._base import in_range

MESSAGE_SET = b"\0" * 8 + b"\0\0\0\x0e" + b"\x12\x34\x56\x78\0\0\xff\xff\xff\xff\0\0\0\0"

# kafka-python's request and response classes of each API, indexed by version.
KAFKA_PYTHON = {
    0: (produce.ProduceRequest, produce.ProduceResponse),
    1: (fetch.FetchRequest, fetch.FetchResponse),
    2: (list_offsets.ListOffsetsRequest, list_offsets.ListOffsetsResponse),
    8: (commit.OffsetCommitRequest, commit.OffsetCommitResponse),
    9: (commit.OffsetFetchRequest, commit.OffsetFetchResponse),
    19: (admin.CreateTopicsRequest, admin.CreateTopicsResponse),
    20: (admin.DeleteTopicsRequest, admin.DeleteTopicsResponse),
    32: (admin.DescribeConfigsRequest, admin.DescribeConfigsResponse),
    35: (admin.DescribeLogDirsRequest, admin.DescribeLogDirsResponse),
    29: (admin.DescribeAclsRequest, admin.DescribeAclsResponse),
    30: (admin.CreateAclsRequest, admin.CreateAclsResponse),
    31: (admin.DeleteAclsRequest, admin.DeleteAclsResponse),
}

_PRODUCED = [("t", [(0, MESSAGE_SET), (1, None)])]
_FETCHED = [("t", [(0, 0, 10, MESSAGE_SET), (1, 6, -1, None)])]
_FETCH_TOPICS = [("t", [(0, 7, 1 << 20), (2, 0, 100)])]
_COMMITTED = ([("t", [(0, 0), (1, 25)])],)
_CREATE = [("t", 3, 1, [], [("cleanup.policy", "compact"), ("retention.ms", None)]),
           ("u", -1, -1, [(0, [1, 2]), (1, [2])], [])]

# (api, version) -> (request, response) as kafka-python's Structs take them: fields in wire
# order, nested structs as tuples; nullable strings, records and arrays are null somewhere.
SAMPLES = {
    (0, 0): ((-1, 5000, _PRODUCED), ([("t", [(0, 0, 42), (1, 3, -1)])],)),
    (0, 1): ((1, 5000, _PRODUCED), ([("t", [(0, 0, 42), (1, 3, -1)])], 100)),
    (0, 2): ((-1, 30000, _PRODUCED), ([("t", [(0, 0, 42, 1_700_000_000_000), (1, 3, -1, -1)])], 0)),
    (1, 0): ((-1, 500, 1, _FETCH_TOPICS), (_FETCHED,)),
    (1, 1): ((-1, 500, 1, _FETCH_TOPICS), (100, _FETCHED)),
    (1, 2): ((-1, 0, 0, _FETCH_TOPICS), (0, _FETCHED)),
    (1, 3): ((-1, 500, 1, 50 << 20, _FETCH_TOPICS), (0, _FETCHED)),
    (2, 0): ((-1, [("t", [(0, -1, 1), (1, -2, 5)])]), ([("t", [(0, 0, [10, 0]), (1, 3, [])])],)),
    (8, 0): (("g", [("t", [(0, 5, "meta"), (1, 6, None)])]), _COMMITTED),
    (8, 1): (("g", 3, "m-1", [("t", [(0, 5, 1_700_000_000_000, "meta"), (1, 6, -1, None)])]), _COMMITTED),
    (9, 0): (("g", [("t", [0, 1])]), ([("t", [(0, 5, "meta", 0), (1, -1, None, 0)])],)),
    (19, 0): ((_CREATE, 60000), ([("t", 0), ("u", 36)],)),
    (19, 1): ((_CREATE, 30000, True), ([("t", 0, None), ("u", 36, "Topic 'u' already exists.")],)),
    (20, 0): ((["t", "u"], 30000), ([("t", 0), ("u", 3)],)),
    (32, 0): (([(2, "t", ["retention.ms"]), (4, "1", None)],),
              (0, [(0, None, 2, "t", [("retention.ms", "604800000", False, True, False),
                                      ("ssl.key.password", None, True, False, True)])])),
    # A non-null topic list is left out: kafka-python declares its partitions an int32 where
    # Kafka's DescribeLogDirsRequest.json has []int32.
    (35, 0): ((None,), (0, [(0, "/var/lib/kafka", [("t", [(0, 1024, 0, False), (1, 0, 0, True)])])])),
    (29, 0): ((2, None, "User:alice", None, 3, 3),
              (0, 0, None, [(2, "t", [("User:alice", "*", 3, 3), ("User:*", "10.0.0.1", 8, 2)])])),
    (30, 0): (([(2, "t", "User:alice", "*", 3, 3), (3, "g", "User:bob", "10.0.0.1", 2, 2)],),
              (0, [(0, None), (42, "Invalid empty resource name")])),
    (31, 0): (([(1, None, None, None, 1, 1), (2, "t", "User:alice", "*", 3, 3)],),
              (0, [(0, None, [(0, None, 2, "t", "User:alice", "*", 3, 3)]), (31, "Not authorized", [])])),
}


def values(entity_type: type, positional: tuple) -> dict:
    """`positional` (fields in wire order, nested structs as tuples) as build_entity's dict."""
    out = {}
    for f, v in zip(fields(entity_type), positional, strict=True):
        kind = classify_field(f)
        if isinstance(kind, EntityTupleField) and v is not None:
            v = [values(kind.type_, x) for x in v]
        elif isinstance(kind, EntityField) and v is not None:
            v = values(kind.type_, v)
        out[f.name] = v
    return out


def write(entity: object) -> bytes:
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    return buf.getvalue()


def test_every_legacy_version_has_a_sample():
    assert set(SAMPLES) == set(ENTITIES)


@pytest.mark.parametrize(("api_key", "version", "side"), [(*k, side) for k in sorted(SAMPLES) for side in (0, 1)])
def test_legacy_entity_bytes_match_kafka_python(api_key, version, side):
    entity_type = ENTITIES[api_key, version][side]
    theirs = KAFKA_PYTHON[api_key][side][version]
    sample = SAMPLES[api_key, version][side]
    assert (entity_type.__api_key__, entity_type.__version__, entity_type.__flexible__) == (api_key, version, False)
    assert (theirs.API_KEY, theirs.API_VERSION) == (api_key, version)

    expected = theirs(*sample).encode()
    assert write(build_entity(entity_type, values(entity_type, sample))) == expected

    decoded, used = entity_reader(entity_type)(memoryview(expected), 0)
    assert used == len(expected)
    assert write(decoded) == expected


def test_nested_structs_shared_until_a_version_changes_them():
    """One class per distinct struct, carrying the lowest version it serves: Produce v1's
    partition response is v0's, v2's (with LogAppendTime) a new one."""
    partition = [fields(fields(ENTITIES[0, v][1])[0].type.__args__[0])[1].type.__args__[0] for v in range(3)]
    assert partition[0] is partition[1] is not partition[2]
    assert [p.__version__ for p in partition] == [0, 0, 2]
    assert [f.name for f in fields(partition[2])][-1] == "log_append_time"


@pytest.mark.parametrize(("spec", "inside", "outside"), [
    ("0+", [0, 3, 11], []), ("1+", [1, 2], [0]), ("1", [1], [0, 2]), ("0-2", [0, 1, 2], [3]), ("none", [], [0, 1]),
])
def test_version_ranges_read_as_kafka_writes_them(spec, inside, outside):
    assert all(in_range(spec, v) for v in inside)
    assert not any(in_range(spec, v) for v in outside)
