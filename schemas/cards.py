"""Payloads municipalities file on `filing.municipality.v1` about the person's IC card.

The card's public key proves who the holder is; it is public but person-linked (never a key).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, ClassVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from pydantic import AfterValidator, Field, StringConstraints

from schemas.base import Day, error
from schemas.common import IdentityItems, PersonKey, PersonReference
from schemas.payload import FilerKind, Payload

MIN_RSA_BITS = 2048
PUBLIC_KEY_RULE = (
    "standard base64 of the DER SubjectPublicKeyInfo of an EC P-256 or RSA (2048 bits or more) "
    "public key"
)


def public_key_der(text: str) -> bytes:
    """The DER bytes of a card's public key written as base64 (already validated)."""
    return base64.b64decode(text, validate=True)


def _acceptable(key: object) -> bool:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, ec.SECP256R1)
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS


def _check_public_key(text: str) -> str:
    """Refuse anything but canonical DER of an acceptable key; the message names no value."""
    try:
        der = public_key_der(text)
        key = load_der_public_key(der)
        canonical = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        raise error("public_key", f"must be {PUBLIC_KEY_RULE}") from None
    if not _acceptable(key) or canonical != der:
        raise error("public_key", f"must be {PUBLIC_KEY_RULE}")
    return text


PublicKeyText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=2048),
    AfterValidator(_check_public_key),
    Field(description=PUBLIC_KEY_RULE),
]
Fingerprint = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$"),
    Field(description="lowercase hex SHA-256 of the card's DER public key"),
]


class CardIssued(Payload):
    """An IC card holding `public_key` was issued to the resident on `issued_on`."""

    EVENT_TYPE: ClassVar[str] = "CardIssued"
    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "issued_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("issued_on",)
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = (PersonKey.RESIDENT_CODE,)

    person: PersonReference
    identity: IdentityItems
    public_key: PublicKeyText
    issued_on: Day


class CardRevoked(Payload):
    """The card with `fingerprint` no longer proves who the holder is from `revoked_on`."""

    EVENT_TYPE: ClassVar[str] = "CardRevoked"
    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "revoked_on"
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = (PersonKey.RESIDENT_CODE,)

    person: PersonReference
    identity: IdentityItems
    fingerprint: Fingerprint
    revoked_on: Day


PAYLOADS = (CardIssued, CardRevoked)
