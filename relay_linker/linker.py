"""The relay linker process: ingestion topics in, relay database + outbox out, exactly once,
in the relay clock's order (consumers.clocked): the same records give the same outputs whatever
the batch size, the timing or where the process was killed.

Plain aiokafka + asyncpg rather than faust: the effect is a PostgreSQL transaction that must
hold the consumer positions, the state change and the outbox rows together, which faust's
table/changelog model cannot give. Each micro-batch is one transaction; after it commits, the
offsets are also committed to Kafka so lag monitoring sees the group move. Each change notice
the batch pushes is logged in the notices access log in that same transaction, before its
outbox row is written: a notice goes out only with its entry, and its entry only with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers import access_heads, access_records, offsets
from consumers.access_records import NOTICES_LOG, Access
from consumers.clocked import (
    ClockAdvanced,
    ClockedBuffer,
    Released,
    Step,
    Tick,
    positions_of,
    resume,
)
from consumers.dlq import dead_letter, dlq_record
from groundfloor import faults
from groundfloor.config import LINKER_BATCH
from groundfloor.crypto import Keyring, candidate_hash, derive_relay_id, identity_hash
from groundfloor.kafka_clients import Drain, KafkaLogin, processor_consumer
from groundfloor.metrics import ProcessorMetrics
from groundfloor.outages import connection, is_outage
from outbox.table import OutboxRow, insert_rows, wake_publisher
from relay_clock.ticks import authentic, is_tick_record
from relay_linker.admission import Refused, authenticate, entitled, in_standing, is_relay_clock
from relay_linker.admission import reason as refusal_reason
from relay_linker.domain import CLOCK_RULES, decide
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import LinkerRecord, Source
from relay_linker.domain.model import MESSAGES, REFUSED
from relay_linker.domain.slicing import then
from relay_linker.domain.state import MissingFromSlice, RelayState
from relay_linker.messages import NoticeMaking, dead_letter_rows, output_rows, tick_rows
from relay_linker.pushed_changes import pushed_accesses
from relay_linker.store import BatchSlice
from relay_linker.translate import Translator
from schemas import Filing, FilingRejected, MessageRejected, Reason, RelayTick, decode_filing
from schemas import decode_relay as decode_message
from schemas.relay import ReasonCode
from schemas.topics import INGESTION_TOPICS, RELAY_CLOCK, Namespace
from trust.directory import Signers
from trust.encryption_keys import PublicKeys
from trust.keys import RecordSigner
from trust.signing import SignerId

log = logging.getLogger("shaho.linker")
GROUP = "relay-linker"
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
    """A consumed record other than an authentic tick, decoded once: the filing, or why it
    cannot be one; `signer` when its signature verified (a refusal is answered to it)."""

    record: ConsumerRecord
    filing: Filing | None
    rejected: FilingRejected | None
    signer: SignerId | None = None


FORGED_TICK = Reason(code=ReasonCode.FORGED_TICK.value, field=None,
                     message="a record marked as a relay clock tick that the relay's clock "
                     "did not write and sign")


def failure_reason(code: ReasonCode, failure: Exception, doing: str) -> Reason:
    """Why a record was set aside when `doing` it raised `failure`: the exception's type only,
    never its message (which may quote the input)."""
    return Reason(code=code.value, field=None,
                  message=f"the relay could not {doing} this record ({type(failure).__name__})")


class Decoder:
    """Tells ticks from filings and decodes each record once, as it is fetched, after its
    signature is verified (`admission`): nothing unauthenticated is parsed.

    A record marked as a tick is a Tick only when the relay clock's key signed it and its MAC
    holds; otherwise it is a dead letter like any record that is not a filing. Decoding never
    stops the linker: whatever it raises, an outage aside, makes the record a dead letter
    (`undecodable`), since the same bytes would raise again on every restart."""

    def __init__(self, namespace: Namespace, keyring: Keyring, signers: Signers) -> None:
        self.namespace, self.keyring, self.directory = namespace, keyring, signers
        self.signers = signers.held()

    def hold(self) -> None:
        """Check the next fetched records against the signers as they stand now."""
        self.signers = self.directory.held()

    def __call__(self, record: ConsumerRecord) -> Tick | Incoming:
        try:
            return self._decode(record)
        except Exception as failure:
            reason = set_aside(record, failure, ReasonCode.UNDECODABLE, "decode")
            return Incoming(record, None, FilingRejected([reason]))

    def _decode(self, record: ConsumerRecord) -> Tick | Incoming:
        raw = bytes(record.value or b"")
        signer = authenticate(self.signers, record, self.namespace)
        if is_tick_record(record.headers):
            if isinstance(signer, Refused) or not is_relay_clock(signer):
                return Incoming(record, None, FilingRejected([FORGED_TICK]))
            try:
                tick = decode_message(raw, RelayTick)
            except MessageRejected:
                tick = None
            if tick is not None and authentic(self.keyring, tick):
                return Tick(tick.seq, tick.relay_time)
            return Incoming(record, None, FilingRejected([FORGED_TICK]))
        if isinstance(signer, Refused):
            return Incoming(record, None, FilingRejected([refusal_reason(signer.refusal)]))
        topic = self.namespace.logical(record.topic)
        try:
            filing = decode_filing(raw, topic)
        except FilingRejected as rejected:
            own = rejected.filer_code == signer.code
            return Incoming(record, None, FilingRejected(
                rejected.reasons, signer.code, rejected.filing_reference if own else None),
                signer)
        refusal = entitled(signer, filing, topic)
        if refusal is not None:
            return Incoming(record, None, FilingRejected(
                [refusal_reason(refusal)], signer.code, filing.filing_reference), signer)
        return Incoming(record, filing, None, signer)


def set_aside(record: ConsumerRecord, failure: Exception, code: ReasonCode,
              stage: str) -> Reason:
    """Why `record` is set aside after `stage` raised `failure` (logged by position and
    exception type only); an outage is raised again, since it stops the process instead."""
    if is_outage(failure):
        raise failure
    log.error("%s[%d]@%d failed to %s (%s)", record.topic, record.partition, record.offset,
              stage, type(failure).__name__)
    return failure_reason(code, failure, stage)


def source_of(record: ConsumerRecord, namespace: Namespace) -> Source:
    """Where `record` came from, by catalogue topic name: ids derived from it are the same in
    every namespace."""
    return Source(namespace.logical(record.topic), record.partition, record.offset)


def admitted(signers: Signers, step: Released[Incoming]) -> Incoming:
    """The released record as admitted at its relay time: a signer whose certificate is not
    yet valid, expired or revoked at the relay clock's time for the record has it refused."""
    item = step.item
    if item.signer is None:
        return item
    refusal = in_standing(signers, item.signer, step.relay_time)
    if refusal is None:
        return item
    reference = (item.filing.filing_reference if item.filing is not None
                 else item.rejected.filing_reference if item.rejected is not None else None)
    return Incoming(item.record, None, FilingRejected(
        [refusal_reason(refusal)], item.signer.code, reference), item.signer)


