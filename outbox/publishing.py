"""The outbox publisher: moves outbox rows to Kafka exactly once and in commit order per output
partition, for read_committed readers.

A lane is one output topic-partition. Its rows are produced to exactly that partition (the one
Kafka's default partitioner picks for their key, computed when the row was written), so a
reader of the partition sees them in the lane's `seq` order: one person's link changes in
version order, one filer's outcomes in decision order. Writers lock their lanes' rows in
`outbox_lane` until they commit (outbox.table), so within a lane seq order is commit order and
reading `seq > position` can never pass over a row whose transaction commits late. (A plain
sequence is not enough: a lower seq can become visible after a higher one was published.)

Every lane's pending rows (up to `BATCH_ROWS` each) go out in one Kafka transaction of the
publisher's one transactional producer, with each lane's new position written to the compacted
`relay.outbox-position.v1` topic inside the same transaction. (One transaction per lane cost
the broker a transaction's markers and round trips for each lane with a row: at 200 filings/s
the publisher used 2.2 ms and Kafka 3.2 ms of CPU per filing, and one for all lanes 0.5 to 0.6
and 1.3 to 2.0 ms, the p99 to a readable outcome falling from 1.7 s to 0.16 to 0.20 s in two
runs; bench/linker.py.) A publisher killed at any moment restarts, fences its predecessor's
open transaction by re-using the id, reads the committed positions and resumes after them: no
gap, no duplicate. Plain aiokafka + asyncpg, not faust: the input is a PostgreSQL table, not a
stream of faust's own.

One publisher publishes at a time: it holds a PostgreSQL advisory lock (`PUBLISHING_LOCK`) on a
connection of its own for as long as it runs, and a second instance started beside it waits
for the lock as a standby (two live publishers each fenced the other and re-sent what the
other had published after their start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition

from groundfloor import faults
from groundfloor.kafka_clients import KafkaLogin, read_to_end, transactional_producer
from groundfloor.metrics import ProcessorMetrics
from outbox.table import NOTIFY_CHANNEL, loaded_headers
from schemas.topics import OUTBOX_POSITION, Namespace

log = logging.getLogger("shaho.outbox")
BATCH_ROWS = 500
PUBLISHING_LOCK = 0x5348414F_4F555442  # "SHAOOUTB": one key per database
"""The advisory lock the publishing instance holds on its own connection while it runs."""
STANDBY_POLL = 0.5
"""Seconds between two tries of a standby instance to take the lock."""

PENDING = (
    "SELECT l.lane, r.seq, r.topic, r.partition, r.key, r.value, r.headers, r.created_ms "
    "FROM unnest($1::text[], $2::bigint[]) AS l(lane, after) "
    "CROSS JOIN LATERAL (SELECT o.seq, o.topic, o.partition, o.key, o.value, "
    "o.headers::text AS headers, "
    "(extract(epoch FROM o.created_at) * 1000)::bigint AS created_ms FROM outbox o "
    "WHERE o.lane = l.lane AND o.seq > l.after ORDER BY o.seq LIMIT $3) AS r "
    "ORDER BY l.lane, r.seq")
PRUNE = ("DELETE FROM outbox o USING unnest($1::text[], $2::bigint[]) AS p(lane, seq) "
         "WHERE o.lane = p.lane AND o.seq <= p.seq")


def transactional_id(namespace: Namespace) -> str:
    """The publisher's transactional id, one per relay (its namespace): re-using it fences a
    killed predecessor's open transaction, whichever lanes it held."""
    return f"shaho-outbox-{namespace.prefix or 'relay'}"


async def read_positions(kafka: KafkaLogin, namespace: Namespace) -> dict[str, int]:
    """The last committed seq per lane, read to the end of the compacted position topic."""
    partition = TopicPartition(namespace.physical(OUTBOX_POSITION), 0)
    positions: dict[str, int] = {}
    for record in await read_to_end(kafka, [partition], seconds=None):
        if record.value is not None:
            lane = record.key.decode()
            positions[lane] = max(json.loads(record.value)["seq"], positions.get(lane, 0))
    return positions


