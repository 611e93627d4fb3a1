"""The notifications processor (`shaho run notifications`): folds the relay-internal link,
person and milestone changes in relay-clock order and sends each due notice exactly once.

It reads relay.link-change.v2, relay.person-change.v1 and relay.age-milestone.v1 as the
`notifications` principal, every partition assigned, through a ClockedBuffer (the linker
forwards the relay clock's ticks onto them). Between ticks it folds each record into the
person's facts (`folding`); when the clock advances it judges, in this order and in chunks of
`CHUNK` persons or deadlines, each one its own transaction: the persons whose facts changed
(`casework.judge_reminder` on the reminders sent: resolved, withdrawn, corrected; their new
losses' deadlines), the monthly double-enrolment lists at 00:00 on each 1st passed, and every
deadline due on the new relay date. The positions and the clock step are stored last, so a
crash mid-step re-runs only what is left of it. Notices go to the person's inbox
(`person_inbox`) and, sealed for it, to each participant's `participant.<code>.notices.v1`
through the outbox, whose publisher writes them in Kafka transactions.

Why plain aiokafka + asyncpg and not faust: a notice, the deadline it consumes, the reminder
record that keeps it from being sent twice and the consumer positions must change together or
not at all; faust's tables are changelog topics committed apart from what an agent produces
(its own documentation calls exactly-once experimental, and open upstream reports show
duplicates after a rebalance). Pending deadlines live in a PostgreSQL table with a (due_on,
relay_id) index, measured in bench/reports/pending_deadlines.md with a million loaded: 400 MiB
of table and indexes on disk (2.56 million per GiB) against 365 MiB of a faust memory store's
RAM that grows with every deadline and is replayed from its changelog at each start (6.3 s per
million); the processor's RSS stayed flat (+2.1 MiB over 252,321 deadlines), and the heaviest
day (52,643 due) took 2.5 s in transactions of 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers import offsets
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
from groundfloor.crypto import (
    Keyring,
    Sealed,
    notice_copy_id,
    open_sealed,
    participant_pseudonym,
)
from groundfloor.kafka_clients import Drain, KafkaLogin, processor_consumer
from groundfloor.metrics import ProcessorMetrics
from groundfloor.outages import connection, is_outage
from notification_streams import casework, store
from notification_streams.casework import (
    AGE_75_CHECK,
    DOUBLE,
    MILESTONE_RULES,
    REMINDER_RULES,
    Deadline,
    Others,
    Outcome,
    Outgoing,
)
from notification_streams.folding import empty, fold, householder_of
from notification_streams.rules.double_enrolment import listed
from notification_streams.rules.facts import Anomaly, PersonFacts, contradictions, household_on
from notification_streams.rules.reminders import (
    EMPLOYEE_INSURER,
    MUNICIPALITY_NHI,
    NHI_INSURER,
    Recipient,
)
from outbox.table import OutboxRow, insert_rows, wake_publisher
from relay_clock.ticks import authentic, is_tick_record
from relay_linker.business_days import election_due
from relay_linker.domain.milestones import relay_date
from schemas import MessageRejected, Reason, RelayTick, decode_relay, encode
from schemas.internal import AgeMilestone, AgeMilestoneReached, LinkChangedV2, PersonChanged
from schemas.notices import NoticeRule, NoticeStep, RecipientRole
from schemas.topics import (
    AGE_MILESTONE,
    FORWARDED_TICK_TOPICS,
    LINK_CHANGE_V2,
    PARTITIONS,
    PERSON_CHANGE,
    RELAY_CLOCK,
    Namespace,
    notices_topic,
)
from trust.encryption_keys import NoEncryptionKey, PublicKeys
from trust.notice_sealing import seal_relay_notice
from trust.pki import Participant

log = logging.getLogger("shaho.notifications")
GROUP = "notifications"
BATCH = 500
CHUNK = 500
"""Persons or deadlines judged per transaction when the clock advances: a fixed number, so the
notices and their order do not depend on how the records were fetched."""
MODELS: dict[str, type[LinkChangedV2 | PersonChanged | AgeMilestoneReached]] = {
    LINK_CHANGE_V2.name: LinkChangedV2, PERSON_CHANGE.name: PersonChanged,
    AGE_MILESTONE.name: AgeMilestoneReached}
MILESTONES = {AgeMilestone.AGE_65: casework.MILESTONE_RULES[0],
              AgeMilestone.AGE_75: casework.MILESTONE_RULES[1]}
ANOMALIES = uuid5(NAMESPACE_URL, "urn:shaho-relay:notification-streams:anomalies")
ROLES = {MUNICIPALITY_NHI: RecipientRole.MUNICIPALITY_NHI,
         EMPLOYEE_INSURER: RecipientRole.EMPLOYEE_INSURER, NHI_INSURER: RecipientRole.NHI_INSURER}
REASONS = {
    "malformed": "the record is not a valid message of its topic",
    "forged_tick": "a record marked as a relay clock tick that the relay clock did not sign",
    "processing_failed": "the notifications processor could not process it",
}
UNDELIVERED: Counter[str] = Counter()
"""Participant copies not made, by reason (no encryption key, no number known), for metrics."""


@dataclass(frozen=True)
class Incoming:
    """A consumed record other than a tick: its message, or why it is not one."""

    record: ConsumerRecord
    message: LinkChangedV2 | PersonChanged | AgeMilestoneReached | None
    problem: str | None = None


class Decoder:
    """Ticks (authenticated by the clock key's MAC) from messages; anything else a dead letter."""

    def __init__(self, namespace: Namespace, keyring: Keyring) -> None:
        self.namespace, self.keyring = namespace, keyring

    def __call__(self, record: ConsumerRecord) -> Tick | Incoming:
        try:
            raw = bytes(record.value or b"")
            if is_tick_record(record.headers):
                try:
                    tick = decode_relay(raw, RelayTick)
                except MessageRejected:
                    return Incoming(record, None, "forged_tick")
                if not authentic(self.keyring, tick):
                    return Incoming(record, None, "forged_tick")
                return Tick(tick.seq, tick.relay_time)
            model = MODELS[self.namespace.logical(record.topic)]
            try:
                return Incoming(record, decode_relay(raw, model))
            except MessageRejected:
                return Incoming(record, None, "malformed")
        except Exception as failure:
            if is_outage(failure):
                raise
            log.error("%s[%d]@%d undecodable (%s)", record.topic, record.partition,
                      record.offset, type(failure).__name__)
            return Incoming(record, None, "malformed")


@dataclass
class Tally:
    """What the processor did, for the caller, the demo and the tests."""

    folded: int = 0
    dead_letters: int = 0
    notices: Counter[str] = field(default_factory=Counter)  # "<rule>:<step>"
    copies: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)


