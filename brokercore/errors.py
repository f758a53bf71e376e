"""Domain errors, named and numbered as Kafka's protocol error codes.

Every adapter (console, REST, CLI, Kafka listener) maps these to its own shape; the code and the
name are Kafka's so that users can look them up in Kafka's documentation.
"""

# Kafka's Errors.NONE: the code of an answer (or of one partition's answer) that succeeded.
NO_ERROR = 0


class BrokerError(Exception):
    """Base of all broker errors. `code` is Kafka's error code, `name` its constant name."""

    code: int = -1
    name: str = "UNKNOWN_SERVER_ERROR"
    retriable: bool = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.__doc__ or self.name
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class OffsetOutOfRange(BrokerError):
    """The requested offset is not within the range of offsets maintained by the server."""

    code, name = 1, "OFFSET_OUT_OF_RANGE"


class CorruptMessage(BrokerError):
    """This message has failed its CRC checksum, exceeds the valid size, or is otherwise corrupt."""

    code, name, retriable = 2, "CORRUPT_MESSAGE", True


class UnknownTopicOrPartition(BrokerError):
    """This server does not host this topic-partition."""

    code, name, retriable = 3, "UNKNOWN_TOPIC_OR_PARTITION", True


class NotLeaderOrFollower(BrokerError):
    """The topic's partitions changed under the request (its metadata is out of date): retry."""

    code, name, retriable = 6, "NOT_LEADER_OR_FOLLOWER", True


class InvalidFetchSize(BrokerError):
    """The requested fetch size is invalid."""

    code, name = 4, "INVALID_FETCH_SIZE"


class MessageTooLarge(BrokerError):
    """The request included a message larger than the max message size the server will accept."""

    code, name = 10, "MESSAGE_TOO_LARGE"


class InvalidTopic(BrokerError):
    """The request attempted to perform an operation on an invalid topic."""

    code, name = 17, "INVALID_TOPIC_EXCEPTION"


class RecordListTooLarge(BrokerError):
    """The request included message batch larger than the configured segment size on the server."""

    code, name = 18, "RECORD_LIST_TOO_LARGE"


class NotEnoughReplicas(BrokerError):
    """Messages are rejected since there are fewer in-sync replicas than required."""

    code, name, retriable = 19, "NOT_ENOUGH_REPLICAS", True


class InvalidRequiredAcks(BrokerError):
    """Produce request specified an invalid value for required acks."""

    code, name = 21, "INVALID_REQUIRED_ACKS"


class InvalidTimestamp(BrokerError):
    """The timestamp of the message is out of acceptable range."""

    code, name = 32, "INVALID_TIMESTAMP"


class TopicAlreadyExists(BrokerError):
    """Topic with this name already exists."""

    code, name = 36, "TOPIC_ALREADY_EXISTS"


class InvalidPartitions(BrokerError):
    """Number of partitions is below 1 or not larger than the current count."""

    code, name = 37, "INVALID_PARTITIONS"


class InvalidReplicationFactor(BrokerError):
    """Replication factor is below 1 or larger than the number of available brokers."""

    code, name = 38, "INVALID_REPLICATION_FACTOR"


class InvalidConfig(BrokerError):
    """Configuration is invalid."""

    code, name = 40, "INVALID_CONFIG"


class InvalidRequest(BrokerError):
    """This most likely occurs because of a request being malformed."""

    code, name = 42, "INVALID_REQUEST"


class UnsupportedVersion(BrokerError):
    """The version of API is not supported."""

    code, name = 35, "UNSUPPORTED_VERSION"


class InvalidReplicaAssignment(BrokerError):
    """Replica assignment in request is not valid."""

    code, name = 39, "INVALID_REPLICA_ASSIGNMENT"


class InvalidTxnState(BrokerError):
    """The producer attempted a transactional operation in an invalid state."""

    code, name = 48, "INVALID_TXN_STATE"


class UnknownTopicId(BrokerError):
    """This server does not host this topic ID."""

    code, name = 100, "UNKNOWN_TOPIC_ID"


class FetchSessionIdNotFound(BrokerError):
    """The fetch session ID was not found (this broker hands out none: every Fetch is sessionless)."""

    code, name = 70, "FETCH_SESSION_ID_NOT_FOUND"


