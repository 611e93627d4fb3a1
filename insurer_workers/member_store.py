"""One simulated insurer's own member store: a PostgreSQL schema `insurer_<code>`, owned by a role
of the same name, holding its members, benefits, receipts, replay memory, its record of
exchanges and its 合算 closes with their settlement ledger.

The store is the insurer's, not the relay's: the relay's own processors never read it (it only
shares the database server). The code is checked before it names anything in SQL; numbers are
query arguments, never part of a statement or an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from insurer_workers.members import BenefitRecord, MemberPeriod
from insurer_workers.receipt_tables import RECEIPT_TABLES
from insurer_workers.settlement_tables import CLOSING_TABLES

CODE = re.compile(r"[A-Za-z0-9_]{1,16}")
EXCHANGE_TABLES = ("asked", "answered")

TABLES = (
    """CREATE TABLE IF NOT EXISTS {s}.members (
        member_number text NOT NULL, scheme text NOT NULL, capacity text NOT NULL,
        valid_from date NOT NULL, valid_to date, household text NOT NULL,
        income_category text NOT NULL,
        PRIMARY KEY (member_number, scheme, capacity, valid_from),
        CHECK (valid_to IS NULL OR valid_to > valid_from))""",
    "ALTER TABLE {s}.members ADD COLUMN IF NOT EXISTS birth_date date",
    "ALTER TABLE {s}.members ADD COLUMN IF NOT EXISTS died_on date",
    # a close reads its households a batch at a time, in the order of their bytes
    """CREATE INDEX IF NOT EXISTS members_household ON {s}.members
        (household COLLATE "C", scheme)""",
    """CREATE TABLE IF NOT EXISTS {s}.benefits (
        member_number text NOT NULL, month date NOT NULL, kind text NOT NULL,
        self_pay_yen bigint NOT NULL, benefit_yen bigint NOT NULL,
        PRIMARY KEY (member_number, month, kind))""",
    *(f"""CREATE TABLE IF NOT EXISTS {{s}}.{table} (
        id uuid PRIMARY KEY, request_id uuid NOT NULL, counterpart text NOT NULL,
        scheme text, category text, purpose text, outcome text NOT NULL,
        at timestamptz NOT NULL, detail jsonb NOT NULL DEFAULT '{{{{}}}}')"""
      for table in EXCHANGE_TABLES),
    # the writing transaction of each reply recorded, so that a close reads only the replies
    # recorded since its last reading (`closing.Replies`)
    "ALTER TABLE {s}.asked ADD COLUMN IF NOT EXISTS xid xid8 NOT NULL DEFAULT pg_current_xact_id()",
    "CREATE INDEX IF NOT EXISTS asked_request ON {s}.asked (request_id)",
    "CREATE INDEX IF NOT EXISTS asked_xid ON {s}.asked (xid)",
    """CREATE TABLE IF NOT EXISTS {s}.seen_requests (
        request_id uuid PRIMARY KEY, expires_at timestamptz NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS seen_requests_expiry ON {s}.seen_requests (expires_at)",
    """CREATE TABLE IF NOT EXISTS {s}.member_accesses (
        item_id uuid PRIMARY KEY, routed_id uuid NOT NULL, member_number text,
        asker text NOT NULL, scheme text NOT NULL, category text NOT NULL,
        purpose text NOT NULL, policy_row text NOT NULL, relay_time timestamptz NOT NULL,
        outcome text NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS member_accesses_member ON {s}.member_accesses (member_number)",
    """CREATE TABLE IF NOT EXISTS {s}.witnessed_heads (
        origin text PRIMARY KEY, size bigint NOT NULL, root bytea NOT NULL,
        relay_time text NOT NULL, note text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.witness_answers (
        origin text NOT NULL, note_hash bytea NOT NULL, relay_time text NOT NULL,
        cosigned boolean NOT NULL, reason text NOT NULL, answer text NOT NULL,
        PRIMARY KEY (origin, note_hash))""",
    """CREATE TABLE IF NOT EXISTS {s}.notices (
        notice_id uuid PRIMARY KEY, kind text NOT NULL, effective_date date NOT NULL,
        scheme text, insurer_code text, relay_time timestamptz NOT NULL,
        member_known boolean NOT NULL)""",
    *RECEIPT_TABLES,
    """CREATE TABLE IF NOT EXISTS {s}.settlements_received (
        settlement_id uuid PRIMARY KEY, sender text NOT NULL, period integer NOT NULL,
        base_date date NOT NULL, benefit text NOT NULL, member_number text NOT NULL,
        amount_yen bigint NOT NULL, total_yen bigint NOT NULL, corrects uuid,
        relay_time timestamptz NOT NULL, member_known boolean NOT NULL)""",
    *CLOSING_TABLES,
)


class InvalidInsurerCode(ValueError):
    """A code that cannot name a member store (it is not repeated: it may be anything)."""

    def __init__(self) -> None:
        super().__init__("an insurer code is 1 to 16 letters, digits or underscores")


def store_name(code: str) -> str:
    """The store's schema and role name, `insurer_<code>`, quoted for SQL."""
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise InvalidInsurerCode()
    return f'"insurer_{code}"'


async def create_store(conn: asyncpg.Connection, code: str) -> None:
    """The insurer's role and schema with its tables, owned by the role (idempotent)."""
    name = store_name(code)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
        role = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name.strip('"'))
        if role is None:
            await conn.execute(f"CREATE ROLE {name} NOLOGIN")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {name} AUTHORIZATION {name}")
        await conn.execute(f"SET LOCAL ROLE {name}")
        for statement in TABLES:
            await conn.execute(statement.format(s=name))


async def medical_insurers(conn: asyncpg.Connection) -> list[str]:
    """The codes of the insurers whose store in this database holds medical members: the
    medical insurers that may be a household's insurer on the base date."""
    rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'insurer\\_%' "
                            "ORDER BY nspname")
    found = []
    for r in rows:
        code = r["nspname"].removeprefix("insurer_")
        if await conn.fetchval(f"SELECT true FROM {store_name(code)}.members "
                               "WHERE scheme = 'medical' LIMIT 1"):
            found.append(code)
    return found


