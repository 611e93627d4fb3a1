"""Consumer positions kept in PostgreSQL, written in the same transaction as their effects.

The consumer starts from the stored positions, so a crash between the database commit and the
Kafka offset commit replays nothing that was already applied; `lock` makes a second instance
wait for the first's transaction and then see the records as applied.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from aiokafka import TopicPartition


async def load(conn: asyncpg.Connection | asyncpg.Pool, group: str,
               partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1",
        group)
    stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    return {tp: stored[tp] for tp in partitions if tp in stored}


async def ensure_rows(conn: asyncpg.Connection | asyncpg.Pool, group: str,
                      partitions: list[TopicPartition]) -> None:
    """A row per partition (position 0 where none is stored), so that `lock` has rows to lock."""
    await conn.executemany(
        "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
        "VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
        [(group, tp.topic, tp.partition) for tp in partitions])


async def lock(conn: asyncpg.Connection, group: str,
               partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The stored positions, locked until the transaction ends (in a fixed order: no deadlock)."""
    rows = await conn.fetch(
        "SELECT c.topic, c.partition, c.next_offset FROM consumer_offsets c "
        "JOIN unnest($2::text[], $3::int[]) AS p(topic, partition) "
        "ON c.topic = p.topic AND c.partition = p.partition WHERE c.group_id = $1 "
        "ORDER BY c.topic, c.partition FOR UPDATE OF c",
        group, [tp.topic for tp in partitions], [tp.partition for tp in partitions])
    return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def save(conn: asyncpg.Connection, group: str, positions: dict[TopicPartition, int]) -> None:
    """Record the next offset to read per partition; call inside the effect's transaction.

    Positions never move backwards; to replay a partition, delete its row."""
    await conn.executemany(
        "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (group_id, topic, partition) DO UPDATE "
        "SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset), "
        "updated_at = now()",
        [(group, tp.topic, tp.partition, offset) for tp, offset in positions.items()])


async def load_clock(conn: asyncpg.Connection | asyncpg.Pool,
                     group: str) -> tuple[int, datetime | None]:
    """The group's last applied relay clock epoch and its relay time; (0, None) before any."""
    row = await conn.fetchrow(
        "SELECT epoch, relay_time FROM relay_clock WHERE group_id = $1", group)
    if row is None or row["epoch"] == 0:  # before the first tick: no relay time yet
        return (0, None)
    return (row["epoch"], row["relay_time"])


async def save_clock(conn: asyncpg.Connection, group: str, epoch: int,
                     relay_time: datetime) -> None:
    """Record the epoch the group applied; inside the same transaction as its effects."""
    await conn.execute(
        "INSERT INTO relay_clock (group_id, epoch, relay_time) VALUES ($1, $2, $3) "
        "ON CONFLICT (group_id) DO UPDATE SET epoch = GREATEST(relay_clock.epoch, "
        "EXCLUDED.epoch), relay_time = CASE WHEN EXCLUDED.epoch >= relay_clock.epoch "
        "THEN EXCLUDED.relay_time ELSE relay_clock.relay_time END, updated_at = now()",
        group, epoch, relay_time)


async def lock_clock(conn: asyncpg.Connection, group: str) -> int:
    """The group's applied epoch, its row locked until the transaction ends (0 before any)."""
    await conn.execute(
        "INSERT INTO relay_clock (group_id, epoch, relay_time) VALUES ($1, 0, 'epoch') "
        "ON CONFLICT DO NOTHING", group)
    return await conn.fetchval(
        "SELECT epoch FROM relay_clock WHERE group_id = $1 FOR UPDATE", group)
