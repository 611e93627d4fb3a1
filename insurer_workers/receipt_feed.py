"""Publishing an insurer's receipts onto its own receipts topic, as its claims system would.

Unsigned: the topic is written and read by the insurer's own principal alone, which the broker
authenticates; the relay never reads it, so a signature would only tell the insurer that it
wrote the record itself."""

from __future__ import annotations

from collections.abc import Iterable

from groundfloor.kafka_clients import KafkaLogin, idempotent_producer
from schemas import encode
from schemas.receipts import ReceiptRecord
from schemas.topics import Namespace, receipts_topics


async def publish_receipts(kafka: KafkaLogin, namespace: Namespace,
                           records: Iterable[ReceiptRecord]) -> int:
    """Send each record to its insurer's receipts topic in `namespace`, keyed by its chain (a
    correction after the receipt it replaces); how many were sent."""
    producer = idempotent_producer(kafka, linger_ms=5)
    await producer.start()
    sent = 0
    try:
        for record in records:
            topic = namespace.physical(receipts_topics(record.insurer_number)[0])
            await producer.send(topic, encode(record), key=record.kafka_key())
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent
