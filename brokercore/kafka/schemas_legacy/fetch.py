"""Fetch v0-3 (API key 1) and ListOffsets v0 (API key 2), from Kafka 3.9's FetchRequest.json,
FetchResponse.json, ListOffsetsRequest.json and ListOffsetsResponse.json.

Fetch v0-2 requests are the same and v3 adds MaxBytes; responses add ThrottleTimeMs in v1. The
records they carry are message sets (magic 0 for v0-1, magic 1 for v2-3). ListOffsets v0 asks for
up to MaxNumOffsets offsets before a timestamp and answers them as OldStyleOffsets.
"""

from ._base import F, message

FETCH = message(1, "Fetch", "0-3", request=[
    F("replica_id", "int32", entity="brokerId", default=-1),
    F("max_wait", "timedelta_i32"),
    F("min_bytes", "int32"),
    F("max_bytes", "int32", "3+", default=0x7FFFFFFF),
    F("topics", "[]FetchTopic", fields=[
        F("topic", "string", entity="topicName"),
        F("partitions", "[]FetchPartition", fields=[
            F("partition", "int32"),
            F("fetch_offset", "int64"),
            F("partition_max_bytes", "int32"),
        ]),
    ]),
], response=[
    F("throttle_time", "timedelta_i32", "1+", default=0),
    F("responses", "[]FetchableTopicResponse", fields=[
        F("topic", "string", entity="topicName"),
        F("partitions", "[]PartitionData", fields=[
            F("partition_index", "int32"),
            F("error_code", "error_code"),
            F("high_watermark", "int64"),
            F("records", "records", nullable="0+"),
        ]),
    ]),
])

LIST_OFFSETS = message(2, "ListOffsets", "0", request=[
    F("replica_id", "int32", entity="brokerId"),
    F("topics", "[]ListOffsetsTopic", fields=[
        F("name", "string", entity="topicName"),
        F("partitions", "[]ListOffsetsPartition", fields=[
            F("partition_index", "int32"),
            F("timestamp", "int64"),
            F("max_num_offsets", "int32", "0", default=1),
        ]),
    ]),
], response=[
    F("topics", "[]ListOffsetsTopicResponse", fields=[
        F("name", "string", entity="topicName"),
        F("partitions", "[]ListOffsetsPartitionResponse", fields=[
            F("partition_index", "int32"),
            F("error_code", "error_code"),
            F("old_style_offsets", "[]int64", "0"),
        ]),
    ]),
])

ENTITIES = FETCH | LIST_OFFSETS
