"""The main job end to end: the stack up, the relay's processors running, a synthetic population
published exactly as the filers would, and a report of what the relay did with it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg
from aiokafka.structs import ConsumerRecord

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import idempotent_producer, reader
from infra import namespace, processes
from infra.principals import DEMO, RELAY_CLOCK_PRINCIPAL
from infra.stack import down, is_up, up
from producers.outcomes import Mailbox
from producers.routing import Outgoing
from producers.sender import FilingPublisher
from relay_clock.clock import RelayClock
from relay_linker.domain import PARKING_BOUND
from relay_linker.readback import AnomalyCount, anomaly_counts
from schemas import Filing, FilingOutcome, LinkChanged, decode_relay
from schemas.relay import furthest
from schemas.topics import LINK_CHANGE, MAX_MESSAGE_BYTES, OUTCOME_TOPICS, RECEIPTS
from shaho import demo_exchange, demo_notices, demo_reconciliation
from shaho.bootstrap import keyring, tick_at, topic_namespace
from staging import exchange_population
from synthetic.population import Population, generate
from trust.encryption_keys import ensure_encryption_keys
from trust.keys import FilerKeys, clock_signer
from trust.pki import Participant, ensure_participants, list_participants

PROCESSORS = ("relay-linker", "outbox-publisher")
DEMO_PREFIX, DEMO_DATABASE = "demo.", "shaho_demo"
QUIET = 4.0  # seconds without a new outcome once every filing has one: the relay is done
LIVE_TAIL, LIVE_RATE = 100, 50  # the last filings are sent one by one, as they happen
LIVE_TICK = 0.05  # seconds between the relay clock's ticks in the live phase
DEMO_STREAMS = namespace.ON_REQUEST_STREAMS - {RECEIPTS}
"""The demo's namespace has every per-participant stream but the insurers' receipts, which it
does not load."""


@dataclass
class Observed:
    """What the relay published for the demo's filings."""

    outcomes: dict[UUID, FilingOutcome] = field(default_factory=dict)
    link_changes: Counter[str] = field(default_factory=Counter)
    first_ms: int = 0
    last_ms: int = 0
    answered_ms: dict[UUID, int] = field(default_factory=dict)
    link_ids: set[UUID] = field(default_factory=set)
    mailbox: Mailbox | None = None
    """The filers' encryption keys: each outcome is read sealed and opened by its filer."""


async def publish_backlog(cfg: StackConfig, population: Population,
                          filings: list[Filing]) -> int:
    """Publish `filings` at once, then the malformed records; return how many of those landed."""
    topics = topic_namespace(cfg)
    ensure_participants(cfg, [Participant(kind.value, code)  # the live phase's filers too
                              for code, kind in population.filer_kinds.items()])
    await namespace.participant_topics(cfg, topics, DEMO_STREAMS)  # their notices' topics
    keys = FilerKeys(cfg, provision=True)
    async with FilingPublisher(cfg.kafka(DEMO), topics, keys) as publisher:
        await publisher.publish(Outgoing(f, population.topic_of(f)) for f in filings)
    raw = idempotent_producer(cfg.kafka(DEMO))
    await raw.start()
    bad = 0
    try:
        for (topic, value), filer in zip(population.bad_records, population.bad_filers,
                                         strict=True):
            if len(value) < MAX_MESSAGE_BYTES:  # the broker refuses larger ones at the edge
                key = f"{filer}:broken".encode()  # signed by its broken filer: it is answered
                await raw.send_and_wait(topics.physical(topic), value, key=key,
                                        headers=keys.headers(topic, key, value, filer))
                bad += 1
    finally:
        await raw.stop()
    return bad


async def publish_live(cfg: StackConfig, population: Population, filings: list[Filing],
                       sent: dict[UUID, int]) -> None:
    """Publish `filings` one by one at LIVE_RATE per second, noting when each was sent."""
    keys = FilerKeys(cfg, provision=True)
    async with FilingPublisher(cfg.kafka(DEMO), topic_namespace(cfg), keys) as publisher:
        for filing in filings:
            sent[filing.event_id] = int(time.time() * 1000)
            await publisher.publish([Outgoing(filing, population.topic_of(filing))])
            await asyncio.sleep(1 / LIVE_RATE)


async def live(cfg: StackConfig, population: Population, filings: list[Filing],
               seen: Observed, day: datetime) -> dict[UUID, int]:
    """The live phase: one simulated day, the clock ticking every LIVE_TICK seconds at it
    (the relay time does not move within a phase), filings sent one by one."""
    sent: dict[UUID, int] = {}
    everyone = {f.event_id for f in population.filings}
    watch = asyncio.create_task(observe(cfg, {f.event_id for f in filings}, 120, seen, everyone))
    clock = RelayClock(cfg.kafka(RELAY_CLOCK_PRINCIPAL), topic_namespace(cfg), keyring(cfg),
                       clock_signer(cfg))
    await clock.start()
    done = asyncio.Event()
    ticks = asyncio.create_task(clock.run(done, LIVE_TICK, at=day))
    try:
        await publish_live(cfg, population, filings, sent)
        await watch
    finally:
        done.set()
        await ticks
        await clock.stop()
    return sent


