"""Console users' SCRAM credentials: stored, found for the SASL exchange, altered and described
as Kafka's ScramControlManager and ScramImage do (the rules and messages of
AlterUserScramCredentials and DescribeUserScramCredentials), and set from a password for the CLI
and the console (the salting done here, as kafka-configs does it on its side).

A Kafka principal here is a console user (User:<username>): a credential belongs to an existing
user and goes with it. That is the one difference from Kafka, where a SCRAM credential may name
any user: altering one for a name that is no console user answers RESOURCE_NOT_FOUND.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from brokercore import clock
from brokercore.errors import (
    BrokerError,
    DuplicateResource,
    ResourceNotFound,
    UnacceptableCredential,
    UnsupportedSaslMechanism,
)
from brokercore.models import ScramCredential
from brokercore.security.scram import (
    BY_TYPE,
    DEFAULT_ITERATIONS,
    MAX_ITERATIONS,
    Credential,
    Mechanism,
    credential_from_salted_password,
    credential_generate,
    iterations_problem,
    mechanism_named,
)

DUPLICATE_ALTER = "A user credential cannot be altered twice in the same request"
DELETE_MISSING = "Attempt to delete a user credential that does not exist"
DESCRIBE_DUPLICATE = "Cannot describe SCRAM credentials for the same user twice in a single request: "
DESCRIBE_MISSING = "Attempt to describe a user credential that does not exist: "


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What may be told about a credential (Kafka's ScramCredentialInfo): never salt or keys."""

    mechanism: Mechanism
    iterations: int


