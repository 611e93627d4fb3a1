"""The outbox table: rows that a processor writes in its own transaction, for the publisher.

A row's lane is the output topic-partition it is produced to, so a key's rows share a lane; the
writer locks its lanes until it commits, so per lane the seq order is the commit order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from groundfloor.kafka_clients import default_partition

NOTIFY_CHANNEL = "shaho_outbox"


def lane_of(topic: str, partition: int) -> str:
    """The lane of the output topic-partition `topic`:`partition`."""
    return f"{topic}:{partition}"


@dataclass(frozen=True)
class OutboxRow:
    """One message to publish to `topic`:`partition`, with its idempotency id and the position
    of its cause."""

    id: UUID
    source_topic: str
    source_partition: int
    source_offset: int
    index: int
    topic: str
    partition: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def keyed(cls, id_: UUID, source: tuple[str, int, int], index: int, topic: str,
              partitions: int, key: bytes, value: bytes,
              headers: tuple[tuple[str, bytes], ...] = ()) -> OutboxRow:
        """A row for the partition of `topic` (of `partitions`) that Kafka's default
        partitioner picks for `key`."""
        return cls(id_, *source, index, topic, default_partition(key, partitions), key, value,
                   headers)

    @property
    def lane(self) -> str:
        return lane_of(self.topic, self.partition)

    def as_row(self) -> tuple[Any, ...]:
        return (self.id, self.lane, self.source_topic, self.source_partition,
                self.source_offset, self.index, self.topic, self.partition, self.key,
                self.value, stored_headers(self.headers))


def stored_headers(headers: tuple[tuple[str, bytes], ...]) -> str | None:
    """Headers as the outbox stores them (JSON `[[name, hex], ...]`), None when there are none."""
    return json.dumps([[name, value.hex()] for name, value in headers]) if headers else None


def loaded_headers(stored: str | None) -> list[tuple[str, bytes]] | None:
    """The headers `stored_headers` stored, as the producer takes them."""
    if stored is None:
        return None
    return [(name, bytes.fromhex(value)) for name, value in json.loads(stored)]


async def insert_rows(conn: asyncpg.Connection, rows: Iterable[OutboxRow]) -> None:
    """Insert `rows` inside the caller's transaction; a row already there is left alone.

    The lanes' rows are locked first, in lane order (no deadlock between writers), and stay
    locked until the caller commits: a concurrent writer to the same lane takes its seqs only
    after this transaction has committed (or rolled back)."""
    rows = list(rows)
    if not rows:
        return
    lanes = sorted({r.lane for r in rows})
    await conn.execute("INSERT INTO outbox_lane (lane) SELECT unnest($1::text[]) ORDER BY 1 "
                       "ON CONFLICT DO NOTHING", lanes)
    await conn.execute("SELECT lane FROM outbox_lane WHERE lane = ANY($1::text[]) "
                       "ORDER BY lane FOR UPDATE", lanes)
    await conn.executemany(
        "INSERT INTO outbox (id, lane, source_topic, source_partition, source_offset, "
        "source_index, topic, partition, key, value, headers) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11::jsonb) ON CONFLICT (id) DO NOTHING",
        [r.as_row() for r in rows])


async def wake_publisher(conn: asyncpg.Connection) -> None:
    """Tell a listening publisher (on commit of the caller's transaction) that rows wait."""
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
