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

from aiokafka import TopicPartition

from groundfloor.kafka_clients import admin_client, end_offsets
from infra.principals import TESTS
from schemas.topics import INGESTION_TOPICS
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


async def ingested(relay: RelayEnv) -> int:
    """How many records (ticks included) the relay's ingestion partitions hold."""
    partitions = [TopicPartition(relay.topic(t), p)
                  for t in INGESTION_TOPICS for p in range(t.partitions)]
    return sum((await end_offsets(relay.cfg.kafka(TESTS), partitions)).values())


async def lag(relay: RelayEnv, group: str, partitions: Sequence[TopicPartition]) -> int:
    """Records of `partitions` that `group` has not committed past: their ends (as a
    read_committed reader sees them) less the group's committed offsets."""
    admin = admin_client(relay.cfg.kafka(TESTS))
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    ends = await end_offsets(relay.cfg.kafka(TESTS), partitions)
    done = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    return sum(max(ends[tp] - done.get(tp, 0), 0) for tp in partitions)


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
