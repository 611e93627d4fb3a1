"""Pure rules of trust: which role may file which event type on which topic, and whether a
certificate stands (valid, not revoked) at a given relay time. No I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from schemas.filings import FILER_TOPICS, filer_of
from schemas.payload import FilerKind
from schemas.relay import ReasonCode


class Role(StrEnum):
    """What a participant is to the relay; a certificate names exactly one."""

    EMPLOYER = "employer"
    MUNICIPALITY = "municipality"
    INSURER = "insurer"
    PENSION = "pension"  # the Japan Pension Service (日本年金機構)
    MEDICAL = "medical"  # medical institutions
    RELAY = "relay"  # the relay's own processors, the relay clock among them


ROLES: tuple[str, ...] = tuple(r.value for r in Role)

ROLE_TOPICS: dict[str, str] = {kind.value: topic.name for kind, topic in FILER_TOPICS.items()}
"""The one ingestion topic each filing role publishes on (catalogue names)."""


class Refusal(StrEnum):
    """Why admission refuses a record, before or after it is decoded (the catalogue's codes,
    `schemas.relay.ReasonCode`). A tick the relay clock did not sign is `forged_tick`; a
    retraction naming another filer's filing is refused by the linking rules."""

    UNSIGNED = ReasonCode.UNSIGNED.value
    UNKNOWN_SIGNER = ReasonCode.UNKNOWN_SIGNER.value
    BAD_SIGNATURE = ReasonCode.BAD_SIGNATURE.value
    NOT_SIGNERS_FILER_CODE = ReasonCode.NOT_SIGNERS_FILER_CODE.value
    ROLE_MAY_NOT_FILE = ReasonCode.ROLE_MAY_NOT_FILE.value
    NOT_YET_VALID = ReasonCode.CERTIFICATE_NOT_YET_VALID.value
    EXPIRED = ReasonCode.CERTIFICATE_EXPIRED.value
    REVOKED = ReasonCode.CERTIFICATE_REVOKED.value


MESSAGES: dict[Refusal, str] = {
    Refusal.UNSIGNED: "the record carries no shaho-signer/shaho-signature headers; every "
                      "filing is signed by its filer",
    Refusal.UNKNOWN_SIGNER: "the signer named in shaho-signer is no participant the relay knows",
    Refusal.BAD_SIGNATURE: "the signature does not verify over this record's topic, key and "
                           "value under the signer's certificate",
    Refusal.NOT_SIGNERS_FILER_CODE: "the envelope's filer_code is not the signer's code",
    Refusal.ROLE_MAY_NOT_FILE: "the signer's role may not file this event type on this topic",
    Refusal.NOT_YET_VALID: "the signer's certificate is not yet valid at this record's relay "
                           "time",
    Refusal.EXPIRED: "the signer's certificate had expired at this record's relay time",
    Refusal.REVOKED: "the signer's certificate was revoked at this record's relay time",
}


@dataclass(frozen=True)
class Validity:
    """When a certificate may be used: `[not_before, not_after]` as X.509 says (both
    inclusive), and when its revocation takes effect, if it is revoked."""

    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None = None


def standing(validity: Validity, relay_time: datetime) -> Refusal | None:
    """Why a certificate may not sign a record of `relay_time`, or None when it may.

    Revocation is judged first: from `revoked_at` on, nothing it signs is accepted."""
    if validity.revoked_at is not None and relay_time >= validity.revoked_at:
        return Refusal.REVOKED
    if relay_time < validity.not_before:
        return Refusal.NOT_YET_VALID
    if relay_time > validity.not_after:
        return Refusal.EXPIRED
    return None


def may_file(role: str, event_type: str, topic: str) -> bool:
    """Whether a participant of `role` may file `event_type` on catalogue topic `topic`:
    only on its role's own topic, only its kind's event types, and retractions there."""
    if ROLE_TOPICS.get(role) != topic:
        return False
    try:
        kind = filer_of(event_type)
    except KeyError:
        return True  # an unknown event type is for decoding to refuse, with its own reason
    return kind is FilerKind.ANY or kind.value == role


def role_of_topic(topic: str) -> str | None:
    """The role whose topic `topic` is, if any."""
    return next((role for role, name in ROLE_TOPICS.items() if name == topic), None)
