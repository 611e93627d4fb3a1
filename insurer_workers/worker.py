"""An insurer's worker: reads only its own topics as its own principal, answers the requests the
relay routes to it from its own member store, and keeps its own record of what it asked and
answered (each member asked about, the provider's end of the access log) and of the change
notices it received.

Relay time is read from the relay clock's topic (ticks verified by the clock's signature); the
worker never uses its own wall clock to judge a deadline. An answer is produced, then the request
is remembered (replay memory until its deadline) in the insurer's own schema: a crash between the
two answers the request again, which the relay ignores (each item is answered once); a replay
after that is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid5

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.heads import MAX_AHEAD, Seen, cosigned, judge
from access_log.months import head_origin
from access_log.verifier import RELAY_TIME as RELAY_TIME_TEXT
from access_log.verifier import HeadRefused, parse_note, verify_head
from groundfloor import faults
from groundfloor.config import StackConfig
from groundfloor.kafka_clients import (
    Drain,
    KafkaLogin,
    idempotent_producer,
    processor_consumer,
    reader,
)
from groundfloor.metrics import ProcessorMetrics
from groundfloor.outages import is_outage
from insurer_workers import member_store, receipt_store
from insurer_workers.receipt_letters import refusal_letter
from insurer_workers.receipt_store import REFUSAL_CODES as RECEIPT_REFUSALS
from schemas import MessageRejected, RelayTick, decode_relay, encode
from schemas.access_log import HeadCosignature, TreeHeadForWitness, refusal_text
from schemas.base import JST
from schemas.codec import load_json
from schemas.exchange import (
    AnswerItem,
    ExchangeAnswer,
    ExchangeReply,
    ExchangeRequest,
    MemberNumber,
    RoutedRequest,
    item_id,
    routed_id,
)
from schemas.exchange_terms import DataCategory, ExchangeOutcome, Purpose
from schemas.notices import ChangeNotice
from schemas.receipts import ReceiptRecord
from schemas.relay import MAX_SEALED_BYTES, Reason, ReasonCode
from schemas.settlements import RoutedSettlement, SettlementBenefit, SettlementInstruction
from schemas.topics import (
    ACCESS_LOG_COSIGNATURE,
    EXCHANGE_ANSWER,
    EXCHANGE_REQUEST,
    EXCHANGE_SETTLEMENT,
    RELAY_CLOCK,
    Namespace,
    Topic,
    participant_topics,
    receipts_topics,
    settlements_topic,
)
from trust.directory import Signers
from trust.encryption_keys import EncryptionKey, PublicKeyDirectory, load_private_key
from trust.keys import RecordSigner, participant_signer
from trust.notice_sealing import open_notice
from trust.number_sealing import (
    open_answer,
    open_number,
    open_settlement_amount,
    open_settlement_number,
    seal_answer,
    seal_settlement_amount,
)
from trust.pki import RELAY_ACCESS_LOG, RELAY_EXCHANGE, Participant
from trust.pki import RELAY_CLOCK as CLOCK_SIGNER
from trust.sealing import NotOpened
from trust.signing import signed_by, verifies

log = logging.getLogger("shaho.insurer")


@dataclass(frozen=True)
class InsurerIdentity:
    """What one insurer holds: its code and role, its broker login, its signing key and its
    encryption key (the private half never leaves this process)."""

    code: str
    role: str
    kafka: KafkaLogin
    signer: RecordSigner
    decryption_key: ec.EllipticCurvePrivateKey


REFUSALS = ("bad_signature", "not_addressed_here", "expired", "replayed", "tampered_number",
            "not_opened", "head_refused", "bad_record_signature")
"""The worker's refusals (requests, settlements and heads), as its metrics count them."""
SET_ASIDE = ("unreadable", *RECEIPT_REFUSALS, *ReasonCode)
"""Why the worker sets a record aside: a receipt to its dead-letter topic by its reason, any
other record it cannot read skipped as `unreadable`."""


