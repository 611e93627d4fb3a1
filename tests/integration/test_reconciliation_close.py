"""The 合算 close on the real stack: the base-date medical insurer asks through the relay what
its households' members paid elsewhere in the period (an earlier medical insurer after a job
change, a care insurer), the providers answer with their standing receipts sealed for it, and
its close calculates exactly what `calculate` gives on the same inputs read from each store,
writes the statements and the ledger; a late receipt then settles one delta per changed line
naming the first, a close with nothing new adds nothing, and every lookup is in the access
logs (the relay's and the providers' own)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta

import asyncpg
import pytest

from access_log.entries import AccessKind, entry_of
from infra import namespace
from infra.principals import TESTS
from insurer_workers import closing, member_store
from insurer_workers.receipt_feed import publish_receipts
from insurer_workers.receipt_store import household_inputs
from insurer_workers.settlement_sending import send_pending
from insurer_workers.worker import send_requests
from reconciliation.calculation import Household, Member, Period, calculate
from reconciliation.calculation.inputs import Month
from schemas.base import JST
from shaho.bootstrap import insurer
from shaho.reconcile_commands import report_lines
from staging.exchange_population import insurers_of
from tests.integration.close_env import Link, care, inpatient, links_of
from tests.integration.exchange_env import linked_population, route, run_workers
from tests.integration.relay_dump import database_dump, in_clear, relay_records, topics_holding
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

PERIOD = Period(2026)
NOW = datetime(2026, 10, 1, 10, 0, tzinfo=JST)


def _pick(links: dict[str, list[Link]]) -> tuple[str, Link, Link, Link, Link]:
    """A medical insurer B of 31 July with a member `m` covered by another care insurer C in
    June (C's link) and a member `j` who came from another medical insurer A in the period
    (A's link), A covering August."""
    base, june, august = PERIOD.last_day, date(2026, 6, 15), PERIOD.first_day
    for b in sorted({lk.insurer for ls in links.values() for lk in ls if lk.scheme == "medical"
                     and len(lk.insurer) == 8 and not lk.insurer.startswith("39")}):
        cared = [(at_b, c) for ls in links.values() for at_b in ls
                 if at_b.insurer == b and at_b.scheme == "medical" and at_b.covers(base)
                 for c in ls if c.scheme == "long_term_care" and c.insurer != b
                 and c.covers(june) and c.covers(date(2026, 5, 15))]
        moved = [(at_b, a) for ls in links.values() for at_b in ls
                 if at_b.insurer == b and at_b.scheme == "medical" and at_b.covers(base)
                 for a in ls if a.scheme == "medical" and a.insurer != b and a.covers(august)
                 and a.valid_to is not None and a.valid_to <= base]
        if cared and moved:
            return b, *cared[0], *moved[0]
    raise AssertionError("the population has no such insurer")


async def _drive(relay: RelayEnv, codes: list[str], minute: int) -> int:
    """The relay routes, the providers answer, the asker records the replies."""
    for step in (1, 2):
        await relay.tick(NOW + timedelta(minutes=minute + step))
        await asyncio.to_thread(route, relay)
        await asyncio.to_thread(run_workers, relay, codes)
    return minute + 2


async def _close(relay: RelayEnv, code: str, codes: list[str],
                 minute: int) -> tuple[closing.CloseReport, list[closing.Asked], int]:
    """One close at `code`, its phases as `closing.close` runs them, the relay driven between
    asking and gathering."""
    conn = await relay.connect()
    try:
        now = relay.ticks[-1]
        round_ = await closing.begin(conn, code, PERIOD, now)
        units = await closing.households_of(conn, code, PERIOD)
        requests, asked = closing.requests_for(code, PERIOD, round_, units, now,
                                               timedelta(hours=1))
        await send_requests(insurer(relay.cfg, code), relay.topics, requests)
        minute = await _drive(relay, codes, minute)
        found = await closing.gather(conn, code, asked, wait=60)
        assert all(s.terminal for s in found.values())
        report = await closing.settle(conn, code, PERIOD, round_, units, asked, found)
        await closing.finish(conn, code, report)
        return report, asked, minute
    finally:
        await conn.close()


async def _direct(relay: RelayEnv, b: str, unit: closing.Unit,
                  links: dict[str, list[Link]]) -> Household:
    """The household's inputs read straight from every insurer's store, each person's numbers
    there from the relay's links: what the close must have gathered."""
    by_number = {lk.number: rid for rid, ls in links.items() for lk in ls
                 if lk.insurer == b and lk.scheme == "medical"}
    conn = await relay.connect()
    try:
        receipts, care = [], []
        for m in unit.members:
            seen = {(b, m.number)}
            own = await household_inputs(conn, b, m.number, m.key, PERIOD)
            receipts += [replace(r, receipt_id=f"{b}:{r.receipt_id}") for r in own[0]]
            care += own[1]
            for lk in links.get(by_number.get(m.number, ""), []):
                if (lk.insurer, lk.number) in seen or not (
                        lk.valid_from <= unit.base_date
                        and (lk.valid_to is None or lk.valid_to > PERIOD.first_day)):
                    continue
                seen.add((lk.insurer, lk.number))
                got = await household_inputs(conn, lk.insurer, lk.number, m.key, PERIOD)
                receipts += [replace(r, receipt_id=f"{lk.insurer}:{r.receipt_id}")
                             for r in got[0] if lk.scheme == "medical"]
                care += [c for c in got[1] if lk.scheme == "long_term_care"]
    finally:
        await conn.close()
    category = closing.INCOME[unit.members[0].income_category]
    return Household(period=PERIOD, members=tuple(Member(
        key=m.key, birth_date=m.birth_date, in_household=True, base_date=unit.base_date,
        base_insurer=b, income_category=category) for m in unit.members),
        receipts=tuple(receipts), care=tuple(care))


async def _stored(relay: RelayEnv, code: str, sql: str, *args) -> list:
    conn = await relay.connect()
    try:
        return await conn.fetch(sql.format(s=member_store.store_name(code)), *args)
    finally:
        await conn.close()


async def test_a_close_gathers_through_the_relay_and_settles_only_differences(relay: RelayEnv):
    population = await linked_population(relay)
    codes = insurers_of(population)
    await namespace.receipt_topics(relay.stack, relay.topics, codes)
    await relay.tick(NOW)
    links = await links_of(relay)
    b, at_b_m, c_link, at_b_j, a_link = _pick(links)
    codes = sorted({lk.insurer for ls in links.values()  # B and whom it may ask
                    if any(lk.insurer == b for lk in ls) for lk in ls} & set(codes))
    await publish_receipts(relay.cfg.kafka(TESTS), relay.topics, [
        inpatient("CLOSE-B-1", b, at_b_m.number, "2026-07", 1_512_340),
        care("CLOSE-C-1", c_link.insurer, c_link.number, "2026-06", 1_003_210),
        inpatient("CLOSE-A-1", a_link.insurer, a_link.number, "2025-08", 251_230),
        inpatient("CLOSE-B-2", b, at_b_j.number, "2026-07", 30_470)])
    await asyncio.to_thread(run_workers, relay, codes)

    first, asked, minute = await _close(relay, b, codes, 0)
    print(*report_lines(first), sep="\n")
    units = {u.name: u for u in await _units(relay, b)}
    assert first.households == len(units) and first.settled + sum(
        first.held_back.values()) == first.households
    key_m, key_j = await _keys(relay, b, [at_b_m.number, at_b_j.number])
    statements = {str(r["member_key"]): r for r in await _stored(
        relay, b, "SELECT * FROM {s}.statements WHERE period = $1", PERIOD.year)}
    for key in (key_m, key_j):  # both settled: same shares as calculate() on the same inputs
        row = statements[key]
        direct = calculate(await _direct(relay, b, units[row["household"]], links))
        assert json.loads(row["shares"]) == [
            {"side": s.payer.side.value, "payer": s.payer.insurer_number, "benefit": s.benefit,
             "amount_yen": s.amount} for s in direct.shares]
        assert (row["medical_total_yen"], row["care_total_yen"], row["payment_yen"]) == (
            direct.medical_total, direct.care_total, direct.payment)
    assert any(r.insurer_number == a_link.insurer and r.month == Month(2025, 8)
               for r in calculate(await _direct(relay, b, units[statements[key_j]["household"]],
                                                links)).receipts)
    assert f"{a_link.insurer}" in statements[key_j]["statement"]  # A's receipt, gathered
    paid = json.loads(statements[key_m]["shares"])
    assert {(s["side"], s["payer"]) for s in paid if s["amount_yen"]} >= {
        ("medical", b), ("care", c_link.insurer)}
    ledger = await _stored(relay, b, "SELECT * FROM {s}.settlements")
    assert first.new == len(ledger) > 0 and first.deltas == 0
    assert all(r["corrects"] is None and r["sent_at"] is None for r in ledger)
    assert {(r["payer_side"], r["payer_code"]) for r in ledger
            if str(r["member_key"]) == key_m} >= {("medical", b), ("care", c_link.insurer)}
    pending = await _pending(relay, b)
    assert sorted(p.settlement_id for p in pending) == sorted(r["settlement_id"] for r in ledger)

    # sent through the relay: each payer keeps what is addressed to it, once
    await namespace.settlement_topics(relay.stack, relay.topics, codes)
    async with _conn(relay) as conn:
        sent = await send_pending(conn, insurer(relay.cfg, b), relay.cfg, relay.topics,
                                  PERIOD.year)
    assert (sent.sent, sent.left) == (len(ledger), {})
    minute = await _drive(relay, codes, minute)
    assert await _received(relay, codes) == {
        r["settlement_id"]: (r["payer_code"], r["amount_yen"], r["total_yen"], None)
        for r in ledger}

    # the access logs: the relay's entries of the forwarded persons, the providers' own
    conn = await relay.connect()
    try:
        leaves = [entry_of(bytes(r["leaf"])) for r in await conn.fetch(
            "SELECT leaf FROM access_entries WHERE log = 'exchange'")]
        for provider, number in ((a_link.insurer, a_link.number),
                                 (c_link.insurer, c_link.number)):
            kept = await member_store.accesses_of(conn, provider, number)
            assert {(k.asker, k.purpose, k.outcome) for k in kept} == {
                (b, "combined_high_cost", "covered")}
    finally:
        await conn.close()
    queries = [e for e in leaves if e.kind is AccessKind.RELAYED_QUERY and e.asker == b]
    forwarded = await _forwarded(relay, b, asked)
    assert len(queries) == forwarded > 0
    assert {(a_link.insurer, "medical"), (c_link.insurer, "long_term_care")} <= {
        (e.provider, e.scheme) for e in queries}

    # a late care receipt: one delta per changed line, naming the first
    await publish_receipts(relay.cfg.kafka(TESTS), relay.topics, [
        care("CLOSE-C-2", c_link.insurer, c_link.number, "2026-05", 200_890)])
    await asyncio.to_thread(run_workers, relay, [c_link.insurer])
    second, _, minute = await _close(relay, b, codes, minute)
    print(*report_lines(second), sep="\n")
    assert second.new == 0 and second.deltas > 0
    after = await _stored(relay, b, "SELECT * FROM {s}.settlements")
    deltas = [r for r in after if r["corrects"] is not None]
    firsts = {r["settlement_id"]: r for r in ledger}
    assert len(deltas) == second.deltas
    for d in deltas:
        corrected = firsts[d["corrects"]]
        assert (d["member_key"], d["payer_side"], d["payer_code"], d["benefit"]) == (
            corrected["member_key"], corrected["payer_side"], corrected["payer_code"],
            corrected["benefit"])
        assert d["total_yen"] == corrected["total_yen"] + d["amount_yen"]
    assert len({(d["member_key"], d["payer_side"], d["payer_code"]) for d in deltas}) == \
        len(deltas)
    row = {str(r["member_key"]): r for r in await _stored(
        relay, b, "SELECT * FROM {s}.statements WHERE period = $1", PERIOD.year)}[key_m]
    direct = calculate(await _direct(relay, b, units[row["household"]], links))
    assert sum(r["amount_yen"] for r in after if str(r["member_key"]) == key_m) == sum(
        s.amount for s in direct.shares if s.amount) == direct.payment
    async with _conn(relay) as conn:
        assert await closing.mark_sent(conn, b, [r["settlement_id"] for r in ledger]) == 0
        assert {p.settlement_id for p in await closing.pending_settlements(
            conn, b, PERIOD.year)} == {d["settlement_id"] for d in deltas}

    # a third close, run as the command does, with nothing new: nothing new in the ledger;
    # the command sends the deltas, which the payers keep naming what they correct
    third = await _command(relay, b, codes, minute)
    assert "0 new, 0 deltas" in third, third
    assert f"sent through the relay: {len(deltas)} instruction(s)" in third, third
    print(third)
    assert len(await _stored(relay, b, "SELECT * FROM {s}.settlements")) == len(after)
    minute = await _drive(relay, codes, minute + 10)
    received = await _received(relay, codes)
    assert received == {r["settlement_id"]: (r["payer_code"], r["amount_yen"], r["total_yen"],
                                             r["corrects"]) for r in after}

    # a crash after the broker took an instruction but before the ledger marked it sent: the
    # same bytes go again and the relay routes the settlement once
    async with _conn(relay) as conn:
        await conn.execute(f"UPDATE {member_store.store_name(b)}.settlements SET sent_at = NULL "
                           "WHERE settlement_id = $1", deltas[0]["settlement_id"])
        again = await send_pending(conn, insurer(relay.cfg, b), relay.cfg, relay.topics,
                                   PERIOD.year)
    assert again.sent == 1
    minute = await _drive(relay, codes, minute)
    assert await _received(relay, codes) == received
    refused = await _stored(relay, b, "SELECT * FROM {s}.asked WHERE request_id = $1 "
                            "AND outcome = 'refused'", deltas[0]["settlement_id"])
    assert refused == []

    # no amount in the relay's database or on its topics: the receipts', the shares', the
    # settlements' (the insurers' own stores and private receipts topics apart)
    dump, records = await database_dump(relay), await relay_records(relay)
    assert b"exchange_settlements" in dump and records
    amounts = {1_512_340, 1_003_210, 251_230, 30_470, 200_890} | {
        abs(r[k]) for r in after for k in ("amount_yen", "total_yen") if abs(r[k]) >= 100_000}
    for amount in sorted(amounts):
        assert not in_clear(amount, dump), amount
        assert not topics_holding(amount, records), amount
    shown = await _statement_command(relay, b, key_m)
    assert "高額医療・高額介護合算 計算書" in shown
    assert at_b_m.number not in shown and c_link.number not in shown and key_m not in shown


@asynccontextmanager
async def _conn(relay: RelayEnv) -> AsyncIterator[asyncpg.Connection]:
    conn = await relay.connect()
    try:
        yield conn
    finally:
        await conn.close()


async def _units(relay: RelayEnv, code: str) -> list[closing.Unit]:
    async with _conn(relay) as conn:
        return await closing.households_of(conn, code, PERIOD)


async def _keys(relay: RelayEnv, code: str, numbers: list[str]) -> list[str]:
    async with _conn(relay) as conn:
        keys = await closing.member_keys(conn, code, numbers)
    return [keys[n] for n in numbers]


async def _pending(relay: RelayEnv, code: str) -> list[closing.PendingSettlement]:
    async with _conn(relay) as conn:
        return await closing.pending_settlements(conn, code, PERIOD.year)


async def _received(relay: RelayEnv, codes: list[str]) -> dict:
    """Every settlement the payers kept: id → (payer, amount, total, corrects)."""
    async with _conn(relay) as conn:
        return {s.settlement_id: (code, s.amount_yen, s.total_yen, s.corrects)
                for code in codes for s in await member_store.settlements_kept(conn, code)}


async def _forwarded(relay: RelayEnv, code: str, asked: list[closing.Asked]) -> int:
    """The (person, provider) pairs the relay forwarded of the close's requests."""
    async with _conn(relay) as conn:
        found = await closing.states(conn, code, asked)
    return sum(len(s.providers or []) for s in found.values())


async def _command(relay: RelayEnv, code: str, codes: list[str], minute: int) -> str:
    """`shaho reconcile run` while the relay and the workers run beside it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shaho.cli", "reconcile", "run", "--period", str(PERIOD.year),
        "--insurer", code, "--wait", "240", env=relay.cfg.child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    ended = asyncio.create_task(proc.communicate())
    for _ in range(4):  # the command asks, then waits for the replies the relay delivers
        if (await asyncio.wait({ended}, timeout=5))[0]:
            break
        minute = await _drive(relay, codes, minute)
    out, _ = await asyncio.wait_for(ended, timeout=300)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


async def _statement_command(relay: RelayEnv, code: str, key: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shaho.cli", "reconcile", "statement", "--period",
        str(PERIOD.year), "--insurer", code, "--member", key, env=relay.cfg.child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")
