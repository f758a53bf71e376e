"""REST errors in the Confluent REST Proxy's shape: {"error_code": 40401, "message": "..."}.

The HTTP status is the error code's first three digits (40401 -> 404); a three-digit code is the
status itself. Broker errors keep Kafka's meaning but get the proxy's codes, so REST clients see
what they would see from Confluent's proxy.
"""

from brokercore import errors as kafka

# Confluent REST Proxy error codes.
TOPIC_NOT_FOUND = 40401
PARTITION_NOT_FOUND = 40402
CONSUMER_INSTANCE_NOT_FOUND = 40403
CLUSTER_NOT_FOUND = 40404
CONSUMER_GROUP_NOT_FOUND = 40405
CONFIG_NOT_FOUND = 40406
BROKER_NOT_FOUND = 40407
CONSUMER_FORMAT_MISMATCH = 40601
# Ours (Confluent's proxy answers 500/50002): a json consumer reached a record that is not JSON.
RECORD_NOT_IN_FORMAT = 40602
CONSUMER_ALREADY_EXISTS = 40902
ILLEGAL_STATE = 40903
TOPIC_ALREADY_EXISTS = 40002
BAD_REQUEST = 40001
INVALID_CONSUMER_CONFIG = 42204
INVALID_PAYLOAD = 42206
UNAUTHORIZED = 40101
FORBIDDEN = 40301
TOO_LARGE = 41301
UNSUPPORTED_MEDIA_TYPE = 41501
# Ours: too many failed logins from this address or for this username (console.login_limit).
TOO_MANY_FAILED_LOGINS = 42901
NOT_ACCEPTABLE = 40601  # the proxy answers a bad Accept with the format-mismatch code
KAFKA_ERROR = 50002
KAFKA_RETRIABLE_ERROR = 50003


class RestError(Exception):
    def __init__(
        self, error_code: int, message: str, *, headers: dict[str, str] | None = None, details: dict | None = None
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}
        # Fields a client can act on without parsing the message (e.g. where to seek).
        self.details = details or {}

    @property
    def status(self) -> int:
        return self.error_code if self.error_code < 1000 else int(str(self.error_code)[:3])

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message, **self.details}


# Kafka error -> proxy code, for errors that are not about one record (an unknown topic or
# partition is rest_error's `not_found`). Anything else that is the caller's fault is 40001;
# retriable ones are 50003, like the proxy's "Kafka retriable error".
_BY_KAFKA_ERROR: list[tuple[type[kafka.BrokerError], int]] = [
    (kafka.GroupIdNotFound, CONSUMER_GROUP_NOT_FOUND),
    (kafka.TopicAlreadyExists, TOPIC_ALREADY_EXISTS),
    (kafka.RecordListTooLarge, TOO_LARGE),
    (kafka.MessageTooLarge, TOO_LARGE),
    (kafka.RebalanceInProgress, ILLEGAL_STATE),
    (kafka.NonEmptyGroup, ILLEGAL_STATE),
    (kafka.IllegalGeneration, ILLEGAL_STATE),
    (kafka.UnknownMemberId, CONSUMER_INSTANCE_NOT_FOUND),
]


def rest_error(e: kafka.BrokerError, *, not_found: int = TOPIC_NOT_FOUND) -> RestError:
    """The proxy's answer to a broker error; `not_found` picks 40401/40402/... for an unknown
    topic or partition, which only the caller can tell apart."""
    message = f"{e.message} (Kafka error {e.code} {e.name})"
    if isinstance(e, kafka.UnknownTopicOrPartition):
        return RestError(not_found, message)
    if isinstance(e, kafka.OffsetOutOfRange):
        return RestError(BAD_REQUEST, message)
    for cls, code in _BY_KAFKA_ERROR:
        if isinstance(e, cls):
            return RestError(code, message)
    if e.retriable:
        return RestError(KAFKA_RETRIABLE_ERROR, message)
    return RestError(BAD_REQUEST, message)
