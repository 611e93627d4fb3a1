"""Provisions the broker's principals through confluent-kafka's admin API: SCRAM users with
their stored passwords and the ACL bindings of `infra.principals`, as the operator.

Idempotent and incremental: only missing users and bindings are sent, batched (CHUNK a request).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import acl_admin
from infra import secrets
from infra.principals import (
    CREATE,
    DELETE,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    GROUP,
    OPERATOR,
    READ,
    TOPIC,
    TRANSACTIONAL_ID,
    WRITE,
    AclSpec,
    Principal,
    participant,
    relay_principals,
)
from schemas.topics import Namespace

SCRAM_ITERATIONS = 4096  # the minimum Kafka accepts for SCRAM-SHA-512
TIMEOUT = 120.0
CHUNK = 5000
"""Items per admin request: librdkafka refuses a response array of more than 10,000 entries,
so 20,000 users go as four requests, all sent before any answer is awaited."""
PER_USER = 0.05
"""Seconds allowed per user created on top of TIMEOUT: the client salts each password (PBKDF2,
4096 rounds), about 12 ms a user on the development machine."""
RESOURCES = {TOPIC: ResourceType.TOPIC, GROUP: ResourceType.GROUP,
             TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID}
OPERATIONS = {READ: AclOperation.READ, WRITE: AclOperation.WRITE,
              DESCRIBE: AclOperation.DESCRIBE, CREATE: AclOperation.CREATE,
              DELETE: AclOperation.DELETE, DESCRIBE_CONFIGS: AclOperation.DESCRIBE_CONFIGS}
BY_RESOURCE = {v: k for k, v in RESOURCES.items()}
BY_OPERATION = {v: k for k, v in OPERATIONS.items()}


class ProvisioningError(RuntimeError):
    """The broker refused a user or an ACL binding; the message names which, never a secret."""


@dataclass(frozen=True)
class Provisioned:
    """What one provisioning run sent: users created and ACL bindings created."""

    users: int
    bindings: int

    def line(self) -> str:
        return f"broker principals: {self.users} user(s), {self.bindings} ACL binding(s) added"


def _binding(spec: AclSpec) -> AclBinding:
    pattern = ResourcePatternType.PREFIXED if spec.prefixed else ResourcePatternType.LITERAL
    return AclBinding(RESOURCES[spec.resource], spec.name, pattern, spec.principal, "*",
                      OPERATIONS[spec.operation], AclPermissionType.ALLOW)


def _spec(binding: AclBinding) -> AclSpec | None:
    """The spec of a binding the relay made (an ALLOW on a resource kind it uses)."""
    if (binding.permission_type != AclPermissionType.ALLOW or binding.host != "*"
            or binding.restype not in BY_RESOURCE or binding.operation not in BY_OPERATION):
        return None
    return AclSpec(binding.principal, BY_RESOURCE[binding.restype], binding.name,
                   binding.resource_pattern_type == ResourcePatternType.PREFIXED,
                   BY_OPERATION[binding.operation])


def operator_admin(cfg: StackConfig):  # confluent-kafka's AdminClient (it has no hints)
    """The operator's admin client; requests up to 100 MB (20,000 users in one call)."""
    return acl_admin(cfg.kafka(OPERATOR), **{"message.max.bytes": "100000000"})


def _chunks(items: list) -> list[list]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def existing_users(admin, names: list[str]) -> set[str]:
    """Which of `names` the broker holds as SCRAM users, asked CHUNK names a request (a
    response listing every user fails librdkafka's parse beyond 10,000)."""
    futures = {n: f for chunk in _chunks(sorted(set(names))) for n, f in
               admin.describe_user_scram_credentials(chunk, request_timeout=TIMEOUT).items()}
    return {n for n, f in futures.items() if f.exception(TIMEOUT) is None}


FEW = 16  # principals asked about one by one rather than by listing every binding


def existing_bindings(admin, principals: Iterable[str] | None = None) -> set[AclSpec]:
    """The relay's bindings on the broker: all, or those of a few `principals`."""
    names: list[str | None] = [None]
    if principals is not None and len(set(principals)) <= FEW:
        names = sorted(set(principals))
    futures = [admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, name, None, AclOperation.ANY,
        AclPermissionType.ANY), request_timeout=TIMEOUT) for name in names]
    return {s for f in futures for s in (_spec(b) for b in f.result(TIMEOUT))
            if s is not None}


