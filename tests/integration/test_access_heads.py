"""Signed tree heads on the real database: the relay signs a month's head when its tree grows
and again at a steady interval of relay time; witnesses (each with its own key) cosign a head
that extends the last they cosigned. A relay that edits an entry, rebuilds the tree and re-signs
is refused by the witnesses as a fork, and the stored heads' check finds the edit, the refusals,
a head with a bad signature and a witness that stopped cosigning."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.entries import AccessKind
from access_log.heads import cosigned, judge
from access_log.verifier import leaf_hash, verify_head
from consumers import access_heads, access_records
from consumers.access_records import EXCHANGE_LOG, Access
from tests.integration.relay_env import RelayEnv
from trust.keys import access_log_key, access_log_signer

pytestmark = pytest.mark.integration

RELAY_KEY = ec.generate_private_key(ec.SECP256R1())
SIGNER = ("relay-access-log", RELAY_KEY)
RELAY = ("relay-access-log", RELAY_KEY.public_key())
WITNESS_KEYS = {w: ec.generate_private_key(ec.SECP256R1())
                for w in ("insurer.01270016", "insurer.06130012")}
PUBLIC = {w: k.public_key() for w, k in WITNESS_KEYS.items()}
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def _accesses(start: int, n: int, at: datetime) -> list[Access]:
    return [Access(entry_id=f"{i:048x}", relay_id=f"R-{i % 3}", kind=AccessKind.RELAYED_QUERY,
                   asker="insurer.01270016", provider="insurer.06130012", scheme="kenpo",
                   category="medical", purpose="eligibility", policy_row="row-1",
                   relay_time=at + timedelta(seconds=i), outcome="forwarded")
            for i in range(start, start + n)]


def _verify(relay: RelayEnv) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "shaho.cli", "access-log", "verify"],
                          env=relay.cfg.child_env(), capture_output=True, timeout=120,
                          check=False)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


class Witness:
    """A witness as the insurer's worker runs it: the last head it cosigned, per origin."""

    def __init__(self, name: str) -> None:
        self.name, self.seen = name, {}

    def answer(self, sent: access_heads.ForWitness, now: datetime) -> tuple[str, str | None]:
        head_origin = access_heads.head_origin(sent.log, sent.month)
        verdict = judge(sent.note, sent.proof, self.seen.get(head_origin), head_origin, RELAY,
                        now)
        if not verdict.cosign:
            return sent.note, verdict.reason
        self.seen[head_origin] = verdict.seen
        return cosigned(sent.note, self.name, WITNESS_KEYS[self.name]), None


async def _round(conn, witnesses: dict[str, Witness], now: datetime,
                 silent: set[str] = frozenset()) -> dict[str, str | None]:
    async with conn.transaction():
        sent = await access_heads.heads_due(conn, EXCHANGE_LOG, now, SIGNER)
    answers = {}
    for s in sent:
        if s.witness in silent:
            continue
        note, refusal = witnesses[s.witness].answer(s, now)
        assert await access_heads.take_answer(conn, EXCHANGE_LOG, s.witness, note, RELAY,
                                              PUBLIC, refusal) is None
        answers[s.witness] = refusal
    return answers


