"""Every topic config of Apache Kafka 3.9, and the broker configs they default from: the one table
the Kafka listener, REST v3, the console and the CLI all read.

Types, defaults, validators and documentation are Kafka's (`TopicConfig`, `LogConfig`,
`ServerLogConfigs`); the broker synonyms and their order are `ServerTopicConfigSynonyms`
(retention.ms defaults from log.retention.ms, else log.retention.minutes, else log.retention.hours,
converted to milliseconds). Each topic config says whether this broker acts on it: `effect` is
None when it behaves as in Kafka, else the reason it is only stored and reported here (e.g. there
are no segment files to roll). One module for the table because a table read in two halves is
easy to get out of step; it holds data, not behaviour (that is topics/configs.py). It is long
because Kafka's documentation is.
"""

from dataclasses import dataclass

from brokercore.configdef import (
    LONG_MAX,
    ConfigException,
    ConfigKey,
    ConfigType,
    Validator,
    at_least,
    between,
    one_of,
)

BOOLEAN, STRING, INT, LONG, DOUBLE, LIST = (
    ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST,
)

HOURS, MINUTES = 3_600_000, 60_000  # ConfigSynonym's HOURS_TO_MILLISECONDS, MINUTES_TO_MILLISECONDS

# Why configs are stored and reported but change nothing here.
_SEGMENTS = ("the log is kept as record batches in database rows, not in segment files, so there is "
             "no segment to size or roll: retention removes whole batches by their time and size")
_INDEX = "there are no index files: the database's indexes find an offset or a time"
_FLUSH = ("every write is committed to the database before it is acknowledged (fsynced for acks=all "
          "on SQLite), so there is nothing to flush on a timer")
_ONE_COPY = ("the database holds the one copy of every partition: no replica falls out of sync, so "
             "there is no leader election to make unclean and no replication to throttle")
_COMPRESSION_LEVEL = ("the broker compresses at its codec's default level (gzip 6, lz4 and zstd as "
                      "python-cramjam's): this level is stored only")
_TIERED = "there is no tiered storage: every record stays in the database until retention removes it"
_FORMAT = "records are stored in message format v2, as Kafka 3.0 and later do whatever this says"
_CLEANER_PASS = ("the cleaner compacts every compacted partition on each pass (BROKER_LOG_CLEANER_INTERVAL_S), "
                 "whatever its dirty ratio, so no record waits longer than one pass")
_FILES = "deleted batches are removed by the cleaner's next pass; there are no files to delete"
_DOWNCONVERSION = "stored only: this broker does not consult it"


def _gzip_level(name: str, value: object) -> None:
    # GzipCompression's validator: 1..9, or -1 for zlib's default.
    if value is not None and (value > 9 or (value < 1 and value != -1)):  # type: ignore[operator]
        raise ConfigException(name, value, "Value must be between 1 and 9 or equal to -1")


def _metadata_version(name: str, value: object) -> None:
    # MetadataVersionValidator: a Kafka release ("2.8", "3.0-IV1", "0.10.0").
    import re

    if not re.fullmatch(r"0\.(8|9|10|11)(\.\d+)*(-IV\d+)?|[1-9]\.\d+(-IV\d+)?", str(value)):
        raise ConfigException(name, value, f"Version {value} is not a valid version")


def _throttled_replicas(name: str, value: object) -> None:
    # ThrottledReplicaListValidator: "*" or partition:broker pairs.
    import re

    items = [str(v).strip() for v in value] if isinstance(value, list) else []
    if not (all(re.fullmatch(r"([0-9]+:[0-9]+)?", s) for s in items) or "".join(items) == "*"):
        raise ConfigException(name, value, f"{name} must be the literal '*' or a list of replicas in the following "
                                           "format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")


COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
CLEANUP_POLICIES = ("compact", "delete")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")


@dataclass(frozen=True)
class TopicConfigKey(ConfigKey):
    """A topic config: Kafka's key, the broker configs it defaults from (name, multiplier to the
    topic's unit, in Kafka's order), and why it has no effect here (None: it does)."""

    synonyms: tuple[tuple[str, int], ...] = ()
    effect: str | None = None


def _t(name: str, kind: ConfigType, default: object, doc: str, validator: Validator | None = None, *,
       synonyms: tuple[tuple[str, int], ...] | tuple[str, ...] = (), effect: str | None = None) -> TopicConfigKey:
    pairs = tuple(s if isinstance(s, tuple) else (s, 1) for s in synonyms)
    return TopicConfigKey(name, kind, default, doc, validator, synonyms=pairs, effect=effect)


