"""The access log in PostgreSQL: appends in the caller's transaction (so an access and its entry
commit together, once), a month's leaf hashes, and one person's entries with their positions.

Leaves are made by `access_log.entries`; this module only moves them in and out. Appends to one
month are serialised by locking its `access_trees` row, so `seq` is the commit order and has no
gaps; an entry id already logged is skipped (a record processed again adds nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from access_log.entries import AccessEntry, AccessKind, new_salt, person_commitment
from access_log.months import month_of
from access_log.verifier import leaf_hash


@dataclass(frozen=True)
class Access:
    """One access to one person's data, as the processor that made it knows it."""

    entry_id: str
    relay_id: str
    kind: AccessKind
    asker: str | None
    provider: str
    scheme: str
    category: str
    purpose: str
    policy_row: str
    relay_time: datetime
    outcome: str


async def _salts(conn: asyncpg.Connection, relay_ids: set[str]) -> dict[str, bytes]:
    ids = sorted(relay_ids)
    await conn.executemany(
        "INSERT INTO access_person_salts (relay_id, salt) VALUES ($1, $2) "
        "ON CONFLICT (relay_id) DO NOTHING", [(r, new_salt()) for r in ids])
    rows = await conn.fetch("SELECT relay_id, salt FROM access_person_salts "
                            "WHERE relay_id = ANY($1::text[])", ids)
    return {r["relay_id"]: bytes(r["salt"]) for r in rows}


async def append(conn: asyncpg.Connection, accesses: Sequence[Access]) -> int:
    """Log `accesses` in the caller's transaction, in their order; the number newly logged.

    The months' rows are locked first (in month order) and held to the commit, so a caller
    appends to the access log before it writes its outbox rows; ids already logged are looked
    up under the lock, so a concurrent writer of the same id waits and then skips it."""
    if not accesses:
        return 0
    months = sorted({month_of(a.relay_time) for a in accesses})
    await conn.executemany("INSERT INTO access_trees (month) VALUES ($1) "
                           "ON CONFLICT (month) DO NOTHING", [(m,) for m in months])
    sizes = {r["month"]: r["size"] for r in await conn.fetch(
        "SELECT month, size FROM access_trees WHERE month = ANY($1::text[]) "
        "ORDER BY month FOR UPDATE", months)}
    known = {r["entry_id"] for r in await conn.fetch(
        "SELECT entry_id FROM access_entries WHERE entry_id = ANY($1::text[])",
        [a.entry_id for a in accesses])}
    fresh: list[Access] = []
    for a in accesses:
        if a.entry_id not in known:
            known.add(a.entry_id)
            fresh.append(a)
    if not fresh:
        return 0
    salts = await _salts(conn, {a.relay_id for a in fresh})
    by_month: dict[str, list[Access]] = {}
    for a in fresh:
        by_month.setdefault(month_of(a.relay_time), []).append(a)
    for month in sorted(by_month):
        size = sizes[month]
        rows = []
        for n, a in enumerate(by_month[month]):
            leaf = AccessEntry(
                entry_id=a.entry_id, kind=a.kind, asker=a.asker, provider=a.provider,
                person=person_commitment(salts[a.relay_id], a.relay_id, a.entry_id),
                scheme=a.scheme, category=a.category, purpose=a.purpose,
                policy_row=a.policy_row or "-", relay_time=a.relay_time.isoformat(),
                outcome=a.outcome).leaf()
            rows.append((month, size + n, a.entry_id, a.relay_id, leaf, leaf_hash(leaf)))
        await conn.executemany(
            "INSERT INTO access_entries (month, seq, entry_id, relay_id, leaf, leaf_hash) "
            "VALUES ($1, $2, $3, $4, $5, $6)", rows)
        await conn.execute("UPDATE access_trees SET size = $2 WHERE month = $1", month,
                           size + len(rows))
    return len(fresh)


async def leaf_hashes(conn: asyncpg.Connection, month: str) -> list[bytes]:
    """The month's leaf hashes in log order."""
    rows = await conn.fetch("SELECT leaf_hash FROM access_entries WHERE month = $1 "
                            "ORDER BY seq", month)
    return [bytes(r["leaf_hash"]) for r in rows]


async def person_entries(conn: asyncpg.Connection, relay_id: str) -> list[asyncpg.Record]:
    """One person's entries (month, seq, leaf), oldest first."""
    return await conn.fetch("SELECT month, seq, entry_id, leaf FROM access_entries "
                            "WHERE relay_id = $1 ORDER BY month, seq", relay_id)


async def salt_of(conn: asyncpg.Connection, relay_id: str) -> bytes | None:
    """The person's salt, which they need to check that an entry names them."""
    value = await conn.fetchval("SELECT salt FROM access_person_salts WHERE relay_id = $1",
                                relay_id)
    return None if value is None else bytes(value)
