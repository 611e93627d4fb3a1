"""Poison records on the real broker and database: records that once stopped the linker for
good are dead letters while the good filings behind them get their outcomes; a database outage
stops the linker instead, blaming no record; the batch command publishes a file's good rows."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import idempotent_producer, read_to_end
from infra.principals import TESTS
from producers import report
from producers.command import PublishOptions, run_publish
from relay_clock.ticks import headers
from relay_linker.domain import fold, history
from relay_linker.linker import GROUP, KeyringHasher
from relay_linker.readback import load_all
from schemas import DeadLetter, FilingOutcome, decode_filing, decode_relay, encode
from schemas.envelope import JST, new_filing
from schemas.filings import topic_for
from schemas.relay import ReasonCode
from schemas.topics import FILING_OUTCOME, INGESTION_TOPICS
from synthetic.population import generate
from tests.fixtures.examples import all_examples, leaks, secret_values
from tests.fixtures.poison import HUGE_INT, named_poison
from tests.fixtures.template import csv_row, csv_text
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

EXAMPLES = all_examples()
REGISTRATION, ASSIGNMENT = EXAMPLES["ResidentRegistered"], EXAMPLES["BasicPensionNumberAssigned"]
ACQUISITION = EXAMPLES["EmployeeInsuranceAcquired"]
MUNICIPALITY, EMPLOYER = "filing.municipality.v1", "filing.employer.v1"
INSURER = "filing.insurer.v1"
PENSION = topic_for(ASSIGNMENT.event_type).name
DAY = datetime(2025, 4, 2, 9, tzinfo=JST)
SAFETY_NETS = {ReasonCode.UNDECODABLE.value, ReasonCode.UNTRANSLATABLE.value,
               ReasonCode.PROCESSING_FAILED.value}
# a forged tick whose time has no UTC date: checking its MAC used to overflow
FORGED_TICK = b'{"seq":2,"relay_time":"0001-01-01T00:00:00+09:00","mac":"' + b"0" * 64 + b'"}'


def _refiled(filing, reference: str, when: datetime = DAY):
    return new_filing(filing.payload, filer_code=filing.filer_code, filing_reference=reference,
                      person_token=filing.person_token, occurred_at=when)


async def _send(relay: RelayEnv, items: list[tuple[str, int, bytes, bool]]) -> None:
    """Raw records onto (topic, partition); the flag marks a record as a relay clock tick."""
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        for topic, partition, value, tick in items:
            await producer.send_and_wait(relay.topic(topic), value, key=b"broken:1",
                                         partition=partition,
                                         headers=headers() if tick else None)
    finally:
        await producer.stop()


async def _fetch(relay: RelayEnv, query: str, *args) -> list[asyncpg.Record]:
    conn = await relay.connect()
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _outbox(relay: RelayEnv, topic_like: str) -> list[bytes]:
    rows = await _fetch(relay, "SELECT value FROM outbox WHERE topic LIKE $1 ORDER BY seq",
                        topic_like)
    return [bytes(r["value"]) for r in rows]


async def test_poison_records_are_dead_letters_and_the_good_filings_behind_them_are_answered(
    relay: RelayEnv,
):
    where = [(EMPLOYER, 1), (MUNICIPALITY, 0), (PENSION, 3), (INSURER, 2), (EMPLOYER, 4)]
    poison = [(*where[i % len(where)], raw, False)
              for i, (_, raw) in enumerate(sorted(named_poison().items()))]
    poison.append((EMPLOYER, 1, FORGED_TICK, True))
    await _send(relay, poison)
    good = {"REG": _refiled(REGISTRATION, "REG"), "BPN": _refiled(ASSIGNMENT, "BPN"),
            "ACQ": _refiled(ACQUISITION, "ACQ")}
    await relay.publish_partitioned([(MUNICIPALITY, good["REG"], 0),
                                     (PENSION, good["BPN"], 3),
                                     (EMPLOYER, good["ACQ"], 1)])
    await relay.tick(DAY + timedelta(days=1))

    assert relay.run("relay-linker") == 0, relay.last_output
    assert relay.run("relay-linker") == 0, relay.last_output  # a restart meets no poison

    ledger = {r["filing_reference"]: r["status"] for r in await _fetch(
        relay, "SELECT filing_reference, status FROM filing_ledger")}
    assert ledger["REG"] == "accepted" and ledger["BPN"] == "accepted"
    assert ledger["ACQ"] in {"accepted", "parked", "refused"}
    outcomes = [decode_relay(v, FilingOutcome)
                for v in await _outbox(relay, relay.topic(FILING_OUTCOME))]
    answered = {o.event_id for o in outcomes}
    assert {f.event_id for f in good.values()} <= answered

    letters = [decode_relay(v, DeadLetter) for v in await _outbox(relay, "%.dlq")]
    assert len(letters) == len(poison)
    assert {(relay.topics.logical(d.source_topic), d.source_partition) for d in letters} == {
        (topic, partition) for topic, partition, *_ in poison}
    codes = {d.reason.code for d in letters}
    assert not codes & SAFETY_NETS, "every poison record is a rejection of the codec's own"
    assert ReasonCode.FORGED_TICK.value in codes
    texts = [d.model_dump_json() for d in letters] + [relay.last_output]
    assert leaks(secret_values(ACQUISITION), *texts) == []

    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in await _fetch(
        relay, "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1",
        GROUP)}
    partitions = [TopicPartition(relay.topic(t), p)
                  for t in INGESTION_TOPICS for p in range(t.partitions)]
    records = await read_to_end(relay.cfg.kafka(TESTS), partitions)
    last = {}
    for r in records:
        last[(r.topic, r.partition)] = max(r.offset + 1, last.get((r.topic, r.partition), 0))
    assert all(stored[w] == last[w] for w in last), "the linker read past every record"


async def _wait_for_progress(relay: RelayEnv, process: subprocess.Popen, total: int) -> int:
    """How many filings are in the ledger once the linker has stored some, but not all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 180
    conn = await relay.connect()
    try:
        while loop.time() < deadline and process.poll() is None:
            done = await conn.fetchval("SELECT count(*) FROM filing_ledger")
            if done > 0:
                return done
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    pytest.fail(f"the linker stored nothing (exit {process.poll()}) of {total} filings")


