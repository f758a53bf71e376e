"""SaslHandshake and SaslAuthenticate: who a connection is, by SASL/PLAIN (RFC 4616).

A connection follows Kafka's SaslServerAuthenticator: ApiVersions, then SaslHandshake naming a
mechanism, then the mechanism's token, in a SaslAuthenticate request after handshake v1
(KIP-152) or as a bare length-prefixed frame after handshake v0. Until that succeeds any other
request closes the connection, unless BROKER["KAFKA_ALLOW_ANONYMOUS"] lets it in as
User:ANONYMOUS (which may still authenticate). A failed authentication answers
SASL_AUTHENTICATION_FAILED (v1; v0 has no way to say it) and closes the connection, as Kafka
does. The username and password are checked by BROKER["KAFKA_SASL_PLAIN_CHECK"]: the same rule
as REST basic auth (a console user's password, or one of their API tokens).

A session lasts as long as its connection (Kafka's default, connections.max.reauth.ms=0): a
token revoked or a password changed later does not close it. What needs staff is re-checked on
each request (registry.principal_is_staff), so a user demoted or deactivated loses that at once.
"""

import asyncio
import enum
import functools
import logging

from django.conf import settings
from django.utils.module_loading import import_string

from brokercore.kafka.apis.registry import ANONYMOUS, Principal, api
from brokercore.kafka.protocol import API_VERSIONS, ProtocolError

logger = logging.getLogger("brokercore.kafka.server")

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58
MECHANISMS = ("PLAIN",)
# Kafka's connection.failed.authentication.delay.ms: a failed authentication is answered this
# late, which slows down guessing passwords over one connection.
FAILED_AUTHENTICATION_DELAY_S = 0.1
# Kafka's sasl.server.max.receive.size: the largest frame a connection may send before it has
# authenticated, so that nobody can make the broker buffer 100 MB without credentials.
MAX_RECEIVE_SIZE = 524288

# Kafka's messages, which clients show to their users. A malformed PLAIN message gets the generic
# one: Kafka never echoes what was wrong with a message that may hold a password.
MALFORMED = "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN"
NO_USERNAME = "Authentication failed: username not specified"
NO_PASSWORD = "Authentication failed: password not specified"
INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"
OTHER_AUTHZID = "Authentication failed: Client requested an authorization id that is different from username"


class State(enum.Enum):
    HANDSHAKE = "handshake"  # ApiVersions or SaslHandshake expected (or anything, when anonymous)
    AUTHENTICATE = "authenticate"  # after SaslHandshake v1: a SaslAuthenticate request
    TOKEN = "token"  # after SaslHandshake v0: a bare token frame
    AUTHENTICATED = "authenticated"


class Session:
    """One connection's authentication: where it is in the exchange and who it is.

    `principal` is None while the connection may do nothing but authenticate; `close` asks the
    listener to close the connection once the response in hand is sent."""

    __slots__ = ("state", "principal", "close", "peer")

    def __init__(self, *, allow_anonymous: bool, peer: str = "?") -> None:
        self.state = State.HANDSHAKE
        self.principal: Principal | None = ANONYMOUS if allow_anonymous else None
        self.close = False
        self.peer = peer

    @property
    def authenticated(self) -> bool:
        return self.state is State.AUTHENTICATED

    @property
    def limited(self) -> bool:
        """Whether frames are held to MAX_RECEIVE_SIZE: while the connection is authenticating,
        or may do nothing else."""
        return self.principal is None or self.state in (State.AUTHENTICATE, State.TOKEN)

    def admit(self, api_key: int) -> None:
        """Refuse (ProtocolError: the connection closes) a request this connection may not send now."""
        if self.state is State.AUTHENTICATE:
            if api_key != SASL_AUTHENTICATE:
                raise ProtocolError(f"unexpected request (API key {api_key}) during SASL authentication")
        elif self.principal is None and api_key not in (API_VERSIONS, SASL_HANDSHAKE):
            raise ProtocolError(
                f"request (API key {api_key}) before SASL authentication: this listener needs SASL/PLAIN "
                f"(security.protocol=SASL_PLAINTEXT) and BROKER_KAFKA_ALLOW_ANONYMOUS is off"
            )

    def failed(self, username: str | None, why: str) -> None:
        self.close = True
        logger.warning("Kafka listener: failed authentication from %s%s: %s", self.peer,
                       f" as {username!r}" if username else "", why)

    def succeeded(self, principal: Principal) -> None:
        self.state = State.AUTHENTICATED
        self.principal = principal
        logger.debug("Kafka listener: %s authenticated as %s", self.peer, principal)


