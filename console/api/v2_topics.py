"""Confluent REST Proxy v2: topics, partitions, brokers and produce.

Produce is the hot path (many small requests of ~100 records), so its body is parsed once with
json.loads and turned straight into RecordIn values; a pydantic model would validate every record
a second time. Its request body is described to OpenAPI by hand instead.
"""

import binascii
import json
from types import GenericAlias
from typing import NoReturn

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from brokercore.cluster.read import brokers_live_ids
from brokercore.errors import BrokerError, InvalidTopic, UnknownTopicOrPartition
from brokercore.log.append import records_append
from brokercore.models import Partition
from brokercore.security.acl import Operation
from brokercore.topics import read as topics_read
from brokercore.topics.read import partition_describe, topic_describe, topic_names_list
from brokercore.topics.rules import topic_name_validate
from brokercore.types import RecordIn, TopicInfo
from console.api import access, api, body_limit, negotiation
from console.api.errors import INVALID_PAYLOAD, PARTITION_NOT_FOUND, TOO_LARGE, TOPIC_NOT_FOUND, RestError, rest_error

router = Router()

# Partition indexes are Kafka int32s; a larger one cannot exist and would overflow the column.
_INT32_MAX = 2**31 - 1


class RestErrorBody(Schema):
    error_code: int
    message: str


class Replica(Schema):
    broker: int
    leader: bool
    in_sync: bool


class V2PartitionOut(Schema):
    partition: int
    leader: int
    replicas: list[Replica]


class V2TopicOut(Schema):
    name: str
    configs: dict[str, str]
    partitions: list[V2PartitionOut]


class PartitionOffsets(Schema):
    beginning_offset: int
    end_offset: int


class V2BrokersOut(Schema):
    brokers: list[int]


class ProduceOffset(Schema):
    partition: int
    offset: int
    error_code: int | None = None
    error: str | None = None


class ProduceResponse(Schema):
    key_schema_id: int | None = None
    value_schema_id: int | None = None
    offsets: list[ProduceOffset]


# --- OpenAPI ------------------------------------------------------------------------------------

_READ_ERRORS = (401, 404, 406, 422)
# 403: a session caller without its CSRF token; 500: the topic kept changing under the append
# (retriable, 50003) or an unexpected failure.
_PRODUCE_ERRORS = (400, 401, 403, 404, 406, 413, 415, 422, 500)


def _schema_ref(model: type | GenericAlias) -> dict:
    if getattr(model, "__origin__", None) is list:
        return {"type": "array", "items": _schema_ref(model.__args__[0])}
    if model is str:
        return {"type": "string"}
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _responses(ok: type | GenericAlias, errors: tuple[int, ...]) -> tuple[dict, dict]:
    """ninja's response map, and openapi_extra that also lists the v2 vendor type, which is what
    these endpoints answer unless the client prefers application/json."""
    response = {200: ok, **{status: RestErrorBody for status in errors}}
    extra = {
        "responses": {
            status: {"content": {negotiation.V2: {"schema": _schema_ref(model)}}} for status, model in response.items()
        }
    }
    return response, extra


def _produce_body(with_partition: bool) -> dict:
    def record(value_schema: dict, description: str) -> dict:
        properties = {"key": value_schema, "value": value_schema}
        if with_partition:
            properties["partition"] = {
                "type": ["integer", "null"],
                "description": "Partition to write to; default: by the key's murmur2 hash, else round-robin.",
            }
        return {
            "type": "object",
            "description": description,
            "properties": {
                "records": {"type": "array", "items": {"type": "object", "properties": properties}, "minItems": 1},
                "key_schema": {"type": ["string", "null"], "description": "Ignored (no schema registry)."},
                "value_schema": {"type": ["string", "null"], "description": "Ignored (no schema registry)."},
                "key_schema_id": {"type": ["integer", "null"], "description": "Ignored (no schema registry)."},
                "value_schema_id": {"type": ["integer", "null"], "description": "Ignored (no schema registry)."},
            },
            "required": ["records"],
        }

    as_json = record({}, "Keys and values are any JSON; each is stored as its compact UTF-8 JSON text.")
    as_binary = record(
        {"type": ["string", "null"], "contentEncoding": "base64"}, "Keys and values are base64-encoded bytes."
    )
    return {
        "requestBody": {
            "required": True,
            "content": {negotiation.V2_JSON: {"schema": as_json}, negotiation.JSON: {"schema": as_json},
                        negotiation.V2_BINARY: {"schema": as_binary}},
        }
    }


# --- Lookups --------------------------------------------------------------------------------------


