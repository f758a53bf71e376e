"""Produce v0-2 (API key 0), from Kafka 3.9's ProduceRequest.json and ProduceResponse.json.

v0-2 requests are the same; responses add ThrottleTimeMs (v1) and LogAppendTimeMs (v2). The
records of these versions are message sets (magic 0 or 1), which log/legacy.py converts.
"""

from ._base import F, message

ENTITIES = message(0, "Produce", "0-2", request=[
    F("acks", "int16"),
    F("timeout", "timedelta_i32"),
    F("topic_data", "[]TopicProduceData", fields=[
        F("name", "string", entity="topicName"),
        F("partition_data", "[]PartitionProduceData", fields=[
            F("index", "int32"),
            F("records", "records", nullable="0+"),
        ]),
    ]),
], response=[
    F("responses", "[]TopicProduceResponse", fields=[
        F("name", "string", entity="topicName"),
        F("partition_responses", "[]PartitionProduceResponse", fields=[
            F("index", "int32"),
            F("error_code", "error_code"),
            F("base_offset", "int64"),
            F("log_append_time", "datetime_i64", "2+", default=-1),
        ]),
    ]),
    F("throttle_time", "timedelta_i32", "1+", default=0),
])
