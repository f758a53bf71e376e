"""Throttling of failed logins: the console's login form, the admin's, REST basic auth with a
password, REST token checks, and anything else that calls Django's authenticate() (the Kafka
listener's SASL/PLAIN).

Failures are counted per username and per client address. LOGIN_LIMIT["FAILURES_PER_USERNAME"]
failures of one username, or ["FAILURES_PER_IP"] from one address, within ["COOLOFF_S"] lock that
username or address out for ["COOLOFF_S"]: every password check then fails, even a right one, until
the lockout ends. A successful login resets its username's count (not the address's: one account
of one's own must not buy more guesses at others). Counts live in the database (LoginFailure), so
several server processes share them.

A wrong API token counts against the caller's address, and an address locked out has its wrong
tokens answered 429. A right token is never refused: a token cannot be guessed, so refusing it
protects nothing, and it would lock out everyone behind the same address (a NAT, a proxy) because
of someone else's garbage; checking would also cost every token request a query.

The address is REMOTE_ADDR. Behind a reverse proxy that is the proxy's, so every client shares one
address count: raise FAILURES_PER_IP there (or set it to 0 to count usernames only).
"""

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


def _limits() -> tuple[int, int, int]:
    c = settings.LOGIN_LIMIT
    return c["FAILURES_PER_USERNAME"], c["FAILURES_PER_IP"], c["COOLOFF_S"] * 1000


def _keys(username: str | None, ip: str | None) -> list[tuple[str, int]]:
    per_user, per_ip, _ = _limits()
    keys = []
    if username and per_user > 0:
        keys.append((f"user:{username.casefold()}"[:255], per_user))
    if ip and per_ip > 0:
        keys.append((f"ip:{ip}"[:255], per_ip))
    return keys


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:  # no HTTP request: the test client's login(), a SASL check without an address
        return None
    return request.META.get("REMOTE_ADDR") or None


def locked_until_ms(*, username: str | None = None, ip: str | None = None) -> int | None:
    """When the lockout of this username or address ends (epoch ms), or None if neither is."""
    keys = [k for k, _ in _keys(username, ip)]
    if not keys:
        return None
    found = LoginFailure.objects.filter(key__in=keys, locked_until_ms__gt=clock.now_ms()).aggregate(
        until=Max("locked_until_ms")
    )
    return found["until"]


def failure(*, username: str | None = None, ip: str | None = None) -> int | None:
    """Count one failed login; returns when the lockout ends if it is now locked out."""
    _, _, cooloff = _limits()
    now = clock.now_ms()
    until = None
    for key, limit in _keys(username, ip):
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
