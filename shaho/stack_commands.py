"""`shaho` commands for the local stack and the processors: up/down/status, topics, schemas,
run, publish, demo, bench and test. Each is a small function; nothing connects at import time.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from bench import (
    access_log,
    broker_auth,
    exchange,
    linker,
    notices,
    pending_deadlines,
    reconciliation,
    signatures,
    suite,
)
from bench.linker import REPORTS
from groundfloor.config import StackConfig
from groundfloor.kafka_clients import KafkaLogin
from infra.principals import OPERATOR, participant_name
from infra.processes import metrics_lines
from infra.stack import down, is_up, status, up
from producers.command import PublishOptions, run_publish
from producers.sender import MissingLogin
from relay_clock.clock import ClockError
from schemas.asyncapi import stale, write_all
from schemas.topics import CATALOGUE
from shaho.bootstrap import (
    tick_at,
    topic_namespace,
)
from shaho.demo import run_demo
from shaho.registry import Registry, print_lines
from shaho.trust_commands import provision
from trust.keys import FilerKeys

commands = Registry()
command = commands.command


@command("up", "start Kafka and PostgreSQL, apply migrations and the topic catalogue")
def _up(args: argparse.Namespace, cfg: StackConfig) -> int:
    print_lines([*up(cfg), provision(cfg)])
    return 0


@command("down", "stop the processors, Kafka and PostgreSQL started by this checkout")
def _down(args: argparse.Namespace, cfg: StackConfig) -> int:
    print_lines(down(cfg))
    return 0


@command("status", "tell what runs where")
def _status(args: argparse.Namespace, cfg: StackConfig) -> int:
    print_lines(status(cfg))
    return 0


@command("metrics", "list where the running processors serve their Prometheus metrics")
def _metrics(args: argparse.Namespace, cfg: StackConfig) -> int:
    print_lines(metrics_lines(cfg) or ["no processor serves metrics"])
    return 0


@command("topics", "print the topic catalogue")
def _topics(args: argparse.Namespace, cfg: StackConfig) -> int:
    print(f"{'topic':34} {'part':>4} {'cleanup':8} {'retention':>9} {'max bytes':>9}  key")
    for t in CATALOGUE:
        days = t.retention_ms // 86_400_000
        print(f"{t.name:34} {t.partitions:>4} {t.cleanup_policy:8} {days:>8}d "
              f"{t.max_message_bytes:>9}  {t.key}")
    return 0


def _schemas_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--write", action="store_true", help="regenerate JSON Schemas and AsyncAPI")


@command("schemas", "check (or --write) the generated JSON Schemas and docs/asyncapi.yaml",
         _schemas_options)
def _schemas(args: argparse.Namespace, cfg: StackConfig) -> int:
    if args.write:
        print_lines([f"wrote {p.relative_to(cfg.root)}" for p in write_all(cfg.root)])
        return 0
    old = stale(cfg.root)
    print_lines([f"stale: {p.relative_to(cfg.root)}" for p in old]
                or ["generated files are current"])
    return 1 if old else 0


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--persons", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep-running", action="store_true",
                   help="leave the stack running afterwards (default: stop what the demo started)")


@command("demo", "bring the stack up, run the processors on a synthetic population, report",
         _demo_options)
def _demo(args: argparse.Namespace, cfg: StackConfig) -> int:
    return run_demo(cfg, persons=args.persons, seed=args.seed, keep_running=args.keep_running)


def _clock_options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    tick = sub.add_parser("tick", help="write one tick of the relay clock")
    tick.add_argument("--at", type=_instant, default=None,
                      help="the tick's relay time on a simulated calendar, ISO 8601 with a UTC "
                      "offset (default: the broker's time)")


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError("a relay time needs a UTC offset, e.g. +09:00")
    return when


@command("clock", "the relay clock: write a tick (simulated calendars step it between phases)",
         _clock_options)
def _clock(args: argparse.Namespace, cfg: StackConfig) -> int:
    try:
        print(asyncio.run(tick_at(cfg, args.at)))
    except ClockError as refused:
        print(f"shaho clock: {refused}", file=sys.stderr)
        return 2
    return 0


def _bench_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--persons", type=int, default=2400, help="population size (~4 filings each)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quick", action="store_true",
                   help="every flow at small sizes (minutes, not hours); its flows' own reports go "
                   "to bench/reports/quick/")
    p.add_argument("--linker", action="store_true",
                   help="measure instead the linker alone against its raw baselines, and the "
                   "cost of signature checks (what a plain `shaho bench` measured before)")
    p.add_argument("--broker", action="store_true",
                   help="measure instead what the broker's authentication costs (against a "
                   "second, unauthenticated broker of the bench's own) and how long "
                   "provisioning 20,000 employer principals takes")
    p.add_argument("--exchange", action="store_true",
                   help="measure instead the relayed exchange's round trips (p50/p99 at "
                   "--rate, rate steps against p99 <= 100 ms) and persons/s through batched "
                   "requests, next to a raw request/reply over the same broker (population: "
                   "--persons, at most 600)")
    p.add_argument("--reconciliation", action="store_true",
                   help="measure instead a 合算 period close at every medical insurer through "
                   "the relay (asking, gathering, settling, sending) against a raw read of "
                   "the same receipts, at --persons and a quarter of it, profiled, "
                   "extrapolated to 1,000,000 persons")
    p.add_argument("--access-log", action="store_true",
                   help="measure instead what the access log costs: appends/s against plain "
                   "rows, proof sizes and verification at --log-entries entries against raw "
                   "SHA-256, and a relayed query's transaction with and without the log, in "
                   "a scratch database")
    p.add_argument("--deadlines", action="store_true",
                   help="measure instead where the notifications processor keeps pending "
                   "deadlines: a PostgreSQL table against a faust memory-store table with "
                   "--deadline-persons loaded (per GiB, RSS, a day's processing against one "
                   "plain statement, changelog replay against a raw read)")
    p.add_argument("--notices", action="store_true",
                   help="measure instead how long a notice takes: the tick that makes it due "
                   "published to the notice readable on its notices topic (p50/p99), the "
                   "population (--persons, at most 2,000) filed day by day at --days-per-s, "
                   "next to a raw consume, transaction, transactional produce loop")
    p.add_argument("--days-per-s", type=float, default=10.0,
                   help="--notices: simulated days the relay clock moves per second")
    p.add_argument("--deadline-persons", type=int, default=1_000_000,
                   help="--deadlines: persons with a pending deadline each")
    p.add_argument("--log-entries", type=int, default=1_000_000,
                   help="--access-log: the tree size proofs are measured at")
    p.add_argument("--rate", type=int, default=200, help="--exchange: the steady rate, per s")
    p.add_argument("--seconds", type=float, default=20.0,
                   help="--exchange: how long the steady rate is held")
    p.add_argument("--steps", default="25,50,100,200",
                   help="--exchange: the rates stepped through, comma-separated")
    p.add_argument("--step-seconds", type=float, default=10.0,
                   help="--exchange: how long each step is held")


@command("bench", "every flow's bench against its raw baseline (or one flow's, by its flag); "
         "writes bench/reports/", _bench_options)
def _bench(args: argparse.Namespace, cfg: StackConfig) -> int:
    print_lines([*up(cfg), provision(cfg)])
    if args.broker:
        broker_auth.run(cfg)
        print((REPORTS / "broker_auth.md").read_text())
        return 0
    if args.access_log:
        asyncio.run(access_log.run(cfg, args.log_entries))
        print((REPORTS / "access_log.md").read_text())
        return 0
    if args.deadlines:
        asyncio.run(pending_deadlines.run(cfg, args.deadline_persons))
        print((REPORTS / "pending_deadlines.md").read_text())
        return 0
    if args.notices:
        asyncio.run(notices.run(cfg, min(args.persons, 2000), args.seed, args.days_per_s))
        print((REPORTS / "notices.md").read_text())
        return 0
    if args.reconciliation:
        asyncio.run(reconciliation.run(cfg, args.persons, args.seed))
        print((REPORTS / "reconciliation.md").read_text())
        return 0
    if args.exchange:
        steps = tuple(int(r) for r in args.steps.split(",") if r.strip())
        asyncio.run(exchange.run(cfg, min(args.persons, 600), args.seed, args.rate,
                                 args.seconds, steps, args.step_seconds))
        print((REPORTS / "exchange.md").read_text())
        return 0
    if args.linker:
        asyncio.run(linker.run(cfg, args.persons, args.seed))
        print((REPORTS / "linker.md").read_text())
        print(signatures.markdown(signatures.run(args.persons, args.seed)))
        return 0
    sizes = suite.quick(args.seed) if args.quick else suite.full(args.persons, args.seed)
    print((suite.run(cfg, sizes, args.quick)).read_text())
    return 0


def _test_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")


@command("test", "lint, then run every test tier against a real local stack", _test_options)
def _test(args: argparse.Namespace, cfg: StackConfig) -> int:
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", str(cfg.root)], check=False)
    if lint.returncode != 0:
        print("ruff found problems; fix them first", file=sys.stderr)
        return lint.returncode
    started = not is_up(cfg)
    print_lines([*up(cfg), provision(cfg)])
    try:
        env = cfg.child_env({"SHAHO_STACK_UP": "1"})
        result = subprocess.run([sys.executable, "-m", "pytest", *args.pytest_args],
                                cwd=cfg.root, env=env, check=False)
    finally:
        if started:
            print_lines(down(cfg))
    if result.returncode == 5:
        print("pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return result.returncode


def _publish_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="CSV (UTF-8 or CP932) or JSON Lines of filings")
    p.add_argument("--filer", metavar="CODE", help="filer code for rows without a filer_code")
    p.add_argument(
        "--filer-kind",
        choices=["employer", "municipality", "insurer", "pension"],
        help="topic of retractions when the file has no other filings of the filer",
    )
    p.add_argument("--encoding", choices=["utf-8", "cp932"], help="default: detect")
    p.add_argument("--wait", action="store_true", help="wait for the relay's outcomes")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long --wait waits for final outcomes (default 60)",
    )
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka (default: the local stack)")


@command("publish", "validate a batch of filings and publish its valid rows", _publish_options)
def _publish(args: argparse.Namespace, cfg: StackConfig) -> int:
    def at(login: KafkaLogin) -> KafkaLogin:
        return replace(login, bootstrap=args.bootstrap) if args.bootstrap else login

    def filer_login(role: str, code: str) -> KafkaLogin:
        try:
            return at(cfg.kafka(participant_name(role, code)))
        except (FileNotFoundError, ValueError) as missing:
            raise MissingLogin(f"{role} {code}: {missing}") from None

    options = PublishOptions(
        path=Path(args.file),
        # One filer's upload reads its outcomes as that filer; several filers' as the operator.
        kafka=at(cfg.kafka(OPERATOR)),
        logins=filer_login,
        filer=args.filer,
        filer_kind=args.filer_kind,
        encoding=args.encoding,
        wait=args.wait,
        timeout=args.timeout,
        namespace=topic_namespace(cfg),
        keys=FilerKeys(cfg),
    )
    return run_publish(options)
