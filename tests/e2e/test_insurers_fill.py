"""`shaho insurers fill` end to end on the real stack, in a relay namespace of its own: every
insurer's store filled with the members the derivation gives, counts printed by code only."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from insurer_workers import member_store
from insurer_workers.members import members_from_filings
from synthetic.population import generate
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.e2e


def _fill(relay: RelayEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shaho.cli", "insurers", "fill", *args],
                          env=relay.cfg.child_env(), capture_output=True, text=True,
                          timeout=300, check=False)


async def test_fill_prints_counts_per_insurer_and_the_stores_hold_the_members(
        relay: RelayEnv) -> None:
    stores = members_from_filings(generate(5, 30, date(2025, 1, 1)).filings)
    done = _fill(relay, "--persons", "30", "--seed", "5")
    conn = await relay.connect()
    try:
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[:-1] == [f"insurer {code}: {len({p.member_number for p in periods})} members"
                              for code, periods in sorted(stores.items())]
        for periods in stores.values():
            for p in periods:
                assert p.member_number not in done.stdout + done.stderr
        some = stores["JPS"][0]
        found = await member_store.lookup(conn, "JPS", some.member_number, on=some.valid_from)
        assert some in found
        refused = _fill(relay, "--persons", "30", "--insurer", "x;DROP")
        assert refused.returncode == 2 and "DROP" not in refused.stderr + refused.stdout
    finally:
        for code in stores:
            await member_store.drop_store(conn, code)
        await conn.close()
