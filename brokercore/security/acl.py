"""Kafka's ACL model and the one authorizer every adapter asks (the Kafka listener, REST, the
console): `authorize(principal, host, operation, resource_type, name)`.

The rules are Kafka's AclAuthorizer / StandardAuthorizer's:
- super users may do everything: here, active staff users (Kafka's super.users);
- the ACLs that apply to a resource are the literal ones on its name, the literal ones on `*`,
  and the prefixed ones whose prefix starts its name;
- an ACL applies to a request when its principal is the requester's or `User:*`, its host the
  client's address or `*`, and its operation the requested one or ALL;
- one DENY that applies refuses (deny wins); else one ALLOW that applies grants, where READ,
  WRITE, DELETE and ALTER imply DESCRIBE and ALTER_CONFIGS implies DESCRIBE_CONFIGS;
- when no ACL at all names the resource (for any principal), BROKER["ACL_NO_MATCH"] decides
  (Kafka's allow.everyone.if.no.acl.found): "read-write" by default, so an install without ACLs
  behaves as before them (reads and writes for everyone, changes for staff).

ACLs are read once per ACL_CACHE_S per process (the listener asks on every request); a change
made in this process clears the cache at once, other processes see it within ACL_CACHE_S. Whether
a principal is staff is read only when the ACLs refuse, and then from the database, so a user
demoted or deactivated loses their rights at the next request while reads and writes that the
ACLs allow cost no query.
"""

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from brokercore.errors import BrokerError, InvalidRequest
from brokercore.models import Acl
from brokercore.security.principal import Principal


class ResourceType(IntEnum):
    """Kafka's org.apache.kafka.common.resource.ResourceType (wire codes)."""

    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    """Kafka's PatternType: LITERAL and PREFIXED are stored; ANY and MATCH only filter."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's AclOperation: ANY only filters."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class Permission(IntEnum):
    """Kafka's AclPermissionType: ANY only filters."""

    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


CLUSTER_NAME = "kafka-cluster"  # the one CLUSTER resource's name
WILDCARD = "*"  # a literal resource name, or a host, that matches every one
WILDCARD_PRINCIPAL = "User:*"

# Kafka's AclEntry.supportedOperations: what an authorized-operations bitfield is made of.
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[Operation, ...]] = {
    ResourceType.TOPIC: (Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE, Operation.DELETE,
                         Operation.ALTER, Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS),
    ResourceType.GROUP: (Operation.READ, Operation.DESCRIBE, Operation.DELETE),
    ResourceType.CLUSTER: (Operation.CREATE, Operation.CLUSTER_ACTION, Operation.DESCRIBE_CONFIGS,
                           Operation.ALTER_CONFIGS, Operation.IDEMPOTENT_WRITE, Operation.ALTER, Operation.DESCRIBE),
    ResourceType.TRANSACTIONAL_ID: (Operation.DESCRIBE, Operation.WRITE),
    ResourceType.DELEGATION_TOKEN: (Operation.DESCRIBE,),
    ResourceType.USER: (Operation.CREATE_TOKENS, Operation.DESCRIBE_TOKENS),
}

# The operations an ALLOW grants beyond its own (Kafka's AclOperation javadoc: READ, WRITE, DELETE
# and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS).
_GRANTED_BY: dict[Operation, frozenset[Operation]] = {
    Operation.DESCRIBE: frozenset({Operation.DESCRIBE, Operation.READ, Operation.WRITE, Operation.DELETE,
                                   Operation.ALTER, Operation.ALL}),
    Operation.DESCRIBE_CONFIGS: frozenset({Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS, Operation.ALL}),
}

# What BROKER["ACL_NO_MATCH"] = "read-write" allows on a resource no ACL names: what every
# authenticated user could do before ACLs existed.
READ_WRITE = frozenset({Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS,
                        Operation.IDEMPOTENT_WRITE})

ACL_CACHE_S = 1.0
# Kafka keeps ACL fields in ZooKeeper/metadata records without a limit; ours are columns.
MAX_NAME_LENGTH = 1000
MAX_HOST_LENGTH = 255


def _enum(cls: type[IntEnum], code: int) -> IntEnum:
    """A wire code as `cls`, UNKNOWN for a code Kafka does not define (as its fromCode does)."""
    try:
        return cls(code)
    except ValueError:
        return cls(0)


