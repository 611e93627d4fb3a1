"""取消: a filer retracts one of its own filings, and exactly that filing's effects are undone.

A parked target is refused; a registration others build on cannot be retracted."""

from dataclasses import replace
from datetime import date
from uuid import UUID

from relay_linker.domain.apply import apply_all
from relay_linker.domain.commands import LinkerRecord, Retract
from relay_linker.domain.continuation import continued
from relay_linker.domain.dependants import follow_all
from relay_linker.domain.effects import (
    CandidateRemoved,
    CardRemoved,
    CardRevocationRetracted,
    DeathRetracted,
    Effect,
    FilingLedgered,
    FilingUnparked,
    IdentityChangeRemoved,
    LinkReopened,
    LinkRetracted,
    OutcomeIssued,
    PersonRemoved,
    ReferenceRemoved,
)
from relay_linker.domain.keys import CANDIDATE_KIND, event_wait
from relay_linker.domain.model import (
    FILED_ENDS,
    INSURED_LOST,
    PARKED,
    REFUSED,
    Card,
    LedgerEntry,
    Link,
    Person,
    Reason,
)
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import (
    candidates,
    cards_of,
    dependants,
    event_for_reference,
    identity_changes,
    indexed,
    ledger_entry,
    links_of,
    parked_filing,
    person,
)
from relay_linker.domain.state import RelayState, clone
from relay_linker.domain.verdict import Verdict, accepted, parked, refused


def retract(
    view: RelayState, record: LinkerRecord, position: int, command: Retract, hasher: Hasher
) -> Verdict:
    reference = command.retracted_filing_reference
    target_id = event_for_reference(view, record.filer_code, reference)
    if target_id is None:
        reason = Reason("retraction_target_missing", "retracted_filing_reference")
        return parked([reason], [event_wait(record.filer_code, reference)])
    target = ledger_entry(view, target_id)
    if target is None:
        raise ValueError("reference without a ledger entry")
    if target.source.topic != record.source.topic:
        return refused([Reason("retraction_of_another_filer", "retracted_filing_reference")])
    if "Retract" in target.kinds:
        return refused([Reason("not_retractable", "retracted_filing_reference")])
    if target.retracted_by is not None:
        return refused([Reason("already_retracted", "retracted_filing_reference")])
    marked = replace(target, retracted_by=record.event_id)
    if target.status == PARKED:
        return accepted(_withdraw(view, marked))
    if target.status == REFUSED:
        return accepted([FilingLedgered(marked)])
    undo = undo_effects(view, marked, record.event_id)
    if undo is None:
        return refused([Reason("retraction_blocked", "retracted_filing_reference")])
    return accepted([*undo, FilingLedgered(marked)])


def _withdraw(view: RelayState, marked: LedgerEntry) -> list[Effect]:
    """Unpark a parked target and refuse it as retracted, under its own receipt id."""
    waiting = parked_filing(view, marked.event_id)
    entry = replace(marked, status=REFUSED, reasons=(Reason("retracted"),))
    outcome = OutcomeIssued(
        entry.event_id,
        entry.filer_code,
        entry.filing_reference,
        entry.receipt_id,
        REFUSED,
        entry.reasons,
        content_hash=entry.content_hash,
        filed_on=entry.source.topic,
    )
    return [
        FilingUnparked(entry.event_id, waiting.wait_keys if waiting else ()),
        FilingLedgered(entry),
        outcome,
    ]


def undo_effects(view: RelayState, target: LedgerEntry, by: UUID) -> list[Effect] | None:
    """The effects that undo `target`, or None when another accepted filing depends on it;
    the dependants of each person it changed then follow that person's links as undone."""
    effects: list[Effect] = []
    for relay_id in _persons_of(view, target):
        holder = person(view, relay_id)
        part = [] if holder is None else _undo_person(view, holder, target.event_id, by)
        if part is None:
            return None
        effects += part
    if effects:
        after = clone(view)
        apply_all(after, effects)
        for relay_id in target.relay_ids:
            if person(after, relay_id) is not None:
                effects += follow_all(after, relay_id, links_of(after, relay_id))
    return effects + _undo_keys(view, target, effects)


def _persons_of(view: RelayState, target: LedgerEntry) -> list[str]:
    """The persons `target` changed, and the dependants of each: a dependant's link opened after
    an insured person's loss or death took its closure from that filing (DOMAIN §6)."""
    found = dict.fromkeys(target.relay_ids)
    for relay_id in target.relay_ids:
        found.update(dict.fromkeys(dependants(view, relay_id)))
    return list(found)


