"""Messages the relay publishes: link changes, filing outcomes and dead letters, with reasons.

None of them carries a person-level number or an identity item in clear.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID, uuid5

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from schemas.base import AnyDay, ContractModel, Instant, Problem, error, raise_problems
from schemas.checkdigits import (
    NumberFormatError,
    is_late_stage,
    validate_health_insurer_number,
    validate_municipal_insurer_number,
)
from schemas.common import Capacity, Scheme
from schemas.envelope import event_id_for
from schemas.identifiers import FilerCode, FilingReference, InstitutionCode, ReceiptId, RelayId

UNKNOWN_FILER = "unknown"
OUTBOX_ID = "uuid5 of the event id, source position and output index: the idempotency key"
NonNegative = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]
ContentHash = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]
RELAY_TIME = (
    "the relay time of the decision: the time of the relay clock's last tick before the "
    "record that caused it (see RelayTick); null on messages from before the relay clock"
)
CLOCK_KEY = b"relay-clock"
TICK_HEADER = ("shaho-record", b"relay-tick")
SIGNER_HEADER = "shaho-signer"
"""Header of every record sent to the relay: `role/code/serial` of the signer's certificate
(serial in lowercase hex)."""
SIGNATURE_HEADER = "shaho-signature"
"""Header of every record sent to the relay: the signer's DER ECDSA P-256 SHA-256 signature
over the record's catalogue topic name, key and value, each framed with its length."""
CONTENT_HASH = (
    "lowercase hex SHA-256 of the filing this outcome answers, as encoded on the wire "
    "(schemas.codec.content_hash); null when unknown"
)


class ReasonCode(StrEnum):
    """Reason codes the decoder and the linker's safety nets give; other processors and the
    linking rules add their own snake_case codes."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    WRONG_TOPIC = "wrong_topic"
    INVALID = "invalid"
    FORGED_TICK = "forged_tick"  # marked as a tick, but not the relay clock's signed tick
    # admission (`trust.rules.Refusal`): who signed a record, checked before it is decoded
    UNSIGNED = "unsigned"
    UNKNOWN_SIGNER = "unknown_signer"
    BAD_SIGNATURE = "bad_signature"
    NOT_SIGNERS_FILER_CODE = "not_signers_filer_code"
    ROLE_MAY_NOT_FILE = "role_may_not_file"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_REVOKED = "certificate_revoked"
    UNDECODABLE = "undecodable"  # decoding raised something other than a rejection
    UNTRANSLATABLE = "untranslatable"  # translating a decoded filing for the linker raised
    PROCESSING_FAILED = "processing_failed"  # deciding or storing it raised (not an outage)


class Reason(ContractModel):
    """Why a message was refused, parked or dead-lettered; never carries a secret value."""

    code: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    field: str | None = Field(default=None, max_length=200, description="dotted path or null")
    message: str = Field(max_length=500, description="actionable, without input values")


class RelayMessage(ContractModel):
    """Base of the messages the relay publishes: a schema version and a Kafka key."""

    SCHEMA_VERSION: ClassVar[int] = 1
    MESSAGE: ClassVar[str | None] = None
    """The message's name when the class is not named like it (a later version's class)."""

    @classmethod
    def message(cls) -> str:
        """The message's name, shared by all its versions."""
        return cls.MESSAGE or cls.__name__

    def kafka_key(self) -> bytes:
        """The record key."""
        raise NotImplementedError


class LinkChange(StrEnum):
    """What happened to a link."""

    OPENED = "opened"
    CLOSED = "closed"
    REOPENED = "reopened"
    RETRACTED = "retracted"


# scheme -> insurer-number validators by length (pension and resident links use plain codes)
_INSTITUTION_CHECKS = {
    Scheme.MEDICAL: {6: validate_municipal_insurer_number, 8: validate_health_insurer_number},
    Scheme.LONG_TERM_CARE: {6: validate_municipal_insurer_number},
    Scheme.PUBLIC_EXPENSE: {8: validate_health_insurer_number},
}


def institution_problems(scheme: Scheme, number: str) -> list[Problem]:
    checks = _INSTITUTION_CHECKS.get(scheme)
    if checks is None:
        return []
    check = checks.get(len(number))
    if check is None:
        digits = " or ".join(str(n) for n in checks)
        message = f"a {scheme.value} link needs a {digits}-digit insurer_number"
        return [Problem(("insurer_number",), "insurer_number", message)]
    try:
        check(number)
    except NumberFormatError as exc:
        return [Problem(("insurer_number",), exc.kind, exc.message)]
    return []


