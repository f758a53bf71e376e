"""The handler interface every Kafka API module registers against.

A handler is `async def handler(ctx: RequestContext, request) -> ResponsePayload | None`: `request`
is the decoded kio request entity of the version the client sent; the handler returns the kio
response entity of that same version (built with `ctx.response(...)`), or None to send nothing
(Produce with acks=0). ORM and service calls go through `ctx.run_sync`, never on the event loop.
"""

import asyncio
import datetime
import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from django.db import close_old_connections
from kio.schema.errors import ErrorCode
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveField,
    PrimitiveTupleField,
    classify_field,
    get_schema_field_type,
    is_optional,
)
from kio.static.protocol import RequestPayload, ResponsePayload

from brokercore.cluster.read import ClusterNode
from brokercore.errors import BrokerError
from brokercore.kafka.schemas_legacy import load_response_schema
from brokercore.security.acl import Requester
from brokercore.security.principal import ANONYMOUS, Principal

if TYPE_CHECKING:  # sasl imports this module
    from brokercore.kafka.apis.sasl import Session

P = ParamSpec("P")
T = TypeVar("T")


# The node a listener serves is one of the cluster's nodes, as Metadata lists them: one type for
# both, so the live nodes the cluster reads need no copying into the listener's.
Node = ClusterNode


Handler = Callable[["RequestContext", RequestPayload], Awaitable[ResponsePayload | None]]


class RunSync(Protocol):
    """How a connection runs database work off the event loop: `await run_sync(fn, *args)` runs
    `fn` in the listener's thread pool (`RequestContext.run_sync`, or `run_sync` bound to one)."""

    def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]: ...


@dataclass(frozen=True, slots=True)
class Api:
    """A registered handler and the version range the listener accepts (and advertises)."""

    api_key: int
    min_version: int
    max_version: int
    handler: Handler

    def __call__(self, ctx: "RequestContext", request: RequestPayload) -> Awaitable[ResponsePayload | None]:
        return self.handler(ctx, request)

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


HANDLERS: dict[int, Api] = {}


def api(api_key: int, *, versions: tuple[int, int]) -> Callable[[Handler], Handler]:
    """Register `handler` for `api_key` in the inclusive version range `versions`."""
    low, high = versions

    def register(handler: Handler) -> Handler:
        if api_key in HANDLERS and HANDLERS[api_key].handler is not handler:
            raise RuntimeError(f"API key {api_key} has two handlers: {HANDLERS[api_key].handler} and {handler}")
        for v in range(low, high + 1):
            load_response_schema(api_key, v)  # fails now, not at the first request, if no schema has it
        HANDLERS[api_key] = Api(api_key, low, high, handler)
        return handler

    return register


def error_code(exc: BaseException) -> int:
    """Kafka's error code for `exc`: a BrokerError's own code, UNKNOWN_SERVER_ERROR (-1) otherwise."""
    return exc.code if isinstance(exc, BrokerError) else -1


