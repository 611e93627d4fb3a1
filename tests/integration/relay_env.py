"""An isolated relay for one test: its own database and its own topic namespace on the shared
broker, with helpers to publish filings and run the processors as separate OS processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition

from consumers.clocked import Released
from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import idempotent_producer, read_to_end
from infra import namespace
from infra.principals import TESTS
from relay_clock.clock import RelayClock, tick_once
from relay_clock.ticks import authentic, is_tick_record
from relay_linker.domain import advance, apply_all, decide
from relay_linker.domain.commands import ClockAdvanced, Source, Step
from relay_linker.domain.effects import Effect
from relay_linker.domain.state import RelayState, new_state
from relay_linker.linker import Decoder, Incoming, KeyringHasher, admitted
from relay_linker.translate import Translator
from schemas import Filing, RelayTick, decode_relay, encode
from schemas.topics import INGESTION_TOPICS, MAX_MESSAGE_BYTES, RELAY_CLOCK, Namespace, Topic
from trust.directory import Directory
from trust.keys import FilerKeys, clock_signer

CALENDAR_START = datetime(2025, 12, 31, tzinfo=UTC)
BROKEN_FILER = "broken"  # the participant whose malformed records the tests push


@dataclass(frozen=True)
class Decision:
    """One step of the fold: its effects, with the source and relay time of their outputs."""

    source: Source
    relay_time: datetime
    effects: list[Effect]
    filing: Filing | None = None
    """The decoded filing decided (None for a clock step): its new name or address, as filed,
    goes into the change notices the decision makes due."""


"""Where a test's simulated calendar starts unless its filings are later: after the fixtures'
filing dates, so none of them lies in the relay's future."""


