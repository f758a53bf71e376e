"""Kafka's rules for topic names and topic configs, in one place.

Names follow `org.apache.kafka.common.internals.Topic.validate`; config names, types, defaults and
ranges follow Kafka's `TopicConfig`/`LogConfig`. Messages are Kafka's own wording where Kafka has
one, so a learner can search for them.
"""

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

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


# Kafka's Topic.INTERNAL_TOPICS: the group and transaction coordinators' own logs. Other names
# starting with "__" are ordinary topics to Kafka, and so here.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


def topic_is_internal(name: str) -> bool:
    """Kafka's Topic.isInternal, which Metadata's is_internal and REST v3's both report."""
    return name in INTERNAL_TOPICS


# --- Configs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigDef:
    name: str
    type: str  # "long", "int", "string", "list"
    default: Callable[[], int | str]
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


def config_value_parse(name: str, value: object) -> str:
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


def configs_parse(configs: Mapping[str, object] | None) -> dict[str, str]:
    return {name: config_value_parse(name, value) for name, value in (configs or {}).items()}


def configs_effective(overrides: dict[str, str]) -> dict[str, str]:
    """Defaults with the topic's overrides on top, every value a string as Kafka reports them."""
    return {name: overrides.get(name, str(d.default())) for name, d in CONFIG_DEFS.items()}


class ConfigSource(IntEnum):
    """Kafka's DescribeConfigs ConfigSource: the wire numbers, with the Admin client's names
    (ConfigEntry.ConfigSource), which REST v3 reports as strings."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6


class ConfigType(IntEnum):
    """Kafka's DescribeConfigs ConfigType (v3+)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


@dataclass(frozen=True, slots=True)
class ConfigSynonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One config as DescribeConfigs reports it; every adapter (Kafka listener, REST v3, the
    console's topic page) translates these, so they cannot disagree on source or default.

    `synonyms` give the value at each level that sets one, most specific first (Kafka's
    include_synonyms); the last is the default where Kafka has one.
    """

    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    sensitive: bool
    synonyms: tuple[ConfigSynonym, ...]
    type: ConfigType
    doc: str

    @property
    def is_default(self) -> bool:
        """DescribeConfigs v0's is_default: the value is Kafka's default, nothing set it."""
        return self.source == ConfigSource.DEFAULT_CONFIG

    @property
    def default(self) -> str | None:
        """Kafka's default value (the DEFAULT_CONFIG synonym), or None when there is none."""
        return next((s.value for s in self.synonyms if s.source == ConfigSource.DEFAULT_CONFIG), None)


def config_entries(overrides: dict[str, str], *, names: Collection[str] | None = None) -> list[ConfigEntry]:
    """A topic's configs (those in `names`, or all) in CONFIG_DEFS order: an override is a
    DYNAMIC_TOPIC_CONFIG (alterable, so not read-only), anything else Kafka's DEFAULT_CONFIG."""
    out = []
    for name, d in CONFIG_DEFS.items():
        if names is not None and name not in names:
            continue
        default = ConfigSynonym(name, str(d.default()), ConfigSource.DEFAULT_CONFIG)
        if name in overrides:
            value, source = overrides[name], ConfigSource.DYNAMIC_TOPIC_CONFIG
            synonyms = (ConfigSynonym(name, value, source), default)
        else:
            value, source, synonyms = default.value, default.source, (default,)
        out.append(ConfigEntry(name=name, value=value, source=source, read_only=False, sensitive=False,
                               synonyms=synonyms, type=ConfigType[d.type.upper()], doc=d.doc))
    return out


class StaticConfig(Protocol):
    name: str
    value: str
    type: str
    doc: str


def static_config_entries(configs: Iterable[StaticConfig]) -> list[ConfigEntry]:
    """Settings a server process starts with (broker configs): read-only STATIC_BROKER_CONFIGs
    until a restart, their one synonym themselves."""
    out = []
    for c in configs:
        source = ConfigSource.STATIC_BROKER_CONFIG
        out.append(ConfigEntry(name=c.name, value=c.value, source=source, read_only=True, sensitive=False,
                               synonyms=(ConfigSynonym(c.name, c.value, source),),
                               type=ConfigType[c.type.upper()], doc=c.doc))
    return out


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
