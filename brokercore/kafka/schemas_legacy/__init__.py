"""Request and response entities of the API versions Kafka 3.9 accepts and kio (generated from
Kafka 4's schemas, which dropped them) lacks, written from Kafka 3.9's JSON message specs in kio's
dataclass style (built from field tables in _base.py's notation), and the loaders that look here before kio.

Kafka 4.0 removed (KIP-896): Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1,
OffsetFetch v0, CreateTopics v0-1, DeleteTopics v0, DescribeConfigs v0, DescribeLogDirs v0,
DescribeAcls v0, CreateAcls v0 and DeleteAcls v0 among the APIs this broker serves. Clients written for Kafka 2.x/3.x still send them.
"""

from kio.index import KioIndexError
from kio.index import load_request_schema as kio_request_schema
from kio.index import load_response_schema as kio_response_schema

from . import acls, admin, fetch, groups, logdirs, produce

# (api key, version) -> (request entity, response entity)
ENTITIES: dict[tuple[int, int], tuple[type, type]] = (
    produce.ENTITIES | fetch.ENTITIES | groups.ENTITIES | admin.ENTITIES | logdirs.ENTITIES | acls.ENTITIES
)


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