@dataclass
class RelayEnv:
    """`stack` is the shared stack; `cfg` is the same stack in this relay's namespace."""

    stack: StackConfig
    cfg: StackConfig
    streams: tuple[str, ...] = ()
    """The on-request per-participant streams the test asked for (`namespace.create`)."""
    published: list[tuple[int, str, int, int, Filing]] = field(default_factory=list)
    ticks: list[datetime] = field(default_factory=list)
    filed: dict[Source, Filing] = field(default_factory=dict)
    """The filings `steps_in_relay_order` read, by source."""
    last_output: str = ""
    """What the last processor `run` printed."""
    router_output: str = ""
    """What the exchange router printed the last time the exchange tests routed."""

    _keys: FilerKeys | None = field(default=None, repr=False)

    @property
    def keys(self) -> FilerKeys:
        """The filers' keys (the PKI is the stack's, shared by every namespace), each filer's
        loaded once, as a filer's own publisher keeps them (not once a record: 20,000 loads
        are half a minute of the recovery test)."""
        if self._keys is None:
            self._keys = FilerKeys(self.cfg, provision=True)
        return self._keys

    @property
    def prefix(self) -> str:
        return self.cfg.topic_prefix

    @property
    def database(self) -> str:
        return self.cfg.pg_database

    @property
    def topics(self) -> Namespace:
        return Namespace(self.cfg.topic_prefix)

    @property
    def env(self) -> dict[str, str]:
        """The variables that put a child process in this relay's namespace."""
        return self.cfg.namespace_env()

    def topic(self, name: str) -> str:
        """The broker name of catalogue topic `name` in this relay's namespace."""
        return self.topics.physical(name)

    def partitions(self, topics: Iterable[Topic]) -> list[TopicPartition]:
        """Every partition of the catalogue topics `topics` in this relay's namespace."""
        return [TopicPartition(self.topics.physical(t), p) for t in topics
                for p in range(t.partitions)]

    @property
    def dsn(self) -> str:
        return self.cfg.pg_dsn()

    def keyring(self) -> Keyring:
        return Keyring.load(self.cfg.keyring_path)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    async def publish(self, items: list[tuple[str, Filing]]) -> None:
        """Publish (logical topic, filing) pairs in order; remember where each landed."""
        await self.publish_partitioned([(t, f, None) for t, f in items])

    async def publish_partitioned(self, items: list[tuple[str, Filing, int | None]]) -> None:
        """Like `publish`, with an explicit partition where one is given."""
        producer = idempotent_producer(self.cfg.kafka(TESTS), linger_ms=5)
        await producer.start()
        try:
            await self.send_filings(producer, items)
        finally:
            await producer.stop()
        await self.participant_topics()

    async def send_filings(self, producer: AIOKafkaProducer,
                           items: Sequence[tuple[str, Filing, int | None]]) -> None:
        """Send (logical topic, filing, partition or None) with `producer`, signed, in order,
        and wait for them; remember where each landed."""
        sends = [(await producer.send(self.topic(t), encode(f), key=f.kafka_key(),
                                      partition=p, headers=self.signed(t, f)), f)
                 for t, f, p in items]
        for future, filing in sends:
            meta = await future
            self.published.append((meta.timestamp, meta.topic, meta.partition, meta.offset,
                                   filing))

    async def participant_topics(self) -> None:
        """The topics of the insurers onboarded on first use as filers (their keys made as
        they signed), so that the notices sealed to them have a topic to go to."""
        await namespace.participant_topics(self.stack, self.topics, self.streams)

    def signed(self, topic: str, filing: Filing) -> list[tuple[str, bytes]]:
        """The headers of `filing` signed by its filer (provisioned on first use)."""
        return self.keys.headers(topic, filing.kafka_key(), encode(filing), filing.filer_code)

    async def send_records(self, items: list[tuple[str, bytes | None, bytes,
                                                   list[tuple[str, bytes]]]]) -> list[int]:
        """Send (logical topic, key, value, headers) records as they are; their offsets."""
        producer = idempotent_producer(self.cfg.kafka(TESTS))
        await producer.start()
        try:
            return [(await producer.send_and_wait(self.topic(t), v, key=k, headers=h)).offset
                    for t, k, v, h in items]
        finally:
            await producer.stop()
            await self.participant_topics()

    async def publish_raw(self, items: list[tuple[str, bytes]],
                          filers: list[str] | None = None) -> int:
        """Push malformed records as a broken filer would, each signed by its filer
        (`filers[i]`, by default BROKEN_FILER) so they reach decoding; the broker itself
        refuses those over the topic's max.message.bytes, so they never reach a processor.
        Returns how many landed."""
        producer = idempotent_producer(self.cfg.kafka(TESTS))
        await producer.start()
        landed = 0
        try:
            for i, (topic, value) in enumerate(items):
                filer = filers[i] if filers is not None else BROKEN_FILER
                key = f"{filer}:broken".encode()
                if len(value) < MAX_MESSAGE_BYTES - 1024:
                    await producer.send_and_wait(self.topic(topic), value, key=key,
                                                 headers=self.keys.headers(topic, key, value,
                                                                           filer))
                    landed += 1
        finally:
            await producer.stop()
        await self.participant_topics()
        return landed

    async def tick(self, at: datetime | None = None) -> datetime:
        """Step the relay's simulated calendar: one tick of the relay clock at `at`, by
        default at the latest occurred_at published so far, the last tick or CALENDAR_START,
        whichever is latest.
        Filings published before it are released to the linker once it is on every
        partition; a later tick more than 14 days on expires what they left parked."""
        if at is None:
            latest = [f.occurred_at for *_, f in self.published]
            at = max([*latest, *self.ticks[-1:], CALENDAR_START])
        tick = await tick_once(self.cfg.kafka(TESTS), self.topics, self.keyring(),
                               clock_signer(self.cfg), at)
        self.ticks.append(tick.relay_time)
        return tick.relay_time

    async def steps_in_relay_order(self) -> list[Step]:
        """What the linker folds, written out longhand from the topics themselves: each
        partition's records numbered by the ticks before them, epoch by epoch in (topic,
        partition, offset) order, the clock advancing to tick k once every partition shows
        it. Records that are no filing (dead letters) change no state and are left out."""
        partitions = self.partitions(INGESTION_TOPICS)
        records = await read_to_end(self.cfg.kafka(TESTS), partitions)
        keyring = self.keyring()
        translator = Translator(keyring)
        decoder = Decoder(self.topics, keyring, Directory(self.cfg))
        epochs: dict[int, list[tuple[str, int, int, Filing]]] = {}
        times: dict[int, datetime] = {}
        seen: dict[tuple[str, int], int] = {}
        for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
            where = (r.topic, r.partition)
            if is_tick_record(r.headers):
                tick = decode_relay(bytes(r.value), RelayTick)
                assert authentic(keyring, tick)
                if tick.seq > seen.get(where, 0):
                    seen[where], times[tick.seq] = tick.seq, tick.relay_time
                continue
            incoming = decoder(r)
            if not isinstance(incoming, Incoming) or incoming.filing is None:
                continue
            epochs.setdefault(seen.get(where, 0), []).append((*where, r.offset, incoming))
        complete = min(seen.get((tp.topic, tp.partition), 0) for tp in partitions)
        steps: list[Step] = []
        for epoch in range(complete):
            relay_time = times[max(epoch, 1)]
            for t, p, o, incoming in sorted(epochs.get(epoch, []), key=lambda x: x[:3]):
                released = Released(incoming, t, p, o, epoch, relay_time)
                filing = admitted(decoder.signers, released).filing
                if filing is not None:
                    source = Source(self.topics.logical(t), p, o)
                    self.filed[source] = filing
                    steps.append(translator.record(filing, source, relay_time))
            steps.append(ClockAdvanced(times[epoch + 1]))
        return steps

    async def fold(self) -> tuple[RelayState, list[Decision]]:
        """The pure fold over `steps_in_relay_order`: the final state, and each step's effects
        with the source and relay time the linker gives its outputs (a clock step's source is
        the relay clock at its epoch)."""
        hasher = KeyringHasher(self.keyring())
        state, decisions, epoch = new_state(), [], 0
        for step in await self.steps_in_relay_order():
            if isinstance(step, ClockAdvanced):
                epoch += 1
                effects = advance(state, step.relay_time)
                decisions.append(Decision(Source(RELAY_CLOCK.name, 0, epoch), step.relay_time,
                                          effects))
            else:
                effects = decide(state, step, hasher)
                decisions.append(Decision(step.source, step.relay_time, effects,
                                          self.filed.get(step.source)))
                apply_all(state, effects)
        return state, decisions

    def run(self, processor: str, extra: dict[str, str] | None = None,
            timeout: float = 600) -> int:
        env = self.cfg.child_env(extra)
        done = subprocess.run([sys.executable, "-m", "shaho.cli", "run", processor, "--drain"],
                              env=env, capture_output=True, timeout=timeout, check=False)
        self.last_output = done.stdout.decode(errors="replace") + done.stderr.decode(
            errors="replace")
        return done.returncode


