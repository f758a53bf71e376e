"""Who is calling: an API token (Bearer, or as the basic-auth password), a user's password over
basic auth, or the browser's session (with Django's CSRF check on unsafe methods). Anonymous
callers are refused unless settings.REST["ALLOW_ANONYMOUS"] is on (local demos)."""

from collections.abc import Callable
from typing import TypeAlias

from django.conf import settings
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.http import HttpRequest
from ninja.security import HttpBasicAuth, HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from console import login_limit
from console.api.errors import FORBIDDEN, TOO_MANY_FAILED_LOGINS, RestError
from console.api.tokens import credentials_user, token_user

# Who a REST request is made by: a user, or anonymous where settings.REST["ALLOW_ANONYMOUS"] lets it.
Caller: TypeAlias = AbstractUser | AnonymousUser
# One way of authenticating, as ninja takes it: a scheme object or a function; None is 'not this way'.
Auth: TypeAlias = AuthBase | Callable[[HttpRequest], Caller | None]


def _limited(request: HttpRequest, user: AbstractUser | None) -> AbstractUser | None:
    """A failed check from a locked-out username or address is 429 with Retry-After, not 401.
    The failure was counted where it was checked (console.api.tokens, the authentication
    backend), which leaves the lockout's end on the request."""
    if user is not None:
        return user
    until = getattr(request, "login_locked_until_ms", None)
    if until is not None:
        raise RestError(
            TOO_MANY_FAILED_LOGINS,
            login_limit.lockout_message(until),
            headers={"Retry-After": str(login_limit.retry_after_s(until))},
        )
    return None


class TokenBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> AbstractUser | None:
        return _limited(request, token_user(token, request=request))


class TokenOrPasswordBasic(HttpBasicAuth):
    def authenticate(self, request: HttpRequest, username: str, password: str) -> AbstractUser | None:
        return _limited(request, credentials_user(username, password, request=request))


class Session(APIKeyCookie):
    """The console's login session. Unlike ninja's SessionAuth it is only consulted when a
    session exists, so an anonymous POST gets 40101, not a CSRF error."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)

    def authenticate(self, request: HttpRequest, key: str | None) -> AbstractUser | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
            raise RestError(FORBIDDEN, "CSRF check failed: send the X-CSRFToken header with the session cookie.")
        return user


def anonymous_if_allowed(request: HttpRequest) -> AnonymousUser | None:
    if settings.REST["ALLOW_ANONYMOUS"]:
        return AnonymousUser()
    return None


AUTH: list[Auth] = [TokenBearer(), TokenOrPasswordBasic(), Session(), anonymous_if_allowed]
