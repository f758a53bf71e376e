"""Requests refused before any view runs, for what no view can handle.

NUL in the path or a query value: PostgreSQL text cannot hold it, and psycopg refuses any query
that passes it (ValueError), so a lookup by such a name would be a 500 there while SQLite simply
finds nothing. No topic, group or other name may contain NUL (Kafka's names are [a-zA-Z0-9._-]),
so a path with one names nothing (404) and a query value with one is malformed (400).
"""

from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from console.api.errors import BAD_REQUEST

REST_ROOT = "/rest/"


class NulRefusalMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            message = "No such page: the path contains a NUL character, which no name may hold."
            if request.path.startswith(REST_ROOT):
                return JsonResponse({"error_code": 404, "message": message}, status=404)
            raise Http404(message)
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            message = "The query string contains a NUL character, which no parameter may hold."
            if request.path.startswith(REST_ROOT):
                return JsonResponse({"error_code": BAD_REQUEST, "message": message}, status=400)
            raise BadRequest(message)
        return self.get_response(request)
