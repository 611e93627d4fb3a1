"""Operations on dead letters: list them (reasons only, bytes stay sealed), export one for
fixing, and replay originals or fixed files onto their source topic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from consumers.dlq import original_bytes
from consumers.reading import read_committed
from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import KafkaLogin, idempotent_producer
from schemas import DeadLetter, FilingRejected, MessageRejected, decode_filing, decode_relay
from schemas.topics import CATALOGUE, Namespace


@dataclass(frozen=True)
class Letter:
    dlq_topic: str
    dlq_offset: int
    letter: DeadLetter


async def read_letters(kafka: KafkaLogin, namespace: Namespace,
                       source_topic: str | None = None) -> list[Letter]:
    """Every dead letter on the namespace's DLQ topics (or on `source_topic`'s), oldest first."""
    topics = [namespace.physical(t.dlq) for t in CATALOGUE
              if t.dlq and source_topic in (None, t.name, namespace.physical(t))]
    found: list[Letter] = []
    for r in await read_committed(kafka, topics):
        try:
            found.append(Letter(r.topic, r.offset, decode_relay(r.value, DeadLetter)))
        except MessageRejected:
            continue
    return sorted(found, key=lambda x: (x.letter.source_topic, x.letter.source_partition,
                                        x.letter.source_offset))


def select(letters: list[Letter], source_topic: str | None, offset: int | None) -> list[Letter]:
    return [x for x in letters if source_topic in (None, x.letter.source_topic)
            and offset in (None, x.letter.source_offset)]


def export(keyring: Keyring, letter: Letter, out: Path) -> None:
    """Write the original bytes to `out` (mode 0600) for a person entitled to fix them."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(original_bytes(keyring, letter.letter))


def replay_key(raw: bytes, topic: str, letter: DeadLetter, namespace: Namespace) -> bytes:
    """The ingestion key of the fixed record; the filer code when it still does not decode."""
    try:
        return decode_filing(raw, namespace.logical(topic)).kafka_key()
    except FilingRejected:
        return letter.kafka_key()


async def replay(kafka: KafkaLogin, namespace: Namespace, keyring: Keyring, letters: list[Letter],
                 fixed: bytes | None = None) -> int:
    """Publish each letter's original bytes (or `fixed`) to its source topic again."""
    producer = idempotent_producer(kafka)
    await producer.start()
    try:
        for x in letters:
            raw = fixed if fixed is not None else original_bytes(keyring, x.letter)
            topic = x.letter.source_topic
            key = replay_key(raw, topic, x.letter, namespace)
            await producer.send_and_wait(topic, raw, key=key)
    finally:
        await producer.stop()
    return len(letters)
