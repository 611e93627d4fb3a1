"""Operations see the linker's lag per partition: what was published and not yet applied,
then nothing once the linker has caught up; the outbox backlog drains with the publisher."""

from __future__ import annotations

from datetime import date

import pytest

from consumers.lag import measure
from infra.principals import TESTS
from synthetic.population import generate
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration



async def _lag(relay: RelayEnv):
    conn = await relay.connect()
    try:
        return await measure(relay.cfg.kafka(TESTS), relay.topics, conn)
    finally:
        await conn.close()


async def test_lag_counts_unapplied_records_until_the_linker_catches_up(relay: RelayEnv):
    population = generate(2, 30, date(2025, 1, 1))
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    before = await _lag(relay)
    assert before.total == len(population.filings)
    assert len(before.partitions) == 24
    await relay.tick()  # releases the filings; its 24 records are lag too, until applied
    assert (await _lag(relay)).total == len(population.filings) + 24
    assert relay.run("relay-linker") == 0
    after = await _lag(relay)
    assert after.total == 0 and after.outbox_rows > 0
    assert relay.run("outbox-publisher") == 0
    assert (await _lag(relay)).outbox_rows == 0
