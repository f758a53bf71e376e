"""The Content-Security-Policy every response carries: scripts, styles, connections (the live
websocket) and frames from this site only, no inline script or style, no eval. Templates keep
their scripts in static/js and their styles in static/css; htmx is told not to inject its own
(templates/base.html). Images may also be data: URIs (the favicon)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
