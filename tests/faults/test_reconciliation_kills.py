"""The reconciliation processor on the real stack: with the relay clock before 1 December (in
Japan) it closes no period 2026; past it, it closes each medical insurer's period 2026 once and
the settlements reach their payers. SIGKILLed at random points during the close (between the
ledger's chunk commits, between sending and marking sent, at random moments) and restarted until
done, it routes every settlement exactly once, counted by id on the payers' topics read
committed, the set the ledger's, and a close with no kill made after it adds nothing; the lag
monitor, which never lost the broker, ends with the router's group OK with lag 0."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime

import pytest

from consumers.reading import read_committed
from infra import namespace
from infra.principals import TESTS
from insurer_workers import closing, member_store
from insurer_workers.receipt_feed import publish_receipts
from reconciliation.calculation import Period
from relay_clock.ticks import is_tick_record
from relay_exchange.router import GROUP as ROUTER
from schemas import decode_relay
from schemas.base import JST
from schemas.settlements import RoutedSettlement
from schemas.topics import settlements_topic
from shaho.bootstrap import insurer, topic_namespace
from staging.exchange_population import insurers_of
from tests.faults.conftest import FaultRun
from tests.faults.monitor import LagWatch, caught_up
from tests.integration.close_env import (
    links_of,
    relay_running,
    routine_receipts,
    settling_receipts,
)
from tests.integration.exchange_env import linked_population
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

PERIOD = Period(2026)
OCTOBER = datetime(2026, 10, 1, 10, 0, tzinfo=JST)
BEFORE = datetime(2026, 11, 30, 23, 0, tzinfo=JST)
AFTER = datetime(2026, 12, 1, 0, 30, tzinfo=JST)
"""Still 30 November in UTC: the date in Japan decides."""
KILLS = 3
CLINICS = 4
"""Each person's outpatient receipts a month: with the settling ones, over 5,000 records in
the stores the close reads."""
SETTINGS = {"SHAHO_RECONCILE_POLL": "1", "SHAHO_RECONCILE_WAIT": "90",
            "SHAHO_RECONCILE_RETRY_CAP": "4", "SHAHO_CLOSE_CHUNK": "2"}
"""A short poll and backoff, and two households per ledger transaction: many commits to
be killed between."""


def _processor(relay: RelayEnv, fault: str | None, drain: bool = False) -> subprocess.Popen:
    """`shaho run reconciliation` (every medical insurer), armed with `fault` if given."""
    env = relay.cfg.child_env(SETTINGS)
    env.pop("SHAHO_FAULT", None)
    if fault:
        env["SHAHO_FAULT"] = fault
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", "reconciliation",
                             *(["--drain"] if drain else [])], env=env,
                            stdout=subprocess.PIPE if drain else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if drain else subprocess.DEVNULL,
                            start_new_session=True)


async def _closes(relay: RelayEnv, codes: list[str]) -> list[dict]:
    conn = await relay.connect()
    try:
        return [{**dict(r), "code": code} for code in codes for r in await conn.fetch(
            f"SELECT * FROM {member_store.store_name(code)}.closes ORDER BY period, round")]
    finally:
        await conn.close()


async def _ledger(relay: RelayEnv, codes: list[str]) -> list[dict]:
    conn = await relay.connect()
    try:
        return [{**dict(r), "code": code} for code in codes for r in await conn.fetch(
            f"SELECT * FROM {member_store.store_name(code)}.settlements")]
    finally:
        await conn.close()


async def _done(relay: RelayEnv, codes: list[str]) -> bool:
    """Every insurer's scheduled closes of 1 December (periods 2025 and 2026) finished,
    nothing unsent."""
    closes = await _closes(relay, codes)
    closed = {(c["code"], c["period"]) for c in closes
              if c["scheduled_for"] == date(2026, 12, 1)}
    unsent = [r for r in await _ledger(relay, codes) if r["sent_at"] is None]
    return closed == {(c, p) for c in codes for p in (2025, 2026)} and not unsent


async def _on_topics(relay: RelayEnv, payers: list[str]) -> Counter:
    """The settlements routed to each payer, counted by id, read committed."""
    found: Counter = Counter()
    for payer in payers:
        for r in await read_committed(relay.cfg.kafka(TESTS),
                                      [relay.topic(settlements_topic(payer).name)]):
            if not is_tick_record(r.headers):
                found[decode_relay(bytes(r.value), RoutedSettlement).settlement_id] += 1
    return found


def _killed(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


async def _run_with_kills(relay: RelayEnv, medical: list[str],
                          rng: random.Random) -> Counter[str]:
    """The processor armed at a random crash point (or killed at a random moment), restarted
    each time it dies, until every close is done and every settlement sent; what was killed
    where. The first KILLS are at one of the first commits that write settlements."""
    kills: Counter[str] = Counter()
    started = time.monotonic()
    while not await _done(relay, medical):
        assert time.monotonic() - started < 600, ("the processor makes no progress", kills)
        if sum(kills.values()) < KILLS:  # sure to fire while settlements are still written
            point, nth = "close.after-ledger-chunk", rng.randint(1, 2)
        else:
            point = rng.choice(["close.after-ledger-chunk", "settlement.after-send", None])
            nth = rng.randint(1, 12)
        proc = _processor(relay, f"{point}:{nth}" if point else None)
        deadline = time.monotonic() + (rng.uniform(3, 20) if point is None else 240)
        while proc.poll() is None and time.monotonic() < deadline:
            if await _done(relay, medical):
                break
            await asyncio.sleep(0.3)
        mid = not await _done(relay, medical)
        if proc.poll() is None and not mid:  # done: stopped as `shaho down` stops it
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 60) == 0
        elif proc.poll() is None:
            _killed(proc)
            if point is None:
                kills["SIGKILL at a random moment"] += 1
        elif proc.returncode == -signal.SIGKILL:
            kills[f"SIGKILL at {point}"] += 1
        else:
            raise AssertionError(f"the processor exited with {proc.returncode}")
    return kills


async def test_the_processor_closes_on_the_schedule_and_settles_once_whatever_the_kills(
        relay: RelayEnv, fault_run: FaultRun):
    population = await linked_population(relay)
    codes = insurers_of(population)
    await namespace.receipt_topics(relay.stack, relay.topics, codes)
    await namespace.settlement_topics(relay.stack, relay.topics, codes)
    await relay.tick(OCTOBER)
    links = await links_of(relay)
    receipts = settling_receipts(links)
    assert len(receipts) >= 10, "too few households settle"
    receipts += routine_receipts(links, CLINICS)
    fault_run.carried(len(receipts))
    await publish_receipts(relay.cfg.kafka(TESTS), relay.topics, receipts)
    conn = await relay.connect()
    try:
        medical = await member_store.medical_insurers(conn)
    finally:
        await conn.close()
    assert len(medical) > 3

    # 30 November in Japan: period 2025 is open and closed as scheduled (1 November), 2026 not
    async with relay_running(relay, codes, BEFORE):
        await asyncio.sleep(3)
        proc = _processor(relay, None, drain=True)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=300)
        assert proc.returncode == 0, out.decode(errors="replace")
    closes = await _closes(relay, medical)
    assert {c["code"] for c in closes} == set(medical)
    assert {(c["period"], c["scheduled_for"]) for c in closes} == {(2025, date(2026, 11, 1))}
    assert await _ledger(relay, medical) == []  # no receipts in period 2025

    # 1 December in Japan: killed at random points during the close and restarted until done
    async with relay_running(relay, codes, AFTER), LagWatch(relay) as watch:
        kills = await _run_with_kills(relay, medical, fault_run.rng())
        print(dict(sorted(kills.items())))
        assert sum(kills.values()) >= KILLS, kills
        ledger = await _ledger(relay, medical)
        assert ledger and all(r["period"] == PERIOD.year for r in ledger)
        ids = Counter(r["settlement_id"] for r in ledger)
        payers = sorted({r["payer_code"] for r in ledger})
        assert {r["payer_side"] for r in ledger} == {"medical", "care"}
        deadline = time.monotonic() + 180
        while set(await _on_topics(relay, payers)) != set(ids):
            assert time.monotonic() < deadline, "settlements not routed"
            await asyncio.sleep(2)

        # the processor again, as if restarted once more: no close is due, nothing to send
        before = await _closes(relay, medical)
        proc = _processor(relay, None, drain=True)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=300)
        assert proc.returncode == 0, out.decode(errors="replace")
        assert await _closes(relay, medical) == before
        assert await _ledger(relay, medical) == ledger

        # a close with no kill, on demand, finds nothing to add: the killed run's totals are
        # those of an uninterrupted close
        conn = await relay.connect()
        try:
            for code in sorted({r["code"] for r in ledger}):
                now = relay.ticks[-1]
                calm = await closing.close(conn, insurer(relay.cfg, code),
                                           topic_namespace(relay.cfg), now, PERIOD, wait=90)
                assert calm.complete and (calm.new, calm.deltas) == (0, 0), calm.counts()
        finally:
            await conn.close()
        await asyncio.sleep(5)  # whatever a kill might have routed twice is on the topics
        on_topics = await _on_topics(relay, payers)
        # the lag monitor, which never lost the broker, ends with the router caught up
        await watch.until(lambda s: caught_up(s, ROUTER), "the router OK with lag 0")
        assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()

    # every settlement exactly once on the payers' topics, read committed: the ledger's
    assert on_topics == Counter({i: 1 for i in ids}), on_topics - Counter(set(ids))
    assert len(ids) == len(ledger)
    closes = [c for c in await _closes(relay, medical) if c["period"] == PERIOD.year]
    scheduled = Counter(c["code"] for c in closes if c["scheduled_for"] is not None)
    assert scheduled == Counter({code: 1 for code in medical})
    assert all(c["scheduled_for"] == date(2026, 12, 1) for c in closes
               if c["scheduled_for"] is not None)
    print(f"{len(ledger)} settlements to {len(payers)} payers; period 2026 rounds "
          f"{Counter(c['finished_at'] is not None for c in closes)} (finished or not)")
