"""Kafka's wire framing and message headers, on kio's generated schemas.

A frame is a 4-byte big-endian length and that many bytes. A request frame starts with the
request header (v1, or v2 for the API's flexible versions: the same fields plus tagged fields);
a response frame with the response header (v0, or v1 for flexible versions, except ApiVersions,
which always answers with v0 so that a client of any version can read it). kio's schemas carry
the header each payload version uses (`__header_schema__`), so these rules are Kafka's, not ours.
"""

import io
import struct
from dataclasses import dataclass

from kio.index import KioIndexError, load_request_schema
from kio.schema.request_header.v1.header import RequestHeader as RequestHeaderV1
from kio.serial import entity_reader, entity_writer
from kio.static.protocol import RequestPayload, ResponsePayload

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


def frame_length(prefix: bytes, *, max_bytes: int) -> int:
    """The size of the frame announced by its 4-byte prefix; refuses sizes outside 8..max_bytes."""
    (size,) = _LENGTH.unpack(prefix)
    if size < _HEADER_START.size:
        raise ProtocolError(f"frame of {size} bytes is shorter than a request header")
    if size > max_bytes:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {max_bytes} (socket.request.max.bytes)")
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
    api_key, api_version, _ = _HEADER_START.unpack_from(frame)
    try:
        schema = load_request_schema(api_key, api_version)
    except KioIndexError:
        raise ProtocolError(f"unknown API key {api_key} version {api_version}") from None
    try:
        header, used = entity_reader(schema.__header_schema__)(frame, 0)
        payload, _ = entity_reader(schema)(frame, used)
    except Exception as e:  # kio raises several types for truncated or invalid buffers
        raise ProtocolError(f"malformed {schema.__name__} v{api_version}: {e}") from None
    return RequestHeader(api_key, api_version, header.correlation_id, header.client_id), payload


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
    from kio.index import load_response_schema

    schema = load_response_schema(api_key, api_version)
    header, used = entity_reader(schema.__header_schema__)(frame, 0)
    payload, _ = entity_reader(schema)(frame, used)
    return header.correlation_id, payload
