"""The 合算 close in batches on the real stack: every medical insurer of the same population
closed one store household at a time and then in the default batches writes the same
statements, the same ledger (settlement ids and contents) and the same households held back
with the same reasons; the questions of a batch stay batched, each member asked about once per
scheme in either case."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from infra import namespace
from infra.principals import TESTS
from insurer_workers import closing, member_store
from insurer_workers.receipt_feed import publish_receipts
from insurer_workers.worker import InsurerIdentity
from schemas.base import JST
from schemas.exchange import ExchangeRequest
from schemas.topics import Namespace
from shaho.bootstrap import insurer, topic_namespace
from staging.exchange_population import insurers_of
from tests.integration.close_env import PERIOD, links_of, relay_running, settling_receipts
from tests.integration.exchange_env import linked_population, run_workers
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

SIZES = (1, closing.BATCH)
OCTOBER = datetime(2026, 10, 1, 10, 0, tzinfo=JST)


async def _results(conn: asyncpg.Connection, code: str) -> dict[str, list[tuple[Any, ...]]]:
    """The period's statements, ledger and households held back at `code`, without what
    tells one close from another (its round, when its rows were written)."""
    s = member_store.store_name(code)
    statements = await conn.fetch(
        f"""SELECT member_key, household, base_date, outcome, payment_yen, medical_total_yen,
            care_total_yen, shares::text, statement FROM {s}.statements WHERE period = $1
            ORDER BY member_key""", PERIOD.year)
    ledger = await conn.fetch(
        f"""SELECT settlement_id, member_key, household, payer_side, payer_code, benefit,
            amount_yen, total_yen, corrects, refused, sent_at IS NULL AS unsent
            FROM {s}.settlements WHERE period = $1 ORDER BY settlement_id""", PERIOD.year)
    held = await conn.fetch(f"""SELECT household, reason FROM {s}.held_back WHERE period = $1
                                ORDER BY household""", PERIOD.year)
    return {"statements": [tuple(r) for r in statements], "ledger": [tuple(r) for r in ledger],
            "held_back": [tuple(r) for r in held]}


async def _forget(conn: asyncpg.Connection, code: str) -> None:
    """The period's results dropped, as before any close (the rounds stay: the next close's
    questions have ids of their own)."""
    s = member_store.store_name(code)
    for table in ("statements", "settlements", "held_back"):
        await conn.execute(f"DELETE FROM {s}.{table} WHERE period = $1", PERIOD.year)


async def test_a_close_in_batches_of_one_household_settles_as_in_the_default_batches(
        relay: RelayEnv, monkeypatch: pytest.MonkeyPatch):
    population = await linked_population(relay)
    codes = insurers_of(population)
    await namespace.receipt_topics(relay.stack, relay.topics, codes)
    await relay.tick(OCTOBER)
    receipts = settling_receipts(await links_of(relay))
    assert len(receipts) >= 10, "too few households settle"
    await publish_receipts(relay.cfg.kafka(TESTS), relay.topics, receipts)
    await asyncio.to_thread(run_workers, relay, codes)  # the receipts loaded before any close
    conn = await relay.connect()
    try:
        medical = await member_store.medical_insurers(conn)
        units = {code: await closing.households_of(conn, code, PERIOD) for code in medical}
    finally:
        await conn.close()
    assert max(len(u) for u in units.values()) > 3

    sent: dict[str, list[ExchangeRequest]] = {}
    real_send = closing.send_requests

    async def send_requests(me: InsurerIdentity, ns: Namespace,
                            requests: list[ExchangeRequest]) -> None:
        sent.setdefault(me.code, []).extend(requests)
        await real_send(me, ns, requests)

    monkeypatch.setattr(closing, "send_requests", send_requests)

    async def close_at(code: str, batch: int) -> tuple[dict, dict, list[ExchangeRequest]]:
        conn = await relay.connect()
        try:
            report = await closing.close(conn, insurer(relay.cfg, code),
                                         topic_namespace(relay.cfg), relay.ticks[-1], PERIOD,
                                         wait=120, batch=batch, chunk=2)
            results = await _results(conn, code)
            await _forget(conn, code)
        finally:
            await conn.close()
        asked, sent[code] = sent.pop(code), []
        return report.counts(), results, asked

    got: dict[int, dict[str, tuple[dict, dict, list[ExchangeRequest]]]] = {}
    async with relay_running(relay, codes, OCTOBER):
        for size in SIZES:
            closed = await asyncio.gather(*(close_at(code, size) for code in medical))
            got[size] = dict(zip(medical, closed, strict=True))

    small, large = got[SIZES[0]], got[SIZES[1]]
    for code in medical:
        (counts, results, asked), (counts_l, results_l, asked_l) = small[code], large[code]
        assert counts["households"] == len(units[code])
        assert counts == counts_l, code
        assert results == results_l, code
        # each member asked about once per scheme either way; one request per scheme and base
        # date of each batch (the population's stores are smaller than a default batch)
        def members(requests: list[ExchangeRequest]) -> Counter:
            return Counter((r.scheme, r.period_to, *(
                part.reveal() if part is not None else None for part in (
                    e.member.insured_number.symbol, e.member.insured_number.number,
                    e.member.insured_number.branch))) for r in requests for e in r.entries)

        assert members(asked) == members(asked_l) and set(members(asked).values()) == {1}
        assert len(asked) == 2 * len(units[code])  # a unit: a store household, a base date
        assert len(asked_l) == 2 * len({u.base_date for u in units[code]})
    ledger = [row for code in medical for row in small[code][1]["ledger"]]
    statements = [row for code in medical for row in small[code][1]["statements"]]
    assert ledger and statements, "nothing settled"
    assert {row[3] for row in ledger} == {"medical", "care"}
