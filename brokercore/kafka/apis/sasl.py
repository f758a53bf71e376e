"""SaslHandshake and SaslAuthenticate: who a connection is, by SASL/PLAIN (RFC 4616) or
SCRAM-SHA-256/512 (RFC 5802/7677, brokercore.security.scram).

A connection follows Kafka's SaslServerAuthenticator: ApiVersions, then SaslHandshake naming a
mechanism, then the mechanism's tokens, each in a SaslAuthenticate request after handshake v1
(KIP-152) or as a bare length-prefixed frame after handshake v0 (PLAIN sends one token, SCRAM
two: client-first, then client-final with its proof). Until that succeeds any other request
closes the connection, unless BROKER["KAFKA_ALLOW_ANONYMOUS"] lets it in as User:ANONYMOUS (which
may still authenticate). A failed authentication answers SASL_AUTHENTICATION_FAILED (v1; v0 has
no way to say it) and closes the connection, as Kafka does. PLAIN's username and password are
checked by BROKER["KAFKA_SASL_PLAIN_CHECK"]: the same rule as REST basic auth (a console user's
password, or one of their API tokens). SCRAM checks the user's SCRAM credential for the mechanism
(brokercore.security.credentials), which only a proof of the password can pass.

There is no re-authentication (KIP-368: session_lifetime_ms is 0). Instead the listener re-runs
the check's cheap `still_valid` before a request when SESSION_RECHECK_S have passed since the last
time, and closes the connection when the credentials are no longer accepted (a token revoked, the
password or SCRAM credential changed, the user deactivated or deleted): the client reconnects and
its authentication fails. What a principal may do is the authorizer's answer at each request (brokercore.security.acl).
"""

import asyncio
import enum
import functools
import logging
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from kio.static.protocol import RequestPayload, ResponsePayload

from brokercore.cluster.read import kafka_security_protocol
from brokercore.kafka.apis.registry import ANONYMOUS, Principal, RequestContext, RunSync, api
from brokercore.kafka.protocol import API_VERSIONS, ProtocolError
from brokercore.security.credentials import scram_credential_find, scram_still_valid
from brokercore.security.scram import MECHANISMS as SCRAM_MECHANISMS
from brokercore.security.scram import ScramFailure, ScramServer
from brokercore.security.scram import State as ScramState

if TYPE_CHECKING:  # a model class: importable only once Django's apps are ready
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger("brokercore.kafka.server")

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58
PLAIN = "PLAIN"
# What SaslHandshake lists, in Kafka's sasl.enabled.mechanisms order.
MECHANISMS = (PLAIN, *SCRAM_MECHANISMS)
# Kafka's connection.failed.authentication.delay.ms: a failed authentication is answered this
# late, which slows down guessing passwords over one connection.
FAILED_AUTHENTICATION_DELAY_S = 0.1
# How often a connection's credentials are checked again (on its next request): REST sees a token
# revoked by another process within the same time (console.api.tokens._CACHE_SECONDS).
SESSION_RECHECK_S = 5.0
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

    __slots__ = ("state", "principal", "close", "peer", "host", "tls", "protocol", "still_valid", "checked_at",
                 "scram")

    def __init__(self, *, allow_anonymous: bool, peer: str = "?", host: str | None = None, tls: bool = False) -> None:
        self.state = State.HANDSHAKE
        self.principal: Principal | None = ANONYMOUS if allow_anonymous else None
        self.close = False
        self.peer = peer  # host:port, for log lines
        self.host = host  # the client's address, for counting failed logins per address
        self.tls = tls  # the connection came through the listener's TLS (for messages)
        # What a client sets for the listener this connection came through (DescribeConfigs).
        self.protocol = kafka_security_protocol(allow_anonymous, tls)
        self.still_valid: Callable[[], bool] | None = None
        self.checked_at = 0.0
        self.scram: ScramServer | None = None  # the SCRAM exchange under way (None: PLAIN)

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
                f"request (API key {api_key}) before SASL authentication: this listener needs SASL (PLAIN or SCRAM) "
                f"(security.protocol={kafka_security_protocol(False, self.tls)}) and BROKER_KAFKA_ALLOW_ANONYMOUS is off"
            )

    def failed(self, username: str | None, why: str) -> None:
        self.close = True
        logger.warning("Kafka listener: failed authentication from %s%s: %s", self.peer,
                       f" as {username!r}" if username else "", why)

    def succeeded(self, principal: Principal, still_valid: Callable[[], bool]) -> None:
        self.state = State.AUTHENTICATED
        self.principal = principal
        self.still_valid = still_valid
        self.checked_at = time.monotonic()
        logger.debug("Kafka listener: %s authenticated as %s", self.peer, principal)

    @property
    def recheck_due(self) -> bool:
        return self.authenticated and time.monotonic() - self.checked_at >= SESSION_RECHECK_S


class CredentialsRevoked(ProtocolError):
    """The credentials a connection authenticated with are no longer accepted: it is closed."""


async def session_recheck(session: Session, run_sync: RunSync) -> None:
    """Check the session's credentials again (database work, through `run_sync`); raise
    CredentialsRevoked when they no longer hold."""
    if not await run_sync(session.still_valid):
        raise CredentialsRevoked(
            f"{session.principal}'s credentials are no longer accepted (API token revoked, password changed, "
            f"or user deactivated or deleted)"
        )
    session.checked_at = time.monotonic()


