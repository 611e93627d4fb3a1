"""Reading whole topics as read_committed readers see them: from the beginning up to each
partition's last stable offset, for tools and checks (not for processors)."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.topics import CATALOGUE, PARTITIONS


def partitions_of(topic: str) -> int:
    """The catalogue's partition count for a topic (under any namespace prefix)."""
    for entry in CATALOGUE:
        if topic == entry.name or topic.endswith("." + entry.name):
            return entry.partitions
    return PARTITIONS


async def read_committed(bootstrap: str, topics: list[str],
                         seconds: float = 180.0) -> list[ConsumerRecord]:
    """Every committed record of `topics` (records of aborted transactions never appear).

    Stops when every partition's position reaches its end offset, which for a read_committed
    reader is the last stable offset; an orphaned transaction holds that back until the
    broker aborts it (60 s by default), hence the generous `seconds`."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              auto_offset_reset="earliest", isolation_level="read_committed",
                              enable_auto_commit=False)
    await reader.start()
    owned = [TopicPartition(t, p) for t in topics for p in range(partitions_of(t))]
    reader.assign(owned)
    got: list[ConsumerRecord] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            batch = await reader.getmany(timeout_ms=300)
            got += [r for records in batch.values() for r in records]
            ends = await reader.end_offsets(owned)
            positions = [await reader.position(tp) for tp in owned]
            if all(at >= ends[tp] for at, tp in zip(positions, owned, strict=True)):
                break
    finally:
        await reader.stop()
    return got
