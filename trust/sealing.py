"""Outcomes sealed to their filer: HPKE (RFC 9180) base mode to the filer's P-256 encryption
key, the topic, record key, outcome id, addressee and key id bound into `info`.

Seals are randomised (the library draws each ephemeral key itself and takes no seed), so the
same outcome sealed twice gives other bytes. Same input, same output holds for what a seal
carries: the outcome topics' partitions hold the same records in the same order with the same
keys, ids and addressees, and the same plaintext once opened (`tests/integration/
test_same_output.py` compares them opened, as it does dead letters). A seal is made once, by
the linker, in the transaction that decides the outcome, and published as stored: a restart
never re-seals an outcome already decided.
"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID, uuid5

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from pydantic import ValidationError

from schemas import FilingOutcome, MessageRejected, decode_relay, encode
from schemas.relay import OutcomeAddressee, SealedOutcome

SUITE = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
CONTEXT = b"shaho-relay/sealed-outcome/v1\x00"


class NotOpened(ValueError):
    """A sealed outcome that does not open: another key, another topic or record, tampered
    bytes, or a plaintext that is no outcome of its addressee. Says nothing of the content."""


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: names a key, reveals nothing."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def context(topic: str, record_key: bytes, outbox_id: UUID, role: str, code: str,
            sealed_to: str) -> bytes:
    """HPKE `info`: a label, then the catalogue topic, the record key, the sealed outcome's
    id, the addressee's role and code and the key id, each framed by a 4-byte length. A seal
    moved to another topic, key, id, addressee or key does not open."""
    parts = [CONTEXT]
    for item in (topic.encode(), record_key, outbox_id.bytes, role.encode(), code.encode(),
                 sealed_to.encode()):
        parts.append(struct.pack(">I", len(item)))
        parts.append(item)
    return b"".join(parts)


def seal(plaintext: bytes, public_key: ec.EllipticCurvePublicKey, info: bytes) -> bytes:
    """The encapsulated key then the ciphertext of `plaintext`, for `public_key`'s holder."""
    return SUITE.encrypt(plaintext, public_key, info)


def open_sealed(sealed: bytes, private_key: ec.EllipticCurvePrivateKey, info: bytes) -> bytes:
    """The plaintext of `sealed`; NotOpened whatever is wrong with it."""
    try:
        return SUITE.decrypt(sealed, private_key, info)
    except Exception as failure:  # the library raises several types for bad input
        raise NotOpened("the sealed outcome does not open with this key") from failure


def sealed_outcome_id(outcome: FilingOutcome, topic: str) -> UUID:
    """The sealed copy's own id, derived from the outcome's and the outcome topic's name."""
    return uuid5(outcome.outbox_id, topic)


def seal_outcome(outcome: FilingOutcome, role: OutcomeAddressee, topic: str,
                 public_key: ec.EllipticCurvePublicKey) -> SealedOutcome:
    """`outcome` sealed to its filer (`outcome.filer_code`, of `role`) on catalogue `topic`."""
    to = key_id(public_key)
    own_id = sealed_outcome_id(outcome, topic)
    code = outcome.filer_code
    info = context(topic, code.encode(), own_id, role.value, code, to)
    return SealedOutcome(outbox_id=own_id, addressee_role=role, addressee_code=code,
                         key_id=to, sealed=seal(encode(outcome), public_key, info))


def decode_sealed(raw: bytes) -> SealedOutcome:
    """A SealedOutcome from the wire; MessageRejected when it is none."""
    return decode_relay(raw, SealedOutcome)


def open_outcome(sealed: SealedOutcome, topic: str, record_key: bytes | None,
                 private_key: ec.EllipticCurvePrivateKey) -> FilingOutcome:
    """The outcome inside `sealed`, read from catalogue `topic` under `record_key`; NotOpened
    when it is not sealed to this key for this place, or its plaintext is no outcome of the
    addressee it names."""
    info = context(topic, record_key or b"", sealed.outbox_id, sealed.addressee_role.value,
                   sealed.addressee_code, sealed.key_id)
    plaintext = open_sealed(sealed.sealed, private_key, info)
    try:
        outcome = decode_relay(plaintext, FilingOutcome)
    except (MessageRejected, ValidationError) as failure:
        raise NotOpened("the sealed plaintext is no filing outcome") from failure
    if outcome.filer_code != sealed.addressee_code:
        raise NotOpened("the sealed outcome answers another filer than its addressee")
    return outcome
