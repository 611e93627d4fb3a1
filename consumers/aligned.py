"""Event-time-aligned consumption across partitions, in the manner of Kafka Streams' timestamp
synchronisation: records are handed out in the order of a time the caller extracts (the
filing's `occurred_at`), and a partition known to hold unread records blocks the others (up to
`max_idle` seconds) so that one partition cannot race months of event time ahead of another.

Without this, a backlog read partition by partition would push one partition's event time far
past another's, and the parking bound would refuse filings whose counterpart had simply not
been read yet.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

T = TypeVar("T")


class AlignedBuffer(Generic[T]):
    """Buffers prepared records per partition and releases them in event-time order."""

    def __init__(self, consumer: AIOKafkaConsumer, prepare: Callable[[ConsumerRecord], T],
                 event_time: Callable[[T], float], max_idle: float = 5.0,
                 max_buffered: int = 2000) -> None:
        self.consumer, self.max_idle, self.max_buffered = consumer, max_idle, max_buffered
        self.prepare, self.event_time = prepare, event_time
        self.buffers: dict[TopicPartition, deque[tuple[float, int, T]]] = {}
        self.next_offset: dict[TopicPartition, int] = {}
        self.blocked_since: float | None = None

    def add(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in batch.items():
            if not records:
                continue
            queue = self.buffers.setdefault(tp, deque())
            for record in records:
                item = self.prepare(record)
                queue.append((self.event_time(item), record.offset, item))
            self.next_offset[tp] = records[-1].offset + 1
            if len(queue) >= self.max_buffered:
                self.consumer.pause(tp)  # far ahead of the others: stop fetching it for now

    async def refresh(self) -> None:
        """Forget revoked partitions; learn the position of those that sent nothing yet."""
        owned = self.consumer.assignment()
        for tp in [tp for tp in self.buffers if tp not in owned]:
            del self.buffers[tp]
            self.next_offset.pop(tp, None)
        for tp in owned:
            if tp not in self.next_offset:
                self.next_offset[tp] = await self.consumer.position(tp)

    def _lagging_and_empty(self) -> bool:
        """A partition with nothing buffered that has (or may have) records still unread.

        A partition whose end is not known yet (no fetch answered since assignment) counts as
        lagging: a restarted consumer must not race ahead before every partition has spoken."""
        for tp in self.consumer.assignment():
            if self.buffers.get(tp):
                continue
            end = self.consumer.last_stable_offset(tp)
            if end is None:
                end = self.consumer.highwater(tp)
            fetched = self.next_offset.get(tp)
            if end is None or fetched is None or end > fetched:
                return True
        return False

    def take(self, limit: int) -> list[T]:
        """Up to `limit` items, earliest event time first (ties: topic, partition, offset)."""
        out: list[T] = []
        blocked = self._lagging_and_empty()
        while len(out) < limit:
            heads = [(q[0][0], tp.topic, tp.partition, q[0][1], tp)
                     for tp, q in self.buffers.items() if q]
            if not heads:
                break
            if blocked and not self._waited_enough():
                break
            tp = min(heads)[4]
            queue = self.buffers[tp]
            out.append(queue.popleft()[2])
            if len(queue) < self.max_buffered // 2 and tp in self.consumer.paused():
                self.consumer.resume(tp)
            if not queue:  # a partition ran dry: it may now hold the others back
                blocked = self._lagging_and_empty()
        if out:
            self.blocked_since = None
        return out

    def _waited_enough(self) -> bool:
        now = time.monotonic()
        if self.blocked_since is None:
            self.blocked_since = now
        return now - self.blocked_since >= self.max_idle

    def pending(self) -> int:
        return sum(len(q) for q in self.buffers.values())
