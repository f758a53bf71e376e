"""REST proxy v2 consumer instances, on top of the broker's server-managed group members.

An instance that subscribes joins the group coordinator as a server-managed member (its member id
is `<instance name>-<uuid>`), so it appears on the console's group pages and rebalances with every
other member; its fetch positions live on the member. An instance with a manual assignment is
outside the group, like a Kafka consumer after assign(), and keeps its positions on its own row.

Semantics chosen where the Confluent proxy leaves room:

- Auto commit (auto.commit.enable, default true as in Kafka): each records request first commits
  the positions the previous requests reached, i.e. what was already returned, and so does
  deleting the instance, unsubscribing and changing a subscription or assignment. Like Kafka's
  consumer, a record is committed only once the client came back for more, so a client that dies
  while handling a batch gets that batch again.
- The offsets in a commit request are those of the last records consumed; the committed offset is
  one more (the next offset to read), as in Confluent's proxy. Offsets read back are the committed
  ones, and positions set with POST .../positions are the next offsets to read.
- An instance not used for settings.REST["CONSUMER_INSTANCE_TIMEOUT_MS"] is closed (auto commit,
  leave the group, forget it): lazily when it is next addressed, and by the maintenance thread
  (`instances_expire`). Its group session is as long as that timeout, clamped to the broker's
  session range; if the coordinator drops the member anyway, the next records request rejoins.
- A json consumer that reaches a value (or key) that is not JSON gets the records before it, then
  406/40602 naming the record, and stays at that record, as a Kafka consumer stays at a record its
  deserializer refuses: seek past it with POST .../positions, or read it with a binary consumer.
"""

import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from brokercore import clock
from brokercore.coordinator.consumer import initial_position, member_poll, positions_fetch
from brokercore.coordinator.group import group_id_validate, tp_key, tp_split
from brokercore.coordinator.offsets import offsets_commit
from brokercore.coordinator.read import committed_offsets_get
from brokercore.coordinator.server_members import group_join, member_leave, member_positions_save
from brokercore.errors import BrokerError, GroupIdNotFound, InvalidGroupId, UnknownMemberId
from brokercore.log.read import EARLIEST, LATEST, offset_for
from brokercore.models import GroupMember, Partition
from brokercore.topics.read import partition_get, topic_get, topic_names_list
from brokercore.types import RecordOut
from console.api.errors import (
    CONSUMER_ALREADY_EXISTS,
    CONSUMER_INSTANCE_NOT_FOUND,
    ILLEGAL_STATE,
    INVALID_CONSUMER_CONFIG,
    INVALID_PAYLOAD,
    PARTITION_NOT_FOUND,
    TOPIC_NOT_FOUND,
    RestError,
    rest_error,
)
from console.models import RestConsumer

logger = logging.getLogger(__name__)

FORMATS = ("binary", "json")
# Formats Confluent's proxy has that need a schema registry this broker does not have.
SCHEMA_FORMATS = ("avro", "protobuf", "jsonschema")
OFFSET_RESETS = ("earliest", "latest", "none")
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,200}")

TP = tuple[str, int]


def not_found() -> RestError:
    return RestError(CONSUMER_INSTANCE_NOT_FOUND, "Consumer instance not found.")


def _timeout_ms() -> int:
    return settings.REST["CONSUMER_INSTANCE_TIMEOUT_MS"]


def _session_timeout_ms() -> int:
    b = settings.BROKER
    return min(max(_timeout_ms(), b["GROUP_MIN_SESSION_TIMEOUT_MS"]), b["GROUP_MAX_SESSION_TIMEOUT_MS"])


# --- Creating, finding, closing ---------------------------------------------------------------


@dataclass(frozen=True)
class InstanceConfig:
    name: str
    format: str
    offset_reset: str
    auto_commit: bool
    fetch_min_bytes: int
    request_timeout_ms: int | None


def _int_setting(body: dict, key: str, low: int, high: int = 2**31 - 1) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise RestError(INVALID_CONSUMER_CONFIG, f"{key} must be an integer from {low} to {high}, got {value!r}.")
    return number


