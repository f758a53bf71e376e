"""Confluent REST Proxy v2 consumers: instances, subscriptions, assignments, positions, records
and offsets, under /rest/consumers/. The semantics are in `console.api.rest_consumers`."""

import base64
import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import quote

from django.contrib.auth.models import AbstractUser
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from brokercore.errors import InvalidTopic
from brokercore.security.acl import Operation
from brokercore.topics.rules import LEGAL_NAME_PATTERN, MAX_NAME_LENGTH, topic_name_validate
from console.api import access, body_limit, negotiation
from console.api import rest_consumers as svc
from console.api.errors import INVALID_PAYLOAD, RECORD_NOT_IN_FORMAT, RestError
from console.models import RestConsumer

router = Router()


# Kafka's legal topic names; anything else cannot exist, and some (NUL, lone surrogates) could not
# even be stored by PostgreSQL.
TopicName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=LEGAL_NAME_PATTERN)]
_TOPIC_NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": LEGAL_NAME_PATTERN}


def _storable(value: str | None) -> str | None:
    """Free text that goes to the database: no NUL, valid UTF-8."""
    if value is not None:
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    return value


class ConsumerErrorOut(Schema):
    error_code: int
    message: str


class ConsumerCreateIn(Schema):
    name: str | None = None
    format: str | None = Field(None, description="binary (default) or json.")
    auto_offset_reset: str | None = Field(None, alias="auto.offset.reset", description="earliest, latest (default) or none.")
    auto_commit_enable: str | bool | None = Field(None, alias="auto.commit.enable", description='"true" (default) or "false".')
    fetch_min_bytes: int | str | None = Field(None, alias="fetch.min.bytes")
    consumer_request_timeout_ms: int | str | None = Field(None, alias="consumer.request.timeout.ms")


class ConsumerCreatedOut(Schema):
    instance_id: str
    base_uri: str


class SubscriptionIn(Schema):
    topics: list[TopicName] | None = None
    topic_pattern: str | None = Field(None, max_length=10_000)

    @field_validator("topic_pattern")
    @classmethod
    def pattern_storable(cls, value: str | None) -> str | None:
        return _storable(value)


class SubscriptionOut(Schema):
    topics: list[str]


class TopicPartition(Schema):
    topic: TopicName
    partition: int = Field(..., ge=0, le=2**31 - 1)


class PartitionsIn(Schema):
    partitions: list[TopicPartition]


class PartitionsOut(Schema):
    partitions: list[TopicPartition]


class PositionIn(TopicPartition):
    offset: int = Field(..., ge=0, le=2**63 - 1)


class PositionsIn(Schema):
    offsets: list[PositionIn]


class CommitOffsetIn(TopicPartition):
    offset: int = Field(..., ge=-1, le=2**63 - 2, description="The offset of the last record consumed; the group's committed offset becomes one more.")
    metadata: str | None = None

    @field_validator("metadata")
    @classmethod
    def metadata_storable(cls, value: str | None) -> str | None:
        return _storable(value)


class CommitIn(Schema):
    offsets: list[CommitOffsetIn] | None = None


class CommittedOffsetOut(Schema):
    topic: str
    partition: int
    offset: int
    metadata: str


class CommittedOffsetsOut(Schema):
    offsets: list[CommittedOffsetOut]


class ConsumerRecordOut(Schema):
    topic: str
    key: Any = Field(None, description="base64 (binary consumers) or the JSON value (json consumers); null when absent.")
    value: Any = Field(None, description="base64 (binary consumers) or the JSON value (json consumers); null when absent.")
    partition: int
    offset: int


def _errors(*codes: int) -> dict:
    # Any endpoint can refuse the caller (401, 403), a too-large body (413) or a malformed one (422).
    return {c: ConsumerErrorOut for c in sorted({400, 401, 403, 404, 413, 422, *codes})}


def _owner(request: HttpRequest) -> AbstractUser | None:
    """Whose instances the caller may use: the user's, whichever token or session they came
    with; an anonymous caller (REST["ALLOW_ANONYMOUS"]) only anonymous ones."""
    user = request.auth
    return user if getattr(user, "is_authenticated", False) else None