@functools.cache
def _plain_check():
    return import_string(settings.BROKER["KAFKA_SASL_PLAIN_CHECK"])


def plain_authenticate(message: bytes) -> tuple[Principal | None, str, str | None]:
    """(principal, "", username) for a PLAIN message [authzid] NUL authcid NUL passwd whose
    credentials check out, else (None, Kafka's message, the username if one was read). Reads the
    database (and hashes a password): call through run_sync."""
    try:
        authzid, username, password = message.decode("utf-8").split("\0")
    except ValueError:  # not UTF-8, or not exactly three fields
        return None, MALFORMED, None
    if not username:
        return None, NO_USERNAME, None
    if not password:
        return None, NO_PASSWORD, username
    user = _plain_check()(username, password)
    if user is None:
        return None, INVALID_CREDENTIALS, username
    if authzid and authzid != username:
        return None, OTHER_AUTHZID, username
    return Principal(user.get_username(), user.pk), "", username


@api(SASL_HANDSHAKE, versions=(0, 1))
async def sasl_handshake(ctx, request):
    session = ctx.session
    if session.state is not State.HANDSHAKE:
        # Kafka's answer to a handshake on an authenticated connection (no re-authentication).
        return ctx.response(error_code=ILLEGAL_SASL_STATE, mechanisms=MECHANISMS)
    if request.mechanism not in MECHANISMS:
        session.failed(None, f"unsupported SASL mechanism {request.mechanism!r} (enabled: {', '.join(MECHANISMS)})")
        return ctx.response(error_code=UNSUPPORTED_SASL_MECHANISM, mechanisms=MECHANISMS)
    session.state = State.AUTHENTICATE if ctx.api_version >= 1 else State.TOKEN
    return ctx.response(error_code=0, mechanisms=MECHANISMS)


@api(SASL_AUTHENTICATE, versions=(0, 2))
async def sasl_authenticate(ctx, request):
    session = ctx.session
    if session.state is not State.AUTHENTICATE:
        # Only an anonymous or authenticated connection gets here (Session.admit closes others).
        message = ("SaslAuthenticate request received after successful authentication" if session.authenticated
                   else "SaslAuthenticate request received without a SaslHandshake v1 first")
        return ctx.response(error_code=ILLEGAL_SASL_STATE, error_message=message, auth_bytes=b"")
    principal, message, username = await ctx.run_sync(plain_authenticate, request.auth_bytes)
    if principal is None:
        session.failed(username, message)
        await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_S)
        return ctx.response(error_code=SASL_AUTHENTICATION_FAILED, error_message=message, auth_bytes=b"")
    session.succeeded(principal)
    # session_lifetime 0: the session lasts as long as the connection (no KIP-368 re-authentication).
    return ctx.response(error_code=0, error_message=None, auth_bytes=b"", session_lifetime=0)


async def token_exchange(session: Session, token: bytes, run_sync) -> bytes:
    """The answer frame to a bare PLAIN token sent after SaslHandshake v0: an empty token when the
    credentials check out. On failure nothing, and `session.close` is set: v0 has no error frame,
    so Kafka just closes the connection."""
    principal, message, username = await run_sync(plain_authenticate, token)
    if principal is None:
        session.failed(username, message)
        await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_S)
        return b""
    session.succeeded(principal)
    return b"\0\0\0\0"
