"""Where the notifications processor keeps pending deadlines: a PostgreSQL table of due times
or a faust table (memory store, changelog), measured with a million persons' deadlines loaded.

Per store: deadlines held per GiB and the processor's RSS; the time to process one day's
deadlines (a uniform day and a heavy one) next to one plain SQL statement doing the same work;
for faust, the changelog replay a restart pays, next to reading the same records raw.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench import baseline
from bench.cpu import RoundTrips, cpu_seconds, postmaster_pid, server_cpu
from bench.linker import REPORTS
from groundfloor.config import StackConfig
from notification_streams.rules.calendar import filing_deadline, first_day_after
from notification_streams.rules.ids import notice_id

YEAR_START = date(2027, 1, 1)
DAYS = 365
HEAVY_DAY = date(2027, 4, 15)  # losses of 1 April (31 March retirements) fire on 15 April
HEAVY_SHARE = 0.05
RULES = (("nhi_enrolment_reminder", 45), ("national_pension_switch", 35),
         ("double_enrolment:first", 10), ("age_75", 10))
WHY = ("retirement", "dependant_removed", "loss", "contract_ended")
TOPIC = "notifications.notices.v1"
SCHEMA = """
CREATE TABLE notification_deadlines (
    relay_id text NOT NULL, rule text NOT NULL, key_date date NOT NULL, due_on date NOT NULL,
    payload bytea NOT NULL, PRIMARY KEY (relay_id, rule, key_date));
CREATE INDEX notification_deadlines_due ON notification_deadlines (due_on, relay_id);
CREATE TABLE bench_outbox (seq bigserial PRIMARY KEY, notice_id uuid NOT NULL UNIQUE,
                           topic text NOT NULL, key bytea NOT NULL, value bytea NOT NULL);
CREATE TABLE bench_day_copy (LIKE notification_deadlines);
"""
SELECT_DUE = ("SELECT relay_id, rule, key_date, due_on, payload FROM notification_deadlines "
              "WHERE due_on <= $1 ORDER BY due_on, relay_id LIMIT $2 FOR UPDATE SKIP LOCKED")
DELETE_DUE = ("DELETE FROM notification_deadlines d USING unnest($1::text[], $2::text[], "
              "$3::date[]) AS k (relay_id, rule, key_date) WHERE d.relay_id = k.relay_id "
              "AND d.rule = k.rule AND d.key_date = k.key_date")
INSERT_OUTBOX = ("INSERT INTO bench_outbox (notice_id, topic, key, value) "
                 "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[])")
BASELINE = ("WITH due AS (DELETE FROM notification_deadlines WHERE due_on <= $1 "
            "RETURNING relay_id, rule, key_date, payload) "
            "INSERT INTO bench_outbox (notice_id, topic, key, value) "
            "SELECT md5(relay_id || rule || key_date::text)::uuid, '" + TOPIC + "', "
            "convert_to(relay_id, 'UTF8'), payload FROM due")

Row = tuple[str, str, date, date, bytes]  # relay_id, rule, key_date, due_on, payload


# -- the pending rows: who, which rule, when due, and the encoded notice ------------------------

def relay_id(n: int) -> str:
    """A relay id of the project's shape ("R" + 20 base32 characters) for person `n`."""
    digest = hashlib.sha256(f"bench-person:{n}".encode()).digest()
    return "R" + base64.b32encode(digest).decode("ascii")[:20]


def due_dates(count: int, rng: random.Random) -> list[date]:
    """`count` due days: HEAVY_SHARE of them on HEAVY_DAY, the rest uniform over the year."""
    heavy = round(count * HEAVY_SHARE)
    days = [HEAVY_DAY] * heavy + [YEAR_START + timedelta(days=rng.randrange(DAYS))
                                  for _ in range(count - heavy)]
    rng.shuffle(days)
    return days


def _rule(rng: random.Random) -> str:
    pick = rng.randrange(sum(w for _, w in RULES))
    for rule, weight in RULES:
        if pick < weight:
            return rule
        pick -= weight
    raise AssertionError("weights cover every pick")


def key_date_of(rule: str, due_on: date) -> date:
    """The rule's key date for a deadline due on `due_on`: the loss date of a reminder (due the
    day after the 14th day), the list date of a first double-enrolment notice (its 31 days
    counted from the next day), the milestone day itself for an age check."""
    if rule in ("nhi_enrolment_reminder", "national_pension_switch"):
        return due_on - timedelta(days=14)
    if rule.startswith("double_enrolment"):
        return due_on - timedelta(days=32)
    return due_on


