"""`shaho` subcommands for looking inside the relay: links, anomalies and dead letters.

Numbers are masked and identity items never printed; dead letters stay sealed unless exported.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import asyncpg

from consumers import dlq_tools
from groundfloor.config import StackConfig
from infra.principals import OPERATOR
from relay_linker.readback import AnomalyCount, anomalies_by_kind, links_as_of
from shaho.bootstrap import keyring, topic_namespace
from shaho.registry import Registry

T = TypeVar("T")
commands = Registry()
command = commands.command


def _links_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("relay_id")
    p.add_argument("--as-of", type=date.fromisoformat, default=None,
                   help="only links valid on this date (default: the whole history)")


def _query(cfg: StackConfig, read: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `read` on a connection to the relay database, then close it."""
    async def run() -> T:
        conn = await asyncpg.connect(cfg.pg_dsn())
        try:
            return await read(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


@command("links", "print a person's links with numbers masked", _links_options)
def _links(args: argparse.Namespace, cfg: StackConfig) -> int:
    views = _query(cfg, lambda c: links_as_of(c, keyring(cfg), args.relay_id, args.as_of))
    for v in views:
        end = v.valid_to.isoformat() if v.valid_to else "open"
        flag = "  (retracted)" if v.retracted else ""
        print(f"{v.scheme:15} {v.insurer_number:9} {v.capacity:22} {v.category or '-':20} "
              f"{v.number:14} [{v.valid_from} – {end}){flag}")
    if not views:
        print("no links")
    return 0


def _anomalies_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true",
                   help="list the resolved anomalies too (default: only the open ones)")


@command("anomalies", "count anomalies by kind, open and resolved apart; list the open ones",
         _anomalies_options)
def _anomalies(args: argparse.Namespace, cfg: StackConfig) -> int:
    grouped = _query(cfg, anomalies_by_kind)
    for code, found in grouped.items():
        count = AnomalyCount(sum(not r["resolved"] for r in found),
                             sum(r["resolved"] for r in found))
        print(f"{code}: {count}")
        for r in found:
            if args.all or not r["resolved"]:
                state = "resolved" if r["resolved"] else "open"
                print(f"  {','.join(r['relay_ids']) or '-'}  event {r['event_id']}  "
                      f"{','.join(r['fields']) or '-'}  {state}")
    if not grouped:
        print("no anomalies")
    return 0


def _dlq_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "export", "replay"])
    p.add_argument("--source-topic", default=None)
    p.add_argument("--offset", type=int, default=None, help="the source offset of one letter")
    p.add_argument("--out", type=Path, help="export: where to write the original bytes (0600)")
    p.add_argument("--fixed", type=Path, help="refused: only its filer can sign a fixed record")


@command("dlq", "list, export or replay dead letters", _dlq_options)
def _dlq(args: argparse.Namespace, cfg: StackConfig) -> int:
    found = asyncio.run(dlq_tools.read_letters(cfg.kafka(OPERATOR), topic_namespace(cfg),
                                               args.source_topic))
    letters = dlq_tools.select(found, args.source_topic, args.offset)
    if args.action == "list":
        for x in letters:
            d = x.letter
            print(f"{d.source_topic}[{d.source_partition}]@{d.source_offset}  "
                  f"filer {d.filer_code or 'unknown'}  {d.reason.code} "
                  f"{d.reason.field or '-'}: {d.reason.message}")
        print(f"{len(letters)} dead letters")
        return 0
    if len(letters) != 1 and (args.action == "export" or args.fixed):
        print("name exactly one letter with --source-topic and --offset")
        return 2
    if args.action == "export":
        if args.out is None:
            print("export needs --out FILE")
            return 2
        dlq_tools.export(keyring(cfg), letters[0], args.out)
        print(f"wrote {args.out}")
        return 0
    fixed = args.fixed.read_bytes() if args.fixed else None
    try:
        count = asyncio.run(dlq_tools.replay(cfg.kafka(OPERATOR), keyring(cfg), letters,
                                             fixed))
    except dlq_tools.ReplayRefused as refused:
        print(f"shaho dlq replay: {refused}")
        return 2
    print(f"replayed {count} records onto their source topics, as their filers signed them")
    return 0