def _db_call(fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object]) -> T:
    # Pool threads keep their database connection between calls, as request threads do between
    # requests: drop it when it has become unusable or too old, before and after the call.
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_sync(executor: Executor | None, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ORM/service code in `executor` (the listener's thread pool) and await its result."""
    return await asyncio.get_running_loop().run_in_executor(executor, _db_call, fn, args, kwargs)


@dataclass(slots=True, kw_only=True)
class RequestContext:
    """One request as a handler sees it: who sent it, to which node, and how to answer."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    client_host: str
    node: Node
    # The connection's authentication state (apis.sasl.Session); None outside a listener.
    session: "Session | None" = None
    executor: Executor | None = None  # the listener's thread pool (None: the loop's default)
    _requester: Requester | None = field(default=None, repr=False)

    @property
    def principal(self) -> Principal:
        """Who sent the request (anonymous until the connection authenticates, when allowed)."""
        principal = self.session.principal if self.session is not None else None
        return principal or ANONYMOUS

    @property
    def requester(self) -> Requester:
        """Who sent the request and from where, for the authorizer (brokercore.security.acl): one
        per request, so whether the principal is staff is read at most once however many checks."""
        if self._requester is None:
            self._requester = Requester(self.principal, self.client_host)
        return self._requester

    async def run_sync(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ORM/service code in the listener's thread pool and await its result."""
        return await run_sync(self.executor, fn, *args, **kwargs)

    def response(self, **values: object) -> ResponsePayload:
        """The response entity of this request's API and version, built from plain values."""
        return build_entity(load_response_schema(self.api_key, self.api_version), values)


# --- Building kio entities from plain values ---------------------------------------------------

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _error_code(v: ErrorCode | int) -> ErrorCode:
    if isinstance(v, ErrorCode):
        return v
    try:
        return ErrorCode(int(v))
    except ValueError:  # a code newer than kio's table: the client still gets a failure
        return ErrorCode.unknown_server_error


def _timedelta(v: datetime.timedelta | int) -> datetime.timedelta:
    return v if isinstance(v, datetime.timedelta) else datetime.timedelta(milliseconds=int(v))


def _datetime(v: datetime.datetime | int | None) -> datetime.datetime | None:
    if v is None or isinstance(v, datetime.datetime):
        return v
    # Kafka's "no timestamp" is -1 on the wire, which kio writes for None.
    return None if v < 0 else _EPOCH + datetime.timedelta(milliseconds=int(v))


def _uuid(v: uuid.UUID | str | None) -> uuid.UUID | None:
    if v is None or isinstance(v, uuid.UUID):
        return v
    return uuid.UUID(str(v))


def _bytes(v: bytes | bytearray | memoryview | None) -> bytes | None:
    return v if v is None or isinstance(v, bytes) else bytes(v)


def _same(v: T) -> T:
    return v


_PRIMITIVE: dict[str, Callable[[Any], Any]] = {
    "error_code": _error_code,
    "timedelta_i32": _timedelta,
    "timedelta_i64": _timedelta,
    "datetime_i64": _datetime,
    "uuid": _uuid,
    "bytes": _bytes,
    "records": _bytes,
}

# The value a field takes when neither the caller nor the schema gives one: Kafka's zero values.
_ZERO: dict[str, Any] = {
    "error_code": ErrorCode.none,
    "timedelta_i32": datetime.timedelta(0),
    "timedelta_i64": datetime.timedelta(0),
    "string": "",
    "bytes": b"",
    "records": None,
    "bool": False,
    "uuid": uuid.UUID(int=0),
    "float64": 0.0,
}


def _plan_field(f: Field) -> tuple[str, Callable[[Any], Any], Any]:
    """(name, converter, default) for one dataclass field; default MISSING means 'compute'."""
    cls = classify_field(f)
    if isinstance(cls, EntityField):
        sub = cls.type_

        def convert(v: Any, sub: type = sub) -> Any:
            return v if v is None or is_dataclass(v) else build_entity(sub, v)
    elif isinstance(cls, EntityTupleField):
        sub = cls.type_

        def convert(v: Any, sub: type = sub) -> Any:
            if v is None:
                return None
            return tuple(x if is_dataclass(x) else build_entity(sub, x) for x in v)
    elif isinstance(cls, PrimitiveTupleField):
        item = _PRIMITIVE.get(get_schema_field_type(f), _same)

        def convert(v: Any, item: Callable[[Any], Any] = item) -> Any:
            return None if v is None else tuple(item(x) for x in v)
    else:
        assert isinstance(cls, PrimitiveField)
        convert = _PRIMITIVE.get(get_schema_field_type(f), _same)

    if f.default is not MISSING:
        default = f.default
    elif f.default_factory is not MISSING:
        default = f.default_factory()
    elif cls.is_array:
        default = ()
    elif is_optional(f):
        default = None
    elif isinstance(cls, EntityField):
        default = build_entity(cls.type_, {})
    else:
        default = _ZERO.get(get_schema_field_type(f), 0)
    return f.name, convert, default


@functools.cache
def _plan(entity_type: type) -> tuple[tuple[str, Callable[[Any], Any], Any], ...]:
    return tuple(_plan_field(f) for f in fields(entity_type))


def build_entity(entity_type: type[T], values: Mapping[str, object]) -> T:
    """A kio entity from a dict: nested entities from dicts, arrays of them from lists of dicts,
    keys the schema lacks dropped, missing fields given the schema default (else Kafka's zero)."""
    kwargs = {}
    for name, convert, default in _plan(entity_type):
        if name in values:
            kwargs[name] = convert(values[name])
        else:
            kwargs[name] = default
    return entity_type(**kwargs)
