"""Values the linker stores: persons, dated identity changes, links, anomalies, the filing ledger.

All frozen; numbers appear only as blind indexes and identity items only as keyed hashes."""

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from uuid import UUID

from relay_linker.domain.commands import IndexKey, LinkerRecord, Source

ACCEPTED, PARKED, REFUSED = "accepted", "parked", "refused"
LOSS, DEATH = "loss", "death"
REQUEST, NON_PAYMENT = "request", "non_payment"
FILED_ENDS = (LOSS, REQUEST, NON_PAYMENT)
"""Closures a filing makes: a loss, or 任意継続 ended on request or for non-payment."""
INSURED_LOST, INSURED_DIED = "insured_person_lost", "insured_person_died"
"""Closure kinds of a dependant's link ended by its insured person's loss or death (DOMAIN §6)."""
HOUSEHOLD_CHANGED = "household_changed"
"""Closure kind of a household link ended by the person's next household membership, or by
their 転出 (MovedOut) from its municipality: either way the person's household changes."""

MESSAGES = {
    "person_exists": "a person is already registered under this resident code",
    "identity_mismatch": "this identity item differs from the person's record on that date",
    "unknown_reference": "no person is known under this number yet",
    "person_deceased": "the filing takes effect after the person's death",
    "already_dead": "the person's death is already registered",
    "no_open_link": "no open link matches this loss",
    "loss_before_acquisition": "the loss date is before the acquisition date",
    "insured_on_continuation_start": (
        "the person is insured (elsewhere, or again at the same insurer) on the day 任意継続 "
        "would start"
    ),
    "insured_person_not_covered": (
        "the insured person is not covered at this insurer on the dependant's first day yet"
    ),
    "loss_on_acquisition_date": (
        "the loss date is the acquisition date, so no day was covered: retract the "
        "acquisition (FilingRetracted) instead of filing a loss"
    ),
    "invalid_period": "the period ends before it starts",
    "voluntary_continuation_ineligible": (
        "voluntary continuation needs at least two months of continuous cover as an insured "
        "person of employee health insurance before the loss date (健保法3条4項)"
    ),
    "age_limit_passed": "the period starts after the scheme's age limit",
    "number_in_use": "this number already identifies another person",
    "card_in_use": "this card was issued to another person",
    "unknown_card": "no card with this fingerprint was issued to the person yet",
    "card_revoked": "the card is already revoked",
    "revoked_before_issue": "the revocation date is before the card's issue date",
    "unknown_item": "this is not an identity item",
    "retraction_target_missing": "the retracted filing has not arrived",
    "retraction_blocked": "other accepted filings depend on the retracted filing",
    "already_retracted": "the filing was already retracted",
    "not_retractable": "a retraction cannot be retracted",
    "retraction_of_another_filer": (
        "the retracted filing was filed on another filer's topic: a filer retracts only its own"
    ),
    "retracted": "the filer retracted this filing",
    "conflicting_duplicate": (
        "a filing with other content was already received under this filing reference; "
        "its answer stands: file a change under a new filing reference"
    ),
    "empty_filing": "the filing carries no command",
    "occurred_in_future": (
        "occurred_at lies more than a day after the relay time the filing arrived at"
    ),
    "other_municipality": (
        "the person's household is kept by another municipality: a household change without a "
        "move (HouseholdChanged) is filed by the municipality of the person's membership"
    ),
    "parking_expired": "what the filing waited for did not arrive within 14 days of relay time",
}


@dataclass(frozen=True)
class Reason:
    """Why a filing was parked or refused; names an item, never a value."""

    code: str
    field: str | None = None

    @property
    def message(self) -> str:
        return MESSAGES.get(self.code, self.code)


@dataclass(frozen=True)
class Person:
    """A person the relay knows; created only by a municipality's registration."""

    relay_id: str
    resident_key: IndexKey
    registered_on: date
    reason: str
    created_by: UUID
    version: int = 0
    died_on: date | None = None
    died_by: UUID | None = None


@dataclass(frozen=True)
class IdentityChange:
    """Identity items set from a date; the base (registration) sets all five.

    `secret_birth_date` is identity data kept for the age rules: store it encrypted."""

    relay_id: str
    change_id: UUID
    event_id: UUID
    effective_from: date
    occurred_at: datetime
    reason: str
    hashes: tuple[tuple[str, bytes], ...]
    secret_birth_date: date | None = field(default=None, repr=False)
    base: bool = False