async def phase(cfg: StackConfig, day: datetime) -> str:
    """Move the simulated calendar to `day` between phases (nothing is in flight)."""
    return await tick_at(cfg, day)


def _day_after(filings: list[Filing]) -> datetime:
    """The simulated day a phase of filings is over: the latest of their filing times."""
    return max(f.occurred_at for f in filings)


async def observe(cfg: StackConfig, wanted: set[UUID], seconds: float,
                  seen: Observed | None = None, noted: set[UUID] | None = None) -> Observed:
    """Read outcomes (and link changes) until every wanted filing has one and the relay is
    quiet; outcomes of the `noted` filings (the wanted ones by default) are kept too."""
    seen = seen or Observed()
    noted = noted or wanted
    topics = topic_namespace(cfg)
    link_topic = topics.physical(LINK_CHANGE)
    if seen.mailbox is None:  # the demo files as every filer: it reads as each of them
        filers = [p for p in list_participants(cfg) if p.role in OUTCOME_TOPICS]
        ensure_encryption_keys(cfg, filers)
        seen.mailbox = Mailbox.load(cfg, filers)
    mailbox = seen.mailbox
    kinds = {topics.physical(OUTCOME_TOPICS[kind]): kind for kind in mailbox.kinds}
    consumer = reader(cfg.kafka(DEMO), *kinds, link_topic)
    await consumer.start()
    deadline, quiet_since = time.monotonic() + seconds, time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records = [r for rs in batch.values() for r in rs]
            for record in records:
                _note(seen, record, noted, link_topic, kinds)
            if records:
                quiet_since = time.monotonic()
            elif wanted <= set(seen.outcomes) and time.monotonic() - quiet_since > QUIET:
                break
    finally:
        await consumer.stop()
    return seen


def _note(seen: Observed, record: ConsumerRecord, wanted: set[UUID], link_topic: str,
          kinds: dict[str, str]) -> None:
    topic, value, ts = record.topic, record.value, record.timestamp
    if topic == link_topic:
        change = decode_relay(value, LinkChanged)
        if change.outbox_id not in seen.link_ids:  # a second pass reads from the start again
            seen.link_ids.add(change.outbox_id)
            seen.link_changes[change.change.value] += 1
        return
    assert seen.mailbox is not None
    outcome = seen.mailbox.open(kinds[topic], record.key, value)  # each filer opens its own
    if outcome is not None and outcome.event_id in wanted:
        seen.outcomes[outcome.event_id] = furthest(seen.outcomes.get(outcome.event_id), outcome)
        seen.first_ms = min(seen.first_ms or ts, ts)
        seen.last_ms = max(seen.last_ms, ts)
        seen.answered_ms.setdefault(outcome.event_id, ts)


async def database_counts(cfg: StackConfig) -> dict[str, int | dict[str, AnomalyCount]]:
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        anomalies = await anomaly_counts(conn)
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


def ids_of(population: Population) -> set[UUID]:
    return {f.event_id for f in population.filings}


