"""Who may do what on the broker: every principal of the relay and its grants, as data, and the
ACL bindings they make in a relay's namespace. Pure: no I/O; `infra.kafka_acl` applies them.

Deny by default: a principal may do only what its grants list; nothing is granted to `User:*`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.topics import (
    CATALOGUE,
    CLOCK_SOURCE,
    CLOCKED_TOPICS,
    EXCHANGE_SETTLEMENT,
    EXCHANGE_TOPICS,
    FORWARDED_TICK_TOPICS,
    INGESTION_TOPICS,
    OUTBOX_POSITION,
    RELAY_CLOCK,
    Namespace,
    receipts_topics,
)
from trust.rules import ROLE_TOPICS, ROLES, Role

RELAY_LINKER = "relay-linker"
OUTBOX_PUBLISHER = "outbox-publisher"
RELAY_CLOCK_PRINCIPAL = "relay-clock"
RELAY_EXCHANGE = "relay-exchange"
NOTIFICATIONS_PRINCIPAL = "notifications"
LAG_MONITOR_PRINCIPAL = "lag-monitor"
OPERATOR = "shaho-operator"
DEMO = "shaho-demo"
TESTS = "shaho-tests"
BENCH = "shaho-bench"
BROKER = "shaho-broker"
"""The broker's own SCRAM user, for its connections to itself (transaction markers)."""
CONTROLLER = "shaho-controller"
"""The controller's certificate principal (mutual TLS on the controller listener)."""
SUPER_USERS = (CONTROLLER, BROKER, OPERATOR)
"""Principals the authorizer lets do anything: the node itself and the operator, which creates
topics and provisions every other principal; all of them authenticated."""

PARTICIPANT_PREFIX = "participant.{code}."
"""What is addressed to one participant: `participant.<code>.<stream>.v1`."""
OUTCOME_TOPIC = "outcome.{role}.v1"
"""The sealed outcomes of one kind of participant."""
FILER_ROLES = tuple(r for r in ROLES if r != Role.RELAY)

TOPIC, GROUP, TRANSACTIONAL_ID = "topic", "group", "transactional_id"
READ, WRITE, DESCRIBE, CREATE, DELETE = "read", "write", "describe", "create", "delete"
DESCRIBE_CONFIGS = "describe_configs"
EVERYTHING = "*"


@dataclass(frozen=True, order=True)
class Grant:
    """One permission: `operation` on the resource `name` (or every name starting with it,
    when `prefixed`). Topic names are catalogue names, put into a relay's namespace when the
    grant is applied; group and transactional id names are taken as they are."""

    resource: str
    name: str
    operation: str
    prefixed: bool = False

    @property
    def namespaced(self) -> bool:
        return self.resource == TOPIC and self.name != EVERYTHING


@dataclass(frozen=True, order=True)
class AclSpec:
    """One ACL binding as the broker holds it: ALLOW `principal` `operation` on the resource."""

    principal: str
    resource: str
    name: str
    prefixed: bool
    operation: str


@dataclass(frozen=True)
class Principal:
    """A SCRAM user of the broker and everything it may do."""

    name: str
    grants: tuple[Grant, ...]

    def bindings(self, namespace: Namespace, namespaced_only: bool = False) -> list[AclSpec]:
        """The ACL bindings of this principal's grants in `namespace`; with `namespaced_only`,
        only those whose name the namespace changes (what a new namespace adds)."""
        return [AclSpec(f"User:{self.name}", g.resource,
                        namespace.physical(g.name) if g.namespaced else g.name,
                        g.prefixed, g.operation)
                for g in self.grants if g.namespaced or not namespaced_only]

    def may(self, operation: str, resource: str, name: str,
            namespace: Namespace | None = None) -> bool:
        """Whether the bindings allow `operation` on `name` (READ and WRITE imply DESCRIBE)."""
        implied = {operation} | ({READ, WRITE} if operation == DESCRIBE else set())
        return any(b.operation in implied and b.resource == resource and
                   (b.name == EVERYTHING or b.name == name or
                    (b.prefixed and name.startswith(b.name)))
                   for b in self.bindings(namespace or Namespace()))


def _topics(operation: str, names: Iterable[str], prefixed: bool = False) -> tuple[Grant, ...]:
    return tuple(Grant(TOPIC, n, operation, prefixed) for n in names)


INGESTION = [t.name for t in INGESTION_TOPICS]
DLQS = [t.name for t in CATALOGUE if t.name.endswith(".dlq")]