async def publish_in_phases(relay: RelayEnv, phases: Sequence[tuple[datetime | None,
                                                                    Sequence[tuple[str, Filing]]]]
                            ) -> None:
    """Each phase a tick, then its (topic, filing) pairs: the tick at the phase's time (by
    default its latest filing's), never earlier than a minute after the tick before, so that no
    filing arrives before the relay time it occurred at. One clock and one producer for all
    phases (starting a clock reads the clock topic back: a second or so each)."""
    clock = RelayClock(relay.cfg.kafka(TESTS), relay.topics, relay.keyring(),
                       clock_signer(relay.cfg))
    producer = idempotent_producer(relay.cfg.kafka(TESTS), linger_ms=5)
    await clock.start()
    try:
        await producer.start()
        try:
            for at, items in phases:
                when = at or max(f.occurred_at for _, f in items)
                if relay.ticks:
                    when = max(when, relay.ticks[-1] + timedelta(minutes=1))
                relay.ticks.append((await clock.tick(when)).relay_time)
                await relay.send_filings(producer, [(t, f, None) for t, f in items])
        finally:
            await producer.stop()
    finally:
        await clock.stop()
    await relay.participant_topics()


async def make_env(cfg: StackConfig, unique: str, streams: Sequence[str] = ()) -> RelayEnv:
    """A fresh namespace with the on-request per-participant `streams` too."""
    return RelayEnv(cfg, await namespace.create(cfg, f"t{unique}.", f"relay_{unique}", streams),
                    tuple(streams))


async def drop_env(env: RelayEnv) -> None:
    """Drop the test's database and its topics."""
    await namespace.drop(env.stack, env.prefix, env.database)
