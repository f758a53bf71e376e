"""Throttling of failed logins: the console's login form, the admin's, REST basic auth with a
password, REST token checks, and anything else that calls Django's authenticate() (the Kafka
listener's SASL/PLAIN).

Failures are counted per username and per client address. LOGIN_LIMIT["FAILURES_PER_USERNAME"]
failures of one username, or ["FAILURES_PER_IP"] from one address, within ["COOLOFF_S"] lock that
username or address out for ["COOLOFF_S"]: every password check then fails, even a right one, until
the lockout ends. A successful login resets its username's count (not the address's: one account
of one's own must not buy more guesses at others). Counts live in the database (LoginFailure), so
several server processes share them.

A wrong API token counts against the caller's address too, but apart from passwords
(["TOKEN_FAILURES_PER_IP"]): an address locked out for tokens has its wrong tokens answered 429,
and its passwords are still checked. One client's misconfigured token (or garbage) must not lock
out everyone's password logins from its address, an administrator's included. A right token is
never refused: a token cannot be guessed, so refusing it protects nothing, and it would lock out
everyone behind the same address (a NAT, a proxy) because of someone else's garbage; checking would
also cost every token request a query.

The address is REMOTE_ADDR, unless that is one of settings.TRUSTED_PROXIES: then the client is the
last address of X-Forwarded-For that is not a trusted proxy itself (each proxy appends the address
it got the request from; what is left of that, the client may have written). Behind a reverse
proxy that is not trusted every client shares the proxy's address and its count.
"""

import ipaddress
import math

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest

from brokercore import clock
from console.models import LoginFailure


def _cooloff_ms() -> int:
    return settings.LOGIN_LIMIT["COOLOFF_S"] * 1000


def _keys(username: str | None, ip: str | None, *, token: bool = False) -> list[tuple[str, int]]:
    """The counts a failure adds to, with their limits: a password's username and address, or a
    token's address (counted apart)."""
    c = settings.LOGIN_LIMIT
    keys = []
    if token:
        if ip and c["TOKEN_FAILURES_PER_IP"] > 0:
            keys.append((f"token-ip:{ip}"[:255], c["TOKEN_FAILURES_PER_IP"]))
        return keys
    if username and c["FAILURES_PER_USERNAME"] > 0:
        keys.append((f"user:{username.casefold()}"[:255], c["FAILURES_PER_USERNAME"]))
    if ip and c["FAILURES_PER_IP"] > 0:
        keys.append((f"ip:{ip}"[:255], c["FAILURES_PER_IP"]))
    return keys


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or behind trusted proxies the address the first of them
    got the request from (see the module docstring)."""
    if request is None:  # no HTTP request: the test client's login(), a SASL check without an address
        return None
    address = request.META.get("REMOTE_ADDR") or None
    if address is None or not _trusted(address):
        return address
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = hop.strip()
        if not _trusted(address):
            break
    return address or None


def locked_until_ms(*, username: str | None = None, ip: str | None = None) -> int | None:
    """When the password lockout of this username or address ends (epoch ms), or None if neither is."""
    keys = [k for k, _ in _keys(username, ip)]
    if not keys:
        return None
    found = LoginFailure.objects.filter(key__in=keys, locked_until_ms__gt=clock.now_ms()).aggregate(
        until=Max("locked_until_ms")
    )
    return found["until"]


def failure(*, username: str | None = None, ip: str | None = None, token: bool = False) -> int | None:
    """Count one failed login (a wrong token's apart: `token`); returns when the lockout ends if
    it is now locked out."""
    cooloff = _cooloff_ms()
    now = clock.now_ms()
    until = None
    for key, limit in _keys(username, ip, token=token):
        with transaction.atomic():
            row, _ = LoginFailure.objects.select_for_update().get_or_create(
                key=key, defaults={"failures": 0, "window_start_ms": now}
            )
            # A failure while locked out does not push the end further away.
            if row.locked_until_ms <= now:
                if row.window_start_ms + cooloff <= now:
                    row.failures, row.window_start_ms = 0, now
                row.failures += 1
                if row.failures >= limit:
                    row.locked_until_ms = now + cooloff
                row.save(update_fields=["failures", "window_start_ms", "locked_until_ms"])
        if row.locked_until_ms > now:
            until = max(until or 0, row.locked_until_ms)
    # Forget counts nobody added to within a cool-off (and ended lockouts), so the table stays small.
    LoginFailure.objects.filter(window_start_ms__lte=now - cooloff, locked_until_ms__lte=now).delete()
    return until


def success(*, username: str) -> None:
    keys = [k for k, _ in _keys(username, None)]
    if keys:
        LoginFailure.objects.filter(key__in=keys, locked_until_ms__lte=clock.now_ms()).delete()


def retry_after_s(until_ms: int) -> int:
    return max(1, math.ceil((until_ms - clock.now_ms()) / 1000))


def lockout_message(until_ms: int) -> str:
    seconds = retry_after_s(until_ms)
    wait = f"{seconds} seconds" if seconds < 90 else f"{math.ceil(seconds / 60)} minutes"
    return (
        f"Too many failed logins for this username or from your address: try again in {wait}. "
        "Until then no password is accepted, not even the right one."
    )


class LoginLimitBackend(ModelBackend):
    """Django's username/password check with the limit around it. A locked-out username or address
    is refused before the password is looked at; the request (when there is one) carries
    `login_locked_until_ms` so the caller can say when to retry."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: str
    ) -> AbstractUser | None:
        if username is None:
            from django.contrib.auth import get_user_model

            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ip = client_ip(request)
        until = locked_until_ms(username=username, ip=ip)
        if until is None:
            user = super().authenticate(request, username=username, password=password, **kwargs)
            if user is not None:
                success(username=username)
                return user
            until = failure(username=username, ip=ip)
            if until is None:
                return None
        if request is not None:
            request.login_locked_until_ms = until
        # Stops Django trying other backends; it then reports a failed login as usual.
        raise PermissionDenied
