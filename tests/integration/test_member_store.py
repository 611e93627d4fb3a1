"""Insurers' member stores on the real PostgreSQL: one schema and role per insurer, filled
idempotently, looked up by date and period, replay memory that survives a new connection.

Each test uses scratch insurer codes of its own and drops their stores afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from groundfloor.config import StackConfig
from insurer_workers import member_store as store
from insurer_workers.filling import fill_member_stores
from insurer_workers.members import BenefitRecord, MemberPeriod, members_from_filings
from synthetic.population import generate
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration
NUMBER = "港いろは|１２３４|00"


def _period(code: str, start: date, end: date | None, number: str = NUMBER,
            capacity: str = "insured") -> MemberPeriod:
    return MemberPeriod(code, number, "medical", capacity, start, end, "h1", "ウ")


@pytest.fixture
async def codes(pg: asyncpg.Connection, unique: str) -> AsyncIterator[tuple[str, str]]:
    x, y = f"tx{unique}", f"ty{unique}"
    for code in (x, y):
        await store.create_store(pg, code)
    yield x, y
    for code in (x, y):
        await store.drop_store(pg, code)


async def test_a_store_is_a_schema_owned_by_the_insurers_role(pg: asyncpg.Connection,
                                                               codes: tuple[str, str]) -> None:
    x, _ = codes
    owner = await pg.fetchval(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", f"insurer_{x}")
    assert owner == f"insurer_{x}"
    tables = await pg.fetch(
        "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = $1", f"insurer_{x}")
    assert {r["tablename"] for r in tables} == {
        "members", "benefits", "asked", "answered", "seen_requests", "notices",
        "member_accesses", "witnessed_heads", "witness_answers", "receipts", "care_self_pay",
        "member_keys", "closes", "held_back", "statements", "settlements",
        "settlements_received"}
    assert {r["tableowner"] for r in tables} == {f"insurer_{x}"}
    await store.create_store(pg, x)  # idempotent


async def test_fill_and_look_up_by_date_and_period(pg: asyncpg.Connection,
                                                   codes: tuple[str, str]) -> None:
    x, _ = codes
    first = _period(x, date(2025, 1, 1), date(2025, 4, 1))
    second = _period(x, date(2025, 4, 1), None, capacity="voluntary_continuation")
    other = _period(x, date(2025, 1, 1), None, number="|13000001|")
    benefits = [BenefitRecord(NUMBER, date(2025, m, 1), "high_cost_medical", 21_000 + m, 90_000)
                for m in (2, 3, 5)]
    assert await store.fill_store(pg, x, [first, second, other], benefits) == 2
    assert await store.lookup(pg, x, NUMBER, on=date(2025, 3, 31)) == [first]
    assert await store.lookup(pg, x, NUMBER, on=date(2025, 4, 1)) == [second]
    assert await store.lookup(pg, x, NUMBER, on=date(2024, 12, 31)) == []
    assert await store.lookup(pg, x, NUMBER, period=(date(2025, 3, 1), date(2025, 4, 1))) == [
        first, second]
    assert await store.lookup(pg, x, NUMBER, period=(date(2024, 1, 1), date(2024, 12, 31))) == []
    assert await store.lookup(pg, x, NUMBER) == [first, second]
    assert await store.lookup(pg, x, "|99|") == []
    found = await store.benefits_of(pg, x, NUMBER, (date(2025, 3, 15), date(2025, 5, 1)))
    assert found == benefits[1:]


async def test_filling_again_replaces_the_content(pg: asyncpg.Connection,
                                                  codes: tuple[str, str]) -> None:
    x, _ = codes
    old = _period(x, date(2025, 1, 1), None)
    await store.fill_store(pg, x, [old], [BenefitRecord(NUMBER, date(2025, 1, 1), "k", 1, 2)])
    new = _period(x, date(2025, 2, 1), None)
    for _ in range(2):
        assert await store.fill_store(pg, x, [new], []) == 1
    assert await store.lookup(pg, x, NUMBER) == [new]
    assert await store.benefits_of(pg, x, NUMBER, (date(2025, 1, 1), date(2025, 12, 31))) == []


async def test_a_lookup_at_one_insurer_never_sees_anothers_members(
        pg: asyncpg.Connection, codes: tuple[str, str]) -> None:
    x, y = codes
    at_x, at_y = _period(x, date(2025, 1, 1), None), _period(y, date(2024, 6, 1), None)
    await store.fill_store(pg, x, [at_x], [])
    await store.fill_store(pg, y, [at_y], [])
    assert await store.lookup(pg, x, NUMBER) == [at_x]
    assert await store.lookup(pg, y, NUMBER) == [at_y]
    with pytest.raises(ValueError):
        await store.fill_store(pg, x, [at_y], [])
    assert await store.lookup(pg, x, NUMBER) == [at_x]


async def test_replay_memory_survives_a_new_connection(stack: StackConfig, pg: asyncpg.Connection,
                                                       codes: tuple[str, str]) -> None:
    x, y = codes
    request, later = uuid4(), uuid4()
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert await store.remember_request(pg, x, request, now + timedelta(minutes=5))
    assert not await store.remember_request(pg, x, request, now + timedelta(minutes=5))
    assert await store.remember_request(pg, y, request, now + timedelta(minutes=5))
    assert await store.remember_request(pg, x, later, now + timedelta(hours=1))
    again = await asyncpg.connect(stack.pg_dsn())
    try:
        assert await store.was_seen(again, x, request)
        assert not await store.remember_request(again, x, request, now + timedelta(minutes=5))
        assert await store.forget_expired(again, x, now) == 0
        assert await store.forget_expired(again, x, now + timedelta(minutes=5)) == 1
        assert not await store.was_seen(again, x, request)
        assert await store.was_seen(again, x, later)
        assert await store.was_seen(again, y, request)
    finally:
        await again.close()


async def test_the_insurers_own_records_of_exchanges(pg: asyncpg.Connection,
                                                     codes: tuple[str, str]) -> None:
    x, _ = codes
    record, request = uuid4(), uuid4()
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for outcome in ("answered", "again"):
        await store.record_exchange(pg, x, "answered", record, request, "06139018", "medical",
                                    "qualification", "eligibility_confirmation", outcome, at,
                                    {"items": 1})
    rows = await pg.fetch(f'SELECT outcome, detail::text AS d FROM "insurer_{x}".answered')
    assert [(r["outcome"], r["d"]) for r in rows] == [("answered", '{"items": 1}')]
    with pytest.raises(ValueError):
        await store.record_exchange(pg, x, "members", uuid4(), request, "c", None, None, None,
                                    "o", at, {})


@pytest.mark.parametrize("code", ["", "a" * 17, "x; DROP TABLE y", 'a"b', "06-139", "東京"])
async def test_codes_that_cannot_name_a_store_are_refused(pg: asyncpg.Connection,
                                                          code: str) -> None:
    for call in (store.create_store(pg, code), store.drop_store(pg, code),
                 store.lookup(pg, code, NUMBER, on=date(2025, 1, 1))):
        with pytest.raises(store.InvalidInsurerCode) as refused:
            await call
        assert code not in str(refused.value) or code == ""


async def test_every_insurer_of_a_population_gets_its_members(relay: RelayEnv) -> None:
    population = generate(4, 40, date(2025, 1, 1))
    expected = members_from_filings(population.filings)
    counts = await fill_member_stores(relay.cfg, population, benefit_seed=4)
    conn = await relay.connect()
    try:
        assert counts == {code: len({p.member_number for p in periods})
                          for code, periods in expected.items()}
        for code, periods in expected.items():
            for p in periods[:3]:
                assert p in await store.lookup(conn, code, p.member_number, on=p.valid_from)
        assert await fill_member_stores(relay.cfg, population, ["JPS"]) == {"JPS": counts["JPS"]}
    finally:
        for code in expected:
            await store.drop_store(conn, code)
        await conn.close()
