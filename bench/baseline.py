"""Raw baselines measured in the same run as the relay's numbers: plain aiokafka produce and
consume, and a plain asyncpg batched write with the linker's transaction shape.

They have no validation, crypto or rules, so the relay's results read as ratios against them.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import (
    KafkaLogin,
    admin_client,
    idempotent_producer,
    processor_consumer,
)

SCRATCH_TABLES = """
CREATE TABLE IF NOT EXISTS bench_links (id uuid PRIMARY KEY, relay_id text, body bytea);
CREATE TABLE IF NOT EXISTS bench_outbox (seq bigserial PRIMARY KEY, id uuid UNIQUE, body bytea);
CREATE TABLE IF NOT EXISTS bench_offsets (topic text, partition int, next_offset bigint,
                                          PRIMARY KEY (topic, partition));
"""


@contextlib.asynccontextmanager
async def scratch_database(cfg: StackConfig, prefix: str,
                           prepare: Callable[[asyncpg.Connection], Awaitable[object]]
                           ) -> AsyncIterator[str]:
    """A fresh database `<prefix>_<random>` on the stack's PostgreSQL, set up by `prepare`
    and dropped afterwards; its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(cfg.pg_dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(cfg.pg_dsn(name))
        try:
            await prepare(conn)
        finally:
            await conn.close()
        yield cfg.pg_dsn(name)
    finally:
        admin = await asyncpg.connect(cfg.pg_dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def scratch_topic(kafka: KafkaLogin, name: str, partitions: int = 6) -> None:
    admin = admin_client(kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def produce(kafka: KafkaLogin, topic: str, values: list[tuple[bytes, bytes]]) -> float:
    """Seconds to publish `values` with an idempotent producer (acks=all)."""
    producer = idempotent_producer(kafka, linger_ms=5)
    await producer.start()
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, v, key=k) for k, v in values]
        for f in futures:
            await f
        return time.perf_counter() - start
    finally:
        await producer.stop()


async def consume_and_write(kafka: KafkaLogin, topic: str, dsn: str, count: int,
                            partitions: int = 6) -> float:
    """Seconds to consume `count` records and write, per micro-batch in one transaction, an
    offset row per partition plus a link row and an outbox row per record; the consumer has
    the linker's shape (partitions assigned, offsets committed to a group)."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(SCRATCH_TABLES)
    consumer = processor_consumer(kafka, f"bench-{topic}", max_poll_records=500)
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    seen = 0
    start = time.perf_counter()
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO bench_links VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE "
                    "SET body = EXCLUDED.body",
                    [(uuid.uuid4(), r.key.decode(), r.value) for r in records])
                await conn.executemany(
                    "INSERT INTO bench_outbox (id, body) VALUES ($1, $2)",
                    [(uuid.uuid4(), r.value) for r in records])
                await conn.executemany(
                    "INSERT INTO bench_offsets VALUES ($1, $2, $3) ON CONFLICT (topic, partition)"
                    " DO UPDATE SET next_offset = EXCLUDED.next_offset",
                    [(tp.topic, tp.partition, rs[-1].offset + 1) for tp, rs in batch.items()])
            await consumer.commit()
            seen += len(records)
        return time.perf_counter() - start
    finally:
        await consumer.stop()
        await conn.execute("DROP TABLE bench_links, bench_outbox, bench_offsets")
        await conn.close()