@dataclass(frozen=True, slots=True)
class UserResult:
    """One user's outcome of an alter or describe: error code 0 and the credentials, or Kafka's
    error code and message."""

    user: str
    error_code: int = 0
    error_message: str | None = None
    credentials: tuple[CredentialInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class Upsertion:
    """A credential to set from a salted password, as AlterUserScramCredentials carries it."""

    name: str
    mechanism: int
    iterations: int
    salt: bytes
    salted_password: bytes


@dataclass(frozen=True, slots=True)
class Deletion:
    name: str
    mechanism: int


def _users_named(names: Iterable[str]) -> dict[str, AbstractBaseUser]:
    User = get_user_model()
    field = User.USERNAME_FIELD
    return {getattr(u, field): u for u in User.objects.filter(**{f"{field}__in": list(set(names))})}


def _info(row: ScramCredential) -> CredentialInfo:
    return CredentialInfo(BY_TYPE[row.mechanism], row.iterations)


# --- The SASL exchange --------------------------------------------------------------------------


def scram_credential_find(username: str, mechanism: Mechanism) -> tuple[AbstractBaseUser, Credential] | None:
    """The active user called `username` and their credential for `mechanism`, or None."""
    User = get_user_model()
    row = (ScramCredential.objects.select_related("user")
           .filter(mechanism=mechanism.type, user__is_active=True, **{f"user__{User.USERNAME_FIELD}": username})
           .first())
    if row is None:
        return None
    return row.user, Credential(bytes(row.salt), bytes(row.stored_key), bytes(row.server_key), row.iterations)


def scram_still_valid(user_id: int, mechanism: Mechanism, stored_key: bytes) -> Callable[[], bool]:
    """A check that a connection's SCRAM login would still be accepted: the user is active and
    the credential it used is unchanged (not deleted, not replaced). One query."""

    def check() -> bool:
        row = (ScramCredential.objects.filter(user_id=user_id, mechanism=mechanism.type, user__is_active=True)
               .values_list("stored_key", flat=True).first())
        return row is not None and bytes(row) == stored_key

    return check


# --- Writes --------------------------------------------------------------------------------------


def _store(user: AbstractBaseUser, mechanism: Mechanism, credential: Credential) -> None:
    ScramCredential.objects.update_or_create(
        user=user, mechanism=mechanism.type,
        defaults={"iterations": credential.iterations, "salt": credential.salt, "stored_key": credential.stored_key,
                  "server_key": credential.server_key, "updated_at": clock.now()},
    )


def _mechanism(name_or_type: str | int) -> Mechanism:
    found = BY_TYPE.get(name_or_type) if isinstance(name_or_type, int) else mechanism_named(name_or_type)
    if found is None:
        raise UnsupportedSaslMechanism("Unknown SCRAM mechanism")
    return found


def _user(username: str) -> AbstractBaseUser:
    if not username:
        raise UnacceptableCredential("Username must not be empty")
    user = _users_named([username]).get(username)
    if user is None:
        raise ResourceNotFound(f"No console user called '{username}': SCRAM credentials belong to console users.")
    return user


def scram_credential_set(
    *, username: str, mechanism: str, password: str, iterations: int = DEFAULT_ITERATIONS
) -> CredentialInfo:
    """Set `username`'s credential for `mechanism` from `password` (salted here with a fresh salt;
    the password is not kept). Raises UnsupportedSaslMechanism, UnacceptableCredential (Kafka's
    iteration limits, an empty password) or ResourceNotFound (no such console user)."""
    mech = _mechanism(mechanism)
    problem = iterations_problem(mech, iterations)
    if problem:
        raise UnacceptableCredential(f"{problem}: {mech.name} takes {mech.min_iterations} to {MAX_ITERATIONS} iterations")
    if not password:
        raise UnacceptableCredential("Password must not be empty")
    user = _user(username)
    credential = credential_generate(mech, password, iterations)
    with transaction.atomic():
        _store(user, mech, credential)
    return CredentialInfo(mech, iterations)


def scram_credential_delete(*, username: str, mechanism: str) -> None:
    """Remove `username`'s credential for `mechanism`; ResourceNotFound when there is none."""
    mech = _mechanism(mechanism)
    user = _user(username)
    deleted, _ = ScramCredential.objects.filter(user=user, mechanism=mech.type).delete()
    if not deleted:
        raise ResourceNotFound(DELETE_MISSING)


def _named_mechanism(name: str, mechanism: int) -> Mechanism:
    """Kafka's validateScramUsernameAndMechanism: a name, and a mechanism it knows."""
    if not name:
        raise UnacceptableCredential("Username must not be empty")
    return _mechanism(mechanism)


def _upsertion_problem(u: Upsertion) -> BrokerError | None:
    try:
        mech = _named_mechanism(u.name, u.mechanism)
    except BrokerError as e:
        return e
    problem = iterations_problem(mech, u.iterations)
    if problem:
        return UnacceptableCredential(problem)
    # Kafka stores whatever it is sent; an empty salt or salted password can only be a client bug
    # that would leave a user unable to log in, so it is refused here.
    if not u.salt or not u.salted_password:
        return UnacceptableCredential("Salt and salted password must not be empty")
    return None


def scram_credentials_alter(*, deletions: Sequence[Deletion], upsertions: Sequence[Upsertion]) -> list[UserResult]:
    """AlterUserScramCredentials as Kafka's ScramControlManager.alterCredentials: a user named
    twice in one request (in any mix of deletions and upsertions) is refused DUPLICATE_RESOURCE;
    every other user's change is checked alone and the accepted ones are applied together, in one
    transaction. Results: deletions, then upsertions, then failures."""
    by_name = _users_named([d.name for d in deletions] + [u.name for u in upsertions])
    errors: dict[str, BrokerError] = {}
    to_delete: dict[str, Deletion] = {}
    to_upsert: dict[str, Upsertion] = {}
    existing = {(c.user_id, c.mechanism) for c in ScramCredential.objects.filter(user__in=list(by_name.values()))}
    for d in deletions:
        if d.name in errors:
            continue
        if to_delete.pop(d.name, None) is not None:
            errors[d.name] = DuplicateResource(DUPLICATE_ALTER)
            continue
        user = by_name.get(d.name)
        try:
            mech = _named_mechanism(d.name, d.mechanism)
            if user is None or (user.pk, mech.type) not in existing:
                raise ResourceNotFound(DELETE_MISSING)
        except BrokerError as e:
            errors[d.name] = e
            continue
        to_delete[d.name] = d
    for u in upsertions:
        if u.name in errors:
            continue
        if to_delete.pop(u.name, None) is not None or to_upsert.pop(u.name, None) is not None:
            errors[u.name] = DuplicateResource(DUPLICATE_ALTER)
            continue
        problem = _upsertion_problem(u)
        if problem is None and u.name not in by_name:
            problem = ResourceNotFound(f"No console user called '{u.name}': SCRAM credentials belong to console users.")
        if problem is not None:
            errors[u.name] = problem
            continue
        to_upsert[u.name] = u
    with transaction.atomic():
        for d in to_delete.values():
            ScramCredential.objects.filter(user=by_name[d.name], mechanism=d.mechanism).delete()
        for u in to_upsert.values():
            mech = BY_TYPE[u.mechanism]
            _store(by_name[u.name], mech,
                   credential_from_salted_password(mech, u.salted_password, u.salt, u.iterations))
    return ([UserResult(name) for name in to_delete] + [UserResult(name) for name in to_upsert]
            + [UserResult(name, e.code, str(e)) for name, e in errors.items()])


def scram_credentials_describe(users: Sequence[str] | None) -> list[UserResult]:
    """DescribeUserScramCredentials as Kafka's ScramImage.describe: every user with a credential
    when `users` is None or empty; else each user named, DUPLICATE_RESOURCE for a name given
    twice and RESOURCE_NOT_FOUND for one without credentials."""
    rows = ScramCredential.objects.select_related("user").order_by("user_id", "mechanism")
    field = get_user_model().USERNAME_FIELD
    if users:
        rows = rows.filter(**{f"user__{field}__in": list(set(users))})
    found: dict[str, list[CredentialInfo]] = {}
    for row in rows:
        found.setdefault(getattr(row.user, field), []).append(_info(row))
    if not users:
        return [UserResult(name, credentials=tuple(infos)) for name, infos in sorted(found.items())]
    counts: dict[str, int] = {}
    for name in users:
        counts[name] = counts.get(name, 0) + 1
    out = []
    for name, count in counts.items():
        if count > 1:
            out.append(UserResult(name, DuplicateResource.code, DESCRIBE_DUPLICATE + name))
        elif name in found:
            out.append(UserResult(name, credentials=tuple(found[name])))
        else:
            out.append(UserResult(name, ResourceNotFound.code, DESCRIBE_MISSING + name))
    return out


def scram_credentials_of(user: AbstractBaseUser) -> list[CredentialInfo]:
    """`user`'s credentials (mechanism and iterations), for the console."""
    return [_info(row) for row in ScramCredential.objects.filter(user=user).order_by("mechanism")]
