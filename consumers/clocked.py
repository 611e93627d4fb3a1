"""Release in relay-clock order: records from many partitions, handed out by the ticks between
them, so the order depends only on what the partitions hold, never on fetch timing.

The relay clock writes tick n onto every partition the relay reads from participants. A record
is of epoch k when k ticks precede it on its partition; its relay time is the time of tick k
(of tick 1 for epoch 0). Epoch k is complete once every partition has shown tick k + 1; then
its records are released in (topic, partition, offset) order, preceded by `ClockAdvanced(k)`
for k >= 1. A quiet partition still receives ticks, so it never holds the others back; nothing
waits on a timer. `ClockedOrder` is the pure rule; `ClockedBuffer` feeds it from a consumer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers import offsets

T = TypeVar("T")
Where = tuple[str, int]


@dataclass(frozen=True)
class Tick:
    """A verified tick seen on a partition."""

    seq: int
    relay_time: datetime


@dataclass(frozen=True)
class Position:
    """Where a partition is: the next offset to read, and how many ticks precede it."""

    next_offset: int
    epoch: int


@dataclass(frozen=True)
class ClockAdvanced:
    """The relay time becomes tick `epoch`'s; `positions` move every partition past that tick."""

    epoch: int
    relay_time: datetime
    positions: dict[Where, Position]


@dataclass(frozen=True)
class Released(Generic[T]):
    """A record in relay-clock order, with its epoch and relay time."""

    item: T
    topic: str
    partition: int
    offset: int
    epoch: int
    relay_time: datetime


Step = ClockAdvanced | Released[T]


@dataclass
class _Lane(Generic[T]):
    seen: int  # ticks seen on this partition so far (the epoch of its next record)
    queue: deque[tuple[int, int, T]] = field(default_factory=deque)  # (epoch, offset, item)
    tick_offsets: dict[int, int] = field(default_factory=dict)  # seq -> offset of the tick


class ClockedOrder(Generic[T]):
    """The pure release rule over `partitions`, resuming at `epoch` (the last ClockAdvanced
    applied, 0 before any) whose relay time was `relay_time`."""

    def __init__(self, partitions: Iterable[Where], epoch: int = 0,
                 relay_time: datetime | None = None) -> None:
        self.lanes: dict[Where, _Lane[T]] = {w: _Lane(epoch) for w in sorted(partitions)}
        if not self.lanes:
            raise ValueError("a clocked order needs at least one partition")
        self.epoch = epoch  # the epoch being released
        self.times: dict[int, datetime] = {} if relay_time is None else {epoch: relay_time}

    def tick(self, where: Where, offset: int, tick: Tick) -> None:
        """Tick `tick` at `offset` of `where`; one not after the last seen there is ignored."""
        lane = self.lanes[where]
        if tick.seq <= lane.seen:
            return
        lane.seen = tick.seq
        lane.tick_offsets[tick.seq] = offset
        self.times.setdefault(tick.seq, tick.relay_time)

    def record(self, where: Where, offset: int, item: T) -> None:
        """A record other than a tick at `offset` of `where`."""
        lane = self.lanes[where]
        lane.queue.append((lane.seen, offset, item))

    def complete(self) -> int:
        """The highest tick every partition has shown."""
        return min(lane.seen for lane in self.lanes.values())

    def release(self, limit: int) -> list[Step]:
        """Up to `limit` records (and the ClockAdvanced steps between them), in order."""
        out: list[Step] = []
        while len(out) < limit and self.complete() > self.epoch:
            heads = sorted(w for w, lane in self.lanes.items()
                           if lane.queue and lane.queue[0][0] <= self.epoch)
            if heads:
                for where in heads:
                    lane = self.lanes[where]
                    while lane.queue and lane.queue[0][0] <= self.epoch and len(out) < limit:
                        _, offset, item = lane.queue.popleft()
                        out.append(Released(item, *where, offset, self.epoch,
                                            self._time(self.epoch)))
                    if len(out) >= limit:
                        return out
                continue
            nxt = self.epoch + 1
            positions = {w: Position(lane.tick_offsets.pop(nxt) + 1, nxt)
                         for w, lane in self.lanes.items() if nxt in lane.tick_offsets}
            for lane in self.lanes.values():
                for seq in [s for s in lane.tick_offsets if s < nxt]:
                    del lane.tick_offsets[seq]
            self.epoch = nxt
            out.append(ClockAdvanced(nxt, self._time(nxt), positions))
            for seq in [s for s in self.times if s < nxt]:
                del self.times[seq]
        return out

    def _time(self, epoch: int) -> datetime:
        if epoch in self.times:
            return self.times[epoch]
        later = [s for s in self.times if s > epoch]
        return self.times[min(later)]  # epoch 0 (and a tick a partition skipped) take the next

    def pending(self) -> int:
        return sum(len(lane.queue) for lane in self.lanes.values())

    def buffered(self, where: Where) -> int:
        return len(self.lanes[where].queue)

    def ahead(self, where: Where) -> bool:
        """Whether `where` has shown more ticks than the slowest partition (pausing it is safe)."""
        return self.lanes[where].seen > self.complete()


