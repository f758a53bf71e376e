"""SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka does them: its ScramMechanism,
ScramFormatter, ScramMessages and ScramSaslServer. Pure functions and one exchange object; no
database (brokercore.security.credentials stores and finds the credentials).

A credential is what RFC 5802 lets a server keep instead of the password: the salt, the iteration
count, StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword,
"Server Key"), where SaltedPassword = Hi(password, salt, i) is PBKDF2 with HMAC-H. StoredKey lets
the server check a client's proof; neither key lets anyone log in.
"""

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple


class Mechanism(NamedTuple):
    """One SCRAM mechanism: Kafka's ScramMechanism (its name, the hash, its type byte on the
    wire of Describe/AlterUserScramCredentials, and the fewest iterations it accepts)."""

    name: str
    hash_name: str
    type: int
    min_iterations: int = 4096


SCRAM_SHA_256 = Mechanism("SCRAM-SHA-256", "sha256", 1)
SCRAM_SHA_512 = Mechanism("SCRAM-SHA-512", "sha512", 2)
MECHANISMS = {m.name: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
BY_TYPE = {m.type: m for m in MECHANISMS.values()}
# Kafka's ScramControlManager.MAX_ITERATIONS: AlterUserScramCredentials refuses more.
MAX_ITERATIONS = 16384
# What kafka-configs uses when `iterations=` is not given (ScramMechanism's default).
DEFAULT_ITERATIONS = 4096


@dataclass(frozen=True, slots=True)
class Credential:
    """A user's SCRAM credential for one mechanism (Kafka's ScramCredential): never the password."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def mechanism_named(name: str) -> Mechanism | None:
    return MECHANISMS.get(name)


def salted_password(mechanism: Mechanism, password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(Normalize(password), salt, i) of RFC 5802: PBKDF2-HMAC with the mechanism's hash. Kafka
    normalizes by UTF-8 encoding only (no SASLprep), and so does this."""
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password.encode(), salt, iterations)


def _hmac(mechanism: Mechanism, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, mechanism.hash_name).digest()


def _hash(mechanism: Mechanism, data: bytes) -> bytes:
    return hashlib.new(mechanism.hash_name, data).digest()


def credential_from_salted_password(
    mechanism: Mechanism, salted: bytes, salt: bytes, iterations: int
) -> Credential:
    """The credential of a salted password (what AlterUserScramCredentials sends: the admin client
    salts, the broker keeps only the keys, as Kafka's ScramControlManager.finishUpsertion)."""
    client_key = _hmac(mechanism, salted, b"Client Key")
    return Credential(salt=salt, stored_key=_hash(mechanism, client_key),
                      server_key=_hmac(mechanism, salted, b"Server Key"), iterations=iterations)


def credential_generate(mechanism: Mechanism, password: str, iterations: int = DEFAULT_ITERATIONS) -> Credential:
    """A new credential for `password` with a fresh random salt (Kafka's generateCredential)."""
    salt = secrets.token_bytes(24)
    return credential_from_salted_password(mechanism, salted_password(mechanism, password, salt, iterations),
                                           salt, iterations)


def iterations_problem(mechanism: Mechanism, iterations: int) -> str | None:
    """Kafka's message when `iterations` is outside what it accepts for a credential, else None."""
    if iterations < mechanism.min_iterations:
        return "Too few iterations"
    if iterations > MAX_ITERATIONS:
        return "Too many iterations"
    return None


# --- The exchange: ScramMessages' grammar and ScramSaslServer's states ---------------------------

# RFC 5802's saslname: UTF-8 without NUL, ',' or '=' except as the escapes =2C and =3D. (Kafka's
# regex allows ASCII only; console usernames may be any Unicode letters, so UTF-8 is accepted.)
_SASLNAME = r"(?:[^\x00=,]|=2C|=3D)+"
_PRINTABLE = r"[\x21-\x2b\x2d-\x7e]+"  # printable ASCII but ','
_VALUE = r"[\x01-\x2b\x2d-\x7f]+"
_BASE64 = r"(?:[A-Za-z0-9/+]{4})*(?:[A-Za-z0-9/+]{3}=|[A-Za-z0-9/+]{2}==)?"
_EXTENSIONS = rf"(?:,[A-Za-z]+={_VALUE})*"
_CLIENT_FIRST = re.compile(
    rf"n,(?:a=(?P<authzid>{_SASLNAME}))?,(?P<bare>(?:m={_VALUE},)?n=(?P<saslname>{_SASLNAME}),"
    rf"r=(?P<nonce>{_PRINTABLE})(?P<extensions>{_EXTENSIONS}))"
)
_CLIENT_FINAL = re.compile(
    rf"(?P<without_proof>c=(?P<channel>{_BASE64}),r=(?P<nonce>{_PRINTABLE}){_EXTENSIONS}),p=(?P<proof>{_BASE64})"
)

# Kafka answers every failure but one with this message: it never tells an unauthenticated client
# whether the user exists, or what was wrong with a message (SaslServerAuthenticator).
GENERIC_FAILURE = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"
OTHER_AUTHZID = "Authentication failed: Client requested an authorization id that is different from username"


