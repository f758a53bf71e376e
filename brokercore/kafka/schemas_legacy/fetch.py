"""Fetch v0-3 (API key 1) and ListOffsets v0 (API key 2), from Kafka 3.9's FetchRequest.json,
FetchResponse.json, ListOffsetsRequest.json and ListOffsetsResponse.json.

Fetch v0-2 requests are the same and v3 adds MaxBytes; responses add ThrottleTimeMs in v1. The
records they carry are message sets (magic 0 for v0-1, magic 1 for v2-3). ListOffsets v0 asks for
up to MaxNumOffsets offsets before a timestamp and answers them as OldStyleOffsets.
"""

import datetime
from dataclasses import field

from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import Records, i32, i32Timedelta, i64

from ._base import nested_request, nested_response, request, response

FETCH = 1
LIST_OFFSETS = 2


@nested_request(FETCH, 0)
class FetchPartition:
    partition: i32 = field(metadata={"kafka_type": "int32"})
    fetch_offset: i64 = field(metadata={"kafka_type": "int64"})
    partition_max_bytes: i32 = field(metadata={"kafka_type": "int32"})


@nested_request(FETCH, 0)
class FetchTopic:
    topic: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[FetchPartition, ...]


def _fetch_request(version: int) -> type:
    @request(FETCH, version)
    class FetchRequest:
        replica_id: BrokerId = field(metadata={"kafka_type": "int32"}, default=BrokerId(-1))
        max_wait: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})
        min_bytes: i32 = field(metadata={"kafka_type": "int32"})
        topics: tuple[FetchTopic, ...]

    return FetchRequest


@request(FETCH, 3)
class FetchRequestV3:
    replica_id: BrokerId = field(metadata={"kafka_type": "int32"}, default=BrokerId(-1))
    max_wait: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})
    min_bytes: i32 = field(metadata={"kafka_type": "int32"})
    max_bytes: i32 = field(metadata={"kafka_type": "int32"}, default=i32(0x7FFFFFFF))
    topics: tuple[FetchTopic, ...]


@nested_response(FETCH, 0)
class PartitionData:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    high_watermark: i64 = field(metadata={"kafka_type": "int64"})
    records: Records | None = field(metadata={"kafka_type": "records"})


@nested_response(FETCH, 0)
class FetchableTopicResponse:
    topic: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[PartitionData, ...]


@response(FETCH, 0)
class FetchResponseV0:
    responses: tuple[FetchableTopicResponse, ...]


def _fetch_response(version: int) -> type:
    @response(FETCH, version)
    class FetchResponse:
        throttle_time: i32Timedelta = field(
            metadata={"kafka_type": "timedelta_i32"}, default=i32Timedelta.parse(datetime.timedelta(0))
        )
        responses: tuple[FetchableTopicResponse, ...]

    return FetchResponse


@nested_request(LIST_OFFSETS, 0)
class ListOffsetsPartition:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    timestamp: i64 = field(metadata={"kafka_type": "int64"})
    max_num_offsets: i32 = field(metadata={"kafka_type": "int32"}, default=i32(1))


@nested_request(LIST_OFFSETS, 0)
class ListOffsetsTopic:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[ListOffsetsPartition, ...]


@request(LIST_OFFSETS, 0)
class ListOffsetsRequest:
    replica_id: BrokerId = field(metadata={"kafka_type": "int32"})
    topics: tuple[ListOffsetsTopic, ...]


@nested_response(LIST_OFFSETS, 0)
class ListOffsetsPartitionResponse:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    old_style_offsets: tuple[i64, ...] = field(metadata={"kafka_type": "int64"}, default=())


@nested_response(LIST_OFFSETS, 0)
class ListOffsetsTopicResponse:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[ListOffsetsPartitionResponse, ...]


@response(LIST_OFFSETS, 0)
class ListOffsetsResponse:
    topics: tuple[ListOffsetsTopicResponse, ...]


FETCH_REQUESTS = {0: _fetch_request(0), 1: _fetch_request(1), 2: _fetch_request(2), 3: FetchRequestV3}
FETCH_RESPONSES = {0: FetchResponseV0, 1: _fetch_response(1), 2: _fetch_response(2), 3: _fetch_response(3)}