def translated(translator: Translator, step: Released[Incoming],
               namespace: Namespace, signers: Signers) -> LinkerRecord | FilingRejected:
    """The linker's record of a released filing (its source named as `source_of` names it),
    or why it is set aside.

    Translation (numbers sealed and indexed, identity normalised) must not stop the linker
    either: whatever it raises, an outage aside, refuses the filing as `untranslatable`."""
    item = admitted(signers, step)
    if item.filing is None:
        assert item.rejected is not None
        return item.rejected
    record, filing = item.record, item.filing
    try:
        return translator.record(filing, source_of(record, namespace), step.relay_time)
    except Exception as failure:
        reason = set_aside(record, failure, ReasonCode.UNTRANSLATABLE, "translate")
        return FilingRejected([reason], filing.filer_code, filing.filing_reference)


@dataclass
class BatchResult:
    outbox: list[OutboxRow] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    dead_reasons: list[str] = field(default_factory=list)
    """The reason code of each dead letter, for the metrics."""
    refusals: list[str] = field(default_factory=list)
    """The first reason code of each refused outcome, for the metrics."""
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    clock: ClockAdvanced | None = None
    accesses: list[Access] = field(default_factory=list)
    """The notices-log entries of the change notices among `outbox`, in decision order."""
    misses: int = 0
    """Decisions run again after loading what the slice lacked."""

    def merge(self, other: BatchResult) -> None:
        self.outbox += other.outbox
        self.accesses += other.accesses
        self.dead_letters += other.dead_letters
        self.misses += other.misses
        self.dead_reasons += other.dead_reasons
        self.refusals += other.refusals
        for tp, offset in other.positions.items():
            self.positions[tp] = max(offset, self.positions.get(tp, 0))
        self.clock = other.clock or self.clock
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count

    def tally(self, effects: list[fx.Effect]) -> None:
        """Count the refused outcomes among `effects`, by their first reason."""
        self.refusals += [e.reasons[0].code for e in effects
                          if isinstance(e, fx.OutcomeIssued) and e.status == REFUSED
                          and e.reasons]


