"""Reading partitions to their end right after concurrent transactions commit: every record
committed before the read is read, records of a transaction that aborted never are, and the
reader does not wait for what comes later."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from groundfloor.kafka_clients import read_to_end, transactional_producer
from infra.principals import TESTS
from schemas.topics import FILING_OUTCOME
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration
PRODUCERS, ROUNDS = 12, 6


async def _commit(producer: AIOKafkaProducer, topic: str, partition: int, value: bytes) -> None:
    async with producer.transaction():
        await producer.send(topic, value, key=b"k", partition=partition)


async def test_what_concurrent_transactions_committed_is_read_at_once(relay: RelayEnv,
                                                                      unique: str):
    login = relay.cfg.kafka(TESTS)
    topic = relay.topic(FILING_OUTCOME.name)
    partitions = [TopicPartition(topic, p) for p in range(FILING_OUTCOME.partitions)]
    producers = [transactional_producer(login, f"read-to-end-{unique}-{n}")
                 for n in range(PRODUCERS)]
    await asyncio.gather(*(p.start() for p in producers))
    try:
        sent: set[bytes] = set()
        for round_ in range(ROUNDS):
            values = [f"round {round_} producer {n}".encode() for n in range(PRODUCERS)]
            await asyncio.gather(*(_commit(p, topic, n % len(partitions), v)
                                   for n, (p, v) in enumerate(zip(producers, values,
                                                                  strict=True))))
            sent |= set(values)
            got = await read_to_end(login, partitions, seconds=60)
            missing = sent - {r.value for r in got}
            assert not missing, f"round {round_}: {len(missing)} committed records not read"
        aborting = producers[0]
        await aborting.begin_transaction()
        await aborting.send(topic, b"never committed", key=b"k", partition=0)
        await aborting.flush()
        await aborting.abort_transaction()
        got = await read_to_end(login, partitions, seconds=60)
        assert {r.value for r in got} == sent
    finally:
        await asyncio.gather(*(p.stop() for p in producers))
