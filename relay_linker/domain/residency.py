"""Municipality commands: registering a person, changing identity items, recording a death.

Only a registration creates a person; a look-alike is recorded, never merged."""

from collections.abc import Mapping
from datetime import date
from uuid import UUID

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.commands import (
    IDENTITY_ITEMS,
    LOOKALIKE_ITEMS,
    ChangeIdentity,
    Identity,
    LinkerRecord,
    RecordDeath,
    RegisterPerson,
)
from relay_linker.domain.dependants import end_with_death
from relay_linker.domain.effects import (
    AnomalyRecorded,
    CandidateIndexed,
    Effect,
    IdentityChangeRecorded,
    LinkClosed,
    PersonDied,
    PersonRegistered,
    ReferenceIndexed,
)
from relay_linker.domain.households import MOVED_OUT, move_out
from relay_linker.domain.ids import anomaly_id, identity_change_id, relay_seed
from relay_linker.domain.matching import after_death, locate
from relay_linker.domain.model import (
    DEATH,
    Anomaly,
    Candidate,
    Closure,
    IdentityChange,
    IndexEntry,
    Person,
    Reason,
)
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import candidates, indexed, links_of
from relay_linker.domain.state import RelayState
from relay_linker.domain.verdict import Verdict, accepted, refused


def new_relay_id(hasher: Hasher, event_id: UUID, position: int) -> str:
    """The relay id the registration at `position` of filing `event_id` gives its person."""
    return hasher.relay_id_for(relay_seed(event_id, position))


def lookalike_hash(hasher: Hasher, values: Mapping[str, str]) -> bytes:
    """The candidate hash of the kana name, birth date and sex among identity `values`."""
    return hasher.candidate_hash(values["kana_name"], values["birth_date"], values["sex"])


def register(
    view: RelayState, record: LinkerRecord, position: int, command: RegisterPerson, hasher: Hasher
) -> Verdict:
    key = command.resident_code.key
    if indexed(view, key) is not None:
        return refused([Reason("person_exists", "resident_code")])
    relay_id = new_relay_id(hasher, record.event_id, position)
    values = {item: command.identity.item(item) for item in IDENTITY_ITEMS}
    change = IdentityChange(
        relay_id,
        identity_change_id(record.event_id, position),
        record.event_id,
        command.registered_on,
        record.occurred_at,
        command.reason,
        _hashes(hasher, relay_id, values),
        date.fromisoformat(values["birth_date"]),
        base=True,
    )
    holder = Person(relay_id, key, command.registered_on, command.reason, record.event_id)
    entry = IndexEntry(key, relay_id, record.event_id, command.resident_code.sealed)
    effects: list[Effect] = [
        PersonRegistered(holder),
        ReferenceIndexed(entry),
        IdentityChangeRecorded(change),
    ]
    effects += _candidate(view, hasher, record, relay_id, values)
    return accepted(effects)


def change_identity(
    view: RelayState, record: LinkerRecord, position: int, command: ChangeIdentity, hasher: Hasher
) -> Verdict:
    unknown = sorted(set(command.changes) - set(IDENTITY_ITEMS))
    if unknown or not command.changes:
        fields = [f"changes.{item}" for item in unknown] or ["changes"]
        return refused([Reason("unknown_item", field) for field in fields])
    found = locate(
        view, record, command.person, command.identity, command.effective_from - ONE_DAY, hasher
    )
    if isinstance(found, Verdict):
        return found
    late = after_death(found.person, command.effective_from, record)
    if late is not None:
        return late
    relay_id = found.person.relay_id
    birth = command.changes.get("birth_date")
    change = IdentityChange(
        relay_id,
        identity_change_id(record.event_id, position),
        record.event_id,
        command.effective_from,
        record.occurred_at,
        command.reason,
        _hashes(hasher, relay_id, command.changes),
        date.fromisoformat(birth) if birth else None,
    )
    effects: list[Effect] = [IdentityChangeRecorded(change)]
    if LOOKALIKE_ITEMS & set(command.changes):
        values = {**_items(command.identity), **command.changes}
        effects += _candidate(view, hasher, record, relay_id, values)
    if command.reason == MOVED_OUT:
        effects += move_out(view, record, relay_id, command.effective_from)
    return accepted(effects)


def record_death(
    view: RelayState, record: LinkerRecord, position: int, command: RecordDeath, hasher: Hasher
) -> Verdict:
    found = locate(view, record, command.person, command.identity, command.died_on, hasher)
    if isinstance(found, Verdict):
        return found
    if found.person.died_on is not None:
        return refused([Reason("already_dead", "person")])
    relay_id = found.person.relay_id
    closure = Closure(command.died_on + ONE_DAY, record.event_id, DEATH)
    effects: list[Effect] = [PersonDied(relay_id, command.died_on, record.event_id)]
    for link in links_of(view, relay_id):
        if link.valid_from <= command.died_on:
            effects.append(LinkClosed(link.closed_with(closure), closure))
        elif not link.retracted:
            effects.append(_opened_after_death(link.opened_by, relay_id, record))
    effects += end_with_death(view, relay_id, command.died_on, record.event_id)
    return accepted(effects)


def _opened_after_death(opened_by: UUID, relay_id: str, record: LinkerRecord) -> Effect:
    key = anomaly_id("filing_for_dead_person", str(opened_by), relay_id)
    return AnomalyRecorded(Anomaly(key, "filing_for_dead_person", (relay_id,), record.event_id))


def _items(identity: Identity) -> dict[str, str]:
    return {item: identity.item(item) for item in IDENTITY_ITEMS}


def _hashes(
    hasher: Hasher, relay_id: str, values: Mapping[str, str]
) -> tuple[tuple[str, bytes], ...]:
    return tuple(
        (item, hasher.identity_hash(relay_id, item, values[item]))
        for item in IDENTITY_ITEMS
        if item in values
    )


def _candidate(
    view: RelayState, hasher: Hasher, record: LinkerRecord, relay_id: str, values: Mapping[str, str]
) -> list[Effect]:
    """Index the kana + birth date + sex hash; a person already under it is a look-alike."""
    digest = lookalike_hash(hasher, values)
    known = candidates(view, digest)
    effects: list[Effect] = []
    if all(c.relay_id != relay_id for c in known):
        effects.append(CandidateIndexed(Candidate(digest, relay_id, record.event_id)))
    for other in sorted({c.relay_id for c in known} - {relay_id}):
        pair = tuple(sorted((relay_id, other)))
        note = Anomaly(anomaly_id("lookalike", *pair), "lookalike", pair, record.event_id)
        effects.append(AnomalyRecorded(note))
    return effects