def _accept(request: HttpRequest) -> None:
    """Settle the response type first, so a request we cannot answer changes nothing."""
    request.rest_media_type = negotiation.negotiate(request, [negotiation.V2, negotiation.JSON])


def _topic_checked(request: HttpRequest, topic: str, operation: Operation = Operation.DESCRIBE) -> None:
    """A legal name, then `operation` on it (Kafka checks before it looks the topic up, so a
    refusal says nothing about whether it exists)."""
    # A name Kafka would never allow cannot exist; refusing it here also keeps odd bytes (NUL)
    # away from the database.
    try:
        topic_name_validate(topic)
    except InvalidTopic:
        raise RestError(TOPIC_NOT_FOUND, f"Topic '{topic}' not found.") from None
    access.require_topic(request, operation, topic)


def _not_found(e: UnknownTopicOrPartition, topic: str) -> RestError:
    """40401 or 40402: the broker's one error code covers both."""
    try:
        topics_read.topic_get(name=topic)
    except UnknownTopicOrPartition:
        return rest_error(e, not_found=TOPIC_NOT_FOUND)
    return rest_error(e, not_found=PARTITION_NOT_FOUND)


def _partition_get(request: HttpRequest, topic: str, partition: int) -> Partition:
    _topic_checked(request, topic)
    try:
        if not 0 <= partition <= _INT32_MAX:
            raise UnknownTopicOrPartition(f"Partition {partition} of topic '{topic}' does not exist.")
        return topics_read.partition_get(topic=topic, partition=partition)
    except UnknownTopicOrPartition as e:
        raise _not_found(e, topic) from None


def _partition_out(index: int, replicas: tuple[int, ...]) -> dict:
    # The database holds every record, so every replica is in sync by construction.
    return {
        "partition": index,
        "leader": replicas[0],
        "replicas": [{"broker": b, "leader": i == 0, "in_sync": True} for i, b in enumerate(replicas)],
    }


def _topic_describe(request: HttpRequest, topic: str) -> TopicInfo:
    _topic_checked(request, topic)
    try:
        return topic_describe(name=topic)
    except UnknownTopicOrPartition as e:
        raise rest_error(e, not_found=TOPIC_NOT_FOUND) from None


# --- Metadata endpoints ---------------------------------------------------------------------------

_resp, _extra = _responses(list[str], _READ_ERRORS)


@router.get("/topics", response=_resp, openapi_extra=_extra, summary="List topic names")
def topics_list(request: HttpRequest) -> list[str]:
    _accept(request)
    return access.visible_topics(request, topic_names_list())


_resp, _extra = _responses(V2TopicOut, _READ_ERRORS)


@router.get("/topics/{topic}", response=_resp, openapi_extra=_extra, summary="Describe a topic")
def topic_get(request: HttpRequest, topic: str) -> dict:
    """The topic's effective configs (defaults included) and its partitions."""
    _accept(request)
    info = _topic_describe(request, topic)
    return {
        "name": info.name,
        "configs": info.configs,
        "partitions": [_partition_out(p.index, p.replicas) for p in info.partitions],
    }


_resp, _extra = _responses(list[V2PartitionOut], _READ_ERRORS)


@router.get("/topics/{topic}/partitions", response=_resp, openapi_extra=_extra, summary="List a topic's partitions")
def partitions_list(request: HttpRequest, topic: str) -> list[dict]:
    _accept(request)
    return [_partition_out(p.index, p.replicas) for p in _topic_describe(request, topic).partitions]


_resp, _extra = _responses(V2PartitionOut, _READ_ERRORS)


@router.get("/topics/{topic}/partitions/{partition}", response=_resp, openapi_extra=_extra, summary="Describe a partition")
def partition_get(request: HttpRequest, topic: str, partition: int) -> dict:
    _accept(request)
    info = partition_describe(_partition_get(request, topic, partition))
    return _partition_out(info.index, info.replicas)


_resp, _extra = _responses(PartitionOffsets, _READ_ERRORS)


@router.get(
    "/topics/{topic}/partitions/{partition}/offsets",
    response=_resp,
    openapi_extra=_extra,
    summary="A partition's first and next offsets",
)
def partition_offsets(request: HttpRequest, topic: str, partition: int) -> dict:
    """beginning_offset: the log start offset; end_offset: the high watermark (the next offset)."""
    _accept(request)
    p = _partition_get(request, topic, partition)
    return {"beginning_offset": p.log_start_offset, "end_offset": p.high_watermark}


_resp, _extra = _responses(V2BrokersOut, _READ_ERRORS)


