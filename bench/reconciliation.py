"""A 合算 period close through the relayed path, timed next to a raw read of the same receipts:
every medical insurer of a synthetic population closes one period (`insurer_workers.closing.
close`, as `shaho reconcile run` does: batched questions through the relay, the providers'
answers sealed and signed, every lookup in the access logs, the calculation, statements and
ledger) and sends its settlements (`settlement_sending.send_pending`).

Measured at two population sizes in one run and extrapolated linearly to 1,000,000 persons
against the targets (a close under 15 minutes, under 2 GiB): wall time of the whole close
(asking, gathering, settling, sending), the time until the payers' workers kept every
settlement, peak RSS and CPU seconds of every process (the close's own process, the router, the
outbox publisher, the insurer workers, PostgreSQL and Kafka), persons per second, and the time
to read the same receipts straight from PostgreSQL in one SELECT. A third run at the larger
size is profiled: cProfile of the close's process and of the router, publisher and workers.

The population is filed and linked by the real linker, the insurers' member stores filled as
the exchange bench fills them; the year of receipts (the whole period: the population goes
live on its first day) is written straight into the stores, each row as the worker's loading
writes it (`receipt_store`), instead of through the insurers' receipts topics. Writes
`bench/reports/reconciliation.{json,md}`. A benchmark, never a test.
"""

from __future__ import annotations

import asyncio
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.cpu import CpuMeter
from bench.exchange import _link, insurer
from bench.linker import REPORTS, Scratch, _servers, write_report
from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from infra import namespace, processes
from infra.principals import RELAY_CLOCK_PRINCIPAL
from insurer_workers import closing, member_store, receipt_store
from insurer_workers.closing import close
from insurer_workers.settlement_sending import send_pending
from insurer_workers.worker import send_requests
from reconciliation.calculation import Period
from relay_clock.clock import TICK_INTERVAL, RelayClock
from schemas import encode
from schemas.receipts import ReceiptKind, ReceiptRecord
from schemas.topics import Namespace
from staging.exchange_population import insurers_of, prepare, settlements_kept_by
from synthetic.population import generate
from synthetic.receipts import population_receipts
from trust.keys import clock_signer

PERIOD = Period(2025)
"""1 August 2024 to 31 July 2025: the population goes live on its first day, so every member
covered all year has twelve months of receipts in it."""
START = PERIOD.first_day
WAIT = 1800.0  # seconds a close waits for its replies before holding households back
KEPT_WAIT = 600.0  # seconds the payers' workers get to keep every settlement sent
PROCESSORS = ("relay-exchange", "outbox-publisher", "insurer-worker")
TARGET_PERSONS = 1_000_000
TARGET_WALL_S = 15 * 60.0
TARGET_RSS_MIB = 2048.0
SHOWN = 25  # profile lines shown per process
ROOT = Path(__file__).resolve().parent.parent


# -- the receipts, straight into the stores -------------------------------------------------------

RECEIPT_COLUMNS = ("receipt_id", "chain", "kind", "member_number", "service_month",
                   "institution", "prescribed_by", "prescribed_by_dentist", "copay_yen",
                   "high_cost_benefit_yen", "meals_and_room_yen", "content_hash", "loaded_at")
CARE_COLUMNS = ("receipt_id", "chain", "member_number", "service_month", "self_pay_yen",
                "preventive", "content_hash", "loaded_at")


def _row(record: ReceiptRecord, at: datetime) -> tuple[bool, tuple[Any, ...]]:
    """The row `receipt_store.load` inserts for a first-sent receipt: whether a care month."""
    number, month = receipt_store.member_number(record), receipt_store.service_month(record)
    digest = hashlib.sha256(encode(record)).digest()
    if record.kind is ReceiptKind.CARE:
        return True, (record.receipt_id, record.chain, number, month, record.self_pay_yen,
                      record.preventive, digest, at)
    return False, (record.receipt_id, record.chain, record.kind.value, number, month,
                   record.institution_code, record.prescribed_by, record.prescribed_by_dentist,
                   record.copay_yen, record.high_cost_benefit_yen, record.meals_and_room_yen,
                   digest, at)


