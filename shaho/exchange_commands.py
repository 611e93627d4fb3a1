"""`shaho exchange`: ask the relayed exchange as an insurer (entries from a JSON Lines file), and
read what the relay counted as refused; numbers are read from files, never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
from pydantic import ValidationError

from groundfloor.config import StackConfig
from insurer_workers.worker import relay_now, send_request
from relay_exchange.store import counts
from schemas.exchange import MAX_ENTRIES, ExchangeRequest, RequestEntry
from schemas.exchange_terms import DataCategory, ExchangeScheme, Purpose
from shaho.bootstrap import insurer, topic_namespace
from shaho.registry import Registry
from trust.directory import Directory

commands = Registry()
DEFAULT_DEADLINE = 300
"""Seconds of relay time a request waits for answers unless SHAHO_EXCHANGE_DEADLINE_SECONDS."""


def _options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    ask = sub.add_parser("ask", help="ask, as insurer --insurer, about the members listed in "
                         "FILE (JSON Lines: {\"entry\": token, \"member\": {...}})")
    ask.add_argument("file", type=Path)
    ask.add_argument("--insurer", required=True, help="the asking insurer's code")
    ask.add_argument("--scheme", required=True, choices=[s.value for s in ExchangeScheme])
    ask.add_argument("--category", required=True, choices=[c.value for c in DataCategory])
    ask.add_argument("--purpose", required=True, choices=[p.value for p in Purpose])
    ask.add_argument("--as-of", type=date.fromisoformat, default=None)
    ask.add_argument("--from", dest="period_from", type=date.fromisoformat, default=None)
    ask.add_argument("--to", dest="period_to", type=date.fromisoformat, default=None)
    ask.add_argument("--deadline", type=int, default=None, metavar="SECONDS",
                     help="relay time to wait for answers (default "
                     "$SHAHO_EXCHANGE_DEADLINE_SECONDS or 300)")
    sub.add_parser("counts", help="refusals and set-asides counted per participant and reason")


def read_entries(path: Path) -> tuple[list[RequestEntry], list[str]]:
    """The entries of a JSON Lines file, and a problem per bad line (line number and field
    names only, never a value)."""
    entries, problems = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append(RequestEntry.model_validate(json.loads(line)))
            except json.JSONDecodeError:
                problems.append(f"line {number}: not JSON")
            except ValidationError as failure:
                fields = sorted({".".join(str(p) for p in e["loc"]) for e in failure.errors()})
                problems.append(f"line {number}: invalid {', '.join(fields) or 'entry'}")
    return entries, problems


def _deadline(args: argparse.Namespace) -> int:
    text = os.environ.get("SHAHO_EXCHANGE_DEADLINE_SECONDS", "")
    seconds = args.deadline if args.deadline is not None else int(text or DEFAULT_DEADLINE)
    if not 1 <= seconds <= 86_400:
        raise ValueError("a deadline is 1 to 86,400 seconds of relay time")
    return seconds


async def _ask(args: argparse.Namespace, cfg: StackConfig) -> int:
    entries, problems = read_entries(args.file)
    for problem in problems:
        print(f"shaho exchange ask: {problem}", file=sys.stderr)
    if problems or not entries:
        return 2
    me = insurer(cfg, args.insurer)
    now = await relay_now(me, topic_namespace(cfg), Directory(cfg))
    if now is None:
        print("shaho exchange ask: the relay clock has not ticked yet", file=sys.stderr)
        return 2
    for start in range(0, len(entries), MAX_ENTRIES):
        request = ExchangeRequest(
            request_id=uuid4(), asker_code=args.insurer, scheme=args.scheme,
            category=args.category, purpose=args.purpose, as_of=args.as_of,
            period_from=args.period_from, period_to=args.period_to,
            expires_at=now + timedelta(seconds=_deadline(args)),
            entries=entries[start:start + MAX_ENTRIES])
        await send_request(me, topic_namespace(cfg), request)
        print(f"request {request.request_id}: {len(request.entries)} person(s)")
    return 0


@commands.command("exchange", "ask as an insurer through the relayed exchange; what it refused",
                  _options)
def _exchange(args: argparse.Namespace, cfg: StackConfig) -> int:
    if args.action == "ask":
        try:
            return asyncio.run(_ask(args, cfg))
        except (ValueError, ValidationError) as failure:
            print(f"shaho exchange ask: {type(failure).__name__}: the request is not valid "
                  "(give --as-of, or --from and --to)", file=sys.stderr)
            return 2

    async def read() -> dict[tuple[str, str], int]:
        conn = await asyncpg.connect(cfg.pg_dsn())
        try:
            return await counts(conn)
        finally:
            await conn.close()

    for (participant, reason), n in asyncio.run(read()).items():
        print(f"{participant:12} {reason:24} {n}")
    return 0
