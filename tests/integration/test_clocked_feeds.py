"""The relay-internal topics read in relay-clock order: the linker forwards every tick of the
relay clock onto each partition of relay.link-change.v2, relay.age-milestone.v1 and
relay.person-change.v1 after everything of earlier relay time, so a ClockedBuffer downstream
releases their records in relay-clock order, each person's changes in order; the same records,
ticks included, whatever the linker's batch size."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from consumers.clocked import ClockAdvanced, ClockedBuffer, ClockedOrder, Released, Tick
from groundfloor.config import LINKER_BATCH_ENV, StackConfig
from groundfloor.kafka_clients import read_to_end, reader
from infra.principals import TESTS
from relay_clock.ticks import authentic, is_tick_record
from relay_linker.messages import output_rows
from schemas import RelayTick, decode_relay
from schemas.internal import AgeMilestoneReached, LinkChangedV2, PersonChanged
from schemas.topics import (
    AGE_MILESTONE,
    FORWARDED_TICK_TOPICS,
    LINK_CHANGE_V2,
    PERSON_CHANGE,
)
from synthetic.population import Population, generate
from tests.integration.relay_env import RelayEnv, drop_env, make_env, publish_in_phases

pytestmark = pytest.mark.integration

PERSONS = 200
SMALL, LARGE = 7, 400
MODELS: dict[str, type] = {LINK_CHANGE_V2.name: LinkChangedV2,
                           AGE_MILESTONE.name: AgeMilestoneReached,
                           PERSON_CHANGE.name: PersonChanged}
Where = tuple[str, int]


async def _feed(relay: RelayEnv, population: Population) -> list[datetime]:
    """Three phases of filings, each published after a tick at its latest filing time (so no
    filing arrives before the first tick), then two more ticks (15 days on: parked filings
    expire, milestones fall due) and a last one that lets a reader release what those
    announced. Returns the ticks' times, strictly increasing."""
    filings = sorted(population.filings, key=lambda f: f.occurred_at)
    third = len(filings) // 3
    phases = [filings[:third], filings[third:2 * third], filings[2 * third:]]
    await publish_in_phases(relay, [(None, [(population.topic_of(f), f) for f in phase])
                                    for phase in phases])
    await relay.tick(relay.ticks[-1] + timedelta(hours=1))
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    await relay.tick(relay.ticks[-1] + timedelta(minutes=1))
    return list(relay.ticks)


def _decoded(relay: RelayEnv, record: ConsumerRecord) -> Tick | tuple[str, Any]:
    """A forwarded tick (authenticated by its MAC under this relay's clock key), or the
    topic's message."""
    if is_tick_record(record.headers):
        tick = decode_relay(bytes(record.value), RelayTick)
        assert authentic(relay.keyring(), tick), "a forwarded tick verifies"
        return Tick(tick.seq, tick.relay_time)
    logical = relay.topics.logical(record.topic)
    return logical, decode_relay(bytes(record.value), MODELS[logical])


async def _raw(relay: RelayEnv) -> dict[Where, list[Tick | tuple[str, Any]]]:
    """Every committed record of the three topics, per partition in offset order."""
    out: dict[Where, list] = defaultdict(list)
    for r in await read_to_end(relay.cfg.kafka(TESTS), relay.partitions(FORWARDED_TICK_TOPICS)):
        out[(relay.topics.logical(r.topic), r.partition)].append(_decoded(relay, r))
    return dict(out)


async def _released(relay: RelayEnv, last: int) -> list[Any]:
    """The three topics through a ClockedBuffer, as the notifications processor will read
    them, until the relay clock's step `last`."""
    partitions = relay.partitions(FORWARDED_TICK_TOPICS)
    consumer = reader(relay.cfg.kafka(TESTS))
    await consumer.start()
    try:
        consumer.assign(partitions)
        order: ClockedOrder = ClockedOrder([(tp.topic, tp.partition) for tp in partitions])
        buffer = ClockedBuffer(consumer, order, lambda r: _decoded(relay, r))
        steps: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 120
        while order.epoch < last:
            assert asyncio.get_running_loop().time() < deadline, f"stuck at {order.epoch}"
            buffer.add(await consumer.getmany(timeout_ms=500))
            steps += buffer.take(10_000)
        return steps
    finally:
        await consumer.stop()


async def _run(relay: RelayEnv, population: Population, batch: int) -> list[datetime]:
    ticks = await _feed(relay, population)
    for processor, extra in (("relay-linker", {LINKER_BATCH_ENV: str(batch)}),
                             ("outbox-publisher", None)):
        assert await asyncio.to_thread(relay.run, processor, extra) == 0, relay.last_output
    return ticks


