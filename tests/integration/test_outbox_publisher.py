"""The outbox publisher, run as its own OS process and SIGKILLed at each named point, loses
nothing and duplicates nothing for read_committed readers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import admin_client, read_to_end
from infra.topics_admin import apply_catalogue
from schemas.topics import Namespace

pytestmark = pytest.mark.integration

ROWS_PER_LANE = 700


def _publisher(stack: StackConfig, extra_env: dict[str, str]) -> int:
    env = stack.child_env(extra_env)
    done = subprocess.run([sys.executable, "-m", "shaho.cli", "run", "outbox-publisher",
                           "--drain"], env=env, capture_output=True, timeout=180, check=False)
    return done.returncode


async def _fill_outbox(pg: asyncpg.Connection, topic: str, lanes: list[str]) -> set[bytes]:
    values, rows = set(), []
    for lane in lanes:
        for i in range(ROWS_PER_LANE):
            value = f"{lane}|{i}".encode()
            values.add(value)
            rows.append((uuid.uuid4(), lane, lane, 0, i, 0, topic, lane.encode(), value))
    await pg.executemany(
        "INSERT INTO outbox (id, lane, source_topic, source_partition, source_offset, "
        "source_index, topic, key, value) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)", rows)
    return values


async def test_publisher_killed_at_each_point_loses_and_duplicates_nothing(
    stack: StackConfig, pg: asyncpg.Connection, unique: str
):
    await apply_catalogue(stack.bootstrap_servers, Namespace(stack.topic_prefix))
    topic = f"scratch.outbox.{unique}"
    admin = admin_client(stack.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    await admin.close()
    lanes = [f"scratch-{unique}:{p}" for p in range(3)]
    expected = await _fill_outbox(pg, topic, lanes)

    kills = ["publisher.in-transaction:1", "publisher.before-position:2",
             "publisher.after-commit:2", "publisher.in-transaction:3"]
    for fault in kills:
        code = await asyncio.to_thread(_publisher, stack, {"SHAHO_FAULT": fault})
        assert code == -9, f"{fault} should have killed the publisher (exit {code})"
    assert await asyncio.to_thread(_publisher, stack, {}) == 0

    partitions = [TopicPartition(topic, p) for p in range(3)]
    got = [r.value for r in await read_to_end(stack.bootstrap_servers, partitions)]
    assert len(got) == len(expected), "each row exactly once"
    assert set(got) == expected
    for lane in lanes:
        order = [int(v.split(b"|")[1]) for v in got if v.startswith(lane.encode())]
        assert order == sorted(order), "rows of one lane keep their order"
    left = await pg.fetchval("SELECT count(*) FROM outbox WHERE lane = ANY($1)", lanes)
    assert left == 0
