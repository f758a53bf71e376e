"""The decorator that makes a legacy entity a kio entity: a frozen, slotted, keyword-only
dataclass with the class attributes kio's readers, writers and `registry.build_entity` read.

Every version defined here is older than Kafka's flexible versions, so requests use request
header v1 and responses response header v0.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from kio.schema.request_header.v1.header import RequestHeader
from kio.schema.response_header.v0.header import ResponseHeader
from kio.static.constants import EntityType
from kio.static.primitive import i16

T = TypeVar("T", bound=type)


def entity(api_key: int, version: int, kind: EntityType, *, side: EntityType | None = None) -> Callable[[T], T]:
    """Class decorator: `kind` is request, response or nested; a nested entity names its `side`
    (request or response) for its header. A nested entity shared by several versions carries the
    lowest (kio reads no version from nested entities)."""
    header = RequestHeader if (side or kind) is EntityType.request else ResponseHeader

    def make(cls: T) -> T:
        # Kafka's name, without the suffix that tells apart versions defined side by side here.
        cls.__name__ = cls.__qualname__ = re.sub(r"V\d+$", "", cls.__name__)
        cls.__type__ = kind
        cls.__version__ = i16(version)
        cls.__flexible__ = False
        cls.__api_key__ = i16(api_key)
        cls.__header_schema__ = header
        return dataclass(frozen=True, slots=True, kw_only=True)(cls)

    return make


def request(api_key: int, version: int) -> Callable[[T], T]:
    """A request payload of `api_key` at `version`."""
    return entity(api_key, version, EntityType.request)


def response(api_key: int, version: int) -> Callable[[T], T]:
    """A response payload of `api_key` at `version`."""
    return entity(api_key, version, EntityType.response)


def nested_request(api_key: int, version: int) -> Callable[[T], T]:
    """A struct inside a request of `api_key` (from `version` on)."""
    return entity(api_key, version, EntityType.nested, side=EntityType.request)


def nested_response(api_key: int, version: int) -> Callable[[T], T]:
    """A struct inside a response of `api_key` (from `version` on)."""
    return entity(api_key, version, EntityType.nested, side=EntityType.response)
