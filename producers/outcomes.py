"""The relay's answers to a filer's uploads, read from its kind's `outcome.<kind>.v1` and
opened with its own encryption key, by event id and content: a changed re-send's refusal
answers it, never the earlier filing's outcome.

Every filer of a kind shares the topic; a reader skips the records keyed by other codes and
opens its own (`Mailbox`). A record of its own that does not open (another key, tampered, no
outcome) is counted and reported, never fatal. The topic is read from the beginning: a
re-upload's outcomes may already be there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError
from cryptography.hazmat.primitives.asymmetric import ec

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import KafkaLogin, caught_up, reader
from schemas import FilingOutcome, MessageRejected, decode_relay
from schemas.relay import OutcomeStatus, conflict_id_for, furthest
from schemas.topics import OUTCOME_TOPICS, Namespace
from trust.encryption_keys import load_private_key
from trust.pki import Participant, PkiError
from trust.sealing import NotOpened, decode_sealed, open_outcome

FINAL = frozenset({OutcomeStatus.ACCEPTED, OutcomeStatus.REFUSED})
POLL_MS = 500

Outcomes = dict[UUID, FilingOutcome]
Contents = Mapping[UUID, str]  # event id -> content hash of what was uploaded


class OutcomesUnavailable(RuntimeError):
    """The outcome topic cannot be read (it does not exist on this broker)."""


@dataclass
class Mailbox:
    """The filers whose outcomes are read here, each with its private encryption key, and
    what was read: the records of theirs that did not open."""

    keys: dict[Participant, ec.EllipticCurvePrivateKey]
    unopened: int = 0

    @classmethod
    def load(cls, cfg: StackConfig, filers: Iterable[Participant]) -> Mailbox:
        """The filers' keys from the state folder (`trust.encryption_keys`);
        NoEncryptionKey for a filer that holds none here."""
        return cls({p: load_private_key(cfg, p) for p in sorted(set(filers))})

    @property
    def kinds(self) -> list[str]:
        """The kinds whose outcome topics hold these filers' outcomes."""
        return sorted({p.role for p in self.keys if p.role in OUTCOME_TOPICS})

    def codes(self, kind: str) -> frozenset[bytes]:
        return frozenset(p.code.encode() for p in self.keys if p.role == kind)

    def open(self, kind: str, key: bytes | None, raw: bytes | None) -> FilingOutcome | None:
        """The outcome in a record of `kind`'s outcome topic when it is addressed to one of
        these filers and opens; None for another filer's record (not read), and None, counted
        in `unopened`, for one of ours that does not open."""
        try:
            private = self.keys.get(Participant(kind, (key or b"").decode()))
        except (UnicodeDecodeError, PkiError):
            return None
        if private is None:
            return None
        try:
            sealed = decode_sealed(raw or b"")
            if (sealed.addressee_role.value, sealed.addressee_code.encode()) != (kind, key):
                raise NotOpened("the record is keyed to another addressee than it names")
            return open_outcome(sealed, OUTCOME_TOPICS[kind].name, key, private)
        except (MessageRejected, NotOpened):
            self.unopened += 1
            return None


def keep(outcomes: Outcomes, wanted: frozenset[UUID], outcome: FilingOutcome | None) -> None:
    """Keep `outcome` in `outcomes` when it answers a wanted event id.

    A filer's outcomes share one partition and arrive in decision order; the furthest status
    wins all the same, so outcomes read from elsewhere cannot move one back (see
    `schemas.relay.furthest`).
    """
    if outcome is not None and outcome.event_id in wanted:
        outcomes[outcome.event_id] = furthest(outcomes.get(outcome.event_id), outcome)


def fold(outcomes: Outcomes, wanted: frozenset[UUID], raw: bytes | None) -> None:
    """Keep `raw`, an outcome in clear, in `outcomes` when it answers a wanted event id."""
    if raw is None:
        return
    try:
        outcome = decode_relay(raw, FilingOutcome)
    except MessageRejected:
        return  # not ours to judge: the relay's own dead-letter handling covers it
    keep(outcomes, wanted, outcome)


