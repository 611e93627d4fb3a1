"""The one module that builds Kafka clients: readers, processor consumers, idempotent and
transactional producers, admin clients, reading partitions to their last stable offset, and
the partition Kafka's default partitioner picks for a key.

Each builder fixes what its kind of client must always have; callers add only their own tuning.
Every client logs in with a `KafkaLogin`: one principal's SCRAM-SHA-512 credentials over TLS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

log = logging.getLogger("shaho.kafka")

POLL_MS = 300
SASL_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaLogin:
    """How one principal reaches the broker: its address, SCRAM user name and password, and
    the CA file that signed the broker's certificate. Without a principal it is a plaintext
    connection, which only a broker started without authentication (the bench's baseline)
    accepts."""

    bootstrap: str
    principal: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    def settings(self) -> dict[str, Any]:
        """The aiokafka client arguments of this login."""
        if self.principal is None:
            return {"bootstrap_servers": self.bootstrap}
        return {"bootstrap_servers": self.bootstrap, "security_protocol": "SASL_SSL",
                "sasl_mechanism": SASL_MECHANISM, "sasl_plain_username": self.principal,
                "sasl_plain_password": self.password,
                "ssl_context": create_ssl_context(cafile=str(self.ca_file))}

    def librdkafka(self) -> dict[str, str]:
        """The same login as librdkafka (confluent-kafka) configuration."""
        if self.principal is None:
            return {"bootstrap.servers": self.bootstrap}
        return {"bootstrap.servers": self.bootstrap, "security.protocol": "SASL_SSL",
                "sasl.mechanism": SASL_MECHANISM, "sasl.username": self.principal,
                "sasl.password": self.password or "", "ssl.ca.location": str(self.ca_file)}

    def __str__(self) -> str:
        return f"{self.principal or 'unauthenticated'}@{self.bootstrap}"


FETCH_MAX_WAIT_MS = 100
"""How long the broker holds a processor's fetch when there is nothing new (aiokafka's default
is 500 ms), and a reader's. A record that arrives ends the wait at once either way; the shorter
wait lets a drained run, a stopping processor and a reader reaching the end (its last fetch
finds nothing) finish without waiting out a fetch for nothing: 0.25 s instead of 0.6 s to read
the 692 records of a clock topic to their end on this machine."""


def reader(kafka: KafkaLogin, *topics: str, **settings: Any) -> AIOKafkaConsumer:
    """A consumer of no group that sees committed records only, from the earliest offset.

    Assign it partitions, or name `topics` to be handed all of their partitions (without a
    group nothing is balanced). Nothing is committed."""
    return AIOKafkaConsumer(*topics, **kafka.settings(), group_id=None,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            isolation_level="read_committed",
                            **{"fetch_max_wait_ms": FETCH_MAX_WAIT_MS, **settings})


def timestamp_reader(kafka: KafkaLogin, **settings: Any) -> AIOKafkaConsumer:
    """A consumer of no group, committed records only, that hands back records undecoded (no
    key or value deserializer: the bytes are never looked at), for reading the timestamp of
    the record at an offset. Nothing is committed."""
    return AIOKafkaConsumer(**kafka.settings(), group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest", isolation_level="read_committed",
                            key_deserializer=None, value_deserializer=None,
                            **{"fetch_max_wait_ms": FETCH_MAX_WAIT_MS, **settings})


def processor_consumer(kafka: KafkaLogin, group_id: str, **settings: Any) -> AIOKafkaConsumer:
    """A processor's consumer: it assigns its partitions itself and uses `group_id` only to
    commit offsets explicitly (for lag monitoring); committed records only."""
    return AIOKafkaConsumer(**kafka.settings(), group_id=group_id,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            isolation_level="read_committed",
                            **{"fetch_max_wait_ms": FETCH_MAX_WAIT_MS, **settings})


def idempotent_producer(kafka: KafkaLogin, **settings: Any) -> AIOKafkaProducer:
    """A producer whose retries never duplicate a record (this forces acks=all)."""
    return AIOKafkaProducer(**kafka.settings(), enable_idempotence=True, **settings)


def transactional_producer(kafka: KafkaLogin, transactional_id: str,
                           **settings: Any) -> AIOKafkaProducer:
    """A producer of Kafka transactions; re-using `transactional_id` fences a predecessor."""
    return AIOKafkaProducer(**kafka.settings(), enable_idempotence=True,
                            transactional_id=transactional_id, **settings)


def default_partition(key: bytes, partitions: int) -> int:
    """The partition of a topic of `partitions` that Kafka's default partitioner (Java's and
    aiokafka's alike) picks for `key`: murmur2 of the key, made positive, modulo the count."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def admin_client(kafka: KafkaLogin, **settings: Any) -> AIOKafkaAdminClient:
    """A client for creating, describing, configuring and deleting topics."""
    return AIOKafkaAdminClient(**kafka.settings(), **settings)


def acl_admin(kafka: KafkaLogin, **settings: Any) -> Any:
    """confluent-kafka's admin client, for what aiokafka's lacks: SCRAM credentials and ACLs."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({**kafka.librdkafka(), **settings})


async def end_offsets(kafka: KafkaLogin,
                      partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """Each partition's end as a read_committed reader sees it (its last stable offset)."""
    consumer = reader(kafka)
    await consumer.start()
    try:
        return await _ends(consumer, list(partitions))
    finally:
        await consumer.stop()


async def _ends(consumer: AIOKafkaConsumer,
                owned: list[TopicPartition]) -> dict[TopicPartition, int]:
    """`owned`'s end offsets as `consumer` sees them, after `readable`. Assigned, every topic
    is in one metadata request; unassigned, aiokafka learns one unknown topic per retry of the
    offsets request, one metadata round each: 15 s for the 148 topics of a new namespace's
    participants, against 1.4 s assigned."""
    await readable(consumer, owned)
    consumer.assign(owned)
    return await consumer.end_offsets(owned)


