"""The linker and the outbox publisher, each its own OS process, SIGKILLed at every named fault
point and at random moments during a 20,000-event run, then restarted: nothing is lost and
nothing is duplicated for read_committed readers, and the table equals the pure fold."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from uuid import UUID

import pytest
from aiokafka import TopicPartition

from consumers.reading import read_committed
from groundfloor.kafka_clients import end_offsets
from relay_linker.domain import apply_all, decide, expire, history
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import ClockAdvanced
from relay_linker.domain.state import new_state
from relay_linker.linker import KeyringHasher
from relay_linker.readback import load_all
from schemas import DeadLetter, FilingOutcome, LinkChanged, decode_relay
from schemas.topics import FILING_OUTCOME, INGESTION_TOPICS, LINK_CHANGE
from synthetic.population import generate
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

EVENTS = 20_000
FAULTS = {
    "relay-linker": ["linker.after-db-commit"],
    "outbox-publisher": ["publisher.in-transaction", "publisher.before-position",
                         "publisher.after-commit"],
}



def _spawn(relay: RelayEnv, name: str, fault: str | None) -> subprocess.Popen[bytes]:
    env = relay.cfg.child_env()
    env.pop("SHAHO_FAULT", None)
    if fault:
        env["SHAHO_FAULT"] = fault
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", name], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


async def _progress(relay: RelayEnv) -> tuple[int, int]:
    conn = await relay.connect()
    try:
        done = await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
        pending = await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()
    return done, pending


async def _chaos(relay: RelayEnv, total: int, rng: random.Random, seconds: float) -> Counter:
    """Run both processors, killing them at fault points and at random until all is done.

    Every fault point must fire once: a process killed at random before reaching its point
    gets the same point again when restarted."""
    kills: Counter[str] = Counter()
    procs: dict[str, tuple[subprocess.Popen[bytes], str | None]] = {}
    deadline = time.monotonic() + seconds
    scheduled = {name: list(points) for name, points in FAULTS.items()}
    try:
        while time.monotonic() < deadline:
            for name in FAULTS:
                if name in procs and procs[name][0].poll() is not None:
                    proc, point = procs.pop(name)
                    kills[f"{point or 'no fault'}: exit {proc.returncode}"] += 1
                    if point and proc.returncode != -signal.SIGKILL:
                        scheduled[name].insert(0, point)
                if name not in procs:
                    point = scheduled[name].pop(0) if scheduled[name] else None
                    fault = f"{point}:{rng.randint(1, 3)}" if point else None
                    procs[name] = (_spawn(relay, name, fault), point)
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            if rng.random() < 0.3:
                victim = rng.choice(sorted(procs))
                proc, point = procs.pop(victim)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills[f"{victim}: random SIGKILL"] += 1
                if point:
                    scheduled[victim].insert(0, point)
            done, pending = await _progress(relay)
            if done >= total and pending == 0 and not any(scheduled.values()) and all(
                    point is None for _, point in procs.values()):
                break
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return kills


async def _read_committed(relay: RelayEnv, topics: list[str]) -> list[tuple[str, bytes]]:
    return [(r.topic, r.value) for r in await read_committed(relay.cfg.bootstrap_servers, topics)]


async def _expected(relay: RelayEnv) -> tuple[tuple, set[UUID], dict[str, list[UUID]]]:
    """The fold's history, the outbox ids of every output it produces and each person's link
    changes in the order the fold emits them, over the relay's order read back from the topics."""
    hasher = KeyringHasher(relay.keyring())
    state, ids = new_state(), set()
    changes: dict[str, list[UUID]] = defaultdict(list)
    for step in await relay.steps_in_relay_order():
        if isinstance(step, ClockAdvanced):
            effects = expire(state, step.relay_time)
        else:
            effects = decide(state, step, hasher)
        apply_all(state, effects)
        ids |= {e.outbox_id for e in effects if isinstance(e, fx.OUTPUT_EFFECTS)}
        for e in effects:
            if isinstance(e, fx.LinkChangeEmitted):
                changes[e.relay_id].append(e.outbox_id)
    return history(state, include_retracted=True), ids, dict(changes)


def _each_persons_changes(messages: list[LinkChanged]) -> dict[str, list[UUID]]:
    """Each person's link changes in the order a reader of their partition reads them,
    checking on the way that the person's version never goes backwards."""
    changes: dict[str, list[UUID]] = defaultdict(list)
    versions: dict[str, int] = {}
    for m in messages:
        assert m.person_version >= versions.get(m.relay_id, 1), "a person's version went back"
        versions[m.relay_id] = m.person_version
        changes[m.relay_id].append(m.outbox_id)
    return dict(changes)


async def test_killed_processes_lose_and_duplicate_nothing(relay: RelayEnv):
    population = generate(23, 2000, date(2025, 1, 1))
    filings = population.filings
    # 2,000 persons file about 8,000 times; the filers upload again what they filed (the
    # same event ids: duplicates the relay must recognise) until the run has 20,000 events
    uploads = [f for _ in range(EVENTS // len(filings) + 1) for f in filings][:EVENTS]
    await relay.publish([(population.topic_of(f), f) for f in uploads])
    landed = await relay.publish_raw(population.bad_records)
    assert len(uploads) == EVENTS and len(filings) < EVENTS
    # two steps of the simulated calendar: the filings' time, then 15 days on, when every
    # filing still parked gets its final answer (each tick takes one offset per partition)
    await relay.tick()
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    partitions = [TopicPartition(relay.topic(t), p)
                  for t in INGESTION_TOPICS for p in range(t.partitions)]
    total = sum((await end_offsets(relay.cfg.bootstrap_servers, partitions)).values())
    assert total >= EVENTS + landed + 2 * len(partitions)

    kills = await _chaos(relay, total, random.Random(5), seconds=900)
    assert relay.run("relay-linker") == 0 and relay.run("outbox-publisher") == 0
    fired = {k.split(":")[0] for k in kills if k.endswith("exit -9")}
    assert fired == {p for points in FAULTS.values() for p in points}, kills
    assert sum(v for k, v in kills.items() if "random SIGKILL" in k) >= 2, kills

    conn = await relay.connect()
    try:
        table = history(await load_all(conn, relay.keyring()), include_retracted=True)
    finally:
        await conn.close()
    expected_history, expected_ids, expected_changes = await _expected(relay)
    assert table == expected_history

    links, outcomes = relay.topic(LINK_CHANGE.name), relay.topic(FILING_OUTCOME.name)
    outputs = await _read_committed(relay, [links, outcomes])
    messages = [decode_relay(v, LinkChanged if t == links else FilingOutcome) for t, v in outputs]
    ids = [m.outbox_id for m in messages]
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicated == [], f"{len(duplicated)} outputs published twice"
    filed = {f.event_id for f in filings}
    about_filings = {m.outbox_id for m in messages
                     if not isinstance(m, FilingOutcome) or m.event_id in filed}
    assert about_filings == expected_ids
    # a person's link changes all travel in one partition: read in that partition's order they
    # are the fold's 1st to n-th change of the person, none missing, none repeated
    assert _each_persons_changes([m for m in messages if isinstance(m, LinkChanged)]) == (
        expected_changes)
    broken = [m for m in messages if isinstance(m, FilingOutcome) and m.event_id not in filed]
    assert broken and all(m.status.value == "refused" for m in broken), "malformed filings"

    letters = await _read_committed(relay, [relay.topic(t.dlq) for t in INGESTION_TOPICS
                                            if t.dlq])
    assert len(letters) == landed
    assert all(decode_relay(v, DeadLetter).original.ciphertext for _, v in letters)
