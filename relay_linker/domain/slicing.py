"""Cut a slice out of a complete state, loading exactly what the adapter would load for keys.

The reference for the database adapter's loading rules, and how the tests check them."""

from uuid import UUID

from relay_linker.domain.commands import (
    ChangeIdentity,
    CloseLink,
    IndexKey,
    IssueCard,
    JoinHousehold,
    LinkerRecord,
    OpenLink,
    RecordDeath,
    RegisterPerson,
    Retract,
    RevokeCard,
)
from relay_linker.domain.keys import CANDIDATE_KIND, card_key, event_wait
from relay_linker.domain.state import (
    MilestonesDue,
    MissingFromSlice,
    Needs,
    ParkedDue,
    Reference,
    RelayState,
    new_state,
)


def carve(whole: RelayState, needs: Needs) -> RelayState:
    """A slice holding, for each key `needs` names, everything a decision may read under it."""
    part = new_state(complete=False)
    for relay_id in needs.relay_ids:
        _person(part, whole, relay_id)
    for key in needs.index_keys:
        _index(part, whole, key)
    for key in needs.wait_keys:
        _waits(part, whole, key)
    for due in needs.parked_due:
        _parked_due(part, whole, due)
    for bound in needs.milestones_due:
        _milestones_due(part, whole, bound)
    for insured in needs.dependants_of:
        _dependants(part, whole, insured)
    for reference in needs.references:
        part.loaded_references.add(reference)
        if reference in whole.references:
            part.references[reference] = whole.references[reference]
            _event(part, whole, whole.references[reference])
    for event_id in needs.event_ids:
        _event(part, whole, event_id)
    return part


def needs(record: LinkerRecord) -> Needs:
    """What any decision of `record` reads first: load it up front to save round trips."""
    index_keys: set[IndexKey] = set()
    references: set[Reference] = set()
    for command in record.commands:
        match command:
            case RegisterPerson(resident_code=ref):
                index_keys.add(ref.key)
            case ChangeIdentity(person=ref) | RecordDeath(person=ref):
                index_keys.add(ref.key)
            case CloseLink(person=ref, insured_person=insured):
                index_keys.add(ref.key)
                index_keys |= {insured.person.key} if insured else set()
            case IssueCard(person=ref, fingerprint=fingerprint):
                index_keys |= {ref.key, card_key(fingerprint)}
            case RevokeCard(person=ref) | JoinHousehold(person=ref):
                index_keys.add(ref.key)
            case OpenLink(person=ref, link=spec, insured_person=insured):
                index_keys |= {ref.key, spec.number.key}
                index_keys |= {insured.person.key} if insured else set()
            case Retract(retracted_filing_reference=reference):
                references.add((record.filer_code, reference))
    return Needs(
        index_keys=frozenset(index_keys),
        wait_keys=frozenset({event_wait(record.filer_code, record.filing_reference)}),
        event_ids=frozenset({record.event_id}),
        references=frozenset(references),
    )


def widened(keys: Needs, missing: MissingFromSlice) -> Needs:
    """The keys to load next time, after a decision reported what it lacked."""
    return keys | missing.needs


def _person(part: RelayState, whole: RelayState, relay_id: str) -> None:
    part.loaded_relay_ids.add(relay_id)
    for table in ("persons", "identity", "links", "cards", "milestones"):
        source = getattr(whole, table)
        if relay_id in source:
            getattr(part, table)[relay_id] = source[relay_id]
    for key, note in whole.anomalies.items():
        if relay_id in note.relay_ids:
            part.anomalies[key] = note


def _dependants(part: RelayState, whole: RelayState, insured: str) -> None:
    part.loaded_dependants_of.add(insured)
    for relay_id, held in whole.links.items():
        if any(x.insured_relay_id == insured for x in held):
            _person(part, whole, relay_id)


def _index(part: RelayState, whole: RelayState, key: IndexKey) -> None:
    part.loaded_index_keys.add(key)
    if key[0] == CANDIDATE_KIND and key[1] in whole.candidates:
        part.candidates[key[1]] = whole.candidates[key[1]]
    elif key in whole.index:
        part.index[key] = whole.index[key]


def _waits(part: RelayState, whole: RelayState, key: str) -> None:
    part.loaded_wait_keys.add(key)
    part.waiting[key] = whole.waiting.get(key, frozenset())
    for event_id in part.waiting[key]:
        _event(part, whole, event_id)


def _parked_due(part: RelayState, whole: RelayState, due: ParkedDue) -> None:
    part.loaded_parked_due.add(due)
    for event_id, parked in whole.parked.items():
        if parked.parked_at <= due.bound:
            _event(part, whole, event_id)


def _milestones_due(part: RelayState, whole: RelayState, due: MilestonesDue) -> None:
    part.loaded_milestones_due.add(due)
    for relay_id, held in whole.milestones.items():
        known = {m.name for m in part.milestones.get(relay_id, ())}
        extra = tuple(m for m in held if m.due_on <= due.bound and m.name not in known)
        if extra:
            part.milestones[relay_id] = (*part.milestones.get(relay_id, ()), *extra)


def _event(part: RelayState, whole: RelayState, event_id: UUID) -> None:
    part.loaded_event_ids.add(event_id)
    entry = whole.ledger.get(event_id)
    if entry is not None:
        part.ledger[event_id] = entry
        part.references[(entry.filer_code, entry.filing_reference)] = event_id
        part.loaded_references.add((entry.filer_code, entry.filing_reference))
    if event_id in whole.parked:
        part.parked[event_id] = whole.parked[event_id]
