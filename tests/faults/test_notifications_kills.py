"""The notifications processor SIGKILLed again and again, the outbox publisher too: every notice
copy is sent exactly once, and the run gives what a run without kills gives.

One test checks two properties at once, to run the relay's part once per namespace: the same
synthetic population (seed 59: NHI and pension-switch reminders and their resolutions,
double-enrolment steps, age milestones), ticked every two weeks over its fourteen months, goes
into two namespaces through the linker and the publisher; the calm one runs the processor once
with SHAHO_NOTIFICATIONS_BATCH=400, the other with 25 under 10 kills drawn over the calendar,
its outbox drained by publishers killed at random and at their fault points (in the Kafka
transaction, before the position, after the commit). No copy twice on the notices topics and
every copy the ledger counts delivered, in each run; then equal notices (ids, contents, the
numbers the seals open to), inbox rows and ledger: kills lose and repeat nothing, and the
batch size changes nothing. At the end the processor's group has no lag (the calendar closes
with a tick that lets the processor take in what the linker made at the one before), and the
lag monitor, which never lost the broker, says it OK with lag 0."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from consumers.reading import read_committed
from groundfloor.config import StackConfig
from infra.principals import TESTS
from infra.topics_admin import NOTICE_ROLES, addressed_codes
from notification_streams.processor import GROUP
from schemas.envelope import JST, Filing
from schemas.topics import FORWARDED_TICK_TOPICS, NOTICES
from synthetic.population import Population, generate
from tests.faults.chaos import FAULTS, lag, spawn
from tests.faults.conftest import FaultRun
from tests.faults.monitor import LagWatch, caught_up
from tests.integration.notifications_env import inbox, notices_of
from tests.integration.relay_env import RelayEnv, drop_env, make_env, publish_in_phases
from trust.pki import Participant, list_participants

pytestmark = pytest.mark.integration

PERSONS = 880
EVERY = timedelta(days=14)
"""A tick every two weeks, from the first filing's day until three weeks after the last."""
CALM, SMALL = "400", "25"
BATCH = "SHAHO_NOTIFICATIONS_BATCH"
KILLS = 10
SPARE = 8
"""Clock steps at the calendar's end no kill is drawn on: an incarnation started near the end
can finish all that is left before its kill lands, and such a kill interrupts nothing."""
Phases = list[tuple[datetime, list[tuple[str, Filing]]]]


def _calendar(population: Population) -> Phases:
    """The filings in phases of two weeks, each phase published after a tick at its end."""
    filings = sorted(population.filings, key=lambda f: f.occurred_at)
    first = filings[0].occurred_at.astimezone(JST)
    end = filings[-1].occurred_at + timedelta(days=21)
    at = datetime(first.year, first.month, first.day, 21, tzinfo=JST)
    phases: Phases = []
    while not phases or phases[-1][0] < end:
        phases.append((at, [(population.topic_of(f), f) for f in filings
                            if at - EVERY < f.occurred_at <= at]))
        at += EVERY
    assert sum(len(items) for _, items in phases) == len(filings)
    return phases


async def _relay_ready(relay: RelayEnv, phases: Phases) -> None:
    """The phases published and ticked, then a closing tick a relay second after the last; the
    linker's relay-internal records all published. (What the linker makes at a tick comes
    after that tick on its topics, and the processor takes it in at the next one: without the
    closing tick, what the last tick made would wait, unconsumed, for a tick that never
    comes.)"""
    await publish_in_phases(relay, phases)
    await relay.tick(relay.ticks[-1] + timedelta(seconds=1))
    for processor in ("relay-linker", "outbox-publisher"):
        assert await asyncio.to_thread(relay.run, processor) == 0, relay.last_output


