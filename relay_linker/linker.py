"""The relay linker process: ingestion topics in, relay database + outbox out, exactly once.

Plain aiokafka + asyncpg rather than faust: the effect is a PostgreSQL transaction that must
hold the consumer positions, the state change and the outbox rows together, which faust's
table/changelog model cannot give. Each micro-batch is one transaction; after it commits, the
offsets are also committed to Kafka so lag monitoring sees the group move.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from consumers import offsets
from consumers.aligned import AlignedBuffer
from consumers.dlq import dead_letter, dlq_record
from groundfloor import faults
from groundfloor.crypto import Keyring, candidate_hash, derive_relay_id, identity_hash
from groundfloor.kafka_clients import processor_consumer
from outbox.table import OutboxRow, insert_rows, wake_publisher
from relay_linker.domain import decide, expire
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import LinkerRecord, Source
from relay_linker.domain.state import MissingFromSlice
from relay_linker.messages import dead_letter_rows, output_rows
from relay_linker.store import BatchSlice
from relay_linker.translate import Translator
from schemas import Filing, FilingRejected, Reason, decode_filing
from schemas.topics import INGESTION_TOPICS, Namespace

log = logging.getLogger("shaho.linker")
FATAL = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, KafkaError,
         asyncio.CancelledError)
GROUP = "relay-linker"
MAX_BATCH = 500
MAX_FETCH_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class KeyringHasher:
    """The decision function's Hasher, keyed by the relay's keyring."""

    keyring: Keyring

    def identity_hash(self, relay_id: str, item: str, value: str) -> bytes:
        return identity_hash(self.keyring, relay_id, item, value)

    def candidate_hash(self, kana: str, birth_date: str, sex: str) -> bytes:
        return candidate_hash(self.keyring, kana, birth_date, sex)

    def relay_id_for(self, seed: str) -> str:
        return derive_relay_id(self.keyring, seed)


@dataclass(frozen=True)
class Incoming:
    """A consumed record, decoded once: the filing, or why it cannot be one."""

    record: ConsumerRecord
    filing: Filing | None
    rejected: FilingRejected | None
    event_time: float


class Decoder:
    """Decodes records as they are fetched; an undecodable record takes the event time of the
    record before it in its partition, so it flows in place instead of blocking others."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.last: dict[tuple[str, int], float] = {}

    def __call__(self, record: ConsumerRecord) -> Incoming:
        where = (record.topic, record.partition)
        try:
            filing = decode_filing(bytes(record.value or b""),
                                   self.namespace.logical(record.topic))
        except FilingRejected as rejected:
            return Incoming(record, None, rejected, self.last.get(where, 0.0))
        self.last[where] = filing.occurred_at.timestamp()
        return Incoming(record, filing, None, self.last[where])


@dataclass
class BatchResult:
    outbox: list[OutboxRow] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def merge(self, other: BatchResult) -> None:
        self.outbox += other.outbox
        self.dead_letters += other.dead_letters
        self.positions.update(other.positions)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count



async def decide_in_slice(batch: BatchSlice, record: LinkerRecord,
                          hasher: KeyringHasher) -> list[fx.Effect]:
    """Decide `record`, loading what the slice lacks until the decision needs nothing more."""
    while True:
        try:
            effects = decide(batch.state, record, hasher)
        except MissingFromSlice as missing:
            await batch.load(missing.needs)
            continue
        batch.apply(effects)
        return effects


async def expire_in_slice(batch: BatchSlice, topic: str, partition: int) -> list[fx.Effect]:
    watermark = batch.state.watermarks.get((topic, partition))
    if watermark is None:
        return []
    while True:
        try:
            effects = expire(batch.state, topic, partition, watermark)
        except MissingFromSlice as missing:
            await batch.load(missing.needs)
            continue
        batch.apply(effects)
        return effects


