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
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers import offsets
from consumers.dlq import dead_letter, dlq_record
from relay_linker.domain import decide, expire
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import LinkerRecord, Source
from relay_linker.domain.state import MissingFromSlice
from relay_linker.messages import OutboxRow, dead_letter_rows, output_rows
from relay_linker.publisher import NOTIFY_CHANNEL
from relay_linker.store import BatchSlice
from relay_linker.translate import Translator
from schemas import FilingRejected, decode_filing
from schemas.topics import INGESTION_TOPICS
from shaho import faults
from shaho.crypto import Keyring, candidate_hash, derive_relay_id, identity_hash

log = logging.getLogger("shaho.linker")
Batch = dict[TopicPartition, list[ConsumerRecord]]
GROUP = "relay-linker"
MAX_BATCH = 500


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


@dataclass
class BatchResult:
    outbox: list[OutboxRow] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0


async def decide_in_slice(batch: BatchSlice, record: LinkerRecord,
                          hasher: KeyringHasher) -> list[fx.Effect]:
    """Decide `record`, loading what the slice lacks until the decision needs nothing more."""
    while True:
        try:
            effects = decide(batch.state, record, hasher)
        except MissingFromSlice as missing:
            await batch.load(missing)
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
            await batch.load(missing)
            continue
        batch.apply(effects)
        return effects


class RelayLinker:
    """Consumes the ingestion topics and applies each filing's decision exactly once."""

    def __init__(self, pool: asyncpg.Pool, keyring: Keyring, bootstrap: str,
                 group: str = GROUP) -> None:
        self.pool, self.keyring, self.bootstrap, self.group = pool, keyring, bootstrap, group
        self.translator = Translator(keyring)
        self.hasher = KeyringHasher(keyring)
        self.consumer: AIOKafkaConsumer | None = None
        self.processed = 0

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed",
            max_partition_fetch_bytes=2 * 1024 * 1024)
        listener = offsets.SeekToStoredOffsets(self.consumer, self.pool, self.group)
        self.consumer.subscribe([t.name for t in INGESTION_TOPICS], listener=listener)
        await self.consumer.start()

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def run(self, stop: asyncio.Event, idle_exit: float | None = None) -> None:
        """Process batches until `stop` (or, with `idle_exit`, until idle that many seconds)."""
        assert self.consumer is not None
        idle_since = time.monotonic()
        while not stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=200, max_records=MAX_BATCH)
            if any(batch.values()):
                await self.process(batch)
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                return

    async def process(self, batch: Batch) -> BatchResult:
        assert self.consumer is not None
        result = BatchResult()
        positions = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        async with self.pool.acquire() as conn, conn.transaction():
            await self._apply(conn, batch, result)
            await offsets.save(conn, self.group, positions)
            await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
        faults.reached("linker.after-db-commit")
        await self.consumer.commit(positions)
        self.processed += sum(len(r) for r in batch.values())
        return result

    async def _apply(self, conn: asyncpg.Connection,
                     batch: Batch, result: BatchResult) -> None:
        stored = await offsets.load(conn, self.group, list(batch))
        work = BatchSlice(conn, self.keyring)
        await work.start()
        for tp, records in batch.items():
            fresh = [r for r in records if r.offset >= stored.get(tp, 0)]
            for record in fresh:
                result.outbox += await self._one(work, record, result)
            expired = await expire_in_slice(work, tp.topic, tp.partition)
            result.outbox += output_rows(expired, Source(tp.topic, tp.partition, -1))
        await work.flush()
        await insert_outbox(conn, result.outbox)

    async def _one(self, work: BatchSlice, record: ConsumerRecord,
                   result: BatchResult) -> list[OutboxRow]:
        source = Source(record.topic, record.partition, record.offset)
        try:
            filing = decode_filing(bytes(record.value or b""), record.topic)
        except FilingRejected as rejected:
            result.dead_letters += 1
            letter = dead_letter(self.keyring, record, rejected.reasons[0], rejected.filer_code)
            return dead_letter_rows(dlq_record(letter), rejected, source)
        effects = await decide_in_slice(work, self.translator.record(filing, source), self.hasher)
        for e in effects:
            if isinstance(e, fx.OutcomeIssued):
                result.statuses[e.status] = result.statuses.get(e.status, 0) + 1
        return output_rows(effects, source)


async def insert_outbox(conn: asyncpg.Connection, rows: Iterable[OutboxRow]) -> None:
    await conn.executemany(
        "INSERT INTO outbox (id, lane, source_topic, source_partition, source_offset, "
        "source_index, topic, key, value) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
        "ON CONFLICT (id) DO NOTHING",
        [r.as_row() for r in rows])
