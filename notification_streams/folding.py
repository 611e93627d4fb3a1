"""The pure fold of the relay-internal messages into a person's facts (`rules.facts`).

The notifications processor reads, per person and in order, `LinkChangedV2`
(`relay.link-change.v2`) and `PersonChanged` (`relay.person-change.v1`), and keeps each person's
`PersonFacts` with `fold_link` and `fold_person` (or `fold`, which also returns the anomaly a
message raised, for the caller to log). No I/O here.

What becomes of a link (every message carries the link's whole state after the change):

* medical, pension, long-term-care (and public-expense) links are `Cover`s;
* a resident link of category `household` is a `Household` (its key, householder, dates) and a
  `Residence` in the municipality whose code is its `insurer_number` over the same dates: the
  linker opens no other resident link (a registration opens none; a membership is kept in the
  municipality's resident register and ends at a 転出 from it, `relay_linker.domain.households`),
  so the memberships are what the relay knows of where a person lives. A person without a
  household filed (go-live data) has no residence, and the reminders then name no municipality;
* any other resident link (none is made today) is a `Residence` alone.

Link identity. LinkChanged carries no link id, so a message is matched to the link it changes
by what never changes over a link's life in the linker (`relay_linker.domain.model.Link`: a
closure or its retraction moves only `valid_to`): scheme, insurer_number, capacity, category,
valid_from, insured_relay_id and, for a household link, the household key and the householder
flag (a change of householder is a new link). Limits: the linker also tells links apart by their
number (`number_key`), which no message carries, so two live links equal in all these fields
(say two numbers at one insurer, same capacity and category, from the same day) cannot be told
apart: the fold keeps both, reports `link_ambiguous` on the second opening, and applies a later
change to the first it holds. A Household is matched by key, householder and valid_from, its
Residence by value (the municipality and the membership's period as held). A retracted link,
once gone, is forgotten: the same identity opened again (the filing re-sent after its
retraction) is a new link.

Changes: `opened` adds the link; `closed` and `reopened` set what the message says of its end
(`valid_to`, `closed_because`, and the v2 fields a closure may move: pension type, spouse), so a
reopened link is open again unless another end (an age bound, another closure) still holds;
`retracted` removes it. The link keeps the `source_event_id` of the filing that opened it.

Replays and stale messages. Each person's messages of one topic are published in decision
order, and a decision bumps the person's version once (`person_version`), so:
`PersonChanged` at a version not above the last one folded is stale or a replay (each is the
whole picture, so the highest wins); a `LinkChanged` below the highest version folded is a
replay, and one at that version is a replay when its `outbox_id` is among those folded at that
version. Only that one decision's ids are kept (`facts.Folded`), bounded by the number of links
one decision changes, not by the history. The two topics are versioned apart because a decision
writes to both under one version and nothing orders the topics against each other.

Removal. A `PersonChanged` with `removed` (a retracted registration) empties the facts: the
relay no longer knows the person, everything it knew rested on the retracted registration, and
no rule may act on a person who does not exist. The linker retracts their links in the same
decision; those messages carry the removal's version and are ignored, in whichever order the
two topics arrive (`Folded.removed_at`).

Hostile input: a closed, reopened or retracted message for a link the facts do not hold, or a
message for another person, changes nothing and returns an `Anomaly` (`link_unknown`,
`other_person`); it is still noted as folded, so replaying it changes nothing either."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import NamedTuple, TypeVar

from notification_streams.rules.facts import (
    Anomaly,
    Cover,
    Folded,
    Household,
    PersonFacts,
    Residence,
    heads_household,
    household_on,
)
from schemas.common import Scheme
from schemas.internal import HOUSEHOLD_CATEGORY, LinkChangedV2, PersonChanged
from schemas.relay import LinkChange

LINK_UNKNOWN = "link_unknown"
LINK_AMBIGUOUS = "link_ambiguous"
OTHER_PERSON = "other_person"
T = TypeVar("T", Residence, Household)


class Step(NamedTuple):
    """The facts after one message, and the anomaly it raised (None: none)."""

    facts: PersonFacts
    anomaly: Anomaly | None = None


def empty(relay_id: str) -> PersonFacts:
    """The facts of a person nothing has been folded into yet."""
    return PersonFacts(relay_id=relay_id)


def fold_link(facts: PersonFacts, change: LinkChangedV2) -> PersonFacts:
    return step_link(facts, change).facts


def fold_person(facts: PersonFacts, change: PersonChanged) -> PersonFacts:
    return step_person(facts, change).facts


def fold(facts: PersonFacts, message: LinkChangedV2 | PersonChanged) -> Step:
    """Either message, with its anomaly."""
    if isinstance(message, PersonChanged):
        return step_person(facts, message)
    return step_link(facts, message)


def fold_all(
    facts: PersonFacts, messages: Iterable[LinkChangedV2 | PersonChanged]
) -> tuple[PersonFacts, tuple[Anomaly, ...]]:
    """`messages` folded in order, and every anomaly they raised."""
    found: list[Anomaly] = []
    for message in messages:
        facts, anomaly = fold(facts, message)
        if anomaly is not None:
            found.append(anomaly)
    return facts, tuple(found)


def step_person(facts: PersonFacts, change: PersonChanged) -> Step:
    if change.relay_id != facts.relay_id:
        return Step(facts, _other_person(facts, "PersonChanged"))
    seen = facts.folded
    version = change.person_version
    if version <= seen.person_version:
        return Step(facts)
    if change.removed:
        kept = replace(seen, person_version=version, removed_at=max(seen.removed_at, version))
        return Step(PersonFacts(relay_id=facts.relay_id, folded=kept))
    return Step(replace(facts, birth_date=change.born_on, died_on=change.died_on,
                        folded=replace(seen, person_version=version)))


def step_link(facts: PersonFacts, change: LinkChangedV2) -> Step:
    if change.relay_id != facts.relay_id:
        return Step(facts, _other_person(facts, "LinkChanged"))
    if _seen(facts.folded, change):
        return Step(facts)
    noted = replace(facts, folded=_note(facts.folded, change))  # even when it is refused
    if change.scheme is not Scheme.RESIDENT:
        return _cover_step(noted, change)
    return _resident_step(noted, change)


def _seen(seen: Folded, change: LinkChangedV2) -> bool:
    version = change.person_version
    return (version <= seen.removed_at or version < seen.link_version
            or (version == seen.link_version and change.outbox_id in seen.link_ids))


def _note(seen: Folded, change: LinkChangedV2) -> Folded:
    if change.person_version > seen.link_version:
        return replace(seen, link_version=change.person_version,
                       link_ids=frozenset({change.outbox_id}))
    return replace(seen, link_ids=seen.link_ids | {change.outbox_id})


def _cover_step(facts: PersonFacts, change: LinkChangedV2) -> Step:
    key = _cover_key(change)
    at = next((i for i, c in enumerate(facts.covers) if _cover_identity(c) == key), None)
    if change.change is LinkChange.OPENED:
        anomaly = None if at is None else _anomaly(facts, LINK_AMBIGUOUS, change)
        return Step(replace(facts, covers=(*facts.covers, _cover(change))), anomaly)
    if at is None:
        return Step(facts, _anomaly(facts, LINK_UNKNOWN, change))
    held = facts.covers
    if change.change is LinkChange.RETRACTED:
        return Step(replace(facts, covers=held[:at] + held[at + 1:]))
    moved = replace(held[at], valid_to=change.valid_to, closed_because=_because(change),
                    pension_type=change.pension_type, spouse_relay_id=change.spouse_relay_id)
    return Step(replace(facts, covers=(*held[:at], moved, *held[at + 1:])))


def _resident_step(facts: PersonFacts, change: LinkChangedV2) -> Step:
    """A household link is a Household and a Residence of the same period, changed together.
    Its Residence is found by value (municipality and the membership's period as held): two
    residences equal in value are interchangeable, so whichever is changed the facts are the
    same, where a match by valid_from alone could take another membership's (two memberships
    begun on one day, one ended on it)."""
    if change.change is LinkChange.OPENED:
        return _resident_opened(facts, change)
    household = change.category == HOUSEHOLD_CATEGORY
    if household:
        h_at = _household_at(facts, change)
        if h_at is None:
            return Step(facts, _anomaly(facts, LINK_UNKNOWN, change))
        held = Residence(municipality_code=change.insurer_number, valid_from=change.valid_from,
                         valid_to=facts.households[h_at].valid_to)
        r_at = next((i for i, r in enumerate(facts.residences) if r == held), None)
    else:
        h_at = None
        r_at = _residence_at(facts, change)
    if r_at is None:
        return Step(facts, _anomaly(facts, LINK_UNKNOWN, change))
    residences = _changed(facts.residences, r_at, change)
    households = facts.households if h_at is None else _changed(facts.households, h_at, change)
    return Step(replace(facts, residences=residences, households=households))


def _resident_opened(facts: PersonFacts, change: LinkChangedV2) -> Step:
    household = change.category == HOUSEHOLD_CATEGORY
    known = _household_at(facts, change) if household else _residence_at(facts, change)
    anomaly = None if known is None else _anomaly(facts, LINK_AMBIGUOUS, change)
    residences = (*facts.residences, Residence(
        municipality_code=change.insurer_number, valid_from=change.valid_from,
        valid_to=change.valid_to))
    households = facts.households
    if household:
        assert change.household is not None and change.householder is not None  # the contract
        households = (*households, Household(
            household_token_key=change.household, householder=change.householder,
            valid_from=change.valid_from, valid_to=change.valid_to))
    return Step(replace(facts, residences=residences, households=households), anomaly)


def _household_at(facts: PersonFacts, change: LinkChangedV2) -> int | None:
    key = (change.household, change.householder, change.valid_from)
    return next((i for i, h in enumerate(facts.households)
                 if (h.household_token_key, h.householder, h.valid_from) == key), None)


def _residence_at(facts: PersonFacts, change: LinkChangedV2) -> int | None:
    home = (change.insurer_number, change.valid_from)
    return next((i for i, r in enumerate(facts.residences)
                 if (r.municipality_code, r.valid_from) == home), None)


def _changed(held: tuple[T, ...], at: int, change: LinkChangedV2) -> tuple[T, ...]:
    if change.change is LinkChange.RETRACTED:
        return held[:at] + held[at + 1:]
    return (*held[:at], replace(held[at], valid_to=change.valid_to), *held[at + 1:])


def _cover(change: LinkChangedV2) -> Cover:
    return Cover(
        scheme=change.scheme.value, category=change.category,
        capacity=change.capacity.value if change.capacity is not None else "",
        insurer_number=change.insurer_number, valid_from=change.valid_from,
        valid_to=change.valid_to, closed_because=_because(change),
        insured_relay_id=change.insured_relay_id, spouse_relay_id=change.spouse_relay_id,
        pension_type=change.pension_type, source_event_id=str(change.source_event_id))


def _because(change: LinkChangedV2) -> str | None:
    return change.closed_because.value if change.closed_because is not None else None


CoverKey = tuple[str, str, str, str | None, date, str | None]


def _cover_key(change: LinkChangedV2) -> CoverKey:
    capacity = change.capacity.value if change.capacity is not None else ""
    return (change.scheme.value, change.insurer_number, capacity, change.category,
            change.valid_from, change.insured_relay_id)


def _cover_identity(c: Cover) -> CoverKey:
    return (c.scheme, c.insurer_number, c.capacity, c.category, c.valid_from, c.insured_relay_id)


def _anomaly(facts: PersonFacts, code: str, change: LinkChangedV2) -> Anomaly:
    """Names the change and the link's scheme and insurer: no household key, no date."""
    detail = f"{change.change.value}:{change.scheme.value}:{change.insurer_number}"
    return Anomaly(code, facts.relay_id, detail)


def _other_person(facts: PersonFacts, message: str) -> Anomaly:
    return Anomaly(OTHER_PERSON, facts.relay_id, f"{message} keyed to another relay id")


def householder_of(
    facts_by_relay_id: Mapping[str, PersonFacts], household_key: str, day: date
) -> PersonFacts | None:
    """The one person of `facts_by_relay_id` who heads household `household_key` on `day`, or
    None (nobody, or several: contradictory facts name nobody).

    The rules take the householder's facts as an argument of their own (`other_householder`).
    A processor keeps, from the household links it folds, an index from household key to the
    relay ids of its members (the key is the same for every member) and passes their facts
    here; any larger mapping works too, at the cost of the scan."""
    heads = [f for f in facts_by_relay_id.values() if heads_household(f, household_key, day)]
    return heads[0] if len(heads) == 1 else None


def householder_for(
    person: PersonFacts, facts_by_relay_id: Mapping[str, PersonFacts], day: date
) -> PersonFacts | None:
    """The householder of `person`'s household on `day` (None: no household known then)."""
    member = household_on(person, day)
    if member is None:
        return None
    return householder_of(facts_by_relay_id, member.household_token_key, day)
