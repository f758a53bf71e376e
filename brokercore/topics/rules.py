"""Kafka's rules for topic names and topic configs, in one place.

Names follow `org.apache.kafka.common.internals.Topic.validate`; config names, types, defaults and
ranges follow Kafka's `TopicConfig`/`LogConfig`. Messages are Kafka's own wording where Kafka has
one, so a learner can search for them.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from brokercore.errors import InvalidConfig, InvalidTopic

MAX_NAME_LENGTH = 249
# Also stated in API schemas (with MAX_NAME_LENGTH), so clients and generated tests see the rule.
LEGAL_NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"
_LEGAL = re.compile(LEGAL_NAME_PATTERN)


def topic_name_validate(name: str) -> None:
    if not isinstance(name, str) or name == "":
        raise InvalidTopic("Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise InvalidTopic('Topic name cannot be "." or ".."')
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidTopic(
            f"Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, "
            f"topic name: {name}"
        )
    if not _LEGAL.match(name):
        raise InvalidTopic(
            f'Topic name "{name}" is illegal, it contains a character other than '
            "ASCII alphanumerics, '.', '_' and '-'"
        )


def topic_name_collision_key(name: str) -> str:
    """Kafka refuses two topics whose names differ only by '.' vs '_' (their metric names clash)."""
    return name.replace(".", "_")


# --- Configs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigDef:
    name: str
    type: str  # "long", "int", "string", "list"
    default: Callable[[], Any]
    doc: str
    minimum: int | None = None
    choices: tuple[str, ...] | None = None


def _message_max_bytes() -> int:
    return settings.BROKER["MESSAGE_MAX_BYTES"]


CONFIG_DEFS: dict[str, ConfigDef] = {
    d.name: d
    for d in [
        ConfigDef("cleanup.policy", "list", lambda: "delete",
                  "delete: drop old records by retention.ms/retention.bytes; compact: keep the "
                  "latest record per key; both: do both.", choices=("delete", "compact")),
        ConfigDef("retention.ms", "long", lambda: 604800000,
                  "How long records are kept before deletion (-1: forever).", minimum=-1),
        ConfigDef("retention.bytes", "long", lambda: -1,
                  "Largest size a partition may grow to before its oldest records are deleted "
                  "(-1: no limit).", minimum=-1),
        ConfigDef("delete.retention.ms", "long", lambda: 86400000,
                  "How long tombstones (null values) are kept on a compacted topic.", minimum=0),
        ConfigDef("max.message.bytes", "int", _message_max_bytes,
                  "Largest record the topic accepts (key + value + headers).", minimum=0),
        ConfigDef("message.timestamp.type", "string", lambda: "CreateTime",
                  "CreateTime: the producer's timestamp; LogAppendTime: the broker's clock at append.",
                  choices=("CreateTime", "LogAppendTime")),
        ConfigDef("min.insync.replicas", "int", lambda: 1,
                  "With acks=all, a write needs at least this many in-sync replicas.", minimum=1),
    ]
}

_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1


def config_value_parse(name: str, value: Any) -> str:
    """Validate one topic config; return its canonical string form (Kafka stores strings)."""
    d = CONFIG_DEFS.get(name)
    if d is None:
        raise InvalidConfig(f"Unknown topic config name: {name}")
    if value is None:
        raise InvalidConfig(f"Invalid value null for configuration {name}: a value is required")
    text = str(value).strip() if not isinstance(value, bool) else ""
    if d.type in ("long", "int"):
        try:
            number = int(text)
        except ValueError:
            raise InvalidConfig(
                f"Invalid value {value} for configuration {name}: Not a number of type {d.type.upper()}"
            ) from None
        upper = _INT_MAX if d.type == "int" else _LONG_MAX
        if number > upper or (d.minimum is not None and number < d.minimum):
            raise InvalidConfig(
                f"Invalid value {value} for configuration {name}: Value must be at least {d.minimum}"
                if d.minimum is not None and number < d.minimum
                else f"Invalid value {value} for configuration {name}: Value out of range"
            )
        return str(number)
    if d.type == "list":
        items = [i.strip() for i in text.replace("[", "").replace("]", "").split(",") if i.strip()]
        if not items or any(i not in d.choices for i in items):
            raise InvalidConfig(
                f"Invalid value {value} for configuration {name}: String must be one of: "
                + ", ".join(d.choices)
            )
        return ",".join(sorted(set(items), key=d.choices.index))
    if d.choices and text not in d.choices:
        raise InvalidConfig(
            f"Invalid value {value} for configuration {name}: String must be one of: "
            + ", ".join(d.choices)
        )
    return text


def configs_parse(configs: dict[str, Any] | None) -> dict[str, str]:
    return {name: config_value_parse(name, value) for name, value in (configs or {}).items()}


def configs_effective(overrides: dict[str, str]) -> dict[str, str]:
    """Defaults with the topic's overrides on top, every value a string as Kafka reports them."""
    return {name: overrides.get(name, str(d.default())) for name, d in CONFIG_DEFS.items()}


@dataclass(frozen=True)
class LogConfig:
    """A topic's effective configs, typed for the log's own use."""

    cleanup_delete: bool
    cleanup_compact: bool
    retention_ms: int
    retention_bytes: int
    delete_retention_ms: int
    max_message_bytes: int
    log_append_time: bool
    min_insync_replicas: int

    @classmethod
    def from_overrides(cls, overrides: dict[str, str]) -> "LogConfig":
        c = configs_effective(overrides)
        policy = c["cleanup.policy"].split(",")
        return cls(
            cleanup_delete="delete" in policy,
            cleanup_compact="compact" in policy,
            retention_ms=int(c["retention.ms"]),
            retention_bytes=int(c["retention.bytes"]),
            delete_retention_ms=int(c["delete.retention.ms"]),
            max_message_bytes=int(c["max.message.bytes"]),
            log_append_time=c["message.timestamp.type"] == "LogAppendTime",
            min_insync_replicas=int(c["min.insync.replicas"]),
        )