def encode_pending(relay: str, rule: str, key_date: date, due_on: date,
                   rng: random.Random) -> bytes:
    """The pending notice as the processor would keep it: compact JSON of what sending it needs
    (notice id, deadline, reason, the municipality and insurer told, the householder)."""
    reminder = rule in ("nhi_enrolment_reminder", "national_pension_switch")
    deadline = filing_deadline(key_date) if reminder else due_on
    body = {"id": str(notice_id(relay, rule, key_date)), "deadline": deadline.isoformat(),
            "why": rng.choice(WHY) if reminder else rule,
            "municipality": f"{rng.randrange(10_000, 480_000):06d}",
            "insurer": f"{rng.randrange(1, 10**8):08d}",
            "householder": relay_id(rng.randrange(10**9)) if rng.random() < 0.5 else None}
    return json.dumps(body, separators=(",", ":")).encode()


def pending_rows(count: int, seed: int) -> Iterator[Row]:
    """One pending deadline per person for `count` persons (rules mixed as RULES weighs them)."""
    rng = random.Random(seed)
    for n, due_on in enumerate(due_dates(count, rng)):
        relay, rule = relay_id(n), _rule(rng)
        key = key_date_of(rule, due_on)
        yield relay, rule, key, due_on, encode_pending(relay, rule, key, due_on, rng)


def changelog_key(row: Row) -> bytes:
    """The faust table's key of a pending row (a string key, as faust's raw codec keeps it)."""
    return f"{row[0]}|{row[1]}|{row[2].isoformat()}".encode()


def notice(row: asyncpg.Record | Row) -> tuple[uuid.UUID, str, bytes, bytes]:
    """The outbox row the processor writes for a due row: its notice decoded, marked sent."""
    relay, rule, _key, due_on, payload = tuple(row)
    body = json.loads(payload)
    body.update(rule=rule, sent_on=due_on.isoformat(),
                fires_on=first_day_after(date.fromisoformat(body["deadline"])).isoformat())
    return (uuid.UUID(body["id"]), TOPIC, relay.encode(),
            json.dumps(body, separators=(",", ":")).encode())


# -- measuring: RSS, a phase's CPU and round trips ----------------------------------------------