def worker_metrics() -> ProcessorMetrics:
    return ProcessorMetrics("insurer-worker", dead_letter_reasons=SET_ASIDE,
                            refusal_reasons=REFUSALS)


@dataclass
class WorkerCounts:
    """What the worker did, by kind (codes only), counted in its metrics too: refusals
    (`refused:`, `settlement_refused:`, `head_refused`) and what it set aside
    (`receipt_refused:`, `unreadable`)."""

    counts: dict[str, int] = field(default_factory=dict)
    metrics: ProcessorMetrics = field(default_factory=worker_metrics)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n
        kind, _, why = what.partition(":")
        if kind in ("refused", "settlement_refused"):
            self.metrics.refused(why, n)
        elif kind == "head_refused":
            self.metrics.refused(why or kind, n)
        elif kind == "receipt_refused":
            self.metrics.dead_letter(why, n)
        elif kind in ("unreadable", "forged_tick"):
            self.metrics.dead_letter(kind, n)


def answer_for(category: DataCategory, periods: list[member_store.MemberPeriod],
               benefits: list[Any]) -> dict[str, Any]:
    """The answer's content for `category` from the insurer's own records of the member."""
    if not periods:
        return {"status": "not_covered"}
    body: dict[str, Any] = {"status": "covered", "periods": [
        {"valid_from": p.valid_from.isoformat(),
         "valid_to": p.valid_to.isoformat() if p.valid_to else None,
         "capacity": p.capacity} for p in periods]}
    if category is DataCategory.INCOME_CATEGORY:
        body["income_category"] = periods[-1].income_category
    elif category in (DataCategory.SELF_PAY_AMOUNTS, DataCategory.BENEFITS_PAID,
                      DataCategory.PENSION_BENEFITS):
        body["self_pay_yen"] = sum(b.self_pay_yen for b in benefits)
        body["benefit_yen"] = sum(b.benefit_yen for b in benefits)
        body["months"] = len({b.month for b in benefits})
    return body


ANSWER_LIMIT = MAX_SEALED_BYTES - 1_000
"""The most bytes of answer JSON sealed: what sealing adds stays under MAX_SEALED_BYTES."""
SETTLEMENT_OUTCOMES = (ExchangeOutcome.FORWARDED, ExchangeOutcome.REFUSED)
"""The relay's replies about a settlement: forwarded to its payer, or refused (with a reason)."""


def with_receipts(body: dict[str, Any], scheme: str,
                  found: list[dict[str, Any]]) -> dict[str, Any]:
    """The 合算 answer (docs/reconciliation.md): the covered answer with the member's standing
    receipts (medical) or months of care self-pay (care); one too large to seal whole says so
    (`too_large`) and carries none, so the asker holds the household back rather than settle
    on a part."""
    full = {**body, "receipts" if scheme == "medical" else "care": found}
    if len(json.dumps(full, sort_keys=True).encode()) <= ANSWER_LIMIT:
        return full
    return {**body, "too_large": True}


