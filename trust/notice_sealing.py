"""Change notices sealed for their recipient: HPKE (RFC 9180) base mode, the same suite as the
sealed outcomes, with the topic, record key, notice id, recipient and key id bound into `info`.

The plaintext is a small JSON object: the recipient's own number for the person and, for a
name or address change, the new items as filed. It exists in the relay only while the linker
seals it; the outbox row holds the seal, which the publisher sends as stored.
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
from schemas.notices import ChangeKind, ChangeNotice, notice_id_for
from trust.sealing import SUITE, key_id

CONTEXT = b"shaho-relay/change-notice/v1\x00"
FIELDS = ("member_number", "new_name", "new_kana", "new_address")


class NoticeNotOpened(ValueError):
    """A change notice that does not open: another key, topic, record or recipient, tampered
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
            sealed_to: str) -> bytes:
    """HPKE `info`: a label, then the catalogue topic, the record key, the notice id, the
    recipient's code and the key id, each framed by a 4-byte length. A seal moved to another
    topic, record, notice, recipient or key does not open."""
    parts = [CONTEXT]
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
