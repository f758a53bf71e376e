"""DescribeLogDirs v0 (API key 35), from Kafka 3.9's DescribeLogDirs*.json: the same fields as
v1 (which only changed how throttling is answered); removed in Kafka 4.0 (KIP-896)."""

from ._base import F, message

ENTITIES = message(35, "DescribeLogDirs", "0", request=[
    F("topics", "[]DescribableLogDirTopic", nullable="0+", fields=[
        F("topic", "string", entity="topicName"),
        F("partitions", "[]int32"),
    ]),
], response=[
    F("throttle_time", "timedelta_i32"),
    F("results", "[]DescribeLogDirsResult", fields=[
        F("error_code", "error_code"),
        F("log_dir", "string"),
        F("topics", "[]DescribeLogDirsTopic", fields=[
            F("name", "string", entity="topicName"),
            F("partitions", "[]DescribeLogDirsPartition", fields=[
                F("partition_index", "int32"),
                F("partition_size", "int64"),
                F("offset_lag", "int64"),
                F("is_future_key", "bool"),
            ]),
        ]),
    ]),
])
