"""Brokers (the live server processes), the partition replicas each holds, and broker configs.

Broker configs (per broker, and cluster-wide under /broker-configs) are the settings server
processes start with (settings.BROKER, read-only) and the broker configs topics default from,
which AlterConfigs may change per broker or cluster-wide: the same entries and the same service as
the Kafka listener's DescribeConfigs and IncrementalAlterConfigs.
"""

from typing import Literal

from django.http import HttpRequest
from ninja import Status

from brokercore.cluster import read as cluster_read
from brokercore.cluster.read import BrokerView, broker_configs, cluster_configs
from brokercore.configdef import ConfigEntry
from brokercore.security.acl import Operation
from brokercore.topics.configs import DELETE, SET, ConfigOp, broker_config_entries
from brokercore.topics.service import broker_configs_alter
from console.api import access
from console.api.errors import BROKER_NOT_FOUND, CONFIG_NOT_FOUND, RestError
from console.api.v3.configs import ConfigsAlterIn, ConfigUpdateIn, config_ops, config_out, config_schema
from console.api.v3.partitions import ReplicaList, replica_out
from console.api.v3.shared import Related, Resource, cluster_check, list_out, list_schema, related, resource, route


class BrokerOut(Resource):
    kind: Literal["KafkaBroker"]
    broker_id: int
    host: str | None
    port: int | None
    rack: str | None
    configs: Related
    partition_replicas: Related


BrokerList = list_schema("BrokerList", "KafkaBrokerList", BrokerOut)
BrokerConfigOut = config_schema("BrokerConfigOut", "KafkaBrokerConfig", broker_id=(int, ...))
BrokerConfigList = list_schema("BrokerConfigList", "KafkaBrokerConfigList", BrokerConfigOut)
ClusterConfigOut = config_schema("ClusterConfigOut", "KafkaClusterConfig", config_type=(Literal["BROKER"], ...))
ClusterConfigList = list_schema("ClusterConfigList", "KafkaClusterConfigList", ClusterConfigOut)


def broker_check(broker_id: int) -> BrokerView:
    """The broker, or 40407."""
    b = cluster_read.broker_get(broker_id)
    if b is None:
        raise RestError(BROKER_NOT_FOUND, f"Broker {broker_id} not found.")
    return b


def _broker_out(request: HttpRequest, cid: str, b: BrokerView) -> dict:
    base = ("brokers", b.node_id)
    return resource(
        request, "KafkaBroker", cid, base, (("broker", b.node_id),),
        broker_id=b.node_id,
        host=b.host,
        port=b.port,
        rack=b.rack or None,
        configs=related(request, cid, *base, "configs"),
        partition_replicas=related(request, cid, *base, "partition-replicas"),
    )


@route("GET", "/clusters/{cluster_id}/brokers", BrokerList, summary="List brokers")
def brokers_list(request: HttpRequest, cluster_id: str) -> dict:
    cid = cluster_check(cluster_id)
    return list_out("KafkaBrokerList", request, [_broker_out(request, cid, b) for b in cluster_read.brokers_list()])


@route("GET", "/clusters/{cluster_id}/brokers/{broker_id}", BrokerOut, summary="Get a broker")
def broker_get(request: HttpRequest, cluster_id: str, broker_id: int) -> dict:
    cid = cluster_check(cluster_id)
    return _broker_out(request, cid, broker_check(broker_id))


@route(
    "GET", "/clusters/{cluster_id}/brokers/{broker_id}/partition-replicas", ReplicaList,
    summary="List the partition replicas a broker holds",
)
def broker_replicas_list(request: HttpRequest, cluster_id: str, broker_id: int) -> dict:
    cid = cluster_check(cluster_id)
    broker_check(broker_id)
    replicas = access.visible_topics(request, cluster_read.broker_replicas(broker_id), lambda tp: tp[0])
    data = [replica_out(request, cid, topic, p, broker_id) for topic, p in replicas]
    return list_out("KafkaReplicaList", request, data)


def _broker_entry(entries: list[ConfigEntry], name: str) -> ConfigEntry:
    for e in entries:
        if e.name == name:
            return e
    raise RestError(CONFIG_NOT_FOUND, f"Config '{name}' not found; broker configs are: {', '.join(e.name for e in entries)}.")


def _broker_entries(broker_id: int) -> list[ConfigEntry]:
    b = broker_check(broker_id)
    return broker_config_entries(broker_configs(node_id=b.node_id, host=b.host or "", port=b.port or 0), node_id=b.node_id)


def _cluster_entries() -> list[ConfigEntry]:
    return broker_config_entries(cluster_configs(), node_id=None)


def _broker_config_out(request: HttpRequest, cid: str, broker_id: int, e: ConfigEntry) -> dict:
    return config_out(
        request, "KafkaBrokerConfig", cid, e, ("brokers", broker_id, "configs", e.name),
        (("broker", broker_id), ("config", e.name)), broker_id=broker_id,
    )


