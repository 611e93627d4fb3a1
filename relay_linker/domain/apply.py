"""Apply effects to an in-memory state, in place: the reference for the database adapter.

Output effects leave the state as it is; in a slice, what an effect creates counts as loaded."""

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any
from uuid import UUID

from relay_linker.domain import effects as fx
from relay_linker.domain.model import Card, Link
from relay_linker.domain.state import RelayState


def apply(state: RelayState, effect: fx.Effect) -> None:
    """Change `state` in place as `effect` says; returns nothing."""
    handler = _HANDLERS.get(type(effect))
    if handler is not None:
        handler(state, effect)


def apply_all(state: RelayState, effects: Iterable[fx.Effect]) -> None:
    for effect in effects:
        apply(state, effect)


def _ledgered(state: RelayState, e: fx.FilingLedgered) -> None:
    entry = e.entry
    reference = (entry.filer_code, entry.filing_reference)
    state.ledger[entry.event_id] = entry
    state.references[reference] = entry.event_id
    if not state.complete:
        state.loaded_event_ids.add(entry.event_id)
        state.loaded_references.add(reference)


def _unwait(state: RelayState, event_id: UUID) -> None:
    old = state.parked.pop(event_id, None)
    for key in old.wait_keys if old else ():
        state.waiting[key] = state.waiting.get(key, frozenset()) - {event_id}


def _parked(state: RelayState, e: fx.FilingParked) -> None:
    event_id = e.parked.record.event_id
    _unwait(state, event_id)
    state.parked[event_id] = e.parked
    for key in e.parked.wait_keys:
        state.waiting[key] = state.waiting.get(key, frozenset()) | {event_id}


def _unparked(state: RelayState, e: fx.FilingUnparked) -> None:
    _unwait(state, e.event_id)


def _registered(state: RelayState, e: fx.PersonRegistered) -> None:
    state.persons[e.person.relay_id] = e.person
    if not state.complete:
        state.loaded_relay_ids.add(e.person.relay_id)


def _versioned(state: RelayState, e: fx.PersonVersionBumped) -> None:
    state.persons[e.relay_id] = replace(state.persons[e.relay_id], version=e.version)


def _died(state: RelayState, e: fx.PersonDied) -> None:
    state.persons[e.relay_id] = replace(
        state.persons[e.relay_id], died_on=e.died_on, died_by=e.event_id
    )


def _death_retracted(state: RelayState, e: fx.DeathRetracted) -> None:
    state.persons[e.relay_id] = replace(state.persons[e.relay_id], died_on=None, died_by=None)


def _removed(state: RelayState, e: fx.PersonRemoved) -> None:
    for table in (state.persons, state.identity, state.links, state.cards):
        table.pop(e.relay_id, None)


def _identity_recorded(state: RelayState, e: fx.IdentityChangeRecorded) -> None:
    kept = state.identity.get(e.change.relay_id, ())
    kept = tuple(c for c in kept if c.change_id != e.change.change_id)
    state.identity[e.change.relay_id] = (*kept, e.change)


def _identity_removed(state: RelayState, e: fx.IdentityChangeRemoved) -> None:
    kept = state.identity.get(e.relay_id, ())
    state.identity[e.relay_id] = tuple(c for c in kept if c.event_id != e.event_id)


def _indexed(state: RelayState, e: fx.ReferenceIndexed) -> None:
    state.index[e.entry.key] = e.entry
    if not state.complete:
        state.loaded_index_keys.add(e.entry.key)


def _unindexed(state: RelayState, e: fx.ReferenceRemoved) -> None:
    state.index.pop(e.key, None)


def _candidate(state: RelayState, e: fx.CandidateIndexed) -> None:
    kept = state.candidates.get(e.candidate.candidate_hash, ())
    state.candidates[e.candidate.candidate_hash] = (
        *(c for c in kept if c != e.candidate),
        e.candidate,
    )


def _candidate_removed(state: RelayState, e: fx.CandidateRemoved) -> None:
    kept = state.candidates.get(e.candidate.candidate_hash, ())
    state.candidates[e.candidate.candidate_hash] = tuple(c for c in kept if c != e.candidate)