def config_parse(body: dict) -> InstanceConfig:
    """The create request's settings; anything invalid is 42204, as in Confluent's proxy."""
    name = body.get("name") or f"rest-consumer-{uuid.uuid4()}"
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RestError(
            INVALID_CONSUMER_CONFIG,
            "name must be 1 to 200 letters, digits, '.', '_' or '-' (it becomes part of the instance's URL).",
        )
    fmt = body.get("format") or "binary"
    if fmt in SCHEMA_FORMATS:
        raise RestError(INVALID_CONSUMER_CONFIG, f"format '{fmt}' needs a schema registry, which this broker does not have: use binary or json.")
    if fmt not in FORMATS:
        raise RestError(INVALID_CONSUMER_CONFIG, f"Unknown format {fmt!r}: use binary or json.")
    reset = body.get("auto.offset.reset") or "latest"
    if reset == "smallest":  # the old consumer's names, still accepted by Confluent's proxy
        reset = "earliest"
    elif reset == "largest":
        reset = "latest"
    if reset not in OFFSET_RESETS:
        raise RestError(INVALID_CONSUMER_CONFIG, f"auto.offset.reset must be one of {', '.join(OFFSET_RESETS)}, got {reset!r}.")
    auto = body.get("auto.commit.enable")
    if auto is None or auto == "":
        auto_commit = True
    elif isinstance(auto, bool):
        auto_commit = auto
    elif isinstance(auto, str) and auto.lower() in ("true", "false"):
        auto_commit = auto.lower() == "true"
    else:
        raise RestError(INVALID_CONSUMER_CONFIG, f"auto.commit.enable must be \"true\" or \"false\", got {auto!r}.")
    fetch_min = _int_setting(body, "fetch.min.bytes", -1)
    timeout = _int_setting(body, "consumer.request.timeout.ms", 0)
    return InstanceConfig(name, fmt, reset, auto_commit, -1 if fetch_min is None else fetch_min, timeout)


def instance_create(*, group_id: str, config: InstanceConfig, owner=None) -> RestConsumer:
    """A new instance, usable only by `owner` (a user, or None: only by anonymous callers)."""
    try:
        group_id_validate(group_id)
    except InvalidGroupId as e:
        raise RestError(INVALID_CONSUMER_CONFIG, str(e)) from None
    old = _owned(owner).filter(group_id=group_id, name=config.name).first()
    if old is not None and _idle(old):
        _close(old)
    try:
        with transaction.atomic():
            return RestConsumer.objects.create(
                group_id=group_id,
                name=config.name,
                owner=owner,
                format=config.format,
                offset_reset=config.offset_reset,
                auto_commit=config.auto_commit,
                fetch_min_bytes=config.fetch_min_bytes,
                request_timeout_ms=config.request_timeout_ms,
                last_used_ms=clock.now_ms(),
            )
    except IntegrityError:
        raise RestError(
            CONSUMER_ALREADY_EXISTS, f"Consumer with specified consumer ID '{config.name}' already exists in group '{group_id}'."
        ) from None


def _owned(owner):
    """The instances `owner` may see: their own (None: the anonymous ones)."""
    return RestConsumer.objects.filter(owner__isnull=True) if owner is None else RestConsumer.objects.filter(owner=owner)


def _idle(inst: RestConsumer) -> bool:
    return inst.last_used_ms + _timeout_ms() < clock.now_ms()


def instance_get(*, group_id: str, name: str, owner=None) -> RestConsumer:
    """`owner`'s instance, marked as used now; an idle one is closed first and is then not found.
    Another caller's instance is not found either, and is left untouched: whether it exists is
    none of their business."""
    inst = _owned(owner).filter(group_id=group_id, name=name).first()
    if inst is None:
        raise not_found()
    if _idle(inst):
        _close(inst)
        raise not_found()
    inst.last_used_ms = clock.now_ms()
    RestConsumer.objects.filter(pk=inst.pk).update(last_used_ms=inst.last_used_ms)
    return inst


def instance_delete(inst: RestConsumer) -> None:
    _close(inst)


def _close(inst: RestConsumer) -> None:
    """What KafkaConsumer.close() does: auto commit, leave the group (the others rebalance now)."""
    _auto_commit(inst)
    _leave(inst)
    RestConsumer.objects.filter(pk=inst.pk).delete()


def _leave(inst: RestConsumer) -> None:
    if inst.member_id:
        try:
            member_leave(group_id=inst.group_id, member_id=inst.member_id)
        except (UnknownMemberId, GroupIdNotFound):
            pass  # the coordinator already dropped it (session timeout)
        inst.member_id = ""


def instances_close(*, owner) -> int:
    """Close every instance `owner` created (the user is being deleted)."""
    instances = list(RestConsumer.objects.filter(owner=owner))
    for inst in instances:
        try:
            with transaction.atomic():
                _close(inst)
        except BrokerError as e:
            # The row goes with the user anyway (CASCADE); the member then expires with its session.
            logger.warning("Closing REST consumer %s of a deleted user failed: %s", inst, e)
    return len(instances)


