"""A person's life as the relay knows it (birth date, death, removal) after a decision, and the
`PersonChangeEmitted` a decision makes when it changes that (registration, death or its
retraction, a birth-date correction or its retraction, a retracted registration)."""

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from relay_linker.domain import effects as fx
from relay_linker.domain.ids import person_change_outbox_id
from relay_linker.domain.matching import ordered
from relay_linker.domain.reads import identity_changes, person
from relay_linker.domain.state import RelayState

DEATHS = (fx.PersonDied, fx.DeathRetracted)


def vitals_after(
    view: RelayState, relay_id: str, effects: Iterable[fx.Effect], new: bool
) -> tuple[date | None, date | None]:
    """The person's birth date (the latest identity change in force that sets one) and date
    of death once `effects` apply; `new` when they register the person."""
    holder = None if new else person(view, relay_id)
    died = holder.died_on if holder is not None else None
    changes = [] if new else list(identity_changes(view, relay_id))
    for effect in effects:
        match effect:
            case fx.PersonDied(relay_id=r, died_on=on) if r == relay_id:
                died = on
            case fx.DeathRetracted(relay_id=r) if r == relay_id:
                died = None
            case fx.IdentityChangeRemoved(relay_id=r, event_id=e) if r == relay_id:
                changes = [c for c in changes if c.event_id != e]
            case fx.IdentityChangeRecorded(change=change) if change.relay_id == relay_id:
                changes = [c for c in changes if c.change_id != change.change_id] + [change]
    birth = None
    for change in ordered(tuple(changes)):
        birth = change.secret_birth_date or birth
    return birth, died


def _candidates(effects: list[fx.Effect]) -> set[str]:
    """Persons whose birth date, death or registration these effects may change."""
    out: set[str] = set()
    for effect in effects:
        match effect:
            case fx.PersonRegistered(person=holder):
                out.add(holder.relay_id)
            case fx.PersonRemoved(relay_id=r) | fx.PersonDied(relay_id=r) | fx.DeathRetracted(
                relay_id=r
            ) | fx.IdentityChangeRemoved(relay_id=r):
                out.add(r)
            case fx.IdentityChangeRecorded(change=change) if change.secret_birth_date:
                out.add(change.relay_id)
    return out


def _version(view: RelayState, relay_id: str, new: bool) -> int:
    """The person's version after this decision, which bumps each person it changes once."""
    holder = None if new else person(view, relay_id)
    return 1 + (holder.version if holder is not None else 0)


def person_changes(
    view: RelayState, effects: Iterable[fx.Effect], source_event_id: UUID
) -> list[fx.Effect]:
    """One `PersonChangeEmitted` per person whose registration, death or birth date the
    accepted filing's `effects` change, in relay id order: a registration, a death or its
    retraction always; an identity change (or its retraction) only when the birth date moves;
    a retracted registration as `removed`, with neither date."""
    effects = list(effects)
    new = {e.person.relay_id for e in effects if isinstance(e, fx.PersonRegistered)}
    removed = {e.relay_id for e in effects if isinstance(e, fx.PersonRemoved)}
    deaths = {e.relay_id for e in effects if isinstance(e, DEATHS)}
    out: list[fx.Effect] = []
    for relay_id in sorted(_candidates(effects)):
        fresh = relay_id in new
        version = _version(view, relay_id, fresh)
        if relay_id in removed:
            born, died = None, None
        else:
            born, died = vitals_after(view, relay_id, effects, fresh)
            told = fresh or relay_id in deaths or born != vitals_after(view, relay_id, (), False)[0]
            if not told:
                continue  # an identity change that leaves the birth date as it was
        out.append(fx.PersonChangeEmitted(
            relay_id, version, born, died, relay_id in removed, source_event_id,
            outbox_id=person_change_outbox_id(relay_id, version)))
    return out
