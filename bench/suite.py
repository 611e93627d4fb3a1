"""`shaho bench`: every flow's bench in turn on one synthetic population size, each with the
raw baseline its own run measures, then one dated report and the README's latest table.

Each flow writes its own report as it does alone (under `bench/reports/`, or
`bench/reports/quick/` for the quick sizes); this reads the figures off what the flows return
(`bench.summary`), so nothing is measured twice. A flow that fails is reported as failed and the
others still run.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import access_log, exchange, linker, notices, reconciliation, signatures, summary
from bench.linker import REPORTS
from groundfloor.config import StackConfig

README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass(frozen=True)
class Sizes:
    """How big each flow runs; the defaults are the full run's (each flow's own defaults)."""

    persons: int = 2400
    seed: int = 7
    exchange_persons: int = 600
    exchange_rate: int = 200
    exchange_seconds: float = 20.0
    exchange_steps: tuple[int, ...] = (25, 50, 100, 200)
    exchange_step_seconds: float = 10.0
    log_entries: int = 1_000_000
    log_samples: int = 10_000
    log_appends: int = 10_000
    log_rounds: int = 4
    log_requests: int = 2_000
    notices_persons: int = 2000
    days_per_s: float = 10.0
    reconciliation_persons: int = 2400
    reconciliation_small: int = 600


def full(persons: int, seed: int) -> Sizes:
    """The full run at `persons` (capped per flow as each flow's own command caps it)."""
    return Sizes(persons=persons, seed=seed, exchange_persons=min(persons, 600),
                 notices_persons=min(persons, 2000), reconciliation_persons=persons,
                 reconciliation_small=max(persons // 4, 50))


def quick(seed: int) -> Sizes:
    """Small enough for a few minutes on two cores: every flow still runs end to end."""
    return Sizes(persons=150, seed=seed, exchange_persons=150, exchange_rate=20,
                 exchange_seconds=4.0, exchange_steps=(10, 20), exchange_step_seconds=3.0,
                 log_entries=20_000, log_samples=500, log_appends=1_000, log_rounds=2,
                 log_requests=200, notices_persons=100, days_per_s=25.0,
                 reconciliation_persons=120, reconciliation_small=40)


Flow = tuple[str, str, Callable[[StackConfig, Sizes, Path], Awaitable[dict[str, Any]]]]


async def _signatures(cfg: StackConfig, s: Sizes, out: Path) -> dict[str, Any]:
    return await asyncio.to_thread(signatures.run, s.persons, s.seed, out)


FLOWS: list[Flow] = [
    ("linker", "linker throughput and latency",
     lambda cfg, s, out: linker.run(cfg, s.persons, s.seed, reports=out)),
    ("signatures", "signature checks per filing", _signatures),
    ("exchange", "relayed queries", lambda cfg, s, out: exchange.run(
        cfg, s.exchange_persons, s.seed, s.exchange_rate, s.exchange_seconds, s.exchange_steps,
        s.exchange_step_seconds, reports=out)),
    ("access_log", "access log", lambda cfg, s, out: access_log.run(
        cfg, s.log_entries, s.log_samples, entries=s.log_appends, rounds=s.log_rounds,
        requests=s.log_requests, reports=out)),
    ("notices", "notices", lambda cfg, s, out: notices.run(
        cfg, s.notices_persons, s.seed, s.days_per_s, reports=out)),
    ("reconciliation", "reconciliation (合算 close)", lambda cfg, s, out: reconciliation.run(
        cfg, s.reconciliation_persons, s.seed, small=s.reconciliation_small, profile=False,
        reports=out)),
]


async def _flows(cfg: StackConfig, sizes: Sizes, out: Path, progress: Progress
                 ) -> tuple[dict[str, Any], dict[str, str], dict[str, float]]:
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    task = progress.add_task("starting", total=len(FLOWS))
    for n, (name, label, run) in enumerate(FLOWS, 1):
        progress.update(task, description=f"{n}/{len(FLOWS)} {label}")
        began = time.monotonic()
        try:
            results[name] = await run(cfg, sizes, out)
        except Exception as failed:  # one flow failing is reported, not fatal
            errors[name] = f"{type(failed).__name__}: {failed}"[:300]
            progress.console.print(f"[red]{label} failed[/red]: {errors[name]}")
            progress.console.print(traceback.format_exc(limit=-3), markup=False)
        seconds[name] = time.monotonic() - began
        progress.console.print(f"{label}: {'failed' if name in errors else 'done'} in "
                               f"{seconds[name]:.0f} s")
        progress.advance(task)
    progress.update(task, description="every flow ran")
    return results, errors, seconds


def run(cfg: StackConfig, sizes: Sizes, is_quick: bool, readme: Path = README,
        reports: Path = REPORTS, console: Console | None = None) -> Path:
    """Every flow, then `reports/<date>.{json,md}` and the README's table; the report's path."""
    started = datetime.now(UTC)
    began = time.monotonic()
    out = reports / "quick" if is_quick else reports
    load = os.getloadavg()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total} flows"), TimeElapsedColumn())
    with Progress(*columns, console=console or Console(stderr=True)) as progress:
        results, errors, seconds = asyncio.run(_flows(cfg, sizes, out, progress))
    figures = summary.rows(results, errors)
    date = started.strftime("%Y-%m-%d")
    meta = {"date": date, "when": started.strftime("%Y-%m-%d %H:%M:%S UTC"), "quick": is_quick,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "load": f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after",
            "seconds": time.monotonic() - began, "sizes": _shown(asdict(sizes)),
            "flow_seconds": seconds, "flow_reports": _relative(out, readme.parent) + "/",
            "failed": errors}
    reports.mkdir(parents=True, exist_ok=True)
    json_path, md_path = reports / f"{date}.json", reports / f"{date}.md"
    json_path.write_text(json.dumps({**meta, "figures": [r.as_json() for r in figures]},
                                    indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(summary.report(meta, figures))
    if readme.exists():
        block = summary.readme_block(meta, figures, _relative(md_path, readme.parent))
        try:
            readme.write_text(summary.replace_block(readme.read_text(), block))
        except ValueError as unmarked:
            (console or Console(stderr=True)).print(f"{readme} not updated: {unmarked}")
    return md_path


def _shown(sizes: dict[str, Any]) -> dict[str, Any]:
    return {k: ",".join(map(str, v)) if isinstance(v, tuple) else v for k, v in sizes.items()}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
