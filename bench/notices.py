"""How long a notice takes: from the relay clock tick that makes it due being published to the
notice readable (read_committed) on the participant's notices topic, under a steady calendar.

A synthetic population is filed day by day in a namespace of the bench's own: each simulated
day its filings are published, then the relay clock ticks at the end of that day, `rate` days
per second. The relay linker, the notifications processor and the outbox publisher run as
their own `shaho run` processes. Each notice carries the relay time of the clock step that
judged it, so its latency is its arrival minus the wall time that tick was published. A raw
baseline in the same run: a record consumed, one PostgreSQL transaction writing an outbox-like
row and the position, a transactional produce, the record read back read_committed.
Writes `bench/reports/notices.{json,md}`. A benchmark, never a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import time
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from bench.baseline import SCRATCH_TABLES, scratch_topic
from bench.exchange import percentile
from bench.linker import REPORTS, Scratch, _publish, _records, write_report
from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import (
    KafkaLogin,
    idempotent_producer,
    processor_consumer,
    reader,
    transactional_producer,
)
from infra import namespace, processes
from infra.principals import BENCH, RELAY_CLOCK_PRINCIPAL
from notification_streams.processor import GROUP as NOTIFICATIONS
from relay_clock.clock import RelayClock
from schemas import decode_relay
from schemas.envelope import JST
from schemas.notices import RelayNotice
from schemas.payload import FilerKind
from schemas.topics import NOTICES, notices_topic
from synthetic.population import Population, generate
from trust.encryption_keys import ensure_encryption_keys
from trust.keys import clock_signer
from trust.pki import Participant, ensure_participants

PROCESSORS = ("relay-linker", "notifications", "outbox-publisher")
AFTER = 16  # days the calendar runs on past the last filing: its losses' reminders fall due
CATCH_UP = 900.0  # seconds the processors get, after the last tick, to judge it and publish
DRAIN = 60.0  # seconds waited after that for the notices still owed
ROLES = {FilerKind.MUNICIPALITY: "municipality", FilerKind.INSURER: "insurer",
         FilerKind.PENSION: "pension"}


def summary(waits_ms: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max of `waits_ms` (NaN when none)."""
    return {"count": len(waits_ms), "p50_ms": percentile(waits_ms, 0.50),
            "p99_ms": percentile(waits_ms, 0.99),
            "max_ms": max(waits_ms) if waits_ms else float("nan")}


def calendar(population: Population) -> list[tuple[date, list[int]]]:
    """Each simulated day from the first filing to AFTER days past the last, with the indexes
    of the filings made that day (by their filing time, in Japan)."""
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, f in enumerate(population.filings):
        by_day[f.occurred_at.astimezone(JST).date()].append(i)
    first, last = min(by_day), max(by_day) + timedelta(days=AFTER)
    return [(first + timedelta(days=n), by_day.get(first + timedelta(days=n), []))
            for n in range((last - first).days + 1)]


def end_of(day: date) -> datetime:
    """The tick that closes `day`: 23:59 in Japan."""
    return datetime.combine(day, clock_time(23, 59), tzinfo=JST)


def latencies(ticks: dict[datetime, float], arrivals: list[tuple[datetime, float]]
              ) -> tuple[list[float], int]:
    """Each notice's wait in ms: its arrival (wall s) minus the publication (wall s) of the
    tick at its relay time; and how many named a relay time no tick of the bench had."""
    waits, unknown = [], 0
    for relay_time, arrived in arrivals:
        sent = ticks.get(relay_time)
        if sent is None:
            unknown += 1
            continue
        waits.append((arrived - sent) * 1000)
    return waits, unknown


async def _read_notices(login: KafkaLogin, topics: list[str], into: list[tuple[Any, float]],
                        steps: Counter[str], stop: asyncio.Event) -> None:
    consumer = reader(login, *topics)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for r in records:
                    notice = decode_relay(bytes(r.value), RelayNotice)
                    into.append((notice.relay_time, now))
                    steps[f"{notice.rule.value}:{notice.step.value}"] += 1
    finally:
        await consumer.stop()


async def _caught_up(cfg: StackConfig, last: datetime) -> float:
    """Seconds until the notifications processor has judged the clock step of `last` and the
    outbox holds nothing more to publish (the linker may still be working through the
    calendar when the ticking ends: the notices are read only after this); RuntimeError
    after CATCH_UP seconds."""
    began = time.monotonic()
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        while True:
            judged = await conn.fetchval(
                "SELECT relay_time FROM relay_clock WHERE group_id = $1", NOTIFICATIONS)
            if judged is not None and judged >= last and not await conn.fetchval(
                    "SELECT count(*) FROM outbox"):
                return time.monotonic() - began
            if time.monotonic() - began > CATCH_UP:
                raise RuntimeError(f"the notifications processor had not judged the last tick "
                                   f"{CATCH_UP:.0f} s after it (at {judged})")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


