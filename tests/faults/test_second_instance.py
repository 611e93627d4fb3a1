"""A second linker and a second outbox publisher started while the first pair carries some
5,200 filings, and stopped (SIGTERM or SIGKILL, drawn from the run's seed) while the first
pair goes on, each at an offset drawn from the seed: the second publisher waits as a standby
while the first holds the publishing lock, the two linkers' transactions race on the same
records; whatever exits is started again until the work is done. Then nothing is lost or
duplicated for read_committed readers, the outputs are those of a single instance run, and
the lag monitor, which never lost the broker, says OK, lag 0, at the end."""

from __future__ import annotations

import signal

import pytest

from tests.faults.chaos import Supervisor, progress, published
from tests.faults.conftest import FaultRun
from tests.faults.convergence import drained_and_converged
from tests.faults.monitor import LagWatch
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

PROCESSORS = ("relay-linker", "outbox-publisher")
SECOND = ("relay-linker#2", "outbox-publisher#2")


async def test_second_instance_started_and_stopped_mid_run(relay: RelayEnv, fault_run: FaultRun):
    rng = fault_run.rng()
    filings, landed, total = await published(relay)
    fault_run.carried(len(filings))
    start_at = rng.randint(total // 10, total * 2 // 5)
    stop_at = rng.randint(start_at + total // 10, total * 7 // 10)
    sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
    supervisor = Supervisor(relay)
    async with LagWatch(relay) as watch:
        try:
            for name in PROCESSORS:
                supervisor.start(name)
            await supervisor.applied(start_at)
            for instance in SECOND:
                supervisor.start(instance)
            watch.mark(f"second instances started after {start_at} of {total} records")
            await supervisor.applied(stop_at)
            for instance in SECOND:
                supervisor.held.add(instance)
                supervisor.stop(instance, sig)
            done, _ = await progress(relay)
            watch.mark(f"second instances stopped ({sig.name}) after {done} records")
            assert done < total, "the second instances were stopped mid-run"
            await supervisor.caught_up(total, watch)
        finally:
            supervisor.close()
        print(supervisor.report())
        print(watch.story())
        assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()
    await drained_and_converged(relay, filings, landed)
