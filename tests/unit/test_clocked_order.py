"""The relay clock's order depends on what the partitions hold, never on how they were fetched:
any interleaving, any batch size and any restart at a stored position give the same steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.clocked import ClockAdvanced, ClockedOrder, Position, Released, Tick

START = datetime(2025, 4, 1, tzinfo=UTC)
PARTITIONS = [("filing.a", 0), ("filing.a", 1), ("filing.b", 0)]


def _tick(seq: int) -> Tick:
    return Tick(seq, START + timedelta(days=seq))


def _logs(draw_counts: list[list[int]]) -> dict[tuple[str, int], list[object]]:
    """Per partition: `counts[i]` records before tick i+1, then the rest after the last tick."""
    logs: dict[tuple[str, int], list[object]] = {}
    for where, counts in zip(PARTITIONS, draw_counts, strict=True):
        log: list[object] = []
        for seq, count in enumerate(counts, start=1):
            log += [f"{where[0]}/{where[1]}/{len(log) + i}" for i in range(count)]
            if seq < len(counts):
                log.append(_tick(seq))
        logs[where] = log
    return logs


def _reference(logs: dict[tuple[str, int], list[object]]) -> list[tuple[object, ...]]:
    """The order written out longhand: an epoch's records once every partition has passed
    its end, and the clock's advance to the next tick as soon as every partition shows it."""
    ticks = min(sum(isinstance(x, Tick) for x in log) for log in logs.values())
    by_epoch: dict[int, list[tuple[str, int, int, object]]] = {}
    for where, log in logs.items():
        epoch = 0
        for offset, x in enumerate(log):
            if isinstance(x, Tick):
                epoch = x.seq
            else:
                by_epoch.setdefault(epoch, []).append((*where, offset, x))
    out: list[tuple[object, ...]] = []
    for epoch in range(ticks):
        time = _tick(max(epoch, 1)).relay_time
        out += [("record", x, epoch, time) for *_, x in sorted(by_epoch.get(epoch, []))]
        out.append(("advance", epoch + 1, _tick(epoch + 1).relay_time))
    return out


def _flat(steps: list) -> list[tuple[object, ...]]:
    return [("advance", s.epoch, s.relay_time) if isinstance(s, ClockAdvanced)
            else ("record", s.item, s.epoch, s.relay_time) for s in steps]


def _feed(order: ClockedOrder, logs, starts, schedule, limits) -> list:
    """Feed the logs from `starts` in the interleaving `schedule` (partition index, how many),
    releasing with the given limits after every feed."""
    cursor = dict(starts)
    steps: list = []
    limits = iter(limits)
    for index, count in schedule:
        where = PARTITIONS[index]
        log = logs[where]
        for offset in range(cursor[where], min(len(log), cursor[where] + count)):
            x = log[offset]
            if isinstance(x, Tick):
                order.tick(where, offset, x)
            else:
                order.record(where, offset, x)
        cursor[where] = min(len(log), cursor[where] + count)
        steps += order.release(next(limits, 7))
    for where, log in logs.items():  # whatever the schedule left
        for offset in range(cursor[where], len(log)):
            x = log[offset]
            if isinstance(x, Tick):
                order.tick(where, offset, x)
            else:
                order.record(where, offset, x)
    while batch := order.release(3):
        steps += batch
    return steps


counts = st.lists(st.integers(0, 4), min_size=1, max_size=5)
logs_strategy = st.integers(1, 5).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 4), min_size=n, max_size=n),
                       min_size=len(PARTITIONS), max_size=len(PARTITIONS)))
schedules = st.lists(st.tuples(st.integers(0, len(PARTITIONS) - 1), st.integers(1, 6)),
                     max_size=40)
limits = st.lists(st.integers(1, 10), max_size=40)


@settings(max_examples=300, deadline=None)
@given(logs_strategy, schedules, limits)
def test_any_fetch_order_and_batch_size_gives_the_reference_order(draws, schedule, sizes):
    logs = _logs(draws)
    order: ClockedOrder = ClockedOrder(PARTITIONS)
    steps = _feed(order, logs, dict.fromkeys(PARTITIONS, 0), schedule, sizes)
    assert _flat(steps) == _reference(logs)


@settings(max_examples=300, deadline=None)
@given(logs_strategy, schedules, st.integers(0, 60))
def test_a_restart_from_the_stored_position_gives_the_rest(draws, schedule, cut):
    """Stop after `cut` steps; resume from what the linker stores (positions after the last
    applied step, the last applied epoch and its time); the two halves are the whole."""
    logs = _logs(draws)
    whole = _flat(_feed(ClockedOrder(PARTITIONS), logs, dict.fromkeys(PARTITIONS, 0),
                        schedule, []))
    first = _feed(ClockedOrder(PARTITIONS), logs, dict.fromkeys(PARTITIONS, 0), schedule, [])
    first = first[:cut]
    positions = dict.fromkeys(PARTITIONS, 0)
    epoch, time = 0, None
    for step in first:
        if isinstance(step, ClockAdvanced):
            epoch, time = step.epoch, step.relay_time
            for where, p in step.positions.items():
                positions[where] = max(positions[where], p.next_offset)
        else:
            where = (step.topic, step.partition)
            positions[where] = max(positions[where], step.offset + 1)
    resumed = ClockedOrder(PARTITIONS, epoch, time)
    rest = _feed(resumed, logs, positions, schedule, [])
    assert _flat(first) + _flat(rest) == whole


def test_a_quiet_partition_holds_nothing_back_once_it_has_a_tick() -> None:
    order: ClockedOrder = ClockedOrder(PARTITIONS)
    order.record(PARTITIONS[0], 0, "filing")
    for where in PARTITIONS:
        order.tick(where, 1 if where == PARTITIONS[0] else 0, _tick(1))
    released, advanced = order.release(10)
    assert isinstance(released, Released)
    assert (released.item, released.epoch) == ("filing", 0)
    assert released.relay_time == _tick(1).relay_time  # before the first tick: the first's
    assert isinstance(advanced, ClockAdvanced)
    assert advanced.positions == {w: Position(2 if w == PARTITIONS[0] else 1, 1)
                                  for w in PARTITIONS}


def test_nothing_is_released_before_every_partition_has_shown_the_next_tick() -> None:
    order: ClockedOrder = ClockedOrder(PARTITIONS)
    order.record(PARTITIONS[0], 0, "filing")
    for where in PARTITIONS[:-1]:
        order.tick(where, 1, _tick(1))
    assert order.release(10) == []
    order.tick(PARTITIONS[-1], 0, _tick(1))
    assert [getattr(s, "item", "advance") for s in order.release(10)] == ["filing", "advance"]


def test_a_replayed_old_tick_is_ignored() -> None:
    order: ClockedOrder = ClockedOrder(PARTITIONS)
    for where in PARTITIONS:
        order.tick(where, 0, _tick(1))
    order.tick(PARTITIONS[0], 1, _tick(1))  # the same tick again, copied by someone
    order.record(PARTITIONS[0], 2, "filing")
    for where in PARTITIONS:
        order.tick(where, 3, _tick(2))
    steps = order.release(10)
    assert [type(s).__name__ for s in steps] == ["ClockAdvanced", "Released", "ClockAdvanced"]
    assert steps[1].epoch == 1


def test_a_clock_needs_a_partition() -> None:
    with pytest.raises(ValueError):
        ClockedOrder([])
