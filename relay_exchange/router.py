"""The exchange router: insurers' requests, answers and the 合算's settlement instructions in,
routed requests, routed settlements and replies out through the outbox, exactly once and in
relay-clock order (consumers.clocked).

Plain aiokafka + asyncpg, like the linker and for the same reason: a request's effect (its
replay memory, the rate count, the items awaiting answers, the outbox rows and the consumer
positions) is one PostgreSQL transaction, which faust's changelog tables cannot hold together.
The relay clock's ticks come on every partition of the exchange topics, so deadlines are judged
on relay time and the same records give the same replies however they are fetched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid5

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives import serialization

from access_log.entries import AccessKind
from consumers import access_heads, access_records, offsets
from consumers.access_records import Access
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
from groundfloor.crypto import Keyring, notice_copy_id, participant_pseudonym
from groundfloor.kafka_clients import Drain, KafkaLogin, processor_consumer
from groundfloor.metrics import ProcessorMetrics
from groundfloor.outages import connection, is_outage
from outbox.table import OutboxRow, insert_rows, wake_publisher
from relay_clock.ticks import authentic, is_tick_record
from relay_exchange import store
from relay_exchange.numbers import number_key
from relay_exchange.policy import Policy, default_policy
from relay_exchange.routing import Ask, Decision, decide_entry, rate_allows, refused
from relay_exchange.settling import PAYER_SCHEMES, Settle, SettleDecision, decide_settlement
from schemas import MessageRejected, Reason, RelayTick, decode_relay, encode
from schemas.access_log import HeadCosignature
from schemas.base import JST
from schemas.exchange import (
    ExchangeAnswer,
    ExchangeReply,
    ExchangeRequest,
    RoutedItem,
    RoutedRequest,
    item_id,
    reply_id,
    routed_id,
)
from schemas.exchange_terms import ExchangeOutcome, ForwardRefusal
from schemas.settlements import (
    RoutedSettlement,
    SettlementInstruction,
    lapses_on,
    period_span,
)
from schemas.topics import (
    ACCESS_LOG_COSIGNATURE,
    EXCHANGE_REQUEST,
    EXCHANGE_SETTLEMENT,
    EXCHANGE_TOPICS,
    PARTITIONS,
    SETTLEMENTS_STREAM,
    Namespace,
    participant_topics,
    settlements_topic,
)
from trust.directory import Signers
from trust.encryption_keys import NoEncryptionKey, PublicKeys
from trust.keys import RecordSigner
from trust.number_sealing import seal_number, seal_settlement_number
from trust.pki import RELAY_CLOCK, Participant
from trust.sealing import key_id
from trust.signing import SignerId, signed_by, verifies

log = logging.getLogger("shaho.exchange")
GROUP = "relay-exchange"
BATCH = 200
RATE_LIMIT = 10_000
"""Persons a participant may ask about per relay hour unless SHAHO_EXCHANGE_RATE_LIMIT says."""
ASKING_ROLES = ("insurer", "pension")
HEAD_GAP = timedelta(minutes=1)
"""A grown access-log tree is signed again no sooner than this much relay time after its last
head (SHAHO_ACCESS_HEAD_SECONDS says otherwise)."""
MAX_AHEAD = timedelta(days=1)
"""The furthest a request's expiry may lie ahead of the relay time it arrives at."""
SETTLING_ROLES = ("insurer",)
"""Who sends settlements of the 合算: medical insurers (the pension service pays none)."""
REMIND_BEFORE = timedelta(days=90)
"""How long before the right to a 合算 benefit lapses the person is reminded to apply."""
SETTLEMENT_RULE = "combined_high_cost"
"""The rule name of the 合算's notices in the persons' inboxes."""


@dataclass(frozen=True)
class Incoming:
    """A consumed record other than a tick: its message, or why it is not one; `signer` when
    a certified signature covers it."""

    record: ConsumerRecord
    message: ExchangeRequest | ExchangeAnswer | HeadCosignature | SettlementInstruction | None
    problem: str | None
    signer: SignerId | None = None


def reason(code: str, message: str) -> Reason:
    return Reason(code=code, field=None, message=message)


REASONS = {
    "unsigned": "the record carries no signature the relay can check",
    "unknown_signer": "the signer is not a participant of the relay",
    "bad_signature": "the signature does not cover this record",
    "malformed": "the record is not a valid message of its topic",
    "wrong_signer": "the signer is not the participant the message names",
    "role_may_not_exchange": "the signer's role takes no part in the exchange",
    "revoked": "the signer's certificate was not in standing at the record's relay time",
    "unknown_routed_request": "no request was routed under this id",
    "wrong_provider": "the request was routed to another insurer",
    "late_answer": "the answer reached the relay after its deadline",
    "forged_tick": "a record marked as a relay clock tick that the relay clock did not sign",
    "refused_cosignature": "the answer names no head the relay sent this witness, or its "
                           "cosignature does not verify with the witness's key",
}


