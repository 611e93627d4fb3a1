"""The relay clock on the real broker: ticks on every partition, the broker's time in
production, and the deadlines of the linker judged by it alone (a forged future, a forged
tick, a quiet partition, a backlog of old filings, a replay from the start)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import idempotent_producer, read_to_end
from infra.migrations import apply_all
from infra.principals import TESTS
from relay_clock.clock import ClockError, tick_once
from relay_clock.ticks import authentic, headers, is_tick_record
from relay_linker.domain import history
from relay_linker.readback import load_all
from schemas import RelayTick, decode_relay, encode
from schemas.envelope import JST, new_filing
from schemas.filings import topic_for
from schemas.topics import INGESTION_TOPICS, OUTCOME_TOPICS, RELAY_CLOCK
from tests.fixtures.examples import all_examples
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import load_private_key
from trust.keys import clock_signer
from trust.pki import Participant
from trust.sealing import decode_sealed, open_outcome

pytestmark = pytest.mark.integration

EXAMPLES = all_examples()
SEALED = {t.name for t in OUTCOME_TOPICS.values()}  # outcomes sealed to their filer
REGISTRATION, ACQUISITION = EXAMPLES["ResidentRegistered"], EXAMPLES["EmployeeInsuranceAcquired"]
ASSIGNMENT = EXAMPLES["BasicPensionNumberAssigned"]  # accepted once the person is registered
MUNICIPALITY, EMPLOYER = "filing.municipality.v1", "filing.employer.v1"
PENSION = topic_for(ASSIGNMENT.event_type).name


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=JST)


def _refiled(filing, reference: str, when: datetime):
    """`filing` again under its own filer, a new reference and filing time."""
    return new_filing(filing.payload, filer_code=filing.filer_code, filing_reference=reference,
                      person_token=filing.person_token, occurred_at=when)


async def _ledger(relay: RelayEnv) -> dict[str, str]:
    conn = await relay.connect()
    try:
        return {r["filing_reference"]: r["status"] for r in await conn.fetch(
            "SELECT filing_reference, status FROM filing_ledger")}
    finally:
        await conn.close()


async def test_a_production_tick_carries_the_brokers_time_onto_every_partition(relay: RelayEnv):
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert relay.run("relay-clock") == 0, relay.last_output  # --drain: one tick
    after = datetime.now(UTC) + timedelta(seconds=5)
    partitions = [TopicPartition(relay.topic(t), p)
                  for t in INGESTION_TOPICS for p in range(t.partitions)]
    clock = TopicPartition(relay.topic(RELAY_CLOCK), 0)
    records = await read_to_end(relay.cfg.kafka(TESTS), [*partitions, clock])
    assert {(r.topic, r.partition) for r in records} == {(tp.topic, tp.partition)
                                                         for tp in [*partitions, clock]}
    ticks = [decode_relay(bytes(r.value), RelayTick) for r in records]
    assert all(is_tick_record(r.headers) for r in records)
    assert {(t.seq, t.relay_time) for t in ticks} == {(1, ticks[0].relay_time)}
    assert before <= ticks[0].relay_time <= after
    assert authentic(relay.keyring(), ticks[0])


async def test_the_simulated_calendar_never_moves_backwards(relay: RelayEnv):
    await relay.tick(_at(date(2025, 5, 1)))
    with pytest.raises(ClockError):
        await tick_once(relay.cfg.kafka(TESTS), relay.topics, relay.keyring(),
                        clock_signer(relay.cfg), _at(date(2025, 4, 30)))
    assert await relay.tick(_at(date(2025, 5, 1))) == _at(date(2025, 5, 1))  # standing still


async def test_a_forged_future_moves_no_deadline_and_a_forged_tick_is_a_dead_letter(
    relay: RelayEnv,
):
    """The issue's case: a filing waiting for its person, then a record claiming 2999 and a
    tick nobody's clock wrote; the registration that comes next is still in time."""
    day = _at(date(2025, 4, 2))
    waiting = _refiled(ASSIGNMENT, "WAITS", day)
    forged = _refiled(ACQUISITION, "FAR-FUTURE", datetime(2999, 1, 1, tzinfo=JST))
    await relay.publish([(PENSION, waiting), (EMPLOYER, forged)])
    fake = RelayTick(seq=2, relay_time=datetime(2999, 1, 1, tzinfo=UTC), mac="0" * 64)
    producer_topic = relay.topic(EMPLOYER)
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        for p in range(6):
            await producer.send_and_wait(producer_topic, encode(fake), key=b"relay-clock",
                                         partition=p, headers=headers())
    finally:
        await producer.stop()
    await relay.tick(day)
    await relay.publish([(MUNICIPALITY, _refiled(REGISTRATION, "REG", day))])
    await relay.tick(day + timedelta(days=3))
    assert relay.run("relay-linker") == 0, relay.last_output
    ledger = await _ledger(relay)
    assert ledger["WAITS"] == "accepted", "the forged future expired nothing"
    assert ledger["FAR-FUTURE"] == "refused"
    conn = await relay.connect()
    try:
        reasons = await conn.fetchval(
            "SELECT entry FROM filing_ledger WHERE filing_reference = 'FAR-FUTURE'")
    finally:
        await conn.close()
    assert "occurred_in_future" in reasons
    assert relay.run("outbox-publisher") == 0, relay.last_output
    dlq = relay.topic(f"{EMPLOYER}.dlq")
    dead = await read_to_end(relay.cfg.kafka(TESTS),
                             [TopicPartition(dlq, p) for p in range(6)])
    forged_ticks = [d for d in dead if b"forged_tick" in d.value]
    assert len(forged_ticks) == 6