@router.get("/brokers", response=_resp, openapi_extra=_extra, summary="List live broker ids")
def brokers_list(request: HttpRequest) -> dict:
    _accept(request)
    return {"brokers": brokers_live_ids()}


# --- Produce --------------------------------------------------------------------------------------


def _invalid(message: str) -> RestError:
    return RestError(INVALID_PAYLOAD, message)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _body_parse(request: HttpRequest) -> list:
    """The request's records list, checked for shape and count; the body is read only here."""
    body_limit(request)
    try:
        body = json.loads(request.body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise RestError(400, f"The request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise _invalid('The request body must be a JSON object: {"records": [{"key": ..., "value": ...}, ...]}.')
    records = body.get("records")
    if not isinstance(records, list) or not records:
        raise _invalid("'records' must be a non-empty list of records.")
    limit = settings.REST["MAX_RECORDS_PER_REQUEST"]
    if len(records) > limit:
        raise RestError(TOO_LARGE, f"A produce request may carry at most {limit} records, got {len(records)}.")
    return records


# Jackson's (Confluent's) compact form; one encoder, since json.dumps builds one per call otherwise.
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_bytes(value: object) -> bytes | None:
    if value is None:
        return None
    try:
        return _compact(value).encode()
    except (UnicodeEncodeError, RecursionError, ValueError):
        raise ValueError("cannot be encoded as UTF-8 JSON") from None


def _base64_bytes(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a base64 string or null in the binary format")
    try:
        # b64decode(validate=True) refuses exactly what strict mode refuses (anything outside the
        # alphabet, data after padding) but costs a regex and two calls more, per key and value.
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:  # binascii.Error too; a non-ASCII str is a plain ValueError
        raise ValueError("is not valid base64") from None


_DECODERS = {"json": _json_bytes, "binary": _base64_bytes}


def _records_in(records: list, fmt: str, *, per_record_partition: bool) -> list[RecordIn]:
    # The hot loop of produce: messages are only formatted once something is wrong.
    decode = _DECODERS[fmt]
    out = []
    append = out.append
    for i, r in enumerate(records):
        if type(r) is not dict:
            raise _invalid(f"records[{i}] must be an object with 'key' and 'value'.")
        partition = r.get("partition") if per_record_partition else None
        if partition is not None and type(partition) is not int:
            raise _invalid(f"records[{i}].partition must be an integer or null.")
        field = "key"
        try:
            key = decode(r.get("key"))
            field = "value"
            append(RecordIn(key, decode(r.get("value")), (), None, partition))
        except ValueError as e:
            raise _invalid(f"records[{i}].{field} {e}.") from None
    return out


def _produce(request: HttpRequest, topic: str, partition: int | None) -> HttpResponse:
    _accept(request)
    fmt = negotiation.v2_produce_format(request)
    _topic_checked(request, topic, Operation.WRITE)
    records = _records_in(_body_parse(request), fmt, per_record_partition=partition is None)
    try:
        # records_append checks every record before writing any: a bad one leaves the log as it was.
        results = records_append(topic=topic, records=records, partition=partition)
    except UnknownTopicOrPartition as e:
        raise _not_found(e, topic) from None
    except BrokerError as e:
        raise rest_error(e) from None
    body = {
        "key_schema_id": None,
        "value_schema_id": None,
        "offsets": [{"partition": r.partition, "offset": r.offset, "error_code": None, "error": None} for r in results],
    }
    # Built to ProduceResponse's shape already; a response object skips ninja validating it again
    # (a fifth of a 100-record request's time).
    return api.create_response(request, body, status=200)


_resp, _extra = _responses(ProduceResponse, _PRODUCE_ERRORS)


@router.post(
    "/topics/{topic}",
    response=_resp,
    openapi_extra={**_extra, **_produce_body(with_partition=True)},
    summary="Produce records to a topic",
)
def topic_produce(request: HttpRequest, topic: str) -> HttpResponse:
    """All or nothing: if any record is refused, none is written. Content-Type picks the embedded
    format (application/vnd.kafka.json.v2+json or application/json: JSON; .binary.: base64)."""
    return _produce(request, topic, None)


@router.post(
    "/topics/{topic}/partitions/{partition}",
    response=_resp,
    openapi_extra={**_extra, **_produce_body(with_partition=False)},
    summary="Produce records to one partition",
)
def partition_produce(request: HttpRequest, topic: str, partition: int) -> HttpResponse:
    """As producing to the topic, with every record written to `partition`."""
    return _produce(request, topic, partition)