def ensure_users(cfg: StackConfig, admin, names: Iterable[str]) -> int:
    """Create the SCRAM users of `names` the broker lacks, with their stored passwords (made
    now for a principal without one), in one call; return how many were created."""
    wanted = sorted(set(names))
    missing = sorted(set(wanted) - existing_users(admin, wanted))
    if not missing:
        return 0
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [UserScramCredentialUpsertion(n, info, secrets.password(cfg, n).encode())
               for n in missing]
    budget = TIMEOUT + PER_USER * len(upserts)
    futures = {n: f for chunk in _chunks(upserts) for n, f in
               admin.alter_user_scram_credentials(chunk, request_timeout=budget).items()}
    deadline = time.monotonic() + budget
    failed = [n for n, f in futures.items()
              if f.exception(max(1.0, deadline - time.monotonic())) is not None]
    if failed:
        raise ProvisioningError(f"the broker refused SCRAM users {failed[:5]} "
                                f"({len(failed)} in all)")
    return len(missing)


def ensure_bindings(admin, specs: Iterable[AclSpec]) -> int:
    """Create the ACL bindings of `specs` the broker lacks in one call and wait until the
    broker's authorizer holds them; return how many were created."""
    wanted = set(specs)
    missing = sorted(wanted - existing_bindings(admin, {s.principal for s in wanted}))
    if not missing:
        return 0
    futures = {b: f for chunk in _chunks([_binding(s) for s in missing])
               for b, f in admin.create_acls(chunk, request_timeout=TIMEOUT).items()}
    failed = [b for b, f in futures.items() if f.exception(TIMEOUT) is not None]
    if failed:
        raise ProvisioningError(f"the broker refused ACL bindings {failed[:3]} "
                                f"({len(failed)} in all)")
    _await(admin, set(missing))
    return len(missing)


def _await(admin, wanted: set[AclSpec], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not wanted <= existing_bindings(admin, {s.principal for s in wanted}):
        if time.monotonic() > deadline:
            raise ProvisioningError(f"ACL bindings not in force after {seconds:.0f}s")
        time.sleep(0.05)


def provision(cfg: StackConfig, participants: Sequence[tuple[str, str]],
              namespace: Namespace | None = None) -> Provisioned:
    """The relay's principals and those of `participants` ((role, code) pairs, e.g. from
    `trust.pki.list_participants`): missing users, then missing bindings in `namespace`
    (the stack's own by default)."""
    topics = namespace or Namespace(cfg.topic_prefix)
    principals = [*relay_principals(), *(participant(r, c) for r, c in participants)]
    admin = operator_admin(cfg)
    users = ensure_users(cfg, admin, [p.name for p in principals])
    specs = [s for p in principals for s in p.bindings(topics)]
    return Provisioned(users, ensure_bindings(admin, specs))


def namespace_bindings(namespace: Namespace,
                       principals: Iterable[Principal] | None = None) -> list[AclSpec]:
    """The topic bindings a relay namespace adds for `principals` (the relay's by default)."""
    chosen = relay_principals() if principals is None else principals
    return [s for p in chosen for s in p.bindings(namespace, namespaced_only=True)]


def grant_namespace(cfg: StackConfig, namespace: Namespace,
                    principals: Iterable[Principal] | None = None) -> int:
    """Let the relay's processors (or `principals`) work in `namespace` too."""
    return ensure_bindings(operator_admin(cfg), namespace_bindings(namespace, principals))


def revoke_namespace(cfg: StackConfig, namespace: Namespace,
                     principals: Iterable[Principal] | None = None) -> None:
    """Delete the topic bindings `grant_namespace` made in `namespace` (a dropped one)."""
    if not namespace.prefix:
        raise ValueError("refusing to revoke the unprefixed namespace's grants")
    doomed = namespace_bindings(namespace, principals)
    admin = operator_admin(cfg)
    filters = [AclBindingFilter(RESOURCES[s.resource], s.name,
                                ResourcePatternType.PREFIXED if s.prefixed
                                else ResourcePatternType.LITERAL,
                                s.principal, "*", OPERATIONS[s.operation],
                                AclPermissionType.ALLOW) for s in doomed]
    for future in admin.delete_acls(filters, request_timeout=TIMEOUT).values():
        future.result(TIMEOUT)
