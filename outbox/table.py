"""The outbox table: rows that a processor writes in its own transaction, for the publisher.

A row names the record that caused it by plain topic, partition and offset; its lane is that
source partition, and the publisher sends each lane's rows in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

NOTIFY_CHANNEL = "shaho_outbox"


@dataclass(frozen=True)
class OutboxRow:
    """One message to publish, with its idempotency id and the position of its cause."""

    id: UUID
    source_topic: str
    source_partition: int
    source_offset: int
    index: int
    topic: str
    key: bytes
    value: bytes

    @property
    def lane(self) -> str:
        return f"{self.source_topic}:{self.source_partition}"

    def as_row(self) -> tuple[Any, ...]:
        return (self.id, self.lane, self.source_topic, self.source_partition,
                self.source_offset, self.index, self.topic, self.key, self.value)


async def insert_rows(conn: asyncpg.Connection, rows: Iterable[OutboxRow]) -> None:
    """Insert `rows` inside the caller's transaction; a row already there is left alone."""
    await conn.executemany(
        "INSERT INTO outbox (id, lane, source_topic, source_partition, source_offset, "
        "source_index, topic, key, value) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
        "ON CONFLICT (id) DO NOTHING",
        [r.as_row() for r in rows])


async def wake_publisher(conn: asyncpg.Connection) -> None:
    """Tell a listening publisher (on commit of the caller's transaction) that rows wait."""
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
