"""`shaho access-log`: a person's entries with their inclusion proofs, checked by the standalone
verifier, and a check that every log's months hold together (hashes, ids, persons, order).

A covert entry is shown to the person only from its disclosure date on the relay clock; before
it, `prove` shows its sealed leaf and proof alone. `verify` opens covert leaves with their keys.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from datetime import UTC, date

import asyncpg
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.entries import AccessEntry, entry_of, open_covert, person_commitment
from access_log.merkle import Tree
from access_log.verifier import (
    Head,
    HeadRefused,
    ProofRefused,
    leaf_hash,
    verify_head,
    verify_inclusion,
)
from consumers import access_heads, access_records
from groundfloor.config import StackConfig
from insurer_workers.worker import role_of
from shaho.registry import Registry
from trust.directory import Directory
from trust.keys import access_log_keys

commands = Registry()
UNSIGNED = ("roots are computed from the stored leaves: until tree heads are signed and "
            "witnessed, deleting the newest entries or a whole month, and any rewrite that "
            "recomputes the hashes, are not caught")
UNWITNESSED = ("an entry proven against a root computed now is not yet under a witnessed head: "
               "until one covers it, a rewrite that recomputes the hashes is not caught")
WitnessKeys = dict[str, list[ec.EllipticCurvePublicKey]]
"""Each witness's certified keys, the newest first: a head stays checkable after a rotation."""
RelayKey = access_heads.RelayKeys | None


def _options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    prove = sub.add_parser("prove", help="a person's entries, each checked to name them and "
                           "its inclusion proof checked by the standalone verifier, with what "
                           "is needed to check them again elsewhere")
    prove.add_argument("relay_id")
    sub.add_parser("verify", help="every month's stored log: each leaf an entry in canonical "
                   "form whose id, month and person agree with its row and its hash, positions "
                   "without a gap, the size the tree records")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def relay_today(conn: asyncpg.Connection) -> date | None:
    """The relay clock's date as the relay's processors last applied it (None before a tick)."""
    at = await conn.fetchval("SELECT max(relay_time) FROM relay_clock")
    return None if at is None else at.astimezone(UTC).date()


def _entry(row: asyncpg.Record) -> AccessEntry:
    """The entry a stored row holds: a clear leaf, or a covert one opened with its key."""
    leaf = bytes(row["leaf"])
    if row["covert_key"] is None:
        return entry_of(leaf)
    return open_covert(leaf, bytes(row["covert_key"]))


async def _witnessed(conn: asyncpg.Connection, log: str, month: str, relay: RelayKey,
                     witness_keys: WitnessKeys) -> tuple[Head | None, list[str], bool]:
    """The latest witnessed head of a log's month, checked (the relay's signature and at least
    one witness's cosignature), with lines showing it; (None, lines, good) without one."""
    note = await access_heads.witnessed_head(conn, log, month)
    if note is None:
        return None, [], True
    if relay is None:
        return None, [f"{log} {month}: a witnessed head, but the relay's head key is not here"], \
            False
    signer = access_heads.relay_key_of(note, relay)
    try:
        checked = verify_head(note, signer, _cosigning_keys(note, signer, witness_keys),
                              cosignatures=1)
    except HeadRefused as refused:
        return None, [f"{log} {month}: witnessed head REFUSED: {refused}"], False
    shown = [f"{log} {month}: head of {checked.head.size} entries at {checked.head.relay_time}, "
             f"signed by the relay, cosigned by {', '.join(checked.witnesses)}:"]
    shown += [f"  | {line}" for line in note.rstrip("\n").split("\n")]
    return checked.head, shown, True


def _cosigning_keys(note: str, relay: tuple[str, ec.EllipticCurvePublicKey],
                    candidates: WitnessKeys) -> dict[str, ec.EllipticCurvePublicKey]:
    """For each witness, whichever of its keys cosigned `note` (its newest when none did)."""
    chosen = {}
    for name, keys in candidates.items():
        chosen[name] = keys[0]
        for key in keys:
            try:
                verify_head(note, relay, {name: key}, cosignatures=1)
            except HeadRefused:
                continue
            chosen[name] = key
            break
    return chosen


