"""The relay-internal contract on the real broker and database: LinkChanged v2 beside v1, and age
milestones announced by the relay clock, exactly as folding the pure core over the same steps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from consumers.reading import read_committed
from infra.principals import TESTS
from relay_clock.ticks import is_tick_record
from relay_linker.domain import advance, apply_all, decide, history, new_state
from relay_linker.domain.commands import ClockAdvanced
from relay_linker.domain.effects import AgeMilestoneEmitted
from relay_linker.domain.milestones import relay_date
from relay_linker.linker import KeyringHasher
from relay_linker.readback import load_all
from schemas import LinkChanged, decode_relay
from schemas.internal import AgeMilestoneReached, LinkChangedV2
from schemas.topics import AGE_MILESTONE, LINK_CHANGE, LINK_CHANGE_V2
from synthetic.population import Population, generate
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

LATER = datetime(2027, 6, 30, tzinfo=UTC)
"""A second tick well after the filings: a year and more of milestones falls due."""


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(17, 300, date(2025, 1, 1))


async def _fold(relay: RelayEnv) -> tuple[tuple, list[AgeMilestoneEmitted]]:
    """The fold's history with milestones, and the milestones it announced."""
    hasher = KeyringHasher(relay.keyring())
    state, announced = new_state(), []
    for step in await relay.steps_in_relay_order():
        if isinstance(step, ClockAdvanced):
            reached = advance(state, step.relay_time)
            announced += [e for e in reached if isinstance(e, AgeMilestoneEmitted)]
        else:
            apply_all(state, decide(state, step, hasher))
    return history(state, include_retracted=True, include_milestones=True), announced


async def _read(relay: RelayEnv, topic, model) -> list:
    records = await read_committed(relay.cfg.kafka(TESTS), [relay.topic(topic.name)])
    return [(r.key, decode_relay(bytes(r.value), model)) for r in records
            if not is_tick_record(r.headers)]  # the relay clock's ticks the linker forwards


async def test_the_internal_topics_carry_what_the_fold_decides(
    relay: RelayEnv, population: Population
) -> None:
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.tick()
    await relay.tick(LATER)
    assert relay.run("relay-linker") == 0, relay.last_output
    assert relay.run("outbox-publisher") == 0, relay.last_output

    expected_history, expected_milestones = await _fold(relay)
    conn = await relay.connect()
    try:
        table = history(await load_all(conn, relay.keyring()), include_retracted=True,
                        include_milestones=True)
        indexed = await conn.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'age_milestones' "
            "AND indexdef LIKE '%(due_on)%'")
    finally:
        await conn.close()
    assert table == expected_history
    assert any(row[0] == "milestone" for row in table), "milestones still to come are stored"
    assert indexed == 1

    milestones = await _read(relay, AGE_MILESTONE, AgeMilestoneReached)
    assert len(milestones) > 5
    assert sorted((m.relay_id, m.milestone.value, m.milestone_on, m.outbox_id)
                  for _, m in milestones) == sorted(
        (e.relay_id, e.name, e.due_on, e.outbox_id) for e in expected_milestones)
    assert all(key == m.relay_id.encode() for key, m in milestones)
    assert len({(m.relay_id, m.milestone) for _, m in milestones}) == len(milestones)
    assert all(m.milestone_on <= relay_date(m.relay_time) for _, m in milestones)

    first = await _read(relay, LINK_CHANGE, LinkChanged)
    second = await _read(relay, LINK_CHANGE_V2, LinkChangedV2)
    assert len(second) == len(first) > 300

    def common(m: LinkChanged | LinkChangedV2) -> tuple:
        return (m.relay_id, m.person_version, m.change, m.scheme, m.insurer_number,
                m.capacity, m.valid_from, m.valid_to, m.source_event_id)

    assert sorted(map(common, (m for _, m in first))) == sorted(
        map(common, (m for _, m in second)))
    v2 = [m for _, m in second]
    reasons = {m.closed_because.value for m in v2 if m.closed_because is not None}
    assert {"loss", "late_stage_transfer"} <= reasons
    assert all((m.closed_because is None) == (m.valid_to is None or m.change == "retracted")
               for m in v2)
    assert {m.pension_type for m in v2 if m.scheme.value == "pension"} >= {1, 2, 3}
    assert any(m.spouse_relay_id is not None for m in v2 if m.pension_type == 3)
    # an insurer's member load names no insured person; an employer's filings always do
    assert any(m.insured_relay_id is not None for m in v2 if m.capacity == "dependant")
