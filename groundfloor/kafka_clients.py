"""The one module that builds Kafka clients: readers, processor consumers, idempotent and
transactional producers, admin clients, reading partitions to their last stable offset, and
the partition Kafka's default partitioner picks for a key.

Each builder fixes what its kind of client must always have; callers add only their own tuning.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

POLL_MS = 300


def reader(bootstrap: str, *topics: str, **settings: Any) -> AIOKafkaConsumer:
    """A consumer of no group that sees committed records only, from the earliest offset.

    Assign it partitions, or name `topics` to be handed all of their partitions (without a
    group nothing is balanced). Nothing is committed."""
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            isolation_level="read_committed", **settings)


def processor_consumer(bootstrap: str, group_id: str, **settings: Any) -> AIOKafkaConsumer:
    """A processor's consumer: it assigns its partitions itself and uses `group_id` only to
    commit offsets explicitly (for lag monitoring); committed records only."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            isolation_level="read_committed", **settings)


def idempotent_producer(bootstrap: str, **settings: Any) -> AIOKafkaProducer:
    """A producer whose retries never duplicate a record (this forces acks=all)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **settings)


def transactional_producer(bootstrap: str, transactional_id: str,
                           **settings: Any) -> AIOKafkaProducer:
    """A producer of Kafka transactions; re-using `transactional_id` fences a predecessor."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                            transactional_id=transactional_id, **settings)


def default_partition(key: bytes, partitions: int) -> int:
    """The partition of a topic of `partitions` that Kafka's default partitioner (Java's and
    aiokafka's alike) picks for `key`: murmur2 of the key, made positive, modulo the count."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def admin_client(bootstrap: str, **settings: Any) -> AIOKafkaAdminClient:
    """A client for creating, describing, configuring and deleting topics."""
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **settings)


async def end_offsets(bootstrap: str,
                      partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """Each partition's end as a read_committed reader sees it (its last stable offset)."""
    owned = list(partitions)
    consumer = reader(bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(owned)
    finally:
        await consumer.stop()


async def caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether `consumer` has read every partition of `ends` up to its end offset."""
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return False
    return True


async def read_to_end(bootstrap: str, partitions: Iterable[TopicPartition],
                      seconds: float | None = 180.0) -> list[ConsumerRecord]:
    """Every committed record of `partitions`, from the beginning (records of aborted
    transactions never appear), in the order fetched; in offset order within a partition.

    Stops when every partition's position reaches its end offset, which for a read_committed
    reader is the last stable offset; an orphaned transaction holds that back until the
    broker aborts it (60 s by default), hence the generous `seconds`. After `seconds` it
    returns what it has read; with None it reads until the end however long that takes."""
    owned = list(partitions)
    consumer = reader(bootstrap)
    await consumer.start()
    consumer.assign(owned)
    got: list[ConsumerRecord] = []
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=POLL_MS)
            got += [r for records in batch.values() for r in records]
            if await caught_up(consumer, await consumer.end_offsets(owned)):
                break
    finally:
        await consumer.stop()
    return got
