"""The outbox publisher: moves outbox rows to Kafka exactly once and in commit order per output
partition, for read_committed readers.

A lane is one output topic-partition. Its rows are produced to exactly that partition (the one
Kafka's default partitioner picks for their key, computed when the row was written), so a
reader of the partition sees them in the lane's `seq` order: one person's link changes in
version order, one filer's outcomes in decision order. Writers lock their lanes' rows in
`outbox_lane` until they commit (outbox.table), so within a lane seq order is commit order and
reading `seq > position` can never pass over a row whose transaction commits late. (A plain
sequence is not enough: a lower seq can become visible after a higher one was published.)

Each lane has a transactional producer whose id is stable per lane; the lane's position goes to
the compacted `relay.outbox-position.v1` topic inside the same Kafka transaction as its rows.
The lanes' transactions run concurrently, not one after another. A publisher killed at any
moment restarts, fences its predecessor's open transactions by re-using the ids, reads the
committed positions and resumes after them: no gap, no duplicate. Plain aiokafka + asyncpg,
not faust: the input is a PostgreSQL table, not a stream of faust's own.

One publisher publishes at a time: it holds a PostgreSQL advisory lock (`PUBLISHING_LOCK`) on a
connection of its own for as long as it runs, and a second instance started beside it waits
for the lock as a standby (two live publishers each fenced the other's lanes and re-sent what
the other had published after their start). A lane that appears after the start is fenced
when its producer starts and its position read after that, never before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
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


def transactional_id(lane: str) -> str:
    return f"shaho-outbox-{lane}"


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
    """Publishes every lane's pending outbox rows; one transactional producer per lane."""

    pool: asyncpg.Pool
    kafka: KafkaLogin
    namespace: Namespace
    positions: dict[str, int] = field(default_factory=dict)
    producers: dict[str, AIOKafkaProducer] = field(default_factory=dict)
    published: int = 0
    batch_rows: int = BATCH_ROWS
    metrics: ProcessorMetrics = field(
        default_factory=lambda: ProcessorMetrics("outbox-publisher"))
    started: bool = False
    lock: asyncpg.Connection | None = None

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Take the publishing lock (waiting as a standby while another instance holds it),
        fence every predecessor's open transactions and read the committed positions; False
        when `stop` is set before the lock is taken."""
        if not await self._take_lock(stop):
            return False
        # fences every killed predecessor's open transaction: its lane still holds its rows
        await asyncio.gather(*(self._producer(lane) for lane in await self._lanes()))
        self.positions = await read_positions(self.kafka, self.namespace)
        await self._prune(self.positions)
        self.started = True
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
        producers, self.producers = list(self.producers.values()), {}
        for producer in producers:
            await producer.stop()
        lock, self.lock = self.lock, None
        if lock is not None:  # the pool's reset on release unlocks it (pg_advisory_unlock_all)
            with contextlib.suppress(Exception):
                await lock.execute("SELECT pg_advisory_unlock_all()")
            await self.pool.release(lock)

    async def _lanes(self) -> list[str]:
        rows = await self.pool.fetch("SELECT DISTINCT lane FROM outbox")
        return sorted(r["lane"] for r in rows)

    async def _producer(self, lane: str) -> AIOKafkaProducer:
        if lane not in self.producers:
            producer = transactional_producer(self.kafka, transactional_id(lane),
                                              linger_ms=2, max_request_size=2_200_000)
            self.producers[lane] = producer
            try:
                await producer.start()
            except BaseException:
                del self.producers[lane]
                raise
            if self.started:  # a new lane: its position as committed before this fence
                committed = (await read_positions(self.kafka, self.namespace)).get(lane, 0)
                self.positions[lane] = max(committed, self.positions.get(lane, 0))
        return self.producers[lane]

    async def publish_pending(self) -> int:
        """Publish one batch per lane with pending rows, the lanes concurrently; return the
        number of rows sent."""
        lanes = await self._lanes()
        rows = await self.pool.fetch(PENDING, lanes,
                                     [self.positions.get(lane, 0) for lane in lanes],
                                     self.batch_rows)
        by_lane: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            by_lane[row["lane"]].append(row)
        results = await asyncio.gather(*(self._publish(lane, batch)
                                         for lane, batch in by_lane.items()),
                                       return_exceptions=True)
        done = {lane: batch[-1]["seq"] for (lane, batch), result
                in zip(by_lane.items(), results, strict=True) if result is None}
        await self._prune(done)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        sent = sum(len(by_lane[lane]) for lane in done)
        self.published += sent
        return sent

    async def _publish(self, lane: str, rows: list[asyncpg.Record]) -> None:
        """One Kafka transaction: the lane's rows, each to its own partition, and the lane's
        new position."""
        producer = await self._producer(lane)
        rows = [r for r in rows if r["seq"] > self.positions.get(lane, 0)]
        if not rows:  # a new lane's rows its fence found published already
            return
        last = rows[-1]["seq"]
        with self.metrics.transaction():
            await self._transaction(producer, lane, rows, last)
        self.positions[lane] = max(last, self.positions.get(lane, 0))
        self.metrics.committed(len(rows), len(rows), (r["created_ms"] for r in rows))
        faults.reached("publisher.after-commit")

    async def _transaction(self, producer: AIOKafkaProducer, lane: str,
                           rows: list[asyncpg.Record], last: int) -> None:
        async with producer.transaction():
            futures = [await producer.send(r["topic"], r["value"], key=r["key"],
                                           partition=r["partition"],
                                           headers=loaded_headers(r["headers"]))
                       for r in rows]
            faults.reached("publisher.in-transaction")
            await asyncio.gather(*futures)
            faults.reached("publisher.before-position")
            position = json.dumps({"lane": lane, "seq": last}).encode()
            await producer.send(self.namespace.physical(OUTBOX_POSITION), position,
                                key=lane.encode())

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
