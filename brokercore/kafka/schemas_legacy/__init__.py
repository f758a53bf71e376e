"""Request and response entities of the API versions Kafka 3.9 accepts and kio (generated from
Kafka 4's schemas, which dropped them) lacks, written from Kafka 3.9's JSON message specs in kio's
dataclass style, and the loaders that look here before kio.

Kafka 4.0 removed (KIP-896): Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1,
OffsetFetch v0, CreateTopics v0-1, DeleteTopics v0, DescribeConfigs v0, DescribeLogDirs v0 among the APIs this broker
serves. Clients written for Kafka 2.x/3.x still send them.
"""

from kio.index import KioIndexError
from kio.index import load_request_schema as kio_request_schema
from kio.index import load_response_schema as kio_response_schema

from . import admin, fetch, groups, logdirs, produce

# (api key, version) -> (request entity, response entity)
ENTITIES: dict[tuple[int, int], tuple[type, type]] = {
    **{(produce.KEY, v): (produce.REQUESTS[v], produce.RESPONSES[v]) for v in produce.REQUESTS},
    **{(fetch.FETCH, v): (fetch.FETCH_REQUESTS[v], fetch.FETCH_RESPONSES[v]) for v in fetch.FETCH_REQUESTS},
    (fetch.LIST_OFFSETS, 0): (fetch.ListOffsetsRequest, fetch.ListOffsetsResponse),
    **{(groups.COMMIT, v): (groups.COMMIT_REQUESTS[v], groups.COMMIT_RESPONSES[v]) for v in groups.COMMIT_REQUESTS},
    (groups.FETCH, 0): (groups.OffsetFetchRequest, groups.OffsetFetchResponse),
    (admin.CREATE_TOPICS, 0): (admin.CreateTopicsRequestV0, admin.CreateTopicsResponseV0),
    (admin.CREATE_TOPICS, 1): (admin.CreateTopicsRequestV1, admin.CreateTopicsResponseV1),
    (admin.DELETE_TOPICS, 0): (admin.DeleteTopicsRequest, admin.DeleteTopicsResponse),
    (admin.DESCRIBE_CONFIGS, 0): (admin.DescribeConfigsRequest, admin.DescribeConfigsResponse),
    (logdirs.DESCRIBE_LOG_DIRS, 0): (logdirs.DescribeLogDirsRequest, logdirs.DescribeLogDirsResponse),
}


def load_request_schema(api_key: int, version: int) -> type:
    """The request entity of `api_key` at `version`: a legacy one defined here, else kio's.
    Raises kio's KioIndexError when neither has it."""
    legacy = ENTITIES.get((api_key, version))
    return legacy[0] if legacy is not None else kio_request_schema(api_key, version)


def load_response_schema(api_key: int, version: int) -> type:
    """The response entity of `api_key` at `version`: a legacy one defined here, else kio's."""
    legacy = ENTITIES.get((api_key, version))
    return legacy[1] if legacy is not None else kio_response_schema(api_key, version)


__all__ = ["KioIndexError", "load_request_schema", "load_response_schema"]
