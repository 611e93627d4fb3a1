"""One place that wires the processors: builds the database pool, keyring and clients from
the stack's settings and hands them to the adapters. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from groundfloor import metrics
from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from infra.principals import (
    CONSUMING,
    EXCHANGE_ROLES,
    GROUP,
    LAG_MONITOR,
    LAG_MONITOR_PRINCIPAL,
    NOTIFICATIONS_PRINCIPAL,
    OUTBOX_PUBLISHER,
    READ,
    RELAY_CLOCK_PRINCIPAL,
    RELAY_EXCHANGE,
    RELAY_LINKER,
    TOPIC,
    participant_name,
)
from infra.processes import run_dir
from lag_monitor.status import INTERVAL as LAG_INTERVAL
from lag_monitor.status import Rules
from schemas.topics import Namespace

if TYPE_CHECKING:
    from insurer_workers.reconciler import Settings
    from insurer_workers.worker import InsurerIdentity
    from lag_monitor.monitor import LagMonitor
    from lag_monitor.serving import Metrics
    from relay_exchange.policy import Policy
    from relay_exchange.router import ExchangeRouter


def application_name(processor: str) -> str:
    """How `processor`'s database sessions name themselves (`application_name`, shown in
    pg_stat_activity and the server's log): `shaho:<processor>`, one of
    `groundfloor.metrics.PROCESSORS`."""
    if processor not in metrics.PROCESSORS:
        raise ValueError(f"no processor named {processor!r}")
    return f"shaho:{processor}"


async def pool(cfg: StackConfig, processor: str, size: int = 4) -> asyncpg.Pool:
    """`processor`'s connection pool, every session named after it (`application_name`)."""
    return await asyncpg.create_pool(
        cfg.pg_dsn(), min_size=1, max_size=size,
        server_settings={"application_name": application_name(processor)})


def keyring(cfg: StackConfig) -> Keyring:
    return Keyring.load(cfg.keyring_path)


def topic_namespace(cfg: StackConfig) -> Namespace:
    """The namespace the processors name their topics in."""
    return Namespace(cfg.topic_prefix)


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def serve_metrics(cfg: StackConfig, processor: str) -> metrics.Endpoint:
    """Serve this process's metrics on 127.0.0.1 (port: `cfg.metrics_port_base` plus the
    processor's offset, or any free one) and write the port down in the run folder, where
    `shaho metrics` and `shaho status` find it."""
    endpoint = metrics.serve(processor, run_dir(cfg), cfg.metrics_port_base, cfg.topic_prefix)
    logging.getLogger("shaho.metrics").info("metrics on %s", endpoint.url)
    return endpoint


def stop_event_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so processors finish their batch and exit cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_outbox_publisher(cfg: StackConfig, drain: bool = False) -> int:
    """Run the outbox publisher until signalled (or, with `drain`, until the outbox is empty)."""
    from outbox.publishing import OutboxPublisher

    db = await pool(cfg, "outbox-publisher")
    publisher = OutboxPublisher(db, cfg.kafka(OUTBOX_PUBLISHER), topic_namespace(cfg))
    stop = stop_event_on_signals()
    try:
        if not await publisher.start(stop):  # stopped while another instance published
            return 0
        if drain:
            while await publisher.publish_pending():
                pass
        else:
            await publisher.run(stop)
    finally:
        await publisher.stop()
        await db.close()
    logging.getLogger("shaho.outbox").info("published %d rows", publisher.published)
    return 0


async def run_relay_linker(cfg: StackConfig, drain: bool = False) -> int:
    """Run the relay linker until signalled (or, with `drain`, until its topics go quiet)."""
    from relay_linker.linker import RelayLinker
    from trust.directory import Directory
    from trust.encryption_keys import PublicKeyDirectory
    from trust.keys import access_log_record_signer

    db = await pool(cfg, "relay-linker")
    linker = RelayLinker(db, keyring(cfg), Directory(cfg), PublicKeyDirectory(cfg),
                         cfg.kafka(RELAY_LINKER),
                         topic_namespace(cfg),
                         batch=cfg.linker_batch, head_signer=access_log_record_signer(cfg),
                         head_gap=access_head_gap())
    try:
        await linker.start()
        await linker.run(stop_event_on_signals(), idle_exit=3.0 if drain else None)
    finally:
        await linker.stop()
        await db.close()
    logging.getLogger("shaho.linker").info("processed %d records", linker.processed)
    return 0