_COMPACTION_LAG = (" If the max.compaction.lag.ms or the min.compaction.lag.ms configurations are also specified, "
                   "then the log compactor considers the log to be eligible for compaction as soon as either: (i) the "
                   "dirty ratio threshold has been met and the log has had dirty (uncompacted) records for at least the "
                   "min.compaction.lag.ms duration, or (ii) if the log has had dirty (uncompacted) records for at most "
                   "the max.compaction.lag.ms period.")
_TIMESTAMP_BOUND = ("If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps "
                    "exceeds this specified threshold. This configuration is ignored if message.timestamp.type=LogAppendTime.")

TOPIC_KEYS: dict[str, TopicConfigKey] = {k.name: k for k in [
    _t("cleanup.policy", LIST, ["delete"],
       "This config designates the retention policy to use on log segments. The \"delete\" policy (which is the "
       "default) will discard old segments when their retention time or size limit has been reached. The \"compact\" "
       "policy will enable log compaction, which retains the latest value for each key. It is also possible to specify "
       "both policies in a comma-separated list (e.g. \"delete,compact\"). In this case, old segments will be discarded "
       "per the retention time and size configuration, while retained segments will be compacted.",
       one_of(*CLEANUP_POLICIES), synonyms=("log.cleanup.policy",)),
    _t("compression.gzip.level", INT, -1, "The compression level to use if compression.type is set to gzip.",
       _gzip_level, synonyms=("compression.gzip.level",), effect=_COMPRESSION_LEVEL),
    _t("compression.lz4.level", INT, 9, "The compression level to use if compression.type is set to lz4.",
       between(1, 17), synonyms=("compression.lz4.level",), effect=_COMPRESSION_LEVEL),
    _t("compression.type", STRING, "producer",
       "Specify the final compression type for a given topic. This configuration accepts the standard compression "
       "codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no "
       "compression; and 'producer' which means retain the original compression codec set by the producer.",
       one_of(*COMPRESSION_TYPES), synonyms=("compression.type",)),
    _t("compression.zstd.level", INT, 3, "The compression level to use if compression.type is set to zstd.",
       between(-131072, 22), synonyms=("compression.zstd.level",), effect=_COMPRESSION_LEVEL),
    _t("delete.retention.ms", LONG, 86_400_000,
       "The amount of time to retain delete tombstone markers for log compacted topics. This setting also gives a "
       "bound on the time in which a consumer must complete a read if they begin from offset 0 to ensure that they get "
       "a valid snapshot of the final stage (otherwise delete tombstones may be collected before they complete their "
       "scan).", at_least(0), synonyms=("log.cleaner.delete.retention.ms",)),
    _t("file.delete.delay.ms", LONG, 60_000, "The time to wait before deleting a file from the filesystem",
       at_least(0), synonyms=("log.segment.delete.delay.ms",), effect=_FILES),
    _t("flush.messages", LONG, LONG_MAX,
       "This setting allows specifying an interval at which we will force an fsync of data written to the log. For "
       "example if this was set to 1 we would fsync after every message; if it were 5 we would fsync after every five "
       "messages. In general we recommend you not set this and use replication for durability and allow the operating "
       "system's background flush capabilities as it is more efficient.",
       at_least(1), synonyms=("log.flush.interval.messages",), effect=_FLUSH),
    _t("flush.ms", LONG, LONG_MAX,
       "This setting allows specifying a time interval at which we will force an fsync of data written to the log. "
       "For example if this was set to 1000 we would fsync after 1000 ms had passed. In general we recommend you not "
       "set this and use replication for durability and allow the operating system's background flush capabilities "
       "as it is more efficient.",
       at_least(0), synonyms=("log.flush.interval.ms", "log.flush.scheduler.interval.ms"), effect=_FLUSH),
    _t("follower.replication.throttled.replicas", LIST, [],
       "A list of replicas for which log replication should be throttled on the follower side. The list should "
       "describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively "
       "the wildcard '*' can be used to throttle all replicas for this topic.", _throttled_replicas, effect=_ONE_COPY),
    _t("index.interval.bytes", INT, 4096,
       "This setting controls how frequently Kafka adds an index entry to its offset index. The default setting "
       "ensures that we index a message roughly every 4096 bytes. More indexing allows reads to jump closer to the "
       "exact position in the log but makes the index larger. You probably don't need to change this.",
       at_least(0), synonyms=("log.index.interval.bytes",), effect=_INDEX),
    _t("leader.replication.throttled.replicas", LIST, [],
       "A list of replicas for which log replication should be throttled on the leader side. The list should "
       "describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively "
       "the wildcard '*' can be used to throttle all replicas for this topic.", _throttled_replicas, effect=_ONE_COPY),
    _t("local.retention.bytes", LONG, -2,
       "The maximum size of local log segments that can grow for a partition before it deletes the old segments. "
       "Default value is -2, it represents `retention.bytes` value to be used. The effective value should always be "
       "less than or equal to `retention.bytes` value.", at_least(-2), synonyms=("log.local.retention.bytes",),
       effect=_TIERED),
    _t("local.retention.ms", LONG, -2,
       "The number of milliseconds to keep the local log segment before it gets deleted. Default value is -2, it "
       "represents `retention.ms` value is to be used. The effective value should always be less than or equal to "
       "`retention.ms` value.", at_least(-2), synonyms=("log.local.retention.ms",), effect=_TIERED),
    _t("max.compaction.lag.ms", LONG, LONG_MAX,
       "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are "
       "being compacted.", at_least(1), synonyms=("log.cleaner.max.compaction.lag.ms",), effect=_CLEANER_PASS),
    _t("max.message.bytes", INT, 1_048_588,
       "The largest record batch size allowed by Kafka (after compression if compression is enabled). If this is "
       "increased and there are consumers older than 0.10.2, the consumers' fetch size must also be increased so that "
       "they can fetch record batches this large. In the latest message format version, records are always grouped "
       "into batches for efficiency. In previous message format versions, uncompressed records are not grouped into "
       "batches and this limit only applies to a single record in that case.",
       at_least(0), synonyms=("message.max.bytes",)),
    _t("message.downconversion.enable", BOOLEAN, True,
       "This configuration controls whether down-conversion of message formats is enabled to satisfy consume "
       "requests. When set to false, broker will not perform down-conversion for consumers expecting an older message "
       "format. The broker responds with UNSUPPORTED_VERSION error for consume requests from such older clients. This "
       "configuration does not apply to any message format conversion that might be required for replication to "
       "followers.", synonyms=("log.message.downconversion.enable",), effect=_DOWNCONVERSION),
    _t("message.format.version", STRING, "3.0-IV1",
       "[DEPRECATED] Specify the message format version the broker will use to append messages to the logs. The value "
       "of this config is always assumed to be `3.0` if `inter.broker.protocol.version` is 3.0 or higher (the actual "
       "config value is ignored). Otherwise, the value should be a valid ApiVersion. Some examples are: 0.10.0, 1.1, "
       "2.8, 3.0. By setting a particular message format version, the user is certifying that all the existing "
       "messages on disk are smaller or equal than the specified version. Setting this value incorrectly will cause "
       "consumers with older versions to break as they will receive messages with a format that they don't "
       "understand.", _metadata_version, synonyms=("log.message.format.version",), effect=_FORMAT),
    _t("message.timestamp.after.max.ms", LONG, LONG_MAX,
       "This configuration sets the allowable timestamp difference between the message timestamp and the broker's "
       "timestamp. The message timestamp can be later than or equal to the broker's timestamp, with the maximum "
       "allowable difference determined by the value set in this configuration. " + _TIMESTAMP_BOUND,
       at_least(0), synonyms=("log.message.timestamp.after.max.ms",)),
    _t("message.timestamp.before.max.ms", LONG, LONG_MAX,
       "This configuration sets the allowable timestamp difference between the broker's timestamp and the message "
       "timestamp. The message timestamp can be earlier than or equal to the broker's timestamp, with the maximum "
       "allowable difference determined by the value set in this configuration. " + _TIMESTAMP_BOUND,
       at_least(0), synonyms=("log.message.timestamp.before.max.ms",)),
    _t("message.timestamp.difference.max.ms", LONG, LONG_MAX,
       "[DEPRECATED] The maximum difference allowed between the timestamp when a broker receives a message and the "
       "timestamp specified in the message. If message.timestamp.type=CreateTime, a message will be rejected if the "
       "difference in timestamp exceeds this threshold. This configuration is ignored if "
       "message.timestamp.type=LogAppendTime.", at_least(0), synonyms=("log.message.timestamp.difference.max.ms",)),
    _t("message.timestamp.type", STRING, "CreateTime",
       "Define whether the timestamp in the message is message create time or log append time. The value should be "
       "either `CreateTime` or `LogAppendTime`", one_of(*TIMESTAMP_TYPES), synonyms=("log.message.timestamp.type",)),
    _t("min.cleanable.dirty.ratio", DOUBLE, 0.5,
       "This configuration controls how frequently the log compactor will attempt to clean the log (assuming log "
       "compaction is enabled). By default we will avoid cleaning a log where more than 50% of the log has been "
       "compacted. This ratio bounds the maximum space wasted in the log by duplicates (at 50% at most 50% of the log "
       "could be duplicates). A higher ratio will mean fewer, more efficient cleanings but will mean more wasted space "
       "in the log." + _COMPACTION_LAG, between(0, 1), synonyms=("log.cleaner.min.cleanable.ratio",),
       effect=_CLEANER_PASS),
    _t("min.compaction.lag.ms", LONG, 0,
       "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being "
       "compacted.", at_least(0), synonyms=("log.cleaner.min.compaction.lag.ms",)),
    _t("min.insync.replicas", INT, 1,
       "When a producer sets acks to \"all\" (or \"-1\"), this configuration specifies the minimum number of replicas "
       "that must acknowledge a write for the write to be considered successful. If this minimum cannot be met, then "
       "the producer will raise an exception (either NotEnoughReplicas or NotEnoughReplicasAfterAppend). When used "
       "together, min.insync.replicas and acks allow you to enforce greater durability guarantees. A typical scenario "
       "would be to create a topic with a replication factor of 3, set min.insync.replicas to 2, and produce with acks "
       "of \"all\". This will ensure that the producer raises an exception if a majority of replicas do not receive a "
       "write.", at_least(1), synonyms=("min.insync.replicas",)),
    _t("preallocate", BOOLEAN, False, "True if we should preallocate the file on disk when creating a new log segment.",
       synonyms=("log.preallocate",), effect=_SEGMENTS),
    _t("remote.log.copy.disable", BOOLEAN, False,
       "Determines whether tiered data for a topic should become read only, and no more data uploading on a topic. "
       "Once this config is set to true, the local retention configuration (i.e. local.retention.ms/bytes) becomes "
       "irrelevant, and all data expiration follows the topic-wide retention configuration(i.e. retention.ms/bytes).",
       effect=_TIERED),
    _t("remote.log.delete.on.disable", BOOLEAN, False,
       "Determines whether tiered data for a topic should be deleted after tiered storage is disabled on a topic. "
       "This configuration should be enabled when trying to set `remote.storage.enable` from true to false",
       effect=_TIERED),
    _t("remote.storage.enable", BOOLEAN, False,
       "To enable tiered storage for a topic, set this configuration as true. You can not disable this config once it "
       "is enabled. It will be provided in future versions.", effect=_TIERED),
    _t("retention.bytes", LONG, -1,
       "This configuration controls the maximum size a partition (which consists of log segments) can grow to before "
       "we will discard old log segments to free up space if we are using the \"delete\" retention policy. By default "
       "there is no size limit only a time limit. Since this limit is enforced at the partition level, multiply it by "
       "the number of partitions to compute the topic retention in bytes. Additionally, retention.bytes configuration "
       "operates independently of \"segment.ms\" and \"segment.bytes\" configurations. Moreover, it triggers the "
       "rolling of new segment if the retention.bytes is configured to zero.", synonyms=("log.retention.bytes",)),
    _t("retention.ms", LONG, 604_800_000,
       "This configuration controls the maximum time we will retain a log before we will discard old log segments to "
       "free up space if we are using the \"delete\" retention policy. This represents an SLA on how soon consumers "
       "must read their data. If set to -1, no time limit is applied. Additionally, retention.ms configuration "
       "operates independently of \"segment.ms\" and \"segment.bytes\" configurations. Moreover, it triggers the "
       "rolling of new segment if the retention.ms condition is satisfied.",
       at_least(-1), synonyms=("log.retention.ms", ("log.retention.minutes", MINUTES), ("log.retention.hours", HOURS))),
    _t("segment.bytes", INT, 1_073_741_824,
       "This configuration controls the segment file size for the log. Retention and cleaning is always done a file "
       "at a time so a larger segment size means fewer files but less granular control over retention.",
       at_least(14), synonyms=("log.segment.bytes",), effect=_SEGMENTS),
    _t("segment.index.bytes", INT, 10_485_760,
       "This configuration controls the size of the index that maps offsets to file positions. We preallocate this "
       "index file and shrink it only after log rolls. You generally should not need to change this setting.",
       at_least(4), synonyms=("log.index.size.max.bytes",), effect=_INDEX),
    _t("segment.jitter.ms", LONG, 0,
       "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment "
       "rolling", at_least(0), synonyms=("log.roll.jitter.ms", ("log.roll.jitter.hours", HOURS)), effect=_SEGMENTS),
    _t("segment.ms", LONG, 604_800_000,
       "This configuration controls the period of time after which Kafka will force the log to roll even if the "
       "segment file isn't full to ensure that retention can delete or compact old data.",
       at_least(1), synonyms=("log.roll.ms", ("log.roll.hours", HOURS)), effect=_SEGMENTS),
    _t("unclean.leader.election.enable", BOOLEAN, False,
       "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though "
       "doing so may result in data loss.", synonyms=("unclean.leader.election.enable",), effect=_ONE_COPY),
]}


