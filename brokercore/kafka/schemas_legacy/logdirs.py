"""DescribeLogDirs v0 (API key 35), from Kafka 3.9's DescribeLogDirs*.json: the same fields as
v1 (which only changed how throttling is answered); removed in Kafka 4.0 (KIP-896)."""

from dataclasses import field

from kio.schema.errors import ErrorCode
from kio.schema.types import TopicName
from kio.static.primitive import i32, i32Timedelta, i64

from ._base import nested_request, nested_response, request, response

DESCRIBE_LOG_DIRS = 35


@nested_request(DESCRIBE_LOG_DIRS, 0)
class DescribableLogDirTopic:
    topic: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[i32, ...] = field(metadata={"kafka_type": "int32"}, default=())


@request(DESCRIBE_LOG_DIRS, 0)
class DescribeLogDirsRequest:
    topics: tuple[DescribableLogDirTopic, ...] | None


@nested_response(DESCRIBE_LOG_DIRS, 0)
class DescribeLogDirsPartition:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    partition_size: i64 = field(metadata={"kafka_type": "int64"})
    offset_lag: i64 = field(metadata={"kafka_type": "int64"})
    is_future_key: bool = field(metadata={"kafka_type": "bool"})


@nested_response(DESCRIBE_LOG_DIRS, 0)
class DescribeLogDirsTopic:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[DescribeLogDirsPartition, ...]


@nested_response(DESCRIBE_LOG_DIRS, 0)
class DescribeLogDirsResult:
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    log_dir: str = field(metadata={"kafka_type": "string"})
    topics: tuple[DescribeLogDirsTopic, ...]


@response(DESCRIBE_LOG_DIRS, 0)
class DescribeLogDirsResponse:
    throttle_time: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})
    results: tuple[DescribeLogDirsResult, ...]
