"""`shaho access-log`: a person's entries with their inclusion proofs, checked by the standalone
verifier, and a check of every month's stored log against its own hashes and order.
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
            "witnessed, a rewrite that recomputes every hash is not caught here")


def _options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    prove = sub.add_parser("prove", help="a person's entries, each with its inclusion proof "
                           "checked by the standalone verifier")
    prove.add_argument("relay_id")
    sub.add_parser("verify", help="every month's log: each leaf against its hash, the "
                   "positions without a gap, the size the tree records")


async def prove(conn: asyncpg.Connection, relay_id: str) -> tuple[list[str], bool]:
    """Lines describing the person's entries and whether every proof verified."""
    rows = await access_records.person_entries(conn, relay_id)
    salt = await access_records.salt_of(conn, relay_id)
    lines, good, trees = [], True, {}
    for row in rows:
        month, seq = row["month"], row["seq"]
        if month not in trees:
            trees[month] = Tree(await access_records.leaf_hashes(conn, month))
        tree = trees[month]
        leaf = bytes(row["leaf"])
        entry = entry_of(leaf)
        names_them = salt is not None and entry.person == person_commitment(
            salt, relay_id, entry.entry_id)
        try:
            verify_inclusion(seq, len(tree.leaves), leaf_hash(leaf), tree.inclusion(seq),
                             tree.root())
            proof = f"proof of {len(tree.inclusion(seq))} hashes verified"
        except ProofRefused as refused:
            good, proof = False, f"proof REFUSED: {refused}"
        good = good and names_them
        lines.append(
            f"{month} #{seq}/{len(tree.leaves)} {entry.relay_time} {entry.kind.value}: "
            f"{entry.asker or '-'} -> {entry.provider} {entry.scheme}/{entry.category} "
            f"for {entry.purpose} (policy {entry.policy_row}) {entry.outcome}; "
            f"names this person: {'yes' if names_them else 'NO'}; {proof}")
    for month, tree in sorted(trees.items()):
        lines.append(f"{month}: root {base64.b64encode(tree.root()).decode()} over "
                     f"{len(tree.leaves)} entries")
    return lines, good


async def verify(conn: asyncpg.Connection) -> tuple[list[str], bool]:
    """Lines per month and whether the stored log is whole: each leaf hashes to its stored
    hash, positions run from 0 without a gap or repeat, and the tree's size matches."""
    lines, good = [], True
    for tree_row in await conn.fetch("SELECT month, size FROM access_trees ORDER BY month"):
        month, size = tree_row["month"], tree_row["size"]
        rows = await conn.fetch("SELECT seq, leaf, leaf_hash FROM access_entries "
                                "WHERE month = $1 ORDER BY seq", month)
        problems = [f"position {r['seq']}: the leaf does not hash to its stored hash"
                    for r in rows if leaf_hash(bytes(r["leaf"])) != bytes(r["leaf_hash"])]
        positions = [r["seq"] for r in rows]
        if positions != list(range(len(positions))):
            problems.append("positions have a gap or do not start at 0 (an entry deleted)")
        if len(rows) != size:
            problems.append(f"the tree records {size} entries, {len(rows)} are stored")
        tree = Tree([bytes(r["leaf_hash"]) for r in rows])
        good = good and not problems
        lines.append(f"{month}: {len(rows)} entries, root "
                     f"{base64.b64encode(tree.root()).decode()}: "
                     + ("; ".join(problems) if problems else "whole"))
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
    if args.action == "prove" and len(lines) == 0:
        print("no entries for this person")
    return 0 if good else 1
