"""Operations on dead letters: list them (reasons only, bytes stay sealed), export one for
fixing, and replay an original record, as its filer signed it, onto its source topic.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.dlq import original_bytes
from consumers.reading import read_committed
from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import KafkaLogin, idempotent_producer, reader
from schemas import DeadLetter, MessageRejected, decode_relay
from schemas.topics import CATALOGUE, Namespace

FIXED_NEEDS_ITS_FILER = (
    "a fixed record is new bytes that only its filer can sign: have the filer send it "
    "(`shaho publish` or the producer library); replay re-sends originals only")


class ReplayRefused(RuntimeError):
    """A dead letter that cannot be replayed as its filer signed it."""


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


async def source_record(kafka: KafkaLogin, letter: DeadLetter,
                        seconds: float = 30.0) -> ConsumerRecord | None:
    """The record the letter was made of, read back from its source topic with its key and
    headers; None when the topic no longer holds it (retention)."""
    tp = TopicPartition(letter.source_topic, letter.source_partition)
    consumer = reader(kafka)
    await consumer.start()
    try:
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not first <= letter.source_offset < end:
            return None
        consumer.seek(tp, letter.source_offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                return record if record.offset == letter.source_offset else None
        return None
    finally:
        await consumer.stop()


async def replay(kafka: KafkaLogin, keyring: Keyring, letters: list[Letter],
                 fixed: bytes | None = None) -> int:
    """Send each letter's original record to its source topic again, exactly as it was: key,
    value and headers, so the filer's signature still covers it and the relay checks it again.

    Refuses (ReplayRefused), before sending anything, a fixed record (only its filer can sign
    new bytes) and a letter whose record its topic no longer holds or holds changed."""
    if fixed is not None:
        raise ReplayRefused(FIXED_NEEDS_ITS_FILER)
    originals = []
    for x in letters:
        record = await source_record(kafka, x.letter)
        where = (f"{x.letter.source_topic}[{x.letter.source_partition}]"
                 f"@{x.letter.source_offset}")
        if record is None:
            raise ReplayRefused(f"{where} is no longer on its topic; export the letter and have "
                                "its filer send it again")
        if bytes(record.value or b"") != original_bytes(keyring, x.letter):
            raise ReplayRefused(f"{where} on the topic is not the record the letter holds")
        originals.append(record)
    producer = idempotent_producer(kafka)
    await producer.start()
    try:
        for record in originals:
            await producer.send_and_wait(record.topic, record.value, key=record.key,
                                         partition=record.partition,
                                         headers=[(k, bytes(v)) for k, v in record.headers or ()])
    finally:
        await producer.stop()
    return len(originals)
