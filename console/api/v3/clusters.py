"""The cluster this proxy serves (one), with links to everything in it."""

from typing import Literal

from django.http import HttpRequest

from brokercore.cluster import read as cluster_read
from console.api.v3.shared import Related, Resource, cluster_check, list_out, list_schema, related, resource, route


class ClusterOut(Resource):
    kind: Literal["KafkaCluster"]
    controller: Related | None
    acls: Related
    brokers: Related
    broker_configs: Related
    consumer_groups: Related
    topics: Related
    partition_reassignments: Related


ClusterList = list_schema("ClusterList", "KafkaClusterList", ClusterOut)


def _cluster_out(request: HttpRequest, cid: str) -> dict:
    return resource(
        request, "KafkaCluster", cid,
        controller=related(request, cid, "brokers", cluster_read.brokers_live_ids()[0]),
        acls=related(request, cid, "acls"),
        brokers=related(request, cid, "brokers"),
        broker_configs=related(request, cid, "broker-configs"),
        consumer_groups=related(request, cid, "consumer-groups"),
        topics=related(request, cid, "topics"),
        partition_reassignments=related(request, cid, "topics", "-", "partitions", "-", "reassignment"),
    )


@route("GET", "/clusters", ClusterList, summary="List clusters (this proxy serves one)")
def clusters_list(request: HttpRequest) -> dict:
    return list_out("KafkaClusterList", request, [_cluster_out(request, cluster_read.cluster_id())])


@route("GET", "/clusters/{cluster_id}", ClusterOut, summary="Get the cluster")
def cluster_get(request: HttpRequest, cluster_id: str) -> dict:
    return _cluster_out(request, cluster_check(cluster_id))
