"""The processors' Prometheus metrics: one registry, one definition of each metric, and the
HTTP endpoint each processor serves them on (127.0.0.1 only), its port written down.

Label values come from fixed sets only: a processor's name from `PROCESSORS`, a reason from
the bounded set of codes the processor was built with, anything else counted as `other`. No
free text, participant code, number or reference can become a label value.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import start_http_server

PROCESSORS = ("relay-linker", "outbox-publisher", "relay-exchange", "notifications",
              "relay-clock", "insurer-worker", "reconciliation")
"""Every processor's name, in the order of its port's offset from `SHAHO_METRICS_PORT_BASE`."""
OTHER = "other"
"""The reason label of a code outside the processor's fixed set."""
ADDRESS = "127.0.0.1"
PORT_FILE_SUFFIX = ".metrics"
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

RECORDS_IN = Counter("shaho_records_in", "Input records a processor took in (committed).",
                     ["processor"], registry=REGISTRY)
RECORDS_OUT = Counter("shaho_records_out", "Output records or rows a processor committed.",
                      ["processor"], registry=REGISTRY)
DEAD_LETTERS = Counter("shaho_dead_letters", "Records set aside to a dead-letter topic.",
                       ["processor", "reason"], registry=REGISTRY)
REFUSALS = Counter("shaho_refusals", "Filings, persons or settlements refused, by reason.",
                   ["processor", "reason"], registry=REGISTRY)
END_TO_END = Histogram(
    "shaho_end_to_end_seconds",
    "From the broker's timestamp of an input record (or an outbox row's creation) to its "
    "effect committed.", ["processor"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
BATCH_SIZE = Histogram("shaho_batch_size", "Records handled in one transaction.",
                       ["processor"], registry=REGISTRY,
                       buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000))
TRANSACTION_SECONDS = Histogram(
    "shaho_transaction_seconds", "How long one transaction (database or Kafka) took.",
    ["processor"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PENDING_DEADLINES = Gauge(
    "shaho_pending_deadlines",
    "Work waiting on a date: notices' pending deadlines, unsent settlements.",
    ["processor"], registry=REGISTRY)


def _processor(name: str) -> str:
    if name not in PROCESSORS:
        raise ValueError(f"{name!r} is not one of the processors {PROCESSORS}")
    return name


def _codes(reasons: Iterable[str]) -> frozenset[str]:
    codes = frozenset(str(r) for r in reasons) | {OTHER}
    bad = sorted(c for c in codes if not _CODE.fullmatch(c))
    if bad:
        raise ValueError(f"reason codes must be snake_case codes, not {len(bad)} other values")
    return codes


class ProcessorMetrics:
    """One processor's children of the shared metrics, made once, so that an update on a hot
    path is an increment, never a label lookup. A reason outside `dead_letter_reasons` or
    `refusal_reasons` (each a fixed set of codes) is counted as `other`."""

    def __init__(self, processor: str, dead_letter_reasons: Iterable[str] = (),
                 refusal_reasons: Iterable[str] = ()) -> None:
        self.processor = _processor(processor)
        self.records_in = RECORDS_IN.labels(processor)
        self.records_out = RECORDS_OUT.labels(processor)
        self.end_to_end = END_TO_END.labels(processor)
        self.batch_size = BATCH_SIZE.labels(processor)
        self.transaction_seconds = TRANSACTION_SECONDS.labels(processor)
        self.pending_deadlines = PENDING_DEADLINES.labels(processor)
        self._dead = {c: DEAD_LETTERS.labels(processor, c) for c in _codes(dead_letter_reasons)}
        self._refused = {c: REFUSALS.labels(processor, c) for c in _codes(refusal_reasons)}

    def dead_letter(self, reason: str, count: int = 1) -> None:
        self._dead.get(reason, self._dead[OTHER]).inc(count)

    def refused(self, reason: str, count: int = 1) -> None:
        self._refused.get(reason, self._refused[OTHER]).inc(count)

    def committed(self, taken: int, made: int, timestamps_ms: Iterable[int] = ()) -> None:
        """A transaction committed: `taken` records in, `made` out, and the broker timestamps
        (milliseconds since the epoch; none known: -1) of the inputs it took."""
        self.records_in.inc(taken)
        self.records_out.inc(made)
        self.batch_size.observe(taken)
        now = time.time()
        for ms in timestamps_ms:
            if ms > 0:
                self.end_to_end.observe(max(now - ms / 1000, 0.0))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Time the block as one transaction (counted only when it completes)."""
        started = time.perf_counter()
        yield
        self.transaction_seconds.observe(time.perf_counter() - started)


def port_for(processor: str, base: int) -> int:
    """The port `processor` serves its metrics on: `base` plus its offset, or 0 (any free
    port, written down by `serve`) when `base` is 0."""
    return base + PROCESSORS.index(_processor(processor)) if base else 0


@dataclass(frozen=True)
class Endpoint:
    """Where one running processor serves its metrics."""

    processor: str
    pid: int
    port: int
    namespace: str

    @property
    def url(self) -> str:
        return f"http://{ADDRESS}:{self.port}/metrics"


def serve(processor: str, folder: Path, base: int = 0, namespace: str = "") -> Endpoint:
    """Serve the metrics on 127.0.0.1 and write the bound port to
    `folder/<processor>.<pid>.metrics` (removed again at a clean exit)."""
    server, _ = start_http_server(port_for(processor, base), addr=ADDRESS, registry=REGISTRY)
    endpoint = Endpoint(processor, os.getpid(), server.server_port, namespace)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{processor}.{endpoint.pid}{PORT_FILE_SUFFIX}"
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"processor": processor, "pid": endpoint.pid,
                                   "port": endpoint.port, "namespace": namespace}))
    scratch.replace(path)
    atexit.register(_forget, path)
    return endpoint


def _forget(path: Path) -> None:
    with suppress(OSError):
        path.unlink()


def endpoints(folder: Path) -> list[Endpoint]:
    """The endpoints written down in `folder` (some of their processors may have died)."""
    found = []
    for path in sorted(folder.glob(f"*{PORT_FILE_SUFFIX}")):
        try:
            data = json.loads(path.read_text())
            found.append(Endpoint(str(data["processor"]), int(data["pid"]), int(data["port"]),
                                  str(data.get("namespace", ""))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found
