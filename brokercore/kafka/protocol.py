"""Kafka's wire framing and message headers, on kio's generated schemas.

A frame is a 4-byte big-endian length and that many bytes. A request frame starts with the
request header (v1, or v2 for the API's flexible versions: the same fields plus tagged fields);
a response frame with the response header (v0, or v1 for flexible versions, except ApiVersions,
which always answers with v0 so that a client of any version can read it). kio's schemas carry
the header each payload version uses (`__header_schema__`), so these rules are Kafka's, not ours.
"""

import functools
import io
import struct
from dataclasses import dataclass, fields

from kio.schema.request_header.v1.header import RequestHeader as RequestHeaderV1
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
    get_field_tag,
    get_schema_field_type,
    is_optional,
)
from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.kafka.schemas_legacy import KioIndexError, load_request_schema, load_response_schema

API_VERSIONS = 18

_LENGTH = struct.Struct(">i")
_HEADER_START = struct.Struct(">hhi")  # api key, api version, correlation id


class ProtocolError(Exception):
    """The client broke the protocol; the connection is closed (as Kafka does)."""


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def frame_length(prefix: bytes, *, max_bytes: int, limit: str = "socket.request.max.bytes", header: bool = True) -> int:
    """The size of the frame announced by its 4-byte prefix; refuses sizes above max_bytes (the
    setting named `limit`) and, for a request (`header`), below 8. A bare SASL token may be
    shorter, even empty."""
    (size,) = _LENGTH.unpack(prefix)
    if size < (_HEADER_START.size if header else 0):
        raise ProtocolError(f"frame of {size} bytes is shorter than a request header")
    if size > max_bytes:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {max_bytes} ({limit})")
    return size


def header_peek(frame: bytes) -> RequestHeader:
    """The header fields every version shares (v1's layout), without knowing the API version.

    Enough to answer an ApiVersions request of a version we do not know, which Kafka requires.
    """
    try:
        header, _ = entity_reader(RequestHeaderV1)(frame, 0)
    except Exception as e:
        raise ProtocolError(f"malformed request header: {e}") from None
    return RequestHeader(header.request_api_key, header.request_api_version, header.correlation_id, header.client_id)


def request_decode(frame: bytes) -> tuple[RequestHeader, RequestPayload]:
    """Header and payload of a request whose API key and version kio knows."""
    if len(frame) < _HEADER_START.size:
        raise ProtocolError(f"frame of {len(frame)} bytes is shorter than a request header")
    api_key, api_version, _ = _HEADER_START.unpack_from(frame)
    try:
        schema = load_request_schema(api_key, api_version)
    except KioIndexError:
        raise ProtocolError(f"unknown API key {api_key} version {api_version}") from None
    try:
        # Before kio reads it: kio sizes an array's storage by the count the frame claims, and a
        # claim of billions aborts the whole process when that allocation fails.
        _sizes_check(schema, frame)
        header, used = entity_reader(schema.__header_schema__)(frame, 0)
        payload, _ = entity_reader(schema)(frame, used)
    except ProtocolError:
        raise
    except Exception as e:  # kio raises several types for truncated or invalid buffers
        raise ProtocolError(f"malformed {schema.__name__} v{api_version}: {e}") from None
    if missing := _null_array(payload):
        # Kafka's parser refuses this ("non-nullable field ... was serialized as null"); kio reads
        # it as None, which no handler expects.
        raise ProtocolError(f"malformed {schema.__name__} v{api_version}: non-nullable array {missing} is null")
    client_id = header.client_id
    if client_id and "\x00" in client_id:
        # Kafka takes any client id; it is only a label here, stored with producers and members,
        # and PostgreSQL cannot hold a NUL in text.
        client_id = client_id.replace("\x00", "\ufffd")
    return RequestHeader(api_key, api_version, header.correlation_id, client_id), payload


@functools.cache
def _array_plan(entity_type: type) -> tuple[tuple[str, bool, type | None], ...]:
    """(name, nullable, element or entity type to descend into) of the fields that can hold a
    null array, directly or inside nested entities; empty when the entity has none."""
    plan = []
    for f in fields(entity_type):
        cls = classify_field(f)
        if isinstance(cls, EntityTupleField):
            plan.append((f.name, is_optional(f), cls.type_ if _array_plan(cls.type_) else None))
        elif isinstance(cls, PrimitiveTupleField):
            plan.append((f.name, is_optional(f), None))
        elif isinstance(cls, EntityField) and _array_plan(cls.type_):
            plan.append((f.name, True, cls.type_))
    return tuple(plan)


def _null_array(entity: Entity) -> str | None:
    """The name of the first non-nullable array that kio read as null, else None."""
    for name, nullable, nested in _array_plan(type(entity)):
        value = getattr(entity, name)
        if value is None:
            if not nullable:
                return name
        elif nested is not None:
            for item in value if isinstance(value, tuple) else (value,):
                if found := _null_array(item):
                    return f"{name}.{found}"
    return None


# --- Array and string sizes, checked before kio allocates for them ---------------------------------

_FIXED, _STRING16, _BYTES32, _COMPACT, _ARRAY, _STRUCT, _NULLABLE_STRUCT, _TAGS = range(8)
_FIXED_SIZES = {
    "int8": 1, "uint8": 1, "bool": 1, "int16": 2, "uint16": 2, "error_code": 2, "int32": 4, "uint32": 4,
    "timedelta_i32": 4, "int64": 8, "uint64": 8, "float64": 8, "timedelta_i64": 8, "datetime_i64": 8, "uuid": 16,
}


