"""Admission: who signed a record, checked before its bytes are decoded, and whether that
signer may file what the record turns out to be, as of the relay clock's time for it.

Refusals name their reason (`trust.rules.Refusal`); a refusal is answered only to a signer
whose signature verified, never to a code a record merely claims."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka.structs import ConsumerRecord

from schemas import Filing, Reason
from schemas.topics import Namespace
from trust.directory import Directory
from trust.pki import RELAY_CLOCK
from trust.rules import MESSAGES, Refusal, may_file
from trust.signing import SignerId, signed_by, verifies


def reason(refusal: Refusal) -> Reason:
    return Reason(code=refusal.value, field=None, message=MESSAGES[refusal])


@dataclass(frozen=True)
class Refused:
    """A record admission refuses; `signer` is set only when its signature verified."""

    refusal: Refusal
    signer: SignerId | None = None


def authenticate(directory: Directory, record: ConsumerRecord,
                 namespace: Namespace) -> SignerId | Refused:
    """The certified signer whose signature covers exactly this record's catalogue topic,
    key and value; or why not. Reads the headers only, never the value."""
    found = signed_by(record.headers)
    if found is None:
        return Refused(Refusal.UNSIGNED)
    signer, signature = found
    certified = directory.lookup(signer)
    if certified is None:
        return Refused(Refusal.UNKNOWN_SIGNER)
    topic = namespace.logical(record.topic)
    if not verifies(certified.public_key, signature, topic, record.key, record.value):
        return Refused(Refusal.BAD_SIGNATURE)
    return signer


def is_relay_clock(signer: SignerId) -> bool:
    return (signer.role, signer.code) == RELAY_CLOCK


def entitled(signer: SignerId, filing: Filing, topic: str) -> Refusal | None:
    """Why `signer` may not have filed `filing` on catalogue topic `topic`, or None: the
    envelope's filer code must be the signer's, and the signer's role must file that event
    type on that topic."""
    if filing.filer_code != signer.code:
        return Refusal.NOT_SIGNERS_FILER_CODE
    if not may_file(signer.role, filing.event_type, topic):
        return Refusal.ROLE_MAY_NOT_FILE
    return None


def in_standing(directory: Directory, signer: SignerId, relay_time: datetime) -> Refusal | None:
    """Why `signer`'s certificate may not sign a record of `relay_time` (not yet valid,
    expired, revoked), or None."""
    return directory.standing(signer, relay_time)