def firsts_between(after: date, upto: date) -> list[date]:
    """Every 1st of a month in (after, upto]: the days a monthly list is taken."""
    found = []
    day = date(after.year, after.month, 1)
    while True:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        if day > upto:
            return found
        found.append(day)


class NotificationsProcessor:
    """Consumes the relay-internal feeds; keeps facts, deadlines and notices in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool, keyring: Keyring, addressees: PublicKeys,
                 kafka: KafkaLogin, namespace: Namespace, group: str = GROUP,
                 batch: int = BATCH, chunk: int = CHUNK) -> None:
        self.pool, self.keyring, self.addressees = pool, keyring, addressees
        self.kafka, self.namespace, self.group = kafka, namespace, group
        self.batch, self.chunk = batch, chunk
        self.consumer: AIOKafkaConsumer | None = None
        self.buffer: ClockedBuffer[Incoming] | None = None
        self.tally = Tally()
        self.metrics = ProcessorMetrics("notifications",
                                        dead_letter_reasons=[*REASONS, "malformed"])

    async def start(self) -> None:
        self.metrics.pending_deadlines.set(await store.pending_deadlines(self.pool))
        self.consumer = processor_consumer(self.kafka, self.group)
        await self.consumer.start()
        partitions = sorted(TopicPartition(self.namespace.physical(t), p)
                            for t in FORWARDED_TICK_TOPICS for p in range(t.partitions))
        self.buffer = await resume(self.consumer, self.pool, self.group, partitions,
                                   Decoder(self.namespace, self.keyring))

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
        """Records between clock steps fold in one transaction; each clock step is judged in
        chunks, then stored with the positions (`_advance`); Kafka offsets follow."""
        run: list[Released[Incoming]] = []
        for step in steps:
            if isinstance(step, ClockAdvanced):
                if run:
                    await self._fold(run)
                    run = []
                await self._advance(step)
            else:
                run.append(step)
        if run:
            await self._fold(run)
        await self.consumer.commit(positions_of(steps))  # type: ignore[union-attr]

    # -- folding ---------------------------------------------------------------------------

    async def _fold(self, steps: list[Released[Incoming]]) -> None:
        try:
            await self._fold_transaction(steps)
        except Exception as exc:
            if is_outage(exc):
                raise
            log.error("fold of %d records failed (%s); retrying one by one", len(steps),
                      type(exc).__name__)
            for step in steps:
                try:
                    await self._fold_transaction([step])
                except Exception as failure:
                    if is_outage(failure):
                        raise
                    await self._fold_transaction([step], failed=True)

    async def _fold_transaction(self, steps: list[Released[Incoming]],
                                failed: bool = False) -> None:
        dead: list[str] = []
        with self.metrics.transaction():
            made = await self._fold_commit(steps, failed, dead)
        self.metrics.committed(len(steps), made, (s.item.record.timestamp for s in steps))
        for why in dead:
            self.metrics.dead_letter(why)

    async def _fold_commit(self, steps: list[Released[Incoming]], failed: bool,
                           dead: list[str]) -> int:
        """The fold of `steps` in one transaction; the outbox rows it made. `dead` gets the
        reason of each dead letter."""
        positions = positions_of(steps)
        async with connection(self.pool) as conn, conn.transaction():
            stored = await offsets.lock(conn, self.group, sorted(positions))
            fresh = [s for s in steps
                     if s.offset >= stored.get(TopicPartition(s.topic, s.partition), 0)]
            ids = {s.item.message.relay_id for s in fresh if s.item.message is not None}
            facts = await store.load_facts(conn, ids)
            changed: dict[str, PersonFacts] = {}
            deadlines: list[Deadline] = []
            anomalies: list[tuple[UUID, Anomaly]] = []
            rows: list[OutboxRow] = []
            for s in fresh:
                message = s.item.message
                if failed or message is None:
                    dead.append("processing_failed" if failed else s.item.problem or "malformed")
                    rows.append(self._dead(s, dead[-1]))
                    continue
                if isinstance(message, AgeMilestoneReached):
                    rule = MILESTONES.get(message.milestone)
                    if rule is not None:
                        deadlines.append(Deadline(message.relay_id, rule, message.milestone_on,
                                                  message.milestone_on))
                    continue
                rid = message.relay_id
                before = changed.get(rid) or facts.get(rid) or empty(rid)
                after, anomaly = fold(before, message)
                changed[rid] = after
                self.tally.folded += 1
                if anomaly is not None:
                    anomalies.append((self._anomaly_id(s, anomaly), anomaly))
            people = [changed[k] for k in sorted(changed)]
            for person in people:
                anomalies += [(uuid5(ANOMALIES, f"{person.relay_id}:{a.code}:{a.detail}:"
                                     f"{person.folded.person_version}"), a)
                              for a in contradictions(person)]
            await store.save_facts(conn, people)
            await store.index(conn, people, {p.relay_id for p in people
                                             if casework.overlap_candidate(p)})
            await store.add_deadlines(conn, deadlines)
            if fresh:
                await store.record_anomalies(conn, anomalies, fresh[-1].relay_time)
            for _, a in anomalies:
                self.tally.anomalies[a.code] += 1
            await insert_rows(conn, rows)
            await offsets.save(conn, self.group, positions)
            if rows:
                await wake_publisher(conn)
        return len(rows)

    def _anomaly_id(self, step: Released[Incoming], anomaly: Anomaly) -> UUID:
        where = f"{self.namespace.logical(step.topic)}:{step.partition}:{step.offset}"
        return uuid5(ANOMALIES, f"{where}:{anomaly.code}")

    def _dead(self, step: Released[Incoming], why: str) -> OutboxRow:
        record = step.item.record
        self.tally.dead_letters += 1
        log.warning("%s[%d]@%d to its dead-letter topic: %s", record.topic, record.partition,
                    record.offset, why)
        letter = dead_letter(self.keyring, record,
                             Reason(code=why, field=None, message=REASONS.get(why, why)), None)
        topic, key, value = dlq_record(letter, self.namespace)
        where = f"{self.namespace.logical(record.topic)}:{record.partition}:{record.offset}"
        source = (self.namespace.logical(record.topic), record.partition, record.offset)
        return OutboxRow.keyed(uuid5(ANOMALIES, f"dead:{where}"), source, 0, topic,
                               PARTITIONS, key, value)

    # -- the clock advances ----------------------------------------------------------------

    async def _advance(self, step: ClockAdvanced) -> None:
        """Judge the changed persons, the lists due and the deadlines due on the new relay
        date, a chunk per transaction, each one re-checking that this step is not applied yet
        (a second instance, or a restart, finishes what is left); then store the step."""
        today = relay_date(step.relay_time)
        while await self._chunk(step, self._judge_changed, today):
            pass
        await self._chunk(step, self._take_lists, today)
        while await self._chunk(step, self._judge_due, today):
            pass
        positions = {TopicPartition(*w): p.next_offset for w, p in step.positions.items()}
        async with connection(self.pool) as conn, conn.transaction():
            await offsets.lock(conn, self.group, sorted(positions))
            if await offsets.lock_clock(conn, self.group) < step.epoch:
                await offsets.save(conn, self.group, positions)
                await offsets.save_clock(conn, self.group, step.epoch, step.relay_time)
        self.metrics.pending_deadlines.set(await store.pending_deadlines(self.pool))

    async def _chunk(self, step: ClockAdvanced, work: Any, today: date) -> bool:
        """One transaction of `work`; False when it found nothing left to do."""
        rows: list[OutboxRow] = []
        with self.metrics.transaction():
            more = await self._chunk_commit(step, work, today, rows)
        self.metrics.records_out.inc(len(rows))
        return more

    async def _chunk_commit(self, step: ClockAdvanced, work: Any, today: date,
                            rows: list[OutboxRow]) -> bool:
        async with connection(self.pool) as conn, conn.transaction():
            if await offsets.lock_clock(conn, self.group) >= step.epoch:
                return False
            more = await work(conn, step, today, rows)
            await insert_rows(conn, rows)
            if rows:
                await wake_publisher(conn)
            return more

    async def _others(self, conn: asyncpg.Connection, people: Sequence[PersonFacts],
                      extra: Sequence[str] = ()) -> tuple[dict[str, PersonFacts], Others]:
        """The facts a chunk may read of other persons: the members of its persons'
        households, their insured persons, spouses and `extra`; and how to find a householder."""
        keys = {h.household_token_key for p in people for h in p.households}
        by_key = await store.members(conn, keys)
        wanted = {i for ids in by_key.values() for i in ids} | set(extra)
        wanted |= {c.insured_relay_id for p in people for c in p.covers if c.insured_relay_id}
        wanted |= {c.spouse_relay_id for p in people for c in p.covers if c.spouse_relay_id}
        known = {p.relay_id: p for p in people}
        known.update(await store.load_facts(conn, wanted - set(known)))

        def facts(relay_id: str | None) -> PersonFacts | None:
            return None if relay_id is None else known.get(relay_id)

        def householder(person: PersonFacts, day: date) -> PersonFacts | None:
            member = household_on(person, day)
            if member is None:
                return None
            ids = by_key.get(member.household_token_key, [])
            return householder_of({i: known[i] for i in ids if i in known},
                                  member.household_token_key, day)

        return known, Others(facts, householder)

    async def _judge_changed(self, conn: asyncpg.Connection, step: ClockAdvanced, today: date,
                             rows: list[OutboxRow]) -> bool:
        ids = await store.take_dirty(conn, self.chunk)
        if not ids:
            return False
        people = list((await store.load_facts(conn, ids)).values())
        people.sort(key=lambda p: p.relay_id)
        sent = await store.reminders_of(conn, ids)
        recipients = [r.relay_id for s in sent.values() for r in s.reminder.recipients
                      if r.relay_id is not None]
        _, others = await self._others(conn, people, recipients)
        deadlines = []
        for person in people:
            deadlines += [d for d in casework.reminder_deadlines(person)
                          if (d.relay_id, d.rule, d.key_date) not in sent
                          or sent[(d.relay_id, d.rule, d.key_date)].closed]
            for key in sorted(k for k in sent if k[0] == person.relay_id):
                outcome = casework.judge_reminder(key[1], person, key[2], today, sent[key],
                                                  others, election_due)
                await self._settled(conn, key, sent[key], outcome, step, rows)
        await store.add_deadlines(conn, deadlines)
        return True

    async def _settled(self, conn: asyncpg.Connection, key: tuple[str, str, date],
                       before: casework.SentReminder | None, outcome: Outcome,
                       step: ClockAdvanced, rows: list[OutboxRow]) -> None:
        await self._deliver(conn, outcome.notices, step, rows)
        if outcome.sent is not None and outcome.sent != before:
            await store.save_reminder(conn, key, outcome.sent)

    async def _take_lists(self, conn: asyncpg.Connection, step: ClockAdvanced, today: date,
                          rows: list[OutboxRow]) -> bool:
        """The double-enrolment list of each 1st passed since the last clock step (none at
        the first step: the relay time before it is unknown)."""
        previous = await conn.fetchrow("SELECT epoch, relay_time FROM relay_clock "
                                       "WHERE group_id = $1", self.group)
        if previous is None or previous["epoch"] == 0:
            return False
        taken = set(await store.list_dates(conn))
        due = [d for d in firsts_between(relay_date(previous["relay_time"]), today)
               if d not in taken]
        if not due:
            return False
        candidates = await store.load_facts(conn, await store.overlap_candidates(conn))
        for day in due:
            entries = [e for rid in sorted(candidates)
                       if (e := listed(candidates[rid], day)) is not None]
            await store.store_list(conn, day, entries)
            await store.add_deadlines(conn, [Deadline(e.relay_id, DOUBLE, day, day)
                                             for e in entries])
        return False

    async def _judge_due(self, conn: asyncpg.Connection, step: ClockAdvanced, today: date,
                         rows: list[OutboxRow]) -> bool:
        due = await store.take_due(conn, today, self.chunk)
        if not due:
            return False
        ids = sorted({d.relay_id for d in due})
        people = await store.load_facts(conn, ids)
        sent = await store.reminders_of(conn, ids)
        dependants = await store.dependants_of(
            conn, [d.relay_id for d in due if d.rule in (*MILESTONE_RULES, AGE_75_CHECK)])
        extra = [i for v in dependants.values() for i in v]
        known, others = await self._others(conn, list(people.values()), extra)
        dates = await store.list_dates(conn)
        later: list[Deadline] = []
        anomalies: list[tuple[UUID, Anomaly]] = []
        for d in due:
            person = people.get(d.relay_id)
            if person is None:
                continue
            key = (d.relay_id, d.rule, d.key_date)
            if d.rule in REMINDER_RULES:
                outcome = casework.judge_reminder(d.rule, person, d.key_date, today,
                                                  sent.get(key), others, election_due)
                await self._settled(conn, key, sent.get(key), outcome, step, rows)
                continue
            deps = [known[i] for i in dependants.get(d.relay_id, []) if i in known]
            if d.rule == DOUBLE:
                past = [x for x in dates if x <= today][-2:]
                outcome = casework.judge_double_enrolment(
                    person, await store.lists_of(conn, d.relay_id, past),
                    await store.steps_of(conn, d.relay_id), today, others)
                await store.save_steps(conn, d.relay_id, outcome.step_ids, outcome.steps)
            elif d.rule in MILESTONE_RULES:
                outcome = casework.judge_milestone(d.rule, person, d.key_date, deps)
            elif d.rule == AGE_75_CHECK:
                outcome = casework.judge_milestone_check(person, deps, today)
            else:
                continue
            await self._deliver(conn, outcome.notices, step, rows)
            later += outcome.deadlines
            anomalies += [(uuid5(ANOMALIES, f"{d.rule}:{d.relay_id}:{d.key_date}:{a.code}:"
                                 f"{a.relay_id}:{a.detail}"), a) for a in outcome.anomalies]
        await store.add_deadlines(conn, later)
        await store.record_anomalies(conn, anomalies, step.relay_time)
        for _, a in anomalies:
            self.tally.anomalies[a.code] += 1
        return True

    # -- delivery --------------------------------------------------------------------------

    async def _deliver(self, conn: asyncpg.Connection, notices: Sequence[Outgoing],
                       step: ClockAdvanced, rows: list[OutboxRow]) -> None:
        """Each recipient's copy, under an id derived for it alone: a person's to their inbox,
        a participant's sealed for it onto its notices topic through the outbox."""
        inbox: list[tuple[Any, ...]] = []
        ledger: list[tuple[Any, ...]] = []
        for notice in notices:
            copies = 0
            for recipient in notice.recipients:
                copy = notice_copy_id(self.keyring, notice.notice_id, recipient.key)
                refers = (None if notice.refers_to is None
                          else notice_copy_id(self.keyring, notice.refers_to, recipient.key))
                if recipient.relay_id is not None:
                    body = {"role": recipient.role, "about_self": recipient.relay_id ==
                            notice.relay_id, **notice.details}
                    inbox.append((copy, recipient.relay_id, notice.rule, notice.step,
                                  notice.key_date, notice.deadline, refers, step.relay_time,
                                  json.dumps(body, sort_keys=True)))
                    copies += 1
                    continue
                row = await self._participant_copy(conn, notice, recipient, copy, refers, step,
                                                   len(rows))
                if row is not None:
                    rows.append(row)
                    copies += 1
            ledger.append((notice.notice_id, notice.relay_id, notice.rule, notice.step,
                           notice.key_date, copies, step.relay_time))
            self.tally.notices[f"{notice.rule}:{notice.step}"] += 1
            self.tally.copies += copies
        await store.deliver_inbox(conn, inbox)
        await store.record_sent(conn, ledger)

    async def _participant_copy(self, conn: asyncpg.Connection, notice: Outgoing,
                                recipient: Recipient, copy: UUID, refers: UUID | None,
                                step: ClockAdvanced, index: int) -> OutboxRow | None:
        municipality = recipient.municipality_code is not None
        code = recipient.municipality_code or recipient.insurer_number
        assert code is not None
        who = (Participant("municipality", code) if municipality
               else Participant("pension", code) if code == "JPS"
               else Participant("insurer", code))
        try:
            key = self.addressees.lookup(who)
        except (NoEncryptionKey, ValueError):
            UNDELIVERED["no_encryption_key"] += 1
            log.warning("%s copy for %s %s not made: it holds no encryption key", notice.rule,
                        who.role, code)
            return None
        found = await store.sealed_number(conn, notice.relay_id, municipality, code)
        if found is None:
            UNDELIVERED["no_number"] += 1
            log.warning("%s copy for %s %s not made: no number of the person known there",
                        notice.rule, who.role, code)
            return None
        kind, sealed = found
        number = open_sealed(self.keyring, Sealed.from_json_dict(json.loads(sealed)),
                             kind.encode()).decode()
        topic = notices_topic(code)
        person = participant_pseudonym(self.keyring, code, notice.relay_id)
        message = seal_relay_notice(
            notice_id=copy, refers_to=refers, recipient_code=code,
            recipient_role=ROLES[recipient.role], person=person, rule=NoticeRule(notice.rule),
            step=NoticeStep(notice.step), key_date=notice.key_date, deadline=notice.deadline,
            relay_time=step.relay_time, topic=topic.name, member_number=number,
            public_key=key.public_key)
        return OutboxRow.keyed(copy, (RELAY_CLOCK.name, 0, step.epoch), index,
                               self.namespace.physical(topic), topic.partitions,
                               message.kafka_key(), encode(message))

