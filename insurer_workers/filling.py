"""Fills every simulated insurer's member store from a synthetic population: derive what each
insurer knows of its members (`members`), then replace its store's content (`member_store`).

Counts are per insurer code (public); no number leaves this module.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from groundfloor.config import StackConfig
from insurer_workers import member_store
from insurer_workers.members import benefits_for, members_from_filings
from synthetic.population import Population


async def fill_member_stores(cfg: StackConfig, population: Population,
                             codes: Iterable[str] | None = None, *,
                             benefit_seed: int = 0) -> dict[str, int]:
    """Create (when missing) and fill the store of every insurer that knows a member of
    `population`, or only of the insurers `codes` (a named insurer without members gets an
    empty store), in the stack's database; the number of members stored per insurer code."""
    stores = members_from_filings(population.filings)
    chosen = sorted(stores) if codes is None else sorted(set(codes))
    for code in chosen:
        member_store.store_name(code)  # every code checked before any store is touched
    counts: dict[str, int] = {}
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        for code in chosen:
            members = stores.get(code, [])
            await member_store.create_store(conn, code)
            counts[code] = await member_store.fill_store(
                conn, code, members, benefits_for(members, benefit_seed))
    finally:
        await conn.close()
    return counts
