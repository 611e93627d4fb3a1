"""Consumer lag as operations watch it: per ingestion partition, the linker's stored position
against the end of the log, plus the outbox backlog and the parked filings.

Positions come from PostgreSQL (where the linker keeps them with its effects), so the numbers
are exact even between a database commit and the Kafka offset commit.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.topics import INGESTION_TOPICS


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    position: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.position, 0)


@dataclass(frozen=True)
class RelayLag:
    partitions: tuple[PartitionLag, ...]
    outbox_rows: int
    parked_filings: int

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


async def measure(bootstrap: str, conn: asyncpg.Connection,
                  group: str = "relay-linker") -> RelayLag:
    owned = [TopicPartition(t.physical, p) for t in INGESTION_TOPICS for p in range(t.partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                isolation_level="read_committed", enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(owned)
    finally:
        await consumer.stop()
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM consumer_offsets "
                            "WHERE group_id = $1", group)
    stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    lags = tuple(PartitionLag(tp.topic, tp.partition, stored.get(tp, 0), ends[tp])
                 for tp in owned)
    outbox = await conn.fetchval("SELECT count(*) FROM outbox")
    parked = await conn.fetchval("SELECT count(*) FROM parked_filings")
    return RelayLag(lags, outbox, parked)
