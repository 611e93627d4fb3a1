"""`shaho reconcile`: close a 合算 period at medical insurers on demand (what each settled, held
back and put in its ledger), and print a member's stored statement; never a number in clear.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from uuid import UUID

import asyncpg

from groundfloor.config import StackConfig
from insurer_workers.closing import CloseReport, CloseRunning, Progress, close, stored_statement
from insurer_workers.member_store import InvalidInsurerCode, medical_insurers, store_name
from insurer_workers.settlement_sending import send_pending
from insurer_workers.worker import relay_now
from reconciliation.calculation import InputError, Period
from shaho.bootstrap import insurer, topic_namespace
from shaho.registry import Registry, print_lines
from trust.directory import Directory

commands = Registry()


def _options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="close the period at the insurers named (or every "
                         "insurer with medical members): ask, wait, settle")
    run.add_argument("--period", type=int, required=True,
                     help="the period's year Y: 1 August Y-1 to 31 July Y")
    run.add_argument("--insurer", action="append", dest="insurers", metavar="CODE")
    run.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                     help="how long to wait for the replies (default 600)")
    run.add_argument("--deadline", type=int, default=3600, metavar="SECONDS",
                     help="relay time the requests wait for answers (default 3600)")
    shown = sub.add_parser("statement", help="print a member's stored statement")
    shown.add_argument("--period", type=int, required=True)
    shown.add_argument("--insurer", required=True, metavar="CODE")
    shown.add_argument("--member", required=True, metavar="KEY",
                       help="the member's opaque key in the insurer's store")


@contextmanager
def _bar(label: str) -> Iterator[Progress]:
    """A rich progress bar on a terminal; nothing otherwise (the counts are printed after)."""
    if not sys.stdout.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def report_lines(report: CloseReport) -> list[str]:
    held = ", ".join(f"{reason} {n}" for reason, n in sorted(report.held_back.items()))
    lines = [f"insurer {report.code} period {report.period} round {report.round}: "
             f"{report.households} households, {report.settled} settled, "
             f"{sum(report.held_back.values())} held back" + (f" ({held})" if held else ""),
             f"  settlements: {report.new} new, {report.deltas} deltas"]
    if report.resent:
        again = ", ".join(f"{why} {n}" for why, n in sorted(report.resent.items()))
        lines.append(f"  refused by the relay and sent again: {again}")
    if report.taken_back:
        lines.append(f"  taken back to nothing: {report.taken_back} members no more "
                     "calculated here")
    lines += [f"  {payer}: {amount:,} yen" for payer, amount in sorted(report.amounts.items())]
    return lines


async def _run(args: argparse.Namespace, cfg: StackConfig) -> int:
    period = Period(args.period)
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        codes = args.insurers or await medical_insurers(conn)
        for code in codes:
            store_name(code)
            me = insurer(cfg, code)
            now = await relay_now(me, topic_namespace(cfg), Directory(cfg))
            if now is None:
                print("shaho reconcile run: the relay clock has not ticked yet", file=sys.stderr)
                return 2
            with _bar(f"{code} replies") as progress:
                report = await close(conn, me, topic_namespace(cfg), now, period,
                                     wait=args.wait, ttl=timedelta(seconds=args.deadline),
                                     progress=progress)
            print_lines(report_lines(report))
            sent = await send_pending(conn, me, cfg, topic_namespace(cfg), period.year)
            left = ", ".join(f"{why} {n}" for why, n in sorted(sent.left.items()))
            print(f"  sent through the relay: {sent.sent} instruction(s)"
                  + (f"; left unsent: {left}" if left else ""))
    finally:
        await conn.close()
    return 0


async def _statement(args: argparse.Namespace, cfg: StackConfig) -> int:
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        text = await stored_statement(conn, args.insurer, args.period, UUID(args.member))
    finally:
        await conn.close()
    if text is None:
        print("shaho reconcile statement: no statement for that member and period",
              file=sys.stderr)
        return 1
    print(text)
    return 0


@commands.command("reconcile", "高額医療・高額介護合算: close a period at insurers; a statement",
                  _options)
def _reconcile(args: argparse.Namespace, cfg: StackConfig) -> int:
    try:
        if args.action == "run":
            return asyncio.run(_run(args, cfg))
        return asyncio.run(_statement(args, cfg))
    except (InvalidInsurerCode, InputError, CloseRunning) as refused:
        print(f"shaho reconcile {args.action}: {refused}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"shaho reconcile {args.action}: the member key is no key", file=sys.stderr)
        return 2
