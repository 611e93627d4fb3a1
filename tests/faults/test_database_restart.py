"""PostgreSQL restarted while the linker is inside a transaction, at an offset drawn from the
run's seed, while the linker and the outbox publisher carry some 5,400 filings: the linker is
held inside its transaction (the test takes a SHARE lock on the outbox, so the linker's insert
of a batch's outputs waits, after the batch's other writes) and the server is stopped and
started. The processors may exit and are started again until the work is done, the linker
only once the lag monitor has judged its group behind; then nothing is lost or duplicated for
read_committed readers, the outputs are those of a run without the fault, and the monitor
says OK, lag 0, at the end."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from groundfloor.config import LINKER_BATCH_ENV
from infra import postgres
from tests.faults.chaos import Supervisor, published
from tests.faults.conftest import FaultRun
from tests.faults.convergence import assert_converged
from tests.faults.monitor import LagWatch, behind_and_judged, caught_up
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

LINKER = "relay-linker"
PROCESSORS = (LINKER, "outbox-publisher")
ACTIVITY = (
    "SELECT pid, state, wait_event_type, xact_start IS NOT NULL AS in_transaction, "
    "left(query, 60) AS query FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


PUBLISHERS = ("DELETE FROM outbox", "SELECT l.lane", "LISTEN")
"""How the outbox publisher's statements begin: every other session in a transaction is the
linker's."""


async def _linker_held(relay: RelayEnv, supervisor: Supervisor,
                       seconds: float = 120.0) -> tuple[asyncpg.Connection, asyncpg.Record]:
    """A connection holding a SHARE lock on the outbox, and the linker's backend inside its
    transaction, held there (its insert of the batch's outputs waits for the lock), seen twice
    half a second apart."""
    conn = await relay.connect()
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE outbox IN SHARE MODE")
    deadline = time.monotonic() + seconds
    seen = None
    while True:
        activity = await conn.fetch(ACTIVITY)
        waiting = next((a for a in activity if a["in_transaction"]
                        and a["state"] in ("active", "idle in transaction")
                        and not a["query"].startswith(PUBLISHERS)), None)
        if waiting is not None and seen is not None and waiting["pid"] == seen["pid"]:
            break
        seen = waiting
        assert time.monotonic() < deadline, (
            f"the linker never waited to insert outputs: {[dict(a) for a in activity]}")
        supervisor.keep()
        await asyncio.sleep(0.5)
    return conn, waiting


async def test_database_restart_mid_transaction_loses_and_duplicates_nothing(
        relay: RelayEnv, fault_run: FaultRun):
    rng = fault_run.rng()
    filings, landed, total = await published(relay)
    fault_run.carried(len(filings))
    at = rng.randint(total // 5, total * 2 // 5)
    # small batches: thousands of records and a hundred transactions are still to come when
    # the outbox is locked (with 500 a fast machine applied the rest before it was)
    supervisor = Supervisor(relay, extra={LINKER_BATCH_ENV: "25"})
    async with LagWatch(relay) as watch:
        try:
            for name in PROCESSORS:
                supervisor.start(name)
            await supervisor.applied(at)
            holder, waiting = await _linker_held(relay, supervisor)
            print(f"the linker inside its transaction: {dict(waiting)}")
            supervisor.held.add(LINKER)  # restarted once the monitor has judged it behind
            stopped = watch.mark(f"database restarted with the linker inside a transaction, "
                                 f"after {at} of {total} records")
            try:
                await asyncio.to_thread(postgres.stop, relay.stack)
            finally:
                await asyncio.to_thread(postgres.ensure_running, relay.stack)
            watch.mark("database back")
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await holder.execute("SELECT 1")  # its session ended with the server
            holder.terminate()
            judged = await watch.until(lambda s: s.at > stopped and behind_and_judged(s),
                                       "the linker's group behind and not OK")
            supervisor.held.discard(LINKER)
            supervisor.keep()  # the linker started again if the outage stopped it
            watch.mark("linker released")
            await supervisor.finished(total)
            watch.mark("all applied and published")
            await watch.until(caught_up, "the linker's group OK with lag 0")
        finally:
            supervisor.close()
        print(f"restarted after {at} of {total} records; the monitor said "
              f"{judged.brief()} {judged.at - stopped:.1f} s later")
        print(f"exits: {dict(supervisor.exits)}; starts: {dict(supervisor.starts)}")
        print(watch.story())
        # the broker was up all along: the monitor never said it did not know the lag
        assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()
    assert relay.run("relay-linker") == 0 and relay.run("outbox-publisher") == 0
    await assert_converged(relay, filings, landed)