class InsurerWorker:
    """One insurer's worker over its own topics and member store."""

    def __init__(self, me: InsurerIdentity, pool: asyncpg.Pool, signers: Signers,
                 namespace: Namespace) -> None:
        self.me, self.pool, self.signers, self.namespace = me, pool, signers, namespace
        requests, replies, changes, heads = participant_topics(me.code)
        self.requests_topic, self.replies_topic = requests.name, replies.name
        self.changes_topic, self.heads_topic = changes.name, heads.name
        receipts, dead = receipts_topics(me.code)
        self.receipts_topic, self.receipts_dlq = receipts, dead
        self.settlements_topic = settlements_topic(me.code)
        self.relay_time: datetime | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.done = WorkerCounts()

    @property
    def group(self) -> str:
        return f"{self.me.role}.{self.me.code}.worker"

    async def start(self) -> None:
        """Own topics from the group's committed offsets; the clock from its last tick, so a
        restarted worker knows the relay time before the next tick."""
        async with self.pool.acquire() as conn:  # tables added since the store was filled
            await member_store.create_store(conn, self.me.code)
        self.consumer = processor_consumer(self.me.kafka, self.group)
        await self.consumer.start()
        ns = self.namespace
        existing = await self.consumer.topics()  # receipts, settlements: only where made
        optional = (self.receipts_topic, self.settlements_topic)
        mine = [*participant_topics(self.me.code), *optional]
        own = [TopicPartition(ns.physical(t), p) for t in mine
               if t not in optional or ns.physical(t) in existing
               for p in range(t.partitions)]
        clock = TopicPartition(ns.physical(RELAY_CLOCK), 0)
        self.consumer.assign([*own, clock])
        for tp in own:
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
        end = (await self.consumer.end_offsets([clock]))[clock]
        self.consumer.seek(clock, end)
        self.relay_time = await relay_now(self.me, ns, self.signers)
        self.producer = idempotent_producer(self.me.kafka, linger_ms=2)
        await self.producer.start()

    async def stop(self) -> None:
        for client in (self.consumer, self.producer):
            if client is not None:
                await client.stop()

    async def run(self, stop: asyncio.Event, idle_exit: float | None = None) -> None:
        assert self.consumer is not None
        drain = Drain(self.consumer, idle_exit) if idle_exit is not None else None
        while not stop.is_set():
            fetched = await self.consumer.getmany(timeout_ms=200, max_records=200)
            records = [r for batch in fetched.values() for r in batch]
            if records and await self.handle(records):
                faults.reached("insurer.before-commit")  # the batch read again: replays
                await self.consumer.commit()
                self._count(records)
                if drain is not None:
                    drain.moved()
            elif drain is not None and await drain.done():
                return

    def _count(self, records: list[ConsumerRecord]) -> None:
        """The metrics of a batch handled and committed (the clock's ticks are no input)."""
        clock = self.namespace.physical(RELAY_CLOCK)
        taken = [r.timestamp for r in records if r.topic != clock]
        if taken:
            self.done.metrics.committed(len(taken), 0, taken)

    async def handle(self, records: list[ConsumerRecord]) -> bool:
        """Ticks first (the relay time the batch is judged at), then each record in turn;
        False (nothing handled, the records to be read again) before the first tick."""
        clock = self.namespace.physical(RELAY_CLOCK)
        for record in records:
            if record.topic == clock:
                self._tick(record)
        if self.relay_time is None:  # no relay time yet: nothing can be judged; read again
            assert self.consumer is not None
            first: dict[TopicPartition, int] = {}
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                first[tp] = min(r.offset, first.get(tp, r.offset))
            for tp, offset in first.items():
                if tp.topic != clock:
                    self.consumer.seek(tp, offset)
            return False
        for record in records:
            if record.topic == clock:
                continue
            topic = self.namespace.logical(record.topic)
            try:
                with self.done.metrics.transaction():
                    await self._one(topic, record)
            except Exception as failure:  # whatever a record holds; outages stop the worker
                if is_outage(failure):
                    raise
                self.done.add("unreadable")
                log.warning("%s[%d]@%d set aside (%s)", record.topic, record.partition,
                            record.offset, type(failure).__name__)
        async with self.pool.acquire() as conn:  # past their deadline they are refused anyway
            await member_store.forget_expired(conn, self.me.code, self.relay_time)
        return True

    async def _one(self, topic: str, record: ConsumerRecord) -> None:
        """One record of the insurer's topics, by the topic it came on."""
        if topic == self.requests_topic:
            await self._routed(record)
        elif topic == self.changes_topic:
            await self._notice(record)
        elif topic == self.heads_topic:
            await self._head(record)
        elif topic == self.receipts_topic.name:
            await self._receipt(record)
        elif topic == self.settlements_topic.name:
            await self._settlement(record)
        else:
            await self._reply(record)

    def _signed_by(self, record: ConsumerRecord, who: tuple[str, str]) -> bool:
        found = signed_by(record.headers)
        if found is None or (found[0].role, found[0].code) != who:
            return False
        certified = self.signers.lookup(found[0])
        return certified is not None and verifies(
            certified.public_key, found[1], self.namespace.logical(record.topic), record.key,
            record.value)

    def _tick(self, record: ConsumerRecord) -> None:
        if not self._signed_by(record, CLOCK_SIGNER):
            self.done.add("forged_tick")
            return
        try:
            tick = decode_relay(bytes(record.value or b""), RelayTick)
        except MessageRejected:
            self.done.add("forged_tick")
            return
        if self.relay_time is None or tick.relay_time > self.relay_time:
            self.relay_time = tick.relay_time

    async def _routed(self, record: ConsumerRecord) -> None:
        if not self._signed_by(record, RELAY_EXCHANGE):
            self.done.add("refused:bad_signature")
            return
        routed = decode_relay(bytes(record.value or b""), RoutedRequest)
        if routed.provider_code != self.me.code:
            self.done.add("refused:not_addressed_here")
            return
        if self.relay_time is None or self.relay_time >= routed.deadline:
            self.done.add("refused:expired")
            await self._record("answered", routed, "expired", {})
            return
        async with self.pool.acquire() as conn:
            if await member_store.was_seen(conn, self.me.code, routed.routed_id):
                self.done.add("refused:replayed")
                return
        asker_key = serialization.load_der_public_key(routed.asker_key)
        if not isinstance(asker_key, ec.EllipticCurvePublicKey):
            raise ValueError("the asker's key is no P-256 key")
        items, found, accesses = [], 0, []
        async with self.pool.acquire() as conn:
            for item in routed.items:
                number: str | None = None
                try:
                    number = open_number(item.sealed_number, self.me.decryption_key,
                                         routed.routed_id, item.item_id, self.me.code,
                                         routed.purpose.value)
                except NotOpened:
                    self.done.add("refused:tampered_number")
                    body: dict[str, Any] = {"status": "refused", "reason": "tampered_number"}
                else:
                    body = await self._look_up(conn, routed, number)
                    found += body["status"] == "covered"
                accesses.append(member_store.MemberAccess(
                    item.item_id, routed.routed_id, number, routed.asker_code,
                    routed.scheme.value, routed.category.value, routed.purpose.value,
                    routed.policy_row, self.relay_time, str(body["status"])))
                items.append(AnswerItem(item_id=item.item_id, sealed_answer=seal_answer(
                    json.dumps(body, sort_keys=True).encode(), asker_key, routed.request_id,
                    item.item_id, routed.asker_code, self.me.code)))
        answer = ExchangeAnswer(routed_id=routed.routed_id, provider_code=self.me.code,
                                items=items)
        key, value = answer.kafka_key(), encode(answer)
        assert self.producer is not None
        await self.producer.send_and_wait(
            self.namespace.physical(EXCHANGE_ANSWER), value, key=key,
            headers=self.me.signer.headers(EXCHANGE_ANSWER.name, key, value))
        faults.reached("insurer.after-answer")  # answered, not remembered: answered again
        self.done.metrics.records_out.inc()
        async with self.pool.acquire() as conn, conn.transaction():
            await member_store.record_accesses(conn, self.me.code, accesses)
            await member_store.remember_request(conn, self.me.code, routed.routed_id,
                                                routed.deadline)
        await self._record("answered", routed, "answered",
                           {"items": len(items), "covered": found})
        self.done.add("answered", len(items))

    async def _look_up(self, conn: asyncpg.Connection, routed: RoutedRequest,
                       number: str) -> dict[str, Any]:
        period: tuple[date, date] | None = None
        if routed.period_from is not None and routed.period_to is not None:
            period = (routed.period_from, routed.period_to)
        periods = await member_store.lookup(conn, self.me.code, number, on=routed.as_of,
                                            period=period)
        benefits: list[Any] = []
        if periods and routed.category is not DataCategory.QUALIFICATION:
            span = period or (routed.as_of, routed.as_of)  # type: ignore[assignment]
            benefits = await member_store.benefits_of(conn, self.me.code, number, span)
        body = answer_for(routed.category, periods, benefits)
        if (periods and period is not None and routed.purpose is Purpose.COMBINED_HIGH_COST
                and routed.category is DataCategory.SELF_PAY_AMOUNTS):
            found = await receipt_store.answer_receipts(conn, self.me.code, number,
                                                        routed.scheme.value, periods, period)
            body = with_receipts(body, routed.scheme.value, found)
        return body

    async def _reply(self, record: ConsumerRecord) -> None:
        reply = decode_relay(bytes(record.value or b""), ExchangeReply)
        if reply.asker_code != self.me.code:
            self.done.add("reply_not_ours")
            return
        detail: dict[str, Any] = {"entry": reply.entry, "provider": reply.provider_code,
                                  "providers": reply.providers,
                                  "reason": reply.reason.value if reply.reason else None}
        if reply.outcome is ExchangeOutcome.ANSWERED and reply.sealed_answer is not None:
            assert reply.provider_code is not None and reply.entry is not None
            item = item_id(routed_id(reply.asker_code, reply.request_id, reply.provider_code),
                           reply.entry)
            body, problems = load_json(open_answer(
                reply.sealed_answer, self.me.decryption_key, reply.request_id, item,
                self.me.code, reply.provider_code), MAX_SEALED_BYTES)
            if problems or not isinstance(body, dict):  # the provider's bytes: bounded, checked
                self.done.add("answer_unreadable")
                detail["answer_unreadable"] = True
            else:
                detail["answer"] = body
        self.done.add(f"reply:{reply.outcome.value}")
        async with self.pool.acquire() as conn, conn.transaction():
            new = await member_store.record_exchange(
                conn, self.me.code, "asked", reply.reply_id, reply.request_id,
                reply.provider_code or "relay", None, None, None, reply.outcome.value,
                reply.relay_time, detail)
            if new and reply.entry is None and reply.outcome in SETTLEMENT_OUTCOMES:
                # about a whole request or one of the insurer's settlements (request_id is
                # then its settlement id): the ledger row, if it is one, learns the outcome
                refused = reply.reason.value if reply.reason else "refused"
                if await member_store.settlement_answered(
                        conn, self.me.code, reply.request_id,
                        refused if reply.outcome is ExchangeOutcome.REFUSED else None):
                    self.done.add(f"settlement_{reply.outcome.value}")

    async def _notice(self, record: ConsumerRecord) -> None:
        """A change notice: opened with the insurer's own key, kept once in its own record
        with whether the number it names is one of its members (what the insurer then does
        with it is its own business)."""
        notice = decode_relay(bytes(record.value or b""), ChangeNotice)
        if notice.recipient_code != self.me.code:
            self.done.add("notice_not_ours")
            return
        content = open_notice(notice, self.changes_topic, record.key, self.me.decryption_key)
        async with self.pool.acquire() as conn:
            known = bool(await member_store.lookup(conn, self.me.code, content.member_number))
            if await member_store.record_notice(
                    conn, self.me.code, notice.notice_id, notice.kind.value,
                    notice.effective_date, notice.scheme.value if notice.scheme else None,
                    notice.insurer_code, notice.relay_time, known):
                self.done.add(f"notice:{notice.kind.value}")

    async def _settlement(self, record: ConsumerRecord) -> None:
        """A settlement of the 合算 to pay: the relay's signature checked, the number and the
        amount opened with the insurer's own key, kept once per settlement id with whether
        the number is one of its members (paying it, on the person's application, is the
        insurer's own business)."""
        if not self._signed_by(record, RELAY_EXCHANGE):
            self.done.add("settlement_refused:bad_signature")
            return
        routed = decode_relay(bytes(record.value or b""), RoutedSettlement)
        if routed.payer_code != self.me.code:
            self.done.add("settlement_refused:not_addressed_here")
            return
        try:
            number = open_settlement_number(routed.sealed_number, self.me.decryption_key,
                                            routed.settlement_id, self.me.code)
            amount = open_settlement_amount(routed.sealed_amount, self.me.decryption_key,
                                            routed.settlement_id, routed.sender_code,
                                            self.me.code)
        except NotOpened:
            self.done.add("settlement_refused:not_opened")
            return
        async with self.pool.acquire() as conn:
            known = bool(await member_store.lookup(conn, self.me.code, number))
            kept = await member_store.record_settlement(conn, self.me.code, member_store.Settlement(
                routed.settlement_id, routed.sender_code, routed.period, routed.base_date,
                routed.benefit.value, number, amount.amount_yen, amount.total_yen,
                routed.corrects, routed.relay_time, known))
        self.done.add("settlement" if kept else "settlement_again")

    async def _receipt(self, record: ConsumerRecord) -> None:
        """One of the insurer's own receipts: decoded, judged against its store and the relay
        clock's date and stored in one transaction, or set aside to its dead-letter topic
        with the reason, sealed to its own key. The same receipt read again is a duplicate:
        a restart before the offsets were committed changes nothing."""
        assert self.relay_time is not None
        try:
            receipt = decode_relay(bytes(record.value or b""), ReceiptRecord)
        except MessageRejected as rejected:
            await self._refuse_receipt(record, rejected.reasons[0])
            return
        async with self.pool.acquire() as conn, conn.transaction():
            done = await receipt_store.load(conn, self.me.code, receipt,
                                            self.relay_time.astimezone(JST).date())
        if isinstance(done, receipt_store.Refused):
            await self._refuse_receipt(record, Reason(code=done.code, field=done.field,
                                                      message=done.message))
        else:
            self.done.add(f"receipt:{done}")

    async def _refuse_receipt(self, record: ConsumerRecord, reason: Reason) -> None:
        letter = refusal_letter(self.me.code, self.me.decryption_key.public_key(), record,
                                reason)
        key, value = letter.kafka_key(), encode(letter)
        assert self.producer is not None
        await self.producer.send_and_wait(self.namespace.physical(self.receipts_dlq), value,
                                          key=key)
        self.done.metrics.records_out.inc()
        self.done.add(f"receipt_refused:{reason.code}")

    async def _head(self, record: ConsumerRecord) -> None:
        """Witness an access log's head: cosign it with the insurer's own key when the relay
        signed it and it extends the last head of its month this insurer cosigned (the
        consistency proof checked), refuse it with why otherwise. The answer is kept first,
        with the last head it cosigned, then sent; the same head read again (a restart before
        the offsets were committed) is sent the answer kept, never judged again."""
        if not self._signed_by(record, RELAY_ACCESS_LOG):
            self.done.add("head_refused:bad_record_signature")
            return
        sent = decode_relay(bytes(record.value or b""), TreeHeadForWitness)
        if sent.witness_code != self.me.code:
            self.done.add("head_not_ours")
            return
        origin = head_origin(sent.log.value, sent.month)
        note_hash = hashlib.sha256(sent.note.encode()).digest()
        try:
            head_time = parse_note(sent.note)[0].relay_time
        except HeadRefused:  # not a head at all: kept under the time the relay sent it at
            head_time = sent.relay_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await self._catch_up(head_time)
        async with self.pool.acquire() as conn, conn.transaction():
            kept = await member_store.kept_answer(conn, self.me.code, origin, note_hash)
            if kept is None:
                last = await member_store.last_witnessed(conn, self.me.code, origin)
                cosign, reason, seen = self._judge(sent, origin, last)
                note = cosigned(sent.note, self.me.code, self.me.signer.key) if cosign \
                    else sent.note
                await member_store.record_head_answer(
                    conn, self.me.code, origin, note_hash, head_time, cosign, reason, note,
                    None if seen is None else (seen.size, seen.root, seen.relay_time))
            else:
                cosign, reason, note = kept
        answer = HeadCosignature(witness_code=self.me.code, log=sent.log, month=sent.month,
                                 note=note, refusal=None if cosign else refusal_text(reason))
        key, value = answer.kafka_key(), encode(answer)
        assert self.producer is not None
        await self.producer.send_and_wait(
            self.namespace.physical(ACCESS_LOG_COSIGNATURE), value, key=key,
            headers=self.me.signer.headers(ACCESS_LOG_COSIGNATURE.name, key, value))
        self.done.metrics.records_out.inc()
        self.done.add("head_cosigned" if cosign else "head_refused")

    async def _catch_up(self, head_time: str) -> None:
        """A head signed further ahead than the witness's relay clock allows: read the clock
        again first (its tick may not have been fetched yet), so that is no refusal."""
        if self.relay_time is None or not RELAY_TIME_TEXT.fullmatch(head_time):
            return
        try:
            at = datetime.strptime(head_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:  # no date: judged (and refused) as it is
            return
        if at > self.relay_time + MAX_AHEAD:
            now = await relay_now(self.me, self.namespace, self.signers)
            if now is not None and now > self.relay_time:
                self.relay_time = now

    def _judge(self, sent: TreeHeadForWitness, origin: str,
               last: tuple[int, bytes, str] | None) -> tuple[bool, str, Seen | None]:
        """Cosign or refuse (and why), and the last head cosigned after it; the relay's note
        checked with whichever certified key of the relay's access log signed it."""
        seen = None if last is None else Seen(*last)
        if last is not None and sent.since != last[0]:
            return False, (f"proof_from_elsewhere: the proof starts at size {sent.since}, the "
                           f"last head this witness cosigned has size {last[0]}"), seen
        keys = self.signers.keys_of(*RELAY_ACCESS_LOG)
        if not keys:
            return False, "bad_head: no certified key of the relay's access log", seen
        name = RELAY_ACCESS_LOG[1]
        signing = next((c for c in keys if _signs(sent.note, name, c.public_key)), keys[0])
        verdict = judge(sent.note, sent.consistency or None, seen, origin,
                        (name, signing.public_key), self.relay_time or sent.relay_time)
        return verdict.cosign, verdict.reason, verdict.seen

    async def _record(self, table: str, routed: RoutedRequest, outcome: str,
                      detail: dict[str, Any]) -> None:
        async with self.pool.acquire() as conn:
            await member_store.record_exchange(
                conn, self.me.code, table, uuid5(routed.routed_id, outcome), routed.request_id,
                routed.asker_code, routed.scheme.value, routed.category.value,
                routed.purpose.value, outcome, self.relay_time or routed.relay_time, detail)


async def relay_now(me: InsurerIdentity, namespace: Namespace,
                    signers: Signers) -> datetime | None:
    """The relay time of the last tick on the clock topic the relay clock signed, read with
    the insurer's own login; None before the first tick."""
    tp = TopicPartition(namespace.physical(RELAY_CLOCK), 0)
    consumer = reader(me.kafka)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, max(0, end - 20))
        last: datetime | None = None
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                found = signed_by(record.headers)
                if found is None or (found[0].role, found[0].code) != CLOCK_SIGNER:
                    continue
                certified = signers.lookup(found[0])
                if certified is None or not verifies(certified.public_key, found[1],
                                                     RELAY_CLOCK.name, record.key,
                                                     record.value):
                    continue
                try:
                    tick = decode_relay(bytes(record.value or b""), RelayTick)
                except MessageRejected:
                    continue
                last = tick.relay_time if last is None else max(last, tick.relay_time)
        return last
    finally:
        await consumer.stop()