async def _progress(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """The processor's clock epoch, its stored positions and the notices it sent so far."""
    row = await conn.fetchrow(
        "SELECT (SELECT coalesce(max(epoch), 0) FROM relay_clock WHERE group_id = $1), "
        "(SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = $1), "
        "(SELECT count(*) FROM notifications_sent)", GROUP)
    return row[0], row[1], row[2]


async def _consumed(relay: RelayEnv) -> int:
    """The records on the topics the processor reads (the clock's ticks forwarded there too),
    read committed: what the run carried."""
    topics = [relay.topic(t.name) for t in FORWARDED_TICK_TOPICS]
    return len(await read_committed(relay.cfg.kafka(TESTS), topics))


def _killed(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


async def _run_with_kills(relay: RelayEnv, rng: random.Random) -> Counter[str]:
    """`shaho run notifications` (batch 25) started again and again, each SIGKILLed a random
    moment after it has stored some progress and reached the clock step drawn for it (KILLS
    steps drawn over the calendar but its last SPARE, where an incarnation may finish all
    that is left before its kill: kills fall in folds, in judging chunks and between them);
    beside it the outbox publisher, armed at a random one of its fault points (in its
    Kafka transaction, before the position, after the commit) and sometimes SIGKILLed with
    the processor."""
    kills: Counter[str] = Counter()
    publisher: tuple[subprocess.Popen[bytes], str] | None = None
    conn = await relay.connect()
    try:
        last = len(relay.ticks)
        for target in sorted(rng.randint(1, last - SPARE) for _ in range(KILLS)):
            before = await _progress(conn)
            if before[0] >= last:
                break  # all done: no kill can fall mid-run any more
            if publisher is not None and publisher[0].poll() is not None:
                kills[f"outbox-publisher at {publisher[1]}: exit {publisher[0].returncode}"] += 1
                publisher = None
            if publisher is None:
                point = rng.choice(FAULTS["outbox-publisher"])
                publisher = (spawn(relay, "outbox-publisher", f"{point}:{rng.randint(1, 2)}"),
                             point)
            proc = spawn(relay, "notifications", None, {BATCH: SMALL})
            started = time.monotonic()
            while (now := await _progress(conn)) == before or now[0] < target - 1:
                assert proc.poll() is None, f"notifications exited {proc.returncode}"
                assert time.monotonic() - started < 180, "the processor makes no progress"
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0, 0.1))
            _killed(proc)
            done = (await _progress(conn))[0] >= last
            kills[f"notifications: SIGKILL {'once done' if done else 'mid-run'}"] += 1
            if rng.random() < 0.2 and publisher[0].poll() is None:
                _killed(publisher[0])
                kills["outbox-publisher: random SIGKILL"] += 1
                publisher = None
    finally:
        await conn.close()
        if publisher is not None:
            _killed(publisher[0])
    return kills


async def _publish_with_faults(relay: RelayEnv, rng: random.Random) -> Counter[str]:
    """The outbox drained by publishers armed each at a random fault point's first pass,
    until one gets through."""
    kills: Counter[str] = Counter()
    while True:
        point = rng.choice(FAULTS["outbox-publisher"])
        code = await asyncio.to_thread(relay.run, "outbox-publisher",
                                       {"SHAHO_FAULT": f"{point}:1"})
        if code == 0:
            return kills
        assert code == -signal.SIGKILL, relay.last_output
        kills[f"outbox-publisher at {point}: exit {code}"] += 1


def _participants(relay: RelayEnv) -> list[Participant]:
    """Every participant of the registry with a notices topic."""
    everyone = list_participants(relay.cfg)
    codes = set(addressed_codes([(p.role, p.code) for p in everyone], NOTICE_ROLES))
    return [p for p in everyone if p.code in codes]