async def drop_store(conn: asyncpg.Connection, code: str) -> None:
    """The schema and everything in it; the role too unless it owns a store in another
    database."""
    name = store_name(code)
    await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    try:
        async with conn.transaction():
            await conn.execute(f"DROP ROLE IF EXISTS {name}")
    except asyncpg.DependentObjectsStillExistError:
        pass  # a store of the same insurer in another database keeps its role


async def fill_store(conn: asyncpg.Connection, code: str, members: list[MemberPeriod],
                     benefits: list[BenefitRecord]) -> int:
    """Replace the store's members and benefits with these, in one transaction; the number of
    distinct members (numbers) stored."""
    name = store_name(code)
    if any(m.insurer_code != code for m in members):
        raise ValueError("a member period of another insurer")
    async with conn.transaction():
        await conn.execute(f"DELETE FROM {name}.benefits")
        await conn.execute(f"DELETE FROM {name}.members")
        await conn.copy_records_to_table(
            "members", schema_name=name.strip('"'), records=[
                (m.member_number, m.scheme, m.capacity, m.valid_from, m.valid_to, m.household,
                 m.income_category, m.birth_date, m.died_on) for m in members],
            columns=["member_number", "scheme", "capacity", "valid_from", "valid_to",
                     "household", "income_category", "birth_date", "died_on"])
        await conn.copy_records_to_table(
            "benefits", schema_name=name.strip('"'), records=[
                (b.member_number, b.month, b.kind, b.self_pay_yen, b.benefit_yen)
                for b in benefits],
            columns=["member_number", "month", "kind", "self_pay_yen", "benefit_yen"])
    return len({m.member_number for m in members})