class Decoder:
    """Tells ticks from messages and decodes each record once, after its signature verified;
    whatever decoding raises (an outage aside) makes it a dead letter, never a stop."""

    def __init__(self, namespace: Namespace, keyring: Keyring, signers: Signers) -> None:
        self.namespace, self.keyring, self.signers = namespace, keyring, signers

    def __call__(self, record: ConsumerRecord) -> Tick | Incoming:
        try:
            return self._decode(record)
        except Exception as failure:
            if is_outage(failure):
                raise
            log.error("%s[%d]@%d undecodable (%s)", record.topic, record.partition,
                      record.offset, type(failure).__name__)
            return Incoming(record, None, "malformed")

    def _signer(self, record: ConsumerRecord) -> SignerId | str:
        found = signed_by(record.headers)
        if found is None:
            return "unsigned"
        signer, signature = found
        certified = self.signers.lookup(signer)
        if certified is None:
            return "unknown_signer"
        topic = self.namespace.logical(record.topic)
        if not verifies(certified.public_key, signature, topic, record.key, record.value):
            return "bad_signature"
        return signer

    def _decode(self, record: ConsumerRecord) -> Tick | Incoming:
        signer = self._signer(record)
        raw = bytes(record.value or b"")
        if is_tick_record(record.headers):
            if isinstance(signer, SignerId) and (signer.role, signer.code) == RELAY_CLOCK:
                try:
                    tick = decode_relay(raw, RelayTick)
                except MessageRejected:
                    tick = None
                if tick is not None and authentic(self.keyring, tick):
                    return Tick(tick.seq, tick.relay_time)
            return Incoming(record, None, "forged_tick")
        if not isinstance(signer, SignerId):
            return Incoming(record, None, signer)
        topic = self.namespace.logical(record.topic)
        model: type[ExchangeRequest | ExchangeAnswer | HeadCosignature | SettlementInstruction] = (
            ExchangeRequest if topic == EXCHANGE_REQUEST.name
            else HeadCosignature if topic == ACCESS_LOG_COSIGNATURE.name
            else SettlementInstruction if topic == EXCHANGE_SETTLEMENT.name else ExchangeAnswer)
        try:
            message = decode_relay(raw, model)
        except MessageRejected:
            return Incoming(record, None, "malformed", signer)
        named = (message.asker_code if isinstance(message, ExchangeRequest)
                 else message.witness_code if isinstance(message, HeadCosignature)
                 else message.sender_code if isinstance(message, SettlementInstruction)
                 else message.provider_code)
        if signer.code != named:
            return Incoming(record, None, "wrong_signer", signer)
        roles = SETTLING_ROLES if isinstance(message, SettlementInstruction) else ASKING_ROLES
        if signer.role not in roles:
            return Incoming(record, None, "role_may_not_exchange", signer)
        return Incoming(record, message, None, signer)


@dataclass
class Tally:
    """What a batch did, for the caller and the tests: replies by outcome and reason."""

    replies: dict[str, int] = field(default_factory=dict)
    routed: int = 0
    dead_letters: int = 0
    outbox: list[OutboxRow] = field(default_factory=list)

    def reply(self, outcome: str, why: str | None) -> None:
        name = outcome if why is None else f"{outcome}:{why}"
        self.replies[name] = self.replies.get(name, 0) + 1


@dataclass
class Committing:
    """What the transaction under way dead-letters and refuses, counted in the metrics only
    once it commits."""

    dead: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def router_metrics() -> ProcessorMetrics:
    """The router's metrics: dead letters by its own codes, refusals by `ForwardRefusal`."""
    return ProcessorMetrics("relay-exchange", dead_letter_reasons=[*REASONS, "processing_failed"],
                            refusal_reasons=ForwardRefusal)


def hour_of(relay_time: datetime) -> datetime:
    return relay_time.replace(minute=0, second=0, microsecond=0)