def _instance(request: HttpRequest, group: str, instance: str) -> RestConsumer:
    if "\x00" in group or "\x00" in instance:
        raise svc.not_found()  # no instance can have that name, and PostgreSQL cannot look it up
    return svc.instance_get(group_id=group, name=instance, owner=_owner(request))


def _tps(items: Iterable[TopicPartition]) -> list[tuple[str, int]]:
    return [(i.topic, i.partition) for i in items]


# What a Kafka consumer's requests need, checked as its Kafka API equivalents are:
# JoinGroup/Heartbeat and OffsetCommit READ on the group, OffsetFetch DESCRIBE on it; Fetch and
# OffsetCommit READ on each topic; Metadata, ListOffsets and OffsetFetch DESCRIBE on each topic.
# Closing an instance (LeaveGroup) is never refused: a user must always be able to stop.


def _instance_topics(inst: RestConsumer) -> list[str]:
    """The topics an instance reads: its subscription's (a pattern's current matches) or its
    manual assignment's."""
    return sorted(set(inst.topics) | {t for t, _ in inst.assignment})


def _may_describe(request: HttpRequest) -> Callable[[str], bool]:
    return lambda topic: access.may_topic(request, Operation.DESCRIBE, topic)


def _json_body(request: HttpRequest, schema: type[Schema]) -> Schema | None:
    """A body that may be absent: Confluent's offsets endpoints treat no body as 'everything'."""
    body_limit(request)
    if not request.body.strip():
        return None
    try:
        data = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RestError(400, f"The request body is not valid JSON: {e}") from None
    if data is None:
        return None
    try:
        return schema.model_validate(data)
    except Exception as e:  # pydantic's ValidationError; its text names the bad fields
        raise RestError(INVALID_PAYLOAD, f"Invalid request: {str(e).splitlines()[0:3]}") from None


@router.post("/{group}", response={200: ConsumerCreatedOut, **_errors(409)}, by_alias=True, summary="Create a consumer instance")
def consumer_create(request: HttpRequest, group: str, payload: ConsumerCreateIn) -> dict:
    body_limit(request)
    access.require_group(request, Operation.READ, group)
    config = svc.config_parse(payload.model_dump(by_alias=True))
    inst = svc.instance_create(group_id=group, config=config, owner=_owner(request))
    uri = request.build_absolute_uri(f"/rest/consumers/{quote(group, safe='')}/instances/{quote(inst.name, safe='')}")
    return {"instance_id": inst.name, "base_uri": uri}


@router.delete("/{group}/instances/{instance}", response={204: None, **_errors()}, summary="Delete a consumer instance")
def consumer_delete(request: HttpRequest, group: str, instance: str) -> Status:
    svc.instance_delete(_instance(request, group, instance))
    return Status(204, None)


@router.post("/{group}/instances/{instance}/subscription", response={204: None, **_errors(409)}, summary="Subscribe to topics or a pattern")
def subscription_set(request: HttpRequest, group: str, instance: str, payload: SubscriptionIn) -> Status:
    body_limit(request)
    inst = _instance(request, group, instance)
    access.require_group(request, Operation.READ, inst.group_id)
    access.require_topics(request, Operation.DESCRIBE, payload.topics or ())
    svc.subscribe(
        inst, topics=payload.topics, topic_pattern=payload.topic_pattern, client_host=request.META.get("REMOTE_ADDR", ""),
        visible=_may_describe(request),
    )
    return Status(204, None)


@router.get("/{group}/instances/{instance}/subscription", response={200: SubscriptionOut, **_errors()}, summary="The subscribed topics")
def subscription_get(request: HttpRequest, group: str, instance: str) -> dict:
    return {"topics": svc.subscription_get(_instance(request, group, instance))}