def linker_metrics() -> ProcessorMetrics:
    """The linker's metrics: dead letters by the decoder's and safety nets' codes, refusals
    by the linking rules' codes and those."""
    return ProcessorMetrics("relay-linker", dead_letter_reasons=ReasonCode,
                            refusal_reasons=[*MESSAGES, *ReasonCode])


async def in_slice(batch: BatchSlice,
                   rule: Callable[[RelayState], list[fx.Effect]]) -> list[fx.Effect]:
    """Run a pure `rule` over the slice, loading what it lacks until the rule needs nothing
    more (rules are pure, so a retry is safe); apply and return its effects."""
    while True:
        try:
            effects = rule(batch.state)
        except MissingFromSlice as missing:
            batch.misses += 1
            await batch.load(missing.needs)
            continue
        batch.apply(effects)
        return effects


async def decide_in_slice(batch: BatchSlice, record: LinkerRecord,
                          hasher: KeyringHasher) -> list[fx.Effect]:
    """Decide `record` over the slice, first loading what it will read of the persons the
    batch's earlier decisions made or changed (`slicing.then`): a round trip then costs no
    second decision."""
    await batch.load(then(record, batch.state))
    return await in_slice(batch, lambda state: decide(state, record, hasher))


async def clock_in_slice(batch: BatchSlice, now: datetime) -> list[fx.Effect]:
    """The relay clock reached `now`: each clock rule in turn (expire what is due, announce
    the milestones reached) over the slice."""
    effects: list[fx.Effect] = []
    for rule in CLOCK_RULES:
        effects += await in_slice(batch, lambda state, rule=rule: rule(state, now))
    return effects