def answer(outcomes: Outcomes, event_id: UUID, content: str | None) -> FilingOutcome | None:
    """The answer to an upload of `content` (a content hash) under `event_id`, if read yet.

    The refusal of that content as a conflicting re-send when there is one; else the filing's
    outcome when it answers this content or names none (`content` None takes it as it is). An
    outcome naming other content answers the earlier filing: this upload's refusal is coming."""
    if content is not None:
        refusal = outcomes.get(conflict_id_for(event_id, content))
        if refusal is not None:
            return refusal
    current = outcomes.get(event_id)
    if current is None or content is None or current.content_hash in (None, content):
        return current
    return None


def settled(outcomes: Outcomes, wanted: frozenset[UUID]) -> bool:
    """Whether every wanted event id has a final outcome (accepted or refused)."""
    return all(i in outcomes and outcomes[i].status in FINAL for i in wanted)


async def await_outcomes(
    kafka: KafkaLogin,
    namespace: Namespace,
    event_ids: Iterable[UUID],
    timeout: float,  # noqa: ASYNC109 - a budget for the whole read, not for one call
    *,
    mailbox: Mailbox,
    until_final: bool = True,
    contents: Contents | None = None,
) -> Outcomes:
    """The latest answer per event id, read committed, from the beginning of the namespace's
    outcome topics of the mailbox's filers, each opened with its addressee's key.

    With `until_final` (the default) it waits until every id is accepted or refused or
    `timeout` seconds have passed; parked ones are then returned as parked and ids without
    any answer are absent. Without it, it stops once it has read what the topic held when
    it started. `contents` gives the content hash uploaded per event id (see `answer`); an id
    without one takes the filing's outcome as it is. Reading from the beginning costs the
    whole topic (4 weeks' retention) on every call; other filers' records are skipped by key
    unopened, and a filer with very large volumes should keep its own position instead.
    Records of the mailbox's filers that do not open are counted in `mailbox.unopened`.
    """
    wanted = _Wanted.of(event_ids, contents or {})
    outcomes: Outcomes = {}
    if not wanted.contents or not mailbox.kinds:
        return outcomes
    kinds = {namespace.physical(OUTCOME_TOPICS[kind]): kind for kind in mailbox.kinds}
    consumer = reader(kafka, *kinds)
    try:
        await consumer.start()
        await _read(consumer, kinds, mailbox, wanted, outcomes, timeout, until_final)
    except UnknownTopicOrPartitionError:
        raise OutcomesUnavailable(f"a topic of {', '.join(sorted(kinds))} does not "
                                  "exist") from None
    finally:
        await consumer.stop()
    return wanted.answers(outcomes)


@dataclass(frozen=True)
class _Wanted:
    contents: dict[UUID, str | None]  # every event id waited for, with its uploaded content

    @classmethod
    def of(cls, event_ids: Iterable[UUID], contents: Contents) -> _Wanted:
        return cls({event_id: contents.get(event_id) for event_id in event_ids})

    @property
    def outcome_ids(self) -> frozenset[UUID]:
        """The event ids whose outcomes can answer: the filings' and their conflict refusals'."""
        refusals = {conflict_id_for(i, c) for i, c in self.contents.items() if c is not None}
        return frozenset(self.contents) | refusals

    def answers(self, outcomes: Outcomes) -> Outcomes:
        found = {i: answer(outcomes, i, c) for i, c in self.contents.items()}
        return {i: outcome for i, outcome in found.items() if outcome is not None}


async def _read(
    consumer: AIOKafkaConsumer,
    kinds: dict[str, str],  # physical topic -> kind
    mailbox: Mailbox,
    wanted: _Wanted,
    outcomes: Outcomes,
    seconds: float,
    until_final: bool,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    ends = await consumer.end_offsets([TopicPartition(topic, n) for topic in kinds
                                       for n in consumer.partitions_for_topic(topic) or set()])
    ids = wanted.outcome_ids
    while (left := deadline - loop.time()) > 0:
        batch = await consumer.getmany(timeout_ms=max(1, int(min(left, POLL_MS / 1000) * 1000)))
        for records in batch.values():
            for record in records:
                kind = kinds[record.topic]
                keep(outcomes, ids, mailbox.open(kind, record.key, record.value))
        if settled(wanted.answers(outcomes), frozenset(wanted.contents)):
            return
        if not until_final and await caught_up(consumer, ends):
            return