def instances_expire() -> dict:
    """Close every idle instance (the maintenance thread's job; each one in its own transaction)."""
    cutoff = clock.now_ms() - _timeout_ms()
    closed = 0
    for pk in RestConsumer.objects.filter(last_used_ms__lt=cutoff).values_list("pk", flat=True):
        try:
            with transaction.atomic():
                inst = RestConsumer.objects.select_for_update(skip_locked=True).filter(pk=pk, last_used_ms__lt=cutoff).first()
                if inst is not None:
                    _close(inst)
                    closed += 1
        except Exception:
            logger.exception("Closing idle REST consumer %s failed; retrying next period", pk)
    return {"rest_consumers_expired": closed}


def _save(inst: RestConsumer, *fields: str) -> None:
    RestConsumer.objects.filter(pk=inst.pk).update(**{f: getattr(inst, f) for f in fields})


# --- Subscription and assignment ----------------------------------------------------------------


def _pattern_topics(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return sorted(t for t in topic_names_list() if rx.fullmatch(t))


def _join(inst: RestConsumer, topics: list[str], client_host: str = "") -> None:
    """Join, or change the member's subscription (the group rebalances either way)."""
    if inst.member_id:
        try:
            group_join(group_id=inst.group_id, topics=topics, member_id=inst.member_id, session_timeout_ms=_session_timeout_ms())
            return
        except UnknownMemberId:
            pass
    view = group_join(
        group_id=inst.group_id,
        topics=topics,
        client_id=inst.name,
        client_host=client_host,
        session_timeout_ms=_session_timeout_ms(),
        offset_reset=inst.offset_reset,
    )
    inst.member_id = view.member_id


def subscribe(inst: RestConsumer, *, topics: list[str] | None, topic_pattern: str | None, client_host: str = "") -> None:
    if bool(topics) == bool(topic_pattern):
        raise RestError(ILLEGAL_STATE, "Give either topics or topic_pattern: subscriptions to topics and to a pattern are mutually exclusive.")
    if inst.assignment:
        raise RestError(ILLEGAL_STATE, "Illegal state: the consumer has a manual assignment; subscribing and assigning partitions are mutually exclusive (DELETE the subscription first).")
    if topic_pattern:
        try:
            resolved = _pattern_topics(topic_pattern)
        except re.error as e:
            raise RestError(INVALID_PAYLOAD, f"topic_pattern is not a valid regular expression: {e}.") from None
    else:
        resolved = sorted(set(topics or []))
    _auto_commit(inst)
    _join(inst, resolved, client_host)
    inst.topics, inst.topic_pattern = resolved, topic_pattern or ""
    _save(inst, "member_id", "topics", "topic_pattern")


def subscription_get(inst: RestConsumer) -> list[str]:
    return list(inst.topics)


def unsubscribe(inst: RestConsumer) -> None:
    """Kafka's unsubscribe(): leaves the group and drops a manual assignment too."""
    _auto_commit(inst)
    _leave(inst)
    inst.topics, inst.topic_pattern, inst.assignment, inst.positions = [], "", [], {}
    _save(inst, "member_id", "topics", "topic_pattern", "assignment", "positions")


def _partitions_check(tps: list[TP]) -> None:
    for topic in sorted({t for t, _ in tps}):
        try:
            topic_get(name=topic)
        except BrokerError as e:
            raise rest_error(e, not_found=TOPIC_NOT_FOUND) from None
    for topic, partition in tps:
        try:
            partition_get(topic=topic, partition=partition)
        except BrokerError as e:
            raise rest_error(e, not_found=PARTITION_NOT_FOUND) from None


def assign(inst: RestConsumer, partitions: list[TP]) -> None:
    if inst.subscribed:
        raise RestError(ILLEGAL_STATE, "Illegal state: the consumer is subscribed; subscribing and assigning partitions are mutually exclusive (DELETE the subscription first).")
    wanted = sorted(set(partitions))
    _partitions_check(wanted)
    _auto_commit(inst)
    keys = {tp_key(*tp) for tp in wanted}
    inst.assignment = [list(tp) for tp in wanted]
    inst.positions = {k: v for k, v in inst.positions.items() if k in keys}
    _save(inst, "assignment", "positions")


def _member_row(inst: RestConsumer) -> GroupMember | None:
    if not inst.member_id:
        return None
    return GroupMember.objects.select_related("group").filter(group__group_id=inst.group_id, member_id=inst.member_id).first()


def assignment_get(inst: RestConsumer) -> list[TP]:
    """A manual assignment, or the partitions the group gave the member in its current generation."""
    if inst.subscribed:
        row = _member_row(inst)
        return [tuple(tp) for tp in row.assignment] if row is not None else []
    return [tuple(tp) for tp in inst.assignment]


# --- Positions ----------------------------------------------------------------------------------


def _positions_write(inst: RestConsumer, offsets: dict[TP, int], *, strict: bool) -> None:
    assigned = set(assignment_get(inst))
    unknown = sorted(tp for tp in offsets if tp not in assigned)
    if unknown and strict:
        t, p = unknown[0]
        raise RestError(ILLEGAL_STATE, f"Illegal state: no current assignment for partition {t}-{p}.")
    updates = {tp_key(*tp): o for tp, o in offsets.items() if tp in assigned}
    if inst.subscribed:
        row = _member_row(inst)
        if row is None:
            return
        try:
            member_positions_save(
                group_id=inst.group_id, member_id=inst.member_id, generation=row.group.generation, positions={**row.positions, **updates}
            )
        except UnknownMemberId:
            if strict:
                raise RestError(ILLEGAL_STATE, "Illegal state: the group is rebalancing; poll for records, then seek again.") from None
    else:
        inst.positions = {**inst.positions, **updates}
        _save(inst, "positions")


def seek(inst: RestConsumer, offsets: dict[TP, int]) -> None:
    _partitions_check(sorted(offsets))
    _positions_write(inst, offsets, strict=True)


def seek_to(inst: RestConsumer, partitions: list[TP], *, end: bool) -> None:
    _partitions_check(sorted(set(partitions)))
    spec = LATEST if end else EARLIEST
    _positions_write(inst, {tp: offset_for(topic=tp[0], partition=tp[1], spec=spec)[0] for tp in partitions}, strict=True)


def rewind(inst: RestConsumer, unreturned: Sequence[RecordOut]) -> None:
    """Put each partition's position back to its first record of `unreturned` (polled but not
    returned), so nothing from there on counts as consumed (no assignment check: best effort)."""
    offsets: dict[TP, int] = {}
    for r in unreturned:
        offsets.setdefault((r.topic, r.partition), r.offset)
    _positions_write(inst, offsets, strict=False)


# --- Committing ---------------------------------------------------------------------------------


def _positions(inst: RestConsumer) -> dict[TP, int]:
    if inst.subscribed:
        row = _member_row(inst)
        return {tp_split(k): v for k, v in row.positions.items()} if row is not None else {}
    return {tp_split(k): v for k, v in inst.positions.items()}


def _commit(inst: RestConsumer, offsets: dict[TP, int | tuple[int, str]]) -> None:
    if not offsets:
        return
    if inst.subscribed:
        row = _member_row(inst)
        if row is None:
            raise RestError(ILLEGAL_STATE, "Illegal state: the consumer is not in its group at the moment (it will rejoin on the next records request).")
        offsets_commit(group_id=inst.group_id, offsets=offsets, member_id=inst.member_id, generation=row.group.generation)
        return
    try:
        offsets_commit(group_id=inst.group_id, offsets=offsets)
    except UnknownMemberId:
        # Kafka's rule: a consumer outside the group may commit only while the group is empty.
        raise RestError(
            ILLEGAL_STATE,
            f"Illegal state: group '{inst.group_id}' has subscribed members, so a consumer with a manual "
            "assignment cannot commit to it (use another group name for manual assignment).",
        ) from None


def commit(inst: RestConsumer, offsets: dict[TP, tuple[int, str]] | None) -> None:
    """Commit the given offsets (of the last records consumed), or all current positions."""
    if offsets is None:
        _commit(inst, _positions(inst))
    else:
        _commit(inst, {tp: (o + 1, md) for tp, (o, md) in offsets.items()})


def _auto_commit(inst: RestConsumer) -> None:
    if not inst.auto_commit:
        return
    try:
        _commit(inst, _positions(inst))
    except (BrokerError, RestError) as e:
        # Kafka's auto commit only logs a failed commit; the records come again after a rebalance.
        logger.info("Auto commit of REST consumer %s/%s skipped: %s", inst.group_id, inst.name, e)


def committed_get(inst: RestConsumer, partitions: list[TP] | None) -> list[tuple[str, int, int, str]]:
    if partitions is None:
        partitions = assignment_get(inst)
    _partitions_check(sorted(set(partitions)))
    found = committed_offsets_get(group_id=inst.group_id, partitions=list(partitions))
    # Kafka answers -1 for a partition the group never committed; so does the proxy.
    return [(t, p, *found.get((t, p), (-1, ""))) for t, p in partitions]


# --- Polling ------------------------------------------------------------------------------------


def _manual_positions(inst: RestConsumer, parts: dict[TP, Partition]) -> dict[str, int]:
    positions = dict(inst.positions)
    missing = [tp for tp in parts if tp_key(*tp) not in positions]
    if missing:
        committed = committed_offsets_get(group_id=inst.group_id, partitions=missing)
        for tp in missing:
            positions[tp_key(*tp)] = initial_position(parts[tp], committed.get(tp, (None,))[0], inst.offset_reset)
    return positions


def _manual_fetch(inst: RestConsumer, max_bytes: int, wait_s: float) -> list[RecordOut]:
    parts = {
        (p.topic.name, p.index): p
        for p in Partition.objects.filter(topic__name__in={t for t, _ in inst.assignment}, topic__deleted_at__isnull=True).select_related("topic")
        if [p.topic.name, p.index] in inst.assignment
    }
    if not parts:
        time.sleep(max(0.0, wait_s))
        return []
    positions = _manual_positions(inst, parts)
    records = positions_fetch(
        parts, sorted(parts), positions, inst.offset_reset, max_records=None, max_bytes=max_bytes, max_wait_ms=int(wait_s * 1000)
    )
    inst.positions = positions
    _save(inst, "positions")
    return records


def _subscribed_fetch(inst: RestConsumer, max_bytes: int, wait_s: float) -> list[RecordOut]:
    if inst.topic_pattern:
        # Kafka re-evaluates a pattern subscription against metadata; new matching topics join it.
        topics = _pattern_topics(inst.topic_pattern)
        if topics != inst.topics:
            _auto_commit(inst)
            _join(inst, topics)
            inst.topics = topics
            _save(inst, "member_id", "topics")
    deadline = time.monotonic() + wait_s
    poll_s = settings.BROKER["FETCH_POLL_INTERVAL_MS"] / 1000
    while True:
        remaining = deadline - time.monotonic()
        if not inst.member_id:
            _join(inst, list(inst.topics))
            _save(inst, "member_id")
        try:
            result = member_poll(group_id=inst.group_id, member_id=inst.member_id, max_bytes=max_bytes, max_wait_ms=max(0, int(remaining * 1000)))
        except (UnknownMemberId, GroupIdNotFound):
            # Dropped by the coordinator (session timeout): rejoin, as a Kafka consumer does.
            inst.member_id = ""
            continue
        if result.records:
            return result.records
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return []
        # Rebalancing, or no partitions: wait a little and sync again, so the rebalance can finish
        # inside this request.
        time.sleep(min(remaining, poll_s))


def records_poll(inst: RestConsumer, *, timeout_ms: int | None, max_bytes: int | None) -> list[RecordOut]:
    """Records from the instance's positions: waits up to the timeout for the first ones, then up
    to it for fetch.min.bytes of them. Every call is a heartbeat of the group member."""
    if not inst.subscribed and not inst.assignment:
        raise RestError(ILLEGAL_STATE, "Illegal state: the consumer is not subscribed to any topics or assigned any partitions.")
    rest = settings.REST
    wait_ms = rest["CONSUMER_REQUEST_TIMEOUT_MS"] if inst.request_timeout_ms is None else inst.request_timeout_ms
    if timeout_ms is not None:
        wait_ms = timeout_ms
    wait_ms = max(0, min(wait_ms, rest["CONSUMER_REQUEST_TIMEOUT_MS"]))
    max_bytes = rest["CONSUMER_REQUEST_MAX_BYTES"] if max_bytes is None else max(1, min(max_bytes, rest["CONSUMER_REQUEST_MAX_BYTES"]))
    _auto_commit(inst)
    deadline = time.monotonic() + wait_ms / 1000
    records: list[RecordOut] = []
    size = 0
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        fetch = _subscribed_fetch if inst.subscribed else _manual_fetch
        batch = fetch(inst, max_bytes - size, remaining)
        records.extend(batch)
        size += sum(r.size for r in batch)
        if not records or size >= max(1, inst.fetch_min_bytes) or size >= max_bytes or deadline - time.monotonic() <= 0:
            return records
