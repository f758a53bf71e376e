"""Produce v0-2 (API key 0), from Kafka 3.9's ProduceRequest.json and ProduceResponse.json.

v0-2 requests are the same; responses add ThrottleTimeMs (v1) and LogAppendTimeMs (v2). The
records of these versions are message sets (magic 0 or 1), which log/legacy.py converts.
"""

import datetime
from dataclasses import field

from kio.schema.errors import ErrorCode
from kio.schema.types import TopicName
from kio.static.primitive import Records, TZAware, i16, i32, i32Timedelta, i64

from ._base import nested_request, nested_response, request, response

KEY = 0


@nested_request(KEY, 0)
class PartitionProduceData:
    index: i32 = field(metadata={"kafka_type": "int32"})
    records: Records | None = field(metadata={"kafka_type": "records"})


@nested_request(KEY, 0)
class TopicProduceData:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partition_data: tuple[PartitionProduceData, ...]


def _request(version: int) -> type:
    @request(KEY, version)
    class ProduceRequest:
        acks: i16 = field(metadata={"kafka_type": "int16"})
        timeout: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})
        topic_data: tuple[TopicProduceData, ...]

    return ProduceRequest


@nested_response(KEY, 0)
class PartitionProduceResponseV0:
    index: i32 = field(metadata={"kafka_type": "int32"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    base_offset: i64 = field(metadata={"kafka_type": "int64"})


@nested_response(KEY, 2)
class PartitionProduceResponseV2:
    index: i32 = field(metadata={"kafka_type": "int32"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    base_offset: i64 = field(metadata={"kafka_type": "int64"})
    log_append_time: TZAware | None = field(metadata={"kafka_type": "datetime_i64"}, default=None)


@nested_response(KEY, 0)
class TopicProduceResponseV0:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partition_responses: tuple[PartitionProduceResponseV0, ...]


@nested_response(KEY, 2)
class TopicProduceResponseV2:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partition_responses: tuple[PartitionProduceResponseV2, ...]


@response(KEY, 0)
class ProduceResponseV0:
    responses: tuple[TopicProduceResponseV0, ...]


@response(KEY, 1)
class ProduceResponseV1:
    responses: tuple[TopicProduceResponseV0, ...]
    throttle_time: i32Timedelta = field(
        metadata={"kafka_type": "timedelta_i32"}, default=i32Timedelta.parse(datetime.timedelta(0))
    )


@response(KEY, 2)
class ProduceResponseV2:
    responses: tuple[TopicProduceResponseV2, ...]
    throttle_time: i32Timedelta = field(
        metadata={"kafka_type": "timedelta_i32"}, default=i32Timedelta.parse(datetime.timedelta(0))
    )


REQUESTS = {v: _request(v) for v in range(3)}
RESPONSES = {0: ProduceResponseV0, 1: ProduceResponseV1, 2: ProduceResponseV2}