def _undo_person(view: RelayState, holder: Person, target: UUID, by: UUID) -> list[Effect] | None:
    relay_id = holder.relay_id
    links = links_of(view, relay_id)
    changes = identity_changes(view, relay_id)
    cards = cards_of(view, relay_id)
    if holder.created_by == target:
        others = (
            any(x.opened_by != target for x in links)
            or cards
            or holder.died_on
            or any(c.event_id != target for c in changes)
        )
        if others:
            return None
        effects: list[Effect] = []
        for link in links:  # a go-live load registers the person and opens their link at once
            part = _retract_link(view, links, link, by)
            if part is None:
                return None
            effects += part
        return [*effects, IdentityChangeRemoved(relay_id, target), PersonRemoved(relay_id)]
    found = _undo_cards(cards, target)
    if found is None:
        return None
    effects = found
    for link in links:
        if link.opened_by == target:
            part = _retract_link(view, links, link, by)
            if part is None:
                return None
            effects += part
            continue
        for closure in (c for c in link.closures if c.closed_by == target):
            if closure.kind == INSURED_LOST:
                continue  # a dependant's end follows the insured person's links (`follow`)
            if continued(links, link, closure):
                return None  # an election rests on this loss: retract the election first
            effects.append(LinkReopened(link.without(closure), closure))
    if any(c.event_id == target for c in changes):
        effects.append(IdentityChangeRemoved(relay_id, target))
    if holder.died_by == target:
        effects.append(DeathRetracted(relay_id, target))
    return effects


def _retract_link(
    view: RelayState, links: tuple[Link, ...], link: Link, by: UUID
) -> list[Effect] | None:
    """Retract a link the target opened; None when another filing builds on it: a filed end
    of its own, or a dependant filed under the person that only this link covers (§6)."""
    if any(c.kind in FILED_ENDS and c.closed_by != link.opened_by for c in link.closures):
        return None
    if link.retracted:
        return []
    if link.capacity != "dependant" and _footing_of_others(view, links, link):
        return None
    return [LinkRetracted(replace(link, retracted_by=by))]


def _footing_of_others(view: RelayState, links: tuple[Link, ...], link: Link) -> bool:
    """Whether a dependant's link opened by another filing starts inside `link`'s period at its
    insurer with no other cover of the insured person there on that day."""
    end = link.valid_to or date.max
    for relay_id in dependants(view, link.relay_id):
        for held in links_of(view, relay_id):
            if not (
                held.capacity == "dependant"
                and held.insured_relay_id == link.relay_id
                and not held.retracted
                and held.opened_by != link.opened_by
                and (held.scheme, held.insurer_number) == (link.scheme, link.insurer_number)
                and link.valid_from <= held.valid_from < end
            ):
                continue
            if not any(
                x.link_id != link.link_id
                and x.capacity != "dependant"
                and not x.retracted
                and (x.scheme, x.insurer_number) == (link.scheme, link.insurer_number)
                and x.valid_from <= held.valid_from
                and (x.valid_to is None or held.valid_from < x.valid_to)
                for x in links
            ):
                return True
    return False


def _undo_cards(cards: tuple[Card, ...], target: UUID) -> list[Effect] | None:
    """Remove the cards `target` issued and reinstate those it revoked; None when another
    filing revoked a card it issued."""
    effects: list[Effect] = []
    for card in cards:
        if card.issued_by == target:
            if card.revoked_by is not None and card.revoked_by != target:
                return None
            effects.append(CardRemoved(card.fingerprint, card.relay_id))
        elif card.revoked_by == target:
            effects.append(CardRevocationRetracted(card.fingerprint, card.relay_id))
    return effects


def _undo_keys(view: RelayState, target: LedgerEntry, undo: list[Effect]) -> list[Effect]:
    """Drop the index entries and candidates the target created, unless still in use."""
    removed = {e.relay_id for e in undo if isinstance(e, PersonRemoved)}
    retracted = {e.link.link_id for e in undo if isinstance(e, LinkRetracted)}
    effects: list[Effect] = []
    for kind, value in target.index_keys:
        if kind == CANDIDATE_KIND:
            mine = [c for c in candidates(view, value) if c.created_by == target.event_id]
            effects += [CandidateRemoved(c) for c in mine]
            continue
        entry = indexed(view, (kind, value))
        if entry is None or entry.created_by != target.event_id:
            continue
        in_use = entry.relay_id not in removed and any(
            x.number_key == entry.key and not x.retracted and x.link_id not in retracted
            for x in links_of(view, entry.relay_id)
        )
        if not in_use:
            effects.append(ReferenceRemoved(entry.key, entry.relay_id))
    return effects