async def _cut_off(relay: RelayEnv, allow: bool) -> None:
    """Let the relay's own database refuse connections (or accept them again), dropping the
    connections it has: PostgreSQL gone for this relay alone, the shared server up."""
    admin = await asyncpg.connect(relay.stack.pg_dsn())
    try:
        await admin.execute(f'ALTER DATABASE "{relay.database}" ALLOW_CONNECTIONS {allow}')
        if not allow:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()", relay.database)
    finally:
        await admin.close()


async def _hold_positions(relay: RelayEnv) -> asyncpg.Connection:
    """A transaction locking the linker's stored positions: its next batch, begun, waits in
    the middle for them. Returns once it waits."""
    holder = await relay.connect()
    await holder.execute("BEGIN")
    await holder.execute("SELECT 1 FROM consumer_offsets WHERE group_id = $1 FOR UPDATE", GROUP)
    admin = await asyncpg.connect(relay.stack.pg_dsn())
    try:
        for _ in range(1200):
            waiting = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND wait_event_type = 'Lock'", relay.database)
            if waiting:
                return holder
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    pytest.fail("the linker never began another batch")


def _spawn_linker(relay: RelayEnv, log: Path) -> subprocess.Popen[bytes]:
    """The linker as its own OS process, without --drain: only a failure ends it."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", "relay-linker"],
                                env=relay.cfg.child_env(), stdout=out,
                                stderr=subprocess.STDOUT)


async def test_a_database_outage_mid_batch_stops_the_linker_and_blames_no_record(
    relay: RelayEnv, tmp_path: Path
):
    population = generate(7, 900, date(2025, 1, 1))
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.tick()
    total = len(population.filings)
    log = tmp_path / "linker.log"
    process = _spawn_linker(relay, log)
    holder = None
    try:
        before = await _wait_for_progress(relay, process, total)
        holder = await _hold_positions(relay)  # the linker is now inside a batch
        await _cut_off(relay, allow=False)
        code = await asyncio.to_thread(process.wait, 120)
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)
        if holder is not None:
            holder.terminate()
        await _cut_off(relay, allow=True)
    output = log.read_text(errors="replace")
    assert code != 0, output
    lost = ("AdminShutdownError", "the underlying connection is closed")  # as the cut lands
    assert any(sign in output for sign in lost), "the batch under way lost its connection"
    assert "dead-lettering" not in output and "retrying step by step" not in output, output
    assert before < total
    stopped_at = (await _fetch(relay, "SELECT count(*) AS n FROM filing_ledger"))[0]["n"]
    assert stopped_at < total, "the outage came before the last batch"
    assert await _outbox(relay, "%.dlq") == [], "no record was blamed for the outage"

    assert relay.run("relay-linker") == 0, relay.last_output
    assert await _outbox(relay, "%.dlq") == []
    conn = await relay.connect()
    try:
        table = history(await load_all(conn, relay.keyring()), include_retracted=True)
    finally:
        await conn.close()
    expected = history(fold(await relay.steps_in_relay_order(), KeyringHasher(relay.keyring())),
                       include_retracted=True)
    assert table == expected, "resumed from the stored positions, each record applied once"


def _publish(path: Path, relay: RelayEnv) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_publish(PublishOptions(path, relay.cfg.kafka(TESTS),
                                      filer_kind="employer", namespace=relay.topics,
                                      keys=relay.keys), out, err)
    return code, out.getvalue().splitlines(), err.getvalue()


async def _published(relay: RelayEnv) -> list[str]:
    partitions = [TopicPartition(relay.topic(t), p)
                  for t in INGESTION_TOPICS for p in range(t.partitions)]
    records = await read_to_end(relay.cfg.kafka(TESTS), partitions)
    return sorted(decode_filing(r.value).filing_reference for r in records)


async def test_the_batch_command_reports_each_poison_row_and_publishes_the_good_ones(
    relay: RelayEnv, tmp_path: Path
):
    lines = [encode(_refiled(REGISTRATION, "GOOD-1"))]
    poison = [raw for name, raw in sorted(named_poison().items())
              if raw and name != "invalid UTF-8"]  # not UTF-8: the file mixes encodings
    lines += poison
    lines.append(encode(_refiled(ASSIGNMENT, "GOOD-2")))
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    code, out, err = await asyncio.to_thread(_publish, path, relay)

    assert code == report.EXIT_REJECTED, err
    reported = {int(line.split(":")[0].removeprefix("line ")) for line in out[:-1]}
    assert reported == set(range(2, len(poison) + 2)), out
    assert out[-1].startswith("published 2 filings (") and out[-1].endswith(
        f"rejected {len(poison)} rows")
    assert leaks(secret_values(ACQUISITION), *out, err) == []
    assert await _published(relay) == ["GOOD-1", "GOOD-2"]

    rows = [csv_row(_refiled(ACQUISITION, reference)) for reference in ("GOOD-3", "BAD-3")]
    rows[1]["schema_version"] = HUGE_INT
    rows[1]["occurred_at"] = "9999-12-31T23:59:59-23:59"
    path = tmp_path / "batch.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    code, out, err = await asyncio.to_thread(_publish, path, relay)
    assert code == report.EXIT_REJECTED, err
    assert out[:-1] == ["line 3: schema_version: must be a whole number such as 1",
                        "line 3: occurred_at: must be a date-time between 1800-01-01 and "
                        "2999-12-31"], out
    assert await _published(relay) == ["GOOD-1", "GOOD-2", "GOOD-3"]