class PlainCheck(Protocol):
    """BROKER["KAFKA_SASL_PLAIN_CHECK"]: (user, still_valid) when the pair is accepted, else None."""

    def __call__(
        self, username: str, password: str, *, client_host: str | None = None
    ) -> "tuple[AbstractBaseUser, Callable[[], bool]] | None": ...


@functools.cache
def _plain_check() -> PlainCheck:
    return import_string(settings.BROKER["KAFKA_SASL_PLAIN_CHECK"])


class PlainOutcome(NamedTuple):
    principal: Principal | None  # None: refused
    still_valid: Callable[[], bool] | None
    message: str  # Kafka's message when refused
    username: str | None  # as the client sent it, for the log


def plain_authenticate(message: bytes, client_host: str | None = None) -> PlainOutcome:
    """Check a PLAIN message, [authzid] NUL authcid NUL passwd. Reads the database (and hashes a
    password): call through run_sync. `client_host` lets failed logins count per address too."""
    try:
        authzid, username, password = message.decode("utf-8").split("\0")
    except ValueError:  # not UTF-8, or not exactly three fields
        return PlainOutcome(None, None, MALFORMED, None)
    if not username:
        return PlainOutcome(None, None, NO_USERNAME, None)
    if not password:
        return PlainOutcome(None, None, NO_PASSWORD, username)
    accepted = _plain_check()(username, password, client_host=client_host)
    if accepted is None:
        return PlainOutcome(None, None, INVALID_CREDENTIALS, username)
    if authzid and authzid != username:
        return PlainOutcome(None, None, OTHER_AUTHZID, username)
    user, still_valid = accepted
    return PlainOutcome(Principal(user.get_username(), user.pk), still_valid, "", username)


class Step(NamedTuple):
    """One token of an exchange answered: the token to send back, or Kafka's failure message."""

    token: bytes
    failure: str | None = None


async def _refuse(session: Session, username: str | None, why: str, message: str) -> Step:
    """Mark the session to close, after a delay that slows guessing (Kafka's
    connection.failed.authentication.delay.ms)."""
    session.failed(username, why)
    await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_S)
    return Step(b"", message)


async def _session_step(session: Session, token: bytes, run_sync: RunSync) -> Step:
    """Take the client's next token of the session's mechanism: on success of the last one the
    session is authenticated; on any failure it is marked to close."""
    scram = session.scram
    if scram is None:  # PLAIN: one token
        outcome = await run_sync(plain_authenticate, token, session.host)
        if outcome.principal is None:
            return await _refuse(session, outcome.username, outcome.message, outcome.message)
        session.succeeded(outcome.principal, outcome.still_valid)
        return Step(b"")
    try:
        if scram.state is ScramState.CLIENT_FIRST:  # finds the credential: database work
            return Step(await run_sync(scram.first, token, functools.partial(scram_credential_find,
                                                                               mechanism=scram.mechanism)))
        answer = scram.final(token)  # a few HMACs: no database
    except ScramFailure as e:
        session.scram = None
        return await _refuse(session, e.username, e.reason, e.message)
    user = scram.user
    session.scram = None
    session.succeeded(Principal(user.get_username(), user.pk),
                      scram_still_valid(user.pk, scram.mechanism, scram.stored_key))
    return Step(answer)


@api(SASL_HANDSHAKE, versions=(0, 1))
async def sasl_handshake(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    session = ctx.session
    if session.state is not State.HANDSHAKE:
        # Kafka's answer to a handshake on an authenticated connection (no re-authentication).
        return ctx.response(error_code=ILLEGAL_SASL_STATE, mechanisms=MECHANISMS)
    if request.mechanism not in MECHANISMS:
        session.failed(None, f"unsupported SASL mechanism {request.mechanism!r} (enabled: {', '.join(MECHANISMS)})")
        return ctx.response(error_code=UNSUPPORTED_SASL_MECHANISM, mechanisms=MECHANISMS)
    session.state = State.AUTHENTICATE if ctx.api_version >= 1 else State.TOKEN
    scram = SCRAM_MECHANISMS.get(request.mechanism)
    session.scram = ScramServer(scram) if scram else None
    return ctx.response(error_code=0, mechanisms=MECHANISMS)


@api(SASL_AUTHENTICATE, versions=(0, 2))
async def sasl_authenticate(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    session = ctx.session
    if session.state is not State.AUTHENTICATE:
        # Only an anonymous or authenticated connection gets here (Session.admit closes others).
        message = ("SaslAuthenticate request received after successful authentication" if session.authenticated
                   else "SaslAuthenticate request received without a SaslHandshake v1 first")
        return ctx.response(error_code=ILLEGAL_SASL_STATE, error_message=message, auth_bytes=b"")
    step = await _session_step(session, request.auth_bytes, ctx.run_sync)
    if step.failure is not None:
        return ctx.response(error_code=SASL_AUTHENTICATION_FAILED, error_message=step.failure, auth_bytes=b"")
    # session_lifetime 0: no KIP-368 re-authentication (the listener re-checks the credentials itself).
    return ctx.response(error_code=0, error_message=None, auth_bytes=step.token, session_lifetime=0)


async def token_exchange(session: Session, token: bytes, run_sync: RunSync) -> bytes:
    """The answer frame to a bare token sent after SaslHandshake v0: the mechanism's token,
    length-prefixed (empty for PLAIN). On failure nothing, and `session.close` is set: v0 has no
    error frame, so Kafka just closes the connection."""
    step = await _session_step(session, token, run_sync)
    return b"" if step.failure is not None else struct.pack(">i", len(step.token)) + step.token
