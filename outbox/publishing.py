"""The outbox publisher: moves outbox rows to Kafka exactly once for read_committed readers.

Rows are sent in `seq` order per lane (the source topic-partition) inside Kafka transactions
whose transactional id is stable per lane, and the lane's position is written to the compacted
`relay.outbox-position.v1` topic inside the same transaction. A publisher killed at any moment
restarts, fences its predecessor's open transaction by re-using the id, reads the committed
positions and resumes after them: no gap, no duplicate. Plain aiokafka + asyncpg, not faust:
faust's exactly-once mode is per input partition of its own streams, and here the input is a
PostgreSQL table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition

from groundfloor import faults
from groundfloor.kafka_clients import read_to_end, transactional_producer
from outbox.table import NOTIFY_CHANNEL
from schemas.topics import OUTBOX_POSITION, Namespace

log = logging.getLogger("shaho.outbox")
BATCH_ROWS = 500


def transactional_id(lane: str) -> str:
    return f"shaho-outbox-{lane}"


async def read_positions(bootstrap: str, namespace: Namespace) -> dict[str, int]:
    """The last committed seq per lane, read to the end of the compacted position topic."""
    partition = TopicPartition(namespace.physical(OUTBOX_POSITION), 0)
    positions: dict[str, int] = {}
    for record in await read_to_end(bootstrap, [partition], seconds=None):
        if record.value is not None:
            positions[record.key.decode()] = json.loads(record.value)["seq"]
    return positions


@dataclass
class OutboxPublisher:
    """Publishes every lane's pending outbox rows; one transactional producer per lane."""

    pool: asyncpg.Pool
    bootstrap: str
    namespace: Namespace
    positions: dict[str, int] = field(default_factory=dict)
    producers: dict[str, AIOKafkaProducer] = field(default_factory=dict)
    published: int = 0

    async def start(self) -> None:
        for lane in await self._lanes():
            await self._producer(lane)  # fences a killed predecessor's open transaction
        self.positions = await read_positions(self.bootstrap, self.namespace)
        await self._prune()

    async def stop(self) -> None:
        for producer in self.producers.values():
            await producer.stop()
        self.producers.clear()

    async def _lanes(self) -> list[str]:
        rows = await self.pool.fetch("SELECT DISTINCT lane FROM outbox")
        return sorted(r["lane"] for r in rows)

    async def _producer(self, lane: str) -> AIOKafkaProducer:
        if lane not in self.producers:
            producer = transactional_producer(self.bootstrap, transactional_id(lane),
                                              linger_ms=2, max_request_size=2_200_000)
            await producer.start()
            self.producers[lane] = producer
        return self.producers[lane]

    async def publish_pending(self) -> int:
        """Publish one batch per lane with pending rows; return the number of rows sent."""
        sent = 0
        for lane in await self._lanes():
            rows = await self.pool.fetch(
                "SELECT seq, topic, key, value FROM outbox WHERE lane = $1 AND seq > $2 "
                "ORDER BY seq LIMIT $3", lane, self.positions.get(lane, 0), BATCH_ROWS)
            if rows:
                await self._publish(lane, rows)
                sent += len(rows)
        self.published += sent
        return sent

    async def _publish(self, lane: str, rows: list[asyncpg.Record]) -> None:
        producer = await self._producer(lane)
        last = rows[-1]["seq"]
        async with producer.transaction():
            futures = [await producer.send(r["topic"], r["value"], key=r["key"]) for r in rows]
            faults.reached("publisher.in-transaction")
            await asyncio.gather(*futures)
            faults.reached("publisher.before-position")
            position = json.dumps({"lane": lane, "seq": last}).encode()
            await producer.send(self.namespace.physical(OUTBOX_POSITION), position,
                                key=lane.encode())
        self.positions[lane] = last
        faults.reached("publisher.after-commit")
        await self.pool.execute("DELETE FROM outbox WHERE lane = $1 AND seq <= $2", lane, last)

    async def _prune(self) -> None:
        for lane, seq in self.positions.items():
            await self.pool.execute("DELETE FROM outbox WHERE lane = $1 AND seq <= $2", lane, seq)

    async def run(self, stop: asyncio.Event, idle_wait: float = 0.2) -> None:
        """Publish until `stop` is set, woken by NOTIFY from the linker or every `idle_wait`."""
        wake = asyncio.Event()

        def notified(*_: object) -> None:
            wake.set()

        async with self.pool.acquire() as listener:
            await listener.add_listener(NOTIFY_CHANNEL, notified)
            try:
                while not stop.is_set():
                    wake.clear()
                    if await self.publish_pending():
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), idle_wait)
            finally:
                await listener.remove_listener(NOTIFY_CHANNEL, notified)
