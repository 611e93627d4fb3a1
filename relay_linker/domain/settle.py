"""Settle one filing: verdict, ledger row, parking, outcome, versions, link outputs, milestones,
person changes.

An accepted filing bumps each person it changes once and resolves the look-alikes it raised."""

from dataclasses import replace
from datetime import datetime

from relay_linker.domain import effects as fx
from relay_linker.domain.commands import IndexKey, LinkerRecord
from relay_linker.domain.endings import closed_because, pension_type, spouse_of
from relay_linker.domain.households import is_household
from relay_linker.domain.ids import receipt_id
from relay_linker.domain.judging import judge
from relay_linker.domain.keys import candidate_key
from relay_linker.domain.matching import lookalikes_explained
from relay_linker.domain.milestones import replan
from relay_linker.domain.model import LOSS, PARKED, LedgerEntry, Link, ParkedFiling
from relay_linker.domain.person_changes import person_changes
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import links_of, parked_filing, person
from relay_linker.domain.state import RelayState
from relay_linker.domain.touches import touches
from relay_linker.domain.verdict import Verdict

PERSON_EFFECTS = (
    fx.PersonRegistered,
    fx.PersonDied,
    fx.DeathRetracted,
    fx.IdentityChangeRecorded,
    fx.IdentityChangeRemoved,
    *fx.LINK_EFFECTS,
    *fx.CARD_EFFECTS,
)


def settle(
    view: RelayState,
    record: LinkerRecord,
    hasher: Hasher,
    prior: LedgerEntry | None,
    at: datetime,
) -> list[fx.Effect]:
    """Effects of deciding `record` now; `prior` is its ledger row when it was parked before.

    A parked filing retried without any change in its reasons or wait keys gives no effects."""
    verdict = judge(view, record, hasher)
    if prior is not None and _unchanged(view, prior, verdict):
        return []
    effects = list(verdict.effects)
    if verdict.accepted:
        if prior is not None and prior.status == PARKED:
            effects += lookalikes_explained(view, record, named_persons(verdict.effects))
        effects += _versions_and_outputs(view, record, verdict.effects)
        effects += replan(view, record, verdict.effects)
        effects += person_changes(view, verdict.effects, record.event_id)
    entry = LedgerEntry(
        record.event_id,
        record.filer_code,
        record.filing_reference,
        record.event_type,
        record.content_hash,
        record.source,
        record.occurred_at,
        receipt_id(record.event_id),
        verdict.status,
        verdict.reasons,
        tuple(type(c).__name__ for c in record.commands),
        touched_persons(effects),
        _created_keys(effects),
    )
    effects.append(fx.FilingLedgered(entry))
    if prior is not None and prior.status == PARKED:
        waiting = parked_filing(view, record.event_id)
        effects.append(fx.FilingUnparked(record.event_id, waiting.wait_keys if waiting else ()))
    if verdict.status == PARKED:  # the bound runs from when the filing was first parked
        first = parked_filing(view, record.event_id) if prior is not None else None
        since = first.parked_at if first is not None else at
        parked = ParkedFiling(record, verdict.wait_keys, verdict.reasons, since)
        effects.append(fx.FilingParked(parked))
    effects.append(outcome(entry))
    return effects


def outcome(entry: LedgerEntry, *, repeated: bool = False) -> fx.OutcomeIssued:
    return fx.OutcomeIssued(
        entry.event_id,
        entry.filer_code,
        entry.filing_reference,
        entry.receipt_id,
        entry.status,
        entry.reasons,
        repeated,
        entry.content_hash,
        filed_on=entry.source.topic,
    )


def touched_persons(effects: list[fx.Effect]) -> tuple[str, ...]:
    """Persons whose stored state these effects change (a removed person is gone)."""
    removed = {e.relay_id for e in effects if isinstance(e, fx.PersonRemoved)}
    touched = set().union(*(touches(e).relay_ids for e in effects if isinstance(e, PERSON_EFFECTS)))
    return tuple(sorted(touched - removed))


def named_persons(effects: tuple[fx.Effect, ...]) -> set[str]:
    """Persons an accepted filing changed, and the insured persons its dependants' links name;
    persons it registered are new and have no anomalies yet."""
    new = {e.person.relay_id for e in effects if isinstance(e, fx.PersonRegistered)}
    named = set(touched_persons(list(effects)))
    named |= {e.link.insured_relay_id for e in effects
              if isinstance(e, fx.LINK_EFFECTS) and e.link.insured_relay_id is not None}
    return named - new