def _participants(population: Population) -> list[Participant]:
    return [Participant(ROLES[k], c) for c, k in sorted(population.filer_kinds.items())
            if k in ROLES]


async def relay_run(cfg: StackConfig, population: Population, rate: float) -> dict[str, Any]:
    """The relay's notices under `rate` simulated days per second."""
    ensure_participants(cfg, [Participant(k.value, c)
                              for c, k in population.filer_kinds.items()])
    addressees = _participants(population)
    ensure_encryption_keys(cfg, addressees)
    days = calendar(population)
    async with Scratch(cfg, "n") as ns:
        await namespace.participant_topics(ns.cfg, ns.topics, [NOTICES])
        records = _records(cfg, population, ns.topics)
        pids = {name: processes.spawn(ns.cfg, name) for name in PROCESSORS}
        arrivals: list[tuple[Any, float]] = []
        steps: Counter[str] = Counter()
        stop = asyncio.Event()
        topics = [ns.topics.physical(notices_topic(p.code)) for p in addressees]
        read = asyncio.create_task(_read_notices(cfg.kafka(BENCH), topics, arrivals, steps,
                                                 stop))
        clock = RelayClock(cfg.kafka(RELAY_CLOCK_PRINCIPAL), ns.topics,
                           Keyring.load(cfg.keyring_path), clock_signer(cfg))
        await clock.start()
        ticks: dict[datetime, float] = {}
        try:
            await asyncio.sleep(5)  # processors started, reader assigned
            began = time.monotonic()
            for n, (day, filed) in enumerate(days):
                if filed:
                    await _publish([records[i] for i in filed], cfg.kafka(BENCH))
                tick = await clock.tick(end_of(day))
                ticks[tick.relay_time] = time.time()
                await asyncio.sleep(max(0.0, began + (n + 1) / rate - time.monotonic()))
            ticked = time.monotonic() - began
            behind = await _caught_up(ns.cfg, tick.relay_time)
            settled = time.monotonic() + DRAIN
            seen = -1
            while time.monotonic() < settled and len(arrivals) != seen:
                seen = len(arrivals)
                await asyncio.sleep(5)
        finally:
            stop.set()
            await read
            await clock.stop()
            for name in PROCESSORS:
                processes.stop(ns.cfg, name)
        conn = await asyncpg.connect(ns.cfg.pg_dsn())
        try:
            sent = await conn.fetchval("SELECT count(*) FROM notifications_sent")
            inbox = await conn.fetchval("SELECT count(*) FROM person_inbox")
        finally:
            await conn.close()
    waits, unknown = latencies(ticks, arrivals)
    return {"days": len(days), "rate_days_per_s": rate, "ticking_s": ticked,
            "caught_up_s": behind,
            "filings": len(population.filings), "notices_sent": sent, "inbox_copies": inbox,
            "topic_copies": len(arrivals), "unmatched": unknown,
            "by_step": dict(sorted(steps.items())), "pids": pids, **summary(waits)}