async def witness_keys(conn: asyncpg.Connection, cfg: StackConfig) -> WitnessKeys:
    """The certified keys of the access logs' witnesses, current and retired, newest first."""
    directory = Directory(cfg)
    found = {}
    for r in await conn.fetch("SELECT DISTINCT witness FROM access_witnesses ORDER BY witness"):
        keys = directory.keys_of(role_of(r["witness"]), r["witness"])
        if keys:
            found[r["witness"]] = [c.public_key for c in keys]
    return found


async def prove(conn: asyncpg.Connection, relay_id: str, relay: RelayKey = None,
                witness_keys: WitnessKeys | None = None) -> tuple[list[str], bool]:
    """Lines describing the person's entries and whether every one names them and has an
    inclusion proof the standalone verifier accepts: against the latest head of its month a
    witness cosigned when that head covers it, else against a root computed now (said so).
    A covert entry before its disclosure date shows only its sealed leaf and its proof."""
    rows = await access_records.person_entries(conn, relay_id)
    salt = await access_records.salt_of(conn, relay_id)
    today = await relay_today(conn)
    lines, good, trees = [], True, {}
    heads: dict[tuple[str, str], Head | None] = {}
    unwitnessed = False
    if rows:
        lines.append(f"salt {salt.hex() if salt else '-'} (the person's, to check each entry "
                     "names them)")
    for row in rows:
        log, month, seq = row["log"], row["month"], row["seq"]
        if (log, month) not in trees:
            trees[log, month] = Tree(await access_records.leaf_hashes(conn, month, log))
            head, shown, head_good = await _witnessed(conn, log, month, relay,
                                                      witness_keys or {})
            heads[log, month] = head
            lines += shown
            good = good and head_good
        tree, head = trees[log, month], heads[log, month]
        leaf = bytes(row["leaf"])
        under = head is not None and seq < head.size
        size = head.size if under else len(tree.leaves)  # type: ignore[union-attr]
        root = head.root if under else None  # type: ignore[union-attr]
        unwitnessed = unwitnessed or not under
        where = (f"{log} {month} #{seq}/{size}" + (" (witnessed head)" if under
                                                   else " (root computed now)"))
        covert_until = row["disclose_from"]
        sealed = covert_until is not None and (today is None or today < covert_until)
        try:
            path = tree.inclusion(seq, size)
            verify_inclusion(seq, size, leaf_hash(leaf), path, root or tree.root())
            entry = None if sealed else _entry(row)
        except (ValueError, ProofRefused) as refused:
            good = False
            lines.append(f"{log} {month} #{seq}: REFUSED: {refused}")
            continue
        if entry is None:
            lines.append(f"{where}: sealed entry (disclosed from its date on the relay "
                         f"clock); proof of {len(path)} hashes verified")
        else:
            names_them = salt is not None and entry.person == person_commitment(
                salt, relay_id, entry.entry_id)
            good = good and names_them
            opened = "" if covert_until is None else \
                f" (covert, disclosed from {covert_until.isoformat()}; key " \
                f"{_b64(bytes(row['covert_key']))})"
            lines.append(
                f"{where} {entry.relay_time} {entry.kind.value}: "
                f"{entry.asker or '-'} -> {entry.provider} {entry.scheme}/{entry.category} "
                f"for {entry.purpose} (policy {entry.policy_row}) {entry.outcome}{opened}; "
                f"names this person: {'yes' if names_them else 'NO'}; proof of {len(path)} "
                "hashes verified")
        lines.append(f"  leaf {_b64(leaf)}")
        lines.append(f"  proof {','.join(_b64(h) for h in path) or '-'}")
    for (log, month), tree in sorted(trees.items()):
        lines.append(f"{log} {month}: root {_b64(tree.root())} over {len(tree.leaves)} "
                     "entries computed now")
    if unwitnessed:
        lines.append(f"note: {UNWITNESSED}")
    return lines, good