class LinkChanged(RelayMessage):
    """A change to a link of the relay database, for the period `[valid_from, valid_to)`.

    It carries no insured number, by design. `insurer_number` is the insurer number (checked
    for medical, long-term-care and public-expense links) or the institution's public code;
    `capacity` is null where the scheme has none. A resident link's `valid_from` is its
    registration date, never a date of birth.
    """

    relay_id: RelayId = Field(description="the person's opaque relay id (the Kafka key)")
    person_version: Positive = Field(description="the person's version after this change")
    change: LinkChange
    scheme: Scheme
    insurer_number: InstitutionCode
    capacity: Capacity | None = None
    valid_from: AnyDay
    valid_to: AnyDay | None = Field(default=None, description="exclusive; null while open")
    source_event_id: UUID = Field(description="event_id of the filing that caused the change")
    outbox_id: UUID = Field(description=OUTBOX_ID)
    relay_time: Instant | None = Field(default=None, description=RELAY_TIME)

    @model_validator(mode="after")
    def _consistent(self) -> LinkChanged:
        problems = institution_problems(self.scheme, self.insurer_number)
        if self.valid_to is not None and self.valid_to < self.valid_from:
            message = "valid_to must not be before valid_from"
            problems.append(Problem(("valid_to",), "period", message))
        if self.capacity is Capacity.DEPENDANT and is_late_stage(self.insurer_number):
            message = "the 75+ scheme has no dependants"
            problems.append(Problem(("capacity",), "capacity", message))
        raise_problems(type(self).__name__, problems)
        return self

    def kafka_key(self) -> bytes:
        """The record key: the relay id."""
        return self.relay_id.encode()


class OutcomeStatus(StrEnum):
    """What the relay did with a filing."""

    ACCEPTED = "accepted"
    PARKED = "parked"
    REFUSED = "refused"


def conflict_id_for(event_id: UUID, content_hash: str) -> UUID:
    """The own id of the refusal of other content re-sent under the known `event_id`."""
    return uuid5(event_id, f"conflict:{content_hash}")


class FilingOutcome(RelayMessage):
    """The explicit answer to one filing; parked and refused outcomes give their reasons.

    Other content re-sent under a known filing reference, and a record under a reference that
    is no valid filing (a dead letter), are refused under an id of their own (`conflicts_with`
    names the reference's event id), so they never change the answer to the filing itself.
    """

    event_id: UUID = Field(
        description="event_id_for(filer_code, filing_reference); for the refusal of a "
        "conflicting re-send conflict_id_for(conflicts_with, content_hash)"
    )
    filer_code: FilerCode
    filing_reference: FilingReference
    receipt_id: ReceiptId = Field(description="the relay's receipt number for the filing")
    status: OutcomeStatus
    reasons: tuple[Reason, ...] = Field(default=(), max_length=100)
    outbox_id: UUID = Field(description=OUTBOX_ID)
    content_hash: ContentHash | None = Field(default=None, description=CONTENT_HASH)
    conflicts_with: UUID | None = Field(
        default=None,
        description="only on the refusal of other content sent under a filing reference (a "
        "conflicting re-send, or a record that is no valid filing): the event id of that "
        "reference, whose own answer stands",
    )
    relay_time: Instant | None = Field(default=None, description=RELAY_TIME)

    @model_validator(mode="after")
    def _consistent(self) -> FilingOutcome:
        problems = self._identity_problems()
        if self.status is not OutcomeStatus.ACCEPTED and not self.reasons:
            message = f"a {self.status.value} outcome gives at least one reason"
            problems.append(Problem(("reasons",), "reasons", message))
        raise_problems(type(self).__name__, problems)
        return self

    def _identity_problems(self) -> list[Problem]:
        filing = event_id_for(self.filer_code, self.filing_reference)
        if self.conflicts_with is None:
            if self.event_id == filing:
                return []
            message = "event_id must be event_id_for(filer_code, filing_reference)"
            return [Problem(("event_id",), "event_id", message)]
        problems = []
        if self.conflicts_with != filing:
            message = "conflicts_with must be event_id_for(filer_code, filing_reference)"
            problems.append(Problem(("conflicts_with",), "conflicts_with", message))
        if self.status is not OutcomeStatus.REFUSED:
            message = "only a refusal conflicts with an earlier filing"
            problems.append(Problem(("status",), "status", message))
        if self.content_hash is None:
            message = "a conflict refusal names the content it refuses"
            problems.append(Problem(("content_hash",), "content_hash", message))
        elif self.event_id != conflict_id_for(filing, self.content_hash):
            message = "event_id must be conflict_id_for(conflicts_with, content_hash)"
            problems.append(Problem(("event_id",), "event_id", message))
        return problems

    def kafka_key(self) -> bytes:
        """The record key: the filer code."""
        return self.filer_code.encode()


_PROGRESS = {OutcomeStatus.PARKED: 0, OutcomeStatus.ACCEPTED: 1, OutcomeStatus.REFUSED: 2}