def _signs(note: str, name: str, key: ec.EllipticCurvePublicKey) -> bool:
    try:
        verify_head(note, (name, key), {}, cosignatures=0)
    except HeadRefused:
        return False
    return True


def role_of(code: str) -> str:
    """The participant role of an insurer code: the Japan Pension Service is `pension`."""
    return "pension" if code == "JPS" else "insurer"


def identity(cfg: StackConfig, code: str, kafka: KafkaLogin) -> InsurerIdentity:
    """Insurer `code`'s identity as provisioned on this machine (its keys), logging in to the
    broker as `kafka` (its own principal, which the wiring names)."""
    participant = Participant(role_of(code), code)
    return InsurerIdentity(code, participant.role, kafka, participant_signer(cfg, participant),
                           load_private_key(cfg, participant))


async def send_request(me: InsurerIdentity, namespace: Namespace,
                       request: ExchangeRequest) -> None:
    """Sign `request` with the asker's key and put it on the exchange's request topic."""
    await send_requests(me, namespace, [request])


async def send_requests(me: InsurerIdentity, namespace: Namespace,
                        requests: list[ExchangeRequest]) -> None:
    """Sign each request with the asker's key and put them on the exchange's request topic,
    in order, through one producer."""
    if any(request.asker_code != me.code for request in requests):
        raise ValueError("an insurer asks in its own name only")
    await send_signed(me, namespace, EXCHANGE_REQUEST, requests)


