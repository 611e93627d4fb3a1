"""The linker and the outbox publisher as OS processes, SIGKILLed at named fault points and at
random moments and restarted until their work is done, for the recovery tests."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache

from aiokafka import TopicPartition

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import admin_client, end_offsets, reader
from groundfloor.kafka_clients import caught_up as read_up_to
from infra import kafka
from infra.principals import TESTS
from schemas import Filing
from schemas.topics import INGESTION_TOPICS
from synthetic.population import Population, generate
from tests.faults.monitor import LagWatch, caught_up
from tests.integration.relay_env import RelayEnv

FAULTS = {
    "relay-linker": ["linker.after-db-commit"],
    "outbox-publisher": ["publisher.in-transaction", "publisher.before-position",
                         "publisher.after-commit"],
}


def spawn(relay: RelayEnv, name: str, fault: str | None,
          extra: dict[str, str] | None = None,
          args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """`shaho run <name> [args]` in the relay's namespace, armed with `fault` if one is
    given."""
    env = relay.cfg.child_env(extra)
    env.pop("SHAHO_FAULT", None)
    if fault:
        env["SHAHO_FAULT"] = fault
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", name, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


PERSONS = 1_250
"""The persons of the population the infrastructure-fault runs share: some 5,400 filings."""


@cache
def population() -> Population:
    """One population for every run that needs no larger one (generated once a session)."""
    return generate(31, PERSONS, date(2025, 1, 1))


async def published(relay: RelayEnv) -> tuple[list[Filing], int, int]:
    """`population()`'s filings and its malformed records published in the relay's namespace,
    then two steps of the simulated calendar (the filings' time, then 15 days on, when every
    filing still parked gets its final answer): the filings, the malformed records that landed,
    and the records (ticks included) the linker has to apply."""
    people = population()
    await relay.publish([(people.topic_of(f), f) for f in people.filings])
    landed = await relay.publish_raw(people.bad_records, people.bad_filers)
    await relay.tick()
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    total = await ingested(relay)
    assert total >= len(people.filings) + landed
    return list(people.filings), landed, total


async def ingested(relay: RelayEnv) -> int:
    """How many records (ticks included) the relay's ingestion partitions hold."""
    return sum((await end_offsets(relay.cfg.kafka(TESTS),
                                  relay.partitions(INGESTION_TOPICS))).values())


async def lag(relay: RelayEnv, group: str, partitions: Sequence[TopicPartition]) -> int:
    """Records of `partitions` that `group` has not committed past, as a read_committed reader
    reads them from the group's offsets to the ends (a transaction's commit marker after the
    last record it consumed is no record)."""
    kafka = relay.cfg.kafka(TESTS)
    admin = admin_client(kafka)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    done = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    ends = await end_offsets(kafka, partitions)
    behind = {tp: done.get(tp, 0) for tp in partitions if ends[tp] > done.get(tp, 0)}
    if not behind:
        return 0
    consumer = reader(kafka)
    await consumer.start()
    try:
        consumer.assign(sorted(behind))
        for tp, offset in behind.items():
            consumer.seek(tp, offset)
        records, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records += sum(1 for tp, rs in batch.items() for r in rs if r.offset < ends[tp])
            if await read_up_to(consumer, {tp: ends[tp] for tp in behind}):
                return records
        raise AssertionError(f"{group}: its partitions not read to their ends in 60 s")
    finally:
        await consumer.stop()


async def progress(relay: RelayEnv) -> tuple[int, int]:
    """Records the linker has applied, and outbox rows still waiting."""
    conn = await relay.connect()
    try:
        done = await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
        pending = await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()
    return done, pending


async def run_with_kills(relay: RelayEnv, total: int, rng: random.Random, seconds: float,
                         extra: dict[str, str] | None = None,
                         every_point: bool = True) -> Counter[str]:
    """Run both processors, killing them at fault points and at random until all `total`
    records are applied and published; what was killed where, counted.

    With `every_point`, every fault point must fire once: a process killed at random before
    reaching its point gets the same point again when restarted. Without it the run ends as
    soon as the work is done, whatever points are left."""
    kills: Counter[str] = Counter()
    procs: dict[str, tuple[subprocess.Popen[bytes], str | None]] = {}
    deadline = time.monotonic() + seconds
    scheduled = {name: list(points) for name, points in FAULTS.items()}
    try:
        while time.monotonic() < deadline:
            for name in FAULTS:
                if name in procs and procs[name][0].poll() is not None:
                    proc, point = procs.pop(name)
                    kills[f"{point or 'no fault'}: exit {proc.returncode}"] += 1
                    if point and proc.returncode != -signal.SIGKILL:
                        scheduled[name].insert(0, point)
                if name not in procs:
                    point = scheduled[name].pop(0) if scheduled[name] else None
                    fault = f"{point}:{rng.randint(1, 3)}" if point else None
                    procs[name] = (spawn(relay, name, fault, extra), point)
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            if rng.random() < 0.3:
                victim = rng.choice(sorted(procs))
                proc, point = procs.pop(victim)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills[f"{victim}: random SIGKILL"] += 1
                if point:
                    scheduled[victim].insert(0, point)
            done, pending = await progress(relay)
            if done >= total and pending == 0 and (not every_point or (
                    not any(scheduled.values())
                    and all(point is None for _, point in procs.values()))):
                break
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return kills


