"""Topic configs and the broker configs they default from, resolved as Kafka resolves them.

A topic's value is its own override (DYNAMIC_TOPIC_CONFIG), else the first broker synonym set at
some level (this node's DYNAMIC_BROKER_CONFIG, the cluster's DYNAMIC_DEFAULT_BROKER_CONFIG, the
process's STATIC_BROKER_CONFIG), converted to the topic's unit, else the default of the first
broker synonym that has one (DEFAULT_CONFIG). `config_entries` reports that chain for
DescribeConfigs, REST v3 and the console; `LogConfig` is what the log acts on.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from brokercore.cluster.configs import (
    DynamicConfigs,
    dynamic_broker_configs,
    static_broker_values,
    this_node_id,
)
from brokercore.configdef import (
    ConfigEntry,
    ConfigException,
    ConfigKey,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
    to_text,
)
from brokercore.errors import InvalidConfig, InvalidRequest
from brokercore.topics.config_table import BROKER_LOG_KEYS, TOPIC_KEYS, TopicConfigKey

CONFIG_NAMES: tuple[str, ...] = tuple(TOPIC_KEYS)

# IncrementalAlterConfigs' operations (AlterConfigOp.OpType), by their wire numbers.
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
OPERATIONS = {SET: "SET", DELETE: "DELETE", APPEND: "APPEND", SUBTRACT: "SUBTRACT"}


@dataclass(frozen=True, slots=True)
class ConfigOp:
    """One change of IncrementalAlterConfigs: `op` is SET, DELETE, APPEND or SUBTRACT."""

    name: str
    op: int
    value: str | None = None


# --- Parsing one value -------------------------------------------------------------------------


def _checked(key: ConfigKey, value: object) -> str:
    """`value` parsed and validated by `key`; Kafka's canonical text of it (lists joined by ',')."""
    if value is None:
        raise InvalidConfig(f"Null value not supported for topic configs: {key.name}")
    try:
        return to_text(key.parse(value), key.type)
    except ConfigException as e:
        raise InvalidConfig(e.message) from None


def config_value_parse(name: str, value: object) -> str:
    """Validate one topic config as Kafka's LogConfig does; its canonical string (as stored)."""
    key = TOPIC_KEYS.get(name)
    if key is None:
        raise InvalidConfig(f"Unknown topic config name: {name}")
    return _checked(key, value)


def configs_parse(configs: Mapping[str, object] | None) -> dict[str, str]:
    """A topic's whole set of overrides, each checked, then together (LogConfig.validateValues)."""
    parsed = {name: config_value_parse(name, value) for name, value in (configs or {}).items()}
    topic_configs_validate(parsed)
    return parsed


def topic_configs_validate(overrides: Mapping[str, str]) -> None:
    """Kafka's checks of a topic's configs taken together, over its effective values."""
    c = configs_effective(overrides)
    min_lag, max_lag = int(c["min.compaction.lag.ms"]), int(c["max.compaction.lag.ms"])
    if min_lag > max_lag:
        raise InvalidConfig(f"conflict topic config setting min.compaction.lag.ms ({min_lag}) > "
                            f"max.compaction.lag.ms ({max_lag})")
    if c["remote.storage.enable"] == "true":
        # Kafka's answer on a broker without remote.log.storage.system.enable.
        raise InvalidConfig("Tiered Storage functionality is disabled in the broker. "
                            "Topic cannot be configured with remote log storage.")


def configs_apply(current: Mapping[str, str], ops: Sequence[ConfigOp], keys: Mapping[str, ConfigKey]) -> dict[str, str]:
    """`current` overrides after IncrementalAlterConfigs' `ops`, as Kafka's controller applies them
    (ConfigurationControlManager): APPEND/SUBTRACT work on the current value, else the default, and
    only on LIST configs. Values are checked by the caller afterwards."""
    seen = set()
    for o in ops:
        if o.name in seen:
            raise InvalidRequest("Error due to duplicate config keys")
        seen.add(o.name)
        if o.op not in OPERATIONS:
            raise InvalidRequest(f"Unknown operations type {o.op}")
    nulls = [o.name for o in ops if o.op != DELETE and o.value is None]
    if nulls:
        raise InvalidRequest("Null value not supported for : " + ", ".join(nulls))
    out = dict(current)
    for o in ops:
        if o.op == SET:
            out[o.name] = o.value  # type: ignore[assignment]
        elif o.op == DELETE:
            out.pop(o.name, None)
        else:
            key = keys.get(o.name)
            if key is None or key.type != ConfigType.LIST:
                raise InvalidConfig(f"Can't {OPERATIONS[o.op]} to key {o.name} because its type is not LIST.")
            old = out.get(o.name, key.default_text)
            parts = [p for p in (old or "").split(",") if p]
            for item in (o.value or "").split(","):
                if o.op == APPEND and item not in parts:
                    parts.append(item)
                elif o.op == SUBTRACT and item in parts:
                    parts.remove(item)
            out[o.name] = ",".join(parts)
    return out


