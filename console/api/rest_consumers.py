"""REST proxy v2 consumer instances: the broker's server-side consumer, kept on RestConsumer rows.

Each instance is a `brokercore.coordinator.consumer.ServerConsumer` (KafkaConsumer's rules:
subscribe or assign, poll, seek, commit, auto commit, rejoin); this module gives it what the proxy
adds: a row per instance (so any server process can serve it), its owner, naming, settings parsed
from the create request, expiry, and the proxy's error codes. An instance that subscribes joins the group coordinator as a server-managed member (its member id
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
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from brokercore import clock
from brokercore.coordinator.consumer import CommittedOffsetView, ConsumerStateError, ServerConsumer
from brokercore.coordinator.group import group_id_validate
from brokercore.errors import BrokerError, InvalidGroupId
from brokercore.topics.read import partition_get, topic_get
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
    """An instance's name and settings, stored as they are on its RestConsumer row (same field names)."""

    name: str
    format: str
    offset_reset: str
    auto_commit: bool
    fetch_min_bytes: int
    request_timeout_ms: int | None


def _int_setting(body: dict[str, object], key: str, low: int, high: int = 2**31 - 1) -> int | None:
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


def config_parse(body: dict[str, object]) -> InstanceConfig:
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


def instance_create(*, group_id: str, config: InstanceConfig, owner: AbstractUser | None = None) -> RestConsumer:
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
            return RestConsumer.objects.create(group_id=group_id, owner=owner, last_used_ms=clock.now_ms(), **asdict(config))
    except IntegrityError:
        raise RestError(
            CONSUMER_ALREADY_EXISTS, f"Consumer with specified consumer ID '{config.name}' already exists in group '{group_id}'."
        ) from None


def _owned(owner: AbstractUser | None) -> QuerySet[RestConsumer]:
    """The instances `owner` may see: their own (None: the anonymous ones)."""
    return RestConsumer.objects.filter(owner__isnull=True) if owner is None else RestConsumer.objects.filter(owner=owner)


def _idle(inst: RestConsumer) -> bool:
    return inst.last_used_ms + _timeout_ms() < clock.now_ms()


def instance_get(*, group_id: str, name: str, owner: AbstractUser | None = None) -> RestConsumer:
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
    """What KafkaConsumer.close() does (auto commit, leave the group), then forget the row."""
    _consumer(inst).close()
    RestConsumer.objects.filter(pk=inst.pk).delete()


def instances_close(*, owner: AbstractUser) -> int:
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


def user_instances_close(sender: type[AbstractUser], instance: AbstractUser, **kwargs: object) -> None:
    """pre_delete receiver of the user model (connected in console.apps): a deleted user's
    instances go as a closed consumer does (auto commit, leave the group so the others rebalance
    now), not only as deleted rows whose group members would linger until their sessions expire."""
    instances_close(owner=instance)


def instances_expire() -> dict[str, int]:
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


# --- The instance's consumer --------------------------------------------------------------------


def _consumer(inst: RestConsumer, client_host: str = "", visible: Callable[[str], bool] | None = None) -> ServerConsumer:
    return ServerConsumer(
        visible=visible,
        group_id=inst.group_id,
        client_id=inst.name,
        offset_reset=inst.offset_reset,
        auto_commit=inst.auto_commit,
        session_timeout_ms=_session_timeout_ms(),
        client_host=client_host,
        member_id=inst.member_id,
        topics=list(inst.topics),
        topic_pattern=inst.topic_pattern,
        assignment=[(t, p) for t, p in inst.assignment],
        positions=dict(inst.positions),
    )


@contextmanager
def _using(inst: RestConsumer, client_host: str = "", visible: Callable[[str], bool] | None = None) -> Iterator[ServerConsumer]:
    """The instance's consumer, whose changes are stored on the row afterwards, also when the call
    fails part way (a member it joined must not be forgotten); its state errors are 40903."""
    consumer = _consumer(inst, client_host, visible)
    try:
        yield consumer
    except ConsumerStateError as e:
        raise RestError(ILLEGAL_STATE, f"Illegal state: {e}") from None
    finally:
        stored = {
            "member_id": consumer.member_id,
            "topics": consumer.topics,
            "topic_pattern": consumer.topic_pattern,
            "assignment": [list(tp) for tp in consumer.assignment],
            "positions": consumer.positions,
        }
        changed = {f: v for f, v in stored.items() if getattr(inst, f) != v}
        for f, v in changed.items():
            setattr(inst, f, v)
        if changed:
            RestConsumer.objects.filter(pk=inst.pk).update(**changed)