def furthest(a: FilingOutcome | None, b: FilingOutcome) -> FilingOutcome:
    """The later of two outcomes with one event id, whatever order they were read in.

    A filer's outcomes share one partition and are published in decision order, but a reader
    may merge outcomes read elsewhere (or published before outbox lanes were output
    partitions); a filing's status only moves parked → accepted → refused (a retraction), so
    the furthest status is the current one. The refusal of a conflicting re-send has an event
    id of its own and never competes here."""
    if a is None or _PROGRESS[b.status] >= _PROGRESS[a.status]:
        return b
    return a


def _from_base64(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.isascii():
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            pass
    raise error("base64", "must be standard base64 text")


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


WireBytes = Annotated[
    bytes,
    PlainValidator(_from_base64),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]


class EncryptedBlob(ContractModel):
    """Bytes encrypted elsewhere: key id, nonce and ciphertext (base64 in JSON, bytes here)."""

    key_id: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    nonce: WireBytes
    ciphertext: WireBytes


class DeadLetter(RelayMessage):
    """A record no processor could handle: where it came from, why, and its bytes encrypted."""

    source_topic: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9._-]{1,249}$")]
    source_partition: NonNegative
    source_offset: NonNegative
    reason: Reason
    filer_code: FilerCode | None = Field(default=None, description="null when unreadable")
    original: EncryptedBlob

    def kafka_key(self) -> bytes:
        """The record key: the filer code, or 'unknown' when it could not be read."""
        return (self.filer_code or UNKNOWN_FILER).encode()


class OutcomeAddressee(StrEnum):
    """The kinds of filer an outcome is sealed to; each reads its own `outcome.<kind>.v1`."""

    EMPLOYER = "employer"
    MUNICIPALITY = "municipality"
    INSURER = "insurer"
    PENSION = "pension"


KeyId = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]
MAX_SEALED_BYTES = 200_000
MIN_SEALED_BYTES = 65 + 16  # a P-256 encapsulated key and an AES-GCM tag


class SealedOutcome(RelayMessage):
    """A FilingOutcome sealed (HPKE, RFC 9180) to its filer's encryption key: only the holder
    of that key opens it, so a filer reads its own outcomes on a topic its whole kind shares.
    The sealed plaintext is the FilingOutcome's JSON (references and reason codes only)."""

    outbox_id: UUID = Field(description="uuid5(the outcome's outbox_id, the outcome topic "
                            "name): the idempotency key, bound into the seal")
    addressee_role: OutcomeAddressee = Field(description="the kind of filer it is sealed to")
    addressee_code: FilerCode = Field(description="the public code of the filer it is "
                                      "sealed to; the record key")
    key_id: KeyId = Field(description="lowercase hex SHA-256 of the DER public key "
                          "(SubjectPublicKeyInfo) it is sealed to")
    sealed: WireBytes = Field(
        description="HPKE base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: "
        "the encapsulated key (65 bytes) then the ciphertext; `info` binds the topic, key, "
        "outbox_id, addressee and key id (trust.sealing.context)")

    @model_validator(mode="after")
    def _sized(self) -> SealedOutcome:
        if not MIN_SEALED_BYTES <= len(self.sealed) <= MAX_SEALED_BYTES:
            message = f"sealed holds {MIN_SEALED_BYTES}-{MAX_SEALED_BYTES} bytes"
            raise_problems(type(self).__name__, [Problem(("sealed",), "sealed", message)])
        return self

    def kafka_key(self) -> bytes:
        """The record key: the addressee's code, so a filer's outcomes stay in order."""
        return self.addressee_code.encode()


class OutboxPosition(RelayMessage):
    """The outbox publisher's committed position in one lane, an output topic-partition
    (compacted, keyed by lane)."""

    lane: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9._:-]{1,255}$")]
    seq: NonNegative = Field(description="the last outbox seq published in the lane")

    def kafka_key(self) -> bytes:
        """The record key: the lane."""
        return self.lane.encode()


class RelayTick(RelayMessage):
    """One tick of the relay clock: the relay time from this tick until the next.

    The clock writes each tick onto every partition of every topic participants send to the
    relay, and onto the clock topic participants read; a record's relay time is the time of
    the last tick before it on its partition. `mac` authenticates the tick to the relay."""

    seq: Positive = Field(description="1, 2, 3 ...: one more than the clock's previous tick")
    relay_time: Instant = Field(description="never earlier than the previous tick's")
    mac: ContentHash = Field(description="lowercase hex HMAC-SHA256 of seq and relay_time "
                             "under the relay's clock key")

    def kafka_key(self) -> bytes:
        """The record key: 'relay-clock'."""
        return CLOCK_KEY


RELAY_MESSAGES: tuple[type[RelayMessage], ...] = (
    LinkChanged,
    FilingOutcome,
    DeadLetter,
    OutboxPosition,
    RelayTick,
    SealedOutcome,
)