class InvalidRecord(BrokerError):
    """This record has failed the validation on broker and hence will be rejected."""

    code, name = 87, "INVALID_RECORD"


class OffsetMetadataTooLarge(BrokerError):
    """The metadata field of the offset request was too large."""

    code, name = 12, "OFFSET_METADATA_TOO_LARGE"


class CoordinatorNotAvailable(BrokerError):
    """The coordinator is not available."""

    code, name, retriable = 15, "COORDINATOR_NOT_AVAILABLE", True


class IllegalGeneration(BrokerError):
    """Specified group generation id is not valid."""

    code, name = 22, "ILLEGAL_GENERATION"


class InconsistentGroupProtocol(BrokerError):
    """The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."""

    code, name = 23, "INCONSISTENT_GROUP_PROTOCOL"


class InvalidGroupId(BrokerError):
    """The configured groupId is invalid."""

    code, name = 24, "INVALID_GROUP_ID"


class UnknownMemberId(BrokerError):
    """The coordinator is not aware of this member."""

    code, name = 25, "UNKNOWN_MEMBER_ID"


class InvalidSessionTimeout(BrokerError):
    """The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms)."""

    code, name = 26, "INVALID_SESSION_TIMEOUT"


class RebalanceInProgress(BrokerError):
    """The group is rebalancing, so a rejoin is needed."""

    code, name = 27, "REBALANCE_IN_PROGRESS"


class NonEmptyGroup(BrokerError):
    """The group is not empty."""

    code, name = 68, "NON_EMPTY_GROUP"


class TopicAuthorizationFailed(BrokerError):
    """Topic authorization failed."""

    code, name = 29, "TOPIC_AUTHORIZATION_FAILED"


class GroupAuthorizationFailed(BrokerError):
    """Group authorization failed."""

    code, name = 30, "GROUP_AUTHORIZATION_FAILED"


class ClusterAuthorizationFailed(BrokerError):
    """Cluster authorization failed."""

    code, name = 31, "CLUSTER_AUTHORIZATION_FAILED"


class GroupIdNotFound(BrokerError):
    """The group id does not exist."""

    code, name = 69, "GROUP_ID_NOT_FOUND"


class MemberIdRequired(BrokerError):
    """The group member needs to have a valid member id before actually entering a consumer group."""

    code, name = 79, "MEMBER_ID_REQUIRED"


class GroupMaxSizeReached(BrokerError):
    """The consumer group has reached its max size."""

    code, name = 81, "GROUP_MAX_SIZE_REACHED"


class FencedInstanceId(BrokerError):
    """The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id."""

    code, name = 82, "FENCED_INSTANCE_ID"


class GroupSubscribedToTopic(BrokerError):
    """The consumer group is actively subscribed to the topic."""

    code, name = 86, "GROUP_SUBSCRIBED_TO_TOPIC"


class DuplicateBrokerRegistration(BrokerError):
    """This broker ID is already in use."""

    code, name = 101, "DUPLICATE_BROKER_REGISTRATION"


class OutOfOrderSequenceNumber(BrokerError):
    """The broker received an out of order sequence number."""

    code, name = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER"


class InvalidProducerEpoch(BrokerError):
    """Producer attempted to produce with an old epoch."""

    code, name = 47, "INVALID_PRODUCER_EPOCH"


class UnsupportedSaslMechanism(BrokerError):
    """The broker does not support the requested SASL mechanism."""

    code, name = 33, "UNSUPPORTED_SASL_MECHANISM"


class ResourceNotFound(BrokerError):
    """A request illegally referred to a resource that does not exist."""

    code, name = 91, "RESOURCE_NOT_FOUND"


class DuplicateResource(BrokerError):
    """A request illegally referred to the same resource twice."""

    code, name = 92, "DUPLICATE_RESOURCE"


class UnacceptableCredential(BrokerError):
    """Requested credential would not meet criteria for acceptability."""

    code, name = 93, "UNACCEPTABLE_CREDENTIAL"


ALL_ERRORS: dict[int, type[BrokerError]] = {cls.code: cls for cls in BrokerError.__subclasses__()}
