"""The outbox publisher, SIGKILLed at each named point and at random, also while two writers'
commits cross, delivers each key's rows once each and in commit order (versions 1..n)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import default_partition, read_to_end
from infra.principals import TESTS
from outbox.table import OutboxRow, insert_rows, wake_publisher
from schemas.topics import LINK_CHANGE
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

ROWS_PER_KEY = 800  # a transaction carries up to 500 rows of each lane and the largest lane
# holds four keys' rows (3,200): the first three runs commit at most three transactions (1,500
# of its rows), so the fourth has four more to send and reaches its last kill point
KEYS = 12
PERSONS = 40
PARTITIONS = LINK_CHANGE.partitions


def _row(topic: str, key: str, value: dict[str, object]) -> OutboxRow:
    return OutboxRow.keyed(uuid.uuid4(), ("scratch", 0, 0), 0, topic, PARTITIONS,
                           key.encode(), json.dumps(value).encode())


def _start_publisher(relay: RelayEnv, fault: str | None) -> subprocess.Popen[bytes]:
    env = relay.cfg.child_env({"SHAHO_FAULT": fault} if fault else None)
    if not fault:
        env.pop("SHAHO_FAULT", None)
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", "outbox-publisher"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


async def _read(relay: RelayEnv, topic: str) -> dict[int, list[dict]]:
    """Every committed record of `topic`, decoded, per partition in offset order; each record
    checked to sit on the partition its key hashes to."""
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    got: dict[int, list[dict]] = defaultdict(list)
    for r in await read_to_end(relay.cfg.kafka(TESTS), partitions):
        assert r.partition == default_partition(r.key, PARTITIONS)
        got[r.partition].append(json.loads(r.value))
    return got


def _versions_in_order(read: dict[int, list[dict]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for records in read.values():
        for value in records:
            out[value["person"]].append(value["version"])
    return out


async def test_publisher_killed_at_each_point_loses_and_duplicates_nothing(relay: RelayEnv):
    topic = relay.topic(LINK_CHANGE.name)
    keys = [f"key-{k}" for k in range(KEYS)]
    conn = await relay.connect()
    try:
        async with conn.transaction():
            await insert_rows(conn, [_row(topic, key, {"person": key, "version": i + 1})
                                     for i in range(ROWS_PER_KEY) for key in keys])
    finally:
        await conn.close()

    kills = ["publisher.in-transaction:1", "publisher.before-position:2",
             "publisher.after-commit:2", "publisher.in-transaction:3"]
    for fault in kills:
        code = await asyncio.to_thread(relay.run, "outbox-publisher", {"SHAHO_FAULT": fault})
        assert code == -9, f"{fault} should have killed the publisher (exit {code})"
    assert await asyncio.to_thread(relay.run, "outbox-publisher") == 0, relay.last_output

    versions = _versions_in_order(await _read(relay, topic))
    assert versions == {key: list(range(1, ROWS_PER_KEY + 1)) for key in keys}
    conn = await relay.connect()
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()


async def _persons(relay: RelayEnv) -> None:
    """The writers' table of persons, each at version 0."""
    conn = await relay.connect()
    try:
        await conn.execute("CREATE TABLE scratch_person (id int PRIMARY KEY, version int)")
        await conn.executemany("INSERT INTO scratch_person VALUES ($1, 0)",
                               [(p,) for p in range(PERSONS)])
    finally:
        await conn.close()


async def _writer(relay: RelayEnv, topic: str, rng: random.Random, transactions: int) -> int:
    """Transactions that each bump a few persons' versions and write their changes to the
    outbox, pausing before the commit so that the two writers' commits cross while the
    publisher, woken by each commit, reads."""
    conn = await relay.connect()
    written = 0
    try:
        for _ in range(transactions):
            persons = sorted(rng.sample(range(PERSONS), rng.randint(1, 4)))
            async with conn.transaction():
                rows = await conn.fetch(
                    "UPDATE scratch_person SET version = version + 1 WHERE id = ANY($1::int[]) "
                    "RETURNING id, version", persons)
                await insert_rows(conn, [_row(topic, f"p{r['id']}", {"person": f"p{r['id']}",
                                                                   "version": r["version"]})
                                         for r in sorted(rows, key=lambda r: r['id'])])
                await wake_publisher(conn)
                await asyncio.sleep(rng.uniform(0, 0.05))
            written += len(rows)
    finally:
        await conn.close()
    return written


async def test_two_writers_and_a_killed_publisher_give_each_person_1_to_n(relay: RelayEnv):
    topic = relay.topic(LINK_CHANGE.name)
    await _persons(relay)

    rng = random.Random(11)
    writers = asyncio.gather(*(_writer(relay, topic, random.Random(seed), 300)
                               for seed in (1, 2)))
    faults = iter(["publisher.in-transaction:2", "publisher.before-position:3",
                   "publisher.after-commit:2"])
    kills = 0
    while not writers.done():
        publisher = _start_publisher(relay, next(faults, None))
        await asyncio.wait([writers], timeout=rng.uniform(1.0, 3.0))
        if publisher.poll() is None:
            publisher.send_signal(signal.SIGKILL)
        kills += publisher.wait() == -signal.SIGKILL
    written = sum(writers.result())
    assert kills >= 3
    assert await asyncio.to_thread(relay.run, "outbox-publisher") == 0, relay.last_output

    conn = await relay.connect()
    try:
        final = {f"p{r['id']}": r["version"]
                 for r in await conn.fetch("SELECT id, version FROM scratch_person")}
    finally:
        await conn.close()
    versions = _versions_in_order(await _read(relay, topic))
    assert sum(len(v) for v in versions.values()) == written
    assert versions == {p: list(range(1, n + 1)) for p, n in final.items() if n}


async def _lock_holders(relay: RelayEnv) -> int:
    conn = await relay.connect()
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                   "AND granted")
    finally:
        await conn.close()


async def test_a_second_publisher_stands_by_until_the_first_dies_and_nothing_goes_twice(
        relay: RelayEnv):
    """Two publishers side by side while two writers commit: the second waits for the first's
    lock as a standby, publishes once the first is SIGKILLed, and every person's rows arrive
    once, 1..n."""
    topic = relay.topic(LINK_CHANGE.name)
    await _persons(relay)
    writers = asyncio.gather(*(_writer(relay, topic, random.Random(seed), 200)
                               for seed in (3, 4)))
    first = _start_publisher(relay, None)
    second: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(300):  # the first holds the publishing lock
            if await _lock_holders(relay) == 1:
                break
            await asyncio.sleep(0.1)
        assert await _lock_holders(relay) == 1, "the first publisher took no lock"
        second = _start_publisher(relay, None)
        await asyncio.sleep(3)  # both live, the writers committing
        assert first.poll() is None and second.poll() is None
        first.send_signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
        written = sum(await writers)
        conn = await relay.connect()
        try:
            for _ in range(600):  # the standby took over and emptied the outbox
                if await conn.fetchval("SELECT count(*) FROM outbox") == 0:
                    break
                await asyncio.sleep(0.1)
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
            final = {f"p{r['id']}": r["version"]
                     for r in await conn.fetch("SELECT id, version FROM scratch_person")}
        finally:
            await conn.close()
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    versions = _versions_in_order(await _read(relay, topic))
    assert sum(len(v) for v in versions.values()) == written
    assert versions == {p: list(range(1, n + 1)) for p, n in final.items() if n}