def _primitive_op(kafka_type: str, flexible: bool) -> tuple:
    if kafka_type in _FIXED_SIZES:
        return (_FIXED, _FIXED_SIZES[kafka_type])
    if flexible:
        return (_COMPACT,)  # compact string, bytes or records: unsigned varint length + 1
    return (_STRING16,) if kafka_type == "string" else (_BYTES32,)


@functools.cache
def _size_plan(entity_type: type) -> tuple:
    """How an entity lies on the wire, as far as sizes go: the ops _sizes_walk follows."""
    flexible = entity_type.__flexible__
    plan, tags = [], {}
    for f in fields(entity_type):
        cls = classify_field(f)
        if isinstance(cls, (EntityField, EntityTupleField)):
            nested = _size_plan(cls.type_)
            # A struct of fixed-size fields only is one fixed size (arrays of it are skipped whole).
            op = nested[0] if len(nested) == 1 and nested[0][0] == _FIXED else (_STRUCT, nested)
            if isinstance(cls, EntityField) and is_optional(f) and get_field_tag(f) is None:
                op = (_NULLABLE_STRUCT, nested)
        elif entity_type.__name__ == "RequestHeader" and f.name == "client_id":
            op = (_STRING16,)  # Kafka keeps the header's client id a legacy string in every version
        else:
            op = _primitive_op(get_schema_field_type(f), flexible)
        if cls.is_array:
            op = (_ARRAY, flexible, op)
        if (tag := get_field_tag(f)) is not None:
            tags[tag] = op
        elif op[0] == _FIXED and plan and plan[-1][0] == _FIXED:
            plan[-1] = (_FIXED, plan[-1][1] + op[1])
        else:
            plan.append(op)
    if flexible:
        plan.append((_TAGS, tags))
    return tuple(plan)


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtocolError("the frame ends inside a varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ProtocolError("a varint longer than five bytes")


def _sizes_walk(op: tuple, buf: bytes, pos: int, end: int) -> int:
    """The position after the value `op` describes at `pos`; ProtocolError when a length or
    count claims more than the bytes left before `end`."""
    kind = op[0]
    if kind == _FIXED:
        pos += op[1]
    elif kind == _STRING16:
        pos += 2 + max(0, int.from_bytes(buf[pos : pos + 2], "big", signed=True))
    elif kind == _BYTES32:
        pos += 4 + max(0, int.from_bytes(buf[pos : pos + 4], "big", signed=True))
    elif kind == _COMPACT:
        n, pos = _uvarint(buf, pos)
        pos += max(0, n - 1)
    elif kind == _ARRAY:
        if op[1]:
            n, pos = _uvarint(buf, pos)
            n -= 1
        else:
            n = int.from_bytes(buf[pos : pos + 4], "big", signed=True)
            pos += 4
        if n > end - pos:  # every element takes at least one byte
            raise ProtocolError(f"an array of {n} elements in {end - pos} bytes")
        item = op[2]
        if item[0] == _FIXED:
            pos += n * item[1]
        else:
            for _ in range(n):
                pos = _sizes_walk(item, buf, pos, end)
    elif kind == _STRUCT:
        for field_op in op[1]:
            pos = _sizes_walk(field_op, buf, pos, end)
    elif kind == _NULLABLE_STRUCT:
        pos += 1
        if pos <= end and buf[pos - 1] != 0xFF:
            pos = _sizes_walk((_STRUCT, op[1]), buf, pos, end)
    else:  # _TAGS: count, then (tag, size, value) each
        count, pos = _uvarint(buf, pos)
        if count > end - pos:
            raise ProtocolError(f"{count} tagged fields in {end - pos} bytes")
        for _ in range(count):
            tag, pos = _uvarint(buf, pos)
            size, pos = _uvarint(buf, pos)
            if pos + size > end:
                break
            if (known := op[1].get(tag)) is not None:
                _sizes_walk(known, buf, pos, pos + size)
            pos += size
    if pos > end:
        raise ProtocolError(f"a field runs {pos - end} bytes past the end of its frame")
    return pos


def _sizes_check(schema: type, frame: bytes) -> None:
    end = len(frame)
    pos = _sizes_walk((_STRUCT, _size_plan(schema.__header_schema__)), frame, 0, end)
    _sizes_walk((_STRUCT, _size_plan(schema)), frame, pos, end)


def response_encode(correlation_id: int, response: ResponsePayload) -> bytes:
    """A whole response frame: length, the header this response version uses, the payload."""
    header_type = response.__header_schema__
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    entity_writer(header_type)(buf, header_type(correlation_id=correlation_id))
    entity_writer(type(response))(buf, response)
    data = buf.getbuffer()
    _LENGTH.pack_into(data, 0, len(data) - 4)
    del data
    return buf.getvalue()


def request_encode(header: RequestHeader, request: RequestPayload) -> bytes:
    """A whole request frame (tests and tools speak to the listener with it)."""
    header_type = request.__header_schema__
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    entity_writer(header_type)(
        buf,
        header_type(
            request_api_key=header.api_key,
            request_api_version=header.api_version,
            correlation_id=header.correlation_id,
            client_id=header.client_id,
        ),
    )
    entity_writer(type(request))(buf, request)
    data = buf.getbuffer()
    _LENGTH.pack_into(data, 0, len(data) - 4)
    del data
    return buf.getvalue()


def response_decode(frame: bytes, api_key: int, api_version: int) -> tuple[int, ResponsePayload]:
    """(correlation id, payload) of a response frame without its length prefix (tests, tools)."""
    schema = load_response_schema(api_key, api_version)
    header, used = entity_reader(schema.__header_schema__)(frame, 0)
    payload, _ = entity_reader(schema)(frame, used)
    return header.correlation_id, payload