# --- Resolution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerLevels:
    """The broker config values one node sees, by level, most specific first."""

    node_id: int
    node: Mapping[str, str]
    default: Mapping[str, str]
    static: Mapping[str, str]

    def set_at(self, name: str) -> list[ConfigSynonym]:
        """The levels that set broker config `name`, most specific first, then Kafka's default."""
        out = [ConfigSynonym(name, level[name], source) for level, source in (
            (self.node, ConfigSource.DYNAMIC_BROKER_CONFIG),
            (self.default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static, ConfigSource.STATIC_BROKER_CONFIG),
        ) if name in level]
        key = BROKER_LOG_KEYS.get(name)
        if key is not None and key.default is not None:
            out.append(ConfigSynonym(name, key.default_text, ConfigSource.DEFAULT_CONFIG))
        return out


_levels_cache: dict[int, tuple[DynamicConfigs, BrokerLevels]] = {}


def broker_levels(node_id: int | None = None) -> BrokerLevels:
    """What `node_id` (default: this process's node) sees of the broker configs, now."""
    node_id = this_node_id() if node_id is None else node_id
    dynamic: DynamicConfigs = dynamic_broker_configs()
    static = static_broker_values()
    cached = _levels_cache.get(node_id)
    # The same object while the configs are unchanged, so callers may cache what they derive from it.
    if cached is None or cached[0] is not dynamic or cached[1].static != static:
        if len(_levels_cache) > 64:
            _levels_cache.clear()
        cached = _levels_cache[node_id] = (dynamic, BrokerLevels(node_id, dynamic.node(node_id), dynamic.default, static))
    return cached[1]


def _scaled(value: str, factor: int) -> str:
    return value if factor == 1 else str(int(value) * factor)


def _topic_entry(key: TopicConfigKey, overrides: Mapping[str, str], levels: BrokerLevels) -> ConfigEntry:
    synonyms: list[ConfigSynonym] = []
    if key.name in overrides:
        synonyms.append(ConfigSynonym(key.name, overrides[key.name], ConfigSource.DYNAMIC_TOPIC_CONFIG))
    inherited: tuple[str, ConfigSynonym] | None = None
    for name, factor in key.synonyms:
        for s in levels.set_at(name):
            synonyms.append(s)
            if inherited is None and s.value is not None:
                inherited = (_scaled(s.value, factor), s)
    if not key.synonyms and key.default is not None:
        default = ConfigSynonym(key.name, key.default_text, ConfigSource.DEFAULT_CONFIG)
        synonyms.append(default)
        inherited = (default.value, default)  # type: ignore[assignment]
    if key.name in overrides:
        shown, source = overrides[key.name], ConfigSource.DYNAMIC_TOPIC_CONFIG
    elif inherited is not None:
        shown, source = inherited[0], inherited[1].source
    else:
        shown, source = None, ConfigSource.DEFAULT_CONFIG
    return ConfigEntry(name=key.name, value=shown, source=source, read_only=False, sensitive=False,
                       synonyms=tuple(synonyms), type=key.type, doc=key.doc, effect=key.effect,
                       inherited=inherited[0] if inherited else None,
                       inherited_from=f"{inherited[1].name}={inherited[1].value}" if inherited else None)


def config_entries(overrides: Mapping[str, str], *, names: Collection[str] | None = None,
                   levels: BrokerLevels | None = None) -> list[ConfigEntry]:
    """A topic's configs (those in `names`, or all) in name order, as DescribeConfigs reports them
    to a client of node `levels.node_id` (default: this process's node)."""
    levels = levels or broker_levels()
    return [_topic_entry(k, overrides, levels) for name, k in TOPIC_KEYS.items() if names is None or name in names]


def configs_effective(overrides: Mapping[str, str], levels: BrokerLevels | None = None) -> dict[str, str]:
    """Every topic config's value as it applies to the topic, as strings (Kafka reports strings)."""
    return {e.name: e.value for e in config_entries(overrides, levels=levels)}  # type: ignore[misc]


def config_default(name: str, levels: BrokerLevels | None = None) -> str | None:
    """What topic config `name` is when a topic does not set it (its broker default, or Kafka's)."""
    (entry,) = config_entries({}, names={name}, levels=levels)
    return entry.value


# --- Broker configs ----------------------------------------------------------------------------


class StaticConfig(Protocol):
    name: str
    value: str
    type: str
    doc: str


def _broker_synonym_names(name: str) -> tuple[str, ...]:
    """DynamicBrokerConfig.brokerConfigSynonyms: the names that set the same thing, first wins."""
    for key in TOPIC_KEYS.values():
        names = tuple(n for n, _ in key.synonyms)
        if name in names and len(names) > 1:
            return names
    return (name,)


