"""The access log on the real stack: every person the router forwards and every answer it
delivers becomes one entry in the same transaction (a record routed again adds none), a leaf
names no one, the providing insurers' workers cosign the relay's heads, `shaho access-log prove`
shows a person their entries with proofs against the latest witnessed head that the standalone
verifier accepts, and `shaho access-log verify` finds an entry moved to another person, a leaf
rewritten with its hash (which the witnesses then refuse as a fork when the relay re-signs the
tree), a leaf edited without it, and a gap left by a deleted entry."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from access_log.entries import AccessKind, entry_of
from access_log.months import month_of
from access_log.verifier import leaf_hash, verify_head
from consumers import access_heads
from consumers.access_heads import HEAD_INTERVAL
from consumers.access_records import EXCHANGE_LOG
from insurer_workers import member_store
from tests.integration.exchange_env import (
    YEAR,
    ask,
    insured,
    job_changer,
    linked_population,
    medical_covers,
    replies,
    request,
    route,
    run_workers,
)
from tests.integration.relay_env import RelayEnv
from trust.directory import Directory
from trust.keys import access_log_key

pytestmark = pytest.mark.integration


def _cli(relay: RelayEnv, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "shaho.cli", "access-log", *args],
                          env=relay.cfg.child_env(), capture_output=True, timeout=120,
                          check=False)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


async def test_relayed_queries_and_answers_are_logged_once_and_proven(relay: RelayEnv):
    await linked_population(relay)
    covers = await medical_covers(relay)
    now = relay.ticks[-1]
    end = now.date() - timedelta(days=1)
    a, providers = job_changer(covers, end)
    asker = a.insurer
    await ask(relay, request(asker, [("s1", insured(a.number)), ("s2", insured(a.number))],
                             now, period=(end - YEAR, end)))
    await relay.tick(now + timedelta(minutes=1))
    route(relay)
    run_workers(relay, sorted(providers))
    await relay.tick(now + timedelta(minutes=2))
    route(relay)
    route(relay)  # nothing new: nothing logged again
    for minute in (3, 4):  # the providers witness the heads; their cosignatures come back
        run_workers(relay, sorted(providers))
        await relay.tick(now + timedelta(minutes=minute))
        route(relay)

    conn = await relay.connect()
    try:
        rows = await conn.fetch("SELECT month, seq, relay_id, leaf FROM access_entries "
                                "WHERE log = 'exchange' ORDER BY month, seq")
        # the providing insurer's own end: each person it was asked about, under its number
        for p in providers:
            numbers = {c.number for c in covers[a.relay_id] if c.insurer == p}
            kept = await conn.fetch(f'SELECT * FROM "insurer_{p}".member_accesses')
            assert len(kept) == 2 and {k["member_number"] for k in kept} <= numbers
            assert {(k["asker"], k["purpose"], k["outcome"]) for k in kept} == {
                (asker, "combined_high_cost", "covered")}
            mine = [x for n in numbers for x in await member_store.accesses_of(conn, p, n)]
            assert sorted(x.item_id for x in mine) == sorted(k["item_id"] for k in kept)
    finally:
        await conn.close()
    entries = [entry_of(bytes(r["leaf"])) for r in rows]
    month = rows[0]["month"]
    answered = [r for r in await replies(relay, asker) if r.outcome.value == "answered"]
    assert len([e for e in entries if e.kind is AccessKind.RELAYED_QUERY]) == 2 * len(providers)
    assert len([e for e in entries if e.kind is AccessKind.RELAYED_ANSWER]) == len(answered) \
        == 2 * len(providers)
    assert {e.provider for e in entries} == providers and {e.asker for e in entries} == {asker}
    assert {r["relay_id"] for r in rows} == {a.relay_id}
    conn = await relay.connect()
    try:  # the providing insurers witness the exchange log's heads
        assert {r["witness"] for r in await conn.fetch(
            "SELECT witness FROM access_witnesses WHERE log = 'exchange'")} == providers
    finally:
        await conn.close()
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    number = a.number.split("|")[1]
    for r, e in zip(rows, entries, strict=True):  # a leaf names no one: no relay id, no number
        assert a.relay_id.encode() not in bytes(r["leaf"])
        assert a.number.encode() not in bytes(r["leaf"])
        assert number not in {e.entry_id, e.asker, e.provider, e.scheme, e.category, e.purpose,
                              e.policy_row, e.outcome}
    assert len({e.person for e in entries}) == len(entries), "one person's entries unlinkable"
    # entry ids are keyed by the relay: not the routed item ids asker and provider can compute
    assert all(len(e.entry_id) == 48 and "-" not in e.entry_id for e in entries)

    code, out = _cli(relay, "prove", a.relay_id)
    assert code == 0, out
    proven = [line for line in out.splitlines()  # the linker's notices are in another log
              if line.startswith("exchange ") and "names this person: yes" in line]
    assert len(proven) == len(entries) and all("verified" in line for line in proven)
    assert "salt " in out and "  proof " in out and "not caught" not in out, out
    assert all("(witnessed head)" in line for line in proven), out
    assert f"exchange {month}: head of {len(rows)} entries" in out and "cosigned by" in out, out
    code, out = _cli(relay, "verify")
    assert code == 0 and "holds together" in out, out
    assert "0 refused, 0 unanswered: hold together" in out, out
    conn = await relay.connect()
    try:  # each witness cosigned every head it was sent; the last covers every entry
        note = await access_heads.witnessed_head(conn, EXCHANGE_LOG, month)
        keys = {p: Directory(relay.cfg).latest("insurer", p).public_key for p in providers}
        checked = verify_head(note, access_log_key(relay.cfg), keys, cosignatures=1)
        assert checked.head.size == len(rows) and set(checked.witnesses) == providers
        for p in providers:
            answered = await member_store.head_answers(conn, p)
            assert answered and all(cosigned for _, _, cosigned, _ in answered), answered
    finally:
        await conn.close()

    conn = await relay.connect()
    try:
        # an entry moved to another person
        await conn.execute("UPDATE access_entries SET relay_id = 'SOMEONE-ELSE' "
                           "WHERE log = 'exchange' AND seq = 2")
        code, out = _cli(relay, "verify")
        assert code == 1 and "position 2: the leaf does not name the row's person" in out, out
        await conn.execute("UPDATE access_entries SET relay_id = $1 "
                           "WHERE log = 'exchange' AND seq = 2", a.relay_id)
        # a leaf re-spaced, its hash recomputed to match
        spaced = b" " + bytes(rows[3]["leaf"])
        await conn.execute("UPDATE access_entries SET leaf = $1, leaf_hash = $2 "
                           "WHERE log = 'exchange' AND seq = 3", spaced, leaf_hash(spaced))
        code, out = _cli(relay, "verify")
        assert code == 1 and "position 3: the leaf is no entry in canonical form" in out, out
        code, out = _cli(relay, "prove", a.relay_id)
        assert code == 1 and "#3: REFUSED" in out, out
        # the edited tree re-signed an interval later: every witness refuses it as a fork
        later = now + timedelta(minutes=4) + HEAD_INTERVAL
        assert month_of(later) == month, "the test's relay times stay in one month"
        await relay.tick(later)
        route(relay)
        run_workers(relay, sorted(providers))
        await relay.tick(later + timedelta(minutes=1))
        route(relay)
        for p in providers:
            refused = [r for r in await member_store.head_answers(conn, p) if not r[2]]
            assert [r[3].split(":")[0] for r in refused] == ["fork"], refused
        code, out = _cli(relay, "verify")
        assert code == 1 and "no longer give its root" in out and "refused it: fork" in out, out
        # a leaf edited without its hash, then deleted
        await conn.execute("UPDATE access_entries SET leaf = leaf || '\\x20'::bytea "
                           "WHERE log = 'exchange' AND seq = 1")
        code, out = _cli(relay, "verify")
        assert code == 1 and "position 1: the leaf does not hash" in out, out
        await conn.execute("DELETE FROM access_entries WHERE log = 'exchange' AND seq = 1")
        code, out = _cli(relay, "verify")
        assert code == 1 and "gap" in out and "the tree records" in out, out
    finally:
        await conn.close()