class ExchangeRouter:
    """Consumes the exchange's topics; routes each request's persons and delivers answers."""

    def __init__(self, pool: asyncpg.Pool, keyring: Keyring, signers: Signers,
                 addressees: PublicKeys, kafka: KafkaLogin, namespace: Namespace,
                 signer: RecordSigner, policy: Policy | None = None,
                 rate_limit: int = RATE_LIMIT, group: str = GROUP, batch: int = BATCH,
                 head_signer: RecordSigner | None = None,
                 head_gap: timedelta = HEAD_GAP) -> None:
        self.pool, self.keyring, self.signers, self.addressees = pool, keyring, signers, addressees
        self.kafka, self.namespace, self.signer = kafka, namespace, signer
        self.policy = policy or default_policy()
        self.rate_limit, self.group, self.batch = rate_limit, group, batch
        self.head_signer, self.head_gap = head_signer, head_gap
        self.consumer: AIOKafkaConsumer | None = None
        self.buffer: ClockedBuffer[Incoming] | None = None
        self.tally = Tally()
        self.metrics = router_metrics()
        self.committing = Committing()

    async def start(self) -> None:
        """Own every partition of the exchange topics (assigned, as the linker's are, since
        relay-clock order needs them in one place), from the positions stored in PostgreSQL."""
        self.consumer = processor_consumer(self.kafka, self.group)
        await self.consumer.start()
        partitions = sorted(TopicPartition(self.namespace.physical(t), p)
                            for t in EXCHANGE_TOPICS for p in range(t.partitions))
        self.buffer = await resume(self.consumer, self.pool, self.group, partitions,
                                   Decoder(self.namespace, self.keyring, self.signers))

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def run(self, stop: asyncio.Event, idle_exit: float | None = None) -> None:
        assert self.consumer is not None and self.buffer is not None
        drain = Drain(self.consumer, idle_exit) if idle_exit is not None else None
        while not stop.is_set():
            fetched = await self.consumer.getmany(timeout_ms=100, max_records=self.batch)
            self.buffer.add(fetched)
            steps = self.buffer.take(self.batch)
            if steps:
                await self.process(steps)
            if drain is None:
                continue
            if steps or any(fetched.values()):
                drain.moved()
            elif await drain.done():
                return

    async def process(self, steps: list[Step]) -> None:
        """`steps` in one transaction; a record the router cannot handle (a defect, not bad
        input) is re-run alone and dead-lettered, never stopping the router; outages stop it."""
        try:
            positions = await self._transaction(steps)
        except Exception as exc:
            if is_outage(exc):
                raise
            log.error("batch of %d failed (%s); retrying step by step", len(steps),
                      type(exc).__name__)
            positions = {}
            for step in steps:
                try:
                    moved = await self._transaction([step])
                except Exception as failure:
                    if is_outage(failure) or isinstance(step, ClockAdvanced):
                        raise
                    moved = await self._transaction([step], failed=True)
                for tp, offset in moved.items():
                    positions[tp] = max(offset, positions.get(tp, 0))
        await self.consumer.commit(positions)  # type: ignore[union-attr]

    async def _transaction(self, steps: list[Step],
                           failed: bool = False) -> dict[TopicPartition, int]:
        self.committing = Committing()
        with self.metrics.transaction():
            rows, positions = await self._commit(steps, failed)
        released = [s for s in steps if isinstance(s, Released)]
        self.metrics.committed(len(released), len(rows),
                               (s.item.record.timestamp for s in released))
        for code in self.committing.dead:
            self.metrics.dead_letter(code)
        for code in self.committing.refused:
            self.metrics.refused(code)
        return positions

    async def _commit(self, steps: list[Step], failed: bool
                      ) -> tuple[list[OutboxRow], dict[TopicPartition, int]]:
        positions = positions_of(steps)
        clocks = [s for s in steps if isinstance(s, ClockAdvanced)]
        rows: list[OutboxRow] = []
        async with connection(self.pool) as conn, conn.transaction():
            stored = await offsets.lock(conn, self.group, sorted(positions))
            applied = await offsets.lock_clock(conn, self.group)
            self.signers.refresh()
            for step in steps:
                if isinstance(step, ClockAdvanced):
                    if step.epoch > applied:
                        rows += await self._expire(conn, step)
                        await access_records.delete_expired(
                            conn, step.relay_time.astimezone(UTC).date())
                        rows += await self._heads(conn, step)
                        await self._lapse_reminders(conn, step)
                    continue
                where = TopicPartition(step.topic, step.partition)
                if step.offset < stored.get(where, 0):
                    continue  # applied already
                if failed:
                    rows += await self._dead(conn, step, "processing_failed", None)
                else:
                    rows += await self._released(conn, step)
            await insert_rows(conn, rows)
            await offsets.save(conn, self.group, positions)
            if clocks:
                await offsets.save_clock(conn, self.group, clocks[-1].epoch,
                                         clocks[-1].relay_time)
            await wake_publisher(conn)
        self.tally.outbox += rows
        return rows, positions

    # -- rows ------------------------------------------------------------------------------

    def _source(self, record: ConsumerRecord) -> tuple[str, int, int]:
        return (self.namespace.logical(record.topic), record.partition, record.offset)

    def _reply_row(self, source: tuple[str, int, int], index: int,
                   reply: ExchangeReply) -> OutboxRow:
        topic = self.namespace.physical(participant_topics(reply.asker_code)[1])
        self.tally.reply(reply.outcome.value, reply.reason.value if reply.reason else None)
        if reply.outcome is ExchangeOutcome.REFUSED and reply.reason is not None:
            self.committing.refused.append(reply.reason.value)
        return OutboxRow.keyed(reply.reply_id, source, index, topic, PARTITIONS,
                               reply.kafka_key(), encode(reply))

    def _reply(self, request_id: UUID, asker: str, entry: str | None,
               outcome: ExchangeOutcome, relay_time: datetime, *,
               why: ForwardRefusal | None = None, providers: tuple[str, ...] = (),
               provider: str | None = None, sealed: bytes | None = None) -> ExchangeReply:
        return ExchangeReply(
            reply_id=reply_id(asker, request_id, entry, outcome.value,
                              provider or (why.value if why else None)),
            request_id=request_id, asker_code=asker, entry=entry, outcome=outcome,
            reason=why, providers=list(providers), provider_code=provider,
            sealed_answer=sealed, relay_time=relay_time)

    async def _dead(self, conn: asyncpg.Connection, step: Released[Incoming], why: str,
                    signer: SignerId | None) -> list[OutboxRow]:
        """The record to its DLQ (original bytes sealed), counted against its signer (or
        'unknown'), and, when the signer is a verified asker, a refusal of the whole request."""
        record = step.item.record
        code = signer.code if signer is not None else "unknown"
        await store.count(conn, code, why)
        self.tally.dead_letters += 1
        self.committing.dead.append(why)
        letter = dead_letter(self.keyring, record,
                             reason(why, REASONS.get(why, "the relay could not process it")),
                             signer.code if signer is not None else None)
        topic, key, value = dlq_record(letter, self.namespace)
        source = self._source(record)
        where = f"{source[0]}:{source[1]}:{source[2]}"
        rows = [OutboxRow.keyed(uuid5(UUID(int=0), where), source, 0, topic, PARTITIONS,
                                key, value)]
        if signer is not None and signer.role in ASKING_ROLES and \
                self.namespace.logical(record.topic) in (EXCHANGE_REQUEST.name,
                                                         EXCHANGE_SETTLEMENT.name):
            own = uuid5(UUID(int=1), where)  # the bytes had no request id the relay can trust
            why_code = (ForwardRefusal.MALFORMED if why in ("malformed", "processing_failed")
                        else ForwardRefusal.BAD_SIGNATURE)
            rows.append(self._reply_row(source, 1, self._reply(
                own, signer.code, None, ExchangeOutcome.REFUSED, step.relay_time, why=why_code)))
        return rows

    # -- requests --------------------------------------------------------------------------

    async def _released(self, conn: asyncpg.Connection,
                        step: Released[Incoming]) -> list[OutboxRow]:
        item = step.item
        if item.message is None:
            return await self._dead(conn, step, item.problem or "malformed", item.signer)
        assert item.signer is not None
        if self.signers.standing(item.signer, step.relay_time) is not None:
            return await self._dead(conn, step, "revoked", item.signer)
        if isinstance(item.message, ExchangeRequest):
            return await self._request(conn, step, item.message)
        if isinstance(item.message, HeadCosignature):
            return await self._cosignature(conn, step, item.message)
        if isinstance(item.message, SettlementInstruction):
            return await self._settlement(conn, step, item.message)
        return await self._answer(conn, step, item.message)

    async def _request(self, conn: asyncpg.Connection, step: Released[Incoming],
                       request: ExchangeRequest) -> list[OutboxRow]:
        source = self._source(step.item.record)
        asker, now = request.asker_code, step.relay_time
        if await store.seen_request(conn, asker, request.request_id):
            # answered when first seen; told once per replayed record, by its position
            await store.count(conn, asker, "replayed_request")
            where = f"replayed@{source[1]}:{source[2]}"
            return [self._reply_row(source, 0, ExchangeReply(
                reply_id=reply_id(asker, request.request_id, None, ExchangeOutcome.REFUSED.value,
                                  where),
                request_id=request.request_id, asker_code=asker, entry=None,
                outcome=ExchangeOutcome.REFUSED, reason=ForwardRefusal.REPLAYED,
                relay_time=now))]
        decisions, persons = await self._decide(conn, request, now, self._role(step))
        forwarded = sum(1 for d in decisions.values() if d.forwarded)
        await store.record_request(conn, asker, request.request_id, now, request.expires_at,
                                   len(request.entries), forwarded)
        rows: list[OutboxRow] = []
        by_provider: dict[str, list[tuple[str, str, bytes]]] = {}
        index = 0
        for entry in request.entries:
            decision = decisions[entry.entry]
            if decision.refusal is not None:
                await store.count(conn, asker, decision.refusal.value)
                rows.append(self._reply_row(source, index, self._reply(
                    request.request_id, asker, entry.entry, ExchangeOutcome.REFUSED, now,
                    why=decision.refusal)))
                index += 1
                continue
            for p in decision.providers:
                by_provider.setdefault(p.code, []).append((entry.entry, p.number_kind,
                                                           p.number_sealed,
                                                           persons[entry.entry],
                                                           decision.policy_row or "-"))
            rows.append(self._reply_row(source, index, self._reply(
                request.request_id, asker, entry.entry, ExchangeOutcome.FORWARDED, now,
                providers=tuple(p.code for p in decision.providers))))
            index += 1
        if by_provider:
            asker_key = self.addressees.lookup(Participant(self._role(step), asker))
            for provider, items in sorted(by_provider.items()):
                try:
                    rows.append(await self._routed(conn, source, index, request, provider,
                                                   items, asker_key, now))
                except NoEncryptionKey:  # nothing can be sealed for it: it cannot answer
                    await store.count(conn, provider, "no_encryption_key", len(items))
                    for entry, *_ in items:
                        index += 1
                        rows.append(self._reply_row(source, index, self._reply(
                            request.request_id, asker, entry, ExchangeOutcome.UNAVAILABLE, now,
                            provider=provider)))
                index += 1
        return rows

    def _entry_id(self, item: UUID, what: str) -> str:
        """An access's id in the log: keyed by the relay, so neither the asker nor the provider
        (who can compute the item id) can find its leaf or link a query to its answer."""
        return store.index_of(self.keyring, "access-entry", f"{item}:{what}").hex()[:48]

    def _disclose_from(self, row_id: str, at: datetime) -> date | None:
        """The relay date from which the person sees an access allowed by policy row `row_id`
        at relay time `at` (None: at once); a lawful covert query's row delays it."""
        row = self.policy.row(row_id)
        return None if row is None else row.disclose_from(at.astimezone(UTC).date())

    def _has_key(self, participant: Participant) -> bool:
        try:
            self.addressees.lookup(participant)
        except NoEncryptionKey:
            return False
        return True

    def _role(self, step: Released[Incoming]) -> str:
        assert step.item.signer is not None
        return step.item.signer.role

    async def _decide(self, conn: asyncpg.Connection, request: ExchangeRequest,
                      now: datetime, role: str) -> tuple[dict[str, Decision], dict[str, str]]:
        """Each entry's decision: the request-wide refusals (expired, an asker without an
        encryption key to seal answers for, rate limit) first, then each person's own; and
        the relay id of each entry's person the relay found."""
        entries = request.entries
        whole: ForwardRefusal | None = None
        if now >= request.expires_at or request.expires_at > now + MAX_AHEAD:
            whole = ForwardRefusal.EXPIRED
        elif not self._has_key(Participant(role, request.asker_code)):
            whole = ForwardRefusal.NO_ENCRYPTION_KEY
        else:
            hour = hour_of(now)
            counted = await store.count_rate(conn, request.asker_code, hour)
            if not rate_allows(counted, len(entries), self.rate_limit):
                whole = ForwardRefusal.RATE_LIMITED
            else:
                await store.add_rate(conn, request.asker_code, hour, len(entries))
        if whole is not None:
            return {e.entry: refused(whole) for e in entries}, {}
        keys = {}
        for e in entries:
            kind, value = number_key(request.asker_code, e.member)
            keys[e.entry] = (kind, store.index_of(self.keyring, kind, value))
        found = await store.persons_by_number(conn, keys.values())
        people = await store.persons(conn, found.values())
        ask = Ask(request.asker_code, request.scheme, request.category, request.purpose,
                  request.as_of, request.period)
        out, persons = {}, {}
        for e in entries:
            relay_id = found.get(keys[e.entry])
            person = people.get(relay_id) if relay_id is not None else None
            out[e.entry] = decide_entry(ask, keys[e.entry], person, self.policy)
            if relay_id is not None:
                persons[e.entry] = relay_id
        return out, persons

    async def _routed(self, conn: asyncpg.Connection, source: tuple[str, int, int],
                      index: int, request: ExchangeRequest, provider: str,
                      items: list[tuple[str, str, bytes, str, str]], asker_key,
                      now: datetime) -> OutboxRow:
        """One routed request to `provider` for its persons of `request`: each number opened
        from the relay's store and sealed at once for the provider, bound to this request; each
        person's query logged in the access log, in this transaction, under the policy row
        that allowed it for that person (the routed request names every row it carries)."""
        routed = routed_id(request.asker_code, request.request_id, provider)
        provider_key = self.addressees.lookup(Participant("insurer" if provider != "JPS"
                                                          else "pension", provider))
        sealed_items, pending, accesses = [], [], []
        for entry, kind, stored, relay_id, row in items:
            item = item_id(routed, entry)
            disclose_from = self._disclose_from(row, now)
            number = store.open_number(self.keyring, kind, stored)
            sealed_items.append(RoutedItem(item_id=item, sealed_number=seal_number(
                number, provider_key.public_key, routed, item, provider,
                request.purpose.value)))
            pending.append((item, routed, request.request_id, request.asker_code, provider,
                            entry, request.expires_at, relay_id, request.scheme.value,
                            request.category.value, request.purpose.value, row, disclose_from))
            accesses.append(Access(
                self._entry_id(item, "query"), relay_id, AccessKind.RELAYED_QUERY,
                request.asker_code, provider, request.scheme.value, request.category.value,
                request.purpose.value, row, now, ExchangeOutcome.FORWARDED.value,
                disclose_from))
        await store.add_items(conn, pending)
        await access_records.append(conn, accesses, self.keyring)
        der = asker_key.public_key.public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        message = RoutedRequest(
            routed_id=routed, request_id=request.request_id, asker_code=request.asker_code,
            provider_code=provider, scheme=request.scheme, category=request.category,
            purpose=request.purpose, policy_row=",".join(sorted({row for *_, row in items})),
            as_of=request.as_of,
            period_from=request.period_from, period_to=request.period_to,
            deadline=request.expires_at, relay_time=now, asker_key=der,
            asker_key_id=key_id(asker_key.public_key), items=sealed_items)
        self.tally.routed += 1
        topic_name = participant_topics(provider)[0].name
        key, value = message.kafka_key(), encode(message)
        headers = tuple(self.signer.headers(topic_name, key, value))
        return OutboxRow.keyed(uuid5(routed, "routed-request"), source, index,
                               self.namespace.physical(topic_name), PARTITIONS, key, value,
                               headers)

    # -- answers and deadlines ---------------------------------------------------------------

    async def _answer(self, conn: asyncpg.Connection, step: Released[Incoming],
                      answer: ExchangeAnswer) -> list[OutboxRow]:
        source = self._source(step.item.record)
        pending = await store.routed_items(conn, answer.routed_id)
        if not pending:
            return await self._dead(conn, step, "unknown_routed_request", step.item.signer)
        if pending[0]["provider_code"] != answer.provider_code:
            return await self._dead(conn, step, "wrong_provider", step.item.signer)
        now = step.relay_time
        sealed = {i.item_id: i.sealed_answer for i in answer.items}
        rows, done, accesses = [], [], []
        late = unlogged = 0
        for index, row in enumerate(pending):
            if row["item_id"] not in sealed:
                continue
            if row["state"] == "answered":
                await store.count(conn, answer.provider_code, "duplicate_answer")
                continue
            if row["state"] == "unavailable" or now >= row["deadline"]:
                late += 1
                continue
            done.append(row["item_id"])
            rows.append(self._reply_row(source, index, self._reply(
                row["request_id"], row["asker_code"], row["entry"], ExchangeOutcome.ANSWERED,
                now, provider=answer.provider_code, sealed=sealed[row["item_id"]])))
            if row["relay_id"] is None:  # routed before the access log existed
                unlogged += 1
            else:
                accesses.append(Access(
                    self._entry_id(row["item_id"], "answer"), row["relay_id"],
                    AccessKind.RELAYED_ANSWER,
                    row["asker_code"], answer.provider_code, row["scheme"], row["category"],
                    row["purpose"], row["policy_row"], now, ExchangeOutcome.ANSWERED.value,
                    row["disclose_from"]))
        if late:
            await store.count(conn, answer.provider_code, "late_answer", late)
            log.info("late answer from %s for routed request %s: %d item(s) not delivered",
                     answer.provider_code, answer.routed_id, late)
        await store.settle(conn, done, "answered", now)
        await access_records.append(conn, accesses, self.keyring)
        if unlogged:
            await store.count(conn, answer.provider_code, "answer_not_logged", unlogged)
            log.warning("%d answer(s) from %s delivered without an access-log entry (routed "
                        "before the log existed)", unlogged, answer.provider_code)
        return rows

    # -- the access logs' heads --------------------------------------------------------------

    async def _heads(self, conn: asyncpg.Connection, step: ClockAdvanced) -> list[OutboxRow]:
        """The exchange log's heads due at this relay time (the router is its only appender,
        so they depend on the records alone), signed with the relay's access-log key, stored,
        and put in the outbox for each witness with its consistency proof."""
        if self.head_signer is None:
            return []
        sent = await access_heads.heads_due(
            conn, access_records.EXCHANGE_LOG, step.relay_time,
            (self.head_signer.signer.code, self.head_signer.key), self.head_gap)
        source = ("access-log.heads", 0, step.epoch)
        return [OutboxRow.keyed(id_, source, index, topic, partitions, key, value, headers)
                for index, (id_, topic, partitions, key, value, headers) in enumerate(
                    access_heads.witness_records(sent, step.relay_time, self.namespace,
                                                 self.head_signer.headers))]

    async def _cosignature(self, conn: asyncpg.Connection, step: Released[Incoming],
                           answer: HeadCosignature) -> list[OutboxRow]:
        """A witness's answer to a head: its cosignature (checked with the key that signed
        the record, the witness's own) or its refusal, recorded once; an answer about no head
        the relay sent it, or a cosignature that does not verify, goes to the dead letters."""
        assert step.item.signer is not None
        if self.head_signer is None:
            return await self._dead(conn, step, "refused_cosignature", step.item.signer)
        certified = self.signers.lookup(step.item.signer)
        assert certified is not None  # the record's signature verified with it
        wrong = await access_heads.take_answer(
            conn, answer.log.value, answer.witness_code, answer.note,
            (self.head_signer.signer.code, self.head_signer.key.public_key()),
            {answer.witness_code: certified.public_key}, answer.refusal)
        if wrong is not None:
            log.warning("head answer from %s not taken: %s", answer.witness_code, wrong)
            return await self._dead(conn, step, "refused_cosignature", step.item.signer)
        return []

    async def _expire(self, conn: asyncpg.Connection, step: ClockAdvanced) -> list[OutboxRow]:
        """Every item still pending at its deadline: "unavailable" to the asker."""
        rows, done = [], []
        source = ("clock.relay-time.v1", 0, step.epoch)
        for index, row in enumerate(await store.overdue(conn, step.relay_time)):
            done.append(row["item_id"])
            await store.count(conn, row["provider_code"], "unavailable")
            rows.append(self._reply_row(source, index, self._reply(
                row["request_id"], row["asker_code"], row["entry"],
                ExchangeOutcome.UNAVAILABLE, step.relay_time, provider=row["provider_code"])))
        await store.settle(conn, done, "unavailable", step.relay_time)
        return rows


    # -- settlements of the 合算 -------------------------------------------------------------

    async def _settlement(self, conn: asyncpg.Connection, step: Released[Incoming],
                          instruction: SettlementInstruction) -> list[OutboxRow]:
        """One settlement: routed to its payer under the payer's own number (sealed for it,
        the sender's sealed amount passed on untouched), remembered by its id and as its
        chain's last, logged in the access log and told to the person; or refused, and not
        remembered (the same bytes again are judged again). The sender is answered either way;
        the same instruction again changes nothing, the same id with other content is
        refused."""
        source = self._source(step.item.record)
        sender, now = instruction.sender_code, step.relay_time
        digest = hashlib.sha256(bytes(step.item.record.value or b"")).digest()
        seen = await store.settlement_digest(conn, sender, instruction.settlement_id)
        if seen is not None:
            if seen == digest:
                await store.count(conn, sender, "duplicate_settlement")
                return []
            return [self._settled(source, instruction, now,
                                  why=ForwardRefusal.CONFLICTING_DUPLICATE)]
        decision, relay_id = await self._decide_settlement(conn, instruction)
        payer_key = None
        if decision.routed:
            try:
                payer_key = self.addressees.lookup(Participant("insurer",
                                                               instruction.payer_code))
            except NoEncryptionKey:
                decision = SettleDecision(ForwardRefusal.NO_ENCRYPTION_KEY)
        if not decision.routed or relay_id is None or payer_key is None:
            assert decision.refusal is not None
            await store.count(conn, sender, decision.refusal.value)
            return [self._settled(source, instruction, now, why=decision.refusal)]
        assert decision.link is not None and decision.link.number_sealed is not None
        await store.record_settlement(conn, sender, instruction.settlement_id, digest,
                                      instruction.payer_code, relay_id, now)
        await store.extend_chain(conn, relay_id, instruction.period, instruction.payer_code,
                                 instruction.benefit.value, sender, instruction.settlement_id,
                                 now, closed=instruction.nothing_due)
        number = store.open_number(self.keyring, decision.link.number_kind,
                                   decision.link.number_sealed)
        payer = instruction.payer_code
        routed = RoutedSettlement(
            settlement_id=instruction.settlement_id, sender_code=sender, payer_code=payer,
            period=instruction.period, base_date=instruction.base_date,
            benefit=instruction.benefit, corrects=instruction.corrects,
            person=participant_pseudonym(self.keyring, payer, relay_id),
            sealed_number=seal_settlement_number(number, payer_key.public_key,
                                                 instruction.settlement_id, payer),
            sealed_amount=instruction.sealed_amount, relay_time=now)
        scheme = PAYER_SCHEMES[instruction.benefit.value].value
        row = decision.policy_row or "-"
        await access_records.append(conn, [Access(
            self._entry_id(instruction.settlement_id, f"settlement:{sender}"), relay_id,
            AccessKind.RELAYED_SETTLEMENT, sender, payer, scheme, "settlement",
            SETTLEMENT_RULE, row, now, ExchangeOutcome.FORWARDED.value,
            self._disclose_from(row, now))], self.keyring)
        await self._notify_person(conn, relay_id, instruction, now)
        self.tally.routed += 1
        topic = settlements_topic(payer)
        key, value = routed.kafka_key(), encode(routed)
        headers = tuple(self.signer.headers(topic.name, key, value))
        return [OutboxRow.keyed(uuid5(instruction.settlement_id, f"routed-settlement|{sender}"),
                                source, 0, self.namespace.physical(topic),
                                SETTLEMENTS_STREAM.partitions, key, value, headers),
                self._settled(source, instruction, now)]

    def _settled(self, source: tuple[str, int, int], instruction: SettlementInstruction,
                 now: datetime, why: ForwardRefusal | None = None) -> OutboxRow:
        """The sender's reply about its settlement: forwarded to the payer, or refused."""
        outcome = ExchangeOutcome.REFUSED if why is not None else ExchangeOutcome.FORWARDED
        reply = self._reply(instruction.settlement_id, instruction.sender_code, None, outcome,
                            now, why=why, providers=() if why is not None
                            else (instruction.payer_code,))
        return self._reply_row(source, 1, reply)

    async def _decide_settlement(self, conn: asyncpg.Connection,
                                 instruction: SettlementInstruction
                                 ) -> tuple[SettleDecision, str | None]:
        kind, value = number_key(instruction.sender_code, instruction.member)
        key = (kind, store.index_of(self.keyring, kind, value))
        found = await store.persons_by_number(conn, [key])
        relay_id = found.get(key)
        person = chain = None
        if relay_id is not None:
            person = (await store.persons(conn, [relay_id])).get(relay_id)
            chain = await store.settlement_chain(conn, relay_id, instruction.period,
                                                 instruction.payer_code,
                                                 instruction.benefit.value)
        settle = Settle(instruction.sender_code, instruction.payer_code,
                        instruction.benefit.value, period_span(instruction.period),
                        instruction.base_date, instruction.corrects,
                        instruction.nothing_due)
        return decide_settlement(settle, key, person, self.policy, chain), relay_id

    def _inbox_copy(self, relay_id: str, step: str, key: tuple, occasion: UUID | None) -> UUID:
        """The person's copy id of a notice about `key`: the first benefit_due and the lapse
        reminder by their step alone, a withdrawal and a benefit due again by the settlement
        that occasioned it too (each can happen more than once)."""
        parts = (relay_id, *key, step, *((occasion,) if occasion else ()))
        notice = uuid5(UUID(int=2), "|".join(str(k) for k in parts))
        return notice_copy_id(self.keyring, notice, "person")

    def _inbox_row(self, relay_id: str, step: str, key: tuple, base_date: date,
                   deadline: date, now: datetime, body: dict, occasion: UUID | None = None,
                   refers_to: UUID | None = None) -> tuple:
        copy = self._inbox_copy(relay_id, step, key, occasion)
        return (copy, relay_id, SETTLEMENT_RULE, step, base_date, deadline, refers_to, now,
                json.dumps({"role": "person", "about_self": True, **body}, sort_keys=True))

    async def _notify_person(self, conn: asyncpg.Connection, relay_id: str,
                             instruction: SettlementInstruction, now: datetime) -> None:
        """On the first settlement of a (person, period, payer, benefit), the person's inbox
        is told the benefit is due, whom to apply to and when the right lapses; no amount. A
        delta bringing the payer's total to 0 (`nothing_due`) withdraws that notice (told, the
        lapse reminder cancelled); a settlement after a withdrawal makes it due again."""
        lapse = lapses_on(instruction.base_date)
        key = (instruction.period, instruction.payer_code, instruction.benefit.value)
        first_due = self._inbox_copy(relay_id, "benefit_due", key, None)
        about = {"benefit": instruction.benefit.value, "payer": instruction.payer_code,
                 "period": instruction.period}
        if instruction.nothing_due:
            if await store.withdraw_settlement_notice(conn, relay_id, *key):
                await store.deliver_inbox(conn, [self._inbox_row(
                    relay_id, "benefit_withdrawn", key, instruction.base_date, lapse, now,
                    about, occasion=instruction.settlement_id, refers_to=first_due)])
            return
        told = await store.settlement_notice_due(
            conn, relay_id, *key, instruction.base_date, lapse, lapse - REMIND_BEFORE)
        if told is None:
            return
        first, last = period_span(instruction.period)
        again = told == "again"
        await store.deliver_inbox(conn, [self._inbox_row(
            relay_id, "benefit_due", key, instruction.base_date, lapse, now,
            {**about, "apply_to": instruction.payer_code, "period_from": first.isoformat(),
             "period_to": last.isoformat(), "lapses_on": lapse.isoformat()},
            occasion=instruction.settlement_id if again else None,
            refers_to=first_due if again else None)])

    async def _lapse_reminders(self, conn: asyncpg.Connection, step: ClockAdvanced) -> None:
        """The persons whose right to a 合算 benefit lapses within `REMIND_BEFORE` of this
        relay date (in Japan), reminded in their inbox once (the reminder marked sent with it)."""
        due = await store.reminders_due(conn, step.relay_time.astimezone(JST).date())
        rows = []
        for r in sorted(due, key=lambda r: (r["relay_id"], r["period"], r["payer_code"],
                                            r["benefit"])):
            key = (r["period"], r["payer_code"], r["benefit"])
            rows.append(self._inbox_row(
                r["relay_id"], "lapse_reminder", key, r["base_date"], r["lapses_on"],
                step.relay_time, {"benefit": r["benefit"], "payer": r["payer_code"],
                                  "apply_to": r["payer_code"], "period": r["period"],
                                  "lapses_on": r["lapses_on"].isoformat()}))
        await store.deliver_inbox(conn, rows)