async def _heads(conn: asyncpg.Connection, relay: RelayKey) -> tuple[list[str], bool]:
    """Per log, its signed heads and their witnessing, and what is wrong with them."""
    lines, good = [], True
    for log in access_records.LOGS:
        counts = {r["state"]: r["n"] for r in await conn.fetch(
            "SELECT state, count(*) AS n FROM access_head_witnessing WHERE log = $1 "
            "GROUP BY state", log)}
        heads = await conn.fetchval("SELECT count(*) FROM access_heads WHERE log = $1", log)
        if not heads:
            continue
        problems = ([f"{log}: heads are signed but the relay's head key is not here"]
                    if relay is None else await access_heads.head_problems(conn, log, relay))
        good = good and not problems
        lines.append(f"{log} heads: {heads} signed, {counts.get('cosigned', 0)} cosignatures, "
                     f"{counts.get('refused', 0)} refused, {counts.get('sent', 0)} unanswered: "
                     + ("; ".join(problems) if problems else "hold together"))
        # a silent witness is an outage of that witness, not a fault of the log: said, not failed
        lines += [f"warning: {w}" for w in await access_heads.silent_witnesses(conn, log)]
    return lines, good


async def verify(conn: asyncpg.Connection, relay: RelayKey = None) -> tuple[list[str], bool]:
    """Lines per month and whether the stored log holds together: each leaf an entry in
    canonical form whose id and month agree with its row and whose person commitment agrees
    with the row's person and salt, each hash the leaf's, positions from 0 without a gap, and
    the size the tree records; with the relay's head key, every signed head checked against the
    stored leaves, refusals by witnesses and witnesses that stopped cosigning."""
    lines, good = [], True
    salts = {r["relay_id"]: bytes(r["salt"])
             for r in await conn.fetch("SELECT relay_id, salt FROM access_person_salts")}
    for tree_row in await conn.fetch("SELECT log, month, size FROM access_trees "
                                     "ORDER BY log, month"):
        log, month, size = tree_row["log"], tree_row["month"], tree_row["size"]
        rows = await conn.fetch("SELECT seq, entry_id, relay_id, leaf, leaf_hash, covert_key "
                                "FROM access_entries WHERE log = $1 AND month = $2 "
                                "ORDER BY seq", log, month)
        problems = []
        for r in rows:
            leaf = bytes(r["leaf"])
            if leaf_hash(leaf) != bytes(r["leaf_hash"]):
                problems.append(f"position {r['seq']}: the leaf does not hash to its stored "
                                "hash")
                continue
            try:
                entry = _entry(r)
            except ValueError:
                problems.append(f"position {r['seq']}: the leaf is no entry in canonical form "
                                "(or a covert leaf its key does not open)")
                continue
            salt = salts.get(r["relay_id"])
            if entry.entry_id != r["entry_id"] or not entry.relay_time.startswith(month):
                problems.append(f"position {r['seq']}: the leaf's id or month is not its row's")
            elif salt is None or entry.person != person_commitment(salt, r["relay_id"],
                                                                   entry.entry_id):
                problems.append(f"position {r['seq']}: the leaf does not name the row's person")
        positions = [r["seq"] for r in rows]
        if positions != list(range(len(positions))):
            problems.append("positions have a gap or do not start at 0 (an entry deleted)")
        if len(rows) != size:
            problems.append(f"the tree records {size} entries, {len(rows)} are stored")
        tree = Tree([bytes(r["leaf_hash"]) for r in rows])
        good = good and not problems
        lines.append(f"{log} {month}: {len(rows)} entries, root {_b64(tree.root())}: "
                     + ("; ".join(problems) if problems else "holds together"))
    head_lines, heads_good = await _heads(conn, relay)
    lines.extend(head_lines)
    if not head_lines:
        lines.append(f"note: {UNSIGNED}")
    return lines, good and heads_good


@commands.command("access-log", "a person's access-log entries with proofs; check the log",
                  _options)
def _access_log(args: argparse.Namespace, cfg: StackConfig) -> int:
    async def run() -> tuple[list[str], bool]:
        conn = await asyncpg.connect(cfg.pg_dsn())
        try:
            if args.action == "prove":
                return await prove(conn, args.relay_id, access_log_keys(cfg),
                                   await witness_keys(conn, cfg))
            return await verify(conn, access_log_keys(cfg))
        finally:
            await conn.close()

    lines, good = asyncio.run(run())
    for line in lines:
        print(line)
    if args.action == "prove" and not lines:
        print("no entries for this person")
    return 0 if good else 1