def _cluster_config_out(request: HttpRequest, cid: str, e: ConfigEntry) -> dict:
    return config_out(
        request, "KafkaClusterConfig", cid, e, ("broker-configs", e.name), (("broker-config", e.name),),
        config_type="BROKER",
    )


@route(
    "GET", "/clusters/{cluster_id}/brokers/{broker_id}/configs", BrokerConfigList,
    summary="List a broker's configs",
)
def broker_configs_list(request: HttpRequest, cluster_id: str, broker_id: int) -> dict:
    cid = cluster_check(cluster_id)
    access.require_cluster(request, Operation.DESCRIBE_CONFIGS)
    data = [_broker_config_out(request, cid, broker_id, e) for e in _broker_entries(broker_id)]
    return list_out("KafkaBrokerConfigList", request, data)


@route("GET", "/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}", BrokerConfigOut, summary="Get a broker config")
def broker_config_get(request: HttpRequest, cluster_id: str, broker_id: int, name: str) -> dict:
    cid = cluster_check(cluster_id)
    access.require_cluster(request, Operation.DESCRIBE_CONFIGS)
    return _broker_config_out(request, cid, broker_id, _broker_entry(_broker_entries(broker_id), name))


@route(
    "GET", "/clusters/{cluster_id}/broker-configs", ClusterConfigList,
    summary="List the cluster-wide broker configs",
)
def cluster_configs_list(request: HttpRequest, cluster_id: str) -> dict:
    cid = cluster_check(cluster_id)
    access.require_cluster(request, Operation.DESCRIBE_CONFIGS)
    data = [_cluster_config_out(request, cid, e) for e in _cluster_entries()]
    return list_out("KafkaClusterConfigList", request, data)


@route("GET", "/clusters/{cluster_id}/broker-configs/{name}", ClusterConfigOut, summary="Get a cluster-wide broker config")
def cluster_config_get(request: HttpRequest, cluster_id: str, name: str) -> dict:
    cid = cluster_check(cluster_id)
    access.require_cluster(request, Operation.DESCRIBE_CONFIGS)
    return _cluster_config_out(request, cid, _broker_entry(_cluster_entries(), name))


# --- Changing them (Kafka's IncrementalAlterConfigs on a BROKER resource) -----------------------


def _broker_alter(node_id: int | None, ops: list[ConfigOp], validate_only: bool = False) -> Status:
    broker_configs_alter(node_id=node_id, ops=ops, validate_only=validate_only)
    return Status(204, None)


# A BROKER config resource is the cluster's, for Kafka's authorizer: ALTER_CONFIGS on the cluster.
_WRITE = {"errors": (400, 403, 404), "auth": access.cluster_auth(Operation.ALTER_CONFIGS)}


@route("PUT", "/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}", {204: None}, summary="Set a broker config", **_WRITE)
def broker_config_update(request: HttpRequest, cluster_id: str, broker_id: int, name: str, payload: ConfigUpdateIn) -> Status:
    cluster_check(cluster_id)
    broker_check(broker_id)
    return _broker_alter(broker_id, [ConfigOp(name, SET, None if payload.value is None else str(payload.value))])


@route("DELETE", "/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}", {204: None}, summary="Reset a broker config", **_WRITE)
def broker_config_reset(request: HttpRequest, cluster_id: str, broker_id: int, name: str) -> Status:
    cluster_check(cluster_id)
    broker_check(broker_id)
    return _broker_alter(broker_id, [ConfigOp(name, DELETE)])


@route("POST", "/clusters/{cluster_id}/brokers/{broker_id}/configs:alter", {204: None}, summary="Change several broker configs", **_WRITE)
def broker_configs_batch(request: HttpRequest, cluster_id: str, broker_id: int, payload: ConfigsAlterIn) -> Status:
    cluster_check(cluster_id)
    broker_check(broker_id)
    return _broker_alter(broker_id, config_ops(payload), payload.validate_only)


@route("PUT", "/clusters/{cluster_id}/broker-configs/{name}", {204: None}, summary="Set a cluster-wide broker config", **_WRITE)
def cluster_config_update(request: HttpRequest, cluster_id: str, name: str, payload: ConfigUpdateIn) -> Status:
    cluster_check(cluster_id)
    return _broker_alter(None, [ConfigOp(name, SET, None if payload.value is None else str(payload.value))])


@route("DELETE", "/clusters/{cluster_id}/broker-configs/{name}", {204: None}, summary="Reset a cluster-wide broker config", **_WRITE)
def cluster_config_reset(request: HttpRequest, cluster_id: str, name: str) -> Status:
    cluster_check(cluster_id)
    return _broker_alter(None, [ConfigOp(name, DELETE)])


@route("POST", "/clusters/{cluster_id}/broker-configs:alter", {204: None}, summary="Change several cluster-wide broker configs", **_WRITE)
def cluster_configs_batch(request: HttpRequest, cluster_id: str, payload: ConfigsAlterIn) -> Status:
    cluster_check(cluster_id)
    return _broker_alter(None, config_ops(payload), payload.validate_only)