class RelayLinker:
    """Consumes the ingestion topics and applies each filing's decision exactly once."""

    def __init__(self, pool: asyncpg.Pool, keyring: Keyring, bootstrap: str,
                 namespace: Namespace, group: str = GROUP) -> None:
        self.pool, self.keyring, self.bootstrap, self.group = pool, keyring, bootstrap, group
        self.namespace = namespace
        self.translator = Translator(keyring)
        self.hasher = KeyringHasher(keyring)
        self.consumer: AIOKafkaConsumer | None = None
        self.processed = 0

    async def start(self) -> None:
        """Own every ingestion partition, starting from the positions stored in PostgreSQL.

        Partitions are assigned, not balanced by the group: a killed instance's partitions
        would otherwise sit with its ghost until the session times out while the survivor's
        event time raced ahead. The group id is still used to commit offsets for lag
        monitoring, and row locks on the stored positions keep two instances from applying
        the same record."""
        self.consumer = processor_consumer(self.bootstrap, self.group,
                                           max_partition_fetch_bytes=MAX_FETCH_BYTES)
        await self.consumer.start()
        partitions = sorted(TopicPartition(self.namespace.physical(t), p)
                            for t in INGESTION_TOPICS for p in range(t.partitions))
        self.consumer.assign(partitions)
        await offsets.ensure_rows(self.pool, self.group, partitions)
        stored = await offsets.load(self.pool, self.group, partitions)
        for tp in partitions:
            self.consumer.seek(tp, stored.get(tp, 0))

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def run(self, stop: asyncio.Event, idle_exit: float | None = None) -> None:
        """Process batches until `stop` (or, with `idle_exit`, until idle that many seconds)."""
        assert self.consumer is not None
        aligned = AlignedBuffer(self.consumer, Decoder(self.namespace),
                                lambda item: item.event_time)
        idle_since = time.monotonic()
        while not stop.is_set():
            aligned.add(await self.consumer.getmany(timeout_ms=100, max_records=MAX_BATCH))
            await aligned.refresh()
            items = aligned.take(MAX_BATCH)
            if items:
                await self.process(items)
                idle_since = time.monotonic()
            elif aligned.pending():
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                return

    async def process(self, records: list[Incoming]) -> BatchResult:
        """Apply `records` (in this order) in one transaction, then commit their offsets.

        A record the linker itself cannot handle (a defect, not bad input: that is already a
        dead letter) must not stop the relay: the batch is rolled back and re-run record by
        record, and the failing record alone is dead-lettered with reason `processing_failed`.
        Database and broker outages are not caught: the process stops and resumes from the
        stored offsets when restarted."""
        try:
            result = await self._transaction(records)
        except FATAL:
            raise
        except Exception as exc:
            log.error("batch of %d failed (%s); retrying record by record", len(records),
                      type(exc).__name__)
            result = BatchResult()
            for record in records:
                try:
                    part = await self._transaction([record])
                except FATAL:
                    raise
                except Exception as failure:
                    part = await self._transaction([record], failure=failure)
                result.merge(part)
        await self.consumer.commit(result.positions)  # type: ignore[union-attr]
        self.processed += len(records)
        return result

    async def _transaction(self, items: list[Incoming],
                           failure: Exception | None = None) -> BatchResult:
        result = BatchResult()
        records = [i.record for i in items]
        result.positions = {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records}
        async with self.pool.acquire() as conn, conn.transaction():
            if failure is None:
                await self._apply(conn, items, result)
            else:
                await insert_rows(conn, self._failed(records[0], failure, result))
            await offsets.save(conn, self.group, result.positions)
            await wake_publisher(conn)
        faults.reached("linker.after-db-commit")
        return result

    def _failed(self, record: ConsumerRecord, failure: Exception,
                result: BatchResult) -> list[OutboxRow]:
        log.error("dead-lettering %s[%d]@%d: %s", record.topic, record.partition,
                  record.offset, type(failure).__name__)
        result.dead_letters += 1
        message = f"the relay could not process this record ({type(failure).__name__})"
        reason = Reason(code="processing_failed", field=None, message=message)
        rejected = FilingRejected([reason])
        letter = dead_letter(self.keyring, record, reason, None)
        return dead_letter_rows(dlq_record(letter, self.namespace), rejected,
                                Source(record.topic, record.partition, record.offset),
                                self.namespace)

    async def _apply(self, conn: asyncpg.Connection, items: list[Incoming],
                     result: BatchResult) -> None:
        partitions = sorted({TopicPartition(i.record.topic, i.record.partition) for i in items})
        stored = await offsets.lock(conn, self.group, partitions)
        work = BatchSlice(conn, self.keyring)
        await work.start()
        fresh = [i for i in items if i.record.offset >= stored.get(
            TopicPartition(i.record.topic, i.record.partition), 0)]  # else applied already
        linker_records = [self._translate(i) for i in fresh]
        await work.prefetch(r for r in linker_records if r is not None)
        for item, linker_record in zip(fresh, linker_records, strict=True):
            record = item.record
            result.outbox += await self._one(work, item, linker_record, result)
            expired = await expire_in_slice(work, record.topic, record.partition)
            result.outbox += output_rows(expired, Source(record.topic, record.partition, -1),
                                         self.namespace)
        await work.flush()
        await insert_rows(conn, result.outbox)

    def _translate(self, item: Incoming) -> LinkerRecord | None:
        if item.filing is None:
            return None
        record = item.record
        return self.translator.record(item.filing,
                                      Source(record.topic, record.partition, record.offset))

    async def _one(self, work: BatchSlice, item: Incoming, linker_record: LinkerRecord | None,
                   result: BatchResult) -> list[OutboxRow]:
        record, rejected = item.record, item.rejected
        source = Source(record.topic, record.partition, record.offset)
        if linker_record is None:
            assert rejected is not None
            result.dead_letters += 1
            letter = dead_letter(self.keyring, record, rejected.reasons[0], rejected.filer_code)
            return dead_letter_rows(dlq_record(letter, self.namespace), rejected, source,
                                    self.namespace)
        effects = await decide_in_slice(work, linker_record, self.hasher)
        for e in effects:
            if isinstance(e, fx.OutcomeIssued):
                result.statuses[e.status] = result.statuses.get(e.status, 0) + 1
        return output_rows(effects, source, self.namespace)