async def load_receipts(cfg: StackConfig, receipts: dict[str, list[ReceiptRecord]]
                        ) -> dict[str, int]:
    """Every insurer's receipts copied into its store; rows per table."""
    at, counts = datetime.now(UTC), Counter[str]()
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        for code, records in sorted(receipts.items()):
            schema = member_store.store_name(code).strip('"')
            medical, care = [], []
            for record in records:
                is_care, row = _row(record, at)
                (care if is_care else medical).append(row)
            if medical:
                await conn.copy_records_to_table("receipts", schema_name=schema,
                                                 records=medical, columns=RECEIPT_COLUMNS)
            if care:
                await conn.copy_records_to_table("care_self_pay", schema_name=schema,
                                                 records=care, columns=CARE_COLUMNS)
            counts["receipts"] += len(medical)
            counts["care_self_pay"] += len(care)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return dict(counts)


async def raw_read(cfg: StackConfig, codes: list[str], period: Period) -> dict[str, Any]:
    """The period's standing receipts and care months of every store in one SELECT, fetched
    and decoded by asyncpg: seconds and rows (three times; the first and the fastest)."""
    parts = []
    for code in codes:
        s = member_store.store_name(code)
        parts += [f"""SELECT receipt_id, member_number, service_month, kind, institution,
                      prescribed_by, prescribed_by_dentist, copay_yen, high_cost_benefit_yen,
                      meals_and_room_yen, NULL::boolean AS preventive FROM {s}.receipts
                      WHERE superseded_by IS NULL AND service_month BETWEEN $1 AND $2""",
                  f"""SELECT receipt_id, member_number, service_month, 'care', NULL, NULL,
                      false, self_pay_yen, 0, 0, preventive FROM {s}.care_self_pay
                      WHERE superseded_by IS NULL AND service_month BETWEEN $1 AND $2"""]
    sql = " UNION ALL ".join(parts)
    first, last = period.first_month.first_day, period.last_month.first_day
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        times, rows = [], 0
        for _ in range(3):
            began = time.perf_counter()
            rows = len(await conn.fetch(sql, first, last))
            times.append(time.perf_counter() - began)
    finally:
        await conn.close()
    return {"rows": rows, "first_s": times[0], "best_s": min(times), "stores": len(codes)}


# -- the close, in a process of its own ------------------------------------------------------------

def _vm(pid: int | str, field: str) -> float:
    """A /proc/<pid>/status size in MiB (VmHWM: the peak resident set; VmRSS: the current)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def close_batch() -> int:
    """Store households a close takes at a time: SHAHO_CLOSE_BATCH (a positive whole number,
    as for the processor), else the close's own default."""
    text = os.environ.get("SHAHO_CLOSE_BATCH", "").strip()
    if not text:
        return closing.BATCH
    if not text.isdigit() or int(text) < 1:
        raise ValueError("SHAHO_CLOSE_BATCH must be a positive whole number")
    return int(text)


async def _close_one(cfg: StackConfig, code: str, day: datetime, began: float
                     ) -> dict[str, Any]:
    """One insurer's close and sending, on its own connection, with when each phase ended."""
    gathered: list[float] = []

    def progress(done: int, total: int) -> None:  # every reply of a batch in: the last wins
        if done == total:
            gathered[:] = [time.perf_counter() - began]

    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        me = insurer(cfg, code)
        report = await close(conn, me, Namespace(cfg.topic_prefix), day, PERIOD, wait=WAIT,
                             progress=progress, batch=close_batch())
        closed = time.perf_counter() - began
        sent = await send_pending(conn, me, cfg, Namespace(cfg.topic_prefix), PERIOD.year)
    finally:
        await conn.close()
    return {"code": code, "gathered_s": gathered[0] if gathered else None, "closed_s": closed,
            "sent_s": time.perf_counter() - began, **report.counts(), "sent": sent.sent,
            "left": sent.left}


async def close_all(cfg: StackConfig, day: datetime) -> dict[str, Any]:
    """The period closed at every medical insurer at once (each as its own identity, on its own
    connection) and the settlements sent; the wall time and what each did."""
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        codes = await member_store.medical_insurers(conn)
    finally:
        await conn.close()
    began = time.perf_counter()
    closes = await asyncio.gather(*(_close_one(cfg, code, day, began) for code in codes))
    return {"wall_s": time.perf_counter() - began, "closes": closes}


