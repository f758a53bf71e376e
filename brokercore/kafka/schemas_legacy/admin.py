"""CreateTopics v0-1 (API key 19), DeleteTopics v0 (20) and DescribeConfigs v0 (32), from Kafka
3.9's CreateTopics*.json, DeleteTopics*.json and DescribeConfigs*.json.

CreateTopics v1 adds ValidateOnly to the request and ErrorMessage to the response; none of these
versions answer a ThrottleTimeMs except DescribeConfigs. DescribeConfigs v0 reports IsDefault
where later versions report ConfigSource, and has no synonyms.
"""

import datetime
from dataclasses import field

from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i8, i16, i32, i32Timedelta

from ._base import nested_request, nested_response, request, response

CREATE_TOPICS = 19
DELETE_TOPICS = 20
DESCRIBE_CONFIGS = 32

_SIXTY_SECONDS = i32Timedelta.parse(datetime.timedelta(milliseconds=60000))


@nested_request(CREATE_TOPICS, 0)
class CreatableReplicaAssignment:
    partition_index: i32 = field(metadata={"kafka_type": "int32"})
    broker_ids: tuple[BrokerId, ...] = field(metadata={"kafka_type": "int32"}, default=())


@nested_request(CREATE_TOPICS, 0)
class CreatableTopicConfig:
    name: str = field(metadata={"kafka_type": "string"})
    value: str | None = field(metadata={"kafka_type": "string"})


@nested_request(CREATE_TOPICS, 0)
class CreatableTopic:
    name: TopicName = field(metadata={"kafka_type": "string"})
    num_partitions: i32 = field(metadata={"kafka_type": "int32"})
    replication_factor: i16 = field(metadata={"kafka_type": "int16"})
    assignments: tuple[CreatableReplicaAssignment, ...]
    configs: tuple[CreatableTopicConfig, ...]


@request(CREATE_TOPICS, 0)
class CreateTopicsRequestV0:
    topics: tuple[CreatableTopic, ...]
    timeout: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"}, default=_SIXTY_SECONDS)


@request(CREATE_TOPICS, 1)
class CreateTopicsRequestV1:
    topics: tuple[CreatableTopic, ...]
    timeout: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"}, default=_SIXTY_SECONDS)
    validate_only: bool = field(metadata={"kafka_type": "bool"}, default=False)


@nested_response(CREATE_TOPICS, 0)
class CreatableTopicResultV0:
    name: TopicName = field(metadata={"kafka_type": "string"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})


@nested_response(CREATE_TOPICS, 1)
class CreatableTopicResultV1:
    name: TopicName = field(metadata={"kafka_type": "string"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    error_message: str | None = field(metadata={"kafka_type": "string"})


@response(CREATE_TOPICS, 0)
class CreateTopicsResponseV0:
    topics: tuple[CreatableTopicResultV0, ...]


@response(CREATE_TOPICS, 1)
class CreateTopicsResponseV1:
    topics: tuple[CreatableTopicResultV1, ...]


@request(DELETE_TOPICS, 0)
class DeleteTopicsRequest:
    topic_names: tuple[TopicName, ...] = field(metadata={"kafka_type": "string"}, default=())
    timeout: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})


@nested_response(DELETE_TOPICS, 0)
class DeletableTopicResult:
    name: TopicName = field(metadata={"kafka_type": "string"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})


@response(DELETE_TOPICS, 0)
class DeleteTopicsResponse:
    responses: tuple[DeletableTopicResult, ...]


@nested_request(DESCRIBE_CONFIGS, 0)
class DescribeConfigsResource:
    resource_type: i8 = field(metadata={"kafka_type": "int8"})
    resource_name: str = field(metadata={"kafka_type": "string"})
    configuration_keys: tuple[str, ...] | None = field(metadata={"kafka_type": "string"}, default=())


@request(DESCRIBE_CONFIGS, 0)
class DescribeConfigsRequest:
    resources: tuple[DescribeConfigsResource, ...]


@nested_response(DESCRIBE_CONFIGS, 0)
class DescribeConfigsResourceResult:
    name: str = field(metadata={"kafka_type": "string"})
    value: str | None = field(metadata={"kafka_type": "string"})
    read_only: bool = field(metadata={"kafka_type": "bool"})
    is_default: bool = field(metadata={"kafka_type": "bool"})
    is_sensitive: bool = field(metadata={"kafka_type": "bool"})


@nested_response(DESCRIBE_CONFIGS, 0)
class DescribeConfigsResult:
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    error_message: str | None = field(metadata={"kafka_type": "string"})
    resource_type: i8 = field(metadata={"kafka_type": "int8"})
    resource_name: str = field(metadata={"kafka_type": "string"})
    configs: tuple[DescribeConfigsResourceResult, ...]


@response(DESCRIBE_CONFIGS, 0)
class DescribeConfigsResponse:
    throttle_time: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})
    results: tuple[DescribeConfigsResult, ...]