def _link(state: RelayState, e: fx.LinkEffect) -> None:
    link: Link = e.link
    kept = tuple(x for x in state.links.get(link.relay_id, ()) if x.link_id != link.link_id)
    state.links[link.relay_id] = (*kept, link)


def _cards_but(state: RelayState, relay_id: str, fingerprint: str) -> tuple[Card, ...]:
    return tuple(c for c in state.cards.get(relay_id, ()) if c.fingerprint != fingerprint)


def _card_of(state: RelayState, relay_id: str, fingerprint: str) -> Card:
    return next(c for c in state.cards[relay_id] if c.fingerprint == fingerprint)


def _card_issued(state: RelayState, e: fx.CardIssued) -> None:
    card = e.card
    state.cards[card.relay_id] = (*_cards_but(state, card.relay_id, card.fingerprint), card)


def _card_revoked(state: RelayState, e: fx.CardRevoked) -> None:
    card = replace(
        _card_of(state, e.relay_id, e.fingerprint), revoked_on=e.revoked_on, revoked_by=e.event_id
    )
    state.cards[e.relay_id] = (*_cards_but(state, e.relay_id, e.fingerprint), card)


def _card_removed(state: RelayState, e: fx.CardRemoved) -> None:
    state.cards[e.relay_id] = _cards_but(state, e.relay_id, e.fingerprint)


def _card_reinstated(state: RelayState, e: fx.CardRevocationRetracted) -> None:
    card = replace(_card_of(state, e.relay_id, e.fingerprint), revoked_on=None, revoked_by=None)
    state.cards[e.relay_id] = (*_cards_but(state, e.relay_id, e.fingerprint), card)


def _milestone(state: RelayState, e: fx.MilestoneScheduled) -> None:
    relay_id = e.milestone.relay_id
    kept = tuple(m for m in state.milestones.get(relay_id, ()) if m.name != e.milestone.name)
    state.milestones[relay_id] = (*kept, e.milestone)


def _milestone_dropped(state: RelayState, e: fx.MilestoneDropped) -> None:
    kept = tuple(m for m in state.milestones.get(e.relay_id, ()) if m.name != e.name)
    if kept:
        state.milestones[e.relay_id] = kept
    else:
        state.milestones.pop(e.relay_id, None)


def _anomaly(state: RelayState, e: fx.AnomalyRecorded) -> None:
    known = state.anomalies.get(e.anomaly.anomaly_id)
    state.anomalies[e.anomaly.anomaly_id] = (
        e.anomaly if known is None else replace(known, resolved=False)
    )


def _anomaly_resolved(state: RelayState, e: fx.AnomalyResolved) -> None:
    known = state.anomalies.get(e.anomaly_id)
    if known is not None:
        state.anomalies[e.anomaly_id] = replace(known, resolved=True)


_HANDLERS: dict[type, Callable[[RelayState, Any], None]] = {
    fx.FilingLedgered: _ledgered,
    fx.FilingParked: _parked,
    fx.FilingUnparked: _unparked,
    fx.PersonRegistered: _registered,
    fx.PersonVersionBumped: _versioned,
    fx.PersonDied: _died,
    fx.DeathRetracted: _death_retracted,
    fx.PersonRemoved: _removed,
    fx.IdentityChangeRecorded: _identity_recorded,
    fx.IdentityChangeRemoved: _identity_removed,
    fx.ReferenceIndexed: _indexed,
    fx.ReferenceRemoved: _unindexed,
    fx.CandidateIndexed: _candidate,
    fx.CandidateRemoved: _candidate_removed,
    fx.LinkOpened: _link,
    fx.LinkClosed: _link,
    fx.LinkReopened: _link,
    fx.LinkRetracted: _link,
    fx.CardIssued: _card_issued,
    fx.CardRevoked: _card_revoked,
    fx.CardRemoved: _card_removed,
    fx.CardRevocationRetracted: _card_reinstated,
    fx.MilestoneScheduled: _milestone,
    fx.MilestoneDropped: _milestone_dropped,
    fx.AnomalyRecorded: _anomaly,
    fx.AnomalyResolved: _anomaly_resolved,
}
