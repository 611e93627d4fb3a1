"""The relay linker on the real broker and database: a synthetic population's filings give
exactly the link history that folding the pure decision function over the same records gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from producers.population import Population, generate
from relay_linker.domain import fold, history
from relay_linker.inspect import load_all
from relay_linker.linker import KeyringHasher
from shaho.config import StackConfig
from tests.integration.relay_env import RelayEnv, drop_env, make_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def relay(stack: StackConfig, unique: str) -> AsyncIterator[RelayEnv]:
    env = await make_env(stack, unique)
    yield env
    await drop_env(env)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(11, 300, date(2025, 1, 1))


async def _table_history(relay: RelayEnv) -> tuple:
    conn = await relay.connect()
    try:
        return history(await load_all(conn, relay.keyring()), include_retracted=True)
    finally:
        await conn.close()


def _fold_history(relay: RelayEnv) -> tuple:
    state = fold(relay.records_in_consumption_order(), KeyringHasher(relay.keyring()))
    return history(state, include_retracted=True)


async def test_population_gives_the_folds_link_history(relay: RelayEnv, population: Population):
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.publish_raw(population.bad_records)
    assert relay.run("relay-linker") == 0, relay.last_output
    table = await _table_history(relay)
    expected = _fold_history(relay)
    assert len([r for r in expected if r[0] == "link"]) > 300
    assert table == expected
