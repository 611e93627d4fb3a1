"""Applies the topic catalogue to the broker: creates missing topics, aligns their configs.

Idempotent: running it twice changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError

from groundfloor.kafka_clients import KafkaLogin, admin_client, end_offsets
from infra.principals import RECEIPT_ROLES
from schemas.topics import (
    CATALOGUE,
    NOTICES,
    PARTICIPANT_PREFIX,
    PARTICIPANT_STREAMS,
    RECEIPTS,
    SETTLEMENTS,
    Namespace,
    Topic,
    notices_topic,
    participant_topics,
    receipts_topics,
    settlements_topic,
    topic,
)


async def _admin(kafka: KafkaLogin, attempts: int = 40) -> AIOKafkaAdminClient:
    for attempt in range(attempts):
        admin = admin_client(kafka, request_timeout_ms=15000)
        try:
            await admin.start()
            return admin
        except (KafkaConnectionError, NodeNotReadyError):
            await admin.close()
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise RuntimeError("unreachable")


TOPIC_ALREADY_EXISTS = 36


class TopicAdminError(RuntimeError):
    """The broker refused to create or configure a catalogue topic."""


def _raise_errors(rows: list[tuple], tolerated: set[int]) -> None:
    """rows are (name, error code, message?) as the admin responses carry them."""
    bad = [row for row in rows if row[1] not in (0, *tolerated)]
    if bad:
        raise TopicAdminError("; ".join(f"{r[0]}: error {r[1]} {r[2] if len(r) > 2 else ''}"
                                        for r in bad))


async def apply_catalogue(kafka: KafkaLogin, namespace: Namespace,
                          topics: tuple[Topic, ...] = CATALOGUE, *,
                          align: bool = True) -> list[str]:
    """Create the catalogue's missing topics in `namespace` and (with `align`) set the config
    of those that were there already; return the broker names of those created. One admin
    client, one request of each kind, however many topics: every round trip counts where
    each integration test makes a namespace of some hundred topics."""
    admin = await _admin(kafka)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if namespace.physical(t) not in existing]
        if missing:
            response = await admin.create_topics([
                NewTopic(namespace.physical(t), t.partitions, 1, topic_configs=t.config())
                for t in missing
            ])
            _raise_errors(response.topic_errors, tolerated={TOPIC_ALREADY_EXISTS})
            existing |= {row[0] for row in response.topic_errors
                         if row[1] == TOPIC_ALREADY_EXISTS}  # made meanwhile by another
            await _await_leaders(admin, kafka, [namespace.physical(t) for t in missing])
        present = [t for t in topics if namespace.physical(t) in existing] if align else []
        if present:  # those this call created have their config from the start
            for response in await admin.alter_configs([
                ConfigResource(ConfigResourceType.TOPIC, namespace.physical(t),
                               configs=t.config())
                for t in present
            ]):
                _raise_errors([(r[3], r[0], r[1]) for r in response.resources],
                              tolerated=set())
        return [namespace.physical(t) for t in missing]
    finally:
        await admin.close()


ADDRESSED_ROLES = ("insurer", "pension")
"""Participants with topics of their own: the insurers and the Japan Pension Service."""
NOTICE_ROLES = (*ADDRESSED_ROLES, "municipality")
"""Participants with a notices topic (`notices_topic`): those with topics of their own, and
the municipalities, which have no other."""


def addressed_codes(participants: Iterable[tuple[str, str]],
                    roles: tuple[str, ...] = ADDRESSED_ROLES) -> list[str]:
    """The codes, among (role, code) pairs, of the participants of `roles`: by default those
    that get topics of their own (`participant_topics`); with `NOTICE_ROLES`, those that get a
    notices topic."""
    return sorted({code for role, code in participants
                   if role in roles and code and "." not in code})


def addressed_topics(codes: Iterable[str], notice_codes: Iterable[str] = ()) -> tuple[Topic, ...]:
    """The topics addressed to each participant of `codes` (`participant_topics` and its
    notices topic) and the notices topic of each of `notice_codes`, each topic once."""
    own = sorted(set(codes))
    topics = [t for code in own for t in (*participant_topics(code), notices_topic(code))]
    topics += [notices_topic(code) for code in sorted(set(notice_codes) - set(own))]
    return tuple(topics)


STREAM_ROLES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys((s.stream for s in PARTICIPANT_STREAMS), ADDRESSED_ROLES),
    NOTICES: NOTICE_ROLES,
    RECEIPTS: RECEIPT_ROLES,
    SETTLEMENTS: RECEIPT_ROLES,
}
"""Each per-participant stream by name, with the roles of the participants that get its topics:
the four of `participant_topics` for the insurers and the Japan Pension Service, the notices
for them and the municipalities, the (private) receipts and the 合算's settlements for the
insurers alone."""


def stream_topics(code: str, stream: str) -> tuple[Topic, ...]:
    """The topics of per-participant `stream` addressed to `code`: one, or the receipts topic
    and its dead letters (`receipts_topics`). KeyError for a stream `STREAM_ROLES` lacks,
    ValueError for a code that cannot name a topic of its own."""
    if stream not in STREAM_ROLES:
        raise KeyError(stream)
    if stream == RECEIPTS:
        return receipts_topics(code)
    try:
        return (topic(f"{PARTICIPANT_PREFIX}{code}.{stream}"),)
    except KeyError:
        raise ValueError("a participant code with topics of its own holds no '.'") from None


def participants_topics(participants: Iterable[tuple[str, str]],
                        streams: Iterable[str] | None = None) -> tuple[Topic, ...]:
    """The topics of each per-participant stream of `streams` (by default all of
    `STREAM_ROLES`) addressed to each participant, among (role, code) pairs, whose role gets
    that stream; each topic once."""
    pairs = list(participants)
    found: dict[str, Topic] = {}
    for stream in STREAM_ROLES if streams is None else streams:
        for code in addressed_codes(pairs, STREAM_ROLES[stream]):
            for t in stream_topics(code, stream):
                found.setdefault(t.name, t)
    return tuple(found.values())


async def apply_participant_topics(kafka: KafkaLogin, namespace: Namespace,
                                   participants: Iterable[tuple[str, str]],
                                   streams: Iterable[str] | None = None) -> list[str]:
    """Create in `namespace` the topics of the per-participant `streams` (by default every
    one: the requests, replies, changes and heads of each insurer and the Japan Pension
    Service, the notices of those and each municipality, each insurer's private receipts and
    settlements)
    addressed to the participants among `participants` ((role, code) pairs) that lack them;
    the names created."""
    topics = participants_topics(participants, streams)
    return await apply_catalogue(kafka, namespace, topics) if topics else []


def receipt_topics(codes: Iterable[str]) -> tuple[Topic, ...]:
    """Each insurer of `codes`'s receipts topic and its dead letters (`receipts_topics`)."""
    return tuple(t for code in sorted(set(codes)) for t in receipts_topics(code))


