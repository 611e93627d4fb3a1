"""The demo's 高額医療・高額介護合算: the population's receipts loaded by its insurers, one period
closed at every base-date medical insurer through the relay, totals per paying insurer and a
statement.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta

import asyncpg

from groundfloor.config import StackConfig
from infra import namespace
from infra.principals import RELAY_CLOCK_PRINCIPAL
from insurer_workers import member_store
from insurer_workers.closing import CloseReport, close
from insurer_workers.receipt_feed import publish_receipts
from insurer_workers.settlement_sending import SendReport, send_pending
from reconciliation.calculation import Period
from relay_clock.clock import RelayClock
from shaho.bootstrap import insurer, keyring, topic_namespace
from staging.exchange_population import insurers_of, settlements_kept_by
from synthetic.population import Population
from synthetic.receipts import population_receipts
from trust.keys import clock_signer

PERIOD = Period(2025)
"""The period the demo closes: 1 August 2024 to 31 July 2025 (the population starts in January
2025, so its receipts fill the period's last seven months)."""
CLOSE_TICK = 0.25
"""Seconds between the relay clock's ticks while the period closes: the router and every worker
verify and store each tick, which at 50 ms was most of their CPU (bench/reports/reconciliation.md)
and, on a loaded machine, kept the router from reaching the settlements within the wait."""
WAIT = 180.0  # seconds the receipts get to be loaded and the settlements to reach the payers
QUIET = 5.0  # seconds without a receipt stored after which the rest count as refused
SHOWN = 8  # paying insurers shown by name; the others summed


async def make_topics(demo: StackConfig, population: Population) -> None:
    """The insurers' receipts and settlements topics, made before their workers start (a
    worker reads those that exist when it starts)."""
    codes = insurers_of(population)
    await namespace.receipt_topics(demo, topic_namespace(demo), codes)
    await namespace.settlement_topics(demo, topic_namespace(demo), codes)


async def load_receipts(demo: StackConfig, population: Population, day: datetime) -> str:
    """Each insurer's receipts, service months to the month before `day`, sent on its private
    topic with its own login, and waited for until its worker has judged them all."""
    receipts = population_receipts(population, day.date() - timedelta(days=day.day))
    topics = topic_namespace(demo)
    for code, records in sorted(receipts.items()):
        await publish_receipts(insurer(demo, code).kafka, topics, records)
    sent = sum(len(r) for r in receipts.values())
    began, judged, changed = time.monotonic(), -1, time.monotonic()
    conn = await asyncpg.connect(demo.pg_dsn())
    try:  # until all are stored, or (some refused) nothing more is stored for QUIET seconds
        while time.monotonic() - began < WAIT:
            now = await _receipts_stored(conn, sorted(receipts))
            if now != judged:
                judged, changed = now, time.monotonic()
            if judged >= sent or (judged > 0 and time.monotonic() - changed > QUIET):
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return (f"合算 receipts: {sent} sent by {len(receipts)} insurers on their private topics, "
            f"{judged} stored by their workers")


async def _receipts_stored(conn: asyncpg.Connection, codes: list[str]) -> int:
    total = 0
    for code in codes:
        name = member_store.store_name(code)
        total += await conn.fetchval(
            f"SELECT (SELECT count(*) FROM {name}.receipts) "
            f"+ (SELECT count(*) FROM {name}.care_self_pay)")
    return total


async def close_period(demo: StackConfig, day: datetime) -> list[str]:
    """The period closed at every medical insurer at once, the relay clock ticking on `day`
    meanwhile; the settlements sent and followed to their payers; what happened."""
    clock = RelayClock(demo.kafka(RELAY_CLOCK_PRINCIPAL), topic_namespace(demo), keyring(demo),
                       clock_signer(demo))
    await clock.start()
    done = asyncio.Event()
    ticks = asyncio.create_task(clock.run(done, CLOSE_TICK, at=day))
    try:
        conn = await asyncpg.connect(demo.pg_dsn())
        try:
            codes = await member_store.medical_insurers(conn)
        finally:
            await conn.close()
        results = await asyncio.gather(*(_close_one(demo, code, day) for code in codes))
        kept = await _kept(demo, codes, sum(sent.sent for _, sent in results))
    finally:
        done.set()
        await ticks
        await clock.stop()
    return await _report(demo, [r for r, _ in results], [s for _, s in results], kept)


async def _close_one(demo: StackConfig, code: str,
                     day: datetime) -> tuple[CloseReport, SendReport]:
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        me = insurer(demo, code)
        report = await close(conn, me, topic_namespace(demo), day, PERIOD, wait=WAIT)
        return report, await send_pending(conn, me, demo, topic_namespace(demo), PERIOD.year)
    finally:
        await conn.close()


async def _kept(demo: StackConfig, codes: list[str], sent: int) -> int:
    """The settlements the payers' workers kept, waited for until all that were sent are."""
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        payers = [r["nspname"].removeprefix("insurer_") for r in await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'insurer\\_%'")]
    finally:
        await conn.close()
    return await settlements_kept_by(demo, payers, sent, WAIT, 1.0)


async def _report(demo: StackConfig, closes: list[CloseReport], sends: list[SendReport],
                  kept: int) -> list[str]:
    held = Counter[str]()
    for r in closes:
        held.update(r.held_back)
    paid = Counter[str]()
    for r in closes:
        paid.update(r.amounts)
    settled = sum(r.settled for r in closes)
    lines = [f"合算 period {PERIOD} closed at {len(closes)} base-date medical insurers: "
             f"{sum(r.households for r in closes)} households, {settled} settled, "
             f"{sum(held.values())} held back"
             + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(held.items())) + ")"
                if held else ""),
             f"  settlements: {sum(r.new for r in closes)} new, "
             f"{sum(r.deltas for r in closes)} deltas; {sum(s.sent for s in sends)} sent "
             f"through the relay, {kept} kept by their payers (each once, by id), the amounts "
             "sealed for each payer: the relay holds none",
             f"  totals per paying insurer ({len(paid)} pay; the {min(SHOWN, len(paid))} "
             "largest):"]
    ranked = paid.most_common()
    lines += [f"    {payer}: {amount:,} yen" for payer, amount in ranked[:SHOWN]]
    if len(ranked) > SHOWN:
        lines.append(f"    {len(ranked) - SHOWN} others: "
                     f"{sum(a for _, a in ranked[SHOWN:]):,} yen")
    sample = await _statement(demo, [r.code for r in closes])
    if sample:
        lines += ["  one member's statement, as the calculating insurer keeps it (numbers "
                  "stay in its store):", *(f"    {line}" for line in sample)]
    return lines


async def _statement(demo: StackConfig, codes: list[str]) -> list[str]:
    """The statement of the member with the largest payment among the closing insurers."""
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        best: tuple[int, str] | None = None
        for code in codes:
            row = await conn.fetchrow(
                f"SELECT payment_yen, statement FROM {member_store.store_name(code)}.statements "
                "WHERE period = $1 ORDER BY payment_yen DESC, member_key LIMIT 1", PERIOD.year)
            if row is not None and (best is None or row["payment_yen"] > best[0]):
                best = (row["payment_yen"], row["statement"])
    finally:
        await conn.close()
    return [] if best is None or best[0] == 0 else best[1].splitlines()
