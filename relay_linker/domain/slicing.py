"""Cut a slice out of a complete state, loading exactly what the adapter would load for keys.

The reference for the database adapter's loading rules, and how the tests check them."""

from uuid import UUID

from relay_linker.domain.commands import (
    LOOKALIKE_ITEMS,
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
from relay_linker.domain.households import RESIDENT
from relay_linker.domain.keys import (
    CANDIDATE_KIND,
    candidate_key,
    card_key,
    event_wait,
    index_wait,
    link_wait,
    person_wait,
)
from relay_linker.domain.ports import Hasher
from relay_linker.domain.residency import lookalike_hash, new_relay_id
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


def needs(record: LinkerRecord, hasher: Hasher | None = None) -> Needs:
    """What any decision of `record` reads first: load it up front to save round trips.

    With `hasher`, also what it reads once it is accepted: the filings waiting on the numbers
    it may index, and a registration's look-alike candidates."""
    index_keys: set[IndexKey] = set()
    references: set[Reference] = set()
    for command in record.commands:
        match command:
            case RegisterPerson(resident_code=ref, identity=identity):
                index_keys.add(ref.key)
                if hasher is not None:
                    index_keys.add(candidate_key(lookalike_hash(
                        hasher, {item: identity.item(item) for item in LOOKALIKE_ITEMS})))
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
    waits = {event_wait(record.filer_code, record.filing_reference)}
    new = _new_persons(record, hasher) if hasher is not None else {}
    if hasher is not None:
        waits |= {index_wait(k) for k in index_keys if k[0] != CANDIDATE_KIND}
        waits |= _new_persons_links(record, new)
    return Needs(
        relay_ids=frozenset(new.values()),
        index_keys=frozenset(index_keys),
        wait_keys=frozenset(waits),
        event_ids=frozenset({record.event_id}),
        references=frozenset(references),
    )


def _new_persons(record: LinkerRecord, hasher: Hasher) -> dict[IndexKey, str]:
    """The relay id each registration in `record` gives its new person (known from the record
    alone), by the resident code it is registered under."""
    return {command.resident_code.key: new_relay_id(hasher, record.event_id, position)
            for position, command in enumerate(record.commands)
            if isinstance(command, RegisterPerson)}


def _new_persons_links(record: LinkerRecord, new: dict[IndexKey, str]) -> set[str]:
    """The links a registration's own later commands open for its `new` persons."""
    waits: set[str] = set()
    for command in record.commands:
        match command:
            case JoinHousehold(person=ref, municipality=municipality) if ref.key in new:
                waits.add(link_wait(new[ref.key], RESIDENT, municipality))
            case OpenLink(person=ref, link=spec) if ref.key in new:
                waits.add(link_wait(new[ref.key], spec.scheme, spec.insurer_number))
    return waits


def then(record: LinkerRecord, state: RelayState) -> Needs:
    """What a decision of `record` reads once the numbers it names are loaded into `state`:
    the persons found under them, and the filings waiting on those persons, on the links
    they hold (a new link may end or reopen them) and on the link the record opens for them.
    A guess to save round trips: a slice still says what it lacks."""
    relay_ids: set[str] = set()
    waits: set[str] = set()
    insured_persons: set[str] = set()
    for command in record.commands:
        insured = getattr(command, "insured_person", None)
        refs = (getattr(command, "person", None), getattr(command, "resident_code", None),
                insured.person if insured is not None else None)
        entries = [state.index.get(ref.key) if ref is not None else None for ref in refs]
        for entry in filter(None, entries):
            relay_ids.add(entry.relay_id)
            waits.add(person_wait(entry.relay_id))
            waits.update(link_wait(entry.relay_id, x.scheme, x.insurer_number)
                         for x in state.links.get(entry.relay_id, ()))
        if entries[0] is None:  # the person the command is about
            continue
        holder = entries[0].relay_id
        match command:
            case OpenLink(link=spec) | CloseLink(link=spec):
                waits.add(link_wait(holder, spec.scheme, spec.insurer_number))
            case JoinHousehold(municipality=municipality):
                waits.add(link_wait(holder, RESIDENT, municipality))
        if isinstance(command, OpenLink | CloseLink | RecordDeath) and any(
                x.capacity != "dependant" for x in state.links.get(holder, ())):
            insured_persons.add(holder)  # their dependants' cover may move with theirs
    return Needs(relay_ids=frozenset(relay_ids), wait_keys=frozenset(waits),
                 dependants_of=frozenset(insured_persons))


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