async def _sent(relay: RelayEnv) -> dict[str, Any]:
    """What the processor sent: the participants' notices (each as decoded but for its random
    seal, with the number it opens to and its record key), the persons' inboxes and the
    ledger of notices."""
    topics = {code: [{**n.model_dump(mode="json", exclude={"sealed"}), "number": number,
                      "key": key.decode()} for n, number, key in found]
              for code, found in (await notices_of(relay, _participants(relay))).items()}
    conn = await relay.connect()
    try:
        ledger = [dict(r) for r in await conn.fetch("SELECT * FROM notifications_sent "
                                                    "ORDER BY notice_id")]
    finally:
        await conn.close()
    return {"topics": topics, "inbox": await inbox(relay), "ledger": ledger}


def _exactly_once(sent: dict[str, Any]) -> None:
    """No copy twice on the notices topics, and every copy the ledger counts is somewhere."""
    ids = Counter(n["notice_id"] for seq in sent["topics"].values() for n in seq)
    assert [i for i, n in ids.items() if n > 1] == [], "notice copies published twice"
    copies = sum(r["copies"] for r in sent["ledger"])
    assert copies == len(ids) + len(sent["inbox"]), "a copy the ledger counts is missing"


def _by_id(sent: dict[str, Any]) -> dict[str, Any]:
    return {"topics": {code: sorted(seq, key=lambda n: n["notice_id"])
                       for code, seq in sent["topics"].items()},
            "inbox": sorted(sent["inbox"], key=lambda r: r["copy_id"]),
            "ledger": sent["ledger"]}


async def test_killed_notifications_send_each_copy_once_whatever_the_batch(
    stack: StackConfig, unique: str, fault_run: FaultRun
) -> None:
    phases = _calendar(generate(59, PERSONS, datetime(2025, 1, 1).date()))
    calm, killed = await asyncio.gather(make_env(stack, unique, [NOTICES]),
                                        make_env(stack, f"{unique}k", [NOTICES]))
    try:
        await asyncio.gather(_relay_ready(calm, phases), _relay_ready(killed, phases))
        assert calm.ticks == killed.ticks

        async def calm_run() -> None:
            for processor, extra in (("notifications", {BATCH: CALM}),
                                     ("outbox-publisher", None)):
                code = await asyncio.to_thread(calm.run, processor, extra)
                assert code == 0, calm.last_output

        calm_done = asyncio.ensure_future(calm_run())
        async with LagWatch(killed) as watch:
            kills = await _run_with_kills(killed, fault_run.rng())
            assert await asyncio.to_thread(killed.run, "notifications", {BATCH: SMALL}) == 0, (
                killed.last_output)
            kills += await _publish_with_faults(killed, fault_run.rng())
            watch.mark("the processor drained")
            # the lag monitor, which never lost the broker, ends with the group caught up
            await watch.until(lambda s: caught_up(s, GROUP), "the notifications group OK, lag 0")
            assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()
        assert await lag(killed, GROUP, killed.partitions(FORWARDED_TICK_TOPICS)) == 0
        await calm_done
        print(dict(sorted(kills.items())))
        fault_run.carried(await _consumed(killed))
        assert kills["notifications: SIGKILL mid-run"] >= KILLS, kills
        assert sum(n for k, n in kills.items() if k.startswith("outbox-publisher at")) >= 1

        expected, got = await _sent(calm), await _sent(killed)
        rules = Counter(f"{r['rule']}:{r['step']}" for r in expected["ledger"])
        print(dict(sorted(rules.items())), {c: len(s) for c, s in expected["topics"].items()},
              f"{len(expected['inbox'])} inbox rows")
        assert {r.split(":")[0] for r in rules} >= {
            "nhi_enrolment_reminder", "age_65", "age_75", "double_enrolment"}
        assert expected["topics"] and expected["inbox"]
        _exactly_once(expected)
        _exactly_once(got)
        # killed with batch 25 as calm with batch 400: the same copies, ids and contents (the
        # seal's randomness aside: the numbers they open to), the same inbox rows and ledger
        assert _by_id(got) == _by_id(expected)
    finally:
        await asyncio.gather(drop_env(calm), drop_env(killed))
