"""Every processor, run as `shaho run` runs it, serves its metrics on 127.0.0.1 at the port it
wrote down: filings good and bad, and exchange requests good and bad, pushed through the
running relay show in each processor's counts, and no label carries anything but a
processor's name or a fixed reason code, least of all a value of the input."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from groundfloor.metrics import OTHER, PROCESSORS, endpoints
from infra.processes import run_dir
from insurer_workers.worker import REFUSALS as WORKER_REFUSALS
from insurer_workers.worker import SET_ASIDE
from notification_streams.processor import REASONS as NOTIFICATION_REASONS
from relay_exchange.router import REASONS as ROUTER_REASONS
from relay_linker.domain.model import MESSAGES
from schemas import encode
from schemas.exchange_terms import ForwardRefusal
from schemas.relay import ReasonCode
from schemas.topics import EXCHANGE_REQUEST
from synthetic.population import Population, generate
from tests.integration.exchange_env import (
    START,
    YEAR,
    ask,
    insured,
    job_changer,
    medical_covers,
    onboard_insurers,
    request,
    send_raw,
)
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

SEED, PERSONS = 5, 60
FAMILIES = {"shaho_records_in_total", "shaho_records_out_total", "shaho_dead_letters_total",
            "shaho_refusals_total", "shaho_end_to_end_seconds_count", "shaho_batch_size_count",
            "shaho_transaction_seconds_count", "shaho_pending_deadlines"}
REASONS = {OTHER, *MESSAGES, *ReasonCode, *ForwardRefusal, *ROUTER_REASONS,
           *NOTIFICATION_REASONS, *SET_ASIDE, *WORKER_REFUSALS}
LOOKS_LIKE_AN_ID = re.compile(r"\d{3,}|[0-9a-f]{8}-?[0-9a-f]{4}|[A-Z]{2,}\d|\|")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


class Running:
    """The processors started for the test, each found by its pid in the run folder."""

    def __init__(self, relay: RelayEnv, logs: Path) -> None:
        self.relay, self.logs = relay, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with open(self.logs / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "shaho.cli", "run", name, *args],
                env=self.relay.cfg.child_env(env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def url(self, name: str) -> str:
        pid = self.procs[name].pid
        found = [e for e in endpoints(run_dir(self.relay.stack)) if e.pid == pid]
        assert len(found) == 1 and found[0].processor == name, (name, found)
        assert found[0].namespace == self.relay.prefix
        return found[0].url

    def scrape(self, name: str) -> Samples:
        return _scrape(self.url(name))

    async def until(self, name: str, holds: Callable[[Samples], bool],
                    seconds: float = 240) -> Samples:
        """`name`'s metrics once `holds` is true of them (the port file first written)."""
        deadline = time.monotonic() + seconds
        while True:
            alive = self.procs[name].poll() is None
            assert alive, (self.logs / f"{name}.log").read_text()[-3000:]
            try:
                samples = self.scrape(name)
            except (AssertionError, OSError):
                samples = {}
            if samples and holds(samples):
                return samples
            assert time.monotonic() < deadline, (name, self.log(name))
            await asyncio.sleep(0.5)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()[-3000:]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def _input_strings(population: Population, extra: list[str]) -> set[str]:
    """Every string value of the filings pushed (codes, references, numbers, names)."""
    found: set[str] = set(extra)

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for filing in population.filings:
        walk(filing.model_dump(mode="json"))
    return found


def _check_labels(name: str, samples: Samples, inputs: set[str]) -> None:
    for (metric, labels), _ in samples.items():
        for key, value in labels:
            assert key in ("processor", "reason", "le"), (name, metric, key)
            if key == "le":
                float(value)
                continue
            assert value in (PROCESSORS if key == "processor" else REASONS), (metric, value)
            assert not LOOKS_LIKE_AN_ID.search(value), (metric, value)
            assert value not in inputs or value in REASONS, (metric, value)