def child_main(args: list[str]) -> int:
    """`python -m bench.reconciliation <relay time> [<profile file>]`: the close in this
    process (the namespace from the environment); its JSON result on the last line."""
    day = datetime.fromisoformat(args[0])
    cfg = StackConfig.from_env()
    rss_before = _vm("self", "VmRSS")
    profile = cProfile.Profile() if len(args) > 1 else None
    cpu = time.process_time()
    if profile is not None:
        profile.enable()
    result = asyncio.run(close_all(cfg, day))
    if profile is not None:
        profile.disable()
        profile.dump_stats(args[1])
    result.update(cpu_s=time.process_time() - cpu, rss_before_mib=rss_before,
                  peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, default=str))
    return 0


# -- one size ------------------------------------------------------------------------------------

def _spawn(ns: StackConfig, name: str, *args: str, profile: Path | None = None) -> int:
    """`shaho run <name>` in the background (under cProfile when `profile` names its output),
    the exchange's rate limit lifted; its pid file lets `down` stop it."""
    if profile is None:
        return processes.spawn(ns, name, *args, env={"SHAHO_EXCHANGE_RATE_LIMIT": str(10**9)})
    log = processes.run_dir(ns) / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "shaho.cli", "run",
             name, *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=ns.child_env({"SHAHO_EXCHANGE_RATE_LIMIT": str(10**9)}),
            start_new_session=True)
    (processes.run_dir(ns) / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


async def _drain_outbox(ns: Scratch) -> None:
    """The linker's outbox published before the processors start (its notices are not the
    close's work)."""
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "shaho.cli", "run", "outbox-publisher",
                         "--drain"], env=ns.cfg.child_env(), capture_output=True, cwd=ROOT,
        timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"outbox-publisher: {done.stderr.decode(errors='replace')[-2000:]}")


async def warm_up(cfg: StackConfig, day: datetime) -> dict[str, Any]:
    """Each medical insurer asks about its first household once (round 0, which no close
    uses) and waits for the replies, so that the timed close finds the processors' consumers
    assigned and their topics read to the end; seconds and requests."""
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        waiting = []
        began = time.perf_counter()
        for code in await member_store.medical_insurers(conn):
            units = await closing.households_of(conn, code, PERIOD)
            if not units:
                continue
            requests, asked = closing.requests_for(code, PERIOD, 0, units[:1], day,
                                                   timedelta(hours=1))
            await send_requests(insurer(cfg, code), Namespace(cfg.topic_prefix), requests)
            waiting.append((code, asked))
        answered = 0
        for code, asked in waiting:
            found = await closing.gather(conn, code, asked, wait=300)
            answered += all(s.terminal for s in found.values())
    finally:
        await conn.close()
    return {"seconds": time.perf_counter() - began, "insurers": len(waiting),
            "answered": answered}