@dataclass(frozen=True)
class Card:
    """An IC card issued to the person: its public key proves who they are until revoked."""

    fingerprint: str
    relay_id: str
    public_key: bytes = field(repr=False)
    issued_on: date
    issued_by: UUID
    revoked_on: date | None = None
    revoked_by: UUID | None = None


@dataclass(frozen=True)
class IndexEntry:
    """A number's blind index pointing at the person it identifies."""

    key: IndexKey
    relay_id: str
    created_by: UUID
    sealed: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Candidate:
    """A person under a kana name + birth date + sex hash, kept to spot look-alikes."""

    candidate_hash: bytes
    relay_id: str
    created_by: UUID


@dataclass(frozen=True)
class Closure:
    """One filing's say on when a link ends: a loss, a death (died_on + 1), or for a dependant's
    link the insured person's loss or death (`INSURED_LOST`, `INSURED_DIED`)."""

    valid_to: date
    closed_by: UUID
    kind: str


def _closure_order(closure: Closure) -> tuple[date, str]:
    return (closure.valid_to, str(closure.closed_by))


@dataclass(frozen=True)
class Link:
    """Which insurer knows the person under which number, over [valid_from, valid_to).

    The end is the earliest of the end given at opening (age bounds included) and the closures,
    so closures commute and retracting one restores exactly what the others say."""

    link_id: UUID
    relay_id: str
    scheme: str
    insurer_number: str
    capacity: str
    category: str | None
    number_key: IndexKey
    valid_from: date
    opened_valid_to: date | None
    clamp: str | None
    opened_by: UUID
    insured_relay_id: str | None = None
    closures: tuple[Closure, ...] = ()
    retracted_by: UUID | None = None
    sealed_number: bytes | None = field(default=None, compare=False, repr=False)
    """The number sealed, for a link whose number is no person's own (a household's token,
    shared by its members, so it has no entry of the reference index)."""

    @property
    def valid_to(self) -> date | None:
        ends = [c.valid_to for c in self.closures]
        if self.opened_valid_to is not None:
            ends.append(self.opened_valid_to)
        return min(ends, default=None)

    @property
    def retracted(self) -> bool:
        return self.retracted_by is not None

    @property
    def lost(self) -> bool:
        return any(c.kind in FILED_ENDS for c in self.closures)

    def closed_with(self, closure: Closure) -> "Link":
        return replace(self, closures=tuple(sorted((*self.closures, closure), key=_closure_order)))

    def without(self, closure: Closure) -> "Link":
        return replace(self, closures=tuple(c for c in self.closures if c != closure))


@dataclass(frozen=True)
class Milestone:
    """An age milestone of the person not announced yet: `name` (age_20 ... age_75) is due on
    `due_on`, a date that reveals the birth date, so it never reaches a participant."""

    relay_id: str
    name: str
    age: int
    due_on: date


@dataclass(frozen=True)
class Anomaly:
    """Something operations must look at; recorded, never acted on by the linker itself."""

    anomaly_id: UUID
    code: str
    relay_ids: tuple[str, ...]
    event_id: UUID
    fields: tuple[str, ...] = ()
    link_ids: tuple[UUID, ...] = ()
    resolved: bool = False


@dataclass(frozen=True)
class ParkedFiling:
    """A filing waiting for something to arrive; `parked_at` is the relay time it was first
    parked at (the relay clock's, never a wall clock)."""

    record: LinkerRecord
    wait_keys: tuple[str, ...]
    reasons: tuple[Reason, ...]
    parked_at: datetime


@dataclass(frozen=True)
class LedgerEntry:
    """One filing's decision; `relay_ids` and `index_keys` say what a retraction must load."""

    event_id: UUID
    filer_code: str
    filing_reference: str
    event_type: str
    content_hash: str
    source: Source
    occurred_at: datetime
    receipt_id: UUID
    status: str
    reasons: tuple[Reason, ...] = ()
    kinds: tuple[str, ...] = ()
    relay_ids: tuple[str, ...] = ()
    index_keys: tuple[IndexKey, ...] = ()
    retracted_by: UUID | None = None
