"""`shaho access-log`: a person's entries with their inclusion proofs, checked by the standalone
verifier, and a check that every month's stored log holds together (its hashes, ids, persons
and order); neither replaces signed, witnessed heads, which are still to come.
"""

from __future__ import annotations

import argparse
import asyncio
import base64

import asyncpg

from access_log.entries import entry_of, person_commitment
from access_log.merkle import Tree
from access_log.verifier import ProofRefused, leaf_hash, verify_inclusion
from consumers import access_records
from groundfloor.config import StackConfig
from shaho.registry import Registry

commands = Registry()
UNSIGNED = ("roots are computed from the stored leaves: until tree heads are signed and "
            "witnessed, deleting the newest entries or a whole month, and any rewrite that "
            "recomputes the hashes, are not caught")


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


async def prove(conn: asyncpg.Connection, relay_id: str) -> tuple[list[str], bool]:
    """Lines describing the person's entries and whether every one names them and has an
    inclusion proof the standalone verifier accepts (against a root computed now)."""
    rows = await access_records.person_entries(conn, relay_id)
    salt = await access_records.salt_of(conn, relay_id)
    lines, good, trees = [], True, {}
    if rows:
        lines.append(f"salt {salt.hex() if salt else '-'} (the person's, to check each entry "
                     "names them)")
    for row in rows:
        month, seq = row["month"], row["seq"]
        if month not in trees:
            trees[month] = Tree(await access_records.leaf_hashes(conn, month))
        tree = trees[month]
        leaf = bytes(row["leaf"])
        try:
            entry = entry_of(leaf)
            names_them = salt is not None and entry.person == person_commitment(
                salt, relay_id, entry.entry_id)
            path = tree.inclusion(seq)
            verify_inclusion(seq, len(tree.leaves), leaf_hash(leaf), path, tree.root())
        except (ValueError, ProofRefused) as refused:
            good = False
            lines.append(f"{month} #{seq}: REFUSED: {refused}")
            continue
        good = good and names_them
        lines.append(
            f"{month} #{seq}/{len(tree.leaves)} {entry.relay_time} {entry.kind.value}: "
            f"{entry.asker or '-'} -> {entry.provider} {entry.scheme}/{entry.category} "
            f"for {entry.purpose} (policy {entry.policy_row}) {entry.outcome}; "
            f"names this person: {'yes' if names_them else 'NO'}; proof of {len(path)} "
            "hashes verified")
        lines.append(f"  leaf {_b64(leaf)}")
        lines.append(f"  proof {','.join(_b64(h) for h in path) or '-'}")
    for month, tree in sorted(trees.items()):
        lines.append(f"{month}: root {_b64(tree.root())} over {len(tree.leaves)} entries")
    if rows:
        lines.append(f"note: {UNSIGNED}")
    return lines, good


async def verify(conn: asyncpg.Connection) -> tuple[list[str], bool]:
    """Lines per month and whether the stored log holds together: each leaf an entry in
    canonical form whose id and month agree with its row and whose person commitment agrees
    with the row's person and salt, each hash the leaf's, positions from 0 without a gap, and
    the size the tree records."""
    lines, good = [], True
    salts = {r["relay_id"]: bytes(r["salt"])
             for r in await conn.fetch("SELECT relay_id, salt FROM access_person_salts")}
    for tree_row in await conn.fetch("SELECT month, size FROM access_trees ORDER BY month"):
        month, size = tree_row["month"], tree_row["size"]
        rows = await conn.fetch("SELECT seq, entry_id, relay_id, leaf, leaf_hash "
                                "FROM access_entries WHERE month = $1 ORDER BY seq", month)
        problems = []
        for r in rows:
            leaf = bytes(r["leaf"])
            if leaf_hash(leaf) != bytes(r["leaf_hash"]):
                problems.append(f"position {r['seq']}: the leaf does not hash to its stored "
                                "hash")
                continue
            try:
                entry = entry_of(leaf)
            except ValueError:
                problems.append(f"position {r['seq']}: the leaf is no entry in canonical form")
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
        lines.append(f"{month}: {len(rows)} entries, root {_b64(tree.root())}: "
                     + ("; ".join(problems) if problems else "holds together"))
    lines.append(f"note: {UNSIGNED}")
    return lines, good


@commands.command("access-log", "a person's access-log entries with proofs; check the log",
                  _options)
def _access_log(args: argparse.Namespace, cfg: StackConfig) -> int:
    async def run() -> tuple[list[str], bool]:
        conn = await asyncpg.connect(cfg.pg_dsn())
        try:
            if args.action == "prove":
                return await prove(conn, args.relay_id)
            return await verify(conn)
        finally:
            await conn.close()

    lines, good = asyncio.run(run())
    for line in lines:
        print(line)
    if args.action == "prove" and not lines:
        print("no entries for this person")
    return 0 if good else 1