def rss_mib(pid: int | str = "self") -> float:
    """Resident set size of `pid`, MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Phase:
    """Wall time, CPU of this process, of the connection's backend and of all PostgreSQL, and
    the statements sent, over one `with phase.measure()` block."""

    conn: asyncpg.Connection
    backend: int
    postmaster: int | None

    @contextlib.contextmanager
    def measure(self, out: dict[str, Any]) -> Iterator[None]:
        trips = RoundTrips()
        self.conn.add_query_logger(trips.logged)
        pg = server_cpu(self.postmaster) if self.postmaster else 0.0
        own, backend, began = time.process_time(), cpu_seconds(self.backend), time.perf_counter()
        try:
            yield
        finally:
            out["wall_s"] = time.perf_counter() - began
            out["cpu_s"] = {"python": time.process_time() - own,
                            "backend": cpu_seconds(self.backend) - backend,
                            "postgres_all": (server_cpu(self.postmaster) - pg
                                             if self.postmaster else 0.0)}
            out["statements"] = trips.count
            out["statements_by_kind"] = dict(sorted(trips.kinds.items()))
            self.conn.remove_query_logger(trips.logged)


async def process_due(conn: asyncpg.Connection, day: date, batch: int) -> tuple[int, int]:
    """The processor's loop for `day`: per transaction, lock up to `batch` due rows (skipping
    rows another worker holds), decode each and write its notice to the outbox, delete them,
    commit; until none is due. Returns (rows, transactions)."""
    rows = transactions = 0
    while True:
        async with conn.transaction():
            due = await conn.fetch(SELECT_DUE, day, batch)
            if not due:
                return rows, transactions
            notices = [notice(r) for r in due]
            await conn.execute(DELETE_DUE, [r[0] for r in due], [r[1] for r in due],
                               [r[2] for r in due])
            await conn.execute(INSERT_OUTBOX, *(list(c) for c in zip(*notices, strict=True)))
        rows += len(due)
        transactions += 1


async def baseline_due(conn: asyncpg.Connection, day: date) -> int:
    """The plainest form of the same work: one statement moving every due row to the outbox."""
    async with conn.transaction():
        status = await conn.execute(BASELINE, day)
    return int(status.split()[-1])


def _rates(m: dict[str, Any], rows: int, transactions: int) -> dict[str, Any]:
    m.update(rows=rows, transactions=transactions, rows_per_s=rows / m["wall_s"],
             statements_per_row=m["statements"] / max(rows, 1),
             cpu_us_per_row={k: v * 1e6 / max(rows, 1) for k, v in m["cpu_s"].items()})
    return m


# -- PostgreSQL: load, size, a day's work, the processor's RSS ----------------------------------

async def _prepare(conn: asyncpg.Connection) -> None:
    await conn.execute(SCHEMA)


def scratch_database(cfg: StackConfig) -> contextlib.AbstractAsyncContextManager[str]:
    """A fresh database with the deadlines and outbox tables (dropped afterwards); its DSN."""
    return baseline.scratch_database(cfg, "bench_deadlines", _prepare)


async def load(conn: asyncpg.Connection, persons: int, seed: int) -> dict[str, Any]:
    """COPY one pending deadline per person in, then report what the table holds on disk."""
    rows = list(pending_rows(persons, seed))
    raw = sum(len(r[0]) + len(r[1]) + 4 + 4 + len(r[4]) for r in rows)
    payloads = [len(r[4]) for r in rows]
    began = time.perf_counter()
    await conn.copy_records_to_table("notification_deadlines", records=rows)
    copy_s = time.perf_counter() - began
    del rows
    await conn.execute("VACUUM ANALYZE notification_deadlines")
    size = await conn.fetchrow(
        "SELECT pg_total_relation_size(t) AS total, pg_relation_size(t) AS heap, "
        "pg_indexes_size(t) AS indexes, "
        "coalesce(pg_total_relation_size(reltoastrelid), 0) AS toast, "
        "(SELECT count(*) FROM notification_deadlines) AS count "
        "FROM (SELECT 'notification_deadlines'::regclass AS t) s "
        "JOIN pg_class c ON c.oid = s.t")
    by_index = await conn.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS bytes "
        "FROM pg_index WHERE indrelid = 'notification_deadlines'::regclass ORDER BY 1")
    per_day = await conn.fetch("SELECT due_on, count(*) AS n FROM notification_deadlines "
                               "GROUP BY due_on ORDER BY due_on")
    counts = [r["n"] for r in per_day if r["due_on"] != HEAVY_DAY]
    total = size["total"]
    return {"rows": size["count"], "copy_s": copy_s, "copy_rows_per_s": persons / copy_s,
            "bytes": {"total": total, "heap": size["heap"], "indexes": size["indexes"],
                      "toast": size["toast"], "by_index": {r["name"]: r["bytes"]
                                                           for r in by_index}},
            "payload_bytes": {"min": min(payloads), "max": max(payloads),
                              "mean": sum(payloads) / len(payloads)},
            "raw_bytes": raw, "per_gib": size["count"] * 2**30 / total,
            "raw_per_gib": size["count"] * 2**30 / raw,
            "per_day": {"min": min(counts), "max": max(counts),
                        "mean": sum(counts) / len(counts),
                        "heavy": next(r["n"] for r in per_day if r["due_on"] == HEAVY_DAY)}}


async def _vacuum(conn: asyncpg.Connection) -> None:
    await conn.execute("VACUUM ANALYZE notification_deadlines")
    await conn.execute("VACUUM ANALYZE bench_outbox")


async def one_day(phase: Phase, day: date, how: str, batch: int) -> dict[str, Any]:
    """Process `day` (everything due on or before it) as the processor or as the baseline."""
    out: dict[str, Any] = {"day": day.isoformat(), "how": how}
    with phase.measure(out):
        if how == "processor":
            rows, txs = await process_due(phase.conn, day, batch)
        else:
            rows, txs = await baseline_due(phase.conn, day), 1
    return _rates(out, rows, txs)


def _sum(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(runs), "wall_s": sum(r["wall_s"] for r in runs),
                           "statements": sum(r["statements"] for r in runs),
                           "cpu_s": {k: sum(r["cpu_s"][k] for r in runs)
                                     for k in runs[0]["cpu_s"]}}
    kinds: dict[str, int] = {}
    for r in runs:
        for k, v in r["statements_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + v
    out["statements_by_kind"] = kinds
    rows, txs = sum(r["rows"] for r in runs), sum(r["transactions"] for r in runs)
    return _rates(out, rows, txs) | {"rows_per_run": rows / len(runs),
                                     "seconds_per_run": out["wall_s"] / len(runs)}


async def uniform_days(phase: Phase, batch: int, rounds: int) -> dict[str, Any]:
    """Consecutive days from the year's first, alternately by the processor and the baseline
    (each day's rows are those due that day: every earlier day is already done)."""
    runs: dict[str, list[dict[str, Any]]] = {"processor": [], "baseline": []}
    day = YEAR_START
    await one_day(phase, day, "processor", batch)  # statements prepared, pages read: not kept
    for i in range(2 * rounds):
        day += timedelta(days=1)
        how = ("processor", "baseline")[(i + i // 2) % 2]  # P B B P P B ...
        runs[how].append(await one_day(phase, day, how, batch))
    p, b = _sum(runs["processor"]), _sum(runs["baseline"])
    return {"last_day": day.isoformat(), "processor": p, "baseline": b,
            "ratio_rows_per_s": p["rows_per_s"] / b["rows_per_s"]}


async def heavy_day(phase: Phase, batch: int, rounds: int) -> dict[str, Any]:
    """HEAVY_DAY's rows (every earlier day done) by the processor and by the baseline in
    alternating order, the day's rows put back and the table vacuumed between runs."""
    conn = phase.conn
    await conn.execute("INSERT INTO bench_day_copy SELECT * FROM notification_deadlines "
                       "WHERE due_on <= $1", HEAVY_DAY)
    runs: dict[str, list[dict[str, Any]]] = {"processor": [], "baseline": []}
    order = [("processor", "baseline"), ("baseline", "processor")]
    for i in range(rounds):
        for how in order[i % 2]:
            await _vacuum(conn)
            runs[how].append(await one_day(phase, HEAVY_DAY, how, batch))
            await conn.execute("DELETE FROM bench_outbox")
            await conn.execute("INSERT INTO notification_deadlines SELECT * FROM bench_day_copy")
    p, b = _sum(runs["processor"]), _sum(runs["baseline"])
    return {"day": HEAVY_DAY.isoformat(), "processor": p, "baseline": b,
            "ratio_rows_per_s": p["rows_per_s"] / b["rows_per_s"]}


async def processor_rss(dsn: str, first: date, last: date, batch: int) -> dict[str, Any]:
    """In this process (a fresh one): the processor's loop over every day from `first` to
    `last`, RSS sampled before, after each day and after."""
    conn = await asyncpg.connect(dsn)
    try:
        await process_due(conn, first - timedelta(days=1), batch)  # warm: prepared statements
        gc.collect()
        before = rss_mib()
        samples, rows, began, own = [], 0, time.perf_counter(), time.process_time()
        day = first
        while day <= last:
            done, _ = await process_due(conn, day, batch)
            rows += done
            samples.append(rss_mib())
            day += timedelta(days=1)
        gc.collect()
        return {"first_day": first.isoformat(), "last_day": last.isoformat(), "rows": rows,
                "batch": batch, "wall_s": time.perf_counter() - began,
                "cpu_s": time.process_time() - own, "rss_mib_before": before,
                "rss_mib_after": rss_mib(), "rss_mib_max": max(samples),
                "rss_mib_min": min(samples)}
    finally:
        await conn.close()


# -- faust's memory store: the table in a dict, restored from the changelog ----------------------

class _Message:
    __slots__ = ("partition", "value")

    def __init__(self, partition: int, value: bytes | None) -> None:
        self.partition, self.value = partition, value


class _Event:
    """What faust's recovery hands `Table.apply_changelog_batch`: key and value decoded (a str
    key, bytes value), the message's partition and raw value."""

    __slots__ = ("key", "message", "value")

    def __init__(self, key: str, value: bytes | None, partition: int) -> None:
        self.key, self.value, self.message = key, value, _Message(partition, value)


def faust_table() -> Any:
    """A faust Table on the memory store (no broker is reached to build one)."""
    import faust  # faust reads sys.argv at import: only where it is used

    app = faust.App("bench-deadlines", store="memory://", broker="kafka://127.0.0.1:1")
    return app.Table("pending_deadlines", key_type=str, value_type=bytes, partitions=6)


def faust_held(persons: int, seed: int) -> dict[str, Any]:
    """RSS of this (fresh) process before and after `persons` pending deadlines are applied to
    a faust memory-store table the way its changelog recovery applies them."""
    table = faust_table()
    gc.collect()
    before = rss_mib()
    began = time.perf_counter()
    buf = []
    for n, row in enumerate(pending_rows(persons, seed)):
        buf.append(_Event(changelog_key(row).decode(), row[4], n % 6))
        if len(buf) == 10_000:
            table.apply_changelog_batch(buf)
            buf.clear()
    table.apply_changelog_batch(buf)
    buf.clear()
    gc.collect()
    store = table.data
    return {"persons": persons, "held": len(store.data), "rss_mib_before": before,
            "rss_mib_after": rss_mib(), "build_s": time.perf_counter() - began,
            "key_partition_entries": len(store._key_partition)}


async def faust_recover(cfg: StackConfig, topic: str, persons: int,
                        apply: bool) -> dict[str, Any]:
    """In this (fresh) process: read the changelog `topic` from the start to its end with
    aiokafka, applying each batch to a faust memory-store table when `apply` (the recovery a
    worker on the memory store pays at every start), or only counting records (raw)."""
    from aiokafka import TopicPartition

    from groundfloor.kafka_clients import end_offsets, reader
    from infra.principals import BENCH

    table = faust_table() if apply else None
    login = cfg.kafka(BENCH)
    parts = [TopicPartition(topic, p) for p in range(6)]
    ends = await end_offsets(login, parts)
    gc.collect()
    before, own = rss_mib(), time.process_time()
    consumer = reader(login, max_partition_fetch_bytes=4 * 2**20, fetch_max_bytes=16 * 2**20)
    await consumer.start()
    began = time.perf_counter()
    seen = 0
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while any([await consumer.position(tp) < ends[tp] for tp in parts]):
            got = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in got.items():
                seen += len(records)
                if table is not None:
                    table.apply_changelog_batch([_Event(r.key.decode(), r.value, tp.partition)
                                                 for r in records])
        wall = time.perf_counter() - began
    finally:
        await consumer.stop()
    gc.collect()
    held = len(table.data.data) if table is not None else None
    return {"apply": apply, "records": seen, "held": held, "wall_s": wall,
            "records_per_s": seen / wall, "cpu_s": time.process_time() - own,
            "rss_mib_before": before, "rss_mib_after": rss_mib(), "expected": persons}


async def changelog(cfg: StackConfig, persons: int, seed: int) -> tuple[str, dict[str, Any]]:
    """A compacted scratch topic of 6 partitions holding one record per pending deadline."""
    from aiokafka.admin import NewTopic

    from groundfloor.kafka_clients import admin_client, default_partition, idempotent_producer
    from infra.principals import BENCH

    login = cfg.kafka(BENCH)
    topic = f"bench-deadlines-changelog-{uuid.uuid4().hex[:6]}"
    admin = admin_client(login)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1, topic_configs={
            "cleanup.policy": "compact"})])
    finally:
        await admin.close()
    producer = idempotent_producer(login, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    began = time.perf_counter()
    try:
        pending = []
        for row in pending_rows(persons, seed):
            key = changelog_key(row)
            pending.append(await producer.send(topic, row[4], key=key,
                                               partition=default_partition(key, 6)))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return topic, {"topic_partitions": 6, "records": persons,
                   "produce_s": time.perf_counter() - began}


async def drop_topic(cfg: StackConfig, topic: str) -> None:
    from groundfloor.kafka_clients import admin_client
    from infra.principals import BENCH

    admin = admin_client(cfg.kafka(BENCH))
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def child(*args: str) -> dict[str, Any]:
    """Run one of this module's measurements in a fresh Python process; its JSON result."""
    done = subprocess.run([sys.executable, "-m", "bench.pending_deadlines", *args],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                          text=True, check=False, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the run and its report --------------------------------------------------------------------

async def run(cfg: StackConfig, persons: int = 1_000_000, batch: int = 500, rounds: int = 3,
              seed: int = 11, write: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
                   f"Python {platform.python_version()}",
        "load_before": os.getloadavg(), "persons": persons, "batch": batch,
        "sql": {"select": SELECT_DUE, "delete": DELETE_DUE, "insert": INSERT_OUTBOX,
                "baseline": BASELINE}}
    async with scratch_database(cfg) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            result["pg_version"] = await conn.fetchval("SHOW server_version")
            result["load"] = await load(conn, persons, seed)
            phase = Phase(conn, await conn.fetchval("SELECT pg_backend_pid()"),
                          postmaster_pid(cfg.pg_data))
            result["uniform"] = await uniform_days(phase, batch, rounds)
            first = date.fromisoformat(result["uniform"]["last_day"]) + timedelta(days=1)
            result["rss"] = child("rss", dsn.rsplit("/", 1)[1], first.isoformat(),
                                  (HEAVY_DAY - timedelta(days=1)).isoformat(), str(batch))
            result["heavy"] = await heavy_day(phase, batch, 2)
        finally:
            await conn.close()
    result["faust_held"] = child("faust-held", str(persons), str(seed))
    topic, result["changelog"] = await changelog(cfg, persons, seed)
    try:
        raw = child("recover", topic, str(persons), "raw")
        applied = child("recover", topic, str(persons), "apply")
        result["recovery"] = {"raw": raw, "faust": applied,
                              "ratio_s": applied["wall_s"] / raw["wall_s"]}
    finally:
        await drop_topic(cfg, topic)
    result["load_after"] = os.getloadavg()
    if write:
        REPORTS.mkdir(exist_ok=True)
        (REPORTS / "pending_deadlines.json").write_text(json.dumps(result, indent=2,
                                                                   default=str) + "\n")
        (REPORTS / "pending_deadlines.md").write_text(markdown(result))
    return result


def _mib(b: float) -> str:
    return f"{b / 2**20:,.1f} MiB"


def _day_row(name: str, d: dict[str, Any]) -> str:
    p, b = d["processor"], d["baseline"]
    return (f"| {name} | {p['rows_per_run']:,.0f} | {p['seconds_per_run']:.2f} | "
            f"{p['rows_per_s']:,.0f} | {b['seconds_per_run']:.2f} | {b['rows_per_s']:,.0f} | "
            f"{d['ratio_rows_per_s']:.2f} | {p['cpu_us_per_row']['python']:.1f} / "
            f"{p['cpu_us_per_row']['backend']:.1f} | {b['cpu_us_per_row']['python']:.1f} / "
            f"{b['cpu_us_per_row']['backend']:.1f} | {p['statements_per_row']:.3f} "
            f"({p['statements'] / max(p['transactions'], 1):.0f} per tx) | "
            f"{b['statements_per_row']:.5f} |")


def verdict(r: dict[str, Any]) -> dict[str, bool]:
    """Which store each measured criterion favours (True: the PostgreSQL table)."""
    ld, fh, rec, rss = r["load"], r["faust_held"], r["recovery"], r["rss"]
    faust_mib = fh["rss_mib_after"] - fh["rss_mib_before"]
    grew = rss["rss_mib_max"] - rss["rss_mib_before"]
    return {"per_gib": ld["per_gib"] > fh["held"] * 1024 / faust_mib,
            "memory": grew < 0.1 * faust_mib,
            "restart": rec["faust"]["wall_s"] > 1.0,
            "exactly_once": True}  # one PostgreSQL commit against Kafka transactions + database


def choice(r: dict[str, Any]) -> str:
    """The store the processor uses, read off the figures."""
    ld, fh, rec, rss = r["load"], r["faust_held"], r["recovery"], r["rss"]
    faust_mib = fh["rss_mib_after"] - fh["rss_mib_before"]
    faust_per_gib = fh["held"] * 1024 / faust_mib
    grew = rss["rss_mib_max"] - rss["rss_mib_before"]
    v = verdict(r)
    table = v["memory"] and v["restart"]
    h = r["heavy"]
    py, pg = h["processor"]["cpu_us_per_row"]["python"], h["processor"]["cpu_us_per_row"][
        "backend"]
    head = ("The processor keeps its pending deadlines in the PostgreSQL table." if table else
            "The figures favour the faust table here; read them before choosing it.")
    return (
        f"{head} Per GiB: the table holds {ld['per_gib'] / 1e6:.2f} million deadlines on "
        f"disk, the faust memory store {faust_per_gib / 1e6:.2f} million in the worker's RAM "
        f"({'fewer' if v['per_gib'] else 'more'} per GiB, but GiB of RAM, not of disk). RSS "
        f"with {fh['held']:,} pending: a faust worker grows by {faust_mib:,.0f} MiB and "
        f"would grow with every deadline added; the processor's RSS moved {grew:+.1f} MiB "
        f"while it worked through {rss['rows']:,} deadlines, because it holds none between "
        "transactions. "
        "Restart and rebalance: the memory store keeps nothing locally, so every start and "
        "every partition moved replays the changelog "
        f"({rec['faust']['wall_s']:.1f} s for {rec['faust']['records']:,} records here, "
        f"{rec['ratio_s']:.1f}× a bare read of them, before the worker does any work); RocksDB, "
        "which would keep the table on disk, needs python-rocksdb, which is not installed; "
        "the table needs no replay: a restarted or rebalanced processor selects what is due. "
        f"The cost of the table is per-day processing: in batches of {r['batch']}, "
        f"{r['uniform']['processor']['seconds_per_run']:.2f} s for an ordinary day and "
        f"{h['processor']['seconds_per_run']:.1f} s for {HEAVY_DAY:%-d %B}, "
        f"{1 / h['ratio_rows_per_s']:.1f}× the single plain statement ({py:.0f} µs of Python "
        f"and {pg:.0f} µs of its backend per deadline, where each notice is decided in Python "
        "and rows are locked with SKIP LOCKED so that several workers can share a day); "
        "either is small next to a day. Exactly-once: removing a deadline, writing its notice "
        "to the outbox and saving the consumer positions of the facts that set it are one "
        "PostgreSQL commit with the table; with faust they would need Kafka transactions "
        "over the changelog, the output and the offsets (experimental in faust, with open "
        "reports of duplicates after a rebalance) beside the database the outbox lives in.")


def markdown(r: dict[str, Any]) -> str:
    ld, u, h, rss = r["load"], r["uniform"], r["heavy"], r["rss"]
    fh, cl, rec = r["faust_held"], r["changelog"], r["recovery"]
    by = ld["bytes"]
    faust_mib = fh["rss_mib_after"] - fh["rss_mib_before"]
    faust_per_gib = fh["held"] * 1024 / faust_mib
    lines = [
        "# Pending deadlines: a PostgreSQL table or a faust table, with a million loaded",
        "",
        f"{r['when']} on {r['machine']}, PostgreSQL {r['pg_version']}; load average "
        f"{r['load_before'][0]:.2f} before, {r['load_after'][0]:.2f} after (shared cores: "
        "read the ratios). Every baseline ran in the same run.",
        "",
        f"The population: {r['persons']:,} persons with one pending deadline each (NHI "
        "enrolment reminders 45%, National Pension switch reminders 35%, first "
        "double-enrolment notices 10%, age-75 checks 10%). Due days: "
        f"{HEAVY_SHARE:.0%} on {HEAVY_DAY:%-d %B %Y} (the losses of 1 April, the day after "
        "the fiscal year's retirements, fire the day after their 14th day), the rest uniform "
        f"over {YEAR_START.year}: {ld['per_day']['min']:,}–{ld['per_day']['max']:,} a day "
        f"(mean {ld['per_day']['mean']:,.0f}), {ld['per_day']['heavy']:,} on the heavy day. "
        f"Each row holds the encoded pending notice ({ld['payload_bytes']['min']}–"
        f"{ld['payload_bytes']['max']} bytes, mean {ld['payload_bytes']['mean']:.0f}: JSON of "
        "notice id, deadline, reason, municipality, insurer, householder).",
        "",
        "## Deadlines held per GiB",
        "",
        "| store | holds | deadlines per GiB | raw: the rows' own bytes | × raw |",
        "|---|---:|---:|---:|---:|",
        f"| PostgreSQL table (heap + indexes + toast, `pg_total_relation_size`) | "
        f"{ld['rows']:,} in {_mib(by['total'])} | {ld['per_gib']:,.0f} | "
        f"{ld['raw_per_gib']:,.0f} | {ld['raw_per_gib'] / ld['per_gib']:.2f} |",
        f"| faust memory store (worker RSS growth) | {fh['held']:,} in {faust_mib:,.1f} MiB | "
        f"{faust_per_gib:,.0f} | {ld['raw_per_gib']:,.0f} | "
        f"{ld['raw_per_gib'] / faust_per_gib:.2f} |",
        "",
        f"The table: heap {_mib(by['heap'])}, indexes {_mib(by['indexes'])} ("
        + ", ".join(f"`{k}` {_mib(v)}" for k, v in by["by_index"].items())
        + f"), toast {_mib(by['toast'])}; loaded by COPY in {ld['copy_s']:.1f} s "
        f"({ld['copy_rows_per_s']:,.0f} rows/s), then `VACUUM ANALYZE`. Raw: relay id, rule, "
        "two 4-byte dates and the payload, nothing else. The index on (due_on, relay_id) "
        "serves the processor's `ORDER BY due_on, relay_id`.",
        "",
        "The faust figure is a faust-streaming Table on the memory store (`faust.stores."
        "memory.Store`: the table's data is a Python dict of decoded key → value, plus a dict "
        "of key → partition), filled through `Table.apply_changelog_batch` as its changelog "
        f"recovery fills it, in a fresh Python process: RSS {fh['rss_mib_before']:.0f} → "
        f"{fh['rss_mib_after']:.0f} MiB for {fh['held']:,} deadlines (string keys, bytes "
        "values; a faust Record value would weigh more). RocksDB, the store that keeps a table "
        "on disk, needs python-rocksdb, which is not installed.",
        "",
        "## The processor's memory",
        "",
        f"A fresh Python process running the processor's loop (batches of {rss['batch']}) over "
        f"every day from {rss['first_day']} to {rss['last_day']}: {rss['rows']:,} deadlines in "
        f"{rss['wall_s']:.1f} s ({rss['rows'] / rss['wall_s']:,.0f}/s, {rss['cpu_s']:.1f} s "
        f"CPU). RSS {rss['rss_mib_before']:.1f} MiB before, {rss['rss_mib_after']:.1f} MiB "
        f"after, {rss['rss_mib_min']:.1f}–{rss['rss_mib_max']:.1f} MiB sampled after each day. "
        "It holds no deadline between transactions, so its memory does not grow with them. A "
        f"faust worker on the memory store holds every deadline of its partitions: "
        f"{faust_mib:,.0f} MiB for {fh['held']:,}.",
        "",
        "## One day's deadlines",
        "",
        f"The processor, per transaction: `{SELECT_DUE}` (N = {r['batch']}); each row's notice "
        f"decoded and re-encoded in Python with its uuid notice id; `{DELETE_DUE}`; "
        f"`{INSERT_OUTBOX}`; commit. Until nothing is due.",
        "",
        f"Baseline, one statement in one transaction: `{BASELINE}`",
        "",
        f"Ordinary days: consecutive days from {YEAR_START:%-d %B}, alternately processor and "
        f"baseline ({u['processor']['runs']} days each, after an untimed first day). The heavy "
        f"day: {h['processor']['runs']} runs each in alternating order, its rows put back and "
        "the table vacuumed between runs; every earlier day already done. Figures per day; "
        "CPU in µs per deadline, of the Python process / of its PostgreSQL backend.",
        "",
        "| day | deadlines | processor s | processor rows/s | baseline s | baseline rows/s | "
        "processor ÷ baseline rows/s | CPU µs processor (py / pg) | CPU µs baseline (py / pg) "
        "| round trips per deadline, processor | baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        _day_row("ordinary", u),
        _day_row(f"{HEAVY_DAY:%-d %B}", h),
        "",
        "Round trips are statements on the connection (BEGIN and COMMIT included, and the "
        "last transaction's SELECT that finds nothing due; per transaction "
        + ", ".join(f"{k} {v / max(h['processor']['transactions'], 1):.2f}"
                    for k, v in h["processor"]["statements_by_kind"].items())
        + f"). All of PostgreSQL's CPU on the heavy day: processor "
        f"{h['processor']['cpu_s']['postgres_all'] / h['processor']['runs']:.2f} s, baseline "
        f"{h['baseline']['cpu_s']['postgres_all'] / h['baseline']['runs']:.2f} s per run.",
        "",
        "## What a restart costs",
        "",
        f"The table: nothing to restore; a restarted or rebalanced processor selects what is "
        f"due. faust's memory store keeps no local state (`persisted_offset` is always None), "
        f"so every start replays the whole changelog. Measured on a compacted changelog topic "
        f"of {cl['topic_partitions']} partitions with {cl['records']:,} records (written in "
        f"{cl['produce_s']:.1f} s, idempotent producer), read from the start in a fresh "
        "process with aiokafka (read_committed, over the stack's SASL_SSL listener):",
        "",
        "| read | records | seconds | records/s | CPU s | RSS before → after, MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, x in (("raw (records counted, dropped)", rec["raw"]),
                    ("into a faust memory-store table (`apply_changelog_batch`)", rec["faust"])):
        lines.append(f"| {name} | {x['records']:,} | {x['wall_s']:.1f} | "
                     f"{x['records_per_s']:,.0f} | {x['cpu_s']:.1f} | "
                     f"{x['rss_mib_before']:.0f} → {x['rss_mib_after']:.0f} |")
    lines += [
        "",
        f"Recovery into the table: {rec['ratio_s']:.2f}× the raw read. This is a lower bound "
        "for a faust worker: its own recovery wraps each record in an Event and runs its "
        "consumer and table managers around the same store call.",
        "",
        "## Choice",
        "",
        choice(r),
        "",
    ]
    return "\n".join(lines)


def _main(argv: list[str]) -> None:
    what = argv[0]
    if what == "rss":
        out = asyncio.run(processor_rss(StackConfig.from_env().pg_dsn(argv[1]),
                                        date.fromisoformat(argv[2]),
                                        date.fromisoformat(argv[3]), int(argv[4])))
    elif what == "faust-held":
        out = faust_held(int(argv[1]), int(argv[2]))
    elif what == "recover":
        out = asyncio.run(faust_recover(StackConfig.from_env(), argv[1], int(argv[2]),
                                        argv[3] == "apply"))
    else:
        out = asyncio.run(run(StackConfig.from_env()))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    _main(sys.argv[1:] or ["run"])
