"""Consumer lag as operations watch it: per ingestion partition, the linker's stored position
against the end of the log, plus the outbox backlog and the parked filings.

Positions come from PostgreSQL (where the linker keeps them with its effects), so the numbers
are exact even between a database commit and the Kafka offset commit.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiokafka import TopicPartition

from groundfloor.kafka_clients import KafkaLogin, end_offsets
from schemas.topics import INGESTION_TOPICS, Namespace


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


async def measure(kafka: KafkaLogin, namespace: Namespace, conn: asyncpg.Connection,
                  group: str = "relay-linker") -> RelayLag:
    """The lag of `group` on the ingestion topics of `namespace`, read from `conn`."""
    owned = [TopicPartition(namespace.physical(t), p) for t in INGESTION_TOPICS
             for p in range(t.partitions)]
    ends = await end_offsets(kafka, owned)
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM consumer_offsets "
                            "WHERE group_id = $1", group)
    stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    lags = tuple(PartitionLag(tp.topic, tp.partition, stored.get(tp, 0), ends[tp])
                 for tp in owned)
    outbox = await conn.fetchval("SELECT count(*) FROM outbox")
    parked = await conn.fetchval("SELECT count(*) FROM parked_filings")
    return RelayLag(lags, outbox, parked)
