"""What the router reads and writes in PostgreSQL: persons found by the asker's number (blind
index), their links and open identity anomalies, and the exchange's own tables (migration 0009;
the settlements' 0016 and 0017).

Three queries find every person of a request, whatever its size; nothing is read in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

import asyncpg

from groundfloor.crypto import Keyring, Sealed, blind_index, open_sealed
from relay_exchange.routing import Link, Person
from relay_exchange.settling import Chain

LOOKALIKE = "lookalike"
"""The linker's code for an open identity anomaly (DOMAIN §5a): its person is suspect."""


def index_of(keyring: Keyring, kind: str, value: str) -> bytes:
    return blind_index(keyring, kind, value)


async def persons_by_number(conn: asyncpg.Connection,
                            keys: Iterable[tuple[str, bytes]]) -> dict[tuple[str, bytes], str]:
    """The relay id each (kind, blind index) names, where one is known."""
    keys = list(keys)
    rows = await conn.fetch(
        "SELECT r.kind, r.blind_index, r.relay_id FROM reference_index r "
        "JOIN unnest($1::text[], $2::bytea[]) AS k(kind, idx) "
        "ON r.kind = k.kind AND r.blind_index = k.idx",
        [k for k, _ in keys], [i for _, i in keys])
    return {(r["kind"], bytes(r["blind_index"])): r["relay_id"] for r in rows}


async def persons(conn: asyncpg.Connection, relay_ids: Iterable[str]) -> dict[str, Person]:
    """Each person's links (numbers sealed, as stored) and whether a look-alike anomaly about
    them is still open."""
    ids = sorted(set(relay_ids))
    rows = await conn.fetch(
        "SELECT l.relay_id, l.scheme, l.insurer_number, l.number_kind, l.number_index, "
        "l.valid_from, l.valid_to, l.retracted_by IS NOT NULL AS retracted, r.number_sealed "
        "FROM links l LEFT JOIN reference_index r "
        "ON r.kind = l.number_kind AND r.blind_index = l.number_index "
        "WHERE l.relay_id = ANY($1::text[]) ORDER BY l.relay_id, l.valid_from, l.link_id", ids)
    suspects = {r["relay_id"] for r in await conn.fetch(
        "SELECT DISTINCT unnest(relay_ids) AS relay_id FROM anomalies "
        "WHERE code = $1 AND NOT resolved AND relay_ids && $2::text[]", LOOKALIKE, ids)}
    links: dict[str, list[Link]] = {i: [] for i in ids}
    for r in rows:
        sealed = r["number_sealed"]
        links[r["relay_id"]].append(Link(
            r["scheme"], r["insurer_number"], r["number_kind"], bytes(r["number_index"]),
            bytes(sealed) if sealed is not None else None, r["valid_from"], r["valid_to"],
            r["retracted"]))
    return {i: Person(tuple(links[i]), i in suspects) for i in ids}


def open_number(keyring: Keyring, kind: str, stored: bytes) -> str:
    """A link's number in clear, for sealing it to its insurer at once; never kept."""
    sealed = Sealed.from_json_dict(json.loads(stored))
    return open_sealed(keyring, sealed, kind.encode()).decode()


async def seen_request(conn: asyncpg.Connection, asker: str, request_id: UUID) -> bool:
    return await conn.fetchval(
        "SELECT true FROM exchange_requests WHERE asker_code = $1 AND request_id = $2",
        asker, request_id) is not None


