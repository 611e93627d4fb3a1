"""Every read of the state goes through here, so a slice is checked in one place.

A read of something a slice did not load raises `MissingFromSlice` naming it."""

from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from relay_linker.domain.commands import IndexKey
from relay_linker.domain.keys import candidate_key
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
from relay_linker.domain.state import (
    MilestonesDue,
    MissingFromSlice,
    Needs,
    ParkedDue,
    Reference,
    RelayState,
)


def require(
    state: RelayState,
    *,
    relay_ids: Iterable[str] = (),
    index_keys: Iterable[IndexKey] = (),
    wait_keys: Iterable[str] = (),
    event_ids: Iterable[UUID] = (),
    references: Iterable[Reference] = (),
    parked_due: Iterable[ParkedDue] = (),
    milestones_due: Iterable[MilestonesDue] = (),
    dependants_of: Iterable[str] = (),
) -> None:
    """Raise `MissingFromSlice` with everything asked for that the slice lacks."""
    if state.complete:
        return
    lacking = (
        frozenset(relay_ids) - state.loaded_relay_ids,
        frozenset(index_keys) - state.loaded_index_keys,
        frozenset(wait_keys) - state.loaded_wait_keys,
        frozenset(event_ids) - state.loaded_event_ids,
        frozenset(references) - state.loaded_references,
        frozenset(parked_due) - state.loaded_parked_due,
        frozenset(milestones_due) - state.loaded_milestones_due,
        frozenset(dependants_of) - state.loaded_dependants_of,
    )
    if any(lacking):  # build the exception only when something is missing
        raise MissingFromSlice(Needs(*lacking))


def person(state: RelayState, relay_id: str) -> Person | None:
    require(state, relay_ids=[relay_id])
    return state.persons.get(relay_id)


def links_of(state: RelayState, relay_id: str) -> tuple[Link, ...]:
    """The person's links in one order whatever built the state (their start, then their id):
    a slice loaded from the database holds them in the table's physical order, an applied
    state in the order they last changed, and decisions that walk them (a death closing each)
    number their outputs in this order, so the outputs' ids must not depend on it."""
    require(state, relay_ids=[relay_id])
    return tuple(sorted(state.links.get(relay_id, ()), key=_link_order))


def _link_order(link: Link) -> tuple[date, str]:
    return (link.valid_from, str(link.link_id))


def dependants(state: RelayState, insured_relay_id: str) -> tuple[str, ...]:
    """The persons holding a link under `insured_relay_id` (their insured person, 本人);
    loading an insured person's dependants loads each of them as a person."""
    require(state, dependants_of=[insured_relay_id])
    return tuple(
        sorted(
            relay_id
            for relay_id, held in state.links.items()
            if any(x.insured_relay_id == insured_relay_id for x in held)
        )
    )


def cards_of(state: RelayState, relay_id: str) -> tuple[Card, ...]:
    require(state, relay_ids=[relay_id])
    return state.cards.get(relay_id, ())


def identity_changes(state: RelayState, relay_id: str) -> tuple[IdentityChange, ...]:
    require(state, relay_ids=[relay_id])
    return state.identity.get(relay_id, ())


def anomaly(state: RelayState, anomaly_id: UUID, relay_id: str) -> Anomaly | None:
    """An anomaly about a person; loading a person loads the anomalies naming them."""
    require(state, relay_ids=[relay_id])
    return state.anomalies.get(anomaly_id)


def indexed(state: RelayState, key: IndexKey) -> IndexEntry | None:
    require(state, index_keys=[key])
    return state.index.get(key)


def candidates(state: RelayState, candidate_hash: bytes) -> tuple[Candidate, ...]:
    require(state, index_keys=[candidate_key(candidate_hash)])
    return state.candidates.get(candidate_hash, ())


def ledger_entry(state: RelayState, event_id: UUID) -> LedgerEntry | None:
    require(state, event_ids=[event_id])
    return state.ledger.get(event_id)


def event_for_reference(state: RelayState, filer_code: str, reference: str) -> UUID | None:
    require(state, references=[(filer_code, reference)])
    return state.references.get((filer_code, reference))


def parked_filing(state: RelayState, event_id: UUID) -> ParkedFiling | None:
    require(state, event_ids=[event_id])
    return state.parked.get(event_id)


def parked_waiting(state: RelayState, wait_keys: Iterable[str]) -> frozenset[UUID]:
    """The filings parked on any of `wait_keys`; loading a wait key loads its filings too."""
    keys = sorted(set(wait_keys))
    require(state, wait_keys=keys)
    return frozenset().union(*(state.waiting.get(key, frozenset()) for key in keys))


def parked_by(state: RelayState, bound: datetime) -> tuple[ParkedFiling, ...]:
    """The filings first parked at or before `bound` (relay time)."""
    require(state, parked_due=[ParkedDue(bound)])
    return tuple(p for p in state.parked.values() if p.parked_at <= bound)


def pending_milestones(state: RelayState, relay_id: str) -> tuple[Milestone, ...]:
    """The person's milestones not announced yet; loading a person loads them."""
    require(state, relay_ids=[relay_id])
    return state.milestones.get(relay_id, ())


def milestones_due(state: RelayState, on: date) -> tuple[Milestone, ...]:
    """Every milestone not announced yet that is due on or before `on`."""
    require(state, milestones_due=[MilestonesDue(on)])
    return tuple(m for held in state.milestones.values() for m in held if m.due_on <= on)