@dataclass(frozen=True)
class BrokerConfigKey(ConfigKey):
    """A broker config that topics default from (Kafka's LogConfig.SERVER_CONFIG_DEF). `dynamic`:
    AlterConfigs may change it (DynamicLogConfig.ReconfigurableConfigs: the first synonym of each
    topic config, except message.format.version)."""

    dynamic: bool = False


def _b(name: str, kind: ConfigType, default: object, doc: str, validator: Validator | None = None) -> BrokerConfigKey:
    return BrokerConfigKey(name, kind, default, doc, validator)


_SECONDARY: list[BrokerConfigKey] = [
    _b("log.roll.ms", LONG, None, "The maximum time before a new log segment is rolled out (in milliseconds). If not "
       "set, the value in log.roll.hours is used"),
    _b("log.roll.hours", INT, 168, "The maximum time before a new log segment is rolled out (in hours), secondary to "
       "log.roll.ms property", at_least(1)),
    _b("log.roll.jitter.ms", LONG, None, "The maximum jitter to subtract from logRollTimeMillis (in milliseconds). If "
       "not set, the value in log.roll.jitter.hours is used"),
    _b("log.roll.jitter.hours", INT, 0, "The maximum jitter to subtract from logRollTimeMillis (in hours), secondary to "
       "log.roll.jitter.ms property", at_least(0)),
    _b("log.flush.interval.ms", LONG, None, "The maximum time in ms that a message in any topic is kept in memory "
       "before flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is used"),
    _b("log.flush.scheduler.interval.ms", LONG, LONG_MAX, "The frequency in ms that the log flusher checks whether "
       "any log needs to be flushed to disk"),
    _b("log.retention.ms", LONG, None, "The number of milliseconds to keep a log file before deleting it (in "
       "milliseconds), If not set, the value in log.retention.minutes is used. If set to -1, no time limit is applied."),
    _b("log.retention.minutes", INT, None, "The number of minutes to keep a log file before deleting it (in minutes), "
       "secondary to log.retention.ms property. If not set, the value in log.retention.hours is used"),
    _b("log.retention.hours", INT, 168, "The number of hours to keep a log file before deleting it (in hours), "
       "tertiary to log.retention.ms property"),
]


def _broker_keys() -> dict[str, BrokerConfigKey]:
    """Each broker synonym of a topic config, with the topic config's type, validator and default
    unless Kafka defines the broker config apart (the time-unit ones above)."""
    keys = {k.name: k for k in _SECONDARY}
    for topic_key in TOPIC_KEYS.values():
        for name, _ in topic_key.synonyms:
            if name not in keys:
                keys[name] = _b(name, topic_key.type, topic_key.default,
                                f"The broker's default of the topic config {topic_key.name}: {topic_key.doc}",
                                topic_key.validator)
    for topic_key in TOPIC_KEYS.values():
        if topic_key.synonyms and topic_key.name != "message.format.version":
            first = keys[topic_key.synonyms[0][0]]
            keys[first.name] = BrokerConfigKey(first.name, first.type, first.default, first.doc, first.validator,
                                               dynamic=True)
    return keys


BROKER_LOG_KEYS: dict[str, BrokerConfigKey] = _broker_keys()
