"""What every v3 route does: register itself, check the cluster, build URLs, CRNs, `related`
links and list envelopes, and turn a name or index nothing can match into the resource's 404.

Every object has Confluent's "kind" and "metadata" ({"self": absolute URL, "resource_name": CRN});
`resource` writes that head once, `list_out` the list envelope ("next" is always null: lists are
answered whole, as Confluent's proxy does).
"""

from collections.abc import Callable
from typing import Literal, TypeAlias, TypeVar

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import create_model

from brokercore.cluster import read as cluster_read
from brokercore.topics.read import topic_describe
from brokercore.types import PartitionInfo, TopicInfo
from console.api import API_ROOT
from console.api.errors import CLUSTER_NOT_FOUND, PARTITION_NOT_FOUND, TOPIC_NOT_FOUND, RestError

router = Router()

# A view function; `route` registers it and returns it unchanged.
View = TypeVar("View", bound=Callable[..., object])
# A route's answer: its 200 schema, or a schema (None: no body) per status.
Responses: TypeAlias = type[Schema] | dict[int, type[Schema] | None]
# A resource's place in the cluster: URL path segments, and (name, value) pairs of its CRN.
UrlPath: TypeAlias = tuple[str | int, ...]
CrnPairs: TypeAlias = tuple[tuple[str, str | int], ...]

INT32_MAX = 2**31 - 1


# --- Schemas every resource shares ---------------------------------------------------------------


class Related(Schema):
    related: str


class ResourceMetadata(Schema):
    self: str
    resource_name: str | None = None


class ListMetadata(Schema):
    self: str
    next: str | None = None


class ErrorOut(Schema):
    error_code: int
    message: str


class Resource(Schema):
    """The head of every v3 object; subclasses narrow `kind` to their own literal."""

    kind: str
    metadata: ResourceMetadata
    cluster_id: str


def list_schema(model_name: str, kind: str, item: type[Schema]) -> type[Schema]:
    """The schema of a list of `item` objects, named `model_name` in the OpenAPI document."""
    return create_model(
        model_name,
        __base__=Schema,
        __module__=__name__,
        kind=(Literal[kind], ...),
        metadata=(ListMetadata, ...),
        data=(list[item], ...),
    )


# --- Registering a route ------------------------------------------------------------------------


def route(
    method: str, path: str, out: Responses, *, summary: str, errors: tuple[int, ...] = (), **options: object
) -> Callable[[View], View]:
    """Register a view on the v3 router. Every route may answer 401 (no credentials), 404 (an
    unknown cluster) and 422 (a path or query parameter of the wrong type), plus `errors`; `out`
    is the 200 schema or a {status: schema} map. The operation id stays the one the view had when
    v3 was one module, so clients generated from the document keep their method names."""
    responses: dict[int, type[Schema] | None] = {status: ErrorOut for status in sorted({401, 404, 422, *errors})}
    responses |= out if isinstance(out, dict) else {200: out}

    def register(view: View) -> View:
        router.api_operation(
            [method], path, response=responses, summary=summary, operation_id=f"console_api_v3_{view.__name__}",
            **options,
        )(view)
        return view

    return register


# --- URLs, CRNs, objects and lists ---------------------------------------------------------------


def url(request: HttpRequest, cid: str, *path: str | int) -> str:
    """The absolute URL of clusters/<cid>/<path>: every v3 resource is in the cluster."""
    return request.build_absolute_uri(f"{API_ROOT}v3/" + "/".join(str(p) for p in ("clusters", cid, *path)))


def related(request: HttpRequest, cid: str, *path: str | int) -> dict[str, str]:
    return {"related": url(request, cid, *path)}


def crn(cluster: str, *pairs: tuple[str, str | int]) -> str:
    return f"crn:///kafka={cluster}" + "".join(f"/{k}={v}" for k, v in pairs)


def resource(request: HttpRequest, kind: str, cid: str, path: UrlPath = (), names: CrnPairs = (), **fields: object) -> dict:
    """A v3 object: `kind`, its URL (clusters/<cid>/`path`) and CRN (`names`' pairs), then `fields`."""
    return {
        "kind": kind,
        "metadata": {"self": url(request, cid, *path), "resource_name": crn(cid, *names)},
        "cluster_id": cid,
        **fields,
    }


def list_out(kind: str, request: HttpRequest, data: list[dict]) -> dict:
    return {"kind": kind, "metadata": {"self": request.build_absolute_uri(request.path), "next": None}, "data": data}


# --- Looking things up ---------------------------------------------------------------------------


def cluster_check(cluster_id: str) -> str:
    """The cluster id, if it is this proxy's (it serves one cluster); else 40404."""
    actual = cluster_read.cluster_id()
    if cluster_id != actual:
        raise RestError(CLUSTER_NOT_FOUND, f"Cluster '{cluster_id}' not found; this proxy serves cluster '{actual}'.")
    return actual


def name_check(value: str, code: int, what: str) -> str:
    """PostgreSQL refuses NUL in text: a name with one cannot exist, and must not become a 500."""
    if "\x00" in value:
        raise RestError(code, f"{what} not found.")
    return value


def index_check(value: int, code: int, what: str) -> int:
    """Outside the int32 columns' range nothing can match; saying so beats a database overflow."""
    if not 0 <= value <= INT32_MAX:
        raise RestError(code, f"{what} {value} not found.")
    return value


def topic_check(topic_name: str) -> TopicInfo:
    """The topic, or 40401 (an unknown topic's broker error maps to it)."""
    name_check(topic_name, TOPIC_NOT_FOUND, f"Topic '{topic_name}'")
    return topic_describe(name=topic_name)


def partition_check(topic_name: str, partition_id: int) -> PartitionInfo:
    """The topic's partition, or 40401 / 40402."""
    info = topic_check(topic_name)
    index_check(partition_id, PARTITION_NOT_FOUND, f"Partition of topic '{topic_name}':")
    for p in info.partitions:
        if p.index == partition_id:
            return p
    raise RestError(PARTITION_NOT_FOUND, f"Partition {partition_id} of topic '{topic_name}' does not exist.")