async def test_every_processor_serves_bounded_metrics_of_what_it_did(relay: RelayEnv,
                                                                      tmp_path: Path):
    population = generate(SEED, PERSONS, START)
    medical = await onboard_insurers(relay, population, SEED)
    running = Running(relay, tmp_path)
    try:
        for name in ("relay-linker", "outbox-publisher", "notifications", "relay-exchange"):
            running.start(name)
        # filings, a conflicting duplicate (refused) and records that are no filing at all
        first = population.filings[0]
        other = first.model_copy(update={"occurred_at": first.occurred_at - timedelta(days=1)})
        filings = [(population.topic_of(f), f) for f in population.filings]
        await relay.publish([*filings, (population.topic_of(first), other)])
        topic = population.topic_of(first)
        bad = await relay.publish_raw([(topic, b"not json"), (topic, b"\xff\xfe"),
                                       (topic, b'{"event_type": "NoSuchEvent"}')])
        await relay.tick()
        pushed = len(filings) + 1 + bad
        await running.until("relay-linker", lambda s: _total(
            s, "shaho_records_in_total") >= pushed and _total(
            s, "shaho_dead_letters_total") >= bad and _total(
            s, "shaho_refusals_total", reason="conflicting_duplicate") >= 1)

        # the exchange: a request forwarded, one refused, one unsigned (a dead letter)
        covers = await medical_covers(relay)
        now = relay.ticks[-1]
        end = now.date() - timedelta(days=1)
        span = (end - YEAR, end)
        a, providers = job_changer(covers, end)
        running.start("insurer-worker", *[x for code in sorted({a.insurer, *providers})
                                          for x in ("--insurer", code)])
        running.start("reconciliation", "--insurer", medical[0],
                      env={"SHAHO_RECONCILE_POLL": "1", "SHAHO_RECONCILE_WAIT": "2"})
        await ask(relay, request(a.insurer, [("s1", insured(a.number)),
                                             ("s2", insured("|NO-SUCH-NUMBER|"))],
                                 now, period=span))
        unsigned = request(a.insurer, [("u1", insured(a.number))], now, period=span)
        await send_raw(relay, EXCHANGE_REQUEST.name, unsigned.kafka_key(), encode(unsigned),
                       [])
        await relay.tick(now + timedelta(minutes=1))
        await running.until("relay-exchange", lambda s: _total(
            s, "shaho_refusals_total", reason="unknown_number") >= 1 and _total(
            s, "shaho_dead_letters_total", reason="unsigned") >= 1)
        await running.until("insurer-worker", lambda s: _total(  # answered, and
            s, "shaho_records_out_total") >= 1 and _total(  # the batch committed
            s, "shaho_records_in_total") >= 1)
        await relay.tick(now + timedelta(minutes=2))  # the answers delivered
        await running.until("relay-exchange", lambda s: _total(
            s, "shaho_records_in_total") >= 4)
        await running.until("outbox-publisher", lambda s: _total(
            s, "shaho_records_out_total") > 0)
        await running.until("notifications", lambda s: _total(
            s, "shaho_records_in_total") > 0)
        await running.until("reconciliation", lambda s: _total(
            s, "shaho_transaction_seconds_count") > 0)
        running.start("relay-clock")  # on the broker's time, after the simulated calendar
        await running.until("relay-clock", lambda s: _total(
            s, "shaho_records_out_total") > 0)
        urls = {name: running.url(name) for name in running.procs}
        scraped = {name: _scrape(url) for name, url in urls.items()}
        status = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "shaho.cli", "metrics"],
            env=relay.cfg.child_env(), capture_output=True, text=True, timeout=120,
            check=False)
    finally:
        running.stop()

    assert set(scraped) == set(PROCESSORS)
    for name, samples in scraped.items():
        present = {n for (n, labels), _ in samples.items() if ("processor", name) in labels}
        assert present >= FAMILIES, (name, FAMILIES - present)
        assert urls[name].startswith("http://127.0.0.1:")
        assert f"metrics {name} (namespace {relay.prefix}): {urls[name]}" in status.stdout
    for name in ("relay-linker", "relay-exchange", "outbox-publisher"):
        samples = scraped[name]
        for family in ("shaho_records_in_total", "shaho_records_out_total",
                       "shaho_end_to_end_seconds_count", "shaho_batch_size_count",
                       "shaho_transaction_seconds_count"):
            assert _total(samples, family) > 0, family
    worker = scraped["insurer-worker"]
    assert _total(worker, "shaho_records_in_total") > 0
    assert _total(worker, "shaho_dead_letters_total",
                  reason="unreadable") == 0, running.log("insurer-worker")
    assert _total(scraped["notifications"], "shaho_transaction_seconds_count") > 0
    assert _total(scraped["relay-clock"], "shaho_transaction_seconds_count") > 0
    assert _total(scraped["reconciliation"], "shaho_transaction_seconds_count") > 0
    inputs = _input_strings(population, [a.number, a.insurer, *providers, relay.prefix,
                                         str(unsigned.request_id), "NO-SUCH-NUMBER"])
    for name, samples in scraped.items():
        _check_labels(name, samples, inputs)