class ClockedBuffer(Generic[T]):
    """Feeds a consumer's batches into a ClockedOrder: `classify` says whether a record is a
    verified tick (a Tick) or something to release (prepared into a T).

    A partition far ahead of the slowest one is paused while it holds `max_buffered` records;
    the slowest partitions are never paused, so the order always makes progress."""

    def __init__(self, consumer: AIOKafkaConsumer, order: ClockedOrder[T],
                 classify: Callable[[ConsumerRecord], Tick | T],
                 max_buffered: int = 5000) -> None:
        self.consumer, self.order, self.classify = consumer, order, classify
        self.max_buffered = max_buffered

    def add(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in batch.items():
            where = (tp.topic, tp.partition)
            for record in records:
                item = self.classify(record)
                if isinstance(item, Tick):
                    self.order.tick(where, record.offset, item)
                else:
                    self.order.record(where, record.offset, item)
        for tp in self.consumer.assignment():
            where = (tp.topic, tp.partition)
            big = self.order.buffered(where) >= self.max_buffered
            if big and self.order.ahead(where):
                self.consumer.pause(tp)
            elif tp in self.consumer.paused() and not (big and self.order.ahead(where)):
                self.consumer.resume(tp)

    def take(self, limit: int) -> list[Step]:
        return self.order.release(limit)

    def pending(self) -> int:
        return self.order.pending()


def positions_of(steps: Sequence[Step]) -> dict[TopicPartition, int]:
    """The next offset to read per partition once `steps` are applied."""
    out: dict[TopicPartition, int] = {}
    for step in steps:
        if isinstance(step, ClockAdvanced):
            moved = {TopicPartition(*w): p.next_offset for w, p in step.positions.items()}
        else:
            moved = {TopicPartition(step.topic, step.partition): step.offset + 1}
        for tp, offset in moved.items():
            out[tp] = max(offset, out.get(tp, 0))
    return out


async def resume(consumer: AIOKafkaConsumer, pool: asyncpg.Pool, group: str,
                 partitions: list[TopicPartition],
                 classify: Callable[[ConsumerRecord], Tick | T]) -> ClockedBuffer[T]:
    """Assign `partitions` to the started `consumer`, seek each to the position `group` stored
    in PostgreSQL, and return the buffer that releases them from the epoch it last applied."""
    consumer.assign(partitions)
    await offsets.ensure_rows(pool, group, partitions)
    stored = await offsets.load(pool, group, partitions)
    epoch, relay_time = await offsets.load_clock(pool, group)
    for tp in partitions:
        consumer.seek(tp, stored.get(tp, 0))
    order: ClockedOrder[T] = ClockedOrder([(tp.topic, tp.partition) for tp in partitions],
                                          epoch, relay_time)
    return ClockedBuffer(consumer, order, classify)
