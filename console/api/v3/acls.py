"""ACLs in Confluent's REST v3 shape: search (GET with a filter in the query), create one (POST),
create several (POST acls:batch), delete what a filter matches (DELETE, answering the deleted
ones). The ACLs are brokercore's, the same the Kafka listener's DescribeAcls/CreateAcls/DeleteAcls
list and change, with Kafka's rules: listing needs DESCRIBE on the cluster, changing ALTER on it.

Enum values are Kafka's names (TOPIC, PREFIXED, READ, ALLOW ...), accepted in any case; a filter
field left out or empty matches everything (ANY), as in Confluent's proxy.
"""

from enum import IntEnum
from typing import Literal, TypeVar
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from ninja import Query, Schema, Status

from brokercore.errors import BrokerError
from brokercore.security.acl import (
    AclBinding,
    AclFilter,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    acl_binding_validate,
    acl_order,
    acls_create,
    acls_delete,
    acls_describe,
)
from console.api import access
from console.api.errors import BAD_REQUEST, RestError, rest_error
from console.api.v3.shared import Resource, cluster_check, list_out, list_schema, route, url

E = TypeVar("E", bound=IntEnum)

ResourceTypeName = Literal[tuple(t.name for t in ResourceType)]
PatternTypeName = Literal[tuple(t.name for t in PatternType)]
OperationName = Literal[tuple(t.name for t in Operation)]
PermissionName = Literal[tuple(t.name for t in Permission)]


class AclOut(Resource):
    kind: Literal["KafkaAcl"]
    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str


AclList = list_schema("AclList", "KafkaAclList", AclOut)


class AclsDeletedOut(Schema):
    data: list[AclOut]


class AclIn(Schema):
    resource_type: ResourceTypeName
    resource_name: str
    pattern_type: PatternTypeName
    principal: str
    host: str
    operation: OperationName
    permission: PermissionName


class AclFilterIn(Schema):
    """A search or delete filter, in the query string (names parsed by `_filter`, so a bad one is
    400 naming the valid ones, as Confluent's proxy answers)."""

    resource_type: str | None = None
    resource_name: str | None = None
    pattern_type: str | None = None
    principal: str | None = None
    host: str | None = None
    operation: str | None = None
    permission: str | None = None


class AclBatchIn(Schema):
    data: list[AclIn]


def _enum(cls: type[E], field: str, value: str | None) -> E:
    """A query parameter as `cls` (any case; absent or empty: ANY); 400 for an unknown name."""
    if not value:
        return cls["ANY"]
    try:
        return cls[value.upper()]
    except KeyError:
        names = ", ".join(m.name for m in cls if m.name != "UNKNOWN")
        raise RestError(BAD_REQUEST, f"{field} must be one of {names}; got {value!r}.") from None


def _filter(q: AclFilterIn) -> AclFilter:
    return AclFilter(
        _enum(ResourceType, "resource_type", q.resource_type), q.resource_name or None,
        _enum(PatternType, "pattern_type", q.pattern_type), q.principal or None, q.host or None,
        _enum(Operation, "operation", q.operation), _enum(Permission, "permission", q.permission),
    )


def _query(**fields: str) -> str:
    return "?" + urlencode(fields)


def _acl_url(request: HttpRequest, cid: str, b: AclBinding) -> str:
    """An ACL's address: the search that finds exactly it (Confluent's metadata.self)."""
    return url(request, cid, "acls") + _query(
        resource_type=b.resource_type.name, resource_name=b.resource_name, pattern_type=b.pattern_type.name,
        principal=b.principal, host=b.host, operation=b.operation.name, permission=b.permission.name,
    )


def _acl_out(request: HttpRequest, cid: str, b: AclBinding) -> dict:
    return {
        "kind": "KafkaAcl",
        "metadata": {"self": _acl_url(request, cid, b), "resource_name": None},
        "cluster_id": cid,
        "resource_type": b.resource_type.name,
        "resource_name": b.resource_name,
        "pattern_type": b.pattern_type.name,
        "principal": b.principal,
        "host": b.host,
        "operation": b.operation.name,
        "permission": b.permission.name,
    }


def _sorted(bindings: list[AclBinding]) -> list[AclBinding]:
    return sorted(bindings, key=acl_order)