def _unchanged(view: RelayState, prior: LedgerEntry, verdict: Verdict) -> bool:
    if verdict.status != PARKED or prior.status != PARKED:
        return False
    waiting = parked_filing(view, prior.event_id)
    return waiting is not None and (waiting.wait_keys, waiting.reasons) == (
        verdict.wait_keys,
        verdict.reasons,
    )


def _created_keys(effects: list[fx.Effect]) -> tuple[IndexKey, ...]:
    keys = [e.entry.key for e in effects if isinstance(e, fx.ReferenceIndexed)]
    keys += [
        candidate_key(e.candidate.candidate_hash)
        for e in effects
        if isinstance(e, fx.CandidateIndexed)
    ]
    return tuple(dict.fromkeys(keys))


def _versions_and_outputs(
    view: RelayState, record: LinkerRecord, effects: tuple[fx.Effect, ...]
) -> list[fx.Effect]:
    new = {e.person.relay_id for e in effects if isinstance(e, fx.PersonRegistered)}
    versions = {
        relay_id: 1 + (0 if relay_id in new else _version(view, relay_id))
        for relay_id in touched_persons(list(effects))
    }
    out: list[fx.Effect] = [fx.PersonVersionBumped(r, v) for r, v in versions.items()]
    changed = {e.link.link_id: e.link for e in effects if isinstance(e, fx.LINK_EFFECTS)}
    for effect in effects:
        visible = _visible_change(effect)
        if visible is not None:
            link, change = visible
            version = versions.get(link.relay_id, 1 + _version(view, link.relay_id))  # removed
            emitted = _emitted(link, version, change, record)
            out.append(_explained(view, changed, emitted, link))
    return out


def _links_after(view: RelayState, changed: dict, relay_id: str) -> list[Link]:
    """The person's links once this filing's link effects are applied."""
    mine = {x.link_id: x for x in links_of(view, relay_id)}
    mine.update({k: x for k, x in changed.items() if x.relay_id == relay_id})
    return list(mine.values())


def _explained(
    view: RelayState, changed: dict, emitted: fx.LinkChangeEmitted, link: Link
) -> fx.LinkChangeEmitted:
    """Why the link ends, its pension type and whom it depends on (DOMAIN §5b, §6)."""
    because = None if emitted.change == "retracted" else closed_because(link)
    if because == LOSS and link.capacity == "dependant" and link.insured_relay_id is not None:
        because = closed_because(link, _links_after(view, changed, link.insured_relay_id))
    spouse = None
    if pension_type(link) == 3:
        spouse = spouse_of(link, _links_after(view, changed, link.relay_id))
    return replace(
        emitted,
        closed_because=because,
        pension_type=pension_type(link),
        insured_relay_id=link.insured_relay_id,
        spouse_relay_id=spouse,
        household=link.number_key[1].hex() if is_household(link) else None,
    )


def _version(view: RelayState, relay_id: str) -> int:
    holder = person(view, relay_id)
    return holder.version if holder else 0


def _visible_change(effect: fx.Effect) -> tuple[Link, str] | None:
    """What a link effect shows insurers: nothing for retracted links or unchanged ends."""
    match effect:
        case fx.LinkOpened(link=link):
            return link, "opened"
        case fx.LinkRetracted(link=link):
            return link, "retracted"
        case fx.LinkClosed(link=link, closure=closure) if not link.retracted:
            moved = link.without(closure).valid_to != link.valid_to
            return (link, "closed") if moved else None
        case fx.LinkReopened(link=link, removed=closure) if not link.retracted:
            moved = link.closed_with(closure).valid_to != link.valid_to
            return (link, "reopened") if moved else None
    return None


def _emitted(link: Link, version: int, change: str, record: LinkerRecord) -> fx.LinkChangeEmitted:
    return fx.LinkChangeEmitted(
        link.relay_id,
        version,
        change,
        link.link_id,
        link.scheme,
        link.insurer_number,
        link.capacity,
        link.category,
        link.valid_from,
        link.valid_to,
        link.clamp,
        record.event_id,
    )
