"""When a drained processor may stop: once every partition it reads (and does not pause) is
read past the high watermark its last fetch saw, never before a fetch has answered."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from groundfloor.kafka_clients import read_past_fetched_ends

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
