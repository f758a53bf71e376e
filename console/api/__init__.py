"""The REST proxy: Confluent REST Proxy v2 and v3 shapes, served by django-ninja under /rest/.

django-ninja gives the routing, request validation, the OpenAPI 3 document (/rest/openapi.json)
and the interactive docs page (/rest/docs, Swagger UI served from ninja's own static files).
What is Kafka-specific lives here: the proxy's error shape and codes, its media types and the
content negotiation between them.
"""

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from brokercore.errors import BrokerError
from console.api import negotiation
from console.api.auth import AUTH
from console.api.errors import INVALID_PAYLOAD, TOO_LARGE, UNAUTHORIZED, RestError, rest_error
from console.unavailable import (
    DATABASE_UNAVAILABLE_ERRORS,
    MESSAGE,
    REST_DATABASE_UNAVAILABLE,
    RETRY_AFTER_S,
    first_line,
)

logger = logging.getLogger(__name__)


class KafkaRestAPI(NinjaAPI):
    def create_response(
        self, request: HttpRequest, data: object, *, status: int | None = None,
        temporal_response: HttpResponse | None = None,
    ) -> HttpResponse:
        response = super().create_response(request, data, status=status, temporal_response=temporal_response)
        response["Content-Type"] = response_media_type(request)
        return response


def response_media_type(request: HttpRequest) -> str:
    """v3 answers application/json; v2 answers its vendor type unless the client prefers plain
    JSON. A view that negotiated already (records in an embedded format) set it on the request."""
    chosen = getattr(request, "rest_media_type", None)
    if chosen:
        return chosen
    if request.path.startswith(f"{API_ROOT}v3/"):
        return negotiation.JSON
    try:
        return negotiation.negotiate(request, [negotiation.V2, negotiation.JSON])
    except RestError:
        return negotiation.V2


API_ROOT = "/rest/"

api = KafkaRestAPI(
    title="Kafka console REST proxy",
    version="2.0",
    description=(
        "Produce, consume and administer the bundled broker over HTTP, in the Confluent REST Proxy's "
        "v2 and v3 shapes. Authenticate with `Authorization: Bearer <token>` (create a token in the "
        "console under API tokens, or with `manage.py tokens create`), with basic auth (a token or "
        "your password), or with the console's login session."
    ),
    auth=AUTH,
    urls_namespace="rest",
    docs_url="/docs",
    openapi_url="/openapi.json",
    # The document and its page are for people who may use the API: logged-in console users.
    docs_decorator=login_required,
)


def _error(request: HttpRequest, e: RestError) -> HttpResponse:
    response = api.create_response(request, e.body(), status=e.status)
    for name, value in e.headers.items():
        response[name] = value
    return response


@api.exception_handler(RestError)
def _rest_error(request: HttpRequest, e: RestError) -> HttpResponse:
    return _error(request, e)


@api.exception_handler(BrokerError)
def _broker_error(request: HttpRequest, e: BrokerError) -> HttpResponse:
    return _error(request, rest_error(e))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, e: AuthenticationError) -> HttpResponse:
    return _error(
        request,
        RestError(
            UNAUTHORIZED,
            "Authentication required: send 'Authorization: Bearer <token>' (or basic auth, or log in to the console).",
            headers={"WWW-Authenticate": 'Bearer realm="kafka-console"'},
        ),
    )


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, e: ValidationError) -> HttpResponse:
    problems = []
    for err in e.errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload"))
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return _error(request, RestError(INVALID_PAYLOAD, "Invalid request: " + "; ".join(problems)))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, e: HttpError) -> HttpResponse:
    return _error(request, RestError(e.status_code, str(e)))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, e: Http404) -> HttpResponse:
    return _error(request, RestError(404, "Not found."))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, e: RequestDataTooBig) -> HttpResponse:
    return _error(request, RestError(TOO_LARGE, "The request body is too large."))


@api.exception_handler(json.JSONDecodeError)
def _bad_json(request: HttpRequest, e: json.JSONDecodeError) -> HttpResponse:
    return _error(request, RestError(400, f"The request body is not valid JSON: {e}"))


def _database_unavailable(request: HttpRequest, e: Exception) -> HttpResponse:
    logger.warning("REST %s %s: database unavailable: %s", request.method, request.path, first_line(e))
    return _error(request, RestError(REST_DATABASE_UNAVAILABLE, MESSAGE, headers={"Retry-After": RETRY_AFTER_S}))


for _error_class in DATABASE_UNAVAILABLE_ERRORS:
    api.add_exception_handler(_error_class, _database_unavailable)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, e: Exception) -> HttpResponse:
    # Never a traceback to the client; the log has it.
    logger.exception("REST %s %s failed", request.method, request.path)
    return _error(request, RestError(50001, "Internal server error; the server log has the details."))


def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other path under /rest/: the proxy's JSON 404, not the console's HTML page."""
    return _error(request, RestError(404, f"No REST endpoint at {request.path} (the API is described at {API_ROOT}docs)."))


def body_limit(request: HttpRequest) -> None:
    """Refuse a body over settings.REST["MAX_BODY_BYTES"] before reading it."""
    limit = settings.REST["MAX_BODY_BYTES"]
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise RestError(TOO_LARGE, f"The request body is {length} bytes; the limit is {limit}.")


from console.api import v2_consumers, v2_topics, v3  # noqa: E402  (routers use `api` helpers above)

api.add_router("", v2_topics.router, tags=["v2 topics, partitions, brokers, produce"])
api.add_router("/consumers", v2_consumers.router, tags=["v2 consumers"])
api.add_router("/v3", v3.router, tags=["v3"])
