"""The access logs in PostgreSQL: appends in the caller's transaction (so an access and its entry
commit together, once), a month's leaf hashes, one person's entries, and expired months deleted.

Leaves are made by `access_log.entries`; this module only moves them in and out. Appends to one
log's month are serialised by locking its `access_trees` row, so `seq` is the commit order and
has no gaps; an entry id already logged is skipped (a record processed again adds nothing).
A person's salt and a covert entry's key are derived from the relay's keyring, so the same
accesses give the same leaves whenever and however often they are processed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from access_log.entries import AccessEntry, AccessKind, person_commitment, sealed_leaf
from access_log.months import expired, month_of
from access_log.verifier import leaf_hash
from groundfloor.crypto import Keyring, blind_index

EXCHANGE_LOG = "exchange"
"""The log of the queries and answers the relay routes."""
NOTICES_LOG = "notices"
"""The log of the change notices the linker pushes to insurers."""
LOGS = (EXCHANGE_LOG, NOTICES_LOG)


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
    disclose_from: date | None = None  # a covert entry: sealed until this relay date
    witness: str | None = None  # who witnesses the log's heads; the exchange's: the provider


async def add_witnesses(conn: asyncpg.Connection, log: str, witnesses: Iterable[str]) -> None:
    """Make `witnesses` (the providing insurers of the exchange's entries, the recipients of
    the notices') witnesses of `log`."""
    await conn.executemany("INSERT INTO access_witnesses (log, witness) VALUES ($1, $2) "
                           "ON CONFLICT DO NOTHING", [(log, w) for w in sorted(set(witnesses))])


def person_salt(keyring: Keyring, relay_id: str) -> bytes:
    """A person's salt, derived from the relay's keyring: the same person, the same salt."""
    return blind_index(keyring, "access-log/person-salt", relay_id)


def covert_key(keyring: Keyring, entry_id: str) -> bytes:
    """The key of one covert entry, derived from the relay's keyring and the entry's id."""
    return blind_index(keyring, "access-log/covert-key", entry_id)


async def _salts(conn: asyncpg.Connection, keyring: Keyring,
                 relay_ids: set[str]) -> dict[str, bytes]:
    ids = sorted(relay_ids)
    await conn.executemany(
        "INSERT INTO access_person_salts (relay_id, salt) VALUES ($1, $2) "
        "ON CONFLICT (relay_id) DO NOTHING", [(r, person_salt(keyring, r)) for r in ids])
    rows = await conn.fetch("SELECT relay_id, salt FROM access_person_salts "
                            "WHERE relay_id = ANY($1::text[])", ids)
    return {r["relay_id"]: bytes(r["salt"]) for r in rows}


async def append(conn: asyncpg.Connection, accesses: Sequence[Access], keyring: Keyring,
                 log: str = EXCHANGE_LOG) -> int:
    """Log `accesses` in log `log`, in the caller's transaction, in their order; the number
    newly logged. A covert access (one with `disclose_from`) is sealed until that date.

    The months' rows are locked first (in month order) and held to the commit, so a caller
    appends to the access log before it writes its outbox rows; ids already logged are looked
    up under the lock, so a concurrent writer of the same id waits and then skips it."""
    if log not in LOGS:
        raise ValueError(f"no access log {log!r}")
    if not accesses:
        return 0
    months = sorted({month_of(a.relay_time) for a in accesses})
    await conn.executemany("INSERT INTO access_trees (log, month) VALUES ($1, $2) "
                           "ON CONFLICT (log, month) DO NOTHING", [(log, m) for m in months])
    sizes = {r["month"]: r["size"] for r in await conn.fetch(
        "SELECT month, size FROM access_trees WHERE log = $1 AND month = ANY($2::text[]) "
        "ORDER BY month FOR UPDATE", log, months)}
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
    await add_witnesses(conn, log, {a.witness or (a.provider if log == EXCHANGE_LOG else None)
                                    for a in fresh} - {None})
    salts = await _salts(conn, keyring, {a.relay_id for a in fresh})
    by_month: dict[str, list[Access]] = {}
    for a in fresh:
        by_month.setdefault(month_of(a.relay_time), []).append(a)
    for month in sorted(by_month):
        size = sizes[month]
        rows = []
        for n, a in enumerate(by_month[month]):
            entry = AccessEntry(
                entry_id=a.entry_id, kind=a.kind, asker=a.asker, provider=a.provider,
                person=person_commitment(salts[a.relay_id], a.relay_id, a.entry_id),
                scheme=a.scheme, category=a.category, purpose=a.purpose,
                policy_row=a.policy_row or "-", relay_time=a.relay_time.isoformat(),
                outcome=a.outcome)
            key = None
            if a.disclose_from is None:
                leaf = entry.leaf()
            else:
                key = covert_key(keyring, a.entry_id)
                leaf = sealed_leaf(entry, a.disclose_from, key).leaf
            rows.append((log, month, size + n, a.entry_id, a.relay_id, leaf, leaf_hash(leaf),
                         key, a.disclose_from))
        await conn.executemany(
            "INSERT INTO access_entries (log, month, seq, entry_id, relay_id, leaf, leaf_hash, "
            "covert_key, disclose_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", rows)
        await conn.execute("UPDATE access_trees SET size = $3 WHERE log = $1 AND month = $2",
                           log, month, size + len(rows))
    return len(fresh)


async def leaf_hashes(conn: asyncpg.Connection, month: str,
                      log: str = EXCHANGE_LOG) -> list[bytes]:
    """The log's month's leaf hashes in log order."""
    rows = await conn.fetch("SELECT leaf_hash FROM access_entries WHERE log = $1 AND "
                            "month = $2 ORDER BY seq", log, month)
    return [bytes(r["leaf_hash"]) for r in rows]


async def person_entries(conn: asyncpg.Connection, relay_id: str) -> list[asyncpg.Record]:
    """One person's entries in every log (log, month, seq, entry id, leaf, covert key and
    disclosure date), by log, then oldest first."""
    return await conn.fetch("SELECT log, month, seq, entry_id, leaf, covert_key, disclose_from "
                            "FROM access_entries WHERE relay_id = $1 ORDER BY log, month, seq",
                            relay_id)


async def delete_expired(conn: asyncpg.Connection, today: date) -> list[tuple[str, str]]:
    """Delete whole every month's tree (its entries with it) that is past retention on relay
    date `today`; the (log, month) pairs deleted. A person's salt stays: it is derived."""
    months = [(r["log"], r["month"]) for r in await conn.fetch(
        "SELECT log, month FROM access_trees ORDER BY log, month")]
    gone = [(log, month) for log, month in months
            if month in expired([month], today)]
    if gone:
        await conn.executemany("DELETE FROM access_trees WHERE log = $1 AND month = $2", gone)
    return gone


async def salt_of(conn: asyncpg.Connection, relay_id: str) -> bytes | None:
    """The person's salt, which they need to check that an entry names them."""
    value = await conn.fetchval("SELECT salt FROM access_person_salts WHERE relay_id = $1",
                                relay_id)
    return None if value is None else bytes(value)