async def send_signed(me: InsurerIdentity, namespace: Namespace, topic: Topic,
                      messages: list[ExchangeRequest] | list[SettlementInstruction]) -> None:
    """Sign each of `messages` with the insurer's key and put them on `topic`, in order."""
    await send_encoded(me, namespace, topic,
                       [(message.kafka_key(), encode(message)) for message in messages])


async def send_encoded(me: InsurerIdentity, namespace: Namespace, topic: Topic,
                       records: list[tuple[bytes, bytes]]) -> None:
    """Sign each (key, value) of `records` with the insurer's key and put it on `topic`, in
    order, through one producer: for messages kept encoded and sent again byte for byte."""
    producer = idempotent_producer(me.kafka, linger_ms=0)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(namespace.physical(topic), value, key=key,
                                         headers=me.signer.headers(topic.name, key, value))
    finally:
        await producer.stop()


def payer_key(cfg: StackConfig, payer: str) -> EncryptionKey:
    """The payer's public encryption key, as the relay's directory holds it: what a sender
    seals a settlement's amount for (NoEncryptionKey when the payer has none)."""
    return PublicKeyDirectory(cfg).lookup(Participant("insurer", payer))


def settlement_instruction(me: InsurerIdentity, key: EncryptionKey, *, settlement_id: UUID,
                           payer: str, period: int, base_date: date,
                           benefit: SettlementBenefit, member: MemberNumber, amount_yen: int,
                           total_yen: int, corrects: UUID | None = None
                           ) -> SettlementInstruction:
    """A settlement of the 合算 from `me` (the base-date insurer) to `payer`, its amount sealed
    for the payer's `key` (`payer_key`), `nothing_due` when it brings the total to 0 (a first
    is never 0: the ledger makes none). The sealed bytes differ on each call: a sender keeps
    the instruction it built and sends the same one again, as the relay refuses the same id
    with other bytes."""
    return SettlementInstruction(
        settlement_id=settlement_id, sender_code=me.code, payer_code=payer, period=period,
        base_date=base_date, benefit=benefit, member=member, corrects=corrects,
        sealed_amount=seal_settlement_amount(amount_yen, total_yen, key.public_key,
                                             settlement_id, me.code, payer),
        nothing_due=total_yen == 0 and corrects is not None)


async def send_settlement(me: InsurerIdentity, namespace: Namespace,
                          *instructions: SettlementInstruction) -> None:
    """Sign `instructions` with the sender's key and put them on `exchange.settlement.v1`,
    in order."""
    if any(i.sender_code != me.code for i in instructions):
        raise ValueError("an insurer instructs in its own name only")
    await send_signed(me, namespace, EXCHANGE_SETTLEMENT, list(instructions))
