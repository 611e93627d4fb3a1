"""What the access log costs: appends/s in the caller's transaction, proof size and verification
time at 1,000,000 entries, and what it adds to a relayed query, each next to a same-run baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.entries import AccessEntry, AccessKind
from access_log.merkle import Tree
from access_log.verifier import (
    LEAF_PREFIX,
    NODE_PREFIX,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from bench import baseline
from bench.cpu import RoundTrips, cpu_seconds, postmaster_pid, run_queue_seconds, server_cpu
from bench.exchange import percentile
from bench.linker import REPORTS, write_report
from consumers import access_records, offsets
from consumers.access_records import Access
from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring, seal
from infra.migrations import apply_all
from outbox.table import OutboxRow, insert_rows, wake_publisher
from relay_exchange import store
from schemas import encode
from schemas.exchange import ExchangeReply, RoutedItem, RoutedRequest, item_id, reply_id, routed_id
from schemas.exchange_terms import DataCategory, ExchangeOutcome, ExchangeScheme, Purpose
from schemas.topics import PARTITIONS
from trust.number_sealing import seal_number
from trust.sealing import key_id

AT = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)  # every access in one month: one tree
ASKER, PROVIDER, ROW = "01130012", "06130015", "P01"
PERSONS = 20_000  # relay ids the accesses are drawn from (a person's salt is written once)
PLAIN = ("CREATE TABLE bench_plain (entry_id text PRIMARY KEY, relay_id text NOT NULL, "
         "body bytea NOT NULL); CREATE INDEX ON bench_plain (relay_id)")
GROUP = "bench-exchange"
SOURCE_TOPIC = "exchange.requests.v1"


async def _prepare(conn: asyncpg.Connection) -> None:
    """Migrated, with the plain baseline's table."""
    await apply_all(conn)
    await conn.execute(PLAIN)


def scratch_database(cfg: StackConfig) -> contextlib.AbstractAsyncContextManager[str]:
    """A fresh, migrated database on the stack's PostgreSQL (dropped afterwards); its DSN."""
    return baseline.scratch_database(cfg, "bench_alog", _prepare)


def relay_id(n: int) -> str:
    return f"R{n:019d}"


def accesses(rng: random.Random, count: int, kind: AccessKind = AccessKind.RELAYED_QUERY,
             persons: list[str] | None = None) -> list[Access]:
    """`count` accesses as the router makes them (ids of 48 hex, one month), for persons drawn
    from PERSONS (or the `persons` given, one each)."""
    who = persons or [relay_id(rng.randrange(PERSONS)) for _ in range(count)]
    outcome = "forwarded" if kind is AccessKind.RELAYED_QUERY else "answered"
    return [Access(rng.randbytes(24).hex(), who[i], kind, ASKER, PROVIDER,
                   ExchangeScheme.MEDICAL.value, DataCategory.QUALIFICATION.value,
                   Purpose.ELIGIBILITY_CONFIRMATION.value, ROW, AT, outcome)
            for i in range(count)]


def leaf_size() -> int:
    """The length of a typical clear leaf (the plain baseline writes rows of this size)."""
    return len(AccessEntry("0" * 48, AccessKind.RELAYED_QUERY, ASKER, PROVIDER, bytes(32),
                           "medical", "qualification", "eligibility_confirmation", ROW,
                           AT.isoformat(), "forwarded").leaf())


# -- measuring one phase: wall, CPU of the bench, of its backend and of PostgreSQL, statements --

