"""`shaho run <processor>`: one relay processor in the foreground, the command's own module so
that starting a processor imports that processor only.

Tests and the demo start processors hundreds of times; importing every command's modules took
0.87 s of CPU per start, one processor's wiring about half of it (`python -X importtime`)."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

from aiokafka.errors import KafkaError

from groundfloor.config import StackConfig
from lag_monitor.status import WINDOW, Rules, stop_window
from shaho.bootstrap import (
    INSURER_WORKER,
    LAG_INTERVAL,
    LAG_MONITOR_NAME,
    PROCESSORS,
    RECONCILIATION,
    configure_logging,
    run_insurer_workers,
    run_lag_monitor,
    run_reconciliation,
    serve_metrics,
)
from shaho.registry import Registry

commands = Registry()
command = commands.command


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("processor", choices=sorted([*PROCESSORS, INSURER_WORKER, RECONCILIATION,
                                                    LAG_MONITOR_NAME]))
    p.add_argument("--insurer", action="append", default=[], metavar="CODE",
                   help="insurer-worker, reconciliation: an insurer this process serves (repeat "
                        "for several; reconciliation: every medical insurer if none)")
    p.add_argument("--drain", action="store_true",
                   help="exit once there is nothing left to do instead of running until stopped")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="relay-linker: records per transaction (default $SHAHO_LINKER_BATCH "
                        "or 500); the outputs are the same whatever it is")
    p.add_argument("--interval", type=float, default=LAG_INTERVAL, metavar="SECONDS",
                   help="lag-monitor: seconds between two polls of the broker")
    p.add_argument("--window", type=int, default=WINDOW, metavar="N",
                   help="lag-monitor: observations a partition's window holds")
    p.add_argument("--stop-after", type=float, default=None, metavar="SECONDS",
                   help="lag-monitor: an offset standing still longer than this with lag is "
                        "STOP (default: twice the window's length, window x interval x 2)")
    p.add_argument("--port", type=int, default=0,
                   help="lag-monitor: the port of its JSON API and metrics on 127.0.0.1 "
                        "(default: any free one, written next to its pid file)")


@command("run", "run one relay processor in the foreground", _run_options)
def _run(args: argparse.Namespace, cfg: StackConfig) -> int:
    configure_logging()
    if args.batch is not None:
        cfg = cfg.with_linker_batch(args.batch)
    if args.processor == LAG_MONITOR_NAME:  # it serves its metrics beside its JSON API
        return _run_lag_monitor(args, cfg)
    try:
        if args.processor != LAG_MONITOR_NAME:  # the monitor serves its own /metrics
            serve_metrics(cfg, args.processor)
    except OSError as taken:
        print(f"shaho run {args.processor}: cannot serve metrics (SHAHO_METRICS_PORT_BASE "
              f"{cfg.metrics_port_base}): {taken.strerror}", file=sys.stderr)
        return 2
    if args.processor == INSURER_WORKER:
        if not args.insurer:
            print("shaho run insurer-worker: name at least one --insurer CODE", file=sys.stderr)
            return 2
        return asyncio.run(run_insurer_workers(cfg, args.insurer, args.drain))
    if args.processor == RECONCILIATION:
        return asyncio.run(run_reconciliation(cfg, args.insurer, args.drain))
    return asyncio.run(PROCESSORS[args.processor](cfg, args.drain))


def _run_lag_monitor(args: argparse.Namespace, cfg: StackConfig) -> int:
    """`shaho run lag-monitor`: settings checked first, then polled and served until
    signalled; a broker that cannot be reached at start or a port that cannot be bound stop
    it with a message (mid-run, a poll that fails is logged and retried)."""
    name = f"shaho run {LAG_MONITOR_NAME}"
    try:
        if not (math.isfinite(args.interval) and args.interval > 0):
            raise ValueError("--interval is a positive number of seconds")
        if not 0 <= args.port < 65536:
            raise ValueError("--port is 0 (any free port) or a port number")
        rules = Rules(args.window, args.stop_after if args.stop_after is not None
                      else stop_window(args.window, args.interval))
    except ValueError as wrong:
        print(f"{name}: {wrong}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_lag_monitor(cfg, rules, args.interval, args.port))
    except KafkaError as exc:
        print(f"{name}: the broker at {cfg.bootstrap_servers} cannot be reached "
              f"({type(exc).__name__}); is the stack up (shaho status)?", file=sys.stderr)
        return 3
    except OSError as taken:
        print(f"{name}: cannot serve on 127.0.0.1:{args.port}: {taken.strerror or taken}",
              file=sys.stderr)
        return 2

