"""What every console view shares: the request type, permission checks and the live-subscription query."""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

P = ParamSpec("P")


class HtmxHttpRequest(HttpRequest):
    """A request as console views get it: django-htmx's middleware sets `htmx` on every one."""

    htmx: HtmxDetails


def staff_required(
    view: Callable[Concatenate[HtmxHttpRequest, P], HttpResponse],
) -> Callable[Concatenate[HtmxHttpRequest, P], HttpResponse]:
    """Changes need a staff user; everyone logged in may look (403 otherwise, never a redirect loop)."""

    @login_required
    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Changing the broker needs a staff account.")
        return view(request, *args, **kwargs)

    return wrapper


def live(*subscriptions: str) -> str:
    """The websocket URL a page opens to receive its live fragments."""
    return "/ws/live/?" + urlencode([("s", s) for s in subscriptions])