class Meter:
    """One connection's phase: wall time, CPU of this process, of the connection's backend and
    of the whole PostgreSQL server (every backend: others' work on the shared server too), the
    scheduler's run-queue wait of this process, and the statements sent."""

    def __init__(self, conn: asyncpg.Connection, backend: int, postmaster: int | None) -> None:
        self.conn, self.backend, self.postmaster = conn, backend, postmaster
        self.trips = RoundTrips()
        conn.add_query_logger(self.trips.logged)
        self.totals: dict[str, dict[str, Any]] = {}

    async def phase(self, name: str, transactions: list[Any],
                    body: Callable[[asyncpg.Connection, Any], Awaitable[None]],
                    items: int) -> None:
        """Run `body` once per transaction item, each in its own transaction, adding to the
        totals of `name` (phases are interleaved in rounds, so load drift hits both alike)."""
        self.trips.count, self.trips.kinds = 0, {}
        pg = server_cpu(self.postmaster) if self.postmaster else 0.0
        own, backend = time.process_time(), cpu_seconds(self.backend)
        queued = run_queue_seconds()
        waits = []
        start = time.perf_counter()
        for tx in transactions:
            began = time.perf_counter()
            async with self.conn.transaction():
                await body(self.conn, tx)
            waits.append((time.perf_counter() - began) * 1000)
        wall = time.perf_counter() - start
        t = self.totals.setdefault(name, {"wall_s": 0.0, "transactions": 0, "items": 0,
                                          "cpu_bench_s": 0.0, "cpu_backend_s": 0.0,
                                          "cpu_postgres_s": 0.0, "run_queue_s": 0.0,
                                          "statements": 0, "by_kind": {}, "tx_ms": []})
        t["wall_s"] += wall
        t["transactions"] += len(transactions)
        t["items"] += items
        t["cpu_bench_s"] += time.process_time() - own
        t["cpu_backend_s"] += cpu_seconds(self.backend) - backend
        t["cpu_postgres_s"] += (server_cpu(self.postmaster) - pg) if self.postmaster else 0.0
        t["run_queue_s"] += run_queue_seconds() - queued
        t["statements"] += self.trips.count
        for kind, n in self.trips.kinds.items():
            t["by_kind"][kind] = t["by_kind"].get(kind, 0) + n
        t["tx_ms"] += waits

    def summary(self, name: str) -> dict[str, Any]:
        t = self.totals[name]
        items, txs = max(t["items"], 1), max(t["transactions"], 1)
        return {
            "transactions": t["transactions"], "items": t["items"], "wall_s": t["wall_s"],
            "items_per_s": t["items"] / t["wall_s"],
            "tx_p50_ms": percentile(t["tx_ms"], 0.5), "tx_p99_ms": percentile(t["tx_ms"], 0.99),
            "statements_per_tx": t["statements"] / txs,
            "statements_per_item": t["statements"] / items,
            "statements_by_kind_per_tx": {k: v / txs for k, v in sorted(t["by_kind"].items())},
            "cpu_s": {"bench": t["cpu_bench_s"], "backend": t["cpu_backend_s"],
                      "postgres_all": t["cpu_postgres_s"]},
            "cpu_us_per_item": {"bench": t["cpu_bench_s"] * 1e6 / items,
                                "backend": t["cpu_backend_s"] * 1e6 / items,
                                "postgres_all": t["cpu_postgres_s"] * 1e6 / items},
            "cpu_share_of_wall": {"bench": t["cpu_bench_s"] / t["wall_s"],
                                  "backend": t["cpu_backend_s"] / t["wall_s"]},
            "run_queue_s": t["run_queue_s"]}


async def _meter(cfg: StackConfig, dsn: str) -> Meter:
    conn = await asyncpg.connect(dsn)
    return Meter(conn, await conn.fetchval("SELECT pg_backend_pid()"),
                 postmaster_pid(cfg.pg_data))


# -- 1. appends per second, against plain rows ---------------------------------------------

