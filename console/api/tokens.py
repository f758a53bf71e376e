"""Create, revoke and check API tokens (used by the console, the `tokens` command and the API)."""

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractUser
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from console import login_limit
from console.models import TOKEN_PREFIX, ApiToken, token_hash

# last_used_at is written at most this often per token, so authenticating stays a read.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class TokenError(ValueError):
    pass


def token_create(*, user: AbstractUser, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and the raw value (shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("A token needs a name, so you can tell it apart later.")
    if len(name) > 100:
        raise TokenError("A token name is at most 100 characters.")
    raw = ApiToken.generate()
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], key_hash=token_hash(raw))
    return token, raw


# key hash -> (user, monotonic expiry). Every REST request authenticates; a producer sending
# hundreds of requests a second should not pay a query each time. A revoke in this process clears
# the cache at once; other server processes see it within _CACHE_SECONDS.
_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[AbstractUser, float]] = {}
_cache_lock = threading.Lock()


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    with _cache_lock:
        _cache.pop(token.key_hash, None)


def is_token(secret: str) -> bool:
    """Whether a secret is an API token (by its prefix) rather than a password."""
    return secret.startswith(TOKEN_PREFIX)


def _token_failed(request: HttpRequest | None) -> None:
    """Count a wrong token against the caller's address (console.login_limit), apart from wrong
    passwords; a lockout's end goes on the request as the authentication backend puts it there
    (`login_locked_until_ms`)."""
    if request is not None:
        request.login_locked_until_ms = login_limit.failure(ip=login_limit.client_ip(request), token=True)


def token_user(raw: str, *, request: HttpRequest | None = None) -> AbstractUser | None:
    """The active user a raw token belongs to, or None; with `request`, a failure is counted
    against its address."""
    user = _token_owner(raw)
    if user is None:
        _token_failed(request)
    return user


def _token_owner(raw: str) -> AbstractUser | None:
    if not raw or not is_token(raw):
        return None
    key_hash = token_hash(raw)
    now_mono = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key_hash)
    if hit is not None and hit[1] > now_mono:
        return hit[0]
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if token is None or not token.user.is_active:
        return None
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key_hash] = (token.user, now_mono + _CACHE_SECONDS)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def credentials_user(username: str, password: str, *, request: HttpRequest | None = None) -> AbstractUser | None:
    """The active user a (username, password) pair names, or None: REST basic auth and the Kafka
    listener's SASL/PLAIN accept the same pairs. A password starting "kc_" is an API token and
    only ever checked as one (the username then empty or the token owner's); anything else is the
    user's password, checked by Django's authentication backends."""
    if is_token(password):
        user = _token_owner(password)
        if user is not None and username in ("", user.username):
            return user
        _token_failed(request)
        return None
    return authenticate(request, username=username, password=password)


def credentials_session(
    username: str, password: str, *, client_host: str | None = None
) -> tuple[AbstractUser, Callable[[], bool]] | None:
    """For a long-lived connection (the Kafka listener's SASL/PLAIN): (user, still_valid) when the
    pair names an active user by credentials_user's rule, else None. `still_valid()` answers
    cheaply whether the pair would still be accepted: for a token, the token check again (cached
    _CACHE_SECONDS, then one query); for a password, whether the user is still active with the same
    password (Django's session auth hash, which logs browser sessions out on a password change),
    without hashing the password again.

    `client_host` (the connection's address) counts failures per address as well as per username,
    as the console's and REST's logins do (console.login_limit, through credentials_user)."""
    request = None
    if client_host:
        request = HttpRequest()
        request.META["REMOTE_ADDR"] = client_host
    user = credentials_user(username, password, request=request)
    if user is None:
        return None
    if is_token(password):
        return user, lambda: getattr(_token_owner(password), "pk", None) == user.pk
    fingerprint = user.get_session_auth_hash()

    def password_unchanged() -> bool:
        now = get_user_model().objects.filter(pk=user.pk, is_active=True).first()
        return now is not None and constant_time_compare(now.get_session_auth_hash(), fingerprint)

    return user, password_unchanged


def user_get(username: str) -> AbstractUser:
    User = get_user_model()
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise TokenError(f"No user called '{username}'.") from None