class ScramFailure(Exception):
    """The exchange failed. `message` is what the client is told (Kafka's), `reason` what the log says."""

    def __init__(self, message: str, reason: str, username: str | None = None) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason
        self.username = username


def username_from_saslname(saslname: str) -> str | None:
    """RFC 5802's unescaping of =2C and =3D (Kafka's ScramFormatter.username); None when another
    '=' is left, which the RFC says must fail the authentication."""
    name = saslname.replace("=2C", ",")
    if "=" in name.replace("=3D", ""):
        return None
    return name.replace("=3D", "=")


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def server_nonce() -> str:
    """The server's part of the nonce: 144 random bits (Kafka's is 130), printable, no ','."""
    return secrets.token_urlsafe(18)


class State(enum.Enum):
    CLIENT_FIRST = "client-first"
    CLIENT_FINAL = "client-final"
    COMPLETE = "complete"
    FAILED = "failed"


# (username) -> (principal's user, its credential) or None: how the exchange finds a credential.
CredentialLookup = Callable[[str], "tuple[object, Credential] | None"]


class ScramServer:
    """One SCRAM exchange on the server side (Kafka's ScramSaslServer): `first` takes the
    client-first message and answers the server-first (the lookup reads the database: call it
    off the event loop), `final` checks the client's proof and answers the server-final with the
    server signature. Any failure raises ScramFailure with Kafka's message, and the exchange is over."""

    def __init__(self, mechanism: Mechanism) -> None:
        self.mechanism = mechanism
        self.state = State.CLIENT_FIRST
        self.username: str | None = None
        self.user: object | None = None
        # The StoredKey the client proved it knows, kept after the exchange so that the session
        # can later tell whether the credential has changed since.
        self.stored_key = b""
        self._credential: Credential | None = None
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def _fail(self, reason: str, message: str | None = None) -> ScramFailure:
        self.state = State.FAILED
        self._credential = None
        return ScramFailure(message or GENERIC_FAILURE.format(self.mechanism.name), reason, self.username)

    def first(self, message: bytes, lookup: CredentialLookup) -> bytes:
        if self.state is not State.CLIENT_FIRST:
            raise self._fail(f"unexpected client-first message in state {self.state.value}")
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail("client-first message is not UTF-8") from None
        match = _CLIENT_FIRST.fullmatch(text)
        if match is None:
            raise self._fail("invalid SCRAM client-first message format")
        username = username_from_saslname(match["saslname"])
        if username is None:
            raise self._fail(f"invalid username {match['saslname']!r}")
        self.username = username
        found = lookup(username)
        if found is None:
            raise self._fail("invalid user credentials (no such user, or no SCRAM credential for this mechanism)")
        # Checked after the lookup, as Kafka does, so a wrong authzid tells nothing about the user.
        authzid = match["authzid"]
        if authzid and username_from_saslname(authzid) != username:
            raise self._fail(f"authorization id {authzid!r} differs from the username", OTHER_AUTHZID)
        user, credential = found
        if credential.iterations < self.mechanism.min_iterations:
            raise self._fail(f"iterations {credential.iterations} is less than the minimum "
                             f"{self.mechanism.min_iterations} for {self.mechanism.name}")
        self.user, self._credential, self.stored_key = user, credential, credential.stored_key
        self._client_first_bare = match["bare"]
        self._nonce = match["nonce"] + server_nonce()
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        self.state = State.CLIENT_FINAL
        return self._server_first.encode()

    def final(self, message: bytes) -> bytes:
        if self.state is not State.CLIENT_FINAL or self._credential is None:
            raise self._fail(f"unexpected client-final message in state {self.state.value}")
        try:
            text = message.decode("ascii")
        except UnicodeDecodeError:
            raise self._fail("client-final message is not ASCII") from None
        match = _CLIENT_FINAL.fullmatch(text)
        if match is None:
            raise self._fail("invalid SCRAM client-final message format")
        # Kafka 3.8.1 to 3.9 accept a nonce that ends with the combined one (endsWith, not equals):
        # librdkafka before 2.6.1 (Debian's kcat among them) sends the client nonce twice. The
        # server's fresh part must still be there, and the proof signs the nonce as sent.
        if not match["nonce"].endswith(self._nonce):
            raise self._fail("invalid client nonce in the final client message")
        try:
            proof = _b64decode(match["proof"])
        except (binascii.Error, ValueError):
            raise self._fail("client proof is not base64") from None
        # The channel binding (c=) is not compared with the gs2 header, as in Kafka: it is part of
        # the AuthMessage the proof signs, so a client that sent another one fails the proof.
        auth_message = f"{self._client_first_bare},{self._server_first},{match['without_proof']}".encode()
        credential = self._credential
        client_signature = _hmac(self.mechanism, credential.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise self._fail("invalid client credentials (proof of the wrong length)")
        client_key = bytes(a ^ b for a, b in zip(client_signature, proof, strict=True))
        if not hmac.compare_digest(_hash(self.mechanism, client_key), credential.stored_key):
            raise self._fail("invalid client credentials")
        signature = _hmac(self.mechanism, credential.server_key, auth_message)
        self._credential = None
        self.state = State.COMPLETE
        return b"v=" + base64.b64encode(signature)
