"""An isolated relay for one test: its own database and its own topic namespace on the shared
broker, with helpers to publish filings and run the processors as separate OS processes."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import asyncpg

from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import idempotent_producer
from infra import namespace
from relay_linker.domain.commands import LinkerRecord, Source
from relay_linker.translate import Translator
from schemas import Filing, encode
from schemas.topics import MAX_MESSAGE_BYTES, Namespace


@dataclass
class RelayEnv:
    """`stack` is the shared stack; `cfg` is the same stack in this relay's namespace."""

    stack: StackConfig
    cfg: StackConfig
    published: list[tuple[int, str, int, int, Filing]] = field(default_factory=list)

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
        producer = idempotent_producer(self.cfg.bootstrap_servers, linger_ms=5)
        await producer.start()
        try:
            sends = [(await producer.send(self.topic(t), encode(f), key=f.kafka_key(),
                                          partition=p), f) for t, f, p in items]
            for future, filing in sends:
                meta = await future
                self.published.append((meta.timestamp, meta.topic, meta.partition,
                                       meta.offset, filing))
        finally:
            await producer.stop()

    async def publish_raw(self, items: list[tuple[str, bytes]]) -> int:
        """Push malformed records as a broken filer would; the broker itself refuses those
        over the topic's max.message.bytes, so they never reach a processor. Returns how many
        landed."""
        producer = idempotent_producer(self.cfg.bootstrap_servers)
        await producer.start()
        landed = 0
        try:
            for topic, value in items:
                if len(value) < MAX_MESSAGE_BYTES - 1024:
                    await producer.send_and_wait(self.topic(topic), value, key=b"broken:1")
                    landed += 1
        finally:
            await producer.stop()
        return landed

    def records_in_consumption_order(self) -> list[LinkerRecord]:
        """What the linker reads, merged across partitions by event time as its alignment
        hands records out: per partition in offset order, heads by (occurred_at, topic,
        partition, offset)."""
        translator = Translator(self.keyring())
        queues: dict[tuple[str, int], list] = {}
        for _, topic, part, offset, filing in sorted(self.published, key=lambda p: p[1:4]):
            queues.setdefault((topic, part), []).append((offset, filing))
        ordered = []
        while any(queues.values()):
            heads = [(q[0][1].occurred_at, tp, q[0][0]) for tp, q in queues.items() if q]
            _, tp, _ = min(heads)
            offset, filing = queues[tp].pop(0)
            ordered.append(translator.record(filing, Source(tp[0], tp[1], offset)))
        return ordered

    def run(self, processor: str, extra: dict[str, str] | None = None,
            timeout: float = 600) -> int:
        env = self.cfg.child_env(extra)
        done = subprocess.run([sys.executable, "-m", "shaho.cli", "run", processor, "--drain"],
                              env=env, capture_output=True, timeout=timeout, check=False)
        self.last_output = done.stdout.decode(errors="replace") + done.stderr.decode(
            errors="replace")
        return done.returncode


async def make_env(cfg: StackConfig, unique: str) -> RelayEnv:
    return RelayEnv(cfg, await namespace.create(cfg, f"t{unique}.", f"relay_{unique}"))


async def drop_env(env: RelayEnv) -> None:
    """Drop the test's database and its topics."""
    await namespace.drop(env.stack, env.prefix, env.database)
