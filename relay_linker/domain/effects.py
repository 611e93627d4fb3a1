"""Effects: everything a decision changes, as data; `apply` and the database adapter replay them.

State effects change stored rows; output effects become Kafka messages via the outbox."""

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from relay_linker.domain.commands import IndexKey
from relay_linker.domain.model import (
    Anomaly,
    Candidate,
    Card,
    Closure,
    IdentityChange,
    IndexEntry,
    LedgerEntry,
    Link,
    Milestone,
    ParkedFiling,
    Person,
    Reason,
)


@dataclass(frozen=True)
class FilingLedgered:
    """Insert or replace the filing's ledger row."""

    entry: LedgerEntry


@dataclass(frozen=True)
class FilingParked:
    """Insert or replace a parked filing and its wait keys."""

    parked: ParkedFiling


@dataclass(frozen=True)
class FilingUnparked:
    """Delete a parked filing and its wait keys."""

    event_id: UUID
    wait_keys: tuple[str, ...]


@dataclass(frozen=True)
class PersonRegistered:
    person: Person


@dataclass(frozen=True)
class PersonVersionBumped:
    relay_id: str
    version: int


@dataclass(frozen=True)
class PersonDied:
    relay_id: str
    died_on: date
    event_id: UUID


@dataclass(frozen=True)
class DeathRetracted:
    relay_id: str
    event_id: UUID


@dataclass(frozen=True)
class PersonRemoved:
    """A retracted registration: delete the person and their identity changes."""

    relay_id: str


@dataclass(frozen=True)
class IdentityChangeRecorded:
    change: IdentityChange


@dataclass(frozen=True)
class IdentityChangeRemoved:
    """Delete the identity changes the event recorded for the person."""

    relay_id: str
    event_id: UUID


@dataclass(frozen=True)
class ReferenceIndexed:
    entry: IndexEntry


@dataclass(frozen=True)
class ReferenceRemoved:
    key: IndexKey
    relay_id: str


@dataclass(frozen=True)
class CandidateIndexed:
    candidate: Candidate


@dataclass(frozen=True)
class CandidateRemoved:
    candidate: Candidate


@dataclass(frozen=True)
class LinkOpened:
    """Insert the link."""

    link: Link


@dataclass(frozen=True)
class LinkClosed:
    """Add `closure`; `link` is the row after the change."""

    link: Link
    closure: Closure


@dataclass(frozen=True)
class LinkReopened:
    """Remove `removed` (its filing was retracted); `link` is the row after the change."""

    link: Link
    removed: Closure


@dataclass(frozen=True)
class LinkRetracted:
    """Mark the link retracted; `link` is the row after the change."""

    link: Link


@dataclass(frozen=True)
class CardIssued:
    """Insert the card."""

    card: Card


@dataclass(frozen=True)
class CardRevoked:
    """Set the card's revocation date and the filing that set it."""

    fingerprint: str
    relay_id: str
    revoked_on: date
    event_id: UUID


@dataclass(frozen=True)
class CardRemoved:
    """A retracted issuance: delete the card."""

    fingerprint: str
    relay_id: str


@dataclass(frozen=True)
class CardRevocationRetracted:
    """A retracted revocation: the card is valid again."""

    fingerprint: str
    relay_id: str


@dataclass(frozen=True)
class AnomalyRecorded:
    """Insert the anomaly, or reopen it if it was resolved."""

    anomaly: Anomaly


@dataclass(frozen=True)
class AnomalyResolved:
    anomaly_id: UUID
    relay_ids: tuple[str, ...]


@dataclass(frozen=True)
class MilestoneScheduled:
    """Insert or replace the person's pending milestone of this name."""

    milestone: Milestone


@dataclass(frozen=True)
class MilestoneDropped:
    """Delete the person's pending milestone of this name (announced, or no longer due)."""

    relay_id: str
    name: str


@dataclass(frozen=True)
class AgeMilestoneEmitted:
    """Output for `relay.age-milestone.v1`: the relay clock reached the milestone's date."""

    relay_id: str
    name: str
    age: int
    due_on: date
    index: int = 0
    outbox_id: UUID | None = None