def broker_config_entries(statics: Iterable[StaticConfig], *, node_id: int | None,
                          names: Collection[str] | None = None) -> list[ConfigEntry]:
    """A broker's configs as DescribeConfigs reports them: `statics` (settings a process starts
    with: read-only STATIC_BROKER_CONFIGs), then every broker config topics default from, with
    the levels that set it. `node_id` None: the cluster-wide view (no node's own level), which
    Kafka's resource name "" narrows to the DYNAMIC_DEFAULT_BROKER_CONFIG entries."""
    levels = broker_levels(node_id)
    if node_id is None:
        levels = replace(levels, node={})
    out = []
    for c in statics:
        if c.name in BROKER_LOG_KEYS or (names is not None and c.name not in names):
            continue
        synonym = ConfigSynonym(c.name, c.value, ConfigSource.STATIC_BROKER_CONFIG)
        out.append(ConfigEntry(name=c.name, value=c.value, source=synonym.source, read_only=True, sensitive=False,
                               synonyms=(synonym,), type=ConfigType[c.type.upper()], doc=c.doc))
    for name in sorted(BROKER_LOG_KEYS):
        if names is not None and name not in names:
            continue
        key = BROKER_LOG_KEYS[name]
        own = levels.set_at(name)
        first = own[0] if own else None
        out.append(ConfigEntry(
            name=name, value=first.value if first else None,
            source=first.source if first else ConfigSource.DEFAULT_CONFIG,
            read_only=not key.dynamic, sensitive=False,
            synonyms=tuple(s for n in _broker_synonym_names(name) for s in levels.set_at(n)),
            type=key.type, doc=key.doc,
        ))
    return out


def broker_configs_check(values: Mapping[str, str], *, per_broker: bool, static: Collection[str] = ()) -> dict[str, str]:
    """A broker's (or the cluster default's) whole set of dynamic configs, checked as Kafka's
    DynamicBrokerConfig.validate does; their canonical strings. `static`: the names of the
    settings a process starts with (read-only, as Kafka's non-dynamic configs)."""
    fixed = [n for n in values if n in static and n not in BROKER_LOG_KEYS]
    if fixed:
        raise InvalidRequest("Cannot update these configs dynamically: Set(" + ", ".join(fixed) + ")")
    unknown = [n for n in values if n not in BROKER_LOG_KEYS]
    if unknown:
        raise InvalidConfig("Unknown broker config name: " + ", ".join(unknown) +
                            " (this broker's dynamic configs are the defaults of topic configs: "
                            + ", ".join(sorted(n for n, k in BROKER_LOG_KEYS.items() if k.dynamic)) + ")")
    fixed = [n for n in values if not BROKER_LOG_KEYS[n].dynamic]
    if fixed:
        raise InvalidRequest("Cannot update these configs dynamically: Set(" + ", ".join(fixed) + ")")
    return {n: _checked(BROKER_LOG_KEYS[n], v) for n, v in values.items()}


# --- What the log acts on ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogConfig:
    """A topic's effective configs, typed for the log's own use (the ones this broker applies)."""

    cleanup_delete: bool
    cleanup_compact: bool
    retention_ms: int
    retention_bytes: int
    delete_retention_ms: int
    min_compaction_lag_ms: int
    max_message_bytes: int
    log_append_time: bool
    min_insync_replicas: int
    # Kafka's LogValidator bounds on CreateTime timestamps (the deprecated difference.max.ms
    # stands in for either while it is left at its default).
    timestamp_before_max_ms: int
    timestamp_after_max_ms: int
    # compression.type: the codec batches are stored with ("producer": as they came).
    compression: str = "producer"

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, str], levels: BrokerLevels | None = None) -> "LogConfig":
        c = configs_effective(overrides, levels)
        policy = c["cleanup.policy"].split(",")
        difference = int(c["message.timestamp.difference.max.ms"])
        before, after = int(c["message.timestamp.before.max.ms"]), int(c["message.timestamp.after.max.ms"])
        unbounded = BROKER_LOG_KEYS["log.message.timestamp.before.max.ms"].default
        return cls(
            cleanup_delete="delete" in policy,
            cleanup_compact="compact" in policy,
            retention_ms=int(c["retention.ms"]),
            retention_bytes=int(c["retention.bytes"]),
            delete_retention_ms=int(c["delete.retention.ms"]),
            min_compaction_lag_ms=int(c["min.compaction.lag.ms"]),
            max_message_bytes=int(c["max.message.bytes"]),
            log_append_time=c["message.timestamp.type"] == "LogAppendTime",
            min_insync_replicas=int(c["min.insync.replicas"]),
            timestamp_before_max_ms=difference if before == unbounded else before,
            timestamp_after_max_ms=difference if after == unbounded else after,
            compression=c["compression.type"],
        )

    @property
    def timestamps_bounded(self) -> bool:
        unbounded = BROKER_LOG_KEYS["log.message.timestamp.before.max.ms"].default
        return not self.log_append_time and (self.timestamp_before_max_ms != unbounded
                                             or self.timestamp_after_max_ms != unbounded)