async def readable(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]) -> None:
    """TopicAuthorizationFailedError unless the consumer's principal may see every topic of
    `partitions`: aiokafka leaves an assigned partition it may not read unfetched without a
    word, where a clear refusal is wanted (the broker shows a principal only the topics it
    may describe, so an absent topic is refused alike)."""
    visible = await consumer.topics()
    hidden = sorted({p.topic for p in partitions} - visible)
    if hidden:
        raise TopicAuthorizationFailedError(", ".join(hidden))


async def caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether `consumer` has read every partition of `ends` up to its end offset."""
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return False
    return True


async def read_past_fetched_ends(consumer: AIOKafkaConsumer) -> bool:
    """Whether `consumer` has read every partition it is assigned and not pausing past the
    high watermark its last fetch there saw: everything appended before that fetch is read.
    A read_committed reader passes the high watermark only once every transaction below it is
    decided and its markers are written (the last stable offset may lag a commit that has
    returned), so this is when a drained processor has read all that was there; False before
    the first fetch of a partition answers, and for a consumer assigned nothing yet."""
    if not consumer.assignment():
        return False
    for partition in consumer.assignment() - consumer.paused():
        end = consumer.highwater(partition)
        if end is None or await consumer.position(partition) < end:
            return False
    return True


def fetched_everywhere(consumer: AIOKafkaConsumer) -> bool:
    """Whether a fetch has answered for every partition `consumer` is assigned and not
    pausing (a paused one was fetched before it was paused); False while assigned nothing."""
    if not consumer.assignment():
        return False
    return all(consumer.highwater(p) is not None
               for p in consumer.assignment() - consumer.paused())


class DrainStalled(RuntimeError):
    """A drained processor whose partitions did not all answer a fetch in its patience."""


class Drain:
    """When a drained processor (`shaho run ... --drain`) stops, asked each time a poll read
    and released nothing (`moved` is called when one did).

    At once when every partition it reads is read past the high watermark its last fetch saw
    (`read_past_fetched_ends`). Otherwise after `quiet` seconds without progress, where a
    transaction left open holds a read_committed reader below the high watermark until the
    broker aborts it, but only once every partition has answered a fetch: on a loaded machine
    the first fetches of a new consumer (its metadata, a new namespace's topics) can take longer
    than `quiet`, and a processor stopping then would leave everything unread while saying it
    drained. If some partition has still not answered after `patience` seconds, DrainStalled."""

    def __init__(self, consumer: AIOKafkaConsumer, quiet: float, patience: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer, self.quiet, self.patience, self.clock = consumer, quiet, patience, clock
        self.since = clock()

    def moved(self) -> None:
        self.since = self.clock()

    async def done(self) -> bool:
        if await read_past_fetched_ends(self.consumer):
            return True
        waited = self.clock() - self.since
        if fetched_everywhere(self.consumer):
            if waited <= self.quiet:
                return False
            log.info("drained after %.1f s without progress, %d partition(s) short of the end "
                     "their last fetch saw (a transaction left open?)", waited,
                     await _short_of_the_end(self.consumer))
            return True
        if waited > self.patience:
            unanswered = sorted(f"{p.topic}:{p.partition}" for p in self.consumer.assignment()
                                if self.consumer.highwater(p) is None)
            raise DrainStalled(f"no fetch answered in {self.patience:.0f} s for "
                               f"{len(unanswered)} partition(s), e.g. {unanswered[:3]}")
        return False


async def _short_of_the_end(consumer: AIOKafkaConsumer) -> int:
    short = 0
    for partition in consumer.assignment() - consumer.paused():
        end = consumer.highwater(partition)
        short += end is not None and await consumer.position(partition) < end
    return short


async def high_watermarks(kafka: KafkaLogin,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """Each partition's high watermark: the offset after its last record, whether its
    transaction is decided or not (what a read_uncommitted reader sees as the end)."""
    consumer = AIOKafkaConsumer(**kafka.settings(), group_id=None, enable_auto_commit=False,
                                isolation_level="read_uncommitted")
    await consumer.start()
    try:
        return await _ends(consumer, list(partitions))
    finally:
        await consumer.stop()


async def read_to_end(kafka: KafkaLogin, partitions: Iterable[TopicPartition],
                      seconds: float | None = 180.0) -> list[ConsumerRecord]:
    """Every committed record of `partitions`, from the beginning (records of aborted
    transactions never appear), in the order fetched; in offset order within a partition.

    Reads every record appended before the call: it stops once each partition's position
    passes the high watermark taken at the start, which a read_committed reader does only when
    every transaction below it is decided and its markers written. (A commit returns before
    its markers reach the partitions, and until then the last stable offset stays below the
    committed records: a reader stopping there right after a commit would miss them.) Records
    appended later are not waited for; an orphaned transaction holds the reader back until the
    broker aborts it (60 s by default), hence the generous `seconds`. After `seconds` it
    returns what it has read; with None it reads until the end however long that takes."""
    owned = list(partitions)
    ends = await high_watermarks(kafka, owned)
    consumer = reader(kafka)
    await consumer.start()
    try:
        await readable(consumer, owned)
    except BaseException:
        await consumer.stop()
        raise
    consumer.assign(owned)
    got: list[ConsumerRecord] = []
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=POLL_MS)
            got += [r for records in batch.values() for r in records]
            if await caught_up(consumer, ends):
                break
    finally:
        await consumer.stop()
    return got