@dataclass
class OutboxPublisher:
    """Publishes every lane's pending outbox rows, all lanes in one Kafka transaction."""

    pool: asyncpg.Pool
    kafka: KafkaLogin
    namespace: Namespace
    positions: dict[str, int] = field(default_factory=dict)
    producer: AIOKafkaProducer | None = None
    published: int = 0
    batch_rows: int = BATCH_ROWS
    metrics: ProcessorMetrics = field(
        default_factory=lambda: ProcessorMetrics("outbox-publisher"))
    lock: asyncpg.Connection | None = None

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Take the publishing lock (waiting as a standby while another instance holds it),
        fence the predecessor's open transaction and read the committed positions; False when
        `stop` is set before the lock is taken."""
        if not await self._take_lock(stop):
            return False
        producer = transactional_producer(self.kafka, transactional_id(self.namespace),
                                          linger_ms=2, max_request_size=2_200_000)
        await producer.start()  # fences the killed predecessor: its rows are still pending
        self.producer = producer
        self.positions = await read_positions(self.kafka, self.namespace)
        await self._prune(self.positions)
        return True

    async def _take_lock(self, stop: asyncio.Event | None) -> bool:
        conn = await self.pool.acquire()
        try:
            waiting = False
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PUBLISHING_LOCK):
                if not waiting:
                    log.info("another outbox publisher is publishing; waiting as a standby")
                    waiting = True
                if stop is not None and stop.is_set():
                    await self.pool.release(conn)
                    return False
                await asyncio.sleep(STANDBY_POLL)
        except BaseException:
            await self.pool.release(conn)
            raise
        self.lock = conn
        return True

    async def stop(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()
        lock, self.lock = self.lock, None
        if lock is not None:  # the pool's reset on release unlocks it (pg_advisory_unlock_all)
            with contextlib.suppress(Exception):
                await lock.execute("SELECT pg_advisory_unlock_all()")
            await self.pool.release(lock)

    async def _lanes(self) -> list[str]:
        rows = await self.pool.fetch("SELECT DISTINCT lane FROM outbox")
        return sorted(r["lane"] for r in rows)

    async def publish_pending(self) -> int:
        """Publish up to `batch_rows` pending rows of every lane in one Kafka transaction, with
        each lane's new position; return the number of rows sent."""
        lanes = await self._lanes()
        rows = await self.pool.fetch(PENDING, lanes,
                                     [self.positions.get(lane, 0) for lane in lanes],
                                     self.batch_rows)
        if not rows:
            return 0
        last: dict[str, int] = {}
        for row in rows:  # ordered by lane, then seq
            last[row["lane"]] = row["seq"]
        with self.metrics.transaction():
            await self._transaction(rows, last)
        for lane, seq in last.items():
            self.positions[lane] = max(seq, self.positions.get(lane, 0))
        self.metrics.committed(len(rows), len(rows), (r["created_ms"] for r in rows))
        faults.reached("publisher.after-commit")
        await self._prune(last)
        self.published += len(rows)
        return len(rows)

    async def _transaction(self, rows: list[asyncpg.Record], last: dict[str, int]) -> None:
        """One Kafka transaction: each row to its own partition, in seq order per lane, then
        each lane's new position."""
        producer = self.producer
        assert producer is not None
        async with producer.transaction():
            futures = [await producer.send(r["topic"], r["value"], key=r["key"],
                                           partition=r["partition"],
                                           headers=loaded_headers(r["headers"]))
                       for r in rows]
            faults.reached("publisher.in-transaction")
            await asyncio.gather(*futures)
            faults.reached("publisher.before-position")
            topic = self.namespace.physical(OUTBOX_POSITION)
            for lane, seq in last.items():
                position = json.dumps({"lane": lane, "seq": seq}).encode()
                await producer.send(topic, position, key=lane.encode())

    async def _prune(self, positions: dict[str, int]) -> None:
        """Delete the rows published up to `positions`."""
        if positions:
            lanes = sorted(positions)
            await self.pool.execute(PRUNE, lanes, [positions[lane] for lane in lanes])

    async def run(self, stop: asyncio.Event, idle_wait: float = 0.2) -> None:
        """Publish until `stop` is set, woken by NOTIFY from the linker or every `idle_wait`."""
        wake = asyncio.Event()

        def notified(*_: object) -> None:
            wake.set()

        async with self.pool.acquire() as listener:
            await listener.add_listener(NOTIFY_CHANNEL, notified)
            try:
                while not stop.is_set():
                    wake.clear()
                    if await self.publish_pending():
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), idle_wait)
            finally:
                # a connection the outage closed has no listener left to remove: failing here
                # would put an InterfaceError in place of the outage's own error
                if not listener.is_closed():
                    with contextlib.suppress(asyncpg.InterfaceError, OSError):
                        await listener.remove_listener(NOTIFY_CHANNEL, notified)
