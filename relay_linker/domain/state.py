"""The linker's state: the whole of it for an in-memory fold, or a slice loaded for one record.

In a slice, the `loaded_*` sets name what was loaded (present or known absent); see `reads`."""

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from uuid import UUID

from relay_linker.domain.commands import IndexKey
from relay_linker.domain.model import (
    Anomaly,
    Candidate,
    Card,
    IdentityChange,
    IndexEntry,
    LedgerEntry,
    Link,
    Milestone,
    ParkedFiling,
    Person,
)

Reference = tuple[str, str]


@dataclass(frozen=True)
class ParkedDue:
    """Not a wait key: in a slice, it says every filing parked at or before `bound` (relay
    time) is loaded."""

    bound: datetime


@dataclass(frozen=True)
class MilestonesDue:
    """Not a person: in a slice, it says every milestone due on or before `bound` is loaded."""

    bound: date


@dataclass(frozen=True)
class Needs:
    """What a slice must load for a decision: persons, index keys, wait keys, events,
    references, filings parked long enough to expire, milestones due, and the insured persons
    whose dependants (every person holding a link under them) are loaded; `|` merges two."""

    relay_ids: frozenset[str] = frozenset()
    index_keys: frozenset[IndexKey] = frozenset()
    wait_keys: frozenset[str] = frozenset()
    event_ids: frozenset[UUID] = frozenset()
    references: frozenset[Reference] = frozenset()
    parked_due: frozenset[ParkedDue] = frozenset()
    milestones_due: frozenset[MilestonesDue] = frozenset()
    dependants_of: frozenset[str] = frozenset()

    @classmethod
    def merged(cls, many: Iterable["Needs"]) -> "Needs":
        """Everything any of `many` needs, merged in one pass."""
        sets: list[set] = [set() for _ in _NEEDS]
        for one in many:
            for held, name in zip(sets, _NEEDS, strict=True):
                held.update(getattr(one, name))
        return cls(*map(frozenset, sets))

    def __or__(self, other: "Needs") -> "Needs":
        return Needs(*(getattr(self, n) | getattr(other, n) for n in _NEEDS))

    def __bool__(self) -> bool:
        return any(getattr(self, n) for n in _NEEDS)


_NEEDS = tuple(f.name for f in fields(Needs))


class LinkerError(Exception):
    """Root of the relay linker's errors."""


class MissingFromSlice(LinkerError):
    """A decision read something the slice did not load; load `needs` and decide again."""

    def __init__(self, needs: Needs) -> None:
        self.needs = needs
        counts = "/".join(str(len(getattr(needs, f.name))) for f in fields(needs))
        super().__init__(
            f"slice lacks persons/keys/waits/events/references/parked-due/milestones-due/"
            f"dependants: {counts}"
        )


@dataclass
class RelayState:
    """Mutable container of frozen values; `apply` changes it in place, `decide` never does.

    `identity` holds dated identity changes per person (periods are derived from them),
    `links` the links, `cards` the IC cards and `milestones` the milestones not announced yet
    per person, `waiting` the parked filings per wait key."""

    persons: dict[str, Person] = field(default_factory=dict)
    identity: dict[str, tuple[IdentityChange, ...]] = field(default_factory=dict)
    links: dict[str, tuple[Link, ...]] = field(default_factory=dict)
    cards: dict[str, tuple[Card, ...]] = field(default_factory=dict)
    milestones: dict[str, tuple[Milestone, ...]] = field(default_factory=dict)
    index: dict[IndexKey, IndexEntry] = field(default_factory=dict)
    candidates: dict[bytes, tuple[Candidate, ...]] = field(default_factory=dict)
    anomalies: dict[UUID, Anomaly] = field(default_factory=dict)
    parked: dict[UUID, ParkedFiling] = field(default_factory=dict)
    waiting: dict[str, frozenset[UUID]] = field(default_factory=dict)
    ledger: dict[UUID, LedgerEntry] = field(default_factory=dict)
    references: dict[Reference, UUID] = field(default_factory=dict)
    complete: bool = True
    loaded_relay_ids: set[str] = field(default_factory=set)
    loaded_index_keys: set[IndexKey] = field(default_factory=set)
    loaded_wait_keys: set[str] = field(default_factory=set)
    loaded_event_ids: set[UUID] = field(default_factory=set)
    loaded_references: set[Reference] = field(default_factory=set)
    loaded_parked_due: set[ParkedDue] = field(default_factory=set)
    loaded_milestones_due: set[MilestonesDue] = field(default_factory=set)
    loaded_dependants_of: set[str] = field(default_factory=set)


def new_state(*, complete: bool = True) -> RelayState:
    """An empty state: the start of a fold, or an empty slice for an adapter to fill."""
    return RelayState(complete=complete)


def clone(state: RelayState) -> RelayState:
    """A copy `apply` may change without touching `state` (values are frozen, so shallow)."""
    return RelayState(**{f.name: copy.copy(getattr(state, f.name)) for f in fields(state)})