async def run_relay_clock(cfg: StackConfig, drain: bool = False) -> int:
    """Run the relay clock on the broker's time until signalled (with `drain`: one tick)."""
    from relay_clock.clock import RelayClock
    from trust.keys import clock_signer

    clock = RelayClock(cfg.kafka(RELAY_CLOCK_PRINCIPAL), topic_namespace(cfg), keyring(cfg),
                       clock_signer(cfg))
    try:
        await clock.start()
        if drain:
            await clock.tick()
        else:
            await clock.run(stop_event_on_signals())
    finally:
        await clock.stop()
    if clock.last is not None:
        logging.getLogger("shaho.clock").info("relay time %s (tick %d)",
                                              clock.last.relay_time.isoformat(), clock.last.seq)
    return 0


def _positive_setting(name: str, default: int) -> int:
    """The positive whole number in environment variable `name`, else `default`."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a positive whole number")
    return int(text)


def exchange_rate_limit() -> int:
    """Persons a participant may ask about per relay hour: SHAHO_EXCHANGE_RATE_LIMIT, else
    the router's default."""
    from relay_exchange.router import RATE_LIMIT

    return _positive_setting("SHAHO_EXCHANGE_RATE_LIMIT", RATE_LIMIT)


def exchange_batch() -> int:
    """Records the router decides per transaction: SHAHO_EXCHANGE_BATCH, else its default."""
    from relay_exchange.router import BATCH as EXCHANGE_BATCH

    return _positive_setting("SHAHO_EXCHANGE_BATCH", EXCHANGE_BATCH)


def purpose_policy() -> Policy:
    """The purpose policy the router applies: the file SHAHO_PURPOSE_POLICY names, else the
    shipped one; a file that is no valid policy stops the router before it reads anything."""
    from relay_exchange.policy import policy_from

    return policy_from(os.environ.get("SHAHO_PURPOSE_POLICY"))


def access_head_gap() -> timedelta:
    """Relay time between two heads of a growing access-log tree: SHAHO_ACCESS_HEAD_SECONDS,
    else the router's default."""
    from relay_exchange.router import HEAD_GAP

    return timedelta(seconds=_positive_setting("SHAHO_ACCESS_HEAD_SECONDS",
                                               int(HEAD_GAP.total_seconds())))


def exchange_router(cfg: StackConfig, db: asyncpg.Pool) -> ExchangeRouter:
    from relay_exchange.router import ExchangeRouter
    from trust.directory import Directory
    from trust.encryption_keys import PublicKeyDirectory
    from trust.keys import access_log_record_signer, exchange_signer

    return ExchangeRouter(db, keyring(cfg), Directory(cfg), PublicKeyDirectory(cfg),
                          cfg.kafka(RELAY_EXCHANGE), topic_namespace(cfg), exchange_signer(cfg),
                          policy=purpose_policy(), rate_limit=exchange_rate_limit(),
                          batch=exchange_batch(), head_signer=access_log_record_signer(cfg),
                          head_gap=access_head_gap())


async def run_relay_exchange(cfg: StackConfig, drain: bool = False) -> int:
    """Run the exchange router until signalled (or, with `drain`, until its topics go quiet);
    2, with the reason, when SHAHO_PURPOSE_POLICY names no valid policy file."""
    from relay_exchange.policy import PolicyFileError

    try:
        purpose_policy()
    except PolicyFileError as refused:
        print(f"shaho run relay-exchange: SHAHO_PURPOSE_POLICY: {refused}", file=sys.stderr)
        return 2
    db = await pool(cfg, "relay-exchange")
    router = exchange_router(cfg, db)
    try:
        await router.start()
        await router.run(stop_event_on_signals(), idle_exit=3.0 if drain else None)
    finally:
        await router.stop()
        await db.close()
    logging.getLogger("shaho.exchange").info("replies %s", router.tally.replies)
    return 0


def notifications_batch() -> int:
    """Records the notifications processor takes per fetch: SHAHO_NOTIFICATIONS_BATCH, else
    its default (the notices do not depend on it)."""
    from notification_streams.processor import BATCH as NOTIFICATIONS_BATCH

    return _positive_setting("SHAHO_NOTIFICATIONS_BATCH", NOTIFICATIONS_BATCH)


