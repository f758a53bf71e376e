"""What the console and the REST proxy answer while the database cannot be reached.

A request that meets a lost or refused database connection (PostgreSQL restarting, a network
cut, SQLite's busy timeout running out) gets a 503 at once: the REST proxy's JSON error
`{"error_code": 50301, ...}`, the console a short page that says to retry. No traceback reaches
the client, and the server log gets one line, not a traceback per request.

Recovery needs nothing here: the request thread's connection saw the error, so
`close_old_connections()` after the request (console/asgi_http.py) drops it, and the next request
opens a new one (CONN_HEALTH_CHECKS also replaces an idle connection the database closed).
PostgreSQL connects are bounded by `connect_timeout` (console/settings.py), so no request hangs
on an unreachable server.
"""

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

logger = logging.getLogger(__name__)



def _driver_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:
        return ()
    return (psycopg.OperationalError, psycopg.InterfaceError)


# psycopg and sqlite3 raise OperationalError for a refused, lost or timed-out connection (and a
# lock wait that ran out); InterfaceError for a connection already closed under the caller.
# Django wraps them in its own classes, except where code runs a raw driver cursor: psycopg's
# own classes (AdminShutdown after pg_terminate_backend is an OperationalError) are the same outage.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, *_driver_errors())

# Confluent's REST Proxy has no code for this; 50301 follows its scheme (status, then a serial).
REST_DATABASE_UNAVAILABLE = 50301
MESSAGE = "The broker's database is unavailable; retry in a few seconds."
RETRY_AFTER_S = "5"


def is_database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_UNAVAILABLE_ERRORS)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 for `request`: JSON under the REST root, the console's page elsewhere."""
    logger.warning("%s %s: database unavailable: %s", request.method, request.path, first_line(exc))
    if request.path.startswith("/rest/"):
        response = JsonResponse({"error_code": REST_DATABASE_UNAVAILABLE, "message": MESSAGE}, status=503)
    else:
        # Rendered without the request: context processors would read the session and the user,
        # which live in the database that just failed.
        response = HttpResponse(loader.render_to_string("503.html", {"message": MESSAGE}), status=503)
    response["Retry-After"] = RETRY_AFTER_S
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database outage raised by a view into a 503 (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage met outside a view (a middleware reading the session) is a 503 too."""
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return unavailable_response(request, exc)
    if request.path.startswith("/rest/"):
        return JsonResponse({"error_code": 50001, "message": "Internal server error; the server log has the details."}, status=500)
    return defaults.server_error(request)