async def raw_baseline(cfg: StackConfig, count: int, rate: float) -> dict[str, Any]:
    """The same shape without the relay: `count` records at `rate`/s, each consumed, one
    PostgreSQL transaction (an outbox-like row and the position), a transactional produce,
    read back read_committed; latency from the send to the read."""
    tag = uuid.uuid4().hex[:8]
    src, dst = f"bench.rawn.{tag}.in", f"bench.rawn.{tag}.out"
    kafka = cfg.kafka(BENCH)
    await scratch_topic(kafka, src, 1)
    await scratch_topic(kafka, dst, 1)
    sent: dict[bytes, float] = {}
    arrived: dict[bytes, float] = {}
    db = f"bench_rawn_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(cfg.pg_dsn())
    await admin.execute(f'CREATE DATABASE "{db}"')
    conn = await asyncpg.connect(cfg.pg_dsn(db))
    await conn.execute(SCRATCH_TABLES)
    consumer = processor_consumer(kafka, f"bench-{src}")
    await consumer.start()
    consumer.assign([TopicPartition(src, 0)])
    producer = transactional_producer(kafka, f"bench-{src}")
    await producer.start()
    back = reader(kafka, dst)
    await back.start()
    done, all_back = asyncio.Event(), asyncio.Event()

    async def relay() -> None:
        while not done.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for tp, records in batch.items():
                for r in records:
                    async with conn.transaction():
                        await conn.execute("INSERT INTO bench_outbox (id, body) VALUES ($1, $2)",
                                           uuid.uuid4(), r.value)
                        await conn.execute(
                            "INSERT INTO bench_offsets VALUES ($1, $2, $3) ON CONFLICT "
                            "(topic, partition) DO UPDATE SET next_offset = "
                            "EXCLUDED.next_offset", tp.topic, tp.partition, r.offset + 1)
                    async with producer.transaction():
                        await producer.send(dst, r.value, key=r.key)

    async def read_back() -> None:
        while len(arrived) < count and not done.is_set():
            batch = await back.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for r in records:
                    arrived.setdefault(r.key, now)
        all_back.set()

    tasks = [asyncio.create_task(relay()), asyncio.create_task(read_back())]
    source = idempotent_producer(kafka)
    await source.start()
    try:
        await asyncio.sleep(2)
        began = time.monotonic()
        for n in range(count):
            key = f"{n}".encode()
            sent[key] = time.time()
            await source.send_and_wait(src, b"x" * 300, key=key)
            await asyncio.sleep(max(0.0, began + (n + 1) / rate - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_back.wait(), 30)
    finally:
        done.set()
        await asyncio.gather(*tasks)
        for client in (source, producer, back, consumer):
            await client.stop()
        await conn.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
    waits = [(arrived[k] - sent[k]) * 1000 for k in sent if k in arrived]
    return {"sent": count, "rate_per_s": rate, "lost": count - len(waits), **summary(waits)}


async def run(cfg: StackConfig, persons: int = 400, seed: int = 7,
              rate: float = 10.0, reports: Path = REPORTS) -> dict[str, Any]:
    population = generate(seed, persons, date(2025, 1, 1))
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seed": seed, "persons": persons,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}"}
    result["relay"] = await relay_run(cfg, population, rate)
    result["relay"].pop("pids")
    copies = max(result["relay"]["topic_copies"], 50)
    result["raw"] = await raw_baseline(cfg, copies, min(copies / result["relay"]["ticking_s"]
                                                        * 4, 200.0))
    write_report(reports, "notices", result, markdown(result))
    return result


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:,.0f} ms"


def _few(count: int) -> str:
    if count >= 100:
        return ""
    return (f"\n\nWith {count} notices the p99 is the slowest one: a small sample, read it as "
            "an order of magnitude.")


def _row(name: str, d: dict[str, Any]) -> str:
    return (f"| {name} | {d['count']} | {_ms(d['p50_ms'])} | {_ms(d['p99_ms'])} | "
            f"{_ms(d['max_ms'])} |")


def markdown(r: dict[str, Any]) -> str:
    relay, raw = r["relay"], r["raw"]
    ratio = (relay["p50_ms"] / raw["p50_ms"]) if raw["p50_ms"] == raw["p50_ms"] and \
        raw["p50_ms"] > 0 else float("nan")
    steps = ", ".join(f"{k} {v}" for k, v in relay["by_step"].items()) or "none"
    return f"""# Notice latency

{r['when']}, {r['machine']}; synthetic population of {r['persons']} persons (seed {r['seed']}).

The population's {relay['filings']} filings are published day by day over {relay['days']}
simulated days, the relay clock ticking at the end of each day, {relay['rate_days_per_s']:g}
days per second ({relay['ticking_s']:.1f} s of ticking; the processors had judged the last tick
and published every notice {relay.get('caught_up_s', float('nan')):.1f} s after the ticking
ended, and the notices were read only then). The relay linker, the notifications
processor and the outbox publisher run as `shaho run` processes in a namespace of the bench's
own. A notice's latency runs from the wall time the tick of the clock step that judged it was
published to the notice read, read_committed, on its participant's
`participant.<code>.notices.v1`.

| | notices | p50 | p99 | max |
|---|---|---|---|---|
{_row("relay: tick published → notice readable", relay)}
{_row("raw: record published → consumed, one PostgreSQL transaction (outbox-like row "
      f"+ position), transactional produce → readable ({raw['rate_per_s']:.0f}/s)", raw)}

The relay's p50 is {ratio:.1f}× the raw loop's. The processor sent {relay['notices_sent']}
notices: {relay['inbox_copies']} copies to persons' inboxes, {relay['topic_copies']} read on the
participants' topics ({relay['unmatched']} naming a relay time no tick of the bench had; raw
records lost: {raw['lost']}). By rule and step, as read: {steps}.{_few(relay['count'])}

What it does not measure: the inbox copies (a PostgreSQL table, no reader); a notice triggered
by a link change (a follow-up: resolved, withdrawn, corrected) is judged at the next clock step,
so its latency from the link change is the time to that tick plus the figure above, and the
clock's period is the bench's ({1 / relay['rate_days_per_s']:.2f} s), not production's one
second; the load is the synthetic population's, a few notices per tick, not a heavy day's
thousands (`pending_deadlines.md` measures that day's processing alone); the raw loop runs in
one process with one transaction per record, where the relay's path has three processes and the
linker's forwarding of the tick in between.
"""
