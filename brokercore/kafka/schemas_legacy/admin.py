"""CreateTopics v0-1 (API key 19), DeleteTopics v0 (20) and DescribeConfigs v0 (32), from Kafka
3.9's CreateTopics*.json, DeleteTopics*.json and DescribeConfigs*.json.

CreateTopics v1 adds ValidateOnly to the request and ErrorMessage to the response; none of these
versions answer a ThrottleTimeMs except DescribeConfigs. DescribeConfigs v0 reports IsDefault
where later versions report ConfigSource, and has no synonyms.
"""

from ._base import F, message

CREATE_TOPICS = message(19, "CreateTopics", "0-1", request=[
    F("topics", "[]CreatableTopic", fields=[
        F("name", "string", entity="topicName"),
        F("num_partitions", "int32"),
        F("replication_factor", "int16"),
        F("assignments", "[]CreatableReplicaAssignment", fields=[
            F("partition_index", "int32"),
            F("broker_ids", "[]int32", entity="brokerId"),
        ]),
        F("configs", "[]CreatableTopicConfig", fields=[
            F("name", "string"),
            F("value", "string", nullable="0+"),
        ]),
    ]),
    F("timeout", "timedelta_i32", default=60000),
    F("validate_only", "bool", "1+", default=False),
], response=[
    F("topics", "[]CreatableTopicResult", fields=[
        F("name", "string", entity="topicName"),
        F("error_code", "error_code"),
        F("error_message", "string", "1+", nullable="0+"),
    ]),
])

DELETE_TOPICS = message(20, "DeleteTopics", "0", request=[
    F("topic_names", "[]string", entity="topicName"),
    F("timeout", "timedelta_i32"),
], response=[
    F("responses", "[]DeletableTopicResult", fields=[
        F("name", "string", entity="topicName"),
        F("error_code", "error_code"),
    ]),
])

DESCRIBE_CONFIGS = message(32, "DescribeConfigs", "0", request=[
    F("resources", "[]DescribeConfigsResource", fields=[
        F("resource_type", "int8"),
        F("resource_name", "string"),
        F("configuration_keys", "[]string", nullable="0+"),
    ]),
], response=[
    F("throttle_time", "timedelta_i32"),
    F("results", "[]DescribeConfigsResult", fields=[
        F("error_code", "error_code"),
        F("error_message", "string", nullable="0+"),
        F("resource_type", "int8"),
        F("resource_name", "string"),
        F("configs", "[]DescribeConfigsResourceResult", fields=[
            F("name", "string"),
            F("value", "string", nullable="0+"),
            F("read_only", "bool"),
            F("is_default", "bool"),
            F("is_sensitive", "bool"),
        ]),
    ]),
])

ENTITIES = CREATE_TOPICS | DELETE_TOPICS | DESCRIBE_CONFIGS
