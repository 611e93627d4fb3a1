"""`decide`: the effects of one record on the relay's state, cascading into parked filings.

Pure: reads the state (or a slice) and the record's relay time, never a wall clock; same state
and record, same effects."""

from dataclasses import replace
from uuid import UUID

from relay_linker.domain import effects as fx
from relay_linker.domain.apply import apply_all
from relay_linker.domain.commands import LinkerRecord
from relay_linker.domain.ids import conflict_event_id, conflict_receipt_id, outbox_id
from relay_linker.domain.keys import event_wait, index_wait, link_wait, person_wait
from relay_linker.domain.model import REFUSED, LedgerEntry, Reason
from relay_linker.domain.notices import notices_due
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import ledger_entry, parked_filing, parked_waiting
from relay_linker.domain.settle import outcome, settle, touched_persons
from relay_linker.domain.state import RelayState, clone


def decide(state: RelayState, record: LinkerRecord, hasher: Hasher) -> list[fx.Effect]:
    """Decide `record`, then retry the parked filings its acceptance wakes, oldest first.

    A record already in the ledger changes nothing: the same content repeats its outcome
    (nothing at all when it is the same Kafka record redelivered); other content is refused
    under an event id of its own, so the filing already held keeps its answer."""
    known = ledger_entry(state, record.event_id)
    if known is not None:
        return _numbered(record, _duplicate(known, record))
    return _numbered(record, _cascade(state, record, hasher))


def _duplicate(known: LedgerEntry, record: LinkerRecord) -> list[fx.Effect]:
    if known.content_hash != record.content_hash:
        return [_conflict_refusal(known, record)]
    if known.source == record.source:
        return []
    return [outcome(known, repeated=True)]


def _conflict_refusal(known: LedgerEntry, record: LinkerRecord) -> fx.OutcomeIssued:
    """Other content under `known`'s event id: refused under its own id, naming `known`."""
    return fx.OutcomeIssued(
        conflict_event_id(known.event_id, record.content_hash),
        record.filer_code,
        record.filing_reference,
        conflict_receipt_id(record.event_id, record.content_hash),
        REFUSED,
        (Reason("conflicting_duplicate", "event_id"),),
        content_hash=record.content_hash,
        conflicts_with=known.event_id,
        filed_on=record.source.topic,
    )


def _cascade(state: RelayState, record: LinkerRecord, hasher: Hasher) -> list[fx.Effect]:
    """Settle `record`, then each woken parked filing in the relay's order (relay time, then
    topic, partition and offset of the record that brought it), each with the change notices
    it makes due (`notices`).

    Filings wake on what accepted filings touched (retractions also on their target's arrival);
    each filing is accepted at most once, so this ends. The state is copied only when there is
    a parked filing to retry."""
    step = settle(state, record, hasher, None, record.relay_time)
    step = [*step, *notices_due(state, step)]
    effects = list(step)
    queue = set(_woken(state, step) - {record.event_id})
    view, pending = state, step
    while queue:
        if pending:
            view = clone(view) if view is state else view
            apply_all(view, pending)
        waiting = [p for p in (parked_filing(view, i) for i in sorted(queue, key=str)) if p]
        if not waiting:
            break
        nxt = min(waiting, key=lambda p: p.record.relay_order).record
        queue.discard(nxt.event_id)
        pending = settle(view, nxt, hasher, ledger_entry(view, nxt.event_id), record.relay_time)
        pending = [*pending, *notices_due(view, pending)]
        effects += pending
        queue |= _woken(view, pending) - {nxt.event_id}
    return effects


def _woken(view: RelayState, step: list[fx.Effect]) -> frozenset[UUID]:
    keys = wake_keys(step)
    return parked_waiting(view, keys) if keys else frozenset()


def wake_keys(step: list[fx.Effect]) -> set[str]:
    """Keys a settled filing touched: new numbers, changed persons, open links, its reference."""
    new = {e.person.relay_id for e in step if isinstance(e, fx.PersonRegistered)}
    keys = {person_wait(r) for r in touched_persons(step) if r not in new}
    for effect in step:
        match effect:
            case fx.ReferenceIndexed(entry=entry):
                keys.add(index_wait(entry.key))
            case fx.LinkOpened(link=link) | fx.LinkReopened(link=link):
                keys.add(link_wait(link.relay_id, link.scheme, link.insurer_number))
            case fx.FilingLedgered(entry=entry):
                keys.add(event_wait(entry.filer_code, entry.filing_reference))
    return keys


def _numbered(record: LinkerRecord, effects: list[fx.Effect]) -> list[fx.Effect]:
    """Give each output its index within this decision and its outbox id (a person's change
    keeps the id it was made with, and numbers nothing, so no other output's id moves)."""
    numbered: list[fx.Effect] = []
    index = 0
    for effect in effects:
        if isinstance(effect, fx.PersonChangeEmitted):  # its id is the person's and version's
            numbered.append(effect)
            continue
        if isinstance(effect, fx.OUTPUT_EFFECTS):
            effect = replace(
                effect, index=index, outbox_id=outbox_id(record.event_id, record.source, index)
            )
            index += 1
        numbered.append(effect)
    return numbered
