"""The main job end to end: the stack up, the relay's processors running, a synthetic population
published exactly as the filers would, and a report of what the relay did with it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import FilingOutcome, MessageRejected, decode_relay
from schemas.relay import furthest
from schemas.topics import FILING_OUTCOME, LINK_CHANGE, MAX_MESSAGE_BYTES, PREFIX_ENV, physical
from shaho.config import StackConfig

PROCESSORS = ("relay-linker", "outbox-publisher")
DEMO_PREFIX, DEMO_DATABASE = "demo.", "shaho_demo"
QUIET = 4.0  # seconds without a new outcome once every filing has one: the relay is done


@dataclass
class Observed:
    """What the relay published for the demo's filings."""

    outcomes: dict[UUID, FilingOutcome] = field(default_factory=dict)
    link_changes: Counter[str] = field(default_factory=Counter)
    first_ms: int = 0
    last_ms: int = 0


async def publish_population(cfg: StackConfig, persons: int, seed: int) -> tuple[set, int]:
    """Publish the population as its filers would; return the event ids and the bad count."""
    from producers.population import generate
    from producers.publisher import FilingPublisher
    from producers.routing import Outgoing

    population = generate(seed, persons, date(2025, 1, 1))
    async with FilingPublisher(cfg.bootstrap_servers) as publisher:
        await publisher.publish(Outgoing(f, physical(population.topic_of(f)))
                                for f in population.filings)
    raw = AIOKafkaProducer(bootstrap_servers=cfg.bootstrap_servers, enable_idempotence=True)
    await raw.start()
    bad = 0
    try:
        for topic, value in population.bad_records:
            if len(value) < MAX_MESSAGE_BYTES:  # the broker refuses larger ones at the edge
                await raw.send_and_wait(physical(topic), value, key=b"demo-broken-filer:1")
                bad += 1
    finally:
        await raw.stop()
    return {f.event_id for f in population.filings}, bad


async def observe(cfg: StackConfig, wanted: set[UUID], seconds: float) -> Observed:
    """Read outcomes (and link changes) until every filing has one and the relay is quiet."""
    seen = Observed()
    consumer = AIOKafkaConsumer(FILING_OUTCOME.physical, LINK_CHANGE.physical,
                                bootstrap_servers=cfg.bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    deadline, quiet_since = time.monotonic() + seconds, time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records = [r for rs in batch.values() for r in rs]
            for record in records:
                _note(seen, record, wanted)
            if records:
                quiet_since = time.monotonic()
            elif wanted <= set(seen.outcomes) and time.monotonic() - quiet_since > QUIET:
                break
    finally:
        await consumer.stop()
    return seen


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
        seen.outcomes[outcome.event_id] = furthest(seen.outcomes.get(outcome.event_id), outcome)
        seen.first_ms = min(seen.first_ms or ts, ts)
        seen.last_ms = max(seen.last_ms, ts)


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


def report(sent: set[UUID], bad: int, seen: Observed, counts: dict) -> list[str]:
    statuses = Counter(o.status.value for o in seen.outcomes.values())
    refusals = Counter(r.code for o in seen.outcomes.values() if o.status.value == "refused"
                       for r in o.reasons[:1])
    parked = Counter(r.code for o in seen.outcomes.values() if o.status.value == "parked"
                     for r in o.reasons[:1])
    seconds = max(seen.last_ms - seen.first_ms, 1) / 1000
    return [
        f"filings published: {len(sent)} (+{bad} malformed records pushed by a broken filer)",
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f", none yet {len(sent) - len(seen.outcomes)}",
        "refused by first reason: " + _counts(refusals),
        "still parked (waiting, within the 14-day bound) by reason: " + _counts(parked),
        "link changes published: " + _counts(seen.link_changes),
        f"relay database: {counts['persons']} persons, {counts['links']} links "
        f"({counts['open links']} open), {counts['parked']} filings parked",
        "anomalies: " + _counts(Counter(counts["anomalies"])),
        f"dead letters: {bad} (encrypted, with reason and source offset)",
        f"throughput: {len(sent) / seconds:.0f} filings/s from the first outcome to the last "
        f"({seconds:.1f} s); bench/ measures latency at a steady 1,000/s",
    ]


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def _use_demo_namespace(cfg: StackConfig) -> StackConfig:
    """Recreate the demo's own database and topics; later steps and child processes use them."""
    from infra import namespace

    asyncio.run(namespace.drop(cfg, DEMO_PREFIX, DEMO_DATABASE))
    asyncio.run(namespace.create(cfg, DEMO_PREFIX, DEMO_DATABASE))
    os.environ[PREFIX_ENV] = DEMO_PREFIX
    os.environ["SHAHO_PG_DATABASE"] = DEMO_DATABASE
    return StackConfig.from_env(cfg.root)


async def _sample_person(cfg: StackConfig) -> str | None:
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        return await conn.fetchval(
            "SELECT relay_id FROM links GROUP BY relay_id ORDER BY count(*) DESC, relay_id "
            "LIMIT 1")
    finally:
        await conn.close()


def run_demo(cfg: StackConfig, persons: int, seed: int, keep_running: bool) -> int:
    from infra.stack import down, is_up, up
    from shaho import processes

    started = not is_up(cfg)
    for line in up(cfg):
        print(line)
    try:
        demo = _use_demo_namespace(cfg)
        print(f"demo namespace: database {DEMO_DATABASE}, topics {DEMO_PREFIX}* (recreated)")
        print(f"publishing a synthetic population of {persons} persons (seed {seed}): about "
              f"14 months of filings, published at once as a backlog ...")
        sent, bad = asyncio.run(publish_population(demo, persons, seed))
        for name in PROCESSORS:
            print(f"started {name} (pid {processes.spawn(demo, name)})")
        seen = asyncio.run(observe(demo, sent, seconds=120 + len(sent) / 50))
        for line in report(sent, bad, seen, asyncio.run(database_counts(demo))):
            print(line)
        sample = asyncio.run(_sample_person(demo))
        print(f"look inside: run the demo with --keep-running, export "
              f"SHAHO_TOPIC_PREFIX={DEMO_PREFIX} SHAHO_PG_DATABASE={DEMO_DATABASE}, then "
              f"bin/shaho links {sample} | anomalies | dlq list")
    finally:
        if not keep_running:
            for name in PROCESSORS:
                processes.stop(cfg, name)
            if started:
                for line in down(cfg):
                    print(line)
    return 0
