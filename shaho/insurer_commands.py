"""`shaho insurers fill`: give every simulated insurer its own member store, filled from the
synthetic population the demo uses, and print how many members each one holds (codes only).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from groundfloor.config import StackConfig
from insurer_workers.filling import fill_member_stores
from insurer_workers.member_store import InvalidInsurerCode
from shaho.registry import Registry, print_lines
from synthetic.population import generate

commands = Registry()
DEMO_START = date(2025, 1, 1)


def _options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    fill = sub.add_parser("fill", help="fill every insurer's member store (or the named ones)")
    fill.add_argument("--persons", type=int, default=200, help="population size (as the demo)")
    fill.add_argument("--seed", type=int, default=7, help="population seed (as the demo)")
    fill.add_argument("--insurer", action="append", dest="insurers", metavar="CODE",
                      help="fill only this insurer's store (repeatable)")


@commands.command("insurers", "the simulated insurers' own member stores: fill them", _options)
def _insurers(args: argparse.Namespace, cfg: StackConfig) -> int:
    population = generate(args.seed, args.persons, DEMO_START)
    try:
        counts = asyncio.run(fill_member_stores(cfg, population, args.insurers,
                                                benefit_seed=args.seed))
    except InvalidInsurerCode as exc:
        print(f"shaho insurers fill: {exc}", file=sys.stderr)
        return 2
    print_lines([f"insurer {code}: {n} members" for code, n in counts.items()])
    print(f"{len(counts)} member stores filled ({sum(counts.values())} members)")
    return 0
