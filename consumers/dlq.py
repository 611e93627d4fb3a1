"""Dead letters: a record no processor could handle goes to its topic's DLQ with the reason,
the source offset and the original bytes sealed with the relay's key (never in clear).
"""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from groundfloor.crypto import Keyring, seal
from schemas import DeadLetter, EncryptedBlob, Reason, encode
from schemas.topics import Namespace
from schemas.topics import topic as catalogue_topic


def dlq_topic(source_topic: str, namespace: Namespace) -> str:
    """The broker name of the DLQ for the broker topic `source_topic` of `namespace`."""
    dlq = catalogue_topic(namespace.logical(source_topic)).dlq
    if dlq is None:
        raise KeyError(f"{source_topic} has no dead-letter topic in the catalogue")
    return namespace.physical(dlq)


def dead_letter(keyring: Keyring, record: ConsumerRecord, reason: Reason,
                filer_code: str | None) -> DeadLetter:
    sealed = seal(keyring, bytes(record.value or b""), _aad(record.topic, record.partition,
                                                             record.offset))
    return DeadLetter(
        source_topic=record.topic, source_partition=record.partition,
        source_offset=record.offset, reason=reason, filer_code=filer_code,
        original=EncryptedBlob(key_id=sealed.key_id, nonce=sealed.nonce,
                               ciphertext=sealed.ciphertext),
    )


def _aad(topic: str, partition: int, offset: int) -> bytes:
    """Binds the sealed bytes to their source position so they cannot be swapped around."""
    return f"{topic}|{partition}|{offset}".encode()


def original_bytes(keyring: Keyring, letter: DeadLetter) -> bytes:
    """The original record's bytes, for `shaho dlq replay` after a fix."""
    from groundfloor.crypto import Sealed, open_sealed

    sealed = Sealed(letter.original.key_id, letter.original.nonce, letter.original.ciphertext)
    return open_sealed(keyring, sealed, _aad(letter.source_topic, letter.source_partition,
                                             letter.source_offset))


def dlq_record(letter: DeadLetter, namespace: Namespace) -> tuple[str, bytes, bytes]:
    """(topic, key, value) to publish."""
    return dlq_topic(letter.source_topic, namespace), letter.kafka_key(), encode(letter)
