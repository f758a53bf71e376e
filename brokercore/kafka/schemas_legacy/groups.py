"""OffsetCommit v0-1 (API key 8) and OffsetFetch v0 (API key 9), from Kafka 3.9's
OffsetCommitRequest.json, OffsetCommitResponse.json, OffsetFetchRequest.json and
OffsetFetchResponse.json.

OffsetCommit v1 adds the generation, the member id and a per-partition commit timestamp (v1
only); v0 has neither. OffsetFetch v0 has the layout of v1 (which kio has); Kafka kept v0's
offsets in ZooKeeper.
"""

from ._base import F, message

OFFSET_COMMIT = message(8, "OffsetCommit", "0-1", request=[
    F("group_id", "string", entity="groupId"),
    F("generation_id_or_member_epoch", "int32", "1+", default=-1),
    F("member_id", "string", "1+"),
    F("topics", "[]OffsetCommitRequestTopic", fields=[
        F("name", "string", entity="topicName"),
        F("partitions", "[]OffsetCommitRequestPartition", fields=[
            F("partition_index", "int32"),
            F("committed_offset", "int64"),
            F("commit_timestamp", "int64", "1", default=-1),
            F("committed_metadata", "string", nullable="0+"),
        ]),
    ]),
], response=[
    F("topics", "[]OffsetCommitResponseTopic", fields=[
        F("name", "string", entity="topicName"),
        F("partitions", "[]OffsetCommitResponsePartition", fields=[
            F("partition_index", "int32"),
            F("error_code", "error_code"),
        ]),
    ]),
])

OFFSET_FETCH = message(9, "OffsetFetch", "0", request=[
    F("group_id", "string", entity="groupId"),
    F("topics", "[]OffsetFetchRequestTopic", fields=[
        F("name", "string", entity="topicName"),
        F("partition_indexes", "[]int32"),
    ]),
], response=[
    F("topics", "[]OffsetFetchResponseTopic", fields=[
        F("name", "string", entity="topicName"),
        F("partitions", "[]OffsetFetchResponsePartition", fields=[
            F("partition_index", "int32"),
            F("committed_offset", "int64"),
            F("metadata", "string", nullable="0+"),
            F("error_code", "error_code"),
        ]),
    ]),
])

ENTITIES = OFFSET_COMMIT | OFFSET_FETCH
