"""What every console view shares: permission checks and the live-subscription query."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def staff_required(view):
    """Changes need a staff user; everyone logged in may look (403 otherwise, never a redirect loop)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Changing the broker needs a staff account.")
        return view(request, *args, **kwargs)

    return wrapper


def live(*subscriptions: str) -> str:
    """The websocket URL a page opens to receive its live fragments."""
    return "/ws/live/?" + urlencode([("s", s) for s in subscriptions])
