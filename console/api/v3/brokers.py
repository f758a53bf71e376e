"""Brokers (the live server processes), the partition replicas each holds, and broker configs.

Broker configs (per broker, and cluster-wide under /broker-configs) are read-only: they are the
settings server processes start with (settings.BROKER), the same table the Kafka listener's
DescribeConfigs answers, from the same static_config_entries.
"""

from typing import Literal

from django.http import HttpRequest

from brokercore.cluster import read as cluster_read
from brokercore.cluster.read import BrokerView, broker_configs, cluster_configs
from brokercore.topics.rules import ConfigEntry, static_config_entries
from console.api.errors import BROKER_NOT_FOUND, CONFIG_NOT_FOUND, RestError
from console.api.v3.configs import config_out, config_schema
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
    data = [replica_out(request, cid, topic, p, broker_id) for topic, p in cluster_read.broker_replicas(broker_id)]
    return list_out("KafkaReplicaList", request, data)


def _broker_entry(entries: list[ConfigEntry], name: str) -> ConfigEntry:
    for e in entries:
        if e.name == name:
            return e
    raise RestError(CONFIG_NOT_FOUND, f"Config '{name}' not found; broker configs are: {', '.join(e.name for e in entries)}.")


def _broker_entries(broker_id: int) -> list[ConfigEntry]:
    b = broker_check(broker_id)
    return static_config_entries(broker_configs(node_id=b.node_id, host=b.host or "", port=b.port or 0))


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
    summary="List a broker's configs (read-only)",
)
def broker_configs_list(request: HttpRequest, cluster_id: str, broker_id: int) -> dict:
    cid = cluster_check(cluster_id)
    data = [_broker_config_out(request, cid, broker_id, e) for e in _broker_entries(broker_id)]
    return list_out("KafkaBrokerConfigList", request, data)


@route("GET", "/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}", BrokerConfigOut, summary="Get a broker config")
def broker_config_get(request: HttpRequest, cluster_id: str, broker_id: int, name: str) -> dict:
    cid = cluster_check(cluster_id)
    return _broker_config_out(request, cid, broker_id, _broker_entry(_broker_entries(broker_id), name))


@route(
    "GET", "/clusters/{cluster_id}/broker-configs", ClusterConfigList,
    summary="List the cluster-wide broker configs (read-only)",
)
def cluster_configs_list(request: HttpRequest, cluster_id: str) -> dict:
    cid = cluster_check(cluster_id)
    data = [_cluster_config_out(request, cid, e) for e in static_config_entries(cluster_configs())]
    return list_out("KafkaClusterConfigList", request, data)


@route("GET", "/clusters/{cluster_id}/broker-configs/{name}", ClusterConfigOut, summary="Get a cluster-wide broker config")
def cluster_config_get(request: HttpRequest, cluster_id: str, name: str) -> dict:
    cid = cluster_check(cluster_id)
    return _cluster_config_out(request, cid, _broker_entry(static_config_entries(cluster_configs()), name))
