"""Notices sealed for their recipient: HPKE (RFC 9180) base mode, the same suite as the
sealed outcomes, with a label of the notice's kind, the topic, record key, notice id, recipient
and key id bound into `info`.

A change notice's plaintext is a small JSON object: the recipient's own number for the person
and, for a name or address change, the new items as filed. It exists in the relay only while
the linker seals it; the outbox row holds the seal, which the publisher sends as stored.

A relay notice's (the notifications processor's reminders, double-enrolment and milestone
notices) is `{"member_number"}` alone, the recipient's own number for the person. Its own label
keeps a seal of one kind from opening as the other.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec

from schemas.common import Scheme
from schemas.notices import (
    ChangeKind,
    ChangeNotice,
    NoticeRule,
    NoticeStep,
    RecipientRole,
    RelayNotice,
    notice_id_for,
)
from trust.sealing import SUITE, key_id

CONTEXT = b"shaho-relay/change-notice/v1\x00"
RELAY_NOTICE_CONTEXT = b"shaho-relay/relay-notice/v1\x00"
FIELDS = ("member_number", "new_name", "new_kana", "new_address")


class NoticeNotOpened(ValueError):
    """A notice that does not open: another key, topic, record, notice or recipient, tampered
    bytes, or a plaintext that is no notice. Says nothing of the content."""


@dataclass(frozen=True)
class NoticeContent:
    """What a notice's seal holds: the recipient's own number for the person, and the new
    name, kana name or address as the municipality filed them (None when unchanged)."""

    member_number: str = field(repr=False)
    new_name: str | None = field(default=None, repr=False)
    new_kana: str | None = field(default=None, repr=False)
    new_address: Any = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "NoticeContent(<sealed>)"

    def to_json(self) -> bytes:
        items = {name: getattr(self, name) for name in FIELDS}
        return json.dumps(items, ensure_ascii=False, sort_keys=True).encode("utf-8")


def context(topic: str, record_key: bytes, notice_id: UUID, recipient_code: str,
            sealed_to: str, label: bytes = CONTEXT) -> bytes:
    """HPKE `info`: a label (`CONTEXT` for change notices, `RELAY_NOTICE_CONTEXT` for relay
    notices), then the catalogue topic, the record key, the notice id, the recipient's code and
    the key id, each framed by a 4-byte length. A seal moved to another topic, record, notice,
    recipient or key, or read as the other kind of notice, does not open."""
    parts = [label]
    for item in (topic.encode(), record_key, notice_id.bytes, recipient_code.encode(),
                 sealed_to.encode()):
        parts.append(struct.pack(">I", len(item)))
        parts.append(item)
    return b"".join(parts)


def seal_notice(*, source_id: UUID, recipient_code: str, person: str, kind: ChangeKind,
                effective_date: date, relay_time: datetime, topic: str,
                content: NoticeContent, public_key: ec.EllipticCurvePublicKey,
                scheme: Scheme | None = None,
                insurer_code: str | None = None) -> ChangeNotice:
    """The notice for `recipient_code` on catalogue `topic` (its own changes topic), keyed by
    `person` (its pseudonym for the person), `content` sealed to `public_key`."""
    to = key_id(public_key)
    notice_id = notice_id_for(source_id, recipient_code)
    info = context(topic, person.encode(), notice_id, recipient_code, to)
    return ChangeNotice(
        notice_id=notice_id, recipient_code=recipient_code, person=person, kind=kind,
        effective_date=effective_date, scheme=scheme, insurer_code=insurer_code,
        relay_time=relay_time, sealed_to=to,
        sealed=SUITE.encrypt(content.to_json(), public_key, info))


def open_notice(notice: ChangeNotice, topic: str, record_key: bytes | None,
                private_key: ec.EllipticCurvePrivateKey) -> NoticeContent:
    """What `notice`, read from catalogue `topic` under `record_key`, holds; NoticeNotOpened
    when it is not sealed to this key for this place, or its plaintext is no notice."""
    info = context(topic, record_key or b"", notice.notice_id, notice.recipient_code,
                   notice.sealed_to)
    try:
        plaintext = SUITE.decrypt(notice.sealed, private_key, info)
    except Exception as failure:  # the library raises several types for bad input
        raise NoticeNotOpened("the change notice does not open with this key") from failure
    try:
        items = json.loads(plaintext.decode("utf-8"))
        if not isinstance(items, dict) or set(items) != set(FIELDS) or not isinstance(
                items["member_number"], str):
            raise ValueError("not a notice's content")
        return NoticeContent(**items)
    except (ValueError, TypeError) as failure:
        raise NoticeNotOpened("the sealed plaintext is no change notice") from failure


def seal_relay_notice(*, notice_id: UUID, refers_to: UUID | None, recipient_code: str,
                      recipient_role: RecipientRole, person: str, rule: NoticeRule,
                      step: NoticeStep, key_date: date, deadline: date | None,
                      relay_time: datetime, topic: str, member_number: str,
                      public_key: ec.EllipticCurvePublicKey) -> RelayNotice:
    """The relay notice `notice_id` (this recipient's copy) for `recipient_code` on catalogue
    `topic` (its own notices topic), keyed by `person` (its pseudonym for the person), its
    own number for the person `member_number` sealed to `public_key`; ValueError for an empty
    number, ValidationError when the items make no notice (`schemas.notices.RelayNotice`)."""
    if not isinstance(member_number, str) or not member_number:
        raise ValueError("a relay notice names the person by the recipient's number")
    to = key_id(public_key)
    info = context(topic, person.encode(), notice_id, recipient_code, to, RELAY_NOTICE_CONTEXT)
    plaintext = json.dumps({"member_number": member_number}, ensure_ascii=False).encode("utf-8")
    return RelayNotice(
        notice_id=notice_id, refers_to=refers_to, recipient_code=recipient_code,
        recipient_role=recipient_role, person=person, rule=rule, step=step,
        key_date=key_date, deadline=deadline, relay_time=relay_time, sealed_to=to,
        sealed=SUITE.encrypt(plaintext, public_key, info))


def open_relay_notice(notice: RelayNotice, topic: str, record_key: bytes | None,
                      private_key: ec.EllipticCurvePrivateKey) -> str:
    """The recipient's own number for the person `notice` names, read from catalogue `topic`
    under `record_key`; NoticeNotOpened when it is not sealed to this key for this place, or
    its plaintext is no relay notice's."""
    info = context(topic, record_key or b"", notice.notice_id, notice.recipient_code,
                   notice.sealed_to, RELAY_NOTICE_CONTEXT)
    try:
        plaintext = SUITE.decrypt(notice.sealed, private_key, info)
    except Exception as failure:  # the library raises several types for bad input
        raise NoticeNotOpened("the relay notice does not open with this key") from failure
    try:
        items = json.loads(plaintext.decode("utf-8"))
        if not isinstance(items, dict) or set(items) != {"member_number"} or not isinstance(
                items["member_number"], str) or not items["member_number"]:
            raise ValueError("not a relay notice's content")
        return items["member_number"]
    except (ValueError, TypeError) as failure:
        raise NoticeNotOpened("the sealed plaintext is no relay notice") from failure
