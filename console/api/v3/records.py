"""Records: produce one record, a stream of concatenated JSON records, or a batch whose entries
succeed or fail on their own (Confluent's delivery reports)."""

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime
from ninja import Schema, Status

from brokercore.errors import BrokerError
from brokercore.log.append import records_append
from brokercore.security.acl import Operation
from brokercore.topics import read as topics_read
from brokercore.types import AppendResult, RecordIn
from console.api import access, body_limit
from console.api.errors import (
    BAD_REQUEST,
    INVALID_PAYLOAD,
    PARTITION_NOT_FOUND,
    TOO_LARGE,
    TOPIC_NOT_FOUND,
    RestError,
    rest_error,
)
from console.api.v3.shared import INT32_MAX, cluster_check, name_check, route


class DataSize(Schema):
    type: str
    size: int


class ProduceReport(Schema):
    error_code: int
    cluster_id: str
    topic_name: str
    partition_id: int
    offset: int
    timestamp: str
    key: DataSize | None
    value: DataSize | None


class BatchSuccess(ProduceReport):
    id: str


class BatchFailure(Schema):
    id: str
    error_code: int
    message: str


class BatchOut(Schema):
    successes: list[BatchSuccess]
    failures: list[BatchFailure]


# The key and value part of a delivery report: each {"type", "size"}, or None when absent.
Sizes: TypeAlias = dict[str, dict[str, str | int] | None]

# OpenAPI descriptions of the produce bodies, which the views parse themselves (streams are
# concatenated JSON, not one document). Inline so they need no component references.
_DATA_SCHEMA = {
    "type": ["object", "null"],
    "properties": {
        "type": {"type": "string", "enum": ["BINARY", "JSON", "STRING"]},
        "data": {},
    },
}
_RECORD_PROPERTIES = {
    "partition_id": {"type": ["integer", "null"], "minimum": 0},
    "headers": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "value": {"type": ["string", "null"], "format": "byte"}},
        },
    },
    "key": _DATA_SCHEMA,
    "value": _DATA_SCHEMA,
    "timestamp": {"type": ["string", "null"], "format": "date-time"},
}
_PRODUCE_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "One record, or several records as concatenated JSON objects (streaming mode: one "
            "delivery report per record, in order, each with its own error_code)."
        ),
        "content": {"application/json": {"schema": {"type": "object", "properties": _RECORD_PROPERTIES}}},
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["entries"],
                    "properties": {
                        "entries": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}, **_RECORD_PROPERTIES},
                            },
                        }
                    },
                }
            }
        },
    }
}


def _invalid(message: str) -> RestError:
    return RestError(INVALID_PAYLOAD, message)


@dataclass(frozen=True)
class _TextType:
    """A data type whose data is a JSON string: what the string must be, and how it becomes bytes."""

    expected: str
    decode: Callable[[str], bytes]
    errors: tuple[type[Exception], ...]
    valid: str


_TEXT_TYPES = {
    "BINARY": _TextType("a base64 string", lambda text: base64.b64decode(text, validate=True), (binascii.Error, ValueError), "valid base64"),
    "STRING": _TextType("a string", lambda text: text.encode("utf-8"), (UnicodeEncodeError,), "valid Unicode text"),
}


def _data(field: str, obj: object) -> tuple[bytes | None, str | None]:
    """Serialize a record's key or value: (bytes, type), or (None, None) when there is none."""
    if obj is None:
        return None, None
    if not isinstance(obj, dict):
        raise _invalid(f"{field} must be an object {{\"type\": ..., \"data\": ...}} or null.")
    if "schema_id" in obj or "subject" in obj or "schema" in obj or "schema_version" in obj:
        raise _invalid(f"{field}: schemas are not supported (no Schema Registry); use BINARY, JSON or STRING.")
    # Without a type Confluent would consult the Schema Registry; there is none, and the data is
    # already JSON, so that is what gets written.
    kind = obj.get("type", "JSON")
    data = obj.get("data")
    text_type = _TEXT_TYPES.get(kind)
    if text_type is not None:
        if data is None:
            return None, kind
        if not isinstance(data, str):
            raise _invalid(f"{field}.data must be {text_type.expected} for type {kind}.")
        try:
            return text_type.decode(data), kind
        except text_type.errors:
            raise _invalid(f"{field}.data is not {text_type.valid}.") from None
    if kind == "JSON":
        if data is None and "data" not in obj:
            return None, kind
        try:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), kind
        except (UnicodeEncodeError, ValueError):
            raise _invalid(f"{field}.data cannot be written as JSON.") from None
    raise _invalid(f"{field}.type must be BINARY, JSON or STRING, got {kind!r}.")