@router.delete("/{group}/instances/{instance}/subscription", response={204: None, **_errors()}, summary="Unsubscribe (and drop a manual assignment)")
def subscription_delete(request: HttpRequest, group: str, instance: str) -> Status:
    svc.unsubscribe(_instance(request, group, instance))
    return Status(204, None)


@router.post("/{group}/instances/{instance}/assignments", response={204: None, **_errors(409)}, summary="Assign partitions manually")
def assignments_set(request: HttpRequest, group: str, instance: str, payload: PartitionsIn) -> Status:
    body_limit(request)
    inst = _instance(request, group, instance)
    access.require_topics(request, Operation.DESCRIBE, (p.topic for p in payload.partitions))
    svc.assign(inst, _tps(payload.partitions))
    return Status(204, None)


@router.get("/{group}/instances/{instance}/assignments", response={200: PartitionsOut, **_errors()}, summary="The assigned partitions")
def assignments_get(request: HttpRequest, group: str, instance: str) -> dict:
    tps = svc.assignment_get(_instance(request, group, instance))
    return {"partitions": [{"topic": t, "partition": p} for t, p in tps]}


@router.post("/{group}/instances/{instance}/positions", response={204: None, **_errors(409)}, summary="Seek to offsets")
def positions_set(request: HttpRequest, group: str, instance: str, payload: PositionsIn) -> Status:
    body_limit(request)
    inst = _instance(request, group, instance)
    access.require_topics(request, Operation.DESCRIBE, (o.topic for o in payload.offsets))
    svc.seek(inst, {(o.topic, o.partition): o.offset for o in payload.offsets})
    return Status(204, None)


@router.post("/{group}/instances/{instance}/positions/beginning", response={204: None, **_errors(409)}, summary="Seek to the first offsets")
def positions_beginning(request: HttpRequest, group: str, instance: str, payload: PartitionsIn) -> Status:
    body_limit(request)
    inst = _instance(request, group, instance)
    access.require_topics(request, Operation.DESCRIBE, (p.topic for p in payload.partitions))
    svc.seek_to(inst, _tps(payload.partitions), end=False)
    return Status(204, None)


@router.post("/{group}/instances/{instance}/positions/end", response={204: None, **_errors(409)}, summary="Seek to the ends")
def positions_end(request: HttpRequest, group: str, instance: str, payload: PartitionsIn) -> Status:
    body_limit(request)
    inst = _instance(request, group, instance)
    access.require_topics(request, Operation.DESCRIBE, (p.topic for p in payload.partitions))
    svc.seek_to(inst, _tps(payload.partitions), end=True)
    return Status(204, None)


_COMMIT_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "offsets": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["topic", "partition", "offset"],
                                "properties": {
                                    "topic": _TOPIC_NAME_SCHEMA,
                                    "partition": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                                    "offset": {"type": "integer", "minimum": -1, "maximum": 2**63 - 2},
                                    "metadata": {"type": "string", "nullable": True},
                                },
                            },
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/{group}/instances/{instance}/offsets",
    response={200: None, **_errors(409)},
    openapi_extra=_COMMIT_BODY,
    summary="Commit offsets (no body: commit every current position)",
)
def offsets_commit(request: HttpRequest, group: str, instance: str) -> Status:
    payload = _json_body(request, CommitIn)
    inst = _instance(request, group, instance)
    offsets = None
    if payload is not None and payload.offsets is not None:
        offsets = {(o.topic, o.partition): (o.offset, o.metadata or "") for o in payload.offsets}
    access.require_group(request, Operation.READ, inst.group_id)
    access.require_topics(request, Operation.READ, _instance_topics(inst) if offsets is None else (t for t, _ in offsets))
    svc.commit(inst, offsets)
    return Status(200, None)


_PARTITIONS_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "partitions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["topic", "partition"],
                                "properties": {
                                    "topic": _TOPIC_NAME_SCHEMA,
                                    "partition": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                                },
                            },
                        }
                    },
                }
            }
        },
    }
}


