"""PostgreSQL restarted while the linker is inside a transaction, at an offset drawn from the
run's seed, while the linker and the outbox publisher carry some 5,200 filings: the linker is
held inside its transaction (the test takes a SHARE lock on the outbox, so the linker's insert
of a batch's outputs waits, after the batch's other writes) and the server is stopped and
started. The processors may exit and are started again until the work is done, the linker
only once the lag monitor has judged its group behind; then nothing is lost or duplicated for
read_committed readers, the outputs are those of a run without the fault, and the monitor
says OK, lag 0, at the end.

The linker's session is found by its name (`application_name`, `shaho:relay-linker`) among
the sessions the lock holder blocks, as PostgreSQL tells it now (`pg_blocking_pids`), read by
a session of its own outside any transaction: a session reading `pg_stat_activity` inside a
transaction keeps the first snapshot of every session's state and query until it ends, only
the wait event being live, and the holder's transaction would have seen the linker as it was
when the lock was taken, as often between two batches as in one."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from infra import postgres
from shaho.bootstrap import application_name
from tests.faults.chaos import Supervisor, published
from tests.faults.conftest import FaultRun
from tests.faults.convergence import drained_and_converged
from tests.faults.monitor import LagWatch, behind_and_judged
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

LINKER = "relay-linker"
PROCESSORS = (LINKER, "outbox-publisher")
SESSIONS = (
    "SELECT pid, application_name, state, wait_event_type, wait_event, "
    "xact_start IS NOT NULL AS in_transaction, pg_blocking_pids(pid) AS blocked_by, "
    "left(query, 60) AS query FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
OUTBOX_LOCKS = ("SELECT pid, mode, granted FROM pg_locks "
                "WHERE relation = 'outbox'::regclass ORDER BY pid")


async def _linker_held(relay: RelayEnv, supervisor: Supervisor,
                       seconds: float = 120.0) -> tuple[asyncpg.Connection, asyncpg.Record]:
    """A connection holding a SHARE lock on the outbox, and the linker's session inside its
    transaction, blocked by that lock (its insert of the batch's outputs waits for it)."""
    holder = await relay.connect()
    tx = holder.transaction()
    await tx.start()
    await holder.execute("LOCK TABLE outbox IN SHARE MODE")
    watcher = await relay.connect()
    try:
        deadline = time.monotonic() + seconds
        while True:
            sessions = await watcher.fetch(SESSIONS)
            held = next((s for s in sessions if s["application_name"] == application_name(LINKER)
                         and holder.get_server_pid() in s["blocked_by"]), None)
            if held is not None:
                return holder, held
            assert time.monotonic() < deadline, (
                f"the linker never waited to insert outputs: {[dict(s) for s in sessions]}; "
                f"outbox locks: {[dict(r) for r in await watcher.fetch(OUTBOX_LOCKS)]}; "
                f"{supervisor.report()}")
            supervisor.keep()
            await asyncio.sleep(0.2)
    finally:
        await watcher.close()


async def test_database_restart_mid_transaction_loses_and_duplicates_nothing(
        relay: RelayEnv, fault_run: FaultRun):
    rng = fault_run.rng()
    filings, landed, total = await published(relay)
    fault_run.carried(len(filings))
    at = rng.randint(total // 5, total * 2 // 5)
    supervisor = Supervisor(relay)
    async with LagWatch(relay) as watch:
        try:
            for name in PROCESSORS:
                supervisor.start(name)
            await supervisor.applied(at)
            holder, held = await _linker_held(relay, supervisor)
            print(f"the linker inside its transaction: {dict(held)}")
            assert held["in_transaction"] and held["wait_event_type"] == "Lock", dict(held)
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
            await supervisor.caught_up(total, watch)
        finally:
            supervisor.close()
        print(f"restarted after {at} of {total} records; the monitor said "
              f"{judged.brief()} {judged.at - stopped:.1f} s later")
        print(supervisor.report())
        print(watch.story())
        # the broker was up all along: the monitor never said it did not know the lag
        assert not any(s.stale for s in watch.timeline if s.code == 200), watch.story()
    await drained_and_converged(relay, filings, landed)
