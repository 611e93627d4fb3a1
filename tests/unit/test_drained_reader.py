"""When a drained processor may stop: once every partition it reads (and does not pause) is
read past the high watermark its last fetch saw, never before a fetch has answered; after its
quiet seconds only once every partition has answered, and a stall past its patience is an error."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import Drain, DrainStalled, read_past_fetched_ends

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


class _Consumer:
    """What `read_past_fetched_ends` asks of an aiokafka consumer."""

    def __init__(self, positions: dict[TopicPartition, int],
                 highwaters: dict[TopicPartition, int | None],
                 paused: set[TopicPartition] | None = None) -> None:
        self.positions, self.highwaters = positions, highwaters
        self._paused = paused or set()

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


def _ended(consumer: _Consumer) -> bool:
    return asyncio.run(read_past_fetched_ends(consumer))  # type: ignore[arg-type]


def test_read_to_the_fetched_end_of_every_partition() -> None:
    assert _ended(_Consumer({A: 5, B: 0}, {A: 5, B: 0}))
    assert _ended(_Consumer({A: 6, B: 0}, {A: 5, B: 0}))  # a commit marker read past it


def test_a_partition_short_of_its_end_or_never_fetched_holds_it() -> None:
    assert not _ended(_Consumer({A: 5, B: 2}, {A: 5, B: 3}))  # an undecided transaction
    assert not _ended(_Consumer({A: 5, B: 0}, {A: 5, B: None}))
    assert not _ended(_Consumer({}, {})), "assigned nothing yet"


def test_a_paused_partition_does_not_hold_it() -> None:
    assert _ended(_Consumer({A: 5, B: 2}, {A: 5, B: 9}, paused={B}))
    assert not _ended(_Consumer({A: 4, B: 2}, {A: 5, B: 9}, paused={B}))


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _drain(consumer: _Consumer, clock: _Clock) -> Drain:
    return Drain(consumer, quiet=3.0, patience=60.0, clock=clock)  # type: ignore[arg-type]


def test_slow_first_fetches_are_waited_for_past_the_quiet_seconds() -> None:
    """The regression: a processor whose first fetch took over 3 s stopped having read nothing."""
    clock, consumer = _Clock(), _Consumer({A: 0, B: 0}, {A: None, B: None})
    drain = _drain(consumer, clock)
    clock.now += 10
    assert not asyncio.run(drain.done())
    consumer.highwaters[A] = 7  # A answered, B not yet
    clock.now += 10
    assert not asyncio.run(drain.done())
    consumer.highwaters[B] = 0  # every partition answered; A still short of its end
    assert asyncio.run(drain.done()), "quiet for 20 s with every partition answered"


def test_quiet_seconds_count_from_the_last_progress() -> None:
    clock, consumer = _Clock(), _Consumer({A: 2, B: 0}, {A: 5, B: 0})  # A held by a transaction
    drain = _drain(consumer, clock)
    clock.now += 2.5
    assert not asyncio.run(drain.done())
    drain.moved()
    clock.now += 2.5
    assert not asyncio.run(drain.done())
    clock.now += 1
    assert asyncio.run(drain.done())


def test_read_to_the_end_stops_at_once() -> None:
    clock = _Clock()
    assert asyncio.run(_drain(_Consumer({A: 5, B: 0}, {A: 5, B: 0}), clock).done())


def test_a_partition_never_answering_past_the_patience_is_an_error() -> None:
    clock, consumer = _Clock(), _Consumer({A: 0, B: 0}, {A: 0, B: None})
    drain = _drain(consumer, clock)
    clock.now += 59
    assert not asyncio.run(drain.done())
    clock.now += 2
    with pytest.raises(DrainStalled, match="t:1"):
        asyncio.run(drain.done())
