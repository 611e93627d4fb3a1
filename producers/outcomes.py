"""The relay's answers to a filer's uploads, read from `relay.filing-outcome.v1` by event id
and content: a changed re-send's refusal answers it, never the earlier filing's outcome.

The topic is read from the beginning: a re-upload's outcomes may already be there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from groundfloor.kafka_clients import KafkaLogin, caught_up, reader
from schemas import FilingOutcome, MessageRejected, decode_relay
from schemas.relay import OutcomeStatus, conflict_id_for, furthest
from schemas.topics import FILING_OUTCOME, Namespace

FINAL = frozenset({OutcomeStatus.ACCEPTED, OutcomeStatus.REFUSED})
POLL_MS = 500

Outcomes = dict[UUID, FilingOutcome]
Contents = Mapping[UUID, str]  # event id -> content hash of what was uploaded


class OutcomesUnavailable(RuntimeError):
    """The outcome topic cannot be read (it does not exist on this broker)."""


def fold(outcomes: Outcomes, wanted: frozenset[UUID], raw: bytes | None) -> None:
    """Keep `raw` in `outcomes` when it is a readable outcome of a wanted event id.

    A filer's outcomes share one partition and arrive in decision order; the furthest status
    wins all the same, so outcomes read from elsewhere cannot move one back (see
    `schemas.relay.furthest`).
    """
    if raw is None:
        return
    try:
        outcome = decode_relay(raw, FilingOutcome)
    except MessageRejected:
        return  # not ours to judge: the relay's own dead-letter handling covers it
    if outcome.event_id in wanted:
        outcomes[outcome.event_id] = furthest(outcomes.get(outcome.event_id), outcome)


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
    until_final: bool = True,
    filer_codes: Iterable[str] = (),
    contents: Contents | None = None,
) -> Outcomes:
    """The latest answer per event id, read committed, from the beginning of the namespace's
    outcome topic.

    With `until_final` (the default) it waits until every id is accepted or refused or
    `timeout` seconds have passed; parked ones are then returned as parked and ids without
    any answer are absent. Without it, it stops once it has read what the topic held when
    it started. `contents` gives the content hash uploaded per event id (see `answer`); an id
    without one takes the filing's outcome as it is. Reading from the beginning costs the
    whole topic (4 weeks' retention) on every call; `filer_codes` (the record keys) spares
    decoding other filers' outcomes, and a filer with very large volumes should keep its own
    position instead.
    """
    wanted = _Wanted.of(event_ids, contents or {}, filer_codes)
    outcomes: Outcomes = {}
    if not wanted.contents:
        return outcomes
    topic = namespace.physical(FILING_OUTCOME)
    consumer = reader(kafka, topic)
    try:
        await consumer.start()
        await _read(consumer, topic, wanted, outcomes, timeout, until_final)
    except UnknownTopicOrPartitionError:
        raise OutcomesUnavailable(f"topic {topic} does not exist") from None
    finally:
        await consumer.stop()
    return wanted.answers(outcomes)


@dataclass(frozen=True)
class _Wanted:
    contents: dict[UUID, str | None]  # every event id waited for, with its uploaded content
    keys: frozenset[bytes]

    @classmethod
    def of(cls, event_ids: Iterable[UUID], contents: Contents, codes: Iterable[str]) -> _Wanted:
        wanted = {event_id: contents.get(event_id) for event_id in event_ids}
        return cls(wanted, frozenset(code.encode() for code in codes))

    @property
    def outcome_ids(self) -> frozenset[UUID]:
        """The event ids whose outcomes can answer: the filings' and their conflict refusals'."""
        refusals = {conflict_id_for(i, c) for i, c in self.contents.items() if c is not None}
        return frozenset(self.contents) | refusals

    def answers(self, outcomes: Outcomes) -> Outcomes:
        found = {i: answer(outcomes, i, c) for i, c in self.contents.items()}
        return {i: outcome for i, outcome in found.items() if outcome is not None}

    def may_hold(self, key: bytes | None) -> bool:
        return not self.keys or key in self.keys


async def _read(
    consumer: AIOKafkaConsumer,
    topic: str,
    wanted: _Wanted,
    outcomes: Outcomes,
    seconds: float,
    until_final: bool,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    numbers = consumer.partitions_for_topic(topic) or set()
    ends = await consumer.end_offsets([TopicPartition(topic, n) for n in numbers])
    ids = wanted.outcome_ids
    while (left := deadline - loop.time()) > 0:
        batch = await consumer.getmany(timeout_ms=max(1, int(min(left, POLL_MS / 1000) * 1000)))
        for records in batch.values():
            for record in records:
                if wanted.may_hold(record.key):
                    fold(outcomes, ids, record.value)
        if settled(wanted.answers(outcomes), frozenset(wanted.contents)):
            return
        if not until_final and await caught_up(consumer, ends):
            return
