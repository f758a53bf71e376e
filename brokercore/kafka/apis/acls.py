"""DescribeAcls, CreateAcls and DeleteAcls: Kafka admin clients (`kafka-acls`, AdminClient's
describeAcls/createAcls/deleteAcls) reading and changing brokercore's ACLs.

As Kafka's AclApis: listing needs DESCRIBE on the cluster (else the whole answer is
CLUSTER_AUTHORIZATION_FAILED), changing needs ALTER on it (else every creation or filter is);
each creation and each filter is answered on its own, an invalid one INVALID_REQUEST. v0 knows
only literal resource names (its pattern type is LITERAL).
"""

from collections.abc import Sequence

from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.errors import BrokerError, ClusterAuthorizationFailed
from brokercore.kafka.apis.registry import RequestContext, api, error_code
from brokercore.security.acl import (
    CLUSTER_NAME,
    AclBinding,
    AclFilter,
    Operation,
    PatternType,
    Requester,
    ResourceType,
    acls_create,
    acls_delete,
    acls_describe,
)

DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31


def _filter(f: Entity) -> AclFilter:
    """A DescribeAcls request or a DeleteAcls filter (v0 has no pattern type: LITERAL)."""
    return AclFilter.of(
        resource_type=f.resource_type_filter, resource_name=f.resource_name_filter,
        pattern_type=getattr(f, "pattern_type_filter", PatternType.LITERAL), principal=f.principal_filter,
        host=f.host_filter, operation=f.operation, permission=f.permission_type,
    )


def _cluster_refusal(requester: Requester, operation: Operation) -> ClusterAuthorizationFailed | None:
    if requester.may(operation, ResourceType.CLUSTER, CLUSTER_NAME):
        return None
    return ClusterAuthorizationFailed(requester.refusal(operation, ResourceType.CLUSTER, CLUSTER_NAME))


def describe_acls_answer(request: Entity, requester: Requester) -> dict:
    """DescribeAcls' fields: the matching ACLs grouped by resource pattern, or the error."""
    try:
        refused = _cluster_refusal(requester, Operation.DESCRIBE)
        if refused is not None:
            raise refused
        bindings = acls_describe(_filter(request))
    except BrokerError as e:
        return {"error_code": error_code(e), "error_message": str(e), "resources": []}
    resources: dict[tuple[int, str, int], list[dict]] = {}
    for b in bindings:
        resources.setdefault((b.resource_type, b.resource_name, b.pattern_type), []).append(
            {"principal": b.principal, "host": b.host, "operation": b.operation, "permission_type": b.permission})
    return {"error_code": 0, "error_message": None, "resources": [
        {"resource_type": rt, "resource_name": name, "pattern_type": pt, "acls": acls}
        for (rt, name, pt), acls in resources.items()
    ]}


@api(DESCRIBE_ACLS, versions=(0, 3))
async def describe_acls(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(**await ctx.run_sync(describe_acls_answer, request, ctx.requester))


def create_acls_answer(creations: Sequence[Entity], requester: Requester) -> list[dict]:
    refused = _cluster_refusal(requester, Operation.ALTER)
    if refused is not None:
        return [{"error_code": refused.code, "error_message": str(refused)} for _ in creations]
    bindings = [
        AclBinding.of(resource_type=c.resource_type, resource_name=c.resource_name,
                      pattern_type=getattr(c, "resource_pattern_type", PatternType.LITERAL), principal=c.principal,
                      host=c.host, operation=c.operation, permission=c.permission_type)
        for c in creations
    ]
    return [{"error_code": 0, "error_message": None} if e is None else {"error_code": error_code(e), "error_message": str(e)}
            for e in acls_create(bindings=bindings)]


@api(CREATE_ACLS, versions=(0, 3))
async def create_acls(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(results=await ctx.run_sync(create_acls_answer, request.creations, ctx.requester))


def _deleted(b: AclBinding) -> dict:
    return {"error_code": 0, "error_message": None, "resource_type": b.resource_type, "resource_name": b.resource_name,
            "pattern_type": b.pattern_type, "principal": b.principal, "host": b.host, "operation": b.operation,
            "permission_type": b.permission}


def delete_acls_answer(filters: Sequence[Entity], requester: Requester) -> list[dict]:
    refused = _cluster_refusal(requester, Operation.ALTER)
    if refused is not None:
        return [{"error_code": refused.code, "error_message": str(refused), "matching_acls": []} for _ in filters]
    out = []
    for result in acls_delete(filters=[_filter(f) for f in filters]):
        if isinstance(result, BrokerError):
            out.append({"error_code": error_code(result), "error_message": str(result), "matching_acls": []})
        else:
            out.append({"error_code": 0, "error_message": None, "matching_acls": [_deleted(b) for b in result]})
    return out


@api(DELETE_ACLS, versions=(0, 3))
async def delete_acls(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    return ctx.response(filter_results=await ctx.run_sync(delete_acls_answer, request.filters, ctx.requester))