async def lookup(conn: asyncpg.Connection, code: str, member_number: str, on: date | None = None,
                 period: tuple[date, date] | None = None) -> list[MemberPeriod]:
    """The periods of `member_number` covering the day `on` and overlapping the inclusive
    `period` (each when given), oldest first."""
    name = store_name(code)
    first, last = period if period is not None else (None, None)
    rows = await conn.fetch(
        f"""SELECT * FROM {name}.members WHERE member_number = $1
            AND ($2::date IS NULL OR (valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)))
            AND ($3::date IS NULL OR ((valid_to IS NULL OR valid_to > $3) AND valid_from <= $4))
            ORDER BY valid_from, scheme, capacity""",
        member_number, on, first, last)
    return [MemberPeriod(code, r["member_number"], r["scheme"], r["capacity"], r["valid_from"],
                         r["valid_to"], r["household"], r["income_category"], r["birth_date"],
                         r["died_on"]) for r in rows]


async def benefits_of(conn: asyncpg.Connection, code: str, member_number: str,
                      period: tuple[date, date]) -> list[BenefitRecord]:
    """The member's monthly records of the months the inclusive `period` touches."""
    name = store_name(code)
    first, last = period
    rows = await conn.fetch(
        f"""SELECT * FROM {name}.benefits WHERE member_number = $1
            AND month >= date_trunc('month', $2::date)::date AND month <= $3
            ORDER BY month, kind""",
        member_number, first, last)
    return [BenefitRecord(r["member_number"], r["month"], r["kind"], r["self_pay_yen"],
                          r["benefit_yen"]) for r in rows]


async def remember_request(conn: asyncpg.Connection, code: str, request_id: UUID,
                           expires_at: datetime) -> bool:
    """Remember a request until `expires_at`; False when it was already remembered (a
    replay)."""
    name = store_name(code)
    added = await conn.fetchval(
        f"""INSERT INTO {name}.seen_requests (request_id, expires_at) VALUES ($1, $2)
            ON CONFLICT (request_id) DO NOTHING RETURNING true""", request_id, expires_at)
    return bool(added)


async def was_seen(conn: asyncpg.Connection, code: str, request_id: UUID) -> bool:
    """Whether the request is remembered (answered before and not forgotten yet)."""
    name = store_name(code)
    found = await conn.fetchval(
        f"SELECT true FROM {name}.seen_requests WHERE request_id = $1", request_id)
    return bool(found)


async def forget_expired(conn: asyncpg.Connection, code: str, now: datetime) -> int:
    """Forget the requests whose expiry has come by `now` (relay time); how many."""
    name = store_name(code)
    gone = await conn.fetch(
        f"DELETE FROM {name}.seen_requests WHERE expires_at <= $1 RETURNING 1", now)
    return len(gone)


async def record_notice(conn: asyncpg.Connection, code: str, notice_id: UUID, kind: str,
                        effective_date: date, scheme: str | None, insurer_code: str | None,
                        relay_time: datetime, member_known: bool) -> bool:
    """The insurer's own record of a change notice it received (whether the number it names
    is one of its store's members); False when it was already kept (a notice read again)."""
    name = store_name(code)
    added = await conn.fetchval(
        f"""INSERT INTO {name}.notices (notice_id, kind, effective_date, scheme, insurer_code,
            relay_time, member_known) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (notice_id) DO NOTHING RETURNING true""",
        notice_id, kind, effective_date, scheme, insurer_code, relay_time, member_known)
    return bool(added)


@dataclass(frozen=True)
class Settlement:
    """A settlement of the 合算 the insurer was told to pay, as it keeps it."""

    settlement_id: UUID
    sender: str
    period: int
    base_date: date
    benefit: str
    member_number: str
    amount_yen: int
    total_yen: int
    corrects: UUID | None
    relay_time: datetime
    member_known: bool


async def record_settlement(conn: asyncpg.Connection, code: str, s: Settlement) -> bool:
    """The insurer's own record of a settlement it is to pay, once per settlement id; False
    when it was already kept (a settlement read again)."""
    name = store_name(code)
    added = await conn.fetchval(
        f"""INSERT INTO {name}.settlements_received (settlement_id, sender, period,
            base_date, benefit, member_number, amount_yen, total_yen, corrects, relay_time,
            member_known)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (settlement_id) DO NOTHING RETURNING true""",
        s.settlement_id, s.sender, s.period, s.base_date, s.benefit, s.member_number,
        s.amount_yen, s.total_yen, s.corrects, s.relay_time, s.member_known)
    return bool(added)