def settlement_topics(codes: Iterable[str]) -> tuple[Topic, ...]:
    """Each insurer of `codes`'s settlements topic (`settlements_topic`)."""
    return tuple(settlements_topic(code) for code in sorted(set(codes)))


async def apply_settlement_topics(kafka: KafkaLogin, namespace: Namespace,
                                  codes: Iterable[str]) -> list[str]:
    """Create in `namespace` the settlements topic of each insurer of `codes` that lacks it
    (a test namespace has none unless asked); the broker names created."""
    topics = settlement_topics(codes)
    return await apply_catalogue(kafka, namespace, topics) if topics else []


async def apply_receipt_topics(kafka: KafkaLogin, namespace: Namespace,
                               codes: Iterable[str]) -> list[str]:
    """Create in `namespace` the receipts topics of each insurer of `codes` that lacks them:
    what the tests and the demo that load receipts ask for (a test namespace has none unless
    asked, each topic costing its set-up time); the broker names created."""
    topics = receipt_topics(codes)
    return await apply_catalogue(kafka, namespace, topics) if topics else []


async def apply_topics_of(kafka: KafkaLogin, namespace: Namespace, codes: Iterable[str],
                          notice_codes: Iterable[str] = ()) -> list[str]:
    """Create in `namespace` the topics addressed to each participant of `codes` (insurers and
    the Japan Pension Service) and the notices topic of each of `notice_codes` (municipalities
    too) that lack them (`addressed_topics`); the broker names of those created."""
    topics = addressed_topics(codes, notice_codes)
    return await apply_catalogue(kafka, namespace, topics) if topics else []


def _not_serving_yet(record: logging.LogRecord) -> bool:
    """aiokafka logs as an error each offsets request it retries because a partition's leader
    does not serve it yet, which is what a topic just created is expected to be while
    `_await_leaders` waits for it (tens of lines in the demo); other records pass."""
    return "NotLeaderForPartitionError" not in record.getMessage()


async def _await_leaders(admin: AIOKafkaAdminClient, kafka: KafkaLogin, names: list[str],
                         seconds: float = 30.0) -> None:
    """Wait until every partition of the new topics has a leader that serves it (it answers for
    its end offset), so that the first produce does not meet NotLeaderForPartition."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        described = await admin.describe_topics(names)
        if all(d["error_code"] == 0 and d["partitions"] and
               all(p["leader"] >= 0 for p in d["partitions"]) for d in described):
            # The metadata names a leader before that broker serves the partition: ask each
            # partition for its end offset, which only the serving leader answers.
            fetcher = logging.getLogger("aiokafka.consumer.fetcher")
            fetcher.addFilter(_not_serving_yet)
            try:
                await end_offsets(kafka, [TopicPartition(d["topic"], p["partition"])
                                              for d in described for p in d["partitions"]])
            finally:
                fetcher.removeFilter(_not_serving_yet)
            return
        await asyncio.sleep(0.2)
    raise TopicAdminError(f"no leader elected within {seconds:.0f}s for some of {names}")


async def describe(kafka: KafkaLogin, namespace: Namespace) -> dict[str, int]:
    """Partition count per existing topic of the catalogue in `namespace`."""
    admin = await _admin(kafka)
    try:
        names = [namespace.physical(t) for t in CATALOGUE]
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([n for n in names if n in existing])
        return {d["topic"]: len(d["partitions"]) for d in described}
    finally:
        await admin.close()