async def test_heads_are_cosigned_until_a_rewritten_history_is_refused(relay: RelayEnv):
    global SIGNER, RELAY
    SIGNER = access_log_signer(relay.cfg)  # the relay's own head key, as `verify` finds it
    RELAY = access_log_key(relay.cfg)
    keyring = relay.keyring()
    witnesses = {w: Witness(w) for w in WITNESS_KEYS}
    conn = await relay.connect()
    try:
        async with conn.transaction():
            await access_records.append(conn, _accesses(0, 5, T0), keyring)
            await access_records.add_witnesses(conn, EXCHANGE_LOG, WITNESS_KEYS)
        assert await _round(conn, witnesses, T0 + timedelta(minutes=1)) == \
            {w: None for w in WITNESS_KEYS}
        note = await access_heads.witnessed_head(conn, EXCHANGE_LOG, "2026-12")
        checked = verify_head(note, RELAY, PUBLIC, cosignatures=2)
        assert checked.head.size == 5 and set(checked.witnesses) == set(WITNESS_KEYS)
        # nothing grew and the interval has not passed: no head
        assert await _round(conn, witnesses, T0 + timedelta(minutes=2)) == {}
        # the tree grows: a new head, cosigned with the consistency proof from size 5
        async with conn.transaction():
            await access_records.append(conn, _accesses(5, 4, T0 + timedelta(minutes=3)),
                                        keyring)
        assert await _round(conn, witnesses, T0 + timedelta(minutes=4)) == \
            {w: None for w in WITNESS_KEYS}
        assert verify_head(await access_heads.witnessed_head(conn, EXCHANGE_LOG, "2026-12"),
                           RELAY, PUBLIC).head.size == 9
        assert await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY) == []
        code, out = _verify(relay)
        assert code == 0 and "exchange heads: 2 signed, 4 cosignatures, 0 refused, 0 " \
            "unanswered: hold together" in out, out

        # the relay's database edited: a leaf changed, its hash recomputed; the tree is rebuilt
        # and a head re-signed with the relay's own key an interval later
        leaf = b" " + bytes(await conn.fetchval(
            "SELECT leaf FROM access_entries WHERE log = 'exchange' AND seq = 2"))
        await conn.execute("UPDATE access_entries SET leaf = $1, leaf_hash = $2 WHERE seq = 2",
                           leaf, leaf_hash(leaf))
        later = T0 + timedelta(minutes=4) + access_heads.HEAD_INTERVAL
        answers = await _round(conn, witnesses, later)
        assert set(answers) == set(WITNESS_KEYS)
        assert all(r is not None and r.startswith("fork") for r in answers.values()), answers
        # the last witnessed head is still the honest one
        assert verify_head(await access_heads.witnessed_head(conn, EXCHANGE_LOG, "2026-12"),
                           RELAY, PUBLIC).head.relay_time == "2026-12-06T03:04:00Z"
        # grown on top of the edit: the proof from the honest head fails, a fork again
        async with conn.transaction():
            await access_records.append(conn, _accesses(9, 2, later), keyring)
        answers = await _round(conn, witnesses, later + timedelta(minutes=1))
        assert all(r is not None and r.startswith("fork") for r in answers.values()), answers

        problems = await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY)
        assert any("no longer give its root" in p and "at 2026-12-06T03:04:00Z" in p
                   for p in problems), problems
        assert sum("refused it: fork" in p for p in problems) == 4, problems
        code, out = _verify(relay)
        assert code == 1 and "no longer give its root" in out and "refused it: fork" in out, out
    finally:
        await conn.close()


async def test_bad_signatures_and_silent_witnesses_are_found(relay: RelayEnv):
    keyring = relay.keyring()
    witnesses = {w: Witness(w) for w in WITNESS_KEYS}
    quiet = "insurer.06130012"
    conn = await relay.connect()
    try:
        async with conn.transaction():
            await access_records.append(conn, _accesses(0, 3, T0), keyring)
            await access_records.add_witnesses(conn, EXCHANGE_LOG, WITNESS_KEYS)
        for n in range(3):
            async with conn.transaction():
                await access_records.append(conn, _accesses(3 + n, 1, T0), keyring)
            await _round(conn, witnesses, T0 + timedelta(minutes=1 + n), silent={quiet})
        # a head signed by a key that is not the relay's: the witness refuses it
        other = ("relay-access-log", ec.generate_private_key(ec.SECP256R1()))
        async with conn.transaction():
            await access_records.append(conn, _accesses(6, 1, T0), keyring)
            sent = await access_heads.heads_due(conn, EXCHANGE_LOG, T0 + timedelta(minutes=9),
                                                other)
        mine = next(s for s in sent if s.witness != quiet)
        note, refusal = witnesses[mine.witness].answer(mine, T0 + timedelta(minutes=9))
        assert refusal is not None and refusal.startswith("bad_head"), refusal
        await access_heads.take_answer(conn, EXCHANGE_LOG, mine.witness, note, RELAY, PUBLIC,
                                       refusal)
        # a head with no signature at all
        unsigned = note.split("\n\n")[0] + "\n\n"
        assert judge(unsigned, None, None, access_heads.head_origin("exchange", "2026-12"),
                     RELAY, T0 + timedelta(minutes=9)).reason.startswith("bad_head")
        # a cosignature by another key than the witness's is not recorded
        forged = cosigned(mine.note, mine.witness, ec.generate_private_key(ec.SECP256R1()))
        wrong = await access_heads.take_answer(conn, EXCHANGE_LOG, mine.witness, forged,
                                               RELAY, PUBLIC)
        assert wrong is not None and wrong.startswith("bad cosignature"), wrong
        # an answer about a head the relay never sent
        assert (await access_heads.take_answer(
            conn, EXCHANGE_LOG, mine.witness, note.replace("03:09:00", "03:19:00"), RELAY,
            PUBLIC, "x")).startswith("unknown head")

        problems = await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY)
        assert any("03:09:00Z: the relay's signature does not verify" in p for p in problems)
        assert any("refused it: bad_head" in p for p in problems), problems
        assert not any("stopped cosigning" in p for p in problems), problems
        assert await access_heads.silent_witnesses(conn, EXCHANGE_LOG) == [
            f"exchange: witness {quiet} stopped cosigning (4 heads of 2026-12 unanswered)"]
        # a cosigned answer with more than its own line: not taken
        padded = cosigned(mine.note, mine.witness, WITNESS_KEYS[mine.witness]) + \
            cosigned(mine.note, "insurer.01270016", WITNESS_KEYS["insurer.01270016"])[
                len(mine.note):].replace("insurer.01270016", "x")
        assert (await access_heads.take_answer(conn, EXCHANGE_LOG, mine.witness, padded, RELAY,
                                               PUBLIC)).startswith("not one cosignature")
    finally:
        await conn.close()