def _binding(a: AclIn) -> AclBinding:
    """A creation, refused as Confluent's proxy does (400) when a field is a filter-only value,
    then as Kafka does (acl_binding_validate: 40001) when it cannot be an ACL."""
    for field, value, refused in (("resource_type", a.resource_type, ("ANY", "UNKNOWN")),
                                  ("pattern_type", a.pattern_type, ("ANY", "MATCH", "UNKNOWN")),
                                  ("operation", a.operation, ("ANY", "UNKNOWN")),
                                  ("permission", a.permission, ("ANY", "UNKNOWN"))):
        if value in refused:
            raise RestError(BAD_REQUEST, f"{field} cannot be {value}.")
    b = AclBinding(ResourceType[a.resource_type], a.resource_name, PatternType[a.pattern_type], a.principal, a.host,
                   Operation[a.operation], Permission[a.permission])
    try:
        acl_binding_validate(b)
    except BrokerError as e:
        raise rest_error(e) from None
    return b


def _created(bindings: list[AclBinding]) -> None:
    for error in acls_create(bindings=bindings):
        if error is not None:
            raise rest_error(error)


_ALTER = access.cluster_auth(Operation.ALTER)
_FILTER_DOC = (
    "Query parameters resource_type, resource_name, pattern_type (ANY, MATCH, LITERAL, PREFIXED), principal, "
    "host, operation and permission filter as Kafka's AclBindingFilter: left out or empty, they match everything."
)


@route("GET", "/clusters/{cluster_id}/acls", AclList, summary="Search ACLs", errors=(400, 403),
       description="Needs DESCRIBE on the cluster. " + _FILTER_DOC)
def acls_search(request: HttpRequest, cluster_id: str, query: Query[AclFilterIn]) -> dict:
    cid = cluster_check(cluster_id)
    access.require_cluster(request, Operation.DESCRIBE)
    acl_filter = _filter(query)
    out = list_out("KafkaAclList", request, [_acl_out(request, cid, b) for b in _sorted(acls_describe(acl_filter))])
    out["metadata"]["self"] = url(request, cid, "acls") + _query(
        resource_type=acl_filter.resource_type.name, resource_name=query.resource_name or "",
        pattern_type=acl_filter.pattern_type.name, principal=query.principal or "", host=query.host or "",
        operation=acl_filter.operation.name, permission=acl_filter.permission.name,
    )
    return out


@route("POST", "/clusters/{cluster_id}/acls", {201: None}, summary="Create an ACL", errors=(400, 403), auth=_ALTER,
       description="Needs ALTER on the cluster. Answers 201 with the ACL's address in Location (creating an ACL "
                   "that exists changes nothing).")
def acl_create(request: HttpRequest, cluster_id: str, payload: AclIn) -> HttpResponse:
    cid = cluster_check(cluster_id)
    b = _binding(payload)
    _created([b])
    response = HttpResponse(status=201)
    response["Location"] = _acl_url(request, cid, b)
    return response


@route("POST", "/clusters/{cluster_id}/acls:batch", {204: None}, summary="Create several ACLs", errors=(400, 403),
       auth=_ALTER, description="Needs ALTER on the cluster. All or nothing: one invalid ACL and none is created.")
def acls_create_batch(request: HttpRequest, cluster_id: str, payload: AclBatchIn) -> Status:
    cluster_check(cluster_id)
    if not payload.data:
        raise RestError(BAD_REQUEST, "data must hold at least one ACL.")
    _created([_binding(a) for a in payload.data])
    return Status(204, None)


@route("DELETE", "/clusters/{cluster_id}/acls", AclsDeletedOut, summary="Delete the ACLs a filter matches",
       errors=(400, 403), auth=_ALTER,
       description="Needs ALTER on the cluster. Answers the ACLs deleted. " + _FILTER_DOC)
def acls_delete_matching(request: HttpRequest, cluster_id: str, query: Query[AclFilterIn]) -> dict:
    cid = cluster_check(cluster_id)
    acl_filter = _filter(query)
    (result,) = acls_delete(filters=[acl_filter])
    if isinstance(result, BrokerError):
        raise rest_error(result)
    return {"data": [_acl_out(request, cid, b) for b in _sorted(result)]}
