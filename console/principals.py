"""Who a web request is, as the authorizer (brokercore/security/acl.py) knows principals: the
console user it authenticated as (`User:<username>`, as the Kafka listener names a SASL user), or
`User:ANONYMOUS`; and from where (the client address the login throttle counts)."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from brokercore.security.acl import Requester
from brokercore.security.principal import ANONYMOUS, Principal
from console import login_limit


def principal_of(user: AbstractBaseUser | AnonymousUser | None) -> Principal:
    """A user's Kafka principal; anonymous callers are User:ANONYMOUS, as on the Kafka listener."""
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    return Principal(user.get_username(), user.pk)


def requester(request: HttpRequest, user: AbstractBaseUser | AnonymousUser | None = None) -> Requester:
    """The request's Requester (made once per request, so staff is read at most once): `user`, or
    the one the request authenticated as (REST's request.auth, else the session's request.user)."""
    cached = getattr(request, "acl_requester", None)
    if cached is not None:
        return cached
    if user is None:
        user = getattr(request, "auth", None) or getattr(request, "user", None)
    made = Requester(principal_of(user), login_limit.client_ip(request) or "")
    request.acl_requester = made
    return made