class Supervisor:
    """The processors of a faulted run as a supervisor keeps them: each instance (a name such
    as `relay-linker` or `relay-linker#2`, running the processor before the `#`) that exits, as
    a processor may when its broker or database goes away, is started again, at most once every
    `backoff` seconds, unless it is held. Exits are counted by instance and code."""

    def __init__(self, relay: RelayEnv, backoff: float = 1.0) -> None:
        self.relay, self.backoff = relay, backoff
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.held: set[str] = set()
        self.wanted: set[str] = set()
        self.exits: Counter[str] = Counter()
        self.starts: Counter[str] = Counter()

    def start(self, instance: str) -> None:
        self.procs[instance] = spawn(self.relay, instance.partition("#")[0], None)
        self.started[instance] = time.monotonic()
        self.starts[instance] += 1
        self.wanted.add(instance)

    def keep(self) -> None:
        """Count the instances that exited and start those not held again."""
        for instance, proc in list(self.procs.items()):
            code = proc.poll()
            if code is not None:
                del self.procs[instance]
                self.exits[f"{instance}: exit {code}"] += 1
        for instance in sorted(self.wanted - self.held - set(self.procs)):
            if time.monotonic() - self.started[instance] >= self.backoff:
                self.start(instance)

    def pause(self) -> None:
        """Hold every instance and stop those running (SIGTERM), as a supervisor that backs
        off while its broker is away: clients reconnecting to the broker's port meanwhile
        may be given that very port as their own (see `broker_back`)."""
        self.held |= self.wanted
        for instance, proc in list(self.procs.items()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            del self.procs[instance]
            self.exits[f"{instance}: paused, exit {code}"] += 1

    def resume(self) -> None:
        self.held.clear()
        self.keep()

    def running(self, instance: str) -> bool:
        return instance in self.procs and self.procs[instance].poll() is None

    def stop(self, instance: str, sig: signal.Signals = signal.SIGTERM) -> int:
        """Stop `instance` for good with `sig`; its exit code."""
        self.wanted.discard(instance)
        proc = self.procs.pop(instance)
        if proc.poll() is None:
            proc.send_signal(sig)
        code = proc.wait(timeout=60)
        self.exits[f"{instance}: {sig.name}, exit {code}"] += 1
        return code

    async def until(self, reached, what: str, seconds: float) -> None:
        """Keep the processors until the awaitable condition `reached()` holds."""
        deadline = time.monotonic() + seconds
        while not await reached():
            assert time.monotonic() < deadline, f"{what} not reached in {seconds:.0f} s: " \
                                                f"exits {dict(self.exits)}"
            self.keep()
            await asyncio.sleep(0.2)

    async def caught_up(self, total: int, watch: LagWatch) -> None:
        """Keep the processors until all `total` records are applied and published, then
        until the lag monitor says the linker's group is OK with lag 0."""
        await self.finished(total)
        watch.mark("all applied and published")
        await watch.until(caught_up, "the linker's group OK with lag 0")

    def report(self) -> str:
        return f"exits: {dict(self.exits)}; starts: {dict(self.starts)}"

    async def applied(self, records: int, seconds: float = 600) -> None:
        """Keep the processors until the linker has applied `records` records."""
        async def reached() -> bool:
            return (await progress(self.relay))[0] >= records
        await self.until(reached, f"{records} records applied", seconds)

    async def finished(self, total: int, seconds: float = 600) -> None:
        """Keep the processors until all `total` records are applied and published."""
        async def reached() -> bool:
            done, pending = await progress(self.relay)
            return done >= total and pending == 0
        await self.until(reached, f"all {total} records applied and published", seconds)

    def close(self) -> None:
        for instance in list(self.procs):
            proc = self.procs.pop(instance)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def broker_back(stack: StackConfig, seconds: float = 300.0) -> str:
    """The stack's broker started again, however many attempts it takes within `seconds`.

    Its port may lie in the range the kernel draws clients' local ports from (32768-60999 on
    Linux): while it is away, any client on the machine connecting anywhere can be given that
    very port and hold it as long as its connection lasts, and a broker started then fails to
    bind it and exits. It is started again after a pause until the port is free."""
    deadline = time.monotonic() + seconds
    failures = 0
    while True:
        try:
            started = kafka.ensure_running(stack)
        except kafka.StackError:
            failures += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(3.0)
        else:
            return f"{started} (after {failures} failed starts)"
