"""The relay clock process: each tick goes first onto the clock topic, which defines it, then
onto every partition of every topic participants send to the relay.

In production (`shaho run relay-clock`) it ticks every second and the tick's relay time is the
broker's append time (LogAppendTime) of a record on an internal source topic, never the clock
process's own wall clock. On a simulated calendar (`shaho clock tick --at`, used by the demo,
the tests and the fault suite) the time is given, and only moves when a phase is over. Both
are this one process.

Ticks are sent idempotently, not in Kafka transactions: a transaction's commit marker would
take an offset after every tick on every partition, which no reader can tell from unread
data. A clock killed half-way is made whole by its successor, which starts by sending the
clock topic's last tick again to every partition; readers ignore a tick they have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, TopicPartition

from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import KafkaLogin, idempotent_producer, reader
from groundfloor.metrics import ProcessorMetrics
from relay_clock.ticks import authentic, headers, new_tick
from schemas import MessageRejected, RelayTick, decode_relay, encode
from schemas.topics import CLOCK_SOURCE, CLOCKED_TOPICS, RELAY_CLOCK, Namespace
from trust.keys import RecordSigner

log = logging.getLogger("shaho.clock")
TICK_INTERVAL = 1.0
LOOK_BACK = 16  # offsets read back from the clock topic's end to find the last tick


class ClockError(RuntimeError):
    """A tick that must not be written (its time would move the relay clock backwards)."""


class RelayClock:
    """One writer of ticks for the relay of `namespace`."""

    def __init__(self, kafka: KafkaLogin, namespace: Namespace, keyring: Keyring,
                 signer: RecordSigner) -> None:
        self.kafka, self.namespace, self.keyring = kafka, namespace, keyring
        self.signer = signer
        self.producer: AIOKafkaProducer | None = None
        self.last: RelayTick | None = None
        self.metrics = ProcessorMetrics("relay-clock")

    @property
    def partitions(self) -> list[TopicPartition]:
        """Every partition that carries the ticks: the participants' topics, then the clock's."""
        ingest = [TopicPartition(self.namespace.physical(t), p)
                  for t in CLOCKED_TOPICS for p in range(t.partitions)]
        return [*ingest, TopicPartition(self.namespace.physical(RELAY_CLOCK), 0)]

    async def start(self) -> None:
        self.producer = idempotent_producer(self.kafka, linger_ms=0)
        await self.producer.start()
        self.last = await self._last_tick()
        if self.last is not None:  # a predecessor may have died before every partition had it
            await self._spread(self.last)

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def tick(self, at: datetime | None = None) -> RelayTick:
        """Write the next tick: at `at` (a simulated calendar), else at the broker's time."""
        assert self.producer is not None, "start the clock first"
        when = at if at is not None else await self._broker_time()
        if when.tzinfo is None:
            raise ClockError("a relay time needs a UTC offset")
        previous = self.last.relay_time if self.last is not None else None
        if previous is not None and when < previous:
            if at is not None:
                raise ClockError(f"the relay clock is at {previous.isoformat()}; it never "
                                 "moves backwards")
            when = previous  # the broker's clock stepped back: hold the relay time
        tick = new_tick(self.keyring, (self.last.seq if self.last else 0) + 1, when)
        with self.metrics.transaction():
            await self._write(tick)
        written = len(self.partitions)
        self.metrics.records_out.inc(written)
        self.metrics.batch_size.observe(written)
        return tick

    async def _write(self, tick: RelayTick) -> None:
        """`tick` onto the clock's topic, then every partition participants send to."""
        assert self.producer is not None
        clock = self.partitions[-1]
        await self.producer.send_and_wait(clock.topic, encode(tick), key=tick.kafka_key(),
                                          partition=clock.partition,
                                          headers=self._headers(clock.topic, tick))
        self.last = tick
        await self._spread(tick)

    async def _spread(self, tick: RelayTick) -> None:
        """Send `tick` to every partition participants send to the relay."""
        assert self.producer is not None
        value, key = encode(tick), tick.kafka_key()
        sends = [await self.producer.send(tp.topic, value, key=key, partition=tp.partition,
                                          headers=self._headers(tp.topic, tick))
                 for tp in self.partitions[:-1]]
        await asyncio.gather(*sends)

    def _headers(self, topic: str, tick: RelayTick) -> list[tuple[str, bytes]]:
        """A tick's headers: the tick mark and the relay clock's signature over the record
        (catalogue topic name, key, value)."""
        logical = self.namespace.logical(topic)
        return [*headers(), *self.signer.headers(logical, tick.kafka_key(), encode(tick))]

    async def run(self, stop: asyncio.Event, interval: float = TICK_INTERVAL,
                  at: datetime | None = None) -> None:
        """Tick every `interval` seconds until `stop`: at the broker's time, or, on a simulated
        calendar standing still within a phase, at `at`."""
        while not stop.is_set():
            await self.tick(at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def _broker_time(self) -> datetime:
        assert self.producer is not None
        topic = self.namespace.physical(CLOCK_SOURCE)
        meta = await self.producer.send_and_wait(topic, b"", key=b"relay-clock", partition=0)
        return datetime.fromtimestamp(meta.timestamp / 1000, UTC)

    async def _last_tick(self) -> RelayTick | None:
        """The last authentic tick on the clock topic (read back a few offsets from its end)."""
        tp = TopicPartition(self.namespace.physical(RELAY_CLOCK), 0)
        consumer = reader(self.kafka)
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            if end == 0:
                return None
            consumer.seek(tp, max(0, end - LOOK_BACK))
            last: RelayTick | None = None
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, []):
                    try:
                        tick = decode_relay(bytes(record.value or b""), RelayTick)
                    except MessageRejected:
                        continue
                    if authentic(self.keyring, tick):
                        last = tick
            return last
        finally:
            await consumer.stop()


async def tick_once(kafka: KafkaLogin, namespace: Namespace, keyring: Keyring,
                    signer: RecordSigner, at: datetime | None = None) -> RelayTick:
    """Start the clock, write one tick, stop: the simulated calendar's step."""
    clock = RelayClock(kafka, namespace, keyring, signer)
    await clock.start()
    try:
        return await clock.tick(at)
    finally:
        await clock.stop()