@dataclass(frozen=True, slots=True)
class AclBinding:
    """One ACL: a resource pattern and an access control entry (Kafka's AclBinding)."""

    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: Operation
    permission: Permission

    @classmethod
    def of(cls, *, resource_type: int, resource_name: str, pattern_type: int, principal: str, host: str,
           operation: int, permission: int) -> "AclBinding":
        """A binding from wire codes (codes Kafka does not define become UNKNOWN)."""
        return cls(
            _enum(ResourceType, resource_type), resource_name, _enum(PatternType, pattern_type), principal, host,
            _enum(Operation, operation), _enum(Permission, permission),
        )

    def applies_to(self, principal: str, host: str, operation: Operation, permission: Permission) -> bool:
        """Whether this ACL (already known to name the resource) speaks for `principal` from `host`
        about `operation` with `permission` (Kafka's matchingAclExists)."""
        return (
            self.permission == permission
            and (self.principal == principal or self.principal == WILDCARD_PRINCIPAL)
            and (self.host == WILDCARD or self.host == host)
            and (self.operation == operation or self.operation == Operation.ALL)
        )


@dataclass(frozen=True, slots=True)
class AclFilter:
    """Which ACLs DescribeAcls lists and DeleteAcls removes (Kafka's AclBindingFilter): ANY and
    None match everything; pattern type MATCH matches the ACLs that would apply to the named
    resource (the literal name, `*`, and the prefixes of the name)."""

    resource_type: ResourceType = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: PatternType = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: Operation = Operation.ANY
    permission: Permission = Permission.ANY

    @classmethod
    def of(cls, *, resource_type: int, resource_name: str | None, pattern_type: int, principal: str | None,
           host: str | None, operation: int, permission: int) -> "AclFilter":
        """A filter from wire codes (codes Kafka does not define become UNKNOWN)."""
        return cls(
            _enum(ResourceType, resource_type), resource_name, _enum(PatternType, pattern_type), principal, host,
            _enum(Operation, operation), _enum(Permission, permission),
        )

    def validate(self) -> None:
        """InvalidRequest when a field is UNKNOWN (Kafka refuses such a filter)."""
        unknown = [name for name, value in (
            ("resource type", self.resource_type), ("pattern type", self.pattern_type),
            ("operation", self.operation), ("permission type", self.permission),
        ) if value == 0]
        if unknown:
            raise InvalidRequest(f"The ACL filter contains UNKNOWN elements: {', '.join(unknown)}")

    def _pattern_matches(self, b: AclBinding) -> bool:
        # Kafka's ResourcePatternFilter.matches.
        if self.resource_type not in (ResourceType.ANY, b.resource_type):
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH, b.pattern_type):
            return False
        if self.resource_name is None:
            return True
        if self.pattern_type in (PatternType.ANY, b.pattern_type):
            return self.resource_name == b.resource_name
        # MATCH: the ACLs that would apply to a resource of that literal name.
        if b.pattern_type == PatternType.LITERAL:
            return b.resource_name in (self.resource_name, WILDCARD)
        return b.pattern_type == PatternType.PREFIXED and self.resource_name.startswith(b.resource_name)

    def matches(self, b: AclBinding) -> bool:
        return (
            self._pattern_matches(b)
            and self.principal in (None, b.principal)
            and self.host in (None, b.host)
            and self.operation in (Operation.ANY, b.operation)
            and self.permission in (Permission.ANY, b.permission)
        )


