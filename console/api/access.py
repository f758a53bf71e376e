"""Who may do what over REST: every route asks brokercore's one authorizer with the operation its
Kafka API equivalent needs (produce: WRITE on the topic, consume: READ, reads of a topic:
DESCRIBE, create/delete/grow: CREATE/DELETE/ALTER, configs: DESCRIBE_CONFIGS/ALTER_CONFIGS, groups:
READ/DESCRIBE, the cluster: DESCRIBE/ALTER), so a user has the same rights here as on the Kafka
listener (docs/API.md lists them per route).

A refusal is 403 with 40301 and the authorizer's message, as Confluent's proxy answers Kafka's
authorization exceptions. Like Kafka, a named topic or group one may not DESCRIBE is refused
whether it exists or not, so a refusal tells nothing about existence; lists leave such topics
and groups out.
"""

import inspect
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.http import HttpRequest

from brokercore.security.acl import CLUSTER_NAME, Operation, Requester, ResourceType, operations_from_bits
from console.api.auth import AUTH, Auth, Caller
from console.api.errors import FORBIDDEN, RestError
from console.principals import requester

T = TypeVar("T")
# A check that may refuse a caller before the body is parsed: (request, caller, path parameters).
EarlyCheck = Callable[[HttpRequest, Caller, dict[str, str]], None]


def refused(r: Requester, operation: Operation, resource_type: ResourceType, name: str) -> RestError:
    return RestError(FORBIDDEN, r.refusal(operation, resource_type, name))


def require(request: HttpRequest, operation: Operation, resource_type: ResourceType, name: str) -> None:
    """40301 unless the caller may perform `operation` on the resource."""
    r = requester(request)
    if not r.may(operation, resource_type, name):
        raise refused(r, operation, resource_type, name)


def require_topic(request: HttpRequest, operation: Operation, name: str) -> None:
    require(request, operation, ResourceType.TOPIC, name)


def require_topics(request: HttpRequest, operation: Operation, names: Iterable[str]) -> None:
    for name in sorted(set(names)):
        require_topic(request, operation, name)


def require_group(request: HttpRequest, operation: Operation, group_id: str) -> None:
    require(request, operation, ResourceType.GROUP, group_id)


def require_cluster(request: HttpRequest, operation: Operation) -> None:
    require(request, operation, ResourceType.CLUSTER, CLUSTER_NAME)


def may_topic(request: HttpRequest, operation: Operation, name: str) -> bool:
    return requester(request).may(operation, ResourceType.TOPIC, name)


def visible_topics(request: HttpRequest, items: Iterable[T], name: Callable[[T], str] = str) -> list[T]:
    """The items whose topic the caller may DESCRIBE (Kafka's Metadata leaves the others out)."""
    r = requester(request)
    return [i for i in items if r.may(Operation.DESCRIBE, ResourceType.TOPIC, name(i))]


def visible_groups(request: HttpRequest, items: Iterable[T], group_id: Callable[[T], str]) -> list[T]:
    """Kafka's ListGroups: every group for who may DESCRIBE the cluster, else those one may DESCRIBE."""
    r = requester(request)
    items = list(items)
    if r.may(Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return items
    return [i for i in items if r.may(Operation.DESCRIBE, ResourceType.GROUP, group_id(i))]


def topic_operations(request: HttpRequest, name: str) -> list[str]:
    """The operations the caller may perform on the topic, by Kafka's names (v3's
    authorized_operations)."""
    return [op.name for op in operations_from_bits(requester(request).operations(ResourceType.TOPIC, name))]


# --- Refusing before the body is read ------------------------------------------------------------


def _checked(auth: Auth, check: EarlyCheck) -> Auth:
    """`auth` that then runs `check`. As an operation's auth it runs before ninja parses the body,
    so a caller who may not change something learns only that (403), never what was wrong with a
    body they may not send (422)."""

    def after(request: HttpRequest, user: Caller | None) -> Caller | None:
        if user is not None:
            match = getattr(request, "resolver_match", None)
            check(request, user, dict(match.kwargs) if match else {})
        return user

    if inspect.isfunction(auth):
        return lambda request: after(request, auth(request))

    class Checked(type(auth)):
        def __call__(self, request: HttpRequest) -> Caller | None:
            return after(request, super().__call__(request))

    # The OpenAPI document names security schemes by class: the same scheme, not a new one.
    Checked.__name__ = Checked.__qualname__ = type(auth).__name__
    return Checked()


def auth_requiring(check: EarlyCheck) -> list[Auth]:
    """Every way of authenticating, each followed by `check`."""
    return [_checked(a, check) for a in AUTH]


def topic_auth(operation: Operation) -> list[Auth]:
    """Authentication, then `operation` on the path's {topic_name}."""

    def check(request: HttpRequest, user: Caller, path: dict[str, str]) -> None:
        r = requester(request, user)
        name = path.get("topic_name", "")
        if not r.may(operation, ResourceType.TOPIC, name):
            raise refused(r, operation, ResourceType.TOPIC, name)

    return auth_requiring(check)


def cluster_auth(operation: Operation) -> list[Auth]:
    """Authentication, then `operation` on the cluster."""

    def check(request: HttpRequest, user: Caller, path: dict[str, str]) -> None:
        r = requester(request, user)
        if not r.may(operation, ResourceType.CLUSTER, CLUSTER_NAME):
            raise refused(r, operation, ResourceType.CLUSTER, CLUSTER_NAME)

    return auth_requiring(check)


def may_create_topic(r: Requester, name: str | None) -> bool:
    """Kafka's CreateTopics: CREATE on the cluster, or on the topic (None: on some topic, which
    is all that can be known before the body is read)."""
    if r.may(Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME):
        return True
    if name is None:
        return r.may_any(Operation.CREATE, ResourceType.TOPIC)
    return r.may(Operation.CREATE, ResourceType.TOPIC, name)


def _create_check(request: HttpRequest, user: Caller, path: dict[str, str]) -> None:
    r = requester(request, user)
    if not may_create_topic(r, None):
        raise refused(r, Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)


CREATE_TOPIC_AUTH: list[Auth] = auth_requiring(_create_check)
