"""Reading the relay database back for people and tests: a person's links as of a date, the
anomalies by kind, and the whole state (to compare with the pure fold).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import asyncpg

from groundfloor.crypto import Keyring, Sealed, open_sealed
from relay_linker import row_mapping
from relay_linker.domain.state import RelayState, new_state


async def load_all(conn: asyncpg.Connection, keyring: Keyring) -> RelayState:
    """The complete state held in the tables (for comparisons with the in-memory fold)."""
    s = new_state()
    for r in await conn.fetch("SELECT * FROM persons"):
        s.persons[r["relay_id"]] = row_mapping.person_of(r)
    for r in await conn.fetch("SELECT * FROM identity_changes ORDER BY change_id"):
        change = row_mapping.identity_of(keyring, r)
        s.identity[change.relay_id] = (*s.identity.get(change.relay_id, ()), change)
    for r in await conn.fetch("SELECT * FROM links ORDER BY link_id"):
        link = row_mapping.link_of(r)
        s.links[link.relay_id] = (*s.links.get(link.relay_id, ()), link)
    for r in await conn.fetch("SELECT * FROM cards ORDER BY fingerprint"):
        card = row_mapping.card_of(r)
        s.cards[card.relay_id] = (*s.cards.get(card.relay_id, ()), card)
    for r in await conn.fetch("SELECT * FROM age_milestones ORDER BY relay_id, name"):
        m = row_mapping.milestone_of(r)
        s.milestones[m.relay_id] = (*s.milestones.get(m.relay_id, ()), m)
    for r in await conn.fetch("SELECT * FROM reference_index"):
        entry = row_mapping.index_of(r)
        s.index[entry.key] = entry
    for r in await conn.fetch("SELECT * FROM anomalies"):
        s.anomalies[r["anomaly_id"]] = row_mapping.anomaly_of(r)
    for r in await conn.fetch("SELECT * FROM filing_ledger"):
        entry = row_mapping.ledger_of(r)
        s.ledger[entry.event_id] = entry
        s.references[(entry.filer_code, entry.filing_reference)] = entry.event_id
    for r in await conn.fetch("SELECT * FROM parked_filings"):
        s.parked[r["event_id"]] = row_mapping.parked_of(keyring, r)
    return s


@dataclass(frozen=True)
class LinkView:
    """A link as people see it: the number masked but for its last two characters."""

    scheme: str
    insurer_number: str
    capacity: str
    category: str | None
    number: str
    valid_from: date
    valid_to: date | None
    retracted: bool


def mask(number: str) -> str:
    return "*" * max(len(number) - 2, 2) + number[-2:] if len(number) > 4 else "****"


async def links_as_of(conn: asyncpg.Connection, keyring: Keyring, relay_id: str,
                      as_of: date | None) -> list[LinkView]:
    """The person's links valid on `as_of` (all of them, history included, when None)."""
    found = await conn.fetch(
        "SELECT l.*, COALESCE(r.number_sealed, l.number_sealed) AS known_sealed "
        "FROM links l LEFT JOIN reference_index r "
        "ON r.kind = l.number_kind AND r.blind_index = l.number_index "
        "WHERE l.relay_id = $1 AND ($2::date IS NULL OR (l.retracted_by IS NULL "
        "AND l.valid_from <= $2 AND (l.valid_to IS NULL OR $2 < l.valid_to))) "
        "ORDER BY l.valid_from, l.scheme", relay_id, as_of)
    views = []
    for r in found:
        number = "****"
        if r["known_sealed"] is not None:
            sealed = Sealed.from_json_dict(json.loads(r["known_sealed"]))
            number = mask(open_sealed(keyring, sealed, r["number_kind"].encode()).decode())
        views.append(LinkView(r["scheme"], r["insurer_number"], r["capacity"], r["category"],
                              number, r["valid_from"], r["valid_to"],
                              r["retracted_by"] is not None))
    return views


async def anomalies_by_kind(conn: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    """Every anomaly by kind, open ones first, then in the order they were recorded."""
    grouped: dict[str, list[asyncpg.Record]] = {}
    for r in await conn.fetch("SELECT anomaly_id, code, relay_ids, event_id, fields, resolved "
                              "FROM anomalies ORDER BY code, resolved, recorded_at"):
        grouped.setdefault(r["code"], []).append(r)
    return grouped


@dataclass(frozen=True)
class AnomalyCount:
    """How many anomalies of one kind are open (still to look at) and how many resolved."""

    open: int = 0
    resolved: int = 0

    def __str__(self) -> str:
        return f"{self.open} open, {self.resolved} resolved"


async def anomaly_counts(conn: asyncpg.Connection) -> dict[str, AnomalyCount]:
    """Open and resolved anomalies per kind, kinds with open ones first."""
    counts: dict[str, AnomalyCount] = {}
    for r in await conn.fetch("SELECT code, count(*) FILTER (WHERE NOT resolved) AS open, "
                              "count(*) FILTER (WHERE resolved) AS resolved "
                              "FROM anomalies GROUP BY code"):
        counts[r["code"]] = AnomalyCount(r["open"], r["resolved"])
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1].open, -kv[1].resolved, kv[0])))
