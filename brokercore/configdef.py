"""Kafka's ConfigDef: config types, validators and their messages, and the shape DescribeConfigs
reports a config in. Pure, so both the broker's configs (cluster/configs.py) and the topics'
(topics/configs.py) are tables of `ConfigKey`s checked by the same code.

Parsing follows `org.apache.kafka.common.config.ConfigDef.parseType` and the validators
(`Range`, `ValidString`, `ValidList`): a refused value raises `ConfigException` with Kafka's own
message ("Invalid value X for configuration Y: ..."), which callers turn into INVALID_CONFIG.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
SHORT_MAX = 2**15 - 1


class ConfigException(ValueError):
    """Kafka's ConfigException: why a value is refused, in Kafka's words."""

    def __init__(self, name: str, value: object, message: str | None = None) -> None:
        shown = _java_str(value)
        self.message = f"Invalid value {shown} for configuration {name}" + (f": {message}" if message else "")
        super().__init__(self.message)


def _java_str(value: object) -> str:
    """How Java's String.valueOf prints a parsed value inside a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


class ConfigType(IntEnum):
    """Kafka's ConfigDef.Type, numbered as DescribeConfigs (v3+) reports it."""

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


# A validator gets the config's name and parsed value and raises ConfigException.
Validator = Callable[[str, object], None]


def at_least(minimum: int | float) -> Validator:
    def check(name: str, value: object) -> None:
        if value is not None and value < minimum:  # type: ignore[operator]
            raise ConfigException(name, value, f"Value must be at least {minimum}")

    return check


def between(minimum: int | float, maximum: int | float) -> Validator:
    def check(name: str, value: object) -> None:
        if value is None:
            return
        if value < minimum:  # type: ignore[operator]
            raise ConfigException(name, value, f"Value must be at least {minimum}")
        if value > maximum:  # type: ignore[operator]
            raise ConfigException(name, value, f"Value must be no more than {maximum}")

    return check


def one_of(*choices: str) -> Validator:
    """ValidString.in (for a string) and ValidList.in (each item of a list)."""

    def check(name: str, value: object) -> None:
        for item in value if isinstance(value, list) else [value]:
            if item not in choices:
                raise ConfigException(name, item, "String must be one of: " + ", ".join(choices))

    check.choices = choices  # type: ignore[attr-defined]  (forms offer them)
    return check


def choices_of(key: "ConfigKey") -> tuple[str, ...] | None:
    """The values a one_of config accepts, for pickers; None for any other validator."""
    return getattr(key.validator, "choices", None)


_COMMA = re.compile(r"\s*,\s*")


@dataclass(frozen=True)
class ConfigKey:
    """One config of a ConfigDef: its type, Kafka's default (parsed; None: no default), what it
    accepts and its documentation."""

    name: str
    type: ConfigType
    default: object
    doc: str
    validator: Validator | None = None

    def parse(self, raw: object) -> object:
        """The value `raw` (a string, as every config travels) parsed and validated."""
        value = parse_type(self.name, raw, self.type)
        if self.validator is not None:
            self.validator(self.name, value)
        return value

    @property
    def default_text(self) -> str | None:
        return None if self.default is None else to_text(self.default, self.type)


def parse_type(name: str, raw: object, kind: ConfigType) -> object:
    """ConfigDef.parseType for a string value."""
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        if kind == ConfigType.BOOLEAN:
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            raise ConfigException(name, raw, "Expected value to be either true or false")
        if kind in (ConfigType.STRING, ConfigType.PASSWORD, ConfigType.CLASS):
            return text
        if kind in (ConfigType.INT, ConfigType.SHORT, ConfigType.LONG):
            number = _java_int(text)
            low, high = {ConfigType.INT: (INT_MIN, INT_MAX), ConfigType.SHORT: (-SHORT_MAX - 1, SHORT_MAX),
                         ConfigType.LONG: (LONG_MIN, LONG_MAX)}[kind]
            if not low <= number <= high:
                raise ValueError(text)
            return number
        if kind == ConfigType.DOUBLE:
            return float(text)
        if kind == ConfigType.LIST:
            return [] if text == "" else _COMMA.split(text)
    except ValueError as e:
        if isinstance(e, ConfigException):
            raise
        raise ConfigException(name, raw, f"Not a number of type {kind.name}") from None
    raise ConfigException(name, raw, f"Unsupported config type {kind.name}")


def _java_int(text: str) -> int:
    # Java's parseInt/parseLong: an optional sign and decimal digits only (no '_', no spaces).
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(text)
    return int(text)


def to_text(value: object, kind: ConfigType) -> str:
    """ConfigDef.convertToString: how a parsed value is reported."""
    if kind == ConfigType.BOOLEAN:
        return "true" if value else "false"
    if kind == ConfigType.LIST:
        return ",".join(str(v) for v in value) if isinstance(value, Sequence) and not isinstance(value, str) else str(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class ConfigSynonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One config as DescribeConfigs reports it; every adapter (Kafka listener, REST v3, the
    console) translates these, so they cannot disagree on source or default.

    `synonyms` give the value at each level that sets one, most specific first (Kafka's
    include_synonyms); the last is the default where Kafka has one. `effect` is None when this
    broker applies the config as Kafka does, else why it is only stored here.
    """

    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    sensitive: bool
    synonyms: tuple[ConfigSynonym, ...]
    type: ConfigType
    doc: str
    effect: str | None = None
    # What the value would be without its own level's setting (a topic's override, a broker's
    # dynamic value), and where that comes from ("log.retention.hours=168"): the console's
    # "default" for the field.
    inherited: str | None = None
    inherited_from: str | None = None

    @property
    def is_default(self) -> bool:
        """DescribeConfigs v0's is_default: the value is Kafka's default, nothing set it."""
        return self.source == ConfigSource.DEFAULT_CONFIG

    @property
    def default(self) -> str | None:
        """Kafka's default value (the DEFAULT_CONFIG synonym), or None when there is none."""
        return next((s.value for s in self.synonyms if s.source == ConfigSource.DEFAULT_CONFIG), None)

    @property
    def applied(self) -> bool:
        """Whether this broker acts on the value (else it is stored and reported only)."""
        return self.effect is None
