"""The local stack is real: a broker with consumer groups and transactions, a database with
migrations, and a topic catalogue that can be applied any number of times."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import NewTopic

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import (
    KafkaLogin,
    admin_client,
    idempotent_producer,
    reader,
    transactional_producer,
)
from infra.migrations import apply_all, discover
from infra.topics_admin import apply_catalogue, describe
from schemas.topics import CATALOGUE, Namespace

pytestmark = pytest.mark.integration


async def _scratch_topic(kafka: KafkaLogin, name: str, partitions: int = 1) -> None:
    admin = admin_client(kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _drain(consumer: AIOKafkaConsumer, want: int, seconds: float = 15.0) -> list:
    got: list = []
    deadline = asyncio.get_running_loop().time() + seconds
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            got.extend(records)
    return got


async def test_produce_consume_round_trip_commits_group_offsets(kafka: KafkaLogin, unique: str):
    topic, group = f"scratch.roundtrip.{unique}", f"g-{unique}"
    await _scratch_topic(kafka, topic, partitions=3)
    producer = idempotent_producer(kafka)
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i % 5}".encode())
    finally:
        await producer.stop()
    # a raw client on purpose: this checks the broker's group membership and balancing, which
    # no client of the relay uses (its processors assign their partitions themselves)
    consumer = AIOKafkaConsumer(topic, **kafka.settings(), group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records = await _drain(consumer, 30)
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(30))
    per_key = {}
    for r in records:
        per_key.setdefault(r.key, []).append(int(r.value[1:]))
    assert all(v == sorted(v) for v in per_key.values()), "per-key order must hold"
    assert sum(committed.values()) == 30

    again = AIOKafkaConsumer(topic, **kafka.settings(), group_id=group,  # as above
                             auto_offset_reset="earliest", enable_auto_commit=False)
    await again.start()
    try:
        assert await _drain(again, 1, seconds=3.0) == [], "a committed group resumes past its work"
    finally:
        await again.stop()


async def test_read_committed_sees_commits_only_never_aborts(kafka: KafkaLogin, unique: str):
    topic = f"scratch.txn.{unique}"
    await _scratch_topic(kafka, topic)
    producer = transactional_producer(kafka, f"t-{unique}")
    await producer.start()
    committed = reader(kafka, topic)
    await committed.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted-1")
        await producer.send_and_wait(topic, b"aborted-2")
        await producer.abort_transaction()
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"committed-1")
        assert await _drain(committed, 1, seconds=2.0) == [], "nothing visible before commit"
        await producer.commit_transaction()
        seen = await _drain(committed, 1)
        assert [r.value for r in seen] == [b"committed-1"]
        assert await _drain(committed, 1, seconds=1.5) == []
    finally:
        await committed.stop()
        await producer.stop()


async def test_migrations_apply_twice_without_harm(pg: asyncpg.Connection):
    await apply_all(pg)
    assert await apply_all(pg) == []
    rows = await pg.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r["name"] for r in rows] == [m.name for m in discover()]


async def test_catalogue_applies_twice_without_harm(operator: KafkaLogin):
    topics = Namespace()
    await apply_catalogue(operator, topics)
    assert await apply_catalogue(operator, topics) == []
    parts = await describe(operator, topics)
    assert parts == {topics.physical(t): t.partitions for t in CATALOGUE}


async def test_catalogue_configs_reach_the_broker(kafka: KafkaLogin):
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = admin_client(kafka)
    await admin.start()
    try:
        dlq = next(t for t in CATALOGUE if t.name.endswith(".dlq"))
        [response] = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, Namespace().physical(dlq))])
        entries = {e[0]: e[1] for e in response.resources[0][4]}
    finally:
        await admin.close()
    assert entries["max.message.bytes"] == str(dlq.max_message_bytes)
    assert entries["cleanup.policy"] == dlq.cleanup_policy
    assert entries["retention.ms"] == str(dlq.retention_ms)


def test_storage_formats_under_a_cluster_id_that_starts_with_a_dash(
    stack: StackConfig, tmp_path: Path
) -> None:
    # One generated id in 64 starts with "-"; the broker's own tool must still take it.
    from infra import kafka

    scratch = replace(stack, state_dir=tmp_path)
    (scratch.kafka_dir / "config").mkdir(parents=True)
    (scratch.kafka_dir / "cluster-id").write_text("-5Xzmg87QcKu9KGrSazOuA")
    props = scratch.kafka_dir / "config" / "server.properties"
    props.write_text(kafka._properties(scratch))
    kafka._format_storage(scratch, props, stack.kafka_dir / "lib")
    meta = (scratch.kafka_dir / "data" / "meta.properties").read_text()
    assert "cluster.id=-5Xzmg87QcKu9KGrSazOuA" in meta


async def test_a_processors_sessions_carry_its_name(stack: StackConfig):
    """Each processor's pool names its sessions `shaho:<processor>`, as pg_stat_activity shows
    them to an operator (and to the fault runs, which find the linker's session by it)."""
    from shaho.bootstrap import pool

    db = await pool(stack, "relay-linker", size=2)
    try:
        async with db.acquire() as one, db.acquire() as two:
            pids = [one.get_server_pid(), two.get_server_pid()]
            named = await one.fetch(
                "SELECT application_name FROM pg_stat_activity WHERE pid = ANY($1)", pids)
            assert [r["application_name"] for r in named] == ["shaho:relay-linker"] * 2
    finally:
        await db.close()
    with pytest.raises(ValueError):
        await pool(stack, "no-such-processor")
