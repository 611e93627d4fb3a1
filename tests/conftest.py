"""Test tiers: unit tests need nothing; integration and e2e tests share one real local stack.

The stack is started once per session (idempotently) and stopped at the end if the session
started it; `shaho test` starts it before pytest and stops it after.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import KafkaLogin
from infra.principals import OPERATOR, TESTS
from tests.integration.relay_env import RelayEnv


@pytest.fixture(scope="session")
def stack() -> Iterator[StackConfig]:
    from infra.stack import down, is_up, up

    cfg = StackConfig.from_env()
    started = not is_up(cfg)
    up(cfg)
    yield cfg
    if started:
        down(cfg)


@pytest.fixture(scope="session")
def kafka(stack: StackConfig) -> KafkaLogin:
    """The tests' own broker login."""
    return stack.kafka(TESTS)


@pytest.fixture(scope="session")
def operator(stack: StackConfig) -> KafkaLogin:
    """The operator's login: topic administration and provisioning."""
    return stack.kafka(OPERATOR)


@pytest.fixture
async def pg(stack: StackConfig) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.pg_dsn())
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def relay(stack: StackConfig, unique: str,
                request: pytest.FixtureRequest) -> AsyncIterator[RelayEnv]:
    """A relay namespace of the test's own: database and topics, dropped afterwards. It has
    the per-participant streams made on request (`namespace.ON_REQUEST_STREAMS`) that the
    test's `participant_streams` marker names."""
    from tests.integration.relay_env import drop_env, make_env

    marker = request.node.get_closest_marker("participant_streams")
    env = await make_env(stack, unique, marker.args if marker else ())
    yield env
    await drop_env(env)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for group ids, transactional ids and scratch names."""
    return uuid.uuid4().hex[:10]
