"""Commands the relay linker decides on, and the record that carries one filing's commands.

Numbers travel only as keyed blind indexes and identity items only as normalised, masked text."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

IndexKey = tuple[str, bytes]
IDENTITY_ITEMS = ("kanji_name", "kana_name", "birth_date", "sex", "address")
LOOKALIKE_ITEMS = frozenset({"kana_name", "birth_date", "sex"})


@dataclass(frozen=True)
class NumberRef:
    """A person-level number known by its keyed blind index; `sealed` is ciphertext to store."""

    kind: str
    index: bytes
    sealed: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> IndexKey:
        return (self.kind, self.index)


@dataclass(frozen=True)
class Identity:
    """The five identity items, already normalised; secret, so never shown."""

    kanji_name: str
    kana_name: str
    birth_date: str
    sex: str
    address: str

    def __repr__(self) -> str:
        return "Identity(<masked>)"

    def item(self, name: str) -> str:
        return str(getattr(self, name))


@dataclass(frozen=True)
class LinkSpec:
    """Which insurer knows the person under which number, in which capacity and category."""

    scheme: str
    insurer_number: str
    capacity: str
    category: str | None
    number: NumberRef


@dataclass(frozen=True)
class InsuredPerson:
    """A dependant's insured person (本人), by number and the five items: both are matched, as
    for any person, so a look-alike or mistyped number never attaches a dependant elsewhere."""

    person: NumberRef
    identity: Identity


@dataclass(frozen=True)
class Source:
    """Where a record was read."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class RegisterPerson:
    """Create a person; only municipalities do (go-live, birth, arrival from abroad)."""

    resident_code: NumberRef
    identity: Identity
    registered_on: date
    reason: str


@dataclass(frozen=True)
class ChangeIdentity:
    """Change identity items from a date: move, name change, address renaming, correction."""

    person: NumberRef
    identity: Identity
    changes: Mapping[str, str] = field(repr=False)
    effective_from: date
    reason: str


@dataclass(frozen=True)
class RecordDeath:
    """Register a death; every open link is lost the day after."""

    person: NumberRef
    identity: Identity
    died_on: date


@dataclass(frozen=True)
class Election:
    """An application for 任意継続: its date, the window's last day (a business day, worked out
    from the national calendar outside the domain), and whether the insurer gave a reason for
    accepting it late."""

    applied_on: date
    due_on: date
    justified: bool = False


@dataclass(frozen=True)
class OpenLink:
    """An acquisition: the person becomes known to an insurer from `valid_from`; an election of
    voluntary continuation carries its `election`."""

    person: NumberRef
    identity: Identity
    link: LinkSpec
    valid_from: date
    valid_to: date | None = None
    insured_person: InsuredPerson | None = None
    election: Election | None = None


@dataclass(frozen=True)
class CloseLink:
    """A loss: the person's open link of this kind ends on `lost_on` (資格喪失日); a dependant's
    loss names the insured person whose dependant they were; `kind` is `loss`, or `request` /
    `non_payment` for the insurer's end of voluntary continuation (健保法38条)."""

    person: NumberRef
    identity: Identity
    link: LinkSpec
    lost_on: date
    insured_person: InsuredPerson | None = None
    kind: str = "loss"


@dataclass(frozen=True)
class IssueCard:
    """An IC card was issued to the person; its key is public, `fingerprint` its SHA-256 hex."""

    person: NumberRef
    identity: Identity
    fingerprint: str
    public_key: bytes = field(repr=False)
    issued_on: date


@dataclass(frozen=True)
class RevokeCard:
    """The person's card with `fingerprint` no longer proves who they are from `revoked_on`."""

    person: NumberRef
    identity: Identity
    fingerprint: str
    revoked_on: date


@dataclass(frozen=True)
class JoinHousehold:
    """The person belongs to the municipality's household `household` (its token's blind index)
    from `joined_on`, as householder (世帯主) or member; `identity` holds on `identity_on` (a
    move's items are those before the move)."""

    person: NumberRef
    identity: Identity
    municipality: str
    household: NumberRef
    householder: bool
    joined_on: date
    identity_on: date
    reason: str


@dataclass(frozen=True)
class Retract:
    """取消: undo exactly the effects of the same filer's named filing."""

    retracted_filing_reference: str


Command = (
    RegisterPerson
    | ChangeIdentity
    | RecordDeath
    | OpenLink
    | CloseLink
    | IssueCard
    | RevokeCard
    | JoinHousehold
    | Retract
)


@dataclass(frozen=True)
class LinkerRecord:
    """One filing as the linker sees it; its commands are accepted, parked or refused as one."""

    event_id: UUID
    event_type: str
    filer_code: str
    filing_reference: str
    content_hash: str
    occurred_at: datetime
    effective_date: date | None
    source: Source
    commands: tuple[Command, ...]
    relay_time: datetime
    """The relay clock's time when the record arrived: what every deadline is judged by."""

    @property
    def relay_order(self) -> tuple[datetime, str, int, int]:
        """Where the record stands in the relay's order: relay time, then its position."""
        return (self.relay_time, self.source.topic, self.source.partition, self.source.offset)


@dataclass(frozen=True)
class ClockAdvanced:
    """The relay clock reached `relay_time`: between records, parked filings may expire."""

    relay_time: datetime


Step = LinkerRecord | ClockAdvanced
"""What the linker folds, in the relay's order: records, and the clock between them."""