async def _run_close(ns: Scratch, day: datetime, profile: Path | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.reconciliation", day.isoformat()]
    if profile is not None:
        cmd.append(str(profile))
    done = await asyncio.to_thread(
        subprocess.run, cmd, env=ns.cfg.child_env(), capture_output=True, text=True,
        cwd=ROOT, check=False, timeout=WAIT + 1200)
    if done.returncode != 0:
        raise RuntimeError(f"the close failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(path: Path) -> dict[str, Any]:
    """Of a process's profile: the seconds it ran, those spent waiting in epoll (idle), the
    functions with the most own time besides, and the project's with the most cumulative."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    idle = sum(v[2] for k, v in stats.items() if "select.epoll" in k[2])

    def name(k: tuple[str, int, str]) -> str:
        where = k[0].removeprefix(str(ROOT) + "/")
        return f"{where}:{k[1]}({k[2]})" if k[1] else k[2]

    own = sorted(((name(k), v[2], v[3]) for k, v in stats.items()
                  if "select.epoll" not in k[2]), key=lambda t: -t[1])[:8]
    ours = sorted(((name(k), v[2], v[3]) for k, v in stats.items()
                   if k[0].startswith(str(ROOT)) and "/shaho/" not in k[0]
                   and "/bench/" not in k[0]), key=lambda t: -t[2])[:12]
    return {"total_s": total, "idle_s": idle, "own": own, "cumulative": ours}


def _stats(path: Path, sort: str) -> str:
    text = io.StringIO()
    pstats.Stats(str(path), stream=text).sort_stats(sort).print_stats(SHOWN)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    head = [line for line in lines[:start] if "function calls" in line]
    return "\n".join([*(h.strip() for h in head), *lines[start:]]).rstrip()


async def one_size(cfg: StackConfig, persons: int, seed: int, profiled: Path | None = None,
                   tick: float = TICK_INTERVAL) -> dict[str, Any]:
    """Set up a population of `persons` in a namespace of its own, close the period through
    the relay's processors, read the same receipts raw; the figures (and, when `profiled`
    names a directory, cProfile files of every process there)."""
    out: dict[str, Any] = {"persons": persons, "profiled": profiled is not None,
                           "tick_s": tick}
    began = time.perf_counter()
    population = generate(seed, persons, START)
    out["filings"] = len(population.filings)
    async with Scratch(cfg, "r") as ns:
        day = await _link(cfg, ns, population)
        out["relay_time"] = day.isoformat()
        members = await prepare(cfg, ns.cfg, population)
        # the insurers' receipts and settlements topics, before their workers start (a worker
        # reads those that exist when it starts), as the demo makes them
        codes = insurers_of(population)
        topics = Namespace(ns.cfg.topic_prefix)
        await namespace.receipt_topics(ns.cfg, topics, codes)
        await namespace.settlement_topics(ns.cfg, topics, codes)
        receipts = population_receipts(population, PERIOD.last_day, seed)
        out["stored"] = await load_receipts(ns.cfg, receipts)
        out["setup_s"] = time.perf_counter() - began
        codes = insurers_of(population)
        out["insurers"] = len(codes)
        await _drain_outbox(ns)
        out["medical_members"] = len({(c, p.member_number) for c, ps in members.items()
                                      for p in ps if p.scheme == "medical"})

        def prof(name: str) -> Path | None:
            return profiled / f"{name}.prof" if profiled is not None else None

        pids = {"router": _spawn(ns.cfg, "relay-exchange", profile=prof("router")),
                "publisher": _spawn(ns.cfg, "outbox-publisher", profile=prof("publisher"))}
        pids["workers"] = _spawn(ns.cfg, "insurer-worker",
                                 *[a for c in codes for a in ("--insurer", c)],
                                 profile=prof("workers"))
        meter = CpuMeter({**pids, **_servers(cfg)}, reaped={"PostgreSQL"})
        clock = RelayClock(cfg.kafka(RELAY_CLOCK_PRINCIPAL), ns.topics,
                           Keyring.load(cfg.keyring_path), clock_signer(cfg))
        await clock.start()
        ticking = asyncio.Event()
        ticks = asyncio.create_task(clock.run(ticking, tick, at=day))
        try:
            out["warm_up"] = await warm_up(ns.cfg, day)
            meter.start()
            started = time.perf_counter()
            result = await _run_close(ns, day, prof("close"))
            sent = sum(c["sent"] for c in result["closes"])
            kept = await settlements_kept_by(ns.cfg, codes, sent, KEPT_WAIT, 0.5)
            out["kept_s"] = time.perf_counter() - started
            cpu = meter.stop()
            out["peak_rss_mib"] = {"close": result["peak_rss_mib"],
                                   **{name: _vm(pid, "VmHWM") for name, pid in pids.items()}}
        finally:
            ticking.set()
            await ticks
            await clock.stop()
            for name in PROCESSORS:
                processes.stop(ns.cfg, name)
        out["close_rss_before_mib"] = result["rss_before_mib"]
        out["wall_s"] = result["wall_s"]
        out["cpu_s"] = {"close": result["cpu_s"], **cpu}
        out["closes"] = result["closes"]
        out["kept"], out["sent"] = kept, sent
        out["raw"] = await raw_read(ns.cfg, sorted(receipts), PERIOD)
    out["persons_per_s"] = persons / out["wall_s"]
    out["totals"] = _totals(out["closes"])
    if profiled is not None:
        out["profiles"] = {name: {"tottime": _stats(path, "tottime"),
                                  "cumulative": _stats(path, "cumulative"),
                                  "summary": _summary(path)}
                           for name in ("close", "router", "publisher", "workers")
                           if (path := profiled / f"{name}.prof").exists()}
    return out


def _totals(closes: list[dict[str, Any]]) -> dict[str, Any]:
    held = Counter[str]()
    for c in closes:
        held.update(c["held_back"])
    gathered = [c["gathered_s"] for c in closes if c["gathered_s"] is not None]
    return {"insurers": len(closes), "households": sum(c["households"] for c in closes),
            "settled": sum(c["settled"] for c in closes), "held_back": dict(held),
            "new": sum(c["new"] for c in closes), "deltas": sum(c["deltas"] for c in closes),
            "last_gathered_s": max(gathered) if gathered else None,
            "last_closed_s": max(c["closed_s"] for c in closes),
            "largest": max(closes, key=lambda c: c["households"])["code"]}


# -- the run, the extrapolation and the report ----------------------------------------------------

def extrapolate(small: dict[str, Any], large: dict[str, Any], figure: Any) -> float:
    """`figure(size)` at TARGET_PERSONS on the straight line through the two sizes."""
    x0, x1 = small["persons"], large["persons"]
    y0, y1 = figure(small), figure(large)
    return y1 + (y1 - y0) / (x1 - x0) * (TARGET_PERSONS - x1)


def projection(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    rss = {name: extrapolate(small, large, lambda s, n=name: s["peak_rss_mib"][n])
           for name in large["peak_rss_mib"]}
    cpu = {name: extrapolate(small, large, lambda s, n=name: s["cpu_s"][n])
           for name in large["cpu_s"]}
    wall = extrapolate(small, large, lambda s: s["wall_s"])
    return {"persons": TARGET_PERSONS, "from": [small["persons"], large["persons"]],
            "wall_s": wall, "kept_s": extrapolate(small, large, lambda s: s["kept_s"]),
            "raw_s": extrapolate(small, large, lambda s: s["raw"]["best_s"]),
            "peak_rss_mib": rss, "rss_sum_mib": sum(rss.values()), "cpu_s": cpu,
            "wall_over_target": wall / TARGET_WALL_S,
            "largest_rss_over_target": max(rss.values()) / TARGET_RSS_MIB}


async def run(cfg: StackConfig, persons: int = 2400, seed: int = 7, small: int | None = None,
              profile: bool = True, tick: float = TICK_INTERVAL,
              reports: Path = REPORTS) -> dict[str, Any]:
    """Measure at `small` (a quarter of `persons` unless given) and at `persons`, profile a
    third run at `persons` (where the growth shows), extrapolate; write the report."""
    small = small or max(persons // 4, 50)
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seed": seed, "period": PERIOD.year,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}", "sizes": [small, persons], "tick_s": tick,
        "close_batch": close_batch()}
    runs = []
    for size in (small, persons):
        runs.append(await one_size(cfg, size, seed, tick=tick))
        result["runs"] = runs
        _write(result, reports)  # what is measured so far stays, should a later size fail
    result["projection"] = projection(runs[0], runs[1])
    if profile:
        where = reports / "reconciliation_profiles"
        where.mkdir(exist_ok=True)
        result["profiled"] = await one_size(cfg, persons, seed, profiled=where, tick=tick)
        for path in where.glob("*.prof"):
            path.unlink()
        where.rmdir()
    _write(result, reports)
    return result


def _write(result: dict[str, Any], reports: Path = REPORTS) -> None:
    write_report(reports, "reconciliation", result, markdown(result))


def _s(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:,.1f}"


def _miss(value: float, target: float) -> str:
    if value <= target:
        return f"meets it ({value / target:.0%} of the target)"
    return f"misses by {value - target:,.0f} ({value / target:.1f}× the target)"


def _faster(small: dict[str, Any], large: dict[str, Any]) -> list[tuple[str, float]]:
    """The figures whose growth from `small` to `large` outran the persons'."""
    ratio = large["persons"] / small["persons"]
    pairs = {"close wall": (small["wall_s"], large["wall_s"]),
             **{f"{n} CPU": (small["cpu_s"][n], large["cpu_s"][n]) for n in large["cpu_s"]},
             **{f"{n} peak RSS": (small["peak_rss_mib"][n], large["peak_rss_mib"][n])
                for n in large["peak_rss_mib"]}}
    return [(n, b / a) for n, (a, b) in pairs.items() if a > 0 and b / a > ratio]


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    lines = [
        "# The 合算 period close through the relay: wall time, memory, against a raw read",
        "",
        f"{result['when']} on {result['machine']}. Period {result['period']} (1 August "
        f"{result['period'] - 1} to 31 July {result['period']}); synthetic populations (seed "
        f"{result['seed']}) going live on its first day, filed and linked by the linker, the "
        "insurers' member stores filled, a year of receipts written into the stores as the "
        "worker's loading writes them. The router, the outbox publisher and the insurer workers "
        f"(one process for all insurers) run as their own processes, the relay clock ticking "
        f"every {result.get('tick_s', 0.05):g} s (production's `shaho run relay-clock` ticks "
        "every second); the close runs in a process of its own: every medical insurer closes "
        "at once through `insurer_workers.closing.close` (batched questions, the providers' "
        "sealed and signed answers, the access logs, the calculation, statements and ledger; "
        f"{result.get('close_batch', 'all')} store households of an insurer at a time), "
        "each on its own connection as its own identity, then sends its settlements "
        "(`send_pending`). The router's per-participant rate limit (10,000 persons per relay "
        "hour) is lifted, as in the exchange bench. Wall time: from the close process's first "
        "question to the last insurer's settlements acknowledged by the broker; \"kept\": "
        "until the payers' workers kept every settlement sent (from the close process's "
        "start, its interpreter start-up included). Raw: the same period's receipt and care "
        "rows of every store read in one SELECT by asyncpg, in the same run after the close "
        "(the fastest of three). Before the timed close the linker's outbox is published "
        "and each medical insurer asks once about its first household (round 0, untimed), "
        "so that the close does not wait for the processors' consumers to join and read "
        "the linker's backlog.",
        "",
        "## Measured",
        "",
        "| persons | filings | medical members | households | settlements | close wall s | "
        "persons/s | kept s | raw read s (rows) | close/raw |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*runs, *([result["profiled"]] if "profiled" in result else [])]:
        t, raw = r["totals"], r["raw"]
        label = f"{r['persons']:,}" + (" (profiled)" if r["profiled"] else "")
        lines.append(
            f"| {label} | {r['filings']:,} | {r['medical_members']:,} | {t['households']:,} "
            f"| {t['new'] + t['deltas']:,} | {_s(r['wall_s'])} | {r['persons_per_s']:,.1f} | "
            f"{_s(r['kept_s'])} | {raw['best_s']:.3f} ({raw['rows']:,}) | "
            f"{r['wall_s'] / raw['best_s']:,.0f}× |")
    lines += ["", "Held back, sent and kept: " + "; ".join(
        f"{r['persons']:,} persons: {r['totals']['settled']:,} of {r['totals']['households']:,}"
        f" households settled, held back {r['totals']['held_back'] or 'none'}, "
        f"{r['sent']:,} settlements sent, {r['kept']:,} kept by their payers"
        for r in runs) + ".",
        "", "Phases (seconds from the first question): " + "; ".join(
        f"{r['persons']:,} persons: the last insurer's replies all in at "
        f"{_s(r['totals']['last_gathered_s'])}, its households settled at "
        f"{_s(r['totals']['last_closed_s'])}, sent at {_s(r['wall_s'])} (largest close: "
        f"{r['totals']['largest']}, {max(c['households'] for c in r['closes']):,} households, "
        f"of {r['totals']['insurers']} medical insurers)" for r in runs) + ".",
        "", "| persons | process | peak RSS MiB | CPU s | share of a core until kept |",
        "|---:|---|---:|---:|---:|"]
    for r in runs:
        for name, cpu in r["cpu_s"].items():
            rss = r["peak_rss_mib"].get(name)
            lines.append(f"| {r['persons']:,} | {name} | {_s(rss)} | {cpu:,.1f} | "
                         f"{cpu / r['kept_s']:.0%} |")
    lines += [
        "",
        "Peak RSS is the kernel's high-water mark (VmHWM; for the close process its "
        "`ru_maxrss`); CPU is user + system from /proc over the close until the settlements "
        "are kept (the close process: its own, over the close), PostgreSQL with every "
        "backend; the share is of the time until kept. PostgreSQL and Kafka serve the "
        "whole machine, their memory is not counted.",
    ]
    if "projection" in result:
        p = result["projection"]
        big = max(p["peak_rss_mib"], key=p["peak_rss_mib"].get)
        lines += [
            "",
            f"## Extrapolated to {p['persons']:,} persons (not measured)",
            "",
            f"A straight line through the two measured sizes ({p['from'][0]:,} and "
            f"{p['from'][1]:,} persons), figure by figure; an extrapolation, not a "
            "measurement. The machine was not asked to close a million persons.",
            "",
            f"- Wall time of the close: **{_s(p['wall_s'])} s** ({p['wall_s'] / 60:,.1f} "
            f"min) against 15 min: {_miss(p['wall_s'], TARGET_WALL_S)}. Until kept by the "
            f"payers: {_s(p['kept_s'])} s. The raw read of the same receipts: "
            f"{p['raw_s']:.2f} s.",
            f"- Peak memory, largest process ({big}): **{p['peak_rss_mib'][big]:,.0f} MiB** "
            f"against 2 GiB: {_miss(p['peak_rss_mib'][big], TARGET_RSS_MIB)}. Per process: "
            + ", ".join(f"{n} {v:,.0f} MiB" for n, v in p["peak_rss_mib"].items())
            + f"; together {p['rss_sum_mib']:,.0f} MiB ("
            + _miss(p["rss_sum_mib"], TARGET_RSS_MIB) + " if the 2 GiB are for all of "
            "them).",
            "- Figures that grew faster than the population between the two sizes ("
            f"{p['from'][1] / p['from'][0]:g}× the persons), for which the straight line "
            "understates the million: " + (", ".join(
                f"{n} {g:.1f}×" for n, g in _faster(runs[0], runs[1])) or "none") + ".",
            "- CPU seconds: " + ", ".join(f"{n} {v:,.0f}" for n, v in p["cpu_s"].items())
            + f"; on {os.cpu_count()} cores at best "
            f"{sum(p['cpu_s'].values()) / (os.cpu_count() or 1):,.0f} s of wall time if "
            "every process kept a core busy.",
        ]
    if "profiled" in result:
        r = result["profiled"]
        lines += [
            "",
            f"## Profile ({r['persons']:,} persons, a run of its own)",
            "",
            "cProfile of the close's process (the whole close coroutine: every insurer's "
            "asking, gathering, settling and sending) and of the router, the outbox publisher "
            "and the workers' processes, each run under `python -m cProfile` for the whole "
            "of its life (start-up and idle polling before and after the close included). "
            "PostgreSQL and Kafka were not profiled (their CPU is above). Profiling slows "
            "each process; its wall time is in the table above, not used for the "
            "extrapolation.",
        ]
        same = next((x for x in runs if x["persons"] == r["persons"]), None)
        if same is not None:
            lines += ["", f"The profiled run closed the same {r['persons']:,} persons in "
                      f"{r['wall_s']:,.1f} s against {same['wall_s']:,.1f} s unprofiled: the "
                      "machine's two cores are shared with other work, and a single wall "
                      "figure here is uncertain by about that much."]
        for name, text in r.get("profiles", {}).items():
            m = text["summary"]
            lines += [
                "", f"**{name}**: {m['total_s']:,.1f} s profiled, {m['idle_s']:,.1f} s of them "
                f"waiting in epoll ({m['idle_s'] / m['total_s']:.0%}). Most own time besides: "
                + "; ".join(f"`{f}` {t:,.2f} s" for f, t, _ in m["own"][:5])
                + ". The project's functions with the most cumulative time: "
                + "; ".join(f"`{f}` {c:,.2f} s" for f, _, c in m["cumulative"][:8]) + "."]
        for name, text in r.get("profiles", {}).items():
            lines += ["", f"### {name}, by own time", "", "```", text["tottime"], "```",
                      "", f"### {name}, by cumulative time", "", "```", text["cumulative"],
                      "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