async def appends(cfg: StackConfig, dsn: str, keyring: Keyring, batches: tuple[int, ...],
                  entries: int, rounds: int, rng: random.Random) -> list[dict[str, Any]]:
    """Per batch size: transactions each appending `batch` accesses with
    `access_records.append`, against the same transactions inserting as many plain rows of the
    same size into a table with the same keys (entry id unique, relay id indexed); about
    `entries` of each per batch size, in `rounds` alternating rounds."""
    meter = await _meter(cfg, dsn)
    size = leaf_size()

    async def logged(conn: asyncpg.Connection, batch: list[Access]) -> None:
        await access_records.append(conn, batch, keyring)

    async def plain(conn: asyncpg.Connection, rows: list[tuple[str, str, bytes]]) -> None:
        await conn.executemany("INSERT INTO bench_plain (entry_id, relay_id, body) "
                               "VALUES ($1, $2, $3)", rows)

    try:
        warm = accesses(rng, 200)  # the first statements prepare; not timed
        async with meter.conn.transaction():
            await access_records.append(meter.conn, warm, keyring)
            await plain(meter.conn, [(a.entry_id, a.relay_id, rng.randbytes(size)) for a in warm])
        out = []
        for batch in batches:
            per_round = max(1, entries // batch // rounds)
            for _ in range(rounds):
                work = [accesses(rng, batch) for _ in range(per_round)]
                rows = [[(a.entry_id, a.relay_id, rng.randbytes(size)) for a in b]
                        for b in accesses_like(rng, per_round, batch)]
                await meter.phase(f"plain-{batch}", rows, plain, per_round * batch)
                await meter.phase(f"log-{batch}", work, logged, per_round * batch)
            log, raw = meter.summary(f"log-{batch}"), meter.summary(f"plain-{batch}")
            out.append({"batch": batch, "log": log, "plain": raw,
                        "ratio": log["items_per_s"] / raw["items_per_s"]})
        batch = batches[-1]
        profile = cProfile.Profile()
        work = [accesses(rng, batch) for _ in range(max(1, entries // batch // rounds))]
        began = time.perf_counter()
        profile.enable()
        for b in work:
            async with meter.conn.transaction():
                await access_records.append(meter.conn, b, keyring)
        profile.disable()
        out[-1]["profile"] = {"transactions": len(work), "wall_s": time.perf_counter() - began,
                              "top": _profile_text(profile, 15)}
        out[-1]["entries_in_log"] = await meter.conn.fetchval(
            "SELECT count(*) FROM access_entries")
        return out
    finally:
        await meter.conn.close()


def accesses_like(rng: random.Random, count: int, batch: int) -> list[list[Access]]:
    """Fresh accesses for the plain baseline (its own ids, the same shape)."""
    return [accesses(rng, batch) for _ in range(count)]


# -- 2. proofs at a million entries ----------------------------------------------------------

def _ns(fn: Callable[[], Any]) -> float:
    began = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - began) / 1000.0  # µs


def _spread(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99),
            "max": max(values), "mean": statistics.fmean(values)}


def raw_node_hashes(nodes: list[bytes]) -> None:
    """SHA-256 over 0x01 ‖ left ‖ right along a chain, with hashlib and nothing else."""
    r = nodes[0]
    for p in nodes[1:]:
        r = hashlib.sha256(NODE_PREFIX + p + r).digest()


def proofs(size: int, samples: int, rng: random.Random) -> dict[str, Any]:
    """A tree of `size` leaves in this process: the cost of its first root, of a proof, of
    checking one with the standalone verifier, and raw SHA-256 in the same run."""
    template = AccessEntry("0" * 48, AccessKind.RELAYED_QUERY, ASKER, PROVIDER, bytes(32),
                           "medical", "qualification", "eligibility_confirmation", ROW,
                           AT.isoformat(), "forwarded").leaf()
    began = time.perf_counter()
    leaves = [leaf_hash(template + i.to_bytes(4, "big")) for i in range(size)]
    leaf_s = time.perf_counter() - began

    began = time.perf_counter()  # the raw baseline: size - 1 node-sized SHA-256 calls
    a = b = leaves[0]
    for _ in range(size - 1):
        a = hashlib.sha256(NODE_PREFIX + a + b).digest()
    raw_s = time.perf_counter() - began

    tree = Tree(leaves)
    began = time.perf_counter()
    root = tree.root()
    root_s = time.perf_counter() - began
    cold = Tree(leaves)
    index = rng.randrange(size)
    began = time.perf_counter()
    cold.inclusion(index)
    cold_proof_s = time.perf_counter() - began
    del cold

    indices = [rng.randrange(size) for _ in range(samples)]
    make, check, raw, alone = [], [], [], []
    lengths = []
    for i in indices:
        began = time.perf_counter_ns()
        path = tree.inclusion(i)
        make.append((time.perf_counter_ns() - began) / 1000.0)
        lengths.append(len(path))
        leaf = leaves[i]
        check.append(_ns(lambda i=i, leaf=leaf, path=path: verify_inclusion(
            i, size, leaf, path, root)))
        raw.append(_ns(lambda leaf=leaf, path=path: raw_node_hashes([leaf, *path])))
        alone.append(_ns(lambda i=i: hashlib.sha256(LEAF_PREFIX + template
                                                    + i.to_bytes(4, "big")).digest()))

    olds = [rng.randrange(1, size) for _ in range(max(1, samples // 10))]
    c_make, c_check, c_raw, c_lengths, old_roots = [], [], [], [], []
    for old in olds:
        old_root = tree.root(old)  # a witness holds this from the head it cosigned
        old_roots.append(old_root)
        began = time.perf_counter_ns()
        proof = tree.consistency(old)
        c_make.append((time.perf_counter_ns() - began) / 1000.0)
        c_lengths.append(len(proof))
        c_check.append(_ns(lambda old=old, proof=proof, old_root=old_root: verify_consistency(
            old, size, proof, old_root, root)))
        c_raw.append(_ns(lambda proof=proof: (raw_node_hashes(proof), raw_node_hashes(proof))))
    return {
        "size": size, "samples": samples, "consistency_samples": len(olds),
        "leaf_hashes_s": leaf_s, "raw_hashes_s": raw_s, "first_root_s": root_s,
        "cold_proof_s": cold_proof_s, "root_over_raw": root_s / raw_s,
        "inclusion": {"hashes": {"min": min(lengths), "max": max(lengths),
                                 "mean": statistics.fmean(lengths)},
                      "bytes_max": 32 * max(lengths), "make_us": _spread(make),
                      "verify_us": _spread(check), "raw_hashes_us": _spread(raw),
                      "leaf_alone_us": _spread(alone)},
        "consistency": {"hashes": {"min": min(c_lengths), "max": max(c_lengths),
                                   "mean": statistics.fmean(c_lengths)},
                        "bytes_max": 32 * max(c_lengths), "make_us": _spread(c_make),
                        "verify_us": _spread(c_check), "raw_hashes_us": _spread(c_raw)}}


async def stored(dsn: str, size: int, repeat: int = 3) -> dict[str, Any]:
    """What `shaho access-log prove` pays per month it shows at `size` entries: the month's leaf
    hashes read (`access_records.leaf_hashes`), a tree built and its root and one proof made.
    The month is filled in SQL (leaves of the typical length, their hashes by PostgreSQL)."""
    month = "2026-10"
    conn = await asyncpg.connect(dsn)
    try:
        began = time.perf_counter()
        await conn.execute("INSERT INTO access_trees (log, month, size) VALUES ($1, $2, $3)",
                           access_records.EXCHANGE_LOG, month, size)
        await conn.execute(
            "INSERT INTO access_entries (log, month, seq, entry_id, relay_id, leaf, leaf_hash) "
            "SELECT $1, $2, g, md5(g::text) || substr(md5((-g)::text), 1, 16), "
            "'R' || lpad((g % $4)::text, 19, '0'), leaf, sha256('\\x00'::bytea || leaf) "
            "FROM (SELECT g, convert_to(rpad(g::text, $5, 'x'), 'UTF8') AS leaf "
            "      FROM generate_series(0, $3 - 1) AS g) AS s",
            access_records.EXCHANGE_LOG, month, size, PERSONS, leaf_size())
        await conn.execute("VACUUM ANALYZE access_entries")
        fill_s = time.perf_counter() - began
        runs = []
        for _ in range(repeat):
            began = time.perf_counter()
            hashes = await access_records.leaf_hashes(conn, month)
            fetched = time.perf_counter()
            tree = Tree(hashes)
            root = tree.root()
            path = tree.inclusion(size // 3)
            verify_inclusion(size // 3, size, hashes[size // 3], path, root)
            done = time.perf_counter()
            runs.append({"fetch_s": fetched - began, "tree_s": done - fetched,
                         "total_s": done - began})
            del tree, hashes
        return {"size": size, "fill_s": fill_s, "runs": runs,
                "fetch_s": statistics.median(r["fetch_s"] for r in runs),
                "tree_s": statistics.median(r["tree_s"] for r in runs),
                "total_s": statistics.median(r["total_s"] for r in runs)}
    finally:
        await conn.close()


# -- 3. a relayed query's transaction with and without the log ------------------------------

class Routing:
    """A request of `persons` persons routed to one insurer, as the router's transaction does
    it (`ExchangeRouter._transaction`, `_request` and `_routed`): consumer position and relay
    clock locked, replay and rate checked and counted, each number opened from the relay's
    store and sealed for the provider, the items recorded, a reply per person and the signed
    routed request into the outbox, positions saved, the publisher woken. With `log`, the
    persons' queries are appended to the access log where the router does it."""

    def __init__(self, keyring: Keyring, persons: int, rng: random.Random) -> None:
        self.keyring, self.persons, self.rng = keyring, persons, rng
        self.provider_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        self.asker_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        self.signing = ec.generate_private_key(ec.SECP256R1())
        self.der = self.asker_key.public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kind = "insured"
        self.stored = json.dumps(seal(keyring, b"12345678|0123", self.kind.encode())
                                 .to_json_dict()).encode()
        self.offset = 0

    def requests(self, count: int) -> list[tuple[uuid.UUID, int, list[str]]]:
        out = []
        for _ in range(count):
            self.offset += 1
            out.append((uuid.uuid4(), self.offset,
                         [relay_id(self.rng.randrange(PERSONS)) for _ in range(self.persons)]))
        return out

    def body(self, log: bool, keyring: Keyring
             ) -> Callable[[asyncpg.Connection, Any], Awaitable[None]]:
        async def transaction(conn: asyncpg.Connection,
                              request: tuple[uuid.UUID, int, list[str]]) -> None:
            request_id, offset, persons = request
            tp = TopicPartition(SOURCE_TOPIC, 0)
            await offsets.lock(conn, GROUP, [tp])
            await offsets.lock_clock(conn, GROUP)
            if await store.seen_request(conn, ASKER, request_id):
                raise RuntimeError("a request id used twice")
            hour = AT.replace(minute=0)
            await store.count_rate(conn, ASKER, hour)
            await store.add_rate(conn, ASKER, hour, len(persons))
            await store.record_request(conn, ASKER, request_id, AT, AT + timedelta(hours=1),
                                       len(persons), len(persons))
            source = (SOURCE_TOPIC, 0, offset)
            routed = routed_id(ASKER, request_id, PROVIDER)
            rows, pending, items, queries = [], [], [], []
            for n, relay in enumerate(persons):
                entry = f"e{n}"
                item = item_id(routed, entry)
                number = store.open_number(self.keyring, self.kind, self.stored)
                items.append(RoutedItem(item_id=item, sealed_number=seal_number(
                    number, self.provider_key, routed, item, PROVIDER,
                    Purpose.ELIGIBILITY_CONFIRMATION.value)))
                pending.append((item, routed, request_id, ASKER, PROVIDER, entry,
                                AT + timedelta(hours=1), relay, "medical", "qualification",
                                "eligibility_confirmation", ROW, None))  # disclosed at once
                queries.append(Access(
                    store.index_of(self.keyring, "access-entry", f"{item}:query").hex()[:48],
                    relay, AccessKind.RELAYED_QUERY, ASKER, PROVIDER, "medical",
                    "qualification", "eligibility_confirmation", ROW, AT, "forwarded"))
                reply = ExchangeReply(
                    reply_id=reply_id(ASKER, request_id, entry, "forwarded", None),
                    request_id=request_id, asker_code=ASKER, entry=entry,
                    outcome=ExchangeOutcome.FORWARDED, providers=[PROVIDER], relay_time=AT)
                rows.append(OutboxRow.keyed(reply.reply_id, source, n,
                                            "participant.01130012.replies.v1", PARTITIONS,
                                            reply.kafka_key(), encode(reply)))
            await store.add_items(conn, pending)
            if log:
                await access_records.append(conn, queries, keyring)
            message = RoutedRequest(
                routed_id=routed, request_id=request_id, asker_code=ASKER,
                provider_code=PROVIDER, scheme=ExchangeScheme.MEDICAL,
                category=DataCategory.QUALIFICATION,
                purpose=Purpose.ELIGIBILITY_CONFIRMATION, policy_row=ROW, as_of=AT.date(),
                deadline=AT + timedelta(hours=1), relay_time=AT, asker_key=self.der,
                asker_key_id=key_id(self.asker_key), items=items)
            key, value = message.kafka_key(), encode(message)
            signature = self.signing.sign(value, ec.ECDSA(hashes.SHA256()))
            rows.append(OutboxRow.keyed(uuid.uuid5(routed, "routed-request"), source,
                                        len(persons), "participant.06130015.requests.v1",
                                        PARTITIONS, key, value, (("signature", signature),)))
            await insert_rows(conn, rows)
            await offsets.save(conn, GROUP, {tp: offset + 1})
            await wake_publisher(conn)
        return transaction


def _profile_text(profile: cProfile.Profile, top: int) -> str:
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


async def relayed(cfg: StackConfig, dsn: str, keyring: Keyring, sizes: tuple[int, ...],
                  requests: int, rounds: int, rng: random.Random) -> list[dict[str, Any]]:
    """Per request size: the router's transaction for a request of that many persons routed to
    one insurer, with the access-log append and without, alternating rounds (`requests` of
    each for a single person, as many persons in at least 200 requests for larger ones); then
    a round with it under cProfile (timed apart)."""
    meter = await _meter(cfg, dsn)
    await offsets.ensure_rows(meter.conn, GROUP, [TopicPartition(SOURCE_TOPIC, 0)])
    out = []
    try:
        for persons in sizes:
            routing = Routing(keyring, persons, rng)
            with_log, without = routing.body(True, keyring), routing.body(False, keyring)
            for warm in routing.requests(5):  # statements prepared, not timed
                async with meter.conn.transaction():
                    await with_log(meter.conn, warm)
            per_round = max(1, max(min(requests, 200), requests // persons) // rounds)
            for _ in range(rounds):
                await meter.phase(f"without-{persons}", routing.requests(per_round), without,
                                  per_round * persons)
                await meter.phase(f"with-{persons}", routing.requests(per_round), with_log,
                                  per_round * persons)
            profile = cProfile.Profile()
            profiled = routing.requests(per_round)
            began = time.perf_counter()
            profile.enable()
            for request in profiled:
                async with meter.conn.transaction():
                    await with_log(meter.conn, request)
            profile.disable()
            profiled_s = time.perf_counter() - began
            stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
            append_s = sum(v[3] for k, v in stats.items()
                           if k[2] == "append" and k[0].endswith("access_records.py"))
            total_s = sum(v[2] for v in stats.values())
            w, wo = meter.summary(f"with-{persons}"), meter.summary(f"without-{persons}")
            out.append({"persons": persons, "with_log": w, "without_log": wo,
                        "ratio_tx_per_s": (w["transactions"] / w["wall_s"])
                        / (wo["transactions"] / wo["wall_s"]),
                        "added_ms_per_request": (w["wall_s"] / w["transactions"]
                                                 - wo["wall_s"] / wo["transactions"]) * 1000,
                        "profile": {"requests": len(profiled), "wall_s": profiled_s,
                                    "append_cumulative_s": append_s,
                                    "profiled_cpu_s": total_s,
                                    "top": _profile_text(profile, 15)}})
        return out
    finally:
        await meter.conn.close()


# -- the run and its report --------------------------------------------------------------------

async def run(cfg: StackConfig, size: int = 1_000_000, samples: int = 10_000,
              batches: tuple[int, ...] = (1, 20, 200), entries: int = 10_000, rounds: int = 4,
              request_sizes: tuple[int, ...] = (1, 50), requests: int = 2_000,
              write: bool = True, reports: Path = REPORTS) -> dict[str, Any]:
    rng = random.Random(7)
    keyring = Keyring.load(cfg.keyring_path)
    load = os.getloadavg()
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "load_before": load}
    async with scratch_database(cfg) as dsn:
        result["appends"] = await appends(cfg, dsn, keyring, batches, entries, rounds, rng)
        result["relayed"] = await relayed(cfg, dsn, keyring, request_sizes, requests, rounds,
                                          rng)
        result["stored"] = await stored(dsn, size)
    result["proofs"] = await asyncio.to_thread(proofs, size, samples, rng)
    result["load_after"] = os.getloadavg()
    if write:
        write_report(reports, "access_log", result, markdown(result))
    return result


def _us(v: float) -> str:
    return f"{v:,.1f}"


def _cpu_line(phase: dict[str, Any]) -> str:
    c = phase["cpu_us_per_item"]
    return (f"bench {_us(c['bench'])}, its backend {_us(c['backend'])}, all PostgreSQL "
            f"{_us(c['postgres_all'])}")


def markdown(r: dict[str, Any]) -> str:
    p, s = r["proofs"], r["stored"]
    inc, con = p["inclusion"], p["consistency"]
    over = inc["verify_us"]["p50"] / inc["raw_hashes_us"]["p50"]
    lines = [
        "# The access log: appends, proofs at a million entries, a relayed query's cost",
        "",
        f"{r['when']} on {r['machine']}, against the dev stack's PostgreSQL in a scratch "
        f"database of the bench's own; load average {r['load_before'][0]:.2f} before, "
        f"{r['load_after'][0]:.2f} after (the two cores are shared with other work, so the "
        "ratios are the figures to read). Every baseline ran in the same run; database phases "
        "alternate with their baseline in rounds so that load drift hits both. CPU is per "
        "process from /proc: the bench's own, its connection's PostgreSQL backend, and all "
        "of PostgreSQL (every backend and helper of the shared server, others' work "
        "included). Statements are counted on the bench's connection (each one a round trip; "
        "`executemany` is one statement and one round trip).",
        "",
        "## Appends per second",
        "",
        "Each transaction appends a batch of relayed-query accesses with "
        "`access_records.append` (persons drawn from "
        f"{PERSONS:,}, all in one month's tree). Plain: the same transactions inserting as "
        "many rows of the leaf's size into a table with the same keys (entry id unique, relay "
        "id indexed) with one `executemany`: no month lock, no id lookup, no salt, no leaf, "
        "no hash.",
        "",
        "| batch | log entries/s | plain rows/s | log/plain | log tx p50 / p99 ms | "
        "statements per tx, log (plain) | per entry, log (plain) | CPU µs per entry, log | "
        "CPU µs per row, plain |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for a in r["appends"]:
        log, raw = a["log"], a["plain"]
        lines.append(
            f"| {a['batch']} | {log['items_per_s']:,.0f} | {raw['items_per_s']:,.0f} | "
            f"{a['ratio']:.2f} | {log['tx_p50_ms']:.2f} / {log['tx_p99_ms']:.2f} | "
            f"{log['statements_per_tx']:.0f} ({raw['statements_per_tx']:.0f}) | "
            f"{log['statements_per_item']:.2f} ({raw['statements_per_item']:.2f}) | "
            f"{_cpu_line(log)} | {_cpu_line(raw)} |")
    kinds = r["appends"][0]["log"]["statements_by_kind_per_tx"]
    last = r["appends"][-1]
    queued = sum(a["log"]["run_queue_s"] for a in r["appends"])
    appending = sum(a["log"]["wall_s"] for a in r["appends"])
    lines += [
        "",
        "Statements of one append transaction, by verb: "
        + ", ".join(f"{k} {v:.0f}" for k, v in kinds.items())
        + " (BEGIN and COMMIT included). The append's statements do not grow with the batch; "
        "its work per entry (a salt derived, a leaf built, a hash) does. Share of the wall "
        "time the bench's process was on a core while appending: "
        + ", ".join(f"batch {a['batch']} {a['log']['cpu_share_of_wall']['bench']:.0%} "
                    f"(its backend {a['log']['cpu_share_of_wall']['backend']:.0%})"
                    for a in r["appends"])
        + f"; run-queue wait of the bench's process {queued:.1f} s over {appending:.1f} s "
        "of appending.",
        "",
        f"Profile of {last['profile']['transactions']} appends of {last['batch']} entries "
        f"(cProfile, timed apart: {last['profile']['wall_s']:.2f} s wall under the profiler), "
        "top by own time:",
        "",
        "```",
        _trim(last["profile"]["top"]),
        "```",
        "",
        "## Proofs at a million entries",
        "",
        f"A tree of {p['size']:,} leaf hashes in the bench's process (leaves of the typical "
        f"length). Raw: the same number of SHA-256 calls with hashlib in a loop.",
        "",
        f"- Leaf hashes: {p['leaf_hashes_s']:.2f} s for {p['size']:,}.",
        f"- First root: **{p['first_root_s']:.2f} s**, against {p['raw_hashes_s']:.2f} s for "
        f"{p['size'] - 1:,} raw node-sized SHA-256 calls ({p['root_over_raw']:.1f}× raw: "
        "the tree's recursion and its memo of every subtree). A first proof in a fresh tree "
        f"costs the same: {p['cold_proof_s']:.2f} s (its siblings cover every other leaf).",
        f"- Inclusion proof: {inc['hashes']['min']}–{inc['hashes']['max']} hashes, at most "
        f"**{inc['bytes_max']} bytes**; made from a warm tree in {_us(inc['make_us']['p50'])} "
        f"µs (p99 {_us(inc['make_us']['p99'])}); verified by the standalone verifier in "
        f"**{_us(inc['verify_us']['p50'])} µs** p50, {_us(inc['verify_us']['p99'])} µs p99 "
        f"over {p['samples']:,} proofs. Raw: the same node hashes in a loop "
        f"{_us(inc['raw_hashes_us']['p50'])} µs p50 ({over:.1f}× for the verifier's "
        f"checks); the leaf's own hash alone {_us(inc['leaf_alone_us']['p50'])} µs.",
        f"- Consistency proof from a random earlier size to {p['size']:,}: "
        f"{con['hashes']['min']}–{con['hashes']['max']} hashes, at most {con['bytes_max']} "
        f"bytes; made in {_us(con['make_us']['p50'])} µs p50 (warm tree); verified in "
        f"**{_us(con['verify_us']['p50'])} µs** p50, {_us(con['verify_us']['p99'])} µs p99 "
        f"over {p['consistency_samples']:,}; raw (the proof's nodes hashed twice, as the "
        f"verifier walks two roots) {_us(con['raw_hashes_us']['p50'])} µs.",
        "",
        f"What `shaho access-log prove` pays per month it shows, with {s['size']:,} entries "
        f"stored (filled in SQL in {s['fill_s']:.0f} s): reading the month's leaf hashes "
        f"(`access_records.leaf_hashes`) **{s['fetch_s']:.2f} s**, then building the tree, its "
        f"root, one proof and its check **{s['tree_s']:.2f} s**; {s['total_s']:.2f} s in all "
        f"(median of {len(s['runs'])}). Nothing is kept between calls, so every call pays "
        "it; `verify` reads and hashes every leaf besides. Proofs are cheap; the root over "
        "stored leaves is what costs.",
        "",
        "## What the log adds to a relayed query",
        "",
        "Measured at the router's transaction, not through the whole exchange: one transaction "
        "per request of N persons routed to one insurer, doing what `ExchangeRouter` does for "
        "it (consumer position and relay clock locked; replay checked; rate counted; request "
        "recorded; per person, the number opened from the relay's store and sealed for the "
        "provider; the items recorded; a reply per person and the signed routed request "
        "encoded into the outbox; positions saved; the publisher woken), with the persons' "
        "queries appended by `access_records.append` where the router appends them, and "
        "without. Left out on both sides: consuming and decoding the record, its signature "
        "check and finding the persons by number, so the log's share here is larger than its "
        "share of the router's whole work.",
        "",
        "| persons | with log tx/s | without tx/s | with/without | added ms per request | "
        "tx p50 / p99 ms with | without | statements with (without) | CPU µs per person with "
        "| without |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for q in r["relayed"]:
        w, wo = q["with_log"], q["without_log"]
        lines.append(
            f"| {q['persons']} | {w['transactions'] / w['wall_s']:,.0f} | "
            f"{wo['transactions'] / wo['wall_s']:,.0f} | {q['ratio_tx_per_s']:.2f} | "
            f"{q['added_ms_per_request']:.2f} | {w['tx_p50_ms']:.2f} / {w['tx_p99_ms']:.2f} | "
            f"{wo['tx_p50_ms']:.2f} / {wo['tx_p99_ms']:.2f} | {w['statements_per_tx']:.0f} "
            f"({wo['statements_per_tx']:.0f}) | {_cpu_line(w)} | {_cpu_line(wo)} |")
    for q in r["relayed"]:
        pr = q["profile"]
        lines += [
            "",
            f"Profile of {pr['requests']} requests of {q['persons']} person(s) with the log "
            f"(cProfile, timed apart: {pr['wall_s']:.2f} s wall under the profiler): "
            f"`access_records.append` {pr['append_cumulative_s']:.2f} s cumulative of "
            f"{pr['profiled_cpu_s']:.2f} s profiled "
            f"({pr['append_cumulative_s'] / pr['wall_s']:.0%} of the wall time, waits for "
            "PostgreSQL included). Top by own time:",
            "",
            "```",
            _trim(pr["top"]),
            "```",
        ]
    lines.append("")
    return "\n".join(lines)


def _trim(text: str) -> str:
    """The pstats table without its preamble, paths shortened to the module's."""
    rows = text.strip().splitlines()
    start = next((i for i, line in enumerate(rows) if "ncalls" in line), 0)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    out = []
    for line in rows[start:]:
        line = line.replace(root, "")
        for marker in ("site-packages/", "/lib/python3"):
            head, found, tail = line.partition(marker)
            if found:
                cut = head.rfind(" ")
                line = head[:cut + 1] + (tail if marker == "site-packages/"
                                         else tail.partition("/")[2])
        out.append(line)
    return "\n".join(out)


if __name__ == "__main__":
    asyncio.run(run(StackConfig.from_env()))
