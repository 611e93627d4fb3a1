"""Covert entries and retention on the real stack: under a policy whose row delays disclosure,
the router logs the query and its answer sealed (one length, nothing of who, what or why in the
leaf) until the query's relay date plus the delay; `prove` shows the person only the sealed
leaves and their proofs before that date and the opened entries from it; `verify` opens them
throughout; the same input seals to the same leaves; and a month's tree goes whole once the relay
clock reaches seven years after the month."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from access_log.entries import SEALED_SIZE, AccessKind, open_covert, sealed_leaf
from access_log.months import deletable_from
from consumers.access_records import covert_key
from relay_exchange.policy import COLUMNS, default_policy
from tests.integration.exchange_env import (
    YEAR,
    ask,
    insured,
    job_changer,
    linked_population,
    medical_covers,
    request,
    route,
    run_workers,
)
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration
DELAY = 30


def _covert_policy(folder: Path) -> Path:
    """The shipped policy with every row delaying disclosure by DELAY days."""
    shipped = Path(sys.modules[default_policy.__module__].__file__).with_name(
        "purpose_policy.csv").read_text("utf-8").splitlines()
    column = COLUMNS.index("disclosure_delay_days")
    lines = [shipped[0], shipped[1]]
    for line in shipped[2:]:
        cells = line.split(",")
        cells[column] = str(DELAY)
        lines.append(",".join(cells))
    path = folder / "covert_policy.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(relay: RelayEnv, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "shaho.cli", "access-log", *args],
                          env=relay.cfg.child_env(), capture_output=True, timeout=120,
                          check=False)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def _exchange(out: str) -> str:
    """`prove`'s lines about the exchange log's entries, each with its leaf and proof."""
    kept, keep = [], False
    for line in out.splitlines():
        if not line.startswith("  "):
            keep = line.startswith("exchange ")
        if keep:
            kept.append(line)
    return "\n".join(kept)


async def _entries(relay: RelayEnv) -> list:
    """The exchange log's entries (the linker's pushed notices are in the notices log)."""
    conn = await relay.connect()
    try:
        return await conn.fetch("SELECT log, month, seq, entry_id, relay_id, leaf, covert_key, "
                                "disclose_from FROM access_entries WHERE log = 'exchange' "
                                "ORDER BY log, month, seq")
    finally:
        await conn.close()


async def test_covert_entries_are_sealed_until_their_date_and_months_expire_whole(
        relay: RelayEnv, tmp_path: Path):
    covert = {"SHAHO_PURPOSE_POLICY": str(_covert_policy(tmp_path))}
    await linked_population(relay)
    covers = await medical_covers(relay)
    now = relay.ticks[-1]
    end = now.date() - timedelta(days=1)
    a, providers = job_changer(covers, end)
    await ask(relay, request(a.insurer, [("c1", insured(a.number))], now,
                             period=(end - YEAR, end)))
    await relay.tick(now + timedelta(minutes=1))
    route(relay, covert)
    run_workers(relay, sorted(providers))
    await relay.tick(now + timedelta(minutes=2))
    route(relay, covert)

    rows = await _entries(relay)
    disclose_from = (now + timedelta(minutes=1)).astimezone(UTC).date() + timedelta(days=DELAY)
    assert len(rows) == 2 * len(providers), "a query and an answer per provider"
    for r in rows:
        leaf = bytes(r["leaf"])
        assert r["disclose_from"] == disclose_from
        assert r["relay_id"] == a.relay_id
        # a sealed leaf says only until when and which key (as a hash): nothing of the access
        data = json.loads(leaf)
        assert set(data) == {"disclose_from", "key", "sealed"}
        assert data["disclose_from"] == disclose_from.isoformat()
        assert len(data["key"]) == 64 and int(data["key"], 16) >= 0
        assert len(base64.b64decode(data["sealed"], validate=True)) == 12 + SEALED_SIZE + 16
        entry = open_covert(leaf, bytes(r["covert_key"]))
        assert entry.entry_id == r["entry_id"] and entry.asker == a.insurer
    assert len({len(bytes(r["leaf"])) for r in rows}) == 1, "every sealed leaf one length"
    assert len(open_covert(bytes(rows[0]["leaf"]), bytes(rows[0]["covert_key"])).leaf()) \
        < SEALED_SIZE
    kinds = sorted(open_covert(bytes(r["leaf"]), bytes(r["covert_key"])).kind for r in rows)
    assert kinds == sorted([AccessKind.RELAYED_QUERY, AccessKind.RELAYED_ANSWER]
                           * len(providers))

    # before the date: sealed leaves and their proofs, nothing of who asked
    code, out = _cli(relay, "prove", a.relay_id)
    assert code == 0, out
    out = _exchange(out)
    assert out.count("sealed entry") == len(rows) and out.count("hashes verified") == len(rows)
    assert a.insurer not in out and "combined_high_cost" not in out and "key " not in out
    code, out = _cli(relay, "verify")
    assert code == 0 and "holds together" in out, out

    # the same input seals to the same leaves: the key from the keyring and the entry id, the
    # nonce from the key, so sealing the entry again gives the stored leaf byte for byte
    for r in rows:
        key = covert_key(relay.keyring(), r["entry_id"])
        assert bytes(r["covert_key"]) == key
        entry = open_covert(bytes(r["leaf"]), key)
        assert sealed_leaf(entry, r["disclose_from"], key).leaf == bytes(r["leaf"])

    # from the date on the relay clock: opened, with the key to check it elsewhere
    at = datetime.combine(disclose_from, datetime.min.time(), UTC) + timedelta(hours=1)
    await relay.tick(at)
    route(relay, covert)
    code, out = _cli(relay, "prove", a.relay_id)
    assert code == 0, out
    out = _exchange(out)
    assert "sealed entry" not in out
    assert out.count(f"covert, disclosed from {disclose_from.isoformat()}") == len(rows)
    assert out.count("names this person: yes") == len(rows)
    assert f"{a.insurer} -> " in out

    # a covert leaf its key does not open is found by verify
    conn = await relay.connect()
    try:
        await conn.execute("UPDATE access_entries SET covert_key = $1 "
                           "WHERE log = 'exchange' AND seq = 0", bytes(32))
        code, out = _cli(relay, "verify")
        assert code == 1 and "position 0: the leaf is no entry in canonical form" in out, out
        await conn.execute("UPDATE access_entries SET covert_key = $1 "
                           "WHERE log = 'exchange' AND seq = 0", bytes(rows[0]["covert_key"]))
    finally:
        await conn.close()

    # retention: the month's tree stays through its seventh year and goes whole after it
    month = rows[0]["month"]
    last_day = datetime.combine(deletable_from(month), datetime.min.time(), UTC)
    await relay.tick(last_day - timedelta(hours=1))
    route(relay, covert)
    assert len(await _entries(relay)) == len(rows)
    await relay.tick(last_day + timedelta(hours=1))
    route(relay, covert)
    assert await _entries(relay) == []
    conn = await relay.connect()
    try:
        assert await conn.fetchval("SELECT count(*) FROM access_trees WHERE log = 'exchange' "
                                   "AND month = $1", month) == 0
    finally:
        await conn.close()
    code, out = _cli(relay, "verify")
    assert code == 0, out
