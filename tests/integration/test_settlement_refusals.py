"""A settlement the relay refused leaves its chain in the base-date insurer's ledger: the next
close sends it again when it still is what the member is owed (the same id, the same kept
bytes), or settles from the last settlement the relay did not refuse when the total moved; a
forward arriving late for a refused one never puts two rows in one place of a chain.

On the real PostgreSQL, through the close's own step for one household and the function the
insurer's worker calls with each of the relay's replies about its settlements; a forward that
meets a close writing the row in its place stops neither."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from groundfloor.config import StackConfig
from insurer_workers import member_store as store
from insurer_workers.closing import (
    CloseReport,
    Insured,
    Unit,
    mark_sent,
    member_keys,
    pending_settlements,
    settle_household,
    take_back,
)
from reconciliation.calculation import Household, Month
from tests.unit.test_reconciliation_support import (
    CARE,
    END,
    OTHER_HEALTH,
    PERIOD,
    UNDER_70,
    care,
    household,
    member,
    receipt,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def code(pg: asyncpg.Connection, unique: str) -> AsyncIterator[str]:
    code = f"tr{unique}"
    await store.create_store(pg, code)
    yield code
    await store.drop_store(pg, code)


def _household(code: str, key: str, other_copay: int) -> Household:
    return household(member(key, insurer=code), receipts=[
        receipt("own-1", Month(2023, 9), 600_000, key=key, insurer=code),
        receipt("other-1", Month(2024, 2), other_copay, key=key, insurer=OTHER_HEALTH)],
        care_pay=[care(Month(2023, 11), 300_000, key=key, insurer=CARE)])


async def _ledger(pg: asyncpg.Connection, code: str) -> dict[str, list[asyncpg.Record]]:
    rows = await pg.fetch(
        f"""SELECT settlement_id, payer_code, corrects, total_yen, refused, sent_at, instruction
            FROM {store.store_name(code)}.settlements ORDER BY round, created_at""")
    by_payer: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        by_payer.setdefault(r["payer_code"], []).append(r)
    return by_payer


async def _close(pg: asyncpg.Connection, code: str, round_: int, unit: Unit,
                 given: Household) -> CloseReport:
    async with pg.transaction():
        return await settle_household(pg, code, PERIOD, round_, unit, given,
                                      CloseReport(code, PERIOD.year, round_))


async def _send_all(pg: asyncpg.Connection, code: str) -> list[UUID]:
    """What the sending does once the broker acknowledged: the kept bytes, then sent."""
    pending = [p.settlement_id for p in await pending_settlements(pg, code, PERIOD.year)]
    name = store.store_name(code)
    for sid in pending:
        await pg.execute(f"""UPDATE {name}.settlements SET instruction = coalesce(instruction,
                             $2) WHERE settlement_id = $1""", sid, sid.bytes)
    await mark_sent(pg, code, pending)
    return pending


async def test_a_refused_settlement_is_sent_again_or_settled_around(pg: asyncpg.Connection,
                                                                    code: str) -> None:
    key = (await member_keys(pg, code, ["M-1"]))["M-1"]
    unit = Unit("H1", END, (Insured("M-1", key, "insured", UNDER_70, "general"),))
    first = await _close(pg, code, 1, unit, _household(code, key, 400_000))
    assert (first.new, first.deltas, first.resent) == (3, 0, {})
    assert len(await _send_all(pg, code)) == 3
    ledger = await _ledger(pg, code)
    assert set(ledger) == {code, OTHER_HEALTH, CARE}
    other = ledger[OTHER_HEALTH][0]

    assert not await store.settlement_answered(pg, code, uuid4(), "not_payer"), \
        "a reply about a request, not a settlement of the ledger, changes nothing"
    assert await store.settlement_answered(pg, code, other["settlement_id"], "not_payer")

    again = await _close(pg, code, 2, unit, _household(code, key, 400_000))
    assert (again.new, again.deltas, dict(again.resent)) == (0, 0, {"not_payer": 1})
    ledger = await _ledger(pg, code)
    resent = ledger[OTHER_HEALTH]
    assert len(resent) == 1 and resent[0]["sent_at"] is None
    assert resent[0]["refused"] == "not_payer", "out of the chain until the relay forwards it"
    assert resent[0]["instruction"] == other["instruction"], "the same bytes are sent again"
    assert await _send_all(pg, code) == [other["settlement_id"]]
    # refused the same way again: the same reply id, which the relay does not send twice, so
    # nothing arrives; the next close sends it once more
    silent = await _close(pg, code, 3, unit, _household(code, key, 400_000))
    assert (silent.new, silent.deltas, dict(silent.resent)) == (0, 0, {"not_payer": 1})
    assert await _send_all(pg, code) == [other["settlement_id"]]
    # forwarded this time: back in its chain, and a close adds nothing
    assert await store.settlement_answered(pg, code, other["settlement_id"], None)
    replay = await _close(pg, code, 3, unit, _household(code, key, 400_000))
    assert (replay.new, replay.deltas, replay.resent) == (0, 0, {})

    # refused again, and a late receipt there moves every share: the other insurer's share
    # is a first settlement again (the refused one is outside the chain), the others deltas
    assert await store.settlement_answered(pg, code, other["settlement_id"], "already_settled")
    late = await _close(pg, code, 4, unit, _household(code, key, 500_000))
    assert (late.new, late.deltas, late.resent) == (1, 2, {})
    ledger = await _ledger(pg, code)
    old, new = ledger[OTHER_HEALTH]
    assert old["refused"] == "already_settled" and new["refused"] is None
    assert new["corrects"] is None and new["total_yen"] > other["total_yen"]
    for payer in (code, CARE):
        made = ledger[payer]
        assert [r["corrects"] for r in made] == [None, made[0]["settlement_id"]]
    await _send_all(pg, code)

    # the refused one forwarded late (a resend of its bytes the relay routed after all):
    # another row stands in its place, so it stays out; a refused row with none in its place
    # goes back into its chain
    assert not await store.settlement_answered(pg, code, old["settlement_id"], None)
    own_last = ledger[code][-1]["settlement_id"]
    assert await store.settlement_answered(pg, code, own_last, "verify_identity")
    assert await store.settlement_answered(pg, code, own_last, None)
    ledger = await _ledger(pg, code)
    assert [r["refused"] for r in ledger[code]] == [None, None]
    assert [r["refused"] for r in ledger[OTHER_HEALTH]] == ["already_settled", None]
    steady = await _close(pg, code, 5, unit, _household(code, key, 500_000))
    assert (steady.new, steady.deltas, steady.resent) == (0, 0, {})


async def test_a_member_no_more_calculated_here_has_every_line_taken_back_once(
        pg: asyncpg.Connection, code: str) -> None:
    """A late loss made another insurer the one of M-1's base date: the close that no longer
    calculates M-1 brings each of its three lines back to 0 from its chain's end (so the relay
    lets the new base-date insurer start the chains again); M-2, still calculated, keeps its
    settlements; replaying adds nothing; a line the relay refused is not in a chain to take
    back; a member the store no longer holds at all (a store emptied by mistake) is left."""
    keys = await member_keys(pg, code, ["M-1", "M-2"])
    units = {i: Unit(f"H{i}", END, (Insured(f"M-{i}", keys[f"M-{i}"], "insured", UNDER_70,
                                            "general"),)) for i in (1, 2)}
    for i, unit in units.items():
        await _close(pg, code, 1, unit, _household(code, keys[f"M-{i}"], 400_000))
    await _send_all(pg, code)
    name = store.store_name(code)
    refused = await pg.fetchval(
        f"""SELECT settlement_id FROM {name}.settlements WHERE member_key = $1
            AND payer_code = $2""", UUID(keys["M-1"]), CARE)
    assert await store.settlement_answered(pg, code, refused, "not_payer")
    before = {r["settlement_id"]: r for r in await pg.fetch(
        f"SELECT settlement_id, member_key, total_yen FROM {name}.settlements")}
    async with pg.transaction():
        emptied = await take_back(pg, code, PERIOD, 2, set(), CloseReport(code, PERIOD.year, 2))
    assert (emptied.taken_back, emptied.deltas) == (0, 0), "a store holding no one: nothing"
    await pg.executemany(  # M-1's cover here ended before the base date; M-2's holds
        f"""INSERT INTO {name}.members (member_number, scheme, capacity, valid_from, valid_to,
            household, income_category) VALUES ($1, 'medical', 'insured', $2, $3, $4,
            'general')""",
        [("M-1", date(2020, 4, 1), END - timedelta(days=30), "H1"),
         ("M-2", date(2020, 4, 1), None, "H2")])

    async with pg.transaction():
        report = await take_back(pg, code, PERIOD, 2, {keys["M-2"]},
                                 CloseReport(code, PERIOD.year, 2))
    assert (report.taken_back, report.new, report.deltas) == (1, 0, 2)
    rows = await pg.fetch(
        f"""SELECT settlement_id, member_key, payer_code, amount_yen, total_yen, corrects,
            household, sent_at FROM {name}.settlements WHERE round = 2""")
    assert {str(r["member_key"]) for r in rows} == {keys["M-1"]}
    assert {r["payer_code"] for r in rows} == {code, OTHER_HEALTH}
    for r in rows:
        corrected = before[r["corrects"]]
        assert r["total_yen"] == 0 and r["amount_yen"] == -corrected["total_yen"] < 0
        assert str(corrected["member_key"]) == keys["M-1"]
        assert r["household"] == units[1].name
        assert r["sent_at"] is None
    assert sum(report.amounts.values()) == -sum(
        b["total_yen"] for b in before.values()
        if str(b["member_key"]) == keys["M-1"] and b["settlement_id"] != refused)
    async with pg.transaction():
        again = await take_back(pg, code, PERIOD, 3, {keys["M-2"]},
                                CloseReport(code, PERIOD.year, 3))
    assert (again.taken_back, again.new, again.deltas) == (0, 0, 0)


async def test_a_broken_chain_holds_its_household_back_and_the_close_goes_on(
        pg: asyncpg.Connection, code: str) -> None:
    """Two first settlements of one line (only a hand edit past the ledger's indexes makes
    them): the household is held back as `ledger_broken`, nothing is added to its ledger,
    and the close goes on with the next household."""
    keys = await member_keys(pg, code, ["M-1", "M-2"])
    units = [Unit(f"H{i}", END, (Insured(f"M-{i}", keys[f"M-{i}"], "insured", UNDER_70,
                                         "general"),)) for i in (1, 2)]
    for i, unit in enumerate(units, 1):
        await _close(pg, code, 1, unit, _household(code, keys[f"M-{i}"], 400_000))
    name = store.store_name(code)
    await pg.execute(f"DROP INDEX {name}.settlements_chain_first")
    await pg.execute(
        f"""INSERT INTO {name}.settlements (settlement_id, period, member_key, household,
            payer_side, payer_code, benefit, amount_yen, total_yen, corrects, round, created_at)
            SELECT $1, period, member_key, household, payer_side, payer_code, benefit,
            amount_yen, total_yen, NULL, round, now() FROM {name}.settlements
            WHERE member_key = $2 AND payer_code = $3""", uuid4(), UUID(keys["M-1"]),
        OTHER_HEALTH)
    before = await pg.fetchval(f"SELECT count(*) FROM {name}.settlements")
    report = CloseReport(code, PERIOD.year, 2)
    async with pg.transaction():
        for i, unit in enumerate(units, 1):
            report = await settle_household(pg, code, PERIOD, 2, unit,
                                            _household(code, keys[f"M-{i}"], 500_000), report)
    assert dict(report.held_back) == {"ledger_broken": 1} and report.settled == 1
    assert report.deltas == 3, "the other household's three lines moved"
    assert await pg.fetchval(f"SELECT count(*) FROM {name}.settlements") == before + 3
    assert await pg.fetchval(f"SELECT reason FROM {name}.held_back WHERE household = $1",
                             units[0].name) == "ledger_broken"


async def test_a_forward_meeting_a_close_holds_the_household_back_and_stops_nothing(
        pg: asyncpg.Connection, code: str, stack: StackConfig) -> None:
    """The worker puts a refused row back in its chain (a late forward) while a close writes
    the row that would take its place: whichever commits second gives way; here the close,
    which holds the household back (`ledger_changed`) and settles it at the next close."""
    key = (await member_keys(pg, code, ["M-1"]))["M-1"]
    unit = Unit("H1", END, (Insured("M-1", key, "insured", UNDER_70, "general"),))
    await _close(pg, code, 1, unit, _household(code, key, 400_000))
    await _send_all(pg, code)
    other = (await _ledger(pg, code))[OTHER_HEALTH][0]
    assert await store.settlement_answered(pg, code, other["settlement_id"], "not_payer")
    worker = await asyncpg.connect(stack.pg_dsn())
    try:
        forward = worker.transaction()
        await forward.start()
        assert await store.settlement_answered(worker, code, other["settlement_id"], None)
        closing = asyncio.create_task(_close(pg, code, 2, unit, _household(code, key, 500_000)))
        await asyncio.sleep(1.0)
        assert not closing.done(), "the close waits on the forward's row"
        await forward.commit()
        report = await closing
    finally:
        await worker.close()
    assert dict(report.held_back) == {"ledger_changed": 1} and report.settled == 0
    assert (report.new, report.deltas) == (0, 0)
    ledger = await _ledger(pg, code)
    assert [len(rows) for rows in ledger.values()] == [1, 1, 1], "nothing written"
    again = await _close(pg, code, 3, unit, _household(code, key, 500_000))
    assert (again.settled, again.new, again.deltas) == (1, 0, 3)