async def record_request(conn: asyncpg.Connection, asker: str, request_id: UUID,
                         relay_time: datetime, expires_at: datetime, entries: int,
                         forwarded: int) -> None:
    await conn.execute(
        "INSERT INTO exchange_requests (asker_code, request_id, relay_time, expires_at, "
        "entries, forwarded) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        asker, request_id, relay_time, expires_at, entries, forwarded)


async def count_rate(conn: asyncpg.Connection, participant: str, hour: datetime) -> int:
    """Persons already asked by `participant` in the relay hour starting at `hour` (locked)."""
    await conn.execute(
        "INSERT INTO exchange_rate (participant, hour, persons) VALUES ($1, $2, 0) "
        "ON CONFLICT DO NOTHING", participant, hour)
    return await conn.fetchval(
        "SELECT persons FROM exchange_rate WHERE participant = $1 AND hour = $2 FOR UPDATE",
        participant, hour)


async def add_rate(conn: asyncpg.Connection, participant: str, hour: datetime,
                   persons: int) -> None:
    await conn.execute("UPDATE exchange_rate SET persons = persons + $3 "
                       "WHERE participant = $1 AND hour = $2", participant, hour, persons)


async def add_items(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """(item_id, routed_id, request_id, asker, provider, entry, deadline, relay id, scheme,
    category, purpose, policy row, disclosure date or None) awaiting answers."""
    await conn.executemany(
        "INSERT INTO exchange_items (item_id, routed_id, request_id, asker_code, "
        "provider_code, entry, deadline, relay_id, scheme, category, purpose, policy_row, "
        "disclose_from, state) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'pending') "
        "ON CONFLICT DO NOTHING", rows)


async def routed_items(conn: asyncpg.Connection, routed_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT item_id, request_id, asker_code, provider_code, entry, deadline, state, "
        "relay_id, scheme, category, purpose, policy_row, disclose_from "
        "FROM exchange_items WHERE routed_id = $1 ORDER BY item_id FOR UPDATE", routed_id)


async def settle(conn: asyncpg.Connection, item_ids: list[UUID], state: str,
                 at: datetime) -> None:
    await conn.execute("UPDATE exchange_items SET state = $2, settled_at = $3 "
                       "WHERE item_id = ANY($1::uuid[])", item_ids, state, at)


async def overdue(conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """Items still pending whose deadline the relay clock has reached, in a fixed order."""
    return await conn.fetch(
        "SELECT item_id, routed_id, request_id, asker_code, provider_code, entry, deadline "
        "FROM exchange_items WHERE state = 'pending' AND deadline <= $1 "
        "ORDER BY deadline, routed_id, item_id FOR UPDATE", now)


async def count(conn: asyncpg.Connection, participant: str, reason: str, n: int = 1) -> None:
    """Count `n` refusals or set-asides of `reason` for `participant` (a public code)."""
    await conn.execute(
        "INSERT INTO exchange_counts (participant, reason, count) VALUES ($1, $2, $3) "
        "ON CONFLICT (participant, reason) DO UPDATE "
        "SET count = exchange_counts.count + EXCLUDED.count", participant, reason, n)


async def counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[tuple[str, str], int]:
    return {(r["participant"], r["reason"]): r["count"] for r in await conn.fetch(
        "SELECT participant, reason, count FROM exchange_counts ORDER BY 1, 2")}


# -- settlements of the 合算 (migration 0016) ----------------------------------------------------

async def settlement_digest(conn: asyncpg.Connection, sender: str,
                            settlement_id: UUID) -> bytes | None:
    """The digest of the record a settlement id of `sender` was routed from, or None."""
    found = await conn.fetchval(
        "SELECT digest FROM exchange_settlements WHERE sender_code = $1 AND settlement_id = $2",
        sender, settlement_id)
    return None if found is None else bytes(found)


async def record_settlement(conn: asyncpg.Connection, sender: str, settlement_id: UUID,
                            digest: bytes, payer: str, relay_id: str,
                            relay_time: datetime) -> None:
    await conn.execute(
        "INSERT INTO exchange_settlements (sender_code, settlement_id, digest, payer_code, "
        "relay_id, relay_time) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        sender, settlement_id, digest, payer, relay_id, relay_time)


async def settlement_chain(conn: asyncpg.Connection, relay_id: str, period: int, payer: str,
                           benefit: str) -> Chain | None:
    """The sender and last settlement id of the chain routed for the person, period, payer and
    benefit (locked for the caller's transaction), or None (migration 0017)."""
    row = await conn.fetchrow(
        "SELECT sender_code, last_id, closed FROM settlement_chains WHERE relay_id = $1 "
        "AND period = $2 AND payer_code = $3 AND benefit = $4 FOR UPDATE",
        relay_id, period, payer, benefit)
    return None if row is None else Chain(row["sender_code"], row["last_id"], row["closed"])


async def extend_chain(conn: asyncpg.Connection, relay_id: str, period: int, payer: str,
                       benefit: str, sender: str, settlement_id: UUID,
                       relay_time: datetime, closed: bool = False) -> None:
    """`settlement_id` of `sender` routed as the chain's last (its first when none was, or
    when the chain was closed); `closed` when it left nothing due (migration 0019)."""
    await conn.execute(
        "INSERT INTO settlement_chains (relay_id, period, payer_code, benefit, sender_code, "
        "last_id, relay_time, closed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (relay_id, period, payer_code, benefit) DO UPDATE "
        "SET sender_code = EXCLUDED.sender_code, last_id = EXCLUDED.last_id, "
        "relay_time = EXCLUDED.relay_time, closed = EXCLUDED.closed",
        relay_id, period, payer, benefit, sender, settlement_id, relay_time, closed)


async def settlement_notice_due(conn: asyncpg.Connection, relay_id: str, period: int,
                                payer: str, benefit: str, base_date: date, lapses_on: date,
                                remind_on: date) -> str | None:
    """Remember that the person is told of the benefit due from `payer` for `period`: "first"
    the first time, "again" when it was withdrawn (due again: its reminder goes unless it went
    before the withdrawal, the notice naming the lapse date), else None (told already)."""
    if await conn.fetchval(
            "INSERT INTO settlement_notices (relay_id, period, payer_code, benefit, base_date, "
            "lapses_on, remind_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING "
            "RETURNING true", relay_id, period, payer, benefit, base_date, lapses_on,
            remind_on) is not None:
        return "first"
    again = await conn.fetchval(
        "UPDATE settlement_notices SET withdrawn = false WHERE relay_id = $1 "
        "AND period = $2 AND payer_code = $3 AND benefit = $4 AND withdrawn RETURNING true",
        relay_id, period, payer, benefit)
    return "again" if again else None


async def withdraw_settlement_notice(conn: asyncpg.Connection, relay_id: str, period: int,
                                     payer: str, benefit: str) -> bool:
    """Nothing is due from `payer` for `period` any more: the person's notice withdrawn and its
    reminder cancelled (migration 0018); whether it was standing (the person is then told)."""
    return await conn.fetchval(
        "UPDATE settlement_notices SET withdrawn = true WHERE relay_id = $1 AND period = $2 "
        "AND payer_code = $3 AND benefit = $4 AND NOT withdrawn RETURNING true",
        relay_id, period, payer, benefit) is not None


async def reminders_due(conn: asyncpg.Connection, day: date) -> list[asyncpg.Record]:
    """The lapse reminders due by relay date `day`, not sent and not withdrawn, in a fixed
    order, marked sent (in the caller's transaction)."""
    return await conn.fetch(
        "UPDATE settlement_notices SET reminded = true WHERE (relay_id, period, payer_code, "
        "benefit) IN (SELECT relay_id, period, payer_code, benefit FROM settlement_notices "
        "WHERE NOT reminded AND NOT withdrawn AND remind_on <= $1 ORDER BY remind_on, "
        "relay_id, period, "
        "payer_code, benefit FOR UPDATE) RETURNING relay_id, period, payer_code, benefit, "
        "base_date, lapses_on", day)


async def deliver_inbox(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """(copy_id, relay_id, rule, step, key_date, deadline, refers_to, relay_time, body) into
    the persons' inboxes (the notifications processor's table, migration 0015)."""
    if rows:
        await conn.executemany(
            "INSERT INTO person_inbox (copy_id, relay_id, rule, step, key_date, deadline, "
            "refers_to, relay_time, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT DO NOTHING", rows)
