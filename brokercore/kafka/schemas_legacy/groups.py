"""OffsetCommit v0-1 (API key 8) and OffsetFetch v0 (API key 9), from Kafka 3.9's
OffsetCommitRequest.json, OffsetCommitResponse.json, OffsetFetchRequest.json and
OffsetFetchResponse.json.

OffsetCommit v1 adds the generation, the member id and a per-partition commit timestamp (v1
only); v0 has neither. OffsetFetch v0 has the layout of v1 (which kio has); Kafka kept v0's
offsets in ZooKeeper.
"""

from dataclasses import field

from kio.schema.errors import ErrorCode
from kio.schema.types import GroupId, TopicName
from kio.static.primitive import i32, i64

from ._base import nested_request, nested_response, request, response

COMMIT = 8
FETCH = 9


@nested_request(COMMIT, 0)
class OffsetCommitRequestPartitionV0:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    committed_offset: i64 = field(metadata={"kafka_type": "int64"})
    committed_metadata: str | None = field(metadata={"kafka_type": "string"})


@nested_request(COMMIT, 1)
class OffsetCommitRequestPartitionV1:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    committed_offset: i64 = field(metadata={"kafka_type": "int64"})
    commit_timestamp: i64 = field(metadata={"kafka_type": "int64"}, default=i64(-1))
    committed_metadata: str | None = field(metadata={"kafka_type": "string"})


@nested_request(COMMIT, 0)
class OffsetCommitRequestTopicV0:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[OffsetCommitRequestPartitionV0, ...]


@nested_request(COMMIT, 1)
class OffsetCommitRequestTopicV1:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[OffsetCommitRequestPartitionV1, ...]


@request(COMMIT, 0)
class OffsetCommitRequestV0:
    group_id: GroupId = field(metadata={"kafka_type": "string"})
    topics: tuple[OffsetCommitRequestTopicV0, ...]


@request(COMMIT, 1)
class OffsetCommitRequestV1:
    group_id: GroupId = field(metadata={"kafka_type": "string"})
    generation_id_or_member_epoch: i32 = field(metadata={"kafka_type": "int32"}, default=i32(-1))
    member_id: str = field(metadata={"kafka_type": "string"})
    topics: tuple[OffsetCommitRequestTopicV1, ...]


@nested_response(COMMIT, 0)
class OffsetCommitResponsePartition:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})


@nested_response(COMMIT, 0)
class OffsetCommitResponseTopic:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[OffsetCommitResponsePartition, ...]


def _commit_response(version: int) -> type:
    @response(COMMIT, version)
    class OffsetCommitResponse:
        topics: tuple[OffsetCommitResponseTopic, ...]

    return OffsetCommitResponse


@nested_request(FETCH, 0)
class OffsetFetchRequestTopic:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partition_indexes: tuple[i32, ...] = field(metadata={"kafka_type": "int32"}, default=())


@request(FETCH, 0)
class OffsetFetchRequest:
    group_id: GroupId = field(metadata={"kafka_type": "string"})
    topics: tuple[OffsetFetchRequestTopic, ...]


@nested_response(FETCH, 0)
class OffsetFetchResponsePartition:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    committed_offset: i64 = field(metadata={"kafka_type": "int64"})
    metadata: str | None = field(metadata={"kafka_type": "string"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})


@nested_response(FETCH, 0)
class OffsetFetchResponseTopic:
    name: TopicName = field(metadata={"kafka_type": "string"})
    partitions: tuple[OffsetFetchResponsePartition, ...]


@response(FETCH, 0)
class OffsetFetchResponse:
    topics: tuple[OffsetFetchResponseTopic, ...]


COMMIT_REQUESTS = {0: OffsetCommitRequestV0, 1: OffsetCommitRequestV1}
COMMIT_RESPONSES = {0: _commit_response(0), 1: _commit_response(1)}
