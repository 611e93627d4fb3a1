"""The insurers' workers SIGKILLed again and again while the relay's router and outbox publisher
run and the relay clock ticks: every person routed to a provider is answered once, as a run
without kills answers them.

The same linked population (exchange_env's) and the same requests (fixed ids) go into two
namespaces. Each insurer asks about its members whom another insurer covered in the year, in
requests of `ENTRIES` persons, over and over until some `TARGET` answers are due. The calm
namespace routes them, runs every insurer's worker once until idle and routes the answers. In
the other, the router and the publisher run as long-lived processes with the clock ticking a
relay second every half second, and the insurers' workers run in `SLOTS` processes, each
restarted after SIGKILLs at the worker's named fault points (`insurer.after-answer`: an answer
sent, its request not yet remembered, so the restarted worker answers it again, which the relay
must ignore; `insurer.before-commit`: a batch handled, its offsets not committed, so the
restarted worker reads it again and must refuse the replays without answering twice) and at
random moments once it has answered something, the faults and moments drawn from the run's
seed.

What the run carries (`fault_run.carried`): the answered replies, one per person asked and
provider answering (each the relay routed, a worker opened, looked up, sealed and the relay
delivered to the asker). For read_committed readers of the askers' reply topics: no reply id
twice; the replies equal the calm run's by id, contents and what the sealed answers open to,
all but their relay time (the tick after which the relay took the answer, which depends on
when the provider answered, not on what); and at the end no lag for the router and the
workers' groups on their topics, nothing left in the outbox, and the lag monitor (which never
lost the broker) saying the router's group OK with lag 0."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import asyncpg
import pytest

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import read_to_end
from infra.principals import TESTS
from insurer_workers.member_store import store_name
from insurer_workers.members import members_from_filings
from insurer_workers.worker import role_of
from relay_clock.clock import RelayClock
from relay_exchange import store
from relay_exchange.router import GROUP as ROUTER
from schemas import decode_relay
from schemas.exchange import ExchangeReply, ExchangeRequest
from schemas.exchange_terms import ExchangeOutcome
from schemas.topics import EXCHANGE_TOPICS, participant_topics
from tests.faults.chaos import lag, spawn
from tests.faults.conftest import FaultRun
from tests.faults.monitor import LagWatch, caught_up
from tests.integration.exchange_env import (
    YEAR,
    ask_all,
    covers_on,
    in_year,
    insured,
    linked_population,
    medical_covers,
    opened,
    request,
    route,
    run_workers,
)
from tests.integration.relay_env import RelayEnv, drop_env, make_env
from trust.encryption_keys import load_private_key
from trust.keys import clock_signer
from trust.pki import Participant

pytestmark = pytest.mark.integration

ENTRIES = 100
"""Persons per request."""
TARGET = 5_300
"""Answers the requests make due at least (providers per person counted from the links)."""
SLOTS = 2
"""Worker processes, the insurers split between them."""
RANDOM_KILLS = 2
"""Random SIGKILLs per worker process, after its fault points have fired."""
POINTS = ("insurer.after-answer", "insurer.before-commit")
RATE = {"SHAHO_EXCHANGE_RATE_LIMIT": "1000000"}
"""Many more persons an hour than the relay allows an insurer by default."""
IDS = UUID("0b7e9c3e-54d1-4c4e-9b55-0f3a8f2d61c7")
TICK_EVERY = 0.5


def _requests(covers: dict, now: datetime) -> list[ExchangeRequest]:
    """Each insurer's members others covered in the year to yesterday, asked about in
    requests of ENTRIES persons, round after round until TARGET answers are due."""
    end = now.date() - timedelta(days=1)
    asked: list[tuple[str, str, int]] = []
    for links in covers.values():
        for c in links:
            others = {o.insurer for o in links if o.insurer != c.insurer and in_year(o, end)}
            if covers_on(c, end) and others:
                asked.append((c.insurer, c.number, len(others)))
    assert asked, "nobody in the population changed insurer in the year"
    rounds = -(-TARGET // sum(n for *_, n in asked))
    entries: dict[str, list[str]] = {}
    for _ in range(rounds):
        for asker, number, _n in asked:
            entries.setdefault(asker, []).append(number)
    out = []
    for asker, numbers in sorted(entries.items()):
        for first in range(0, len(numbers), ENTRIES):
            chunk = numbers[first:first + ENTRIES]
            out.append(request(asker, [(f"p{first + i}", insured(n)) for i, n in enumerate(chunk)],
                               now, period=(end - YEAR, end),
                               request_id=uuid5(IDS, f"{asker}:{first}")))
    return out


async def _prepared(relay: RelayEnv) -> tuple[list[str], list[ExchangeRequest]]:
    """The population linked, every insurer onboarded; the requests (not yet sent)."""
    population = await linked_population(relay)
    codes = sorted(members_from_filings(population.filings))  # the insurers with a store
    return codes, _requests(await medical_covers(relay), relay.ticks[-1])


async def _calm(relay: RelayEnv, codes: list[str], reqs: list[ExchangeRequest]) -> None:
    await ask_all(relay, reqs)
    now = relay.ticks[-1]
    await relay.tick(now + timedelta(seconds=30))
    await asyncio.to_thread(route, relay, RATE)
    await asyncio.to_thread(run_workers, relay, codes)
    await relay.tick(now + timedelta(seconds=60))
    await asyncio.to_thread(route, relay, RATE)


async def _ticking(relay: RelayEnv, stop: asyncio.Event) -> None:
    """A tick a relay second after the last, every TICK_EVERY seconds, until `stop`."""
    clock = RelayClock(relay.cfg.kafka(TESTS), relay.topics, relay.keyring(),
                       clock_signer(relay.cfg))
    await clock.start()
    try:
        while not stop.is_set():
            at = relay.ticks[-1] + timedelta(seconds=1)
            relay.ticks.append((await clock.tick(at)).relay_time)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_EVERY)
    finally:
        await clock.stop()


async def _all_answered(conn: asyncpg.Connection, requests: int) -> bool:
    """Whether the router has taken every request, every routed person is answered and the
    outbox is empty."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM exchange_requests), "
        "(SELECT count(*) FROM exchange_items WHERE state <> 'answered'), "
        "(SELECT count(*) FROM exchange_items), (SELECT count(*) FROM outbox)")
    return row[0] == requests and row[1] == 0 and row[2] > 0 and row[3] == 0


