"""The main job end to end: the stack up, the relay's processors running, a synthetic population
published exactly as the filers would, and a report of what the relay did with it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import FilingOutcome, MessageRejected, decode_relay
from schemas.topics import FILING_OUTCOME, LINK_CHANGE
from shaho.config import StackConfig

PROCESSORS = ("relay-linker", "outbox-publisher")
RATE = 1000  # filings per second, published in chunks as filers' systems would
CHUNK = 50


@dataclass
class Observed:
    """What the relay published for the demo's filings."""

    outcomes: dict[UUID, FilingOutcome] = field(default_factory=dict)
    outcome_ms: dict[UUID, int] = field(default_factory=dict)
    link_changes: Counter[str] = field(default_factory=Counter)


async def publish_population(cfg: StackConfig, persons: int, seed: int) -> tuple[dict, int]:
    """Publish the population as the filers would; return {event_id: publish ms} and bad count."""
    from producers.population import generate
    from producers.publisher import FilingPublisher

    population = generate(seed, persons, date(2025, 1, 1))
    publisher = FilingPublisher(cfg.bootstrap_servers)
    await publisher.start()
    sent: dict[UUID, int] = {}
    try:
        for start in range(0, len(population.filings), CHUNK):
            chunk = population.filings[start:start + CHUNK]
            began = time.monotonic()
            now_ms = int(time.time() * 1000)
            sent.update((f.event_id, now_ms) for f in chunk)
            await publisher.publish(chunk)
            await asyncio.sleep(max(0.0, CHUNK / RATE - (time.monotonic() - began)))
    finally:
        await publisher.stop()
    raw = AIOKafkaProducer(bootstrap_servers=cfg.bootstrap_servers, enable_idempotence=True)
    await raw.start()
    try:
        for topic, value in population.bad_records:
            await raw.send_and_wait(topic, value, key=b"demo-broken-filer:unknown")
    finally:
        await raw.stop()
    return sent, len(population.bad_records)


async def observe(cfg: StackConfig, wanted: set[UUID], seconds: float) -> Observed:
    """Read outcomes (and link changes) until every wanted filing has a final outcome."""
    seen = Observed()
    consumer = AIOKafkaConsumer(FILING_OUTCOME.physical, LINK_CHANGE.physical,
                                bootstrap_servers=cfg.bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not _settled(seen, wanted):
            batch = await consumer.getmany(timeout_ms=500)
            for record in (r for rs in batch.values() for r in rs):
                _note(seen, record, wanted)
    finally:
        await consumer.stop()
    return seen


def _settled(seen: Observed, wanted: set[UUID]) -> bool:
    return all(e in seen.outcomes and seen.outcomes[e].status != "parked" for e in wanted)


def _note(seen: Observed, record: object, wanted: set[UUID]) -> None:
    topic, value, ts = record.topic, record.value, record.timestamp  # type: ignore[attr-defined]
    if topic == LINK_CHANGE.physical:
        seen.link_changes[value.split(b'"change":"')[1].split(b'"')[0].decode()] += 1
        return
    try:
        outcome = decode_relay(value, FilingOutcome)
    except MessageRejected:
        return
    if outcome.event_id in wanted:
        seen.outcomes[outcome.event_id] = outcome
        seen.outcome_ms.setdefault(outcome.event_id, ts)


async def database_counts(cfg: StackConfig) -> dict[str, int | dict[str, int]]:
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        anomalies = {r["code"]: r["n"] for r in await conn.fetch(
            "SELECT code, count(*) AS n FROM anomalies GROUP BY code ORDER BY code")}
        return {
            "persons": await conn.fetchval("SELECT count(*) FROM persons"),
            "links": await conn.fetchval("SELECT count(*) FROM links WHERE retracted_by IS NULL"),
            "open links": await conn.fetchval(
                "SELECT count(*) FROM links WHERE retracted_by IS NULL AND valid_to IS NULL"),
            "parked": await conn.fetchval("SELECT count(*) FROM parked_filings"),
            "anomalies": anomalies,
        }
    finally:
        await conn.close()


def report(sent: dict[UUID, int], bad: int, seen: Observed, counts: dict) -> list[str]:
    statuses = Counter(o.status.value for o in seen.outcomes.values())
    refusals = Counter(r.code for o in seen.outcomes.values() if o.status.value == "refused"
                       for r in o.reasons[:1])
    latencies = sorted(seen.outcome_ms[e] - sent[e] for e in seen.outcome_ms if e in sent)
    lines = [
        f"filings published: {len(sent)} (+{bad} malformed records pushed by a broken filer)",
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f", none yet {len(sent) - len(seen.outcomes)}",
        "refused by first reason: " + (", ".join(f"{k} {v}" for k, v in refusals.most_common())
                                       or "none"),
        "link changes published: " + ", ".join(f"{k} {v}" for k, v in
                                               sorted(seen.link_changes.items())),
        f"relay database: {counts['persons']} persons, {counts['links']} links "
        f"({counts['open links']} open), {counts['parked']} filings parked",
        "anomalies: " + (", ".join(f"{k} {v}" for k, v in counts["anomalies"].items()) or "none"),
    ]
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        lines.append(f"publish → outcome latency at {RATE}/s: p50 {p50:.0f} ms, p99 {p99} ms "
                     f"(over {len(latencies)} filings; first outcome of each)")
    return lines


def run_demo(cfg: StackConfig, persons: int, seed: int, keep_running: bool) -> int:
    from infra.stack import down, is_up, up
    from shaho import processes

    started = not is_up(cfg)
    for line in up(cfg):
        print(line)
    try:
        for name in PROCESSORS:
            print(f"started {name} (pid {processes.spawn(cfg, name)})")
        print(f"publishing a synthetic population of {persons} persons (seed {seed}) ...")
        sent, bad = asyncio.run(publish_population(cfg, persons, seed))
        seen = asyncio.run(observe(cfg, set(sent), seconds=120 + len(sent) / 100))
        for line in report(sent, bad, seen, asyncio.run(database_counts(cfg))):
            print(line)
        print("dead letters: see `bin/shaho dlq list`; a person's links: `bin/shaho links ID`")
    finally:
        if not keep_running:
            for name in PROCESSORS:
                processes.stop(cfg, name)
            if started:
                for line in down(cfg):
                    print(line)
    return 0