def report(sent: set[UUID], bad: int, seen: Observed, counts: dict,
           live_sent: dict[UUID, int], backlog_seconds: float) -> list[str]:
    statuses = Counter(o.status.value for o in seen.outcomes.values())
    refusals = Counter(r.code for o in seen.outcomes.values() if o.status.value == "refused"
                       for r in o.reasons[:1])
    parked = Counter(r.code for o in seen.outcomes.values() if o.status.value == "parked"
                     for r in o.reasons[:1])
    waits = sorted(seen.answered_ms[e] - at for e, at in live_sent.items()
                   if e in seen.answered_ms)
    p50 = waits[len(waits) // 2] if waits else float("nan")
    p99 = waits[max(int(len(waits) * 0.99) - 1, 0)] if waits else float("nan")
    return [
        f"filings published: {len(sent)} (+{bad} malformed records pushed by a broken filer)",
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f", none yet {len(sent) - len(seen.outcomes)}",
        "refused by first reason: " + _counts(refusals),
        "still parked (waiting, within the 14-day bound) by reason: " + _counts(parked),
        "link changes published: " + _counts(seen.link_changes),
        f"relay database: {counts['persons']} persons, {counts['links']} links "
        f"({counts['open links']} open), {counts['parked']} filings parked",
        "anomalies: " + ("; ".join(f"{code} {n}" for code, n in counts["anomalies"].items())
                         or "none"),
        f"dead letters: {bad} (encrypted, with reason and source offset)",
        "outcomes read sealed from outcome.<kind>.v1, each opened with its filer's own key; "
        f"records that did not open: {seen.mailbox.unopened if seen.mailbox else 0}",
        f"backlog: {len(sent) - len(live_sent)} filings answered in {backlog_seconds:.1f} s "
        f"({(len(sent) - len(live_sent)) / backlog_seconds:.0f}/s)",
        f"latency, filing published → outcome readable, for the last {len(live_sent)} filings "
        f"sent live at {LIVE_RATE}/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
        "(bench/ measures it at 1,000/s)",
    ]


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def _use_demo_namespace(cfg: StackConfig) -> StackConfig:
    """Recreate the demo's own database and topics; return the settings that later steps and
    the child processes (through their environment) use."""
    asyncio.run(namespace.drop(cfg, DEMO_PREFIX, DEMO_DATABASE))
    return asyncio.run(namespace.create(cfg, DEMO_PREFIX, DEMO_DATABASE, DEMO_STREAMS))


async def _sample_person(cfg: StackConfig) -> str | None:
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        return await conn.fetchval(
            "SELECT relay_id FROM links GROUP BY relay_id ORDER BY count(*) DESC, relay_id "
            "LIMIT 1")
    finally:
        await conn.close()


def run_demo(cfg: StackConfig, persons: int, seed: int, keep_running: bool) -> int:
    started = not is_up(cfg)
    for line in up(cfg):
        print(line)
    try:
        demo = _use_demo_namespace(cfg)
        print(f"demo namespace: database {DEMO_DATABASE}, topics {DEMO_PREFIX}* (recreated)")
        population = generate(seed, persons, date(2025, 1, 1))
        tail = min(LIVE_TAIL, len(population.filings) // 10)
        backlog, live_tail = population.filings[:-tail], population.filings[-tail:]
        print(f"publishing a synthetic population of {persons} persons (seed {seed}): "
              f"{len(backlog)} filings over about 14 months at once, as a backlog ...")
        bad = asyncio.run(publish_backlog(demo, population, backlog))
        day = _day_after(backlog)
        print(f"relay clock, simulated calendar: {asyncio.run(phase(demo, day))} "
              "(the backlog's last filing day)")
        for name in PROCESSORS:
            print(f"started {name} (pid {processes.spawn(demo, name)})")
        began = time.monotonic()
        seen = asyncio.run(observe(demo, {f.event_id for f in backlog}, 120 + len(backlog) / 50))
        backlog_seconds = time.monotonic() - began - QUIET
        day = max(day, _day_after(live_tail))
        print(f"backlog answered; now the last {tail} filings, live, the clock ticking every "
              f"{LIVE_TICK * 1000:.0f} ms on {day.date()} ...")
        live_sent = asyncio.run(live(demo, population, live_tail, seen, day))
        later = day + PARKING_BOUND + timedelta(days=1)
        print(f"relay clock, simulated calendar: {asyncio.run(phase(demo, later))} (15 days "
              "on: whatever is still parked gets its final answer)")
        asyncio.run(observe(demo, set(), 30, seen, ids_of(population)))
        counts = asyncio.run(database_counts(demo))
        ids = {f.event_id for f in population.filings}
        for line in report(ids, bad, seen, counts, live_sent, backlog_seconds):
            print(line)
        members = asyncio.run(exchange_population.prepare(cfg, demo, population))
        asyncio.run(demo_reconciliation.make_topics(demo, population))
        for line in demo_exchange.start_processors(demo, population):
            print(line)
        print(demo_notices.start(demo))  # catches up on the relay's feeds meanwhile
        requests = exchange_population.questions(members, later)
        print(f"relayed exchange: {len(requests)} batched request(s) from the insurers with the "
              "most members, each about its own members' other insurers over a year ...")
        replies = asyncio.run(demo_exchange.ask_and_read(demo, requests, later))
        for line in demo_exchange.report(demo, replies):
            print(line)
        for line in asyncio.run(demo_exchange.pushed_changes(demo, population)):
            print(line)
        for line in asyncio.run(demo_exchange.witness_heads(demo, later)):
            print(line)
        for line in asyncio.run(demo_exchange.access_log(demo)):
            print(line)
        ticks, last = asyncio.run(demo_notices.move_clock(demo, later + timedelta(hours=1)))
        print("relay clock, simulated calendar: " + "; ".join(ticks) + " (two 1sts of a "
              "month: a monthly double-enrolment list each)")
        caught_up = asyncio.run(demo_notices.wait_done(demo, last))
        for line in asyncio.run(demo_notices.report(demo, population, caught_up)):
            print(line)
        print(asyncio.run(demo_reconciliation.load_receipts(demo, population, last)))
        for line in asyncio.run(demo_reconciliation.close_period(demo, last)):
            print(line)
        sample = asyncio.run(_sample_person(demo))
        print(f"look inside: run the demo with --keep-running, export "
              f"SHAHO_TOPIC_PREFIX={DEMO_PREFIX} SHAHO_PG_DATABASE={DEMO_DATABASE}, then "
              f"bin/shaho links {sample} | anomalies | dlq list")
    finally:
        if not keep_running:
            for name in PROCESSORS:
                processes.stop(cfg, name)
            demo_exchange.stop_processors(cfg)
            demo_notices.stop(cfg)
            if started:
                for line in down(cfg):
                    print(line)
    return 0
