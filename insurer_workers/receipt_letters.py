"""Dead letters of an insurer's receipts: the reason, the source position and the original
bytes sealed (HPKE, RFC 9180) to the insurer's own encryption key, so that only the insurer
reads them back, as the relay's dead letters are sealed with the relay's own key.

`info` binds the label, the broker topic, partition and offset: a sealed original moved to
another position does not open."""

from __future__ import annotations

import struct

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric import ec

from schemas import DeadLetter, EncryptedBlob, Reason
from trust.sealing import SUITE, key_id

CONTEXT = b"shaho-relay/receipt-dead-letter/v1\x00"
ENCAPSULATED = 65  # a P-256 encapsulated key, uncompressed


def context(topic: str, partition: int, offset: int) -> bytes:
    parts = [CONTEXT]
    for item in (topic.encode(), struct.pack(">I", partition), struct.pack(">Q", offset)):
        parts += [struct.pack(">I", len(item)), item]
    return b"".join(parts)


def refusal_letter(code: str, own_key: ec.EllipticCurvePublicKey, record: ConsumerRecord,
                   reason: Reason) -> DeadLetter:
    """The dead letter of a refused receipt record: the encapsulated key in `nonce`, the
    ciphertext in `ciphertext`, the key's id (SHA-256 of its DER) in `key_id`."""
    sealed = SUITE.encrypt(bytes(record.value or b""), own_key,
                           context(record.topic, record.partition, record.offset))
    return DeadLetter(source_topic=record.topic, source_partition=record.partition,
                      source_offset=record.offset, reason=reason, filer_code=code,
                      original=EncryptedBlob(key_id=key_id(own_key),
                                             nonce=sealed[:ENCAPSULATED],
                                             ciphertext=sealed[ENCAPSULATED:]))


def original_bytes(letter: DeadLetter, own_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The refused record's bytes, opened with the insurer's own private key."""
    return SUITE.decrypt(letter.original.nonce + letter.original.ciphertext, own_key,
                         context(letter.source_topic, letter.source_partition,
                                 letter.source_offset))
