"""A reader is caught up at the last stable offset, or, when it must see what was committed
just before (`settled`), only once past the high watermark of its latest fetch too."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from groundfloor.kafka_clients import caught_up

TP = TopicPartition("t", 0)


class Consumer:
    """What `caught_up` asks of a consumer: its position and last known high watermark."""

    def __init__(self, position: int, high: int | None) -> None:
        self.at, self.high = position, high

    async def position(self, partition: TopicPartition) -> int:
        return self.at

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.high


def check(consumer: Consumer, end: int, settled: bool) -> bool:
    return asyncio.run(caught_up(consumer, {TP: end}, settled=settled))  # type: ignore[arg-type]


def test_at_the_stable_offset_a_reader_is_caught_up_unless_markers_are_still_due():
    # a commit returned; its records sit at 0..2, the marker not yet written: LSO 0, HW 3
    in_flight = Consumer(position=0, high=3)
    assert check(in_flight, end=0, settled=False)
    assert not check(in_flight, end=0, settled=True)
    # the marker written (offset 3): the reader passes it and is caught up either way
    done = Consumer(position=4, high=4)
    assert check(done, end=4, settled=False) and check(done, end=4, settled=True)


def test_a_partition_not_fetched_yet_is_not_settled():
    assert not check(Consumer(position=0, high=None), end=0, settled=True)
    assert check(Consumer(position=0, high=None), end=0, settled=False)


def test_behind_the_stable_offset_no_reader_is_caught_up():
    assert not check(Consumer(position=2, high=5), end=5, settled=False)
    assert not check(Consumer(position=2, high=5), end=5, settled=True)