@router.get(
    "/{group}/instances/{instance}/offsets",
    response={200: CommittedOffsetsOut, **_errors()},
    openapi_extra=_PARTITIONS_BODY,
    summary="Committed offsets",
    description=(
        "The partitions come in a body {\"partitions\": [...]} as in Confluent's proxy, or as query "
        "parameters topic=...&partition=0&partition=1; with neither, the instance's assigned partitions."
    ),
)
def offsets_get(
    request: HttpRequest, group: str, instance: str, topic: str | None = None,
    partition: Annotated[list[int] | None, Query()] = None,
) -> dict:
    payload = _json_body(request, PartitionsIn)
    inst = _instance(request, group, instance)
    if payload is not None:
        partitions = _tps(payload.partitions)
    elif topic is not None:
        if not partition:
            raise RestError(INVALID_PAYLOAD, "With topic=..., give one or more partition=... query parameters.")
        try:
            topic_name_validate(topic)
        except InvalidTopic:
            raise RestError(INVALID_PAYLOAD, f"{topic!r} is not a valid topic name.") from None
        partitions = [(topic, p) for p in partition if 0 <= p < 2**31]
    else:
        partitions = None
    access.require_group(request, Operation.DESCRIBE, inst.group_id)
    access.require_topics(request, Operation.DESCRIBE, _instance_topics(inst) if partitions is None else (t for t, _ in partitions))
    rows = svc.committed_get(inst, partitions)
    return {"offsets": [{"topic": c.topic, "partition": c.partition, "offset": c.offset, "metadata": c.metadata} for c in rows]}


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _json(data: bytes | None, what: str) -> object:
    if data is None:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _NotJson(what) from None


class _NotJson(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


@router.get(
    "/{group}/instances/{instance}/records",
    response={200: list[ConsumerRecordOut], **_errors(406, 409)},
    summary="Fetch records",
    description=(
        "Accept must name the consumer's format: application/vnd.kafka.binary.v2+json or "
        "application/vnd.kafka.json.v2+json. Waits up to `timeout` ms for records (at most the "
        "server's consumer.request.timeout.ms). A json consumer that reaches a record that is not "
        "JSON gets the records before it; the next request answers 406 with error_code 40602 and "
        "the record's topic, partition and offset, and the consumer stays at that record until it "
        "seeks past it with POST .../positions (or reads it with a binary consumer)."
    ),
)
def records_get(
    request: HttpRequest,
    group: str,
    instance: str,
    timeout: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    max_bytes: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Status:
    inst = _instance(request, group, instance)
    media = negotiation.FORMAT_MEDIA_TYPES[inst.format]
    try:
        negotiation.negotiate(request, [media])
    except RestError:
        raise RestError(
            40601, f"The consumer's format is {inst.format}: ask for its records with Accept: {media}."
        ) from None
    request.rest_media_type = media
    if inst.topics or inst.topic_pattern:  # a member of the group (JoinGroup, Heartbeat)
        access.require_group(request, Operation.READ, inst.group_id)
    access.require_topics(request, Operation.READ, _instance_topics(inst))  # Fetch
    records = svc.records_poll(inst, timeout_ms=timeout, max_bytes=max_bytes, visible=_may_describe(request))
    convert = _b64 if inst.format == "binary" else None
    out = []
    for i, r in enumerate(records):
        try:
            out.append({
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "key": convert(r.key) if convert else _json(r.key, "key"),
                "value": convert(r.value) if convert else _json(r.value, "value"),
            })
        except _NotJson as e:
            # As Kafka's consumer does with a record its deserializer refuses: what came before it
            # is returned, and the bad record is next.
            svc.rewind(inst, records[i:])
            if out:
                break
            raise RestError(
                RECORD_NOT_IN_FORMAT,
                f"The {e.what} of the record at {r.topic}-{r.partition} offset {r.offset} is not JSON, so this "
                "json consumer cannot return it. Read it with a binary consumer, or seek past it with "
                "POST .../positions (offset + 1).",
                details={"topic": r.topic, "partition": r.partition, "offset": r.offset},
            ) from None
    return Status(200, out)