def _timestamp(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _invalid("timestamp must be an ISO 8601 date-time.")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise _invalid(f"timestamp {value!r} is not an ISO 8601 date-time.")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = int(parsed.timestamp() * 1000)
    else:
        raise _invalid("timestamp must be an ISO 8601 date-time.")
    if not 0 <= ms < 253402300800000:  # before year 10000, so it can be reported back
        raise _invalid(f"timestamp {value!r} is out of range.")
    return ms


def _record(obj: object) -> tuple[RecordIn, Sizes]:
    """A produce request's record, and the key/value part of its delivery report."""
    if not isinstance(obj, dict):
        raise _invalid("Each record must be a JSON object.")
    partition = obj.get("partition_id")
    if partition is not None and (isinstance(partition, bool) or not isinstance(partition, int)):
        raise _invalid("partition_id must be an integer.")
    if partition is not None and not 0 <= partition <= INT32_MAX:
        raise RestError(PARTITION_NOT_FOUND, f"Partition {partition} does not exist.")
    headers = []
    raw_headers = obj.get("headers") or []
    if not isinstance(raw_headers, list):
        raise _invalid("headers must be a list of {\"name\", \"value\"} objects.")
    for h in raw_headers:
        if not isinstance(h, dict) or not isinstance(h.get("name"), str):
            raise _invalid("Each header needs a string name.")
        value = h.get("value")
        if value is not None:
            if not isinstance(value, str):
                raise _invalid(f"Header {h['name']!r}: value must be base64 or null.")
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"Header {h['name']!r}: value is not valid base64.") from None
        headers.append((h["name"], value))
    key, key_type = _data("key", obj.get("key"))
    value, value_type = _data("value", obj.get("value"))
    record = RecordIn(key=key, value=value, headers=tuple(headers), timestamp=_timestamp(obj.get("timestamp")), partition=partition)
    sizes = {
        "key": None if key_type is None else {"type": key_type, "size": len(key or b"")},
        "value": None if value_type is None else {"type": value_type, "size": len(value or b"")},
    }
    return record, sizes


