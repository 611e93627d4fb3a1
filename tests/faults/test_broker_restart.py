"""The session's Kafka broker stopped and started again while the linker and the outbox
publisher carry some 5,200 filings, at an offset drawn from the run's seed: the processors run
on through the outage, and whatever exits is started again until the work is done; then
nothing is lost or duplicated for read_committed readers, the outputs are those of a run
without the fault, the linker's group has no lag left, and the lag monitor said it did not
know the lag while the broker was away (stale, with the poll's error) and says OK, lag 0, at
the end."""

from __future__ import annotations

import asyncio
import time

import pytest

from infra import kafka
from tests.faults.chaos import Supervisor, broker_back, published
from tests.faults.conftest import FaultRun
from tests.faults.convergence import drained_and_converged
from tests.faults.monitor import LagWatch
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

PROCESSORS = ("relay-linker", "outbox-publisher")
STALE_PATIENCE = 90.0
"""Seconds the broker stays away at most while the monitor has not yet said it is stale (a
poll of the monitor fails within its 30 s poll time at the latest)."""


async def _keep(supervisor: Supervisor) -> None:
    """The processors kept running through the outage: whatever exits is started again."""
    while True:
        supervisor.keep()
        await asyncio.sleep(0.2)


async def test_broker_restart_mid_stream_loses_and_duplicates_nothing(relay: RelayEnv,
                                                                      fault_run: FaultRun):
    rng = fault_run.rng()
    began = time.monotonic()
    filings, landed, total = await published(relay)
    print(f"published in {time.monotonic() - began:.0f} s")
    fault_run.carried(len(filings))
    at = rng.randint(total // 5, total * 3 // 5)
    supervisor = Supervisor(relay)
    async with LagWatch(relay) as watch:
        try:
            for name in PROCESSORS:
                supervisor.start(name)
            await supervisor.applied(at)
            stopped = watch.mark(f"broker stopped at {at} of {total} records")
            keeping = asyncio.create_task(_keep(supervisor))
            try:
                await asyncio.to_thread(kafka.stop, relay.stack)
                stale = await watch.until(lambda s: s.stale and s.at > stopped,
                                          "stale while the broker is away", STALE_PATIENCE)
                await asyncio.sleep(rng.uniform(0, 5))  # and away a while longer
            finally:
                print(await asyncio.to_thread(broker_back, relay.stack))
                keeping.cancel()
            back = watch.mark("broker started again")
            print(f"broker stopped after {at} of {total} records; the monitor said "
                  f"{stale.brief()} ({stale.body and stale.body.get('error')}) "
                  f"{stale.at - stopped:.1f} s later; away {back - stopped:.1f} s")
            assert stale.says_why, stale
            await supervisor.caught_up(total, watch)
        finally:
            supervisor.close()
        print(supervisor.report())
        print(watch.story())
        # while the broker was up before the fault the monitor knew the lag
        assert not any(s.stale for s in watch.between(0, stopped)
                       if s.code is not None and s.body and s.body.get("groups")), \
            watch.story()
    await drained_and_converged(relay, filings, landed)
