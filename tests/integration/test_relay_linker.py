"""The relay linker on the real broker and database: a synthetic population's filings give
exactly the link history that folding the pure decision function over the same records gives."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
from datetime import date, timedelta

import pytest

from consumers.reading import read_committed
from infra.principals import TESTS
from relay_linker.domain import fold, history
from relay_linker.domain.commands import Source
from relay_linker.domain.state import RelayState
from relay_linker.linker import KeyringHasher
from relay_linker.readback import load_all
from relay_linker.translate import Translator
from schemas.topics import CATALOGUE, INGESTION_TOPICS, PERSON_CHANGE
from synthetic.population import Population, generate
from tests.fixtures.examples import leaks, secret_values
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def population() -> Population:
    return generate(11, 300, date(2025, 1, 1))


async def _table_state(relay: RelayEnv) -> RelayState:
    conn = await relay.connect()
    try:
        return await load_all(conn, relay.keyring())
    finally:
        await conn.close()


async def _table_history(relay: RelayEnv, *, include_milestones: bool = False) -> tuple:
    return history(await _table_state(relay), include_retracted=True,
                   include_milestones=include_milestones)


def _anomalies(state: RelayState) -> set[tuple]:
    """Anomalies stay out of `history` (a look-alike is raised only when a filing arrives
    before the identity change it needs), so the same-order run compares them apart."""
    return {(a.anomaly_id, a.code, a.relay_ids, a.event_id, a.fields, a.link_ids, a.resolved)
            for a in state.anomalies.values()}


async def test_population_gives_the_folds_link_history(relay: RelayEnv, population: Population):
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.publish_raw(population.bad_records, population.bad_filers)
    await relay.tick()
    assert relay.run("relay-linker") == 0, relay.last_output
    table = await _table_state(relay)
    folded = fold(await relay.steps_in_relay_order(), KeyringHasher(relay.keyring()))
    expected = history(folded, include_retracted=True, include_milestones=True)
    assert len([r for r in expected if r[0] == "link"]) > 300
    assert history(table, include_retracted=True, include_milestones=True) == expected
    assert _anomalies(table) == _anomalies(folded)
    assert any(a.resolved for a in folded.anomalies.values())
    _only_real_double_enrolment_stays_open(folded)


def _only_real_double_enrolment_stays_open(state: RelayState) -> None:
    """Joining employee insurance on D ends NHI on D + 1 (DOMAIN §6), and the population dates
    its NHI losses so: an overlap anomaly still open is someone who never left NHI."""
    links = {x.link_id: x for held in state.links.values() for x in held}
    overlaps = [a for a in state.anomalies.values() if a.code == "overlapping_medical_coverage"]
    still_open = [[links[i] for i in a.link_ids] for a in overlaps if not a.resolved]
    assert any(a.resolved for a in overlaps)
    for pair in still_open:
        kept = [x for x in pair if x.category == "nhi" and not x.lost and not x.retracted]
        assert kept, [(x.category, x.valid_from, x.valid_to, x.lost) for x in pair]


def _in_order_history(relay: RelayEnv, population: Population) -> tuple:
    """The history of the population arriving in order (one partition per topic, no copies)."""
    translator = Translator(relay.keyring())
    records = [translator.record(f, Source(population.topic_of(f), 0, i), f.occurred_at)
               for i, f in enumerate(population.filings)]
    return history(fold(records, KeyringHasher(relay.keyring())), include_retracted=True)


async def test_shuffled_duplicated_and_replayed_give_the_same_history(
    relay: RelayEnv, population: Population
):
    rng = random.Random(3)
    jitter = {f.event_id: timedelta(days=rng.uniform(0, 5)) for f in population.filings}
    shuffled = sorted(population.filings, key=lambda f: f.occurred_at + jitter[f.event_id])
    copies = rng.sample(range(len(shuffled)), len(shuffled) // 20)
    for position in sorted(copies, reverse=True):
        shuffled.insert(min(len(shuffled), position + rng.randint(1, 30)), shuffled[position])
    assert shuffled != population.filings and len(shuffled) > len(population.filings)
    await relay.publish([(population.topic_of(f), f) for f in shuffled])
    await relay.tick()
    assert relay.run("relay-linker") == 0, relay.last_output
    expected = _in_order_history(relay, population)
    assert await _table_history(relay) == expected

    conn = await relay.connect()
    try:
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        # replay everything: the positions from offset 0, the relay clock from its first tick
        await conn.execute("DELETE FROM consumer_offsets")
        await conn.execute("DELETE FROM relay_clock")
    finally:
        await conn.close()
    assert relay.run("relay-linker") == 0, relay.last_output
    assert await _table_history(relay) == expected
    conn = await relay.connect()
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox, "replay emits nothing"
    finally:
        await conn.close()


def _secrets(population: Population) -> list[str]:
    """Every person-level number and identity item of the population worth searching for:
    numbers of 6+ characters, names, address parts, birth dates before the simulated period
    (later ones could equal an ordinary filing date)."""
    found: set[str] = set()
    for filing in population.filings:
        for value in secret_values(filing):
            if value[:4].isdigit() and value[4:5] == "-" and len(value) == 10:
                if value < "2024-12-01":
                    found.add(value)
            elif not value.replace("-", "").isdigit() or len(value) >= 6:
                found.add(value)
    return sorted(found)


async def test_database_topics_and_logs_hold_no_secret_in_clear(
    relay: RelayEnv, population: Population
):
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.publish_raw(population.bad_records, population.bad_filers)
    await relay.tick()
    assert relay.run("relay-linker") == 0
    linker_log = relay.last_output
    assert relay.run("outbox-publisher") == 0
    dump = await asyncio.to_thread(_dump, relay)
    assert "COPY public.links" in dump and len(dump) > 100_000
    # PersonChanged carries birth dates by design: relay-internal, read by no participant
    outputs = await _topic_text(relay, [t for t in CATALOGUE
                                        if t not in INGESTION_TOPICS and t != PERSON_CHANGE])
    assert "DeadLetter" not in outputs and '"original"' in outputs
    values = _secrets(population)
    assert len(values) > 1000
    filed = await _topic_text(relay, list(INGESTION_TOPICS))
    assert len(leaks(values, filed)) > 1000, "the search finds what the filings carry in clear"
    assert leaks(values, dump) == []
    assert leaks(values, outputs) == []
    told = leaks(values, await _topic_text(relay, [PERSON_CHANGE]))
    assert told and all(v[:4].isdigit() and v[4:5] == "-" for v in told), "birth dates only"
    assert leaks(values, linker_log, relay.last_output) == []


def _dump(relay: RelayEnv) -> str:
    from infra.postgres import _bin_dir

    return subprocess.run(
        [str(_bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(relay.cfg.pg_port), "-U",
         relay.cfg.pg_user, "--data-only", relay.database],
        env={**os.environ, "PGPASSWORD": relay.cfg.pg_password()}, capture_output=True,
        text=True, check=True).stdout


async def _topic_text(relay: RelayEnv, topics: list) -> str:
    records = await read_committed(relay.cfg.kafka(TESTS),
                                   [relay.topic(t.name) for t in topics])
    return "\n".join((r.key or b"").decode(errors="replace")
                     + (r.value or b"").decode(errors="replace") for r in records)