async def run_notifications(cfg: StackConfig, drain: bool = False) -> int:
    """Run the notifications processor until signalled (with `drain`: until its topics go
    quiet)."""
    from notification_streams.processor import NotificationsProcessor
    from trust.encryption_keys import PublicKeyDirectory

    db = await pool(cfg, "notifications")
    processor = NotificationsProcessor(db, keyring(cfg), PublicKeyDirectory(cfg),
                                       cfg.kafka(NOTIFICATIONS_PRINCIPAL), topic_namespace(cfg),
                                       batch=notifications_batch())
    try:
        await processor.start()
        await processor.run(stop_event_on_signals(), idle_exit=3.0 if drain else None)
    finally:
        await processor.stop()
        await db.close()
    t = processor.tally
    logging.getLogger("shaho.notifications").info(
        "folded %d records; notices %s; %d copies; anomalies %s; %d dead letters", t.folded,
        dict(sorted(t.notices.items())), t.copies, dict(sorted(t.anomalies.items())),
        t.dead_letters)
    return 0


def insurer(cfg: StackConfig, code: str) -> InsurerIdentity:
    """Insurer `code` as this machine holds it: its keys and its own broker principal."""
    from insurer_workers.worker import identity, role_of

    return identity(cfg, code, cfg.kafka(participant_name(role_of(code), code)))


async def run_insurer_workers(cfg: StackConfig, codes: list[str], drain: bool = False) -> int:
    """Run one worker per insurer of `codes` in this process, each as its own principal with
    its own keys and member store, until signalled (with `drain`: until all go quiet)."""
    from insurer_workers.worker import InsurerWorker
    from trust.directory import Directory

    db = await pool(cfg, "insurer-worker", size=max(2, len(codes) + 1))
    workers = [InsurerWorker(insurer(cfg, code), db, Directory(cfg), topic_namespace(cfg))
               for code in codes]
    stop = stop_event_on_signals()
    try:
        # side by side: a start mostly waits on the broker (logins, offsets, the clock's
        # last tick), 20 insurers' workers in 3.5 s instead of 7 s one after another
        async with asyncio.TaskGroup() as starting:
            for worker in workers:
                starting.create_task(worker.start())
        await asyncio.gather(*(w.run(stop, idle_exit=3.0 if drain else None) for w in workers))
    finally:
        for worker in workers:
            await worker.stop()
        await db.close()
    for worker in workers:
        logging.getLogger("shaho.insurer").info("%s: %s", worker.me.code, worker.done.counts)
    return 0


def reconciliation_settings() -> Settings:
    """The reconciliation processor's settings: SHAHO_RECONCILE_POLL (seconds between two
    readings of the relay clock), SHAHO_RECONCILE_WAIT (seconds a close waits for its
    replies), SHAHO_RECONCILE_DEADLINE (relay seconds its requests wait for answers),
    SHAHO_RECONCILE_RETRY_CAP (the longest backoff, seconds, before a close that fell short is
    tried again), SHAHO_CLOSE_CHUNK (households per ledger transaction) and SHAHO_CLOSE_BATCH
    (store households a close takes at a time), else defaults."""
    from insurer_workers.closing import BATCH as CLOSE_BATCH
    from insurer_workers.closing import CHUNK as CLOSE_CHUNK
    from insurer_workers.reconciler import POLL as RECONCILE_POLL
    from insurer_workers.reconciler import RETRY_CAP as RECONCILE_RETRY_CAP
    from insurer_workers.reconciler import WAIT as RECONCILE_WAIT
    from insurer_workers.reconciler import Settings

    return Settings(poll=_positive_setting("SHAHO_RECONCILE_POLL", RECONCILE_POLL),
                    wait=_positive_setting("SHAHO_RECONCILE_WAIT", RECONCILE_WAIT),
                    deadline=timedelta(seconds=_positive_setting("SHAHO_RECONCILE_DEADLINE",
                                                                 3600)),
                    retry_cap=_positive_setting("SHAHO_RECONCILE_RETRY_CAP",
                                                RECONCILE_RETRY_CAP),
                    chunk=_positive_setting("SHAHO_CLOSE_CHUNK", CLOSE_CHUNK),
                    batch=_positive_setting("SHAHO_CLOSE_BATCH", CLOSE_BATCH))