LINKER = Principal(RELAY_LINKER, (
    *_topics(READ, INGESTION),
    Grant(GROUP, "relay-linker", READ),
))
PUBLISHER = Principal(OUTBOX_PUBLISHER, (
    *_topics(WRITE, ["relay.", "outcome.", "participant."], prefixed=True),
    *_topics(WRITE, DLQS),
    *_topics(READ, [OUTBOX_POSITION.name]),
    Grant(TRANSACTIONAL_ID, "shaho-outbox-", WRITE, prefixed=True),
))
EXCHANGE = [t.name for t in EXCHANGE_TOPICS]
ROUTER = Principal(RELAY_EXCHANGE, (
    *_topics(READ, EXCHANGE),
    Grant(GROUP, "relay-exchange", READ),
))
CLOCK = Principal(RELAY_CLOCK_PRINCIPAL, (
    *_topics(WRITE, [*(t.name for t in CLOCKED_TOPICS), RELAY_CLOCK.name, CLOCK_SOURCE.name]),
    *_topics(READ, [RELAY_CLOCK.name, CLOCK_SOURCE.name]),
))
NOTIFICATIONS = Principal(NOTIFICATIONS_PRINCIPAL, (
    *_topics(READ, [*(t.name for t in FORWARDED_TICK_TOPICS), RELAY_CLOCK.name]),
    Grant(GROUP, "notifications", READ),
))
"""The notifications processor: it reads the relay-internal topics the linker forwards the
relay clock's ticks onto, and the clock topic; it writes nothing to Kafka itself (its notices
and dead letters go through the outbox, which the publisher writes)."""
CONSUMING = (LINKER, ROUTER, NOTIFICATIONS)
"""The relay's processors that consume with a consumer group (and commit its offsets)."""
MEASURED = sorted({g.name for p in CONSUMING for g in p.grants
                   if g.resource == TOPIC and g.operation == READ})
"""The relay topics its consumer groups read: the lag monitor reads their records' timestamps."""
LAG_MONITOR = Principal(LAG_MONITOR_PRINCIPAL, (
    Grant(GROUP, EVERYTHING, DESCRIBE),
    *_topics(READ, MEASURED),
    *_topics(DESCRIBE_CONFIGS, MEASURED),
    *_topics(READ, ["participant."], prefixed=True),
    *_topics(DESCRIBE_CONFIGS, ["participant."], prefixed=True),
))
"""The lag monitor: it describes every consumer group (its committed offsets), reads the
timestamps of the records on the topics those groups read (the relay's and the participants',
which their insurers' workers read: Kafka grants a record's timestamp only with the record, and
a participant's values are sealed for it) and their retention; it never decodes a key or a
value, and writes nothing. The insurers' private topics (`private.`, their receipts) stay out of
its reach, as out of every relay principal's."""
PROCESSORS = (LINKER, PUBLISHER, CLOCK, ROUTER, NOTIFICATIONS, LAG_MONITOR)
EXCHANGE_ROLES = ("insurer", "pension")
"""Roles that ask and answer through the relayed exchange."""

_ANYTHING = (
    *_topics(READ, [EVERYTHING]), *_topics(WRITE, [EVERYTHING]),
    *_topics(CREATE, [EVERYTHING]), *_topics(DELETE, [EVERYTHING]),
    *_topics(DESCRIBE_CONFIGS, [EVERYTHING]),
    Grant(GROUP, EVERYTHING, READ), Grant(TRANSACTIONAL_ID, EVERYTHING, WRITE),
)
TOOLS = (
    Principal(TESTS, _ANYTHING),
    Principal(BENCH, _ANYTHING),
    Principal(DEMO, (
        *_topics(READ, ["demo."], prefixed=True), *_topics(WRITE, ["demo."], prefixed=True),
        Grant(GROUP, "demo.", READ, prefixed=True),
    )),
)
"""The tests and the bench play every part on scratch topics and namespaces of their own;
the demo plays the participants of its own namespace."""


def participant_name(role: str, code: str) -> str:
    """The principal of participant `code` of `role`: `<role>.<code>`."""
    if role not in FILER_ROLES:
        raise ValueError(f"{role!r} is no participant role")
    if "." in code or not code:
        raise ValueError("a participant code with a principal holds no '.'")
    return f"{role}.{code}"


def participant_topic_prefix(code: str) -> str:
    """The prefix of every topic addressed to participant `code`."""
    if "." in code or not code:
        raise ValueError("a participant code with topics of its own holds no '.'")
    return PARTICIPANT_PREFIX.format(code=code)


RECEIPT_ROLES = ("insurer",)
"""Roles with a private receipts topic (medical and care insurers; not the pension service)."""


def participant(role: str, code: str) -> Principal:
    """A participant's principal: it writes the filing topic of its kind (if it files) and,
    for insurers and the pension service, the exchange's request and answer topics, and for an
    insurer the 合算's settlement instructions and its own receipts topic and their dead
    letters; reads what is addressed to it, its
    kind's outcomes and the relay time; nothing on `relay.*`."""
    name = participant_name(role, code)
    filing = ROLE_TOPICS.get(role)
    receipts = [t.name for t in receipts_topics(code)] if role in RECEIPT_ROLES else []
    exchange = [t for t in EXCHANGE if t != EXCHANGE_SETTLEMENT.name or role in RECEIPT_ROLES]
    return Principal(name, (
        *_topics(WRITE, [filing] if filing else []),
        *_topics(WRITE, exchange if role in EXCHANGE_ROLES else []),
        *_topics(WRITE, receipts),
        *_topics(READ, receipts),
        *_topics(READ, [participant_topic_prefix(code)], prefixed=True),
        *_topics(READ, [OUTCOME_TOPIC.format(role=role), RELAY_CLOCK.name]),
        Grant(GROUP, f"{name}.", READ, prefixed=True),
    ))


def relay_principals() -> tuple[Principal, ...]:
    """The relay's own principals (processors and tools); the operator is a super user."""
    return (*PROCESSORS, *TOOLS)


def all_names(participants: Iterable[tuple[str, str]]) -> list[str]:
    """Every SCRAM user the stack holds for `participants` ((role, code) pairs)."""
    return [OPERATOR, *(p.name for p in relay_principals()),
            *(participant_name(r, c) for r, c in participants)]