async def _answered(conn: asyncpg.Connection, codes: list[str]) -> int:
    """Routed requests the insurers' workers remember answering."""
    return sum([await conn.fetchval(f"SELECT count(*) FROM {store_name(c)}.seen_requests")
                for c in codes])


def _killed(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


async def _kill_workers(relay: RelayEnv, codes: list[str], total: int,
                        rng: random.Random) -> Counter[str]:
    """The workers in SLOTS processes, each first armed at the fault points (in a random
    order, the n-th pass drawn) and then SIGKILLed RANDOM_KILLS times a random moment after
    it answered something, restarted until the router has every answer."""
    slots = [codes[i::SLOTS] for i in range(SLOTS)]
    plans = []
    for _ in slots:
        points = [f"{p}:{rng.randint(1, 3)}" for p in rng.sample(POINTS, len(POINTS))]
        plans.append([(p, None) for p in points]
                     + [(None, rng.uniform(0, 1.5)) for _ in range(RANDOM_KILLS)])
    running: list[dict[str, Any] | None] = [None] * SLOTS
    kills: Counter[str] = Counter()
    started = time.monotonic()
    conn = await relay.connect()
    try:
        while not await _all_answered(conn, total):
            assert time.monotonic() - started < 900, "the workers make no progress"
            for i, mine in enumerate(slots):
                now = running[i]
                if now is not None and now["proc"].poll() is not None:
                    code = now["proc"].returncode
                    assert code == -signal.SIGKILL, f"a worker exited {code}"
                    kills[f"{(now['fault'] or 'unarmed').split(':')[0]}: SIGKILL"] += 1
                    running[i] = now = None
                if now is None:
                    fault, delay = plans[i].pop(0) if plans[i] else (None, None)
                    args = [a for c in mine for a in ("--insurer", c)]
                    running[i] = now = {
                        "proc": spawn(relay, "insurer-worker", fault, args=args),
                        "fault": fault, "delay": delay, "kill_at": None,
                        "from": await _answered(conn, mine)}
                if now["delay"] is not None and now["kill_at"] is None and (
                        await _answered(conn, mine) > now["from"]):
                    now["kill_at"] = time.monotonic() + now["delay"]
                if now["kill_at"] is not None and time.monotonic() >= now["kill_at"]:
                    _killed(now["proc"])
                    kills["random SIGKILL after answering"] += 1
                    running[i] = None
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
        for now in running:
            if now is not None:
                now["proc"].send_signal(signal.SIGTERM)
                assert now["proc"].wait(timeout=60) in (0, -signal.SIGKILL)
    return kills


async def _lags(relay: RelayEnv, codes: list[str]) -> dict[str, int]:
    found = {ROUTER: await lag(relay, ROUTER, relay.partitions(EXCHANGE_TOPICS))}
    for code in codes:
        group = f"{role_of(code)}.{code}.worker"
        found[group] = await lag(relay, group, relay.partitions(participant_topics(code)))
    return found


async def _settled(relay: RelayEnv, codes: list[str]) -> dict[str, int]:
    """The clock ticked and, while the workers have something left, run once more until
    idle, until the router and the workers have nothing left (the access log's heads the
    router signs at a tick go to the insurers as witnesses, whose answers come back to the
    router): each group's lag."""
    lags: dict[str, int] = {}
    for _ in range(4):
        if any(lags.values()):
            await asyncio.to_thread(run_workers, relay, codes)
        await relay.tick(relay.ticks[-1] + timedelta(seconds=1))
        deadline = time.monotonic() + 120
        while True:
            lags = await _lags(relay, codes)
            conn = await relay.connect()
            try:
                outbox = await conn.fetchval("SELECT count(*) FROM outbox")
            finally:
                await conn.close()
            if (lags[ROUTER] == 0 and outbox == 0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if not any(lags.values()):
            break
    return lags


async def _replies(relay: RelayEnv, codes: list[str]) -> dict[UUID, dict[str, Any]]:
    """Every reply on the insurers' reply topics by its id (read_committed), with what its
    sealed answer opens to in place of the seal and without its relay time; no id twice."""
    topics = [participant_topics(code)[1] for code in codes]
    found = [decode_relay(bytes(r.value), ExchangeReply) for r in await read_to_end(
        relay.cfg.kafka(TESTS), relay.partitions(topics))]
    keys = {code: load_private_key(relay.cfg, Participant(role_of(code), code))
            for code in codes}
    twice = [i for i, n in Counter(r.reply_id for r in found).items() if n > 1]
    assert twice == [], f"{len(twice)} replies delivered twice"
    out = {}
    for r in found:
        body = r.model_dump(mode="json", exclude={"relay_time", "sealed_answer"})
        if r.sealed_answer is not None:
            body["answer"] = opened(relay, r, keys[r.asker_code])
        out[r.reply_id] = body
    return out


async def test_killed_insurer_workers_answer_each_person_once(stack: StackConfig, unique: str,
                                                              fault_run: FaultRun) -> None:
    rng = fault_run.rng()
    calm, killed = await make_env(stack, unique), await make_env(stack, f"{unique}w")
    try:
        codes, reqs = await _prepared(calm)
        codes_k, reqs_k = await _prepared(killed)
        assert (codes_k, reqs_k) == (codes, reqs)
        calm_done = asyncio.ensure_future(_calm(calm, codes, reqs))

        async with LagWatch(killed) as watch:
            await ask_all(killed, reqs)
            router = spawn(killed, "relay-exchange", None, RATE)
            publisher = spawn(killed, "outbox-publisher", None)
            stop = asyncio.Event()
            ticking = asyncio.ensure_future(_ticking(killed, stop))
            try:
                kills = await _kill_workers(killed, codes, len(reqs), rng)
            finally:
                stop.set()
                await ticking
            try:
                lags = await _settled(killed, codes)
                # the lag monitor, which never lost the broker, ends with the router caught up
                await watch.until(lambda s: caught_up(s, ROUTER), "the router OK with lag 0")
                assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()
            finally:
                for proc in (router, publisher):
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(timeout=60) == 0, "the router or publisher did not stop"
        await calm_done
        print(dict(sorted(kills.items())))
        assert lags == dict.fromkeys(lags, 0), lags
        for point in POINTS:
            assert kills[f"{point}: SIGKILL"] >= 1, kills
        assert kills["random SIGKILL after answering"] >= 1, kills
        conn = await killed.connect()
        try:
            counted = await store.counts(conn)
        finally:
            await conn.close()
        again = sum(n for (_, why), n in counted.items() if why == "duplicate_answer")
        assert again >= 1, "no answer was sent twice: the after-answer kill tested nothing"

        expected, got = await _replies(calm, codes), await _replies(killed, codes)
        answered = [r for r in got.values() if r["outcome"] == ExchangeOutcome.ANSWERED.value]
        fault_run.carried(len(answered))
        print(f"{len(reqs)} requests, {len(answered)} answered replies, "
              f"{again} answers sent twice")
        assert not [r for r in got.values() if r["outcome"] == "unavailable"]
        assert got == expected
    finally:
        await drop_env(calm)
        await drop_env(killed)
