"""DescribeLogDirs: where a node keeps its partitions and how large each one is
(`kafka-log-dirs --describe`, AdminClient describe_log_dirs / describeReplicaLogDirs).

Every node serves the one copy in the database, so each describes one log directory (the
database) holding the partitions Metadata places on it; their sizes are the bytes of their
records. No replica lags (offset_lag 0) and none is moving (is_future_key false).
"""

from kio.static.protocol import RequestPayload, ResponsePayload

from brokercore.errors import ClusterAuthorizationFailed
from brokercore.kafka.apis.meta import cluster_view
from brokercore.kafka.apis.registry import Node, RequestContext, api
from brokercore.log.read import log_dir_describe
from brokercore.security.acl import CLUSTER_NAME, Operation, ResourceType

DESCRIBE_LOG_DIRS = 35


def log_dirs_answer(node: Node, topics: list[tuple[str, list[int]]] | None) -> dict:
    """This node's one log directory, with the partitions of `topics` it holds (all when None)."""
    log_dir = log_dir_describe(topics=None if topics is None else [t for t, _ in topics])
    view = cluster_view(node)
    asked = None if topics is None else {t: set(indexes) for t, indexes in topics}
    out = []
    for name, partitions in log_dir.partitions.items():
        held = [
            {"partition_index": index, "partition_size": size, "offset_lag": 0, "is_future_key": False}
            for index, size in partitions
            if (asked is None or index in asked[name])
            and node.node_id in view.replicas(name, index, log_dir.replication_factors[name]).replicas
        ]
        if held:
            out.append({"name": name, "partitions": held})
    return {"error_code": 0, "log_dir": log_dir.path, "topics": out,
            "total_bytes": log_dir.total_bytes, "usable_bytes": log_dir.usable_bytes}


@api(DESCRIBE_LOG_DIRS, versions=(0, 4))
async def describe_log_dirs(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    requester = ctx.requester
    if not await ctx.run_sync(requester.may, Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        # Kafka answers no directories, and (v3 on) says why.
        return ctx.response(error_code=ClusterAuthorizationFailed.code, results=[])
    topics = None if request.topics is None else [(t.topic, list(t.partitions)) for t in request.topics]
    result = await ctx.run_sync(log_dirs_answer, ctx.node, topics)
    return ctx.response(error_code=0, results=[result])
