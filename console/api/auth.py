"""Who is calling: an API token (Bearer, or as the basic-auth password), a user's password over
basic auth, or the browser's session (with Django's CSRF check on unsafe methods). Anonymous
callers are refused unless settings.REST["ALLOW_ANONYMOUS"] is on (local demos)."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from ninja.security import HttpBasicAuth, HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.utils import check_csrf

from console.api.errors import FORBIDDEN, RestError
from console.api.tokens import credentials_user, token_user


class TokenBearer(HttpBearer):
    def authenticate(self, request, token):
        return token_user(token)


class TokenOrPasswordBasic(HttpBasicAuth):
    def authenticate(self, request, username, password):
        return credentials_user(username, password, request=request)


class Session(APIKeyCookie):
    """The console's login session. Unlike ninja's SessionAuth it is only consulted when a
    session exists, so an anonymous POST gets 40101, not a CSRF error."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self):
        super().__init__(csrf=False)

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
            raise RestError(FORBIDDEN, "CSRF check failed: send the X-CSRFToken header with the session cookie.")
        return user


def anonymous_if_allowed(request):
    if settings.REST["ALLOW_ANONYMOUS"]:
        return AnonymousUser()
    return None


AUTH = [TokenBearer(), TokenOrPasswordBasic(), Session(), anonymous_if_allowed]


def require_staff(request, action: str) -> None:
    """Topic creation and deletion (and other cluster changes) need a staff user."""
    user = request.auth
    if not getattr(user, "is_staff", False):
        raise RestError(FORBIDDEN, f"Only staff users may {action}; ask an administrator for a staff account or token.")