def _partitions_check(tps: Sequence[TP]) -> None:
    """The proxy tells an unknown topic (40401) from an unknown partition (40402)."""
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


# --- Subscription and assignment ----------------------------------------------------------------


def subscribe(
    inst: RestConsumer, *, topics: list[str] | None, topic_pattern: str | None, client_host: str = "",
    visible: Callable[[str], bool] | None = None,
) -> None:
    """Subscribe; a pattern matches only the topics `visible` lets through (None: every topic)."""
    with _using(inst, client_host, visible) as consumer:
        try:
            consumer.subscribe(topics=topics, pattern=topic_pattern)
        except re.error as e:
            raise RestError(INVALID_PAYLOAD, f"topic_pattern is not a valid regular expression: {e}.") from None


def subscription_get(inst: RestConsumer) -> list[str]:
    return list(inst.topics)


def unsubscribe(inst: RestConsumer) -> None:
    """Kafka's unsubscribe(): leaves the group and drops a manual assignment too."""
    with _using(inst) as consumer:
        consumer.unsubscribe()


def assign(inst: RestConsumer, partitions: list[TP]) -> None:
    with _using(inst) as consumer:
        consumer.assign(partitions, validate=_partitions_check)


def assignment_get(inst: RestConsumer) -> list[TP]:
    """A manual assignment, or the partitions the group gave the member in its current generation."""
    return _consumer(inst).assigned()


# --- Positions ----------------------------------------------------------------------------------


def seek(inst: RestConsumer, offsets: dict[TP, int]) -> None:
    _partitions_check(sorted(offsets))
    with _using(inst) as consumer:
        consumer.seek(offsets)


def seek_to(inst: RestConsumer, partitions: list[TP], *, end: bool) -> None:
    _partitions_check(sorted(set(partitions)))
    with _using(inst) as consumer:
        consumer.seek_to(partitions, end=end)


def rewind(inst: RestConsumer, unreturned: Sequence[RecordOut]) -> None:
    """Back to the first of `unreturned` (polled, not returned): none of them counts as consumed."""
    with _using(inst) as consumer:
        consumer.rewind(unreturned)


# --- Committing ---------------------------------------------------------------------------------


def commit(inst: RestConsumer, offsets: dict[TP, tuple[int, str]] | None) -> None:
    """Commit the given offsets (of the last records consumed), or all current positions."""
    with _using(inst) as consumer:
        if offsets is None:
            consumer.commit()
        else:
            consumer.commit_consumed(offsets)


def committed_get(inst: RestConsumer, partitions: list[TP] | None) -> list[CommittedOffsetView]:
    consumer = _consumer(inst)
    if partitions is None:
        partitions = consumer.assigned()
    _partitions_check(sorted(set(partitions)))
    return consumer.committed(partitions)


# --- Polling ------------------------------------------------------------------------------------


def records_poll(
    inst: RestConsumer, *, timeout_ms: int | None, max_bytes: int | None, visible: Callable[[str], bool] | None = None,
) -> list[RecordOut]:
    """Records from the instance's positions: waits up to the timeout for the first ones, then up
    to it for fetch.min.bytes of them. Every call is a heartbeat of the group member. The
    instance's request timeout and the server's limits bound the wait and the size."""
    rest = settings.REST
    wait_ms = rest["CONSUMER_REQUEST_TIMEOUT_MS"] if inst.request_timeout_ms is None else inst.request_timeout_ms
    if timeout_ms is not None:
        wait_ms = timeout_ms
    wait_ms = max(0, min(wait_ms, rest["CONSUMER_REQUEST_TIMEOUT_MS"]))
    max_bytes = rest["CONSUMER_REQUEST_MAX_BYTES"] if max_bytes is None else max(1, min(max_bytes, rest["CONSUMER_REQUEST_MAX_BYTES"]))
    with _using(inst, visible=visible) as consumer:
        return consumer.poll(wait_ms=wait_ms, max_bytes=max_bytes, min_bytes=inst.fetch_min_bytes).records