def _produce_target(request: HttpRequest, cluster_id: str, topic_name: str) -> tuple[str, str, str]:
    """(cluster id, topic name, body text) of a produce request, checked in the order the proxy
    always has: the cluster, the body (size, UTF-8), WRITE on the topic (40301), then the topic (40401), of which the produce
    paths need no more than its name."""
    cid = cluster_check(cluster_id)
    text = _body_text(request)
    name_check(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    access.require_topic(request, Operation.WRITE, topic_name)  # Kafka's Produce
    return cid, topics_read.topic_get(name=topic_name).name, text


def _produce_many(cid: str, topic: str, items: list[object]) -> list[dict | RestError]:
    """One delivery report (or RestError) per item, in order. The records that parse go in one
    append; only if the broker refuses that batch is each record appended on its own, so every
    record still succeeds or fails by itself, as Confluent's per-record reports promise."""
    parsed = []
    for item in items:
        try:
            parsed.append(item if isinstance(item, RestError) else _record(item))
        except RestError as e:
            parsed.append(e)
    good = [p for p in parsed if not isinstance(p, RestError)]
    try:
        results = iter(records_append(topic=topic, records=[r for r, _ in good])) if good else iter(())
    except BrokerError:
        results = None
    reports = []
    for p in parsed:
        if isinstance(p, RestError):
            reports.append(p)
        elif results is not None:
            reports.append(_report(cid, topic, next(results), p[1]))
        else:
            try:
                reports.append(_report(cid, topic, records_append(topic=topic, records=[p[0]])[0], p[1]))
            except BrokerError as e:
                reports.append(rest_error(e, not_found=PARTITION_NOT_FOUND))
    return reports


def _report(cid: str, topic: str, result: AppendResult, sizes: Sizes) -> dict:
    when = datetime.fromtimestamp(result.timestamp / 1000, tz=UTC)
    return {
        "error_code": 200,
        "cluster_id": cid,
        "topic_name": topic,
        "partition_id": result.partition,
        "offset": result.offset,
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **sizes,
    }


def _concatenated_json(text: str) -> list[object]:
    """Concatenated JSON (Confluent's streaming produce): objects one after another, any space
    between. A malformed object ends the stream there; it is reported as the last item."""
    decoder = json.JSONDecoder()
    items: list[object] = []
    pos, end = 0, len(text)
    limit = settings.REST["MAX_RECORDS_PER_REQUEST"]
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return items
        if len(items) >= limit:
            raise RestError(TOO_LARGE, f"A request may carry at most {limit} records.")
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            items.append(RestError(BAD_REQUEST, f"Record {len(items) + 1} is not valid JSON: {e.msg}."))
            return items
        items.append(obj)


def _body_text(request: HttpRequest) -> str:
    body_limit(request)
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise RestError(BAD_REQUEST, "The request body is not UTF-8 JSON.") from None


def _stream_error(e: RestError) -> dict:
    # In a stream each report's error_code is an HTTP status, as in Confluent's delivery reports.
    status = e.status
    return {"error_code": 400 if status == 422 else status, "message": e.message}


@route(
    "POST", "/clusters/{cluster_id}/topics/{topic_name}/records", ProduceReport,
    summary="Produce records (one, or a stream of concatenated JSON records)",
    errors=(400, 413, 422), openapi_extra=_PRODUCE_BODY,
)
def records_produce(request: HttpRequest, cluster_id: str, topic_name: str) -> dict | HttpResponse:
    cid, topic, text = _produce_target(request, cluster_id, topic_name)
    items = _concatenated_json(text)
    if not items:
        raise RestError(BAD_REQUEST, "The request body holds no record.")
    reports = _produce_many(cid, topic, items)
    if len(reports) == 1:
        if isinstance(reports[0], RestError):
            raise reports[0]
        return reports[0]
    body = "".join(
        json.dumps(_stream_error(r) if isinstance(r, RestError) else r, separators=(",", ":")) for r in reports
    )
    return HttpResponse(body, content_type="application/json")


@route(
    "POST", "/clusters/{cluster_id}/topics/{topic_name}/records:batch", {207: BatchOut},
    summary="Produce a batch of records; each entry succeeds or fails on its own",
    errors=(400, 413, 422), openapi_extra=_BATCH_BODY,
)
def records_produce_batch(request: HttpRequest, cluster_id: str, topic_name: str) -> Status:
    cid, topic, text = _produce_target(request, cluster_id, topic_name)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as e:
        raise RestError(BAD_REQUEST, f"The request body is not valid JSON: {e.msg}.") from None
    entries = payload.get("entries") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _invalid("The body must be {\"entries\": [{\"id\": ..., ...record}, ...]} with at least one entry.")
    limit = settings.REST["MAX_RECORDS_PER_REQUEST"]
    if len(entries) > limit:
        raise RestError(TOO_LARGE, f"A request may carry at most {limit} records.")
    ids = [e.get("id") if isinstance(e, dict) else None for e in entries]
    if any(not isinstance(i, str) or not i for i in ids):
        raise _invalid("Every entry needs a non-empty string id.")
    if len(set(ids)) != len(ids):
        raise _invalid("Entry ids must be unique within the batch.")
    successes, failures = [], []
    for entry_id, report in zip(ids, _produce_many(cid, topic, entries), strict=True):
        if isinstance(report, RestError):
            failures.append({"id": entry_id, **_stream_error(report)})
        else:
            successes.append({"id": entry_id, **report})
    return Status(207, {"successes": successes, "failures": failures})