async def test_a_filing_parked_on_a_quiet_partition_gets_its_answer_from_the_clock(
    relay: RelayEnv,
):
    day = _at(date(2025, 4, 2))
    await relay.publish([(EMPLOYER, _refiled(ACQUISITION, "NEVER-REGISTERED", day))])
    await relay.tick(day)
    assert relay.run("relay-linker") == 0, relay.last_output
    assert (await _ledger(relay))["NEVER-REGISTERED"] == "parked"
    await relay.tick(day + timedelta(days=14))  # exactly 14 days: still within the bound
    assert relay.run("relay-linker") == 0, relay.last_output
    assert (await _ledger(relay))["NEVER-REGISTERED"] == "parked"
    await relay.tick(day + timedelta(days=14, seconds=1))  # no record on any partition
    assert relay.run("relay-linker") == 0, relay.last_output
    assert (await _ledger(relay))["NEVER-REGISTERED"] == "refused"


async def test_a_backlog_of_old_filings_is_legal_and_waits_on_relay_time(relay: RelayEnv):
    """Go-live loads filed years after the fact: old occurred_at is no reason to refuse, and
    the parking bound runs from when the relay received them."""
    old = _at(date(2025, 4, 11))  # filed 20 months before the relay receives it
    await relay.publish([(PENSION, _refiled(ASSIGNMENT, "OLD-BPN", old + timedelta(days=1)))])
    now = _at(date(2026, 12, 1))
    await relay.tick(now)
    await relay.publish([(MUNICIPALITY, _refiled(REGISTRATION, "OLD-REG", old))])
    await relay.tick(now + timedelta(days=10))
    assert relay.run("relay-linker") == 0, relay.last_output
    assert await _ledger(relay) == {"OLD-BPN": "accepted", "OLD-REG": "accepted"}


def _compared(env: RelayEnv, topic: str, value: bytes) -> object:
    """A row's value as compared across runs: a sealed outcome opened with its addressee's
    key, a dead letter left out, anything else as it is."""
    logical = env.topics.logical(topic)
    if logical.endswith(".dlq"):
        return None
    if logical not in SEALED:
        return value
    sealed = decode_sealed(value)
    filer = Participant(sealed.addressee_role.value, sealed.addressee_code)
    opened = open_outcome(sealed, logical, sealed.kafka_key(), load_private_key(env.cfg, filer))
    return sealed.model_dump(mode="json", exclude={"sealed"}), opened


async def _answers(env: RelayEnv) -> tuple[list[tuple], list[tuple], object]:
    """What a run decided: its outbox (dead letters by id, topic and key, since their sealed
    bytes carry fresh nonces; outcomes sealed to their filer opened, as their seals are fresh
    too), its ledger, and the relay database as a history."""
    conn = await env.connect()
    try:
        rows = await conn.fetch("SELECT id, topic, key, value FROM outbox ORDER BY id")
        outbox = [(r["id"], r["topic"], bytes(r["key"]), _compared(env, r["topic"],
                                                                   bytes(r["value"])))
                  for r in rows]
        ledger = [tuple(r) for r in await conn.fetch(
            "SELECT filing_reference, status, entry FROM filing_ledger "
            "ORDER BY filing_reference, status")]
        table = history(await load_all(conn, env.keyring()), include_retracted=True)
    finally:
        await conn.close()
    return outbox, ledger, table


async def test_a_replay_from_the_start_gives_the_same_answers(relay: RelayEnv):
    """A second relay database reading the same topics from offset 0, in one run where the
    first went tick by tick, decides exactly what the first decided: each record is judged
    by the tick before it on its partition, never by when it happens to be read."""
    day = _at(date(2025, 4, 2))
    await relay.publish([(PENSION, _refiled(ASSIGNMENT, "WAITS", day)),
                         (EMPLOYER, _refiled(ACQUISITION, "NEVER-REGISTERED", day)),
                         (EMPLOYER, _refiled(ACQUISITION, "FAR-FUTURE",
                                             datetime(2999, 1, 1, tzinfo=JST)))])
    await relay.tick(day)
    assert relay.run("relay-linker") == 0, relay.last_output
    await relay.publish([(MUNICIPALITY, _refiled(REGISTRATION, "REG", day))])
    await relay.tick(day + timedelta(days=3))
    assert relay.run("relay-linker") == 0, relay.last_output
    await relay.tick(day + timedelta(days=20))  # the unregistered acquisition expires
    assert relay.run("relay-linker") == 0, relay.last_output
    first = await _answers(relay)
    assert {ref: status for ref, status, _ in first[1]} == {
        "WAITS": "accepted", "NEVER-REGISTERED": "refused", "FAR-FUTURE": "refused",
        "REG": "accepted"}

    replay_db = f"{relay.database}_replay"
    admin = await asyncpg.connect(relay.stack.pg_dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{replay_db}"')
    finally:
        await admin.close()
    try:
        replay = RelayEnv(relay.stack, relay.cfg.namespaced(relay.prefix, replay_db))
        conn = await replay.connect()
        try:
            await apply_all(conn)
        finally:
            await conn.close()
        assert replay.run("relay-linker") == 0, replay.last_output
        again = await _answers(replay)
    finally:
        admin = await asyncpg.connect(relay.stack.pg_dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{replay_db}" WITH (FORCE)')
        finally:
            await admin.close()
    assert again[1] == first[1], "the replay's ledger differs"
    assert again[0] == first[0], "the replay's outputs differ"
    assert again[2] == first[2], "the replay's relay database differs"