async def settlements_kept(conn: asyncpg.Connection, code: str) -> list[Settlement]:
    """Every settlement the insurer kept, in the order of their relay time and id."""
    name = store_name(code)
    rows = await conn.fetch(f"SELECT * FROM {name}.settlements_received ORDER BY relay_time, "
                            "settlement_id")
    return [Settlement(**dict(r)) for r in rows]


async def notices_kept(conn: asyncpg.Connection, code: str) -> dict[UUID, tuple[str, bool]]:
    """Every change notice the insurer kept: its kind and whether it named a known member."""
    name = store_name(code)
    rows = await conn.fetch(f"SELECT notice_id, kind, member_known FROM {name}.notices")
    return {r["notice_id"]: (r["kind"], r["member_known"]) for r in rows}


async def record_exchange(conn: asyncpg.Connection, code: str, table: str, record_id: UUID,
                          request_id: UUID, counterpart: str, scheme: str | None,
                          category: str | None, purpose: str | None, outcome: str,
                          at: datetime, detail: dict[str, Any]) -> bool:
    """The insurer's own record of what it asked (`asked`) or answered (`answered`); a record
    already kept under `record_id` stays as it is. Whether it is new."""
    name = store_name(code)
    if table not in EXCHANGE_TABLES:
        raise ValueError("an exchange record is asked or answered")
    status = await conn.execute(
        f"""INSERT INTO {name}.{table} (id, request_id, counterpart, scheme, category, purpose,
            outcome, at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
            ON CONFLICT (id) DO NOTHING""",
        record_id, request_id, counterpart, scheme, category, purpose, outcome, at,
        json.dumps(detail, sort_keys=True))
    return status == "INSERT 0 1"


async def settlement_answered(conn: asyncpg.Connection, code: str, settlement_id: UUID,
                              refused: str | None) -> bool:
    """The relay's reply about one of the insurer's own settlements, on its ledger row (none
    when `settlement_id` names no settlement of the ledger): refused, with the reason, which
    takes the row out of its chain until a close sends it again; or forwarded, which puts a
    row marked refused back in the chain unless another now stands in its place (a resend of
    the same bytes the relay routed after refusing them once). Whether a row changed."""
    name = store_name(code)
    if refused is not None:
        status = await conn.execute(
            f"""UPDATE {name}.settlements SET refused = $2 WHERE settlement_id = $1
                AND sent_at IS NOT NULL""", settlement_id, refused)
    else:
        try:
            async with conn.transaction():  # a row a close writes meanwhile may take its place
                status = await conn.execute(
                    f"""UPDATE {name}.settlements s SET refused = NULL WHERE settlement_id = $1
                        AND refused IS NOT NULL AND NOT EXISTS (
                            SELECT 1 FROM {name}.settlements o WHERE o.refused IS NULL
                            AND o.settlement_id <> s.settlement_id AND o.period = s.period
                            AND o.member_key = s.member_key AND o.payer_side = s.payer_side
                            AND o.payer_code = s.payer_code AND o.benefit = s.benefit
                            AND o.corrects IS NOT DISTINCT FROM s.corrects)""", settlement_id)
        except asyncpg.UniqueViolationError:
            return False
    return status != "UPDATE 0"


@dataclass(frozen=True)
class MemberAccess:
    """The providing insurer's own record of one routed query about one of its members: who
    asked, for what, under which policy rows, when on the relay clock, and what it answered
    (`member_number` None when the sealed number did not open)."""

    item_id: UUID
    routed_id: UUID
    member_number: str | None
    asker: str
    scheme: str
    category: str
    purpose: str
    policy_row: str
    relay_time: datetime
    outcome: str


