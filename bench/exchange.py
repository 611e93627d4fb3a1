"""The relayed exchange's round trip, measured in one run next to a raw request/reply over the
same broker: single-person requests at a steady rate (A → relay → B → relay → A, timed from A's
send to A reading the answer), the rate steps that hold p99 ≤ 100 ms, and persons per second
through batched requests.

The router, the outbox publisher and the insurer workers run as their own processes in a
namespace of the bench's own; the population is filed and linked by the real linker first.
Writes `bench/reports/exchange.{json,md}`. A benchmark, never a test.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.baseline import scratch_topic
from bench.cpu import CpuMeter
from bench.linker import REPORTS, Scratch, _publish, _records, _servers, write_report
from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import KafkaLogin, idempotent_producer, reader
from infra import processes
from infra.principals import BENCH, RELAY_CLOCK_PRINCIPAL, participant_name
from insurer_workers.worker import InsurerIdentity, identity, role_of
from relay_clock.clock import RelayClock, tick_once
from relay_linker.domain import PARKING_BOUND
from schemas import decode_relay, encode
from schemas.exchange import ExchangeReply, ExchangeRequest
from schemas.exchange_terms import ExchangeOutcome
from schemas.topics import EXCHANGE_REQUEST, Namespace, participant_topics
from staging.exchange_population import insurers_of, prepare, questions
from synthetic.population import Population, generate
from trust.keys import clock_signer

P99_TARGET_MS = 100.0
TICK = 0.05  # the relay clock ticks every 50 ms, as in the demo
PROCESSORS = ("relay-exchange", "outbox-publisher", "insurer-worker")
DRAIN = 120.0  # seconds a phase waits after its last send for the answers still owed


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction in (0, 1]); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summary(waits_ms: list[float], sent: int) -> dict[str, Any]:
    """p50/p99/max of the round trips, and how many of the `sent` got none."""
    return {"sent": sent, "answered": len(waits_ms), "unanswered": sent - len(waits_ms),
            "p50_ms": percentile(waits_ms, 0.50), "p99_ms": percentile(waits_ms, 0.99),
            "max_ms": max(waits_ms) if waits_ms else float("nan"),
            "held": bool(waits_ms) and len(waits_ms) == sent
            and percentile(waits_ms, 0.99) <= P99_TARGET_MS}


@dataclass
class Replies:
    """What the askers read from their own replies topics, timed on arrival."""

    answered: dict[uuid.UUID, float] = field(default_factory=dict)  # first answer per request
    entries: dict[uuid.UUID, set[str]] = field(default_factory=dict)  # forwarded/refused entries
    reached: dict[uuid.UUID, int] = field(default_factory=dict)  # providers asked
    closed: dict[uuid.UUID, int] = field(default_factory=dict)  # answered or unavailable
    forwarded: dict[tuple[uuid.UUID, str], list[str]] = field(default_factory=dict)

    def take(self, reply: ExchangeReply, now: float) -> None:
        rid = reply.request_id
        if reply.outcome in (ExchangeOutcome.FORWARDED, ExchangeOutcome.REFUSED):
            self.entries.setdefault(rid, set()).add(reply.entry or "")
            if reply.outcome is ExchangeOutcome.FORWARDED:
                self.reached[rid] = self.reached.get(rid, 0) + len(reply.providers)
                self.forwarded[(rid, reply.entry or "")] = list(reply.providers)
        else:
            self.closed[rid] = self.closed.get(rid, 0) + 1
            if reply.outcome is ExchangeOutcome.ANSWERED:
                self.answered.setdefault(rid, now)

    def settled(self, rid: uuid.UUID, persons: int) -> bool:
        return (len(self.entries.get(rid, ())) >= persons
                and self.closed.get(rid, 0) >= self.reached.get(rid, 0))


async def _read_replies(login: KafkaLogin, topic: str, into: Replies, stop: asyncio.Event) -> None:
    consumer = reader(login, topic)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for record in (r for rs in batch.values() for r in rs):
                into.take(decode_relay(bytes(record.value), ExchangeReply), now)
    finally:
        await consumer.stop()


def insurer(cfg: StackConfig, code: str) -> InsurerIdentity:
    """Insurer `code` with its keys and its own broker principal, as the processors see it."""
    return identity(cfg, code, cfg.kafka(participant_name(role_of(code), code)))


class Askers:
    """One open, signing producer per asker (the demo's `send_request` opens one per request,
    which would be timed too)."""

    def __init__(self, cfg: StackConfig, codes: list[str]) -> None:
        self.cfg = cfg
        self.me: dict[str, InsurerIdentity] = {c: insurer(cfg, c) for c in codes}
        self.producers: dict[str, AIOKafkaProducer] = {}
        self.topic = Namespace(cfg.topic_prefix).physical(EXCHANGE_REQUEST)

    async def start(self) -> None:
        for code, me in self.me.items():
            self.producers[code] = idempotent_producer(me.kafka, linger_ms=0)
            await self.producers[code].start()

    async def send(self, request: ExchangeRequest) -> None:
        me = self.me[request.asker_code]
        key, value = request.kafka_key(), encode(request)
        await self.producers[request.asker_code].send(
            self.topic, value, key=key,
            headers=me.signer.headers(EXCHANGE_REQUEST.name, key, value))

    async def stop(self) -> None:
        for producer in self.producers.values():
            await producer.stop()


async def _paced(rate: int, seconds: float, send: Any) -> list[float]:
    """Call `send(i)` `rate` times a second for `seconds`; the send times."""
    total, sent = int(rate * seconds), []
    start = time.perf_counter()
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent.append(time.perf_counter())
        await send(i)
    return sent


async def _wait_for(done: Any, within: float) -> None:
    """Poll `done()` every 50 ms for at most `within` seconds."""
    for _ in range(int(within / 0.05)):
        if done():
            return
        await asyncio.sleep(0.05)


# The raw baseline: a request topic, an echo (consume, produce to the reply topic), a reply
# reader; no signature, no database. The echo runs in the bench's process as a task.

async def _echo(login: KafkaLogin, requests: str, replies: str, stop: asyncio.Event) -> None:
    consumer = reader(login, requests)
    producer = idempotent_producer(login, linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for record in (r for rs in batch.values() for r in rs):
                await producer.send(replies, record.value, key=record.key)
    finally:
        await producer.stop()
        await consumer.stop()


async def _raw_read(login: KafkaLogin, topic: str, seen: dict[int, float],
                    stop: asyncio.Event) -> None:
    consumer = reader(login, topic)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for record in (r for rs in batch.values() for r in rs):
                seen.setdefault(int(record.key), now)
    finally:
        await consumer.stop()


async def raw_round_trips(cfg: StackConfig, rates: list[int], seconds: float) -> dict[int, dict]:
    login = cfg.kafka(BENCH)
    tag = uuid.uuid4().hex[:8]
    requests, replies = f"bench.raw.{tag}.req", f"bench.raw.{tag}.rep"
    await scratch_topic(login, requests)
    await scratch_topic(login, replies)
    stop, seen = asyncio.Event(), {}
    tasks = [asyncio.create_task(_echo(login, requests, replies, stop)),
             asyncio.create_task(_raw_read(login, replies, seen, stop))]
    producer = idempotent_producer(login, linger_ms=0)
    await producer.start()
    out, base = {}, 0
    try:
        await asyncio.sleep(3)  # consumers assigned and positioned
        for rate in rates:
            first = base

            async def send(i: int, first: int = first) -> None:
                await producer.send(requests, b"x" * 400, key=str(first + i).encode())

            sent = await _paced(rate, seconds, send)
            base += len(sent)
            last = base
            await _wait_for(lambda first=first, last=last: all(
                i in seen for i in range(first, last)), 30)
            out[rate] = summary([(seen[first + i] - t) * 1000 for i, t in enumerate(sent)
                                 if first + i in seen], len(sent))
    finally:
        await producer.stop()
        stop.set()
        await asyncio.gather(*tasks)
    return out


def _single(template: ExchangeRequest, entry: Any) -> ExchangeRequest:
    return template.model_copy(update={"request_id": uuid.uuid4(), "entries": [entry]})


async def _exchange_phase(askers: Askers, replies: Replies, rate: int, seconds: float,
                          candidates: list[tuple[ExchangeRequest, Any]], meter: CpuMeter
                          ) -> dict[str, Any]:
    ids: list[uuid.UUID] = []

    async def send(i: int) -> None:
        template, entry = candidates[i % len(candidates)]
        request = _single(template, entry)
        ids.append(request.request_id)
        await askers.send(request)

    meter.start()
    start = time.perf_counter()
    sent = await _paced(rate, seconds, send)
    await _wait_for(lambda: all(r in replies.answered for r in ids), DRAIN)
    wall = time.perf_counter() - start
    cpu = meter.stop()
    waits = [(replies.answered[r] - t) * 1000 for r, t in zip(ids, sent, strict=True)
             if r in replies.answered]
    return {"rate": rate, "seconds": seconds, **summary(waits, len(ids)), "wall_s": wall,
            "cpu_s": cpu}


async def _batched(askers: Askers, replies: Replies, requests: list[ExchangeRequest],
                   meter: CpuMeter) -> dict[str, Any]:
    meter.start()
    start = time.perf_counter()
    for request in requests:
        await askers.send(request)
    await _wait_for(lambda: all(replies.settled(r.request_id, len(r.entries))
                                for r in requests), 300)
    wall = time.perf_counter() - start
    cpu = meter.stop()
    persons = sum(len(r.entries) for r in requests)
    settled = sum(replies.settled(r.request_id, len(r.entries)) for r in requests)
    reached = sum(replies.reached.get(r.request_id, 0) for r in requests)
    closed = sum(replies.closed.get(r.request_id, 0) for r in requests)
    return {"requests": len(requests), "persons": persons, "settled_requests": settled,
            "providers_reached": reached, "provider_replies": closed, "wall_s": wall,
            "persons_per_s": persons / wall, "cpu_s": cpu}


def _spawn(ns: StackConfig, name: str, *args: str) -> int:
    return processes.spawn(ns, name, *args,
                           env={"SHAHO_EXCHANGE_RATE_LIMIT": str(10**9)})


async def _link(cfg: StackConfig, ns: Scratch, population: Population) -> datetime:
    """File the population, release it with one tick, run the linker until it is quiet."""
    await _publish(_records(cfg, population, ns.topics), cfg.kafka(BENCH))
    last = max(f.occurred_at for f in population.filings)
    await tick_once(cfg.kafka(RELAY_CLOCK_PRINCIPAL), ns.topics, Keyring.load(cfg.keyring_path),
                    clock_signer(cfg), last)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "shaho.cli", "run", "relay-linker", "--drain"],
        env=ns.cfg.child_env(), capture_output=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"relay-linker: {done.stderr.decode(errors='replace')[-2000:]}")
    return last + PARKING_BOUND + timedelta(days=1)


async def run(cfg: StackConfig, persons: int = 600, seed: int = 7, rate: int = 200,
              seconds: float = 20.0, steps: tuple[int, ...] = (25, 50, 100, 200),
              step_seconds: float = 10.0, reports: Path = REPORTS) -> dict[str, Any]:
    population = generate(seed, persons, date(2025, 1, 1))
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seed": seed, "persons": persons,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}", "rate": rate, "seconds": seconds,
        "step_seconds": step_seconds}
    rates = sorted({rate, *steps})
    async with Scratch(cfg, "x") as ns:
        day = await _link(cfg, ns, population)
        members = await prepare(cfg, ns.cfg, population)
        requests = questions(members, day)
        codes = sorted({r.asker_code for r in requests})
        pids = {"router": _spawn(ns.cfg, "relay-exchange"),
                "publisher": _spawn(ns.cfg, "outbox-publisher")}
        pids["worker"] = _spawn(ns.cfg, "insurer-worker", *[
            a for c in insurers_of(population) for a in ("--insurer", c)])
        meter = CpuMeter({**pids, **_servers(cfg)}, reaped={"PostgreSQL"})
        clock = RelayClock(cfg.kafka(RELAY_CLOCK_PRINCIPAL), ns.topics,
                           Keyring.load(cfg.keyring_path), clock_signer(cfg))
        await clock.start()
        stop, ticking = asyncio.Event(), asyncio.Event()
        ticks = asyncio.create_task(clock.run(ticking, TICK, at=day))
        replies = Replies()
        readers = [asyncio.create_task(_read_replies(
            insurer(ns.cfg, c).kafka, ns.topics.physical(participant_topics(c)[1]), replies,
            stop)) for c in codes]
        askers = Askers(ns.cfg, codes)
        await askers.start()
        try:
            await asyncio.sleep(5)  # processors started, readers assigned
            await _batched(askers, replies, requests, meter)  # warm-up; finds the candidates
            result["batched"] = await _batched(askers, replies, [
                r.model_copy(update={"request_id": uuid.uuid4()}) for r in requests], meter)
            by_id = {r.request_id: r for r in requests}
            candidates = [(by_id[rid], next(e for e in by_id[rid].entries if e.entry == token))
                          for (rid, token), providers in sorted(replies.forwarded.items(),
                                                                 key=lambda kv: str(kv[0]))
                          if providers and rid in by_id]
            result["candidates"] = len(candidates)
            if not candidates:
                raise RuntimeError("no person of the askers has another insurer to ask")
            await _exchange_phase(askers, replies, 20, 3.0, candidates, meter)  # warm-up
            result["steady"] = await _exchange_phase(askers, replies, rate, seconds, candidates,
                                                     meter)
            result["steps"] = [await _exchange_phase(askers, replies, r, step_seconds,
                                                     candidates, meter) for r in steps]
        finally:
            await askers.stop()
            stop.set()
            await asyncio.gather(*readers)
            ticking.set()
            await ticks
            await clock.stop()
            for name in PROCESSORS:
                processes.stop(ns.cfg, name)
        raw = await raw_round_trips(cfg, rates, step_seconds)
        result["raw"] = {str(r): v for r, v in raw.items()}
        result["raw_steady"] = (await raw_round_trips(cfg, [rate], seconds))[rate]
    held = [s["rate"] for s in result["steps"] if s["held"]]
    result["highest_held"] = max(held) if held else None
    raw_held = [r for r in steps if result["raw"][str(r)]["held"]]  # the same steps only
    result["raw_highest_held"] = max(raw_held) if raw_held else None
    write_report(reports, "exchange", result, markdown(result))
    return result


def _ms(value: float) -> str:
    return "—" if value != value else f"{value:,.1f}"


def _cpu(cpu: dict[str, float], wall: float) -> str:
    return ", ".join(f"{name} {s:.1f} s ({s / wall:.0%} of a core)" for name, s in cpu.items())


def _per_request(phase: dict[str, Any]) -> str:
    """CPU milliseconds per request sent, per process (idle time of the phase included)."""
    return ", ".join(f"{name} {s * 1000 / phase['sent']:.1f}"
                     for name, s in phase["cpu_s"].items())


def markdown(result: dict[str, Any]) -> str:
    s, raw = result["steady"], result["raw_steady"]
    b = result["batched"]
    lines = [
        "# The relayed exchange: round trips and persons per second",
        "",
        f"{result['when']} on {result['machine']}; a synthetic population of "
        f"{result['persons']:,} persons (seed {result['seed']}) filed and linked by the linker; "
        "router, outbox publisher and the insurer workers (one process for every insurer) as "
        "their own processes; the relay clock ticking every 50 ms. A round trip is A → relay → B "
        "→ relay → A: from A's send of a signed single-person request to A's reader seeing the "
        "first \"answered\" reply on its own replies topic, both timed in the bench's process. "
        f"Single-person requests cycle over the {result['candidates']} persons of the askers "
        "for whom the relay reached another insurer. Raw: a plain request/reply over the same "
        "broker (producer → an echo consumer/producer in the bench's process → reply reader), "
        "no signature, no crypto, no database, in the same run.",
        "",
        f"## Steady {result['rate']}/s for {result['seconds']:.0f} s",
        "",
        "| | p50 ms | p99 ms | max ms | sent | unanswered |",
        "|---|---:|---:|---:|---:|---:|",
        f"| exchange | {_ms(s['p50_ms'])} | {_ms(s['p99_ms'])} | {_ms(s['max_ms'])} | "
        f"{s['sent']:,} | {s['unanswered']:,} |",
        f"| raw request/reply | {_ms(raw['p50_ms'])} | {_ms(raw['p99_ms'])} | "
        f"{_ms(raw['max_ms'])} | {raw['sent']:,} | {raw['unanswered']:,} |",
        "",
        f"p50 ratio exchange/raw: {s['p50_ms'] / raw['p50_ms']:.1f}×; p99 ratio: "
        f"{s['p99_ms'] / raw['p99_ms']:.1f}×.",
        "",
        f"CPU over the steady phase ({s['seconds']:.0f} s sending, {s['wall_s']:.0f} s until "
        f"the last answer or the {DRAIN:.0f} s wait after the last send ran out): "
        f"{_cpu(s['cpu_s'], s['wall_s'])}. Per request sent, in CPU ms (whatever a process "
        f"spent idle in the phase included): {_per_request(s)}.",
        "",
        f"## Rate steps, {result['step_seconds']:.0f} s each: held means every request "
        f"answered and p99 ≤ {P99_TARGET_MS:.0f} ms",
        "",
        "| rate/s | exchange p50 | exchange p99 | unanswered | held | raw p50 | raw p99 | "
        "raw held |",
        "|---:|---:|---:|---:|:-:|---:|---:|:-:|",
    ]
    for step in result["steps"]:
        r = result["raw"].get(str(step["rate"]), {})
        lines.append(
            f"| {step['rate']} | {_ms(step['p50_ms'])} | {_ms(step['p99_ms'])} | "
            f"{step['unanswered']:,} | {'yes' if step['held'] else 'no'} | "
            f"{_ms(r.get('p50_ms', float('nan')))} | {_ms(r.get('p99_ms', float('nan')))} | "
            f"{'yes' if r.get('held') else 'no'} |")
    highest = result["highest_held"]
    lines += [
        "",
        "Highest step held by the exchange: "
        + (f"{highest}/s" if highest else "none (not even the lowest step)")
        + "; by the raw request/reply: "
        + (f"{result['raw_highest_held']}/s" if result["raw_highest_held"] else "none") + ".",
        "",
        "CPU per step (shares of the step's wall time, sending and waiting): " + "; ".join(
            f"{st['rate']}/s ({st['wall_s']:.0f} s): {_cpu(st['cpu_s'], st['wall_s'])}"
                                     for st in result["steps"]) + ". Per request sent, in CPU "
        "ms: " + "; ".join(f"{st['rate']}/s: {_per_request(st)}" for st in result["steps"])
        + ".",
        "",
        "## Batched requests",
        "",
        f"{b['requests']} requests of up to 500 persons, {b['persons']:,} persons, sent at once "
        f"by the insurers with the most members (after the same requests once as a warm-up): "
        f"every person's first reply and every reached "
        f"insurer's answer (or lapse) read back in {b['wall_s']:.1f} s, "
        f"**{b['persons_per_s']:,.0f} persons/s** ({b['settled_requests']} of {b['requests']} "
        f"requests settled; {b['providers_reached']:,} insurers reached, "
        f"{b['provider_replies']:,} of their replies read). CPU: "
        f"{_cpu(b['cpu_s'], b['wall_s'])}.",
        "",
        "Database round trips per item: not measured in this run (the processors run as their "
        "own processes, whose connections the bench does not see). No profile was taken, so "
        "this report does not say where inside a process the time goes; the CPU figures above "
        "are per process only.",
        "",
    ]
    return "\n".join(lines)