@dataclass(frozen=True)
class LinkChangeEmitted:
    """Output for `relay.link-change.v1` and `.v2`; carries no number.

    `closed_because` names the rule behind `valid_to` (see `endings`); `pension_type`, the
    dependant's `insured_relay_id`, the type-3 `spouse_relay_id` and a household link's
    `household` (its token's blind index in hex, never the token) go to v2 only."""

    relay_id: str
    person_version: int
    change: str
    link_id: UUID
    scheme: str
    insurer_number: str
    capacity: str
    category: str | None
    valid_from: date
    valid_to: date | None
    clamp: str | None
    source_event_id: UUID
    closed_because: str | None = None
    pension_type: int | None = None
    insured_relay_id: str | None = None
    spouse_relay_id: str | None = None
    household: str | None = None
    index: int = -1
    outbox_id: UUID | None = None


@dataclass(frozen=True)
class PersonChangeEmitted:
    """Output for `relay.person-change.v1`: the person as known after a decision that
    registered them, recorded or retracted their death, changed their birth date or removed
    them (see `person_changes`). Its outbox id is the relay id's and version's alone; the
    birth date is kept out of `repr`."""

    relay_id: str
    person_version: int
    born_on: date | None = field(repr=False)  # identity data: never in a log line
    died_on: date | None
    removed: bool
    source_event_id: UUID
    index: int = 0
    outbox_id: UUID | None = None


@dataclass(frozen=True)
class OutcomeIssued:
    """Output for `relay.filing-outcome.v1`; a later outcome keeps the filing's receipt id.

    `content_hash` names the filing answered; `conflicts_with` is set only on the refusal of
    other content under a known event id, which answers under an event id of its own."""

    event_id: UUID
    filer_code: str
    filing_reference: str
    receipt_id: UUID
    status: str
    reasons: tuple[Reason, ...]
    repeated: bool = False
    content_hash: str | None = None
    conflicts_with: UUID | None = None
    index: int = -1
    outbox_id: UUID | None = None
    filed_on: str = ""
    """The topic (catalogue name) the answered filing arrived on: says which kind of filer
    the outcome is addressed to."""


@dataclass(frozen=True)
class ChangeNoticeDue:
    """Output for `participant.<recipient_code>.changes.v1`: a change to a person that an
    insurer who knows or knew them must hear of (see `notices`).

    The person is named to the recipient by the number behind `number_key`, the recipient's
    most recent link's number (`sealed_number` is the relay's stored ciphertext of it, never
    clear); `relay_id` stays in the relay (the adapter derives the recipient's pseudonym from
    it). `ended_scheme` and `ended_insurer` name the coverage that ended (coverage_ended
    only)."""

    relay_id: str
    recipient_code: str
    kind: str
    effective_date: date
    number_key: IndexKey
    source_event_id: UUID
    sealed_number: bytes | None = field(default=None, compare=False, repr=False)
    ended_scheme: str | None = None
    ended_insurer: str | None = None
    index: int = -1
    outbox_id: UUID | None = None


LinkEffect = LinkOpened | LinkClosed | LinkReopened | LinkRetracted
CardEffect = CardIssued | CardRevoked | CardRemoved | CardRevocationRetracted
MilestoneEffect = MilestoneScheduled | MilestoneDropped
OutputEffect = (
    LinkChangeEmitted | OutcomeIssued | AgeMilestoneEmitted | ChangeNoticeDue | PersonChangeEmitted
)
Effect = (
    FilingLedgered
    | FilingParked
    | FilingUnparked
    | PersonRegistered
    | PersonVersionBumped
    | PersonDied
    | DeathRetracted
    | PersonRemoved
    | IdentityChangeRecorded
    | IdentityChangeRemoved
    | ReferenceIndexed
    | ReferenceRemoved
    | CandidateIndexed
    | CandidateRemoved
    | LinkEffect
    | CardEffect
    | MilestoneEffect
    | AnomalyRecorded
    | AnomalyResolved
    | OutputEffect
)
LINK_EFFECTS = (LinkOpened, LinkClosed, LinkReopened, LinkRetracted)
CARD_EFFECTS = (CardIssued, CardRevoked, CardRemoved, CardRevocationRetracted)
OUTPUT_EFFECTS = (
    LinkChangeEmitted, OutcomeIssued, AgeMilestoneEmitted, ChangeNoticeDue, PersonChangeEmitted
)