async def run_reconciliation(cfg: StackConfig, codes: list[str], drain: bool = False) -> int:
    """Run the scheduled 合算 closes and the sending of settlements for the medical insurers
    `codes` (none named: every one with a member store), each under its own identity, until
    signalled (with `drain`: one pass)."""
    from insurer_workers.member_store import medical_insurers
    from insurer_workers.reconciler import Reconciler
    from trust.directory import Directory

    settings = reconciliation_settings()
    if not codes:
        conn = await asyncpg.connect(cfg.pg_dsn())
        try:
            codes = await medical_insurers(conn)
        finally:
            await conn.close()
    db = await pool(cfg, "reconciliation", size=max(2, len(codes) + 1))
    reconciler = Reconciler([insurer(cfg, code) for code in codes], db, Directory(cfg),
                            topic_namespace(cfg), cfg, settings)
    try:
        await reconciler.start()
        await reconciler.run(stop_event_on_signals(), once=drain)
    finally:
        await db.close()
    logging.getLogger("shaho.reconciliation").info(
        "%d insurer(s): %s", len(codes), dict(sorted(reconciler.tally.items())))
    return 0


async def tick_at(cfg: StackConfig, at: datetime | None) -> str:
    """One tick of the relay clock (at `at` on a simulated calendar); what it wrote."""
    from relay_clock.clock import RelayClock
    from trust.keys import clock_signer

    clock = RelayClock(cfg.kafka(RELAY_CLOCK_PRINCIPAL), topic_namespace(cfg), keyring(cfg),
                       clock_signer(cfg))
    await clock.start()
    try:
        tick = await clock.tick(at)
    finally:
        await clock.stop()
    return f"tick {tick.seq}: relay time {tick.relay_time.isoformat()}"


RELAY_GROUPS = tuple(sorted(g.name for p in CONSUMING for g in p.grants if g.resource == GROUP))
"""The relay processors' consumer groups: each its own label in the lag metrics."""
LAG_MONITOR_NAME = "lag-monitor"
"""`shaho run lag-monitor`: every consumer group's lag, served as JSON and metrics."""


def lag_monitor(cfg: StackConfig, rules: Rules | None = None) -> LagMonitor:
    """The lag monitor as its own principal in the stack's namespace; it reads timestamps only
    on the topics its grants let it read."""
    from lag_monitor.monitor import LagMonitor

    namespace = topic_namespace(cfg)
    return LagMonitor(cfg.kafka(LAG_MONITOR_PRINCIPAL), namespace, rules or Rules(),
                      readable=lambda topic: LAG_MONITOR.may(READ, TOPIC, topic, namespace))


def lag_port_file(cfg: StackConfig) -> Path:
    """Where a running lag monitor writes the port it serves on, next to its pid file (one
    per namespace: `lag-monitor.port`, or `lag-monitor.<prefix>port`)."""
    return run_dir(cfg) / f"{LAG_MONITOR_NAME}.{cfg.topic_prefix}port"


SCRAPE_SPAN = 900.0
"""Seconds of the processors' scraped counters the lag monitor keeps (rates over the alert
rules' ranges, throughput on the dashboard)."""


def lag_metrics() -> Metrics:
    from lag_monitor.serving import Metrics

    return Metrics(RELAY_GROUPS, EXCHANGE_ROLES)


async def run_lag_monitor(cfg: StackConfig, rules: Rules, interval: float = LAG_INTERVAL,
                          port: int = 0, port_file: Path | None = None) -> int:
    """Poll every `interval` seconds and serve /api/lag and /metrics on 127.0.0.1:`port`
    until signalled; the bound port goes to `port_file` (by default next to the pid file)."""
    from lag_monitor.scraping import Scrapes
    from lag_monitor.serving import Service
    from lag_monitor.serving import serve as serve_lag

    monitor = lag_monitor(cfg, rules)
    service = Service(monitor, lag_metrics(), interval)
    assert service.dashboard is not None
    service.dashboard.scrapes = Scrapes(run_dir(cfg), cfg.topic_prefix,
                                        keep=min(max(int(SCRAPE_SPAN / interval) + 2, 10), 7200))
    try:  # a client started before the broker failed another is closed too
        await monitor.start()
        await serve_lag(service, stop_event_on_signals(), port,
                        port_file or lag_port_file(cfg))
    finally:
        await monitor.stop()
    return 0


PROCESSORS: dict[str, Callable[[StackConfig, bool], Awaitable[int]]] = {
    "notifications": run_notifications,
    "outbox-publisher": run_outbox_publisher,
    "relay-clock": run_relay_clock,
    "relay-exchange": run_relay_exchange,
    "relay-linker": run_relay_linker,
}
INSURER_WORKER = "insurer-worker"
"""`shaho run insurer-worker --insurer CODE ...`: the workers of the named insurers."""
RECONCILIATION = "reconciliation"
"""`shaho run reconciliation [--insurer CODE ...]`: the scheduled 合算 closes and settlements."""