class RelayLinker:
    """Consumes the ingestion topics and applies each filing's decision exactly once."""

    def __init__(self, pool: asyncpg.Pool, keyring: Keyring, signers: Signers,
                 addressees: PublicKeys, kafka: KafkaLogin, namespace: Namespace,
                 group: str = GROUP, batch: int = LINKER_BATCH,
                 head_signer: RecordSigner | None = None,
                 head_gap: timedelta = timedelta(minutes=1)) -> None:
        self.pool, self.keyring, self.kafka, self.group = pool, keyring, kafka, group
        self.head_signer, self.head_gap = head_signer, head_gap
        self.signers, self.addressees = signers, addressees
        self.namespace, self.batch = namespace, batch
        self.translator = Translator(keyring)
        self.hasher = KeyringHasher(keyring)
        self.consumer: AIOKafkaConsumer | None = None
        self.buffer: ClockedBuffer[Incoming] | None = None
        self.decoder: Decoder | None = None
        self.processed = 0
        self.misses = 0
        """Decisions (of committed batches) run again after reading what the slice lacked."""
        self.metrics = linker_metrics()

    async def start(self) -> None:
        """Own every ingestion partition, starting from the positions and the relay clock
        epoch stored in PostgreSQL.

        Partitions are assigned, not balanced by the group: the relay clock's order needs
        every partition in one place, and a killed instance's partitions would otherwise sit
        with its ghost until the session times out. The group id is still used to commit
        offsets for lag monitoring, and row locks on the stored positions and clock keep two
        instances from applying the same record."""
        self.consumer = processor_consumer(self.kafka, self.group,
                                           max_partition_fetch_bytes=MAX_FETCH_BYTES)
        await self.consumer.start()
        partitions = sorted(TopicPartition(self.namespace.physical(t), p)
                            for t in INGESTION_TOPICS for p in range(t.partitions))
        self.decoder = Decoder(self.namespace, self.keyring, self.signers)
        self.buffer = await resume(self.consumer, self.pool, self.group, partitions,
                                   self.decoder)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def run(self, stop: asyncio.Event, idle_exit: float | None = None) -> None:
        """Process batches until `stop` (or, with `idle_exit`, until drained as
        `groundfloor.kafka_clients.Drain` judges it, `idle_exit` its quiet seconds; records
        still waiting for a tick are then left for the next run)."""
        assert self.consumer is not None and self.buffer is not None and self.decoder is not None
        drain = Drain(self.consumer, idle_exit) if idle_exit is not None else None
        while not stop.is_set():
            fetched = await self.consumer.getmany(timeout_ms=100, max_records=self.batch)
            if any(fetched.values()):
                self.decoder.hold()
            self.buffer.add(fetched)
            steps = self.buffer.take(self.batch)
            if steps:
                await self.process(steps)
            if drain is None:
                continue
            if steps or any(fetched.values()):
                drain.moved()
            elif await drain.done():
                if self.buffer.pending():
                    log.info("%d records wait for the relay clock's next tick",
                             self.buffer.pending())
                return

    async def process(self, steps: list[Step]) -> BatchResult:
        """Apply `steps` (in this order) in one transaction, then commit their offsets.

        A record the linker itself cannot handle (a defect, not bad input: that is already a
        dead letter) must not stop the relay: the batch is rolled back and re-run step by
        step, and the failing record alone is dead-lettered with reason `processing_failed`.
        Database and broker outages (`groundfloor.outages.is_outage`) are not caught: the
        process stops and resumes from the stored offsets when restarted, and no record is
        blamed for them. Neither is a failing clock step, which is no input."""
        try:
            result = await self._transaction(steps)
        except Exception as exc:
            if is_outage(exc):
                raise
            log.error("batch of %d failed (%s); retrying step by step", len(steps),
                      type(exc).__name__)
            result = BatchResult()
            for step in steps:
                result.merge(await self._alone(step))
        await self.consumer.commit(result.positions)  # type: ignore[union-attr]
        released = [s for s in steps if isinstance(s, Released)]
        self.processed += len(released)
        self.misses += result.misses
        self._count(released, result)
        return result

    def _count(self, released: list[Released[Incoming]], result: BatchResult) -> None:
        """The metrics of a committed batch."""
        self.metrics.committed(len(released), len(result.outbox),
                               (s.item.record.timestamp for s in released))
        for code in result.dead_reasons:
            self.metrics.dead_letter(code)
        for code in result.refusals:
            self.metrics.refused(code)

    async def _alone(self, step: Step) -> BatchResult:
        """`step` in a transaction of its own; a record that fails becomes a dead letter."""
        try:
            return await self._transaction([step])
        except Exception as failure:
            if is_outage(failure) or isinstance(step, ClockAdvanced):
                raise
            return await self._transaction([step], failure=failure)

    async def _transaction(self, steps: list[Step],
                           failure: Exception | None = None) -> BatchResult:
        result = BatchResult()
        result.positions = positions_of(steps)
        clocks = [s for s in steps if isinstance(s, ClockAdvanced)]
        result.clock = clocks[-1] if clocks else None
        with self.metrics.transaction():
            await self._commit(steps, failure, result)
        faults.reached("linker.after-db-commit")
        return result

    async def _commit(self, steps: list[Step], failure: Exception | None,
                      result: BatchResult) -> None:
        async with connection(self.pool) as conn, conn.transaction():
            if failure is None:
                await self._apply(conn, steps, result)
            else:
                step = steps[0]
                assert isinstance(step, Released)
                await insert_rows(conn, self._failed(step, failure, result))
            await offsets.save(conn, self.group, result.positions)
            if result.clock is not None:
                await offsets.save_clock(conn, self.group, result.clock.epoch,
                                         result.clock.relay_time)
            await wake_publisher(conn)

    def _failed(self, step: Released[Incoming], failure: Exception,
                result: BatchResult) -> list[OutboxRow]:
        record = step.item.record
        log.error("dead-lettering %s[%d]@%d: %s", record.topic, record.partition,
                  record.offset, type(failure).__name__)
        result.dead_letters += 1
        result.dead_reasons.append(ReasonCode.PROCESSING_FAILED.value)
        reason = failure_reason(ReasonCode.PROCESSING_FAILED, failure, "process")
        rejected = FilingRejected([reason])
        letter = dead_letter(self.keyring, record, reason, None)
        return dead_letter_rows(dlq_record(letter, self.namespace), rejected,
                                self._source(record), self.namespace, step.relay_time,
                                raw=bytes(record.value or b""))

    async def _apply(self, conn: asyncpg.Connection, steps: list[Step],
                     result: BatchResult) -> None:
        partitions = sorted({TopicPartition(s.topic, s.partition)
                             for s in steps if isinstance(s, Released)}
                            | {TopicPartition(*w) for s in steps
                               if isinstance(s, ClockAdvanced) for w in s.positions})
        stored = await offsets.lock(conn, self.group, partitions)
        applied_epoch = await offsets.lock_clock(conn, self.group)
        work = BatchSlice(conn, self.keyring, self.hasher)
        fresh = [s for s in steps
                 if (isinstance(s, ClockAdvanced) and s.epoch > applied_epoch)
                 or (isinstance(s, Released) and s.offset >= stored.get(
                     TopicPartition(s.topic, s.partition), 0))]  # else applied already
        signers = self.signers.held()
        linker_records = [translated(self.translator, s, self.namespace, signers)
                          if isinstance(s, Released) else None
                          for s in fresh]
        await work.prefetch(r for r in linker_records if isinstance(r, LinkerRecord))
        logged = len(result.accesses)
        for step, linker_record in zip(fresh, linker_records, strict=True):
            if isinstance(step, ClockAdvanced):
                result.outbox += tick_rows(self.keyring, step.epoch, step.relay_time,
                                           self.namespace)  # before what this step announces
                moved = await clock_in_slice(work, step.relay_time)
                result.tally(moved)
                result.outbox += output_rows(moved, Source(RELAY_CLOCK.name, 0, step.epoch),
                                             self.namespace, step.relay_time, self.addressees)
                if self.head_signer is not None:  # the notices logged before this advance
                    await access_records.append(conn, result.accesses[logged:], self.keyring,
                                                log=NOTICES_LOG)
                    logged = len(result.accesses)
                    result.outbox += await self._heads(conn, step)
            else:
                result.outbox += await self._one(work, step, linker_record, result)
        await work.flush()
        result.misses += work.misses
        await access_records.append(conn, result.accesses[logged:], self.keyring,
                                    log=NOTICES_LOG)
        await insert_rows(conn, result.outbox)

    async def _heads(self, conn: asyncpg.Connection, step: ClockAdvanced) -> list[OutboxRow]:
        """The notices log's heads due at this relay time (the linker is its only appender, and
        every notice decided before this advance is logged first, so they depend on the
        records alone), for its witnesses, the recipients, signed with the access-log key."""
        assert self.head_signer is not None
        sent = await access_heads.heads_due(
            conn, NOTICES_LOG, step.relay_time,
            (self.head_signer.signer.code, self.head_signer.key), self.head_gap)
        source = ("access-log.heads", 1, step.epoch)
        return [OutboxRow.keyed(id_, source, index, topic, partitions, key, value, headers)
                for index, (id_, topic, partitions, key, value, headers) in enumerate(
                    access_heads.witness_records(sent, step.relay_time, self.namespace,
                                                 self.head_signer.headers))]

    def _source(self, record: ConsumerRecord) -> Source:
        return source_of(record, self.namespace)

    async def _one(self, work: BatchSlice, step: Released[Incoming],
                   linker_record: LinkerRecord | FilingRejected | None,
                   result: BatchResult) -> list[OutboxRow]:
        record = step.item.record
        source = self._source(record)
        if not isinstance(linker_record, LinkerRecord):
            assert linker_record is not None
            result.dead_letters += 1
            result.dead_reasons.append(linker_record.reasons[0].code)
            letter = dead_letter(self.keyring, record, linker_record.reasons[0],
                                 linker_record.filer_code)
            signer = step.item.signer
            return dead_letter_rows(dlq_record(letter, self.namespace), linker_record, source,
                                    self.namespace, step.relay_time,
                                    raw=bytes(record.value or b""),
                                    signer_role=signer.role if signer is not None else None,
                                    addressees=self.addressees)
        effects = await decide_in_slice(work, linker_record, self.hasher)
        result.tally(effects)
        for e in effects:
            if isinstance(e, fx.OutcomeIssued):
                result.statuses[e.status] = result.statuses.get(e.status, 0) + 1
        making = NoticeMaking(self.keyring, step.item.filing)  # the filing, for this record only
        rows = output_rows(effects, source, self.namespace, step.relay_time, self.addressees,
                           making)
        result.accesses += pushed_accesses(effects, {r.id for r in rows}, self.keyring,
                                           step.relay_time)
        return rows