def _check_placement(raw: dict[Where, list], ticks: list[datetime]) -> None:
    """Each tick once per partition, in order; every message's relay time is that of the
    tick before it, so nothing of relay time >= T precedes tick T on any partition, and
    nothing of an earlier relay time follows it."""
    expected = [Tick(seq, at) for seq, at in enumerate(ticks, start=1)]
    assert sorted(raw) == sorted((t.name, p) for t in FORWARDED_TICK_TOPICS
                                 for p in range(t.partitions)), "every partition has ticks"
    for where, records in raw.items():
        assert [r for r in records if isinstance(r, Tick)] == expected, where
        current: Tick | None = None
        for r in records:
            if isinstance(r, Tick):
                current = r
                continue
            assert current is not None, f"{where}: a message before the first tick"
            message = r[1]
            assert message.relay_time == current.relay_time, where
            following = [t for t in expected if t.seq > current.seq]
            assert all(message.relay_time < t.relay_time for t in following), where


def _check_release(steps: list[Any], ticks: list[datetime]) -> None:
    """ClockAdvanced 1, 2, ... in turn; every record released at its own relay time; each
    person's messages in relay-time order, and in version order on each topic."""
    advanced = [s for s in steps if isinstance(s, ClockAdvanced)]
    assert [(s.epoch, s.relay_time) for s in advanced] == list(enumerate(ticks, start=1))
    versions: dict[tuple[str, str], list[int]] = defaultdict(list)
    times: dict[str, list[datetime]] = defaultdict(list)
    for step in steps:
        if not isinstance(step, Released):
            continue
        logical, message = step.item
        assert message.relay_time == step.relay_time
        times[message.relay_id].append(message.relay_time)
        if logical != AGE_MILESTONE.name:
            versions[(logical, message.relay_id)].append(message.person_version)
    assert all(seq == sorted(seq) for seq in times.values())
    assert all(seq == sorted(seq) for seq in versions.values())
    person = [seq for (t, _), seq in versions.items() if t == PERSON_CHANGE.name]
    assert all(len(set(seq)) == len(seq) for seq in person), "one change per version"


async def _folded_person_changes(relay: RelayEnv) -> dict[str, list[dict]]:
    """Each person's PersonChanged as the pure fold publishes them, in order."""
    out: dict[str, list[dict]] = defaultdict(list)
    for d in (await relay.fold())[1]:
        for row in output_rows(d.effects, d.source, relay.topics, d.relay_time):
            if relay.topics.logical(row.topic) == PERSON_CHANGE.name:
                message = decode_relay(row.value, PersonChanged)
                out[message.relay_id].append(message.model_dump(mode="json"))
    return dict(out)


def _dumped(raw: dict[Where, list]) -> dict[Where, list[dict]]:
    """Partitions as compared across runs: ids and contents, ticks as seq and time."""
    return {where: [{"tick": r.seq, "at": r.relay_time.isoformat()} if isinstance(r, Tick)
                    else r[1].model_dump(mode="json") for r in records]
            for where, records in raw.items()}


async def test_a_clocked_reader_sees_the_internal_topics_in_relay_clock_order(
    stack: StackConfig, unique: str
) -> None:
    population = generate(22, PERSONS, date(2025, 1, 1))  # deaths and births among them
    large, small = await make_env(stack, unique), await make_env(stack, f"{unique}s")
    try:
        ticks = await _run(large, population, LARGE)
        raw = await _raw(large)
        _check_placement(raw, ticks)
        steps = await _released(large, len(ticks))
        _check_release(steps, ticks)

        published: dict[str, list[dict]] = defaultdict(list)
        for (name, _), records in sorted(raw.items()):
            for r in records:
                if name == PERSON_CHANGE.name and not isinstance(r, Tick):
                    published[r[1].relay_id].append(r[1].model_dump(mode="json"))
        assert dict(published) == await _folded_person_changes(large)
        changes = [m for seq in published.values() for m in seq]
        assert len(published) >= PERSONS // 2, "registrations tell a person's birth date"
        assert any(m["died_on"] for m in changes), "deaths are told"
        assert all(m["born_on"] for m in changes if not m["removed"])
        released = {m.outbox_id for s in steps if isinstance(s, Released)
                    for m in [s.item[1]]}
        kinds = {type(s.item[1]) for s in steps if isinstance(s, Released)}
        assert kinds == {LinkChangedV2, AgeMilestoneReached, PersonChanged}
        assert len(released) == sum(1 for s in steps if isinstance(s, Released))

        assert await _run(small, population, SMALL) == ticks
        again = await _raw(small)
        assert _dumped(again) == _dumped(raw), "the same records whatever the batch size"
        assert [(type(s).__name__, getattr(s, "epoch", None)) for s in
                await _released(small, len(ticks))] == [
            (type(s).__name__, getattr(s, "epoch", None)) for s in steps]
    finally:
        await drop_env(large)
        await drop_env(small)