async def record_accesses(conn: asyncpg.Connection, code: str,
                          accesses: list[MemberAccess]) -> int:
    """Keep the insurer's own log of the persons a routed request asked about; an item kept
    already stays as it is (an answer sent again adds nothing). How many were new."""
    name = store_name(code)
    added = 0
    for a in accesses:
        added += bool(await conn.fetchval(
            f"""INSERT INTO {name}.member_accesses (item_id, routed_id, member_number, asker,
                scheme, category, purpose, policy_row, relay_time, outcome)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (item_id) DO NOTHING RETURNING true""",
            a.item_id, a.routed_id, a.member_number, a.asker, a.scheme, a.category, a.purpose,
            a.policy_row, a.relay_time, a.outcome))
    return added


async def accesses_of(conn: asyncpg.Connection, code: str,
                      member_number: str) -> list[MemberAccess]:
    """What the insurer's own log holds of queries about `member_number`, oldest first: what
    it can show its member beside the relay's log."""
    name = store_name(code)
    rows = await conn.fetch(
        f"""SELECT * FROM {name}.member_accesses WHERE member_number = $1
            ORDER BY relay_time, item_id""", member_number)
    return [MemberAccess(r["item_id"], r["routed_id"], r["member_number"], r["asker"],
                         r["scheme"], r["category"], r["purpose"], r["policy_row"],
                         r["relay_time"], r["outcome"]) for r in rows]


async def last_witnessed(conn: asyncpg.Connection, code: str,
                         origin: str) -> tuple[int, bytes, str] | None:
    """The last head of log `origin` the insurer cosigned as a witness: size, root and relay
    time; None before its first."""
    row = await conn.fetchrow(f"SELECT size, root, relay_time FROM {store_name(code)}."
                              "witnessed_heads WHERE origin = $1", origin)
    return None if row is None else (row["size"], bytes(row["root"]), row["relay_time"])


async def kept_answer(conn: asyncpg.Connection, code: str, origin: str,
                      note_hash: bytes) -> tuple[bool, str, str] | None:
    """The insurer's answer to the head with this note (cosigned, reason, the note it sent),
    if it answered it before: the same head is always answered the same."""
    row = await conn.fetchrow(f"SELECT cosigned, reason, answer FROM {store_name(code)}."
                              "witness_answers WHERE origin = $1 AND note_hash = $2",
                              origin, note_hash)
    return None if row is None else (row["cosigned"], row["reason"], row["answer"])


async def record_head_answer(conn: asyncpg.Connection, code: str, origin: str,
                             note_hash: bytes, relay_time: str, cosigned: bool, reason: str,
                             answer: str, seen: tuple[int, bytes, str] | None) -> None:
    """The witness's answer to the head with this note, kept before it is sent; cosigned,
    `seen` becomes the last head it witnessed of that log."""
    name = store_name(code)
    await conn.execute(
        f"""INSERT INTO {name}.witness_answers (origin, note_hash, relay_time, cosigned,
            reason, answer) VALUES ($1, $2, $3, $4, $5, $6)""",
        origin, note_hash, relay_time, cosigned, reason[:500], answer)
    if cosigned and seen is not None:
        await conn.execute(
            f"""INSERT INTO {name}.witnessed_heads (origin, size, root, relay_time, note)
                VALUES ($1, $2, $3, $4, $5) ON CONFLICT (origin) DO UPDATE SET
                size = EXCLUDED.size, root = EXCLUDED.root, relay_time = EXCLUDED.relay_time,
                note = EXCLUDED.note""", origin, *seen, answer)


async def head_answers(conn: asyncpg.Connection, code: str) -> list[tuple[str, str, bool, str]]:
    """Every head the insurer answered as a witness: origin, relay time, cosigned, reason."""
    rows = await conn.fetch(f"SELECT origin, relay_time, cosigned, reason FROM "
                            f"{store_name(code)}.witness_answers ORDER BY origin, relay_time, "
                            "note_hash")
    return [(r["origin"], r["relay_time"], r["cosigned"], r["reason"]) for r in rows]