def acl_binding_validate(b: AclBinding) -> None:
    """InvalidRequest, with Kafka's words (AclApis, AclControlManager.validateNewAcl), for an ACL
    that cannot be created."""
    if b.resource_type == ResourceType.CLUSTER and b.resource_name != CLUSTER_NAME:
        raise InvalidRequest(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    if not b.resource_name:
        raise InvalidRequest("Invalid empty resource name")
    if b.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        raise InvalidRequest(f"Invalid resourceType {b.resource_type.name}")
    if b.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise InvalidRequest(f"Invalid patternType {b.pattern_type.name}")
    if b.operation in (Operation.UNKNOWN, Operation.ANY):
        raise InvalidRequest(f"Invalid operation {b.operation.name}")
    if b.permission not in (Permission.ALLOW, Permission.DENY):
        raise InvalidRequest(f"Invalid permissionType {b.permission.name}")
    if ":" not in b.principal:
        raise InvalidRequest(f"Could not parse principal from `{b.principal}` (no colon is present separating the "
                             f"principal type from the principal name)")
    if len(b.resource_name) > MAX_NAME_LENGTH or len(b.principal) > MAX_NAME_LENGTH or len(b.host) > MAX_HOST_LENGTH:
        raise InvalidRequest(f"ACL resource names and principals are at most {MAX_NAME_LENGTH} characters, "
                             f"hosts at most {MAX_HOST_LENGTH}")


# --- The per-process cache -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Acls:
    expires: float
    literal: dict[tuple[ResourceType, str], tuple[AclBinding, ...]]
    prefixed: dict[ResourceType, tuple[AclBinding, ...]]
    by_type: dict[ResourceType, tuple[AclBinding, ...]]


_cache: _Acls | None = None
_cache_lock = threading.Lock()


def _binding(row: Acl) -> AclBinding:
    return AclBinding.of(resource_type=row.resource_type, resource_name=row.resource_name,
                         pattern_type=row.pattern_type, principal=row.principal, host=row.host,
                         operation=row.operation, permission=row.permission)


def _bindings() -> tuple[AclBinding, ...]:
    return tuple(_binding(row) for row in Acl.objects.order_by("id"))


def _load() -> _Acls:
    bindings = _bindings()
    literal: dict[tuple[ResourceType, str], list[AclBinding]] = {}
    prefixed: dict[ResourceType, list[AclBinding]] = {}
    by_type: dict[ResourceType, list[AclBinding]] = {}
    for b in bindings:
        by_type.setdefault(b.resource_type, []).append(b)
        if b.pattern_type == PatternType.LITERAL:
            literal.setdefault((b.resource_type, b.resource_name), []).append(b)
        else:
            prefixed.setdefault(b.resource_type, []).append(b)
    return _Acls(
        expires=time.monotonic() + ACL_CACHE_S,
        literal={k: tuple(v) for k, v in literal.items()}, prefixed={k: tuple(v) for k, v in prefixed.items()},
        by_type={k: tuple(v) for k, v in by_type.items()},
    )


def _acls() -> _Acls:
    global _cache
    cached = _cache
    if cached is not None and cached.expires > time.monotonic():
        return cached
    with _cache_lock:  # one thread reads the database; the others wait for its answer
        cached = _cache
        if cached is None or cached.expires <= time.monotonic():
            cached = _cache = _load()
    return cached


def acl_cache_clear() -> None:
    """Forget the cached ACLs (after a change in this process; tests flush databases)."""
    global _cache
    _cache = None


# --- Deciding ------------------------------------------------------------------------------------


def _no_acl_rule(operation: Operation) -> bool:
    rule = settings.BROKER["ACL_NO_MATCH"]
    return rule == "allow" or (rule == "read-write" and operation in READ_WRITE)


def _matching(acls: _Acls, resource_type: ResourceType, name: str) -> list[AclBinding]:
    """The ACLs that name the resource (Kafka's matchingAcls)."""
    out = list(acls.literal.get((resource_type, WILDCARD), ()))
    if name != WILDCARD:
        out += acls.literal.get((resource_type, name), ())
    out += [b for b in acls.prefixed.get(resource_type, ()) if name.startswith(b.resource_name)]
    return out


def principal_is_super(principal: Principal) -> bool:
    """Whether `principal` is a super user (Kafka's super.users): an active staff user, read now.
    Reads the database."""
    if principal.user_id is None:
        return False
    return get_user_model().objects.filter(pk=principal.user_id, is_active=True, is_staff=True).exists()


def _decide(principal: Principal, host: str, operation: Operation,
            matching: list[AclBinding]) -> tuple[bool, AclBinding | None]:
    """What the ACLs (or, when none names the resource, the no-ACL rule) decide, super users
    aside, and the ACL that decided (None: the no-ACL rule, or no ALLOW applies)."""
    if not matching:
        return _no_acl_rule(operation), None
    who = str(principal)
    for b in matching:
        if b.applies_to(who, host, operation, Permission.DENY):
            return False, b
    granted_by = _GRANTED_BY.get(operation, frozenset({operation, Operation.ALL}))
    for b in matching:
        for op in granted_by:
            if b.applies_to(who, host, op, Permission.ALLOW):
                return True, b
    return False, None


def _allowed(principal: Principal, host: str, operation: Operation, matching: list[AclBinding]) -> bool:
    return _decide(principal, host, operation, matching)[0]


def authorize(principal: Principal, host: str, operation: Operation, resource_type: ResourceType, name: str) -> bool:
    """Whether `principal`, connected from `host`, may perform `operation` on the resource
    (`resource_type`, literal `name`). Reads the database at most once per ACL_CACHE_S."""
    return _allowed(principal, host, operation, _matching(_acls(), resource_type, name)) or principal_is_super(principal)


def authorize_any(principal: Principal, host: str, operation: Operation, resource_type: ResourceType) -> bool:
    """Whether `principal` may perform `operation` on some resource of `resource_type` (Kafka's
    authorizeByResourceType: an ALLOW on a literal name or prefix that no DENY covers; KIP-679
    lets a producer with WRITE on any topic be idempotent)."""
    return _any_allowed(principal, host, operation, resource_type) or principal_is_super(principal)


def _any_allowed(principal: Principal, host: str, operation: Operation, resource_type: ResourceType) -> bool:
    acls = _acls()
    who = str(principal)
    found: dict[tuple[Permission, PatternType], set[str]] = {}
    for b in acls.by_type.get(resource_type, ()):
        for permission in (Permission.ALLOW, Permission.DENY):
            if b.applies_to(who, host, operation, permission):
                found.setdefault((permission, b.pattern_type), set()).add(b.resource_name)
    deny_literals = found.get((Permission.DENY, PatternType.LITERAL), set())
    deny_prefixes = found.get((Permission.DENY, PatternType.PREFIXED), set())
    if WILDCARD in deny_literals:
        return False
    if _no_acl_rule(operation):
        return True
    allow_literals = found.get((Permission.ALLOW, PatternType.LITERAL), set())
    allow_prefixes = found.get((Permission.ALLOW, PatternType.PREFIXED), set())

    def dominated(name: str) -> bool:  # a DENY prefix covers it
        return any(name[:i] in deny_prefixes for i in range(len(name) + 1))

    return (any(not dominated(p) for p in allow_prefixes)
            or any(n == WILDCARD or (n not in deny_literals and not dominated(n)) for n in allow_literals))


def authorized_operations(principal: Principal, host: str, resource_type: ResourceType, name: str) -> int:
    """Kafka's authorized-operations bitfield of a resource: bit `op` set for each operation of
    its type (SUPPORTED_OPERATIONS) that `principal` may perform (Utils.to32BitField)."""
    return _operations(principal, host, resource_type, name, lambda: principal_is_super(principal))


def _operations(principal: Principal, host: str, resource_type: ResourceType, name: str,
                is_super: Callable[[], bool]) -> int:
    matching = _matching(_acls(), resource_type, name)
    supported = SUPPORTED_OPERATIONS[resource_type]
    allowed = [op for op in supported if _allowed(principal, host, op, matching)]
    if len(allowed) < len(supported) and is_super():
        allowed = list(supported)
    return sum(1 << op for op in allowed)


class Requester:
    """Who asks and from where, for one request: what an adapter hands the authorizer for each
    of its checks. Whether the principal is staff is read at most once per Requester."""

    __slots__ = ("principal", "host", "_super")

    def __init__(self, principal: Principal, host: str) -> None:
        self.principal = principal
        self.host = host
        self._super: bool | None = None

    def is_super(self) -> bool:
        if self._super is None:
            self._super = principal_is_super(self.principal)
        return self._super

    def may(self, operation: Operation, resource_type: ResourceType, name: str) -> bool:
        matching = _matching(_acls(), resource_type, name)
        return _allowed(self.principal, self.host, operation, matching) or self.is_super()

    def may_any(self, operation: Operation, resource_type: ResourceType) -> bool:
        return _any_allowed(self.principal, self.host, operation, resource_type) or self.is_super()

    def operations(self, resource_type: ResourceType, name: str) -> int:
        return _operations(self.principal, self.host, resource_type, name, self.is_super)

    def refusal(self, operation: Operation, resource_type: ResourceType, name: str) -> str:
        """The message of an authorization failure."""
        return (f"{self.principal} is not authorized to {operation.name} {resource_type.name} {name!r}: ask an "
                f"administrator for an ACL that allows it (or for a staff account).")


class DecisionRule(StrEnum):
    """What decided an operation (the rules of Kafka's StandardAuthorizerData, in its order)."""

    SUPER_USER = "super user"  # an active staff user (Kafka's super.users)
    DENY_ACL = "a DENY ACL"  # one DENY that applies refuses, whatever allows
    ALLOW_ACL = "an ALLOW ACL"  # on the operation, ALL, or one implying it (READ implies DESCRIBE ...)
    NO_ACL_MATCH = "no ACL names the resource"  # BROKER["ACL_NO_MATCH"] decides
    NO_ALLOW_ACL = "no ALLOW ACL applies"  # ACLs name the resource, none allows this: refused


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a principal may perform `operation` on a resource, and why."""

    operation: Operation
    allowed: bool
    rule: DecisionRule
    acl: AclBinding | None = None  # the ACL that decided (DENY_ACL, ALLOW_ACL)


def authorization_explain(principal: Principal, host: str, resource_type: ResourceType, name: str) -> list[Decision]:
    """For each operation of the resource's type (SUPPORTED_OPERATIONS), what `authorize` answers
    and which rule decided: what a person asks when a client is refused (or is not). Reads the
    database (whether the principal is staff)."""
    is_super = principal_is_super(principal)
    matching = _matching(_acls(), resource_type, name)
    out = []
    for op in SUPPORTED_OPERATIONS[resource_type]:
        if is_super:
            out.append(Decision(op, True, DecisionRule.SUPER_USER))
            continue
        allowed, acl = _decide(principal, host, op, matching)
        if acl is not None:
            rule = DecisionRule.ALLOW_ACL if acl.permission == Permission.ALLOW else DecisionRule.DENY_ACL
        else:
            rule = DecisionRule.NO_ALLOW_ACL if matching else DecisionRule.NO_ACL_MATCH
        out.append(Decision(op, allowed, rule, acl))
    return out


def acl_order(b: AclBinding) -> tuple[str, ...]:
    """The order people read ACLs in (Confluent's REST proxy's): by resource type, name, pattern
    type, principal, host, operation, permission."""
    return (b.resource_type.name, b.resource_name, b.pattern_type.name, b.principal, b.host, b.operation.name,
            b.permission.name)


def operations_from_bits(bits: int) -> list[Operation]:
    """The operations of an authorized-operations bitfield, in code order."""
    return [op for op in Operation if bits & (1 << op)]


# --- Listing and changing ------------------------------------------------------------------------


def acls_describe(acl_filter: AclFilter) -> list[AclBinding]:
    """The ACLs `acl_filter` matches, oldest first (InvalidRequest for a filter with UNKNOWN fields)."""
    acl_filter.validate()
    return [b for b in _bindings() if acl_filter.matches(b)]


def _changed() -> None:
    # Now, for this thread's next check inside the same transaction, and after the commit, for
    # the threads that read the ACLs meanwhile.
    acl_cache_clear()
    transaction.on_commit(acl_cache_clear)


def acls_create(*, bindings: Sequence[AclBinding]) -> list[BrokerError | None]:
    """Create ACLs, each answered on its own (None: created, or there already): an invalid one is
    an InvalidRequest and the others are still created, in one transaction."""
    results: list[BrokerError | None] = []
    valid = []
    for b in bindings:
        try:
            acl_binding_validate(b)
        except BrokerError as e:
            results.append(e)
            continue
        results.append(None)
        valid.append(Acl(resource_type=b.resource_type, resource_name=b.resource_name, pattern_type=b.pattern_type,
                         principal=b.principal, host=b.host, operation=b.operation, permission=b.permission))
    if valid:
        with transaction.atomic():
            Acl.objects.bulk_create(valid, ignore_conflicts=True)  # an ACL is a set member
            _changed()
    return results


def acls_delete(*, filters: Sequence[AclFilter]) -> list[list[AclBinding] | BrokerError]:
    """Delete the ACLs each filter matches, in one transaction: per filter, the ACLs it deleted
    (an ACL two filters match counts for the first, as Kafka reports it), or InvalidRequest."""
    results: list[list[AclBinding] | BrokerError] = []
    with transaction.atomic():
        rows = list(Acl.objects.select_for_update().order_by("id"))
        taken: set[int] = set()
        for f in filters:
            try:
                f.validate()
            except BrokerError as e:
                results.append(e)
                continue
            deleted = []
            for row in rows:
                if row.pk not in taken and f.matches(b := _binding(row)):
                    taken.add(row.pk)
                    deleted.append(b)
            results.append(deleted)
        if taken:
            Acl.objects.filter(pk__in=taken).delete()
            _changed()
    return results

