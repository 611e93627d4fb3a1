"""Who a filing is about: a number that resolves through the index, then five matching items.

Items are compared as keyed hashes with the identity of the filing's date or of its arrival."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.commands import (
    IDENTITY_ITEMS,
    LOOKALIKE_ITEMS,
    Identity,
    LinkerRecord,
    NumberRef,
)
from relay_linker.domain.effects import AnomalyRecorded, AnomalyResolved
from relay_linker.domain.ids import anomaly_id
from relay_linker.domain.keys import index_wait, person_wait
from relay_linker.domain.model import Anomaly, IdentityChange, Person, Reason
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import anomaly, identity_changes, indexed, person
from relay_linker.domain.state import RelayState
from relay_linker.domain.verdict import Verdict, parked, refused

JST = timezone(timedelta(hours=9))
LOOKALIKE = "lookalike"


@dataclass(frozen=True)
class Role:
    """Whom a filing names, as its reasons spell it: the number's field and the items' field."""

    reference: str
    items: str


PERSON = Role("person", "identity")
INSURED = Role("insured_person", "insured_identity")
"""A dependant's insured person (本人), matched by the same rule as the dependant."""


@dataclass(frozen=True)
class Snapshot:
    """The person's identity hashes on one date, and the birth date the age rules need."""

    hashes: dict[str, bytes]
    secret_birth_date: date


@dataclass(frozen=True)
class Located:
    person: Person
    snapshot: Snapshot


def resolve(view: RelayState, ref: NumberRef) -> str | None:
    entry = indexed(view, ref.key)
    return entry.relay_id if entry else None


def ordered(changes: tuple[IdentityChange, ...]) -> list[IdentityChange]:
    """The base first, then changes by date; same-day changes by event time, then event id."""
    return sorted(
        changes, key=lambda c: (not c.base, c.effective_from, c.occurred_at, str(c.change_id))
    )


def identity_at(view: RelayState, relay_id: str, on: date) -> Snapshot:
    """The identity valid on `on`; before the registration, the registered identity."""
    hashes: dict[str, bytes] = {}
    birth: date | None = None
    for change in ordered(identity_changes(view, relay_id)):
        if change.base or change.effective_from <= on:
            hashes.update(change.hashes)
            birth = change.secret_birth_date or birth
    if birth is None:
        raise ValueError("person without a registered identity")
    return Snapshot(hashes, birth)


def last_covered_day(lost_on: date) -> date:
    """A loss describes the period that ends: its items are those of the day before the loss
    date (DOMAIN §5a; 健康保険法36条 and 国民健康保険法8条 set the loss date)."""
    return lost_on - ONE_DAY


def arrival_day(record: LinkerRecord) -> date:
    """The Japan date of the record's relay time: whose identity the filer knew when it filed.

    Read from the relay clock, not `occurred_at`, which the filer controls; a record without a
    zone is taken as written in Japan time."""
    stamp: datetime = record.relay_time
    return (stamp.astimezone(JST) if stamp.tzinfo else stamp).date()


def mismatches(snapshot: Snapshot, identity: Identity, relay_id: str, hasher: Hasher) -> list[str]:
    return [
        item
        for item in IDENTITY_ITEMS
        if hasher.identity_hash(relay_id, item, identity.item(item)) != snapshot.hashes.get(item)
    ]


def locate(
    view: RelayState,
    record: LinkerRecord,
    ref: NumberRef,
    identity: Identity,
    on: date,
    hasher: Hasher,
    role: Role = PERSON,
) -> Located | Verdict:
    """The person `ref` names, if the five items match their identity on `on` or on the day
    the record arrived (DOMAIN §5a); otherwise a parked verdict naming the items of `on`."""
    relay_id = resolve(view, ref)
    if relay_id is None:
        return parked([Reason("unknown_reference", role.reference)], [index_wait(ref.key)])
    holder = person(view, relay_id)
    if holder is None:
        raise ValueError("index names a person the state does not hold")
    wrong: list[str] = []
    for day in dict.fromkeys((on, arrival_day(record))):
        snapshot = identity_at(view, relay_id, day)
        differing = mismatches(snapshot, identity, relay_id, hasher)
        if not differing:
            return Located(holder, snapshot)
        wrong = wrong or differing
    reasons = [Reason("identity_mismatch", f"{role.items}.{item}") for item in wrong]
    anomalies = [] if LOOKALIKE_ITEMS & set(wrong) else [_lookalike(record, relay_id, wrong, role)]
    return parked(reasons, [person_wait(relay_id)], anomalies)


def _lookalike(
    record: LinkerRecord, relay_id: str, wrong: list[str], role: Role
) -> AnomalyRecorded:
    key = anomaly_id(LOOKALIKE, str(record.event_id), relay_id)
    fields = tuple(f"{role.items}.{item}" for item in wrong)
    return AnomalyRecorded(Anomaly(key, LOOKALIKE, (relay_id,), record.event_id, fields))


def lookalikes_explained(
    view: RelayState, record: LinkerRecord, relay_ids: Iterable[str]
) -> list[AnomalyResolved]:
    """A parked filing now accepted resolves the look-alikes it raised about `relay_ids`, the
    persons it was found to name: the identity change it waited for explained the mismatch
    (DOMAIN §5a). Reads by key, so a slice and the whole state resolve the same anomalies."""
    resolved = []
    for relay_id in sorted(set(relay_ids)):
        key = anomaly_id(LOOKALIKE, str(record.event_id), relay_id)
        known = anomaly(view, key, relay_id)
        if known is not None and not known.resolved:
            resolved.append(AnomalyResolved(key, (relay_id,)))
    return resolved


def after_death(holder: Person, last_day: date, record: LinkerRecord) -> Verdict | None:
    """A refusal (and an anomaly) when the filing takes effect after `last_day` of a dead person."""
    if holder.died_on is None or last_day <= holder.died_on:
        return None
    key = anomaly_id("filing_for_dead_person", str(record.event_id), holder.relay_id)
    note = Anomaly(key, "filing_for_dead_person", (holder.relay_id,), record.event_id)
    return refused([Reason("person_deceased", "person")], [AnomalyRecorded(note)])
