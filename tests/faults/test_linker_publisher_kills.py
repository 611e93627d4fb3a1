"""The linker and the outbox publisher, each its own OS process, SIGKILLed at every named fault
point and at random moments during a 6,000-event run, then restarted: nothing is lost and
nothing is duplicated for read_committed readers (change notices included), the table equals
the pure fold, and the linker's group ends with no lag, as the lag monitor (which never lost the
broker) says too."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemas.topics import INGESTION_TOPICS
from synthetic.population import generate
from tests.faults.chaos import FAULTS, ingested, lag, run_with_kills
from tests.faults.conftest import FaultRun
from tests.faults.convergence import assert_converged
from tests.faults.monitor import LINKER_GROUP, LagWatch, caught_up
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

EVENTS = 6_000


async def test_killed_processes_lose_and_duplicate_nothing(relay: RelayEnv, fault_run: FaultRun):
    population = generate(23, 1200, date(2025, 1, 1))
    filings = population.filings
    # 1,200 persons file about 5,000 times; the filers upload again what they filed (the
    # same event ids: duplicates the relay must recognise) until the run has 6,000 events
    uploads = [f for _ in range(EVENTS // len(filings) + 1) for f in filings][:EVENTS]
    await relay.publish([(population.topic_of(f), f) for f in uploads])
    landed = await relay.publish_raw(population.bad_records, population.bad_filers)
    assert len(uploads) == EVENTS and len(filings) < EVENTS
    # two steps of the simulated calendar: the filings' time, then 15 days on, when every
    # filing still parked gets its final answer (each tick takes one offset per partition)
    await relay.tick()
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    total = await ingested(relay)
    partitions = sum(t.partitions for t in INGESTION_TOPICS)
    assert total >= EVENTS + landed + 2 * partitions
    fault_run.carried(total)

    async with LagWatch(relay) as watch:
        kills = await run_with_kills(relay, total, fault_run.rng(), seconds=900)
        print(dict(sorted(kills.items())))
        assert relay.run("relay-linker") == 0 and relay.run("outbox-publisher") == 0
        # the monitor, which never lost the broker, knew the lag all along and ends at none
        await watch.until(caught_up, "the linker's group OK with lag 0")
        assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()
    assert await lag(relay, LINKER_GROUP, relay.partitions(INGESTION_TOPICS)) == 0
    fired = {k.split(":")[0] for k in kills if k.endswith("exit -9")}
    assert fired == {p for points in FAULTS.values() for p in points}, kills
    assert sum(v for k, v in kills.items() if "random SIGKILL" in k) >= 2, kills

    await assert_converged(relay, filings, landed)
