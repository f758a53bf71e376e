"""AlterConfigs and IncrementalAlterConfigs: Kafka admin clients changing topic and broker
configs through brokercore's config services (the same checks as the console's and REST's).

Each resource is answered on its own, in request order, as Kafka's ConfigAdminManager does: a
resource named twice is INVALID_REQUEST for every copy; a principal that may not alter it gets
TOPIC_AUTHORIZATION_FAILED (a topic) or CLUSTER_AUTHORIZATION_FAILED (a broker) and nothing is
written; a BROKER resource is "" (the cluster-wide default) or this node's id.
"""

from collections.abc import Callable, Sequence

from kio.static.protocol import Entity, RequestPayload, ResponsePayload

from brokercore.errors import BrokerError, InvalidRequest
from brokercore.kafka.apis.meta import BROKER, TOPIC, authorization_failed, broker_resource_id
from brokercore.kafka.apis.registry import Node, RequestContext, api, error_code
from brokercore.security.acl import Operation, Requester
from brokercore.topics.configs import ConfigOp
from brokercore.topics.rules import topic_name_validate
from brokercore.topics.service import (
    broker_configs_alter,
    topic_configs_alter,
    topic_configs_replace,
)

# (the resource as sent, its node id for a BROKER: None for "") -> None, raising BrokerError.
Change = Callable[[Entity, int | None], None]


def _broker_node(name: str, node: Node) -> int | None:
    if name == "":
        return None
    node_id = broker_resource_id(name)
    if node_id != node.node_id:
        # ConfigAdminManager.validateResourceNameIsCurrentNodeId: a broker changes only its own.
        raise InvalidRequest(f"Unexpected broker id, expected {node.node_id}, but received {name}")
    return node_id


def alter_answer(resources: Sequence[Entity], change: Change, *, node: Node, requester: Requester) -> list[dict]:
    """One result per resource, in request order; `change` performs one resource's change."""
    counts: dict[tuple[int, str], int] = {}
    for r in resources:
        counts[(r.resource_type, r.resource_name)] = counts.get((r.resource_type, r.resource_name), 0) + 1
    out = []
    for r in resources:
        result = {"resource_type": r.resource_type, "resource_name": r.resource_name, "error_code": 0, "error_message": None}
        try:
            if counts[(r.resource_type, r.resource_name)] > 1:
                raise InvalidRequest("Each resource must appear at most once.")
            if r.resource_type not in (TOPIC, BROKER):
                raise InvalidRequest(f"Unknown resource type {r.resource_type}")
            authorization_failed(requester, Operation.ALTER_CONFIGS, r.resource_type, r.resource_name)
            if r.resource_type == TOPIC:
                if r.resource_name == "":
                    raise InvalidRequest("Default topic resources are not allowed.")
                topic_name_validate(r.resource_name)
                change(r, None)
            else:
                change(r, _broker_node(r.resource_name, node))
        except BrokerError as e:
            result.update(error_code=error_code(e), error_message=str(e))
        out.append(result)
    return out


def incremental_change(validate_only: bool) -> Change:
    """IncrementalAlterConfigs' change of one resource: its SET/DELETE/APPEND/SUBTRACT operations."""

    def change(r: Entity, node_id: int | None) -> None:
        ops = [ConfigOp(c.name, c.config_operation, c.value) for c in r.configs]
        if r.resource_type == TOPIC:
            topic_configs_alter(name=r.resource_name, ops=ops, validate_only=validate_only)
        else:
            broker_configs_alter(node_id=node_id, ops=ops, validate_only=validate_only)

    return change


def replace_change(validate_only: bool) -> Change:
    """AlterConfigs' change of one resource: its configs become the whole set of overrides."""

    def change(r: Entity, node_id: int | None) -> None:
        names = [c.name for c in r.configs]
        if len(set(names)) != len(names):
            raise InvalidRequest("Error due to duplicate config keys")
        nulls = [c.name for c in r.configs if c.value is None]
        if nulls:
            raise InvalidRequest("Null value not supported for : " + ", ".join(nulls))
        configs = {c.name: c.value for c in r.configs}
        if r.resource_type == TOPIC:
            topic_configs_replace(name=r.resource_name, configs=configs, validate_only=validate_only)
        else:
            broker_configs_alter(node_id=node_id, replace=configs, validate_only=validate_only)

    return change


@api(33, versions=(0, 2))
async def alter_configs(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    responses = await ctx.run_sync(
        alter_answer, request.resources, replace_change(request.validate_only), node=ctx.node, requester=ctx.requester
    )
    return ctx.response(responses=responses)


@api(44, versions=(0, 1))
async def incremental_alter_configs(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    responses = await ctx.run_sync(
        alter_answer, request.resources, incremental_change(request.validate_only), node=ctx.node,
        requester=ctx.requester,
    )
    return ctx.response(responses=responses)
