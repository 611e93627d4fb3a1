"""`shaho lag`: every consumer group's status and lag as a table, from one evaluation made now
or from the running lag monitor's JSON API; `--linker` for the linker's positions in
PostgreSQL, the outbox backlog and the parked filings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from consumers.lag import measure
from groundfloor.config import StackConfig
from infra.principals import OPERATOR
from lag_monitor.status import Rules
from shaho.bootstrap import lag_monitor, lag_port_file, topic_namespace
from shaho.registry import Registry

commands = Registry()
command = commands.command

STYLES = {"OK": "green", "WARN": "yellow", "STALL": "magenta", "REWIND": "cyan",
          "STOP": "bold red"}


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-monitor", action="store_true",
                   help="read the running monitor's JSON API (its port from the state dir, "
                        "or --port) instead of evaluating once now")
    p.add_argument("--port", type=int, default=None,
                   help="the running monitor's port (default: the one it wrote)")
    p.add_argument("--observations", type=int, default=1, metavar="N",
                   help="one evaluation: observe N times, --interval apart (statuses need a "
                        "window of observations; one alone tells the lag only)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS")
    p.add_argument("--partitions", action="store_true", help="a row per partition too")
    p.add_argument("--linker", action="store_true",
                   help="the linker's positions in PostgreSQL, the outbox backlog and parked "
                        "filings instead")


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value < 60:
        return f"{value:.1f}s"
    if value < 3600:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def _fraction(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def table(evaluation: dict[str, Any], partitions: bool = False) -> Table:
    """The evaluation (the JSON API's shape) as a table, a row per group (and partition)."""
    out = Table(title="consumer groups")
    for column in ("group", "topic", "part", "committed", "log end", "lag", "lag time",
                   "retention left", "retention used", "status"):
        out.add_column(column, justify="right" if column not in ("group", "topic", "status")
                       else "left")
    for group in evaluation["groups"]:
        rows = group["partitions"]
        used = [p["retention_used_fraction"] for p in rows
                if p["retention_used_fraction"] is not None]
        left = [p["retention_left_seconds"] for p in rows
                if p["retention_left_seconds"] is not None]
        out.add_row(group["group"], "", "", "", "", str(group["lag_records"]),
                    _seconds(group["lag_seconds"]), _seconds(min(left) if left else None),
                    _fraction(max(used) if used else None),
                    Text(group["status"], style=STYLES.get(group["status"], "")))
        if partitions:
            for p in rows:
                out.add_row("", p["topic"], str(p["partition"]), str(p["committed"]),
                            str(p["log_end"]), str(p["lag_records"]),
                            _seconds(p["lag_seconds"]), _seconds(p["retention_left_seconds"]),
                            _fraction(p["retention_used_fraction"]),
                            Text(p["status"], style=STYLES.get(p["status"], "")))
    return out


async def evaluate_now(cfg: StackConfig, observations: int, interval: float) -> dict[str, Any]:
    """`observations` polls `interval` apart by a monitor of this process; the last one."""
    monitor = lag_monitor(cfg, Rules(window=max(observations, 2)))
    await monitor.start()
    try:
        evaluation = await monitor.poll()
        for _ in range(observations - 1):
            await asyncio.sleep(interval)
            evaluation = await monitor.poll()
    finally:
        await monitor.stop()
    return evaluation.as_json()


NOT_RUNNING = "no lag monitor is running here (shaho run lag-monitor)"


def written_port(path: Path) -> int:
    """The port a lag monitor wrote to `path`; LookupError when there is none or it is no
    port (an empty, truncated or foreign file)."""
    text = path.read_text().strip() if path.exists() else ""
    if not text:
        raise LookupError(NOT_RUNNING)
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise LookupError(f"{path} holds no port; {NOT_RUNNING}")
    return port


def from_monitor(cfg: StackConfig, port: int | None) -> dict[str, Any]:
    """The running monitor's last evaluation, from its JSON API; LookupError when what
    answers there is not one."""
    if port is None:
        port = written_port(lag_port_file(cfg))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/lag", timeout=10) as answer:
            try:
                evaluation = json.loads(answer.read())
            except ValueError:
                evaluation = None
    except urllib.error.HTTPError as refused:  # 503 before the monitor's first evaluation
        raise LookupError(f"the lag monitor on port {port} answered HTTP {refused.code} "
                          f"({refused.reason})") from None
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise LookupError(f"nothing answers on port {port} ({reason}); {NOT_RUNNING}") from None
    if not isinstance(evaluation, dict) or not isinstance(evaluation.get("groups"), list):
        raise LookupError(f"what answers on port {port} is not a lag monitor's /api/lag")
    return evaluation


def _linker(cfg: StackConfig) -> int:
    async def read():
        conn = await asyncpg.connect(cfg.pg_dsn())
        try:
            return await measure(cfg.kafka(OPERATOR), topic_namespace(cfg), conn)
        finally:
            await conn.close()

    lag = asyncio.run(read())
    for p in lag.partitions:
        print(f"{p.topic}[{p.partition}]  position {p.position}  end {p.end}  lag {p.lag}")
    print(f"total lag {lag.total}; outbox rows waiting {lag.outbox_rows}; "
          f"filings parked {lag.parked_filings}")
    return 0


@command("lag", "every consumer group's status and lag (or --linker: the linker's positions)",
         _options)
def _lag(args: argparse.Namespace, cfg: StackConfig) -> int:
    if args.linker:
        try:
            return _linker(cfg)
        except (OSError, KafkaError, asyncpg.PostgresError) as exc:
            print(f"shaho lag: the database at 127.0.0.1:{cfg.pg_port} or the broker at "
                  f"{cfg.bootstrap_servers} cannot be reached ({type(exc).__name__}); is the "
                  "stack up (shaho status)?", file=sys.stderr)
            return 3
    try:
        evaluation = (from_monitor(cfg, args.port) if args.from_monitor
                      else asyncio.run(evaluate_now(cfg, max(args.observations, 1),
                                                    args.interval)))
    except (LookupError, OSError) as exc:
        print(f"shaho lag: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"shaho lag: the broker at {cfg.bootstrap_servers} cannot be reached "
              f"({type(exc).__name__}); is the stack up (shaho status)?", file=sys.stderr)
        return 3
    wide = None if sys.stdout.isatty() else 200  # a pipe or file gets every column whole
    Console(width=wide).print(table(evaluation, args.partitions))
    return 0


def dashboard_url(cfg: StackConfig) -> str:
    """The running lag monitor's dashboard, from the port it wrote down."""
    path = lag_port_file(cfg)
    port = written_port(path)
    try:  # a monitor killed outright leaves its port file behind
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        raise LookupError(f"nothing answers on port {port} ({path} is left from a lag "
                          f"monitor that stopped); {NOT_RUNNING}") from None
    return f"http://127.0.0.1:{port}/"


@command("dashboard", "print the URL of the running lag monitor's dashboard")
def _dashboard(args: argparse.Namespace, cfg: StackConfig) -> int:
    try:
        url = dashboard_url(cfg)
    except (LookupError, ValueError, OSError) as missing:
        print(f"shaho dashboard: {missing}", file=sys.stderr)
        return 2
    print(url)
    return 0
