"""Message specs written as Kafka writes them, and the kio entities they build.

A message is a list of `F`ields in wire order, as in Kafka's
clients/src/main/resources/common/message/*.json: each field names the versions it exists in
("0+", "1", "0-2"), the versions it may be null in, its default, and for a struct its own fields.
`message` builds one kio entity per version: a frozen, slotted, keyword-only dataclass whose fields
carry `kafka_type` metadata, with the class attributes kio's readers, writers and
`registry.build_entity` read. So a version differs from the one before by the ranges of the fields
it adds or drops, never by a copy.

A nested struct that is the same in several versions is one class, which carries the lowest of
them (kio reads no version from nested entities). Every version defined here is older than Kafka's
flexible versions, so requests use request header v1 and responses response header v0.
"""

import datetime
from collections.abc import Sequence
from dataclasses import MISSING, make_dataclass
from dataclasses import field as dataclass_field
from typing import Any, NamedTuple

from kio.schema.errors import ErrorCode
from kio.schema.request_header.v1.header import RequestHeader
from kio.schema.response_header.v0.header import ResponseHeader
from kio.schema.types import BrokerId, GroupId, TopicName
from kio.static.constants import EntityType
from kio.static.primitive import Records, TZAware, i8, i16, i32, i32Timedelta, i64

# kio's name of each primitive (its `kafka_type`) -> the Python type of a field of it.
PRIMITIVES: dict[str, type] = {
    "int8": i8,
    "int16": i16,
    "int32": i32,
    "int64": i64,
    "bool": bool,
    "string": str,
    "records": Records,
    "error_code": ErrorCode,
    "timedelta_i32": i32Timedelta,
    "datetime_i64": TZAware,
}

# Kafka's "entityType" -> kio's narrower type for a field of it.
ENTITY_TYPES: dict[str, type] = {"topicName": TopicName, "groupId": GroupId, "brokerId": BrokerId}


class F(NamedTuple):
    """One field of a message spec. `type` is kio's primitive name (`int32`, `string`,
    `timedelta_i32`, `error_code` ...), `[]int32` an array of one, or a struct's name (`[]Name`
    for an array of them) whose `fields` follow. `versions` and `nullable` are Kafka's ranges;
    `default` is Kafka's default (milliseconds for a timedelta, -1 for no timestamp); `entity`
    is Kafka's entityType."""

    name: str
    type: str
    versions: str = "0+"
    nullable: str = "none"
    default: object = MISSING
    entity: str | None = None
    fields: Sequence["F"] = ()


def in_range(spec: str, version: int) -> bool:
    """Whether `version` is in Kafka's version range `spec`: "none", "3", "1-2" or "2+"."""
    if spec == "none":
        return False
    if spec.endswith("+"):
        return version >= int(spec[:-1])
    low, _, high = spec.partition("-")
    return int(low) <= version <= int(high or low)


def _default(kafka_type: str, python_type: type, value: object) -> object:
    """Kafka's default for a field as kio holds it."""
    if value is MISSING or value is None:
        return value
    if kafka_type == "timedelta_i32":
        return i32Timedelta.parse(datetime.timedelta(milliseconds=int(value)))
    if kafka_type == "datetime_i64" and value == -1:
        return None  # kio reads and writes Kafka's "no timestamp" (-1) as None
    return python_type(value)


class _Builder:
    """Builds the entities of one side (request or response) of one API, sharing nested ones."""

    def __init__(self, api_key: int, side: EntityType) -> None:
        self.api_key = api_key
        self.side = side
        self.nested: dict[tuple[object, ...], type] = {}

    def entity(self, name: str, fields: Sequence[F], version: int, kind: EntityType) -> type:
        specs = [self.field(f, version) for f in fields if in_range(f.versions, version)]
        key = (name, tuple((n, t, d.metadata.get("kafka_type"), d.default) for n, t, d in specs))
        if kind is EntityType.nested and key in self.nested:
            return self.nested[key]
        namespace = {
            "__type__": kind,
            "__version__": i16(version),
            "__flexible__": False,
            "__api_key__": i16(self.api_key),
            "__header_schema__": RequestHeader if self.side is EntityType.request else ResponseHeader,
        }
        cls = make_dataclass(name, specs, namespace=namespace, frozen=True, slots=True, kw_only=True)
        cls.__module__ = __package__  # the loaders' package: where these classes are found
        if kind is EntityType.nested:
            self.nested[key] = cls
        return cls

    def field(self, f: F, version: int) -> tuple[str, Any, Any]:
        array = f.type.startswith("[]")
        item = f.type.removeprefix("[]")
        nullable = in_range(f.nullable, version)
        if f.fields:
            struct: Any = self.entity(item, f.fields, version, EntityType.nested)
            python_type = tuple[struct, ...] if array else struct
            return f.name, python_type | None if nullable else python_type, dataclass_field()
        scalar = ENTITY_TYPES[f.entity] if f.entity else PRIMITIVES[item]
        default = _default(item, scalar, f.default)
        if array and default is MISSING:
            default = ()  # as kio's generator gives every array of primitives
        python_type = tuple[scalar, ...] if array else scalar
        if nullable or (default is None and not array):
            python_type = python_type | None
        return f.name, python_type, dataclass_field(metadata={"kafka_type": item}, default=default)


def message(api_key: int, name: str, valid_versions: str, *, request: Sequence[F],
            response: Sequence[F]) -> dict[tuple[int, int], tuple[type, type]]:
    """(api_key, version) -> (request entity, response entity) of every version in
    `valid_versions` ("0-2") of API `name` (kio's class names: `<name>Request`, `<name>Response`)."""
    low, _, high = valid_versions.partition("-")
    requests = _Builder(api_key, EntityType.request)
    responses = _Builder(api_key, EntityType.response)
    return {
        (api_key, v): (
            requests.entity(f"{name}Request", request, v, EntityType.request),
            responses.entity(f"{name}Response", response, v, EntityType.response),
        )
        for v in range(int(low), int(high or low) + 1)
    }
