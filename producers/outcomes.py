"""The relay's answers to a filer's filings, read from `relay.filing-outcome.v1` by event id.

The topic is read from the beginning: a re-upload's outcomes may already be there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from groundfloor.kafka_clients import caught_up, reader
from schemas import FilingOutcome, MessageRejected, decode_relay
from schemas.relay import OutcomeStatus, furthest
from schemas.topics import FILING_OUTCOME, Namespace

FINAL = frozenset({OutcomeStatus.ACCEPTED, OutcomeStatus.REFUSED})
POLL_MS = 500

Outcomes = dict[UUID, FilingOutcome]


class OutcomesUnavailable(RuntimeError):
    """The outcome topic cannot be read (it does not exist on this broker)."""


def fold(outcomes: Outcomes, wanted: frozenset[UUID], raw: bytes | None) -> None:
    """Keep `raw` in `outcomes` when it is a readable outcome of a wanted event id.

    Outcomes caused through different outbox lanes may be read out of order, so the furthest
    status wins (see `schemas.relay.furthest`).
    """
    if raw is None:
        return
    try:
        outcome = decode_relay(raw, FilingOutcome)
    except MessageRejected:
        return  # not ours to judge: the relay's own dead-letter handling covers it
    if outcome.event_id in wanted:
        outcomes[outcome.event_id] = furthest(outcomes.get(outcome.event_id), outcome)


def settled(outcomes: Outcomes, wanted: frozenset[UUID]) -> bool:
    """Whether every wanted event id has a final outcome (accepted or refused)."""
    return all(i in outcomes and outcomes[i].status in FINAL for i in wanted)


async def await_outcomes(
    bootstrap: str,
    namespace: Namespace,
    event_ids: Iterable[UUID],
    timeout: float,  # noqa: ASYNC109 - a budget for the whole read, not for one call
    *,
    until_final: bool = True,
    filer_codes: Iterable[str] = (),
) -> Outcomes:
    """The latest outcome per event id, read committed, from the beginning of the namespace's
    outcome topic.

    With `until_final` (the default) it waits until every id is accepted or refused or
    `timeout` seconds have passed; parked ones are then returned as parked and ids without
    any outcome are absent. Without it, it stops once it has read what the topic held when
    it started. Reading from the beginning costs the whole topic (4 weeks' retention) on
    every call; `filer_codes` (the record keys) spares decoding other filers' outcomes, and a
    filer with very large volumes should keep its own position instead.
    """
    wanted = frozenset(event_ids)
    outcomes: Outcomes = {}
    if not wanted:
        return outcomes
    topic = namespace.physical(FILING_OUTCOME)
    consumer = reader(bootstrap, topic)
    try:
        await consumer.start()
        keys = frozenset(code.encode() for code in filer_codes)
        await _read(consumer, topic, _Wanted(wanted, keys), outcomes, timeout, until_final)
    except UnknownTopicOrPartitionError:
        raise OutcomesUnavailable(f"topic {topic} does not exist") from None
    finally:
        await consumer.stop()
    return outcomes


@dataclass(frozen=True)
class _Wanted:
    event_ids: frozenset[UUID]
    keys: frozenset[bytes]

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
    while (left := deadline - loop.time()) > 0:
        batch = await consumer.getmany(timeout_ms=max(1, int(min(left, POLL_MS / 1000) * 1000)))
        for records in batch.values():
            for record in records:
                if wanted.may_hold(record.key):
                    fold(outcomes, wanted.event_ids, record.value)
        if settled(outcomes, wanted.event_ids):
            return
        if not until_final and await caught_up(consumer, ends):
            return
