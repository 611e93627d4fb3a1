"""The 合算 reconciliation processor (`shaho run reconciliation`): each medical insurer's periods
closed when the relay clock's date says a scheduled close is due, and their settlements sent.

Each insurer works under its own identity and store. The relay clock's date in Japan decides
(`reconciliation.schedule.closes_due`), never the machine's clock; a close is the scheduled one
only once it finished with every reply in (`closes.scheduled_for`), so a close short of replies,
or one a kill interrupted, is made again (a new round; the ledger's ids make it settle nothing
twice), the former after a bounded backoff. Whatever is left unsent is sent at every poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from groundfloor.config import StackConfig
from groundfloor.metrics import ProcessorMetrics
from groundfloor.outages import connection
from insurer_workers import member_store
from insurer_workers.closing import (
    BATCH,
    CHUNK,
    REPLY_WANTED,
    CloseRunning,
    close,
    last_scheduled,
)
from insurer_workers.settlement_sending import send_pending
from insurer_workers.worker import InsurerIdentity, relay_now
from reconciliation.calculation import Period
from reconciliation.schedule import closes_due, open_periods, retry_delay
from schemas.base import JST
from schemas.topics import Namespace
from trust.directory import Signers

log = logging.getLogger("shaho.reconciliation")

POLL = 60
"""Seconds between two readings of the relay clock."""
WAIT = 600
"""Seconds a close waits for its replies."""
RETRY_CAP = 3600
"""The longest wait, in seconds, before a close that fell short is tried again."""


@dataclass(frozen=True)
class Settings:
    """How often to look, how long a close waits, how it retries, how much it writes at once
    and how many households it takes at a time."""

    poll: float = POLL
    wait: float = WAIT
    deadline: timedelta = timedelta(hours=1)
    retry_cap: float = RETRY_CAP
    chunk: int = CHUNK
    batch: int = BATCH


@dataclass
class ShortClose:
    """A due close that fell short, in a row: how often, and when it may be tried again."""

    failures: int = 0
    not_before: float = 0.0


class Reconciler:
    """The scheduled closes and the sending of the insurers `insurers`, one pass per poll."""

    def __init__(self, insurers: list[InsurerIdentity], pool: asyncpg.Pool, signers: Signers,
                 namespace: Namespace, cfg: StackConfig, settings: Settings = Settings()) -> None:
        self.insurers, self.pool, self.signers = insurers, pool, signers
        self.namespace, self.cfg, self.settings = namespace, cfg, settings
        self.short: dict[tuple[str, int], ShortClose] = {}
        self.tally: Counter[str] = Counter()
        self.metrics = ProcessorMetrics("reconciliation")

    async def start(self) -> None:
        """Each insurer's store made current (the closing tables included)."""
        async with connection(self.pool) as conn:
            for me in self.insurers:
                await member_store.create_store(conn, me.code)

    async def run(self, stop: asyncio.Event, once: bool = False) -> None:
        """A pass per poll until `stop` is set (with `once`: one pass). A pass under way when
        it is set is abandoned as a kill would leave it: its close made again at the next
        start, what it sent but did not mark sent sent again (the same bytes)."""
        while not stop.is_set():
            step, stopped = asyncio.ensure_future(self.step()), asyncio.ensure_future(stop.wait())
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not step.done():
                step.cancel()
                try:
                    await step
                except asyncio.CancelledError:
                    pass
                except Exception as failure:  # the abandoned pass's own end; nothing to keep
                    log.info("pass abandoned on stop (%s)", type(failure).__name__)
                return
            step.result()
            if once:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.poll)

    async def step(self) -> None:
        """One pass: every insurer at once, each on its own connection; the settlements it
        left unsent are the metrics' pending deadlines."""
        unsent = await asyncio.gather(*(self.serve(me) for me in self.insurers))
        self.metrics.pending_deadlines.set(sum(unsent))

    async def serve(self, me: InsurerIdentity) -> int:
        """The closes due at `me` on the relay clock's date, then its unsent settlements of
        every open period; how many it left unsent."""
        now = await relay_now(me, self.namespace, self.signers)
        if now is None:  # before the first tick nothing is due
            return 0
        unsent = 0
        today = now.astimezone(JST).date()
        async with connection(self.pool) as conn:
            periods = open_periods(today)
            last = {p: await last_scheduled(conn, me.code, p) for p in periods}
            for period, due in closes_due(today, last):
                await self._close(conn, me, now, period, due)
            for period in periods:
                with self.metrics.transaction():
                    sent = await send_pending(conn, me, self.cfg, self.namespace, period)
                self.tally["sent"] += sent.sent
                unsent += sum(sent.left.values())
                if sent.sent:
                    self.metrics.records_out.inc(sent.sent)
                    self.metrics.batch_size.observe(sent.sent)
                for why, n in sent.left.items():
                    self.tally[f"unsent:{why}"] += n
                if sent.sent or sent.left:
                    log.info("%s period %d: %d settlement(s) sent, left unsent %s", me.code,
                             period, sent.sent, dict(sorted(sent.left.items())))
        return unsent

    async def _close(self, conn: asyncpg.Connection, me: InsurerIdentity, now: datetime,
                     period: int, due: date) -> None:
        key = (me.code, period)
        short = self.short.get(key)
        if short is not None and time.monotonic() < short.not_before:
            return
        try:
            report = await close(conn, me, self.namespace, now, Period(period),
                                 wait=self.settings.wait, ttl=self.settings.deadline,
                                 scheduled_for=due, chunk=self.settings.chunk,
                                 batch=self.settings.batch)
        except CloseRunning:
            self._fell_short(key, "close_running")
            return
        counts = report.counts()
        counts.pop("amounts")
        log.info("%s period %d close of %s, round %d: %s", me.code, period, due.isoformat(),
                 report.round, counts)
        if report.complete:
            self.tally["closed"] += 1
            self.short.pop(key, None)
        else:
            self._fell_short(key, next(r for r in REPLY_WANTED if report.held_back.get(r)))

    def _fell_short(self, key: tuple[str, int], why: str) -> None:
        short = self.short.setdefault(key, ShortClose())
        short.failures += 1
        delay = retry_delay(short.failures, self.settings.poll, self.settings.retry_cap)
        short.not_before = time.monotonic() + delay
        self.tally[f"short:{why}"] += 1
        log.warning("%s period %d: close fell short (%s); again in %.0f s", *key, why, delay)