async def test_a_reordered_or_inserted_entry_below_a_signed_head_is_found(relay: RelayEnv):
    """Rows swapped (their leaves and hashes with them), or an entry slipped in with the later
    positions moved up and the tree's size raised: the stored leaves no longer give the signed
    root, whatever the hashes say."""
    keyring = relay.keyring()
    conn = await relay.connect()
    try:
        async with conn.transaction():
            await access_records.append(conn, _accesses(0, 6, T0), keyring)
            await access_heads.heads_due(conn, EXCHANGE_LOG, T0 + timedelta(minutes=1), SIGNER)
        assert await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY) == []
        # after a rotation of the relay's key: checked with every key it was given, the head
        # still holds; with the new key alone, its signature does not verify
        rotated = ec.generate_private_key(ec.SECP256R1()).public_key()
        assert await access_heads.head_problems(
            conn, EXCHANGE_LOG, (RELAY[0], [rotated, RELAY[1]])) == []
        alone = await access_heads.head_problems(conn, EXCHANGE_LOG, (RELAY[0], rotated))
        assert len(alone) == 1 and "signature does not verify" in alone[0], alone

        def rows_at(a: int, b: int):
            return conn.fetch("SELECT seq, entry_id FROM access_entries WHERE log = 'exchange' "
                              "AND seq IN ($1, $2) ORDER BY seq", a, b)

        first, second = await rows_at(1, 2)
        swap = ("UPDATE access_entries SET seq = $2 WHERE log = 'exchange' AND entry_id = $1")
        async with conn.transaction():  # reordered: positions 1 and 2 trade places
            await conn.execute(swap, first["entry_id"], -1)
            await conn.execute(swap, second["entry_id"], 1)
            await conn.execute(swap, first["entry_id"], 2)
        problems = await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY)
        assert len(problems) == 1 and "no longer give its root" in problems[0], problems
        async with conn.transaction():  # put back: the head holds again
            await conn.execute(swap, first["entry_id"], -1)
            await conn.execute(swap, second["entry_id"], 2)
            await conn.execute(swap, first["entry_id"], 1)
        assert await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY) == []

        async with conn.transaction():  # inserted at position 3, the rest moved up
            await conn.execute("UPDATE access_entries SET seq = seq + 100 WHERE log = "
                               "'exchange' AND seq >= 3")
            await conn.execute("UPDATE access_entries SET seq = seq - 99 WHERE log = "
                               "'exchange' AND seq >= 100")
            await conn.execute(
                "INSERT INTO access_entries (log, month, seq, entry_id, relay_id, leaf, "
                "leaf_hash) SELECT log, month, 3, 'slipped-in', relay_id, leaf, leaf_hash "
                "FROM access_entries WHERE log = 'exchange' AND seq = 0")
            await conn.execute("UPDATE access_trees SET size = size + 1 WHERE log = 'exchange'")
        problems = await access_heads.head_problems(conn, EXCHANGE_LOG, RELAY)
        assert len(problems) == 1 and "no longer give its root" in problems[0], problems
    finally:
        await conn.close()
