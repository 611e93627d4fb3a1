"""Signatures over the exact bytes of a record: topic, key and value framed with their
lengths, so no two records frame alike and nothing is parsed before it is authenticated."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from schemas.relay import SIGNATURE_HEADER, SIGNER_HEADER

__all__ = ["SIGNATURE_HEADER", "SIGNER_HEADER", "SignerId", "framed", "sign", "signature_headers",
           "signed_by", "verifies"]
CONTEXT = b"shaho-relay/signed-record/v1\x00"
NO_KEY = 0xFFFFFFFF  # a record without a key frames apart from one with an empty key
MAX_SIGNER = 200
MAX_SIGNATURE = 80  # DER ECDSA P-256 signatures are at most 72 bytes


def framed(topic: str, key: bytes | None, value: bytes | None) -> bytes:
    """What a signature covers: a context label, then topic, key and value each as a
    4-byte big-endian length and its bytes (a missing key or value as length 0xFFFFFFFF)."""
    parts = [CONTEXT]
    for item in (topic.encode(), key, value):
        if item is None:
            parts.append(struct.pack(">I", NO_KEY))
        else:
            parts.append(struct.pack(">I", len(item)))
            parts.append(item)
    return b"".join(parts)


def sign(private_key: ec.EllipticCurvePrivateKey, topic: str, key: bytes | None,
         value: bytes | None) -> bytes:
    """A DER ECDSA P-256 SHA-256 signature over `framed(topic, key, value)`."""
    return private_key.sign(framed(topic, key, value), ec.ECDSA(hashes.SHA256()))


def verifies(public_key: ec.EllipticCurvePublicKey, signature: bytes, topic: str,
             key: bytes | None, value: bytes | None) -> bool:
    """Whether `signature` is `public_key`'s over exactly these topic, key and value."""
    try:
        public_key.verify(signature, framed(topic, key, value), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SignerId:
    """Who signed: the certificate's role, code and serial number (positive, as X.509 has
    it), as `role/code/serial` with the serial in lowercase hex without leading zeros."""

    role: str
    code: str
    serial: int

    def header(self) -> bytes:
        return f"{self.role}/{self.code}/{self.serial:x}".encode()

    @classmethod
    def parse(cls, raw: bytes) -> SignerId | None:
        """The signer a header names, or None when it names none (never raises)."""
        if len(raw) > MAX_SIGNER:
            return None
        try:
            role, code, serial = raw.decode("ascii").split("/")
            number = int(serial, 16)
        except (UnicodeDecodeError, ValueError):
            return None
        if not role or not code or number <= 0 or serial != f"{number:x}":
            return None
        return cls(role, code, number)


def signature_headers(signer: SignerId, signature: bytes) -> list[tuple[str, bytes]]:
    return [(SIGNER_HEADER, signer.header()), (SIGNATURE_HEADER, signature)]


def signed_by(headers: Iterable[tuple[str, bytes]] | None) -> tuple[SignerId, bytes] | None:
    """The signer and signature a record's headers carry, or None unless there is exactly
    one of each and both are well-formed."""
    signers = [v for k, v in headers or () if k == SIGNER_HEADER]
    signatures = [v for k, v in headers or () if k == SIGNATURE_HEADER]
    if len(signers) != 1 or len(signatures) != 1:
        return None
    signer = SignerId.parse(bytes(signers[0] or b""))
    signature = bytes(signatures[0] or b"")
    if signer is None or not 0 < len(signature) <= MAX_SIGNATURE:
        return None
    return signer, signature
