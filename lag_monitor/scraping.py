"""The running processors' own metrics, as the dashboard shows them: every endpoint written down
in the run folder (`groundfloor.metrics.endpoints`) of the monitor's namespace is scraped, its
text parsed with `prometheus_client.parser` and summed per processor.

A scraped page is outside input: a family or sample it does not know is ignored, a processor
label outside `groundfloor.metrics.PROCESSORS` and a reason that is not a short snake_case code
are counted as `other`, so the labels the dashboard shows come from bounded sets whatever an
endpoint answers. A page the parser refuses is reported as unreadable, never half-counted.

`Totals` hold one scrape's counters; `Scrapes` keeps a bounded history of them, from which
rates (records per second, dead letters per second over the alert rule's range) and the
end-to-end latency percentiles over the same range come, the way Prometheus' `rate` and
`histogram_quantile` compute them.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from groundfloor.metrics import OTHER, PROCESSORS, Endpoint, endpoints

_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
SCRAPE_TIMEOUT = 2.0
"""Seconds one endpoint may take to answer."""
MAX_PAGE = 4 * 1024 * 1024
"""The most bytes of one endpoint's page read."""
QUANTILES = (0.5, 0.95, 0.99)
MAX_COUNT = float(2**63)
"""The largest sample value taken as a count: the sums of a page's samples (and of every
endpoint's) then stay finite, so the API's JSON never holds Infinity or NaN."""


class Unreadable(ValueError):
    """A metrics page the parser refused (no detail of its text is kept)."""


def processor_label(value: str) -> str:
    return value if value in PROCESSORS else OTHER


def reason_label(value: str) -> str:
    return value if _CODE.fullmatch(value) else OTHER


@dataclass
class Totals:
    """One scrape's counters, summed per processor (and per reason)."""

    records_in: dict[str, float] = field(default_factory=dict)
    records_out: dict[str, float] = field(default_factory=dict)
    dead_letters: dict[tuple[str, str], float] = field(default_factory=dict)
    refusals: dict[tuple[str, str], float] = field(default_factory=dict)
    pending_deadlines: dict[str, float] = field(default_factory=dict)
    end_to_end: dict[str, dict[float, float]] = field(default_factory=dict)
    """Per processor, the cumulative count of each bucket's upper bound (+Inf included)."""

    def add(self, other: Totals) -> None:
        for mine, theirs in ((self.records_in, other.records_in),
                             (self.records_out, other.records_out),
                             (self.dead_letters, other.dead_letters),
                             (self.refusals, other.refusals),
                             (self.pending_deadlines, other.pending_deadlines)):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0.0) + value
        for processor, buckets in other.end_to_end.items():
            into = self.end_to_end.setdefault(processor, {})
            for le, count in buckets.items():
                into[le] = into.get(le, 0.0) + count


def _number(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not 0 <= number <= MAX_COUNT:  # NaN, an infinity, a negative or absurd count
        raise Unreadable("a sample is not a count")
    return number


def summarise(text: str) -> Totals:
    """The shaho_* families of one metrics page, summed per bounded label; `Unreadable` when
    the parser refuses the page."""
    totals = Totals()
    counters = {"shaho_records_in_total": totals.records_in,
                "shaho_records_out_total": totals.records_out}
    by_reason = {"shaho_dead_letters_total": totals.dead_letters,
                 "shaho_refusals_total": totals.refusals}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name, labels = sample.name, sample.labels
                if not name.startswith("shaho_"):
                    continue
                processor = processor_label(str(labels.get("processor", "")))
                if name in counters:
                    into = counters[name]
                    into[processor] = into.get(processor, 0.0) + _number(sample.value)
                elif name in by_reason:
                    key = (processor, reason_label(str(labels.get("reason", ""))))
                    into2 = by_reason[name]
                    into2[key] = into2.get(key, 0.0) + _number(sample.value)
                elif name == "shaho_pending_deadlines":
                    totals.pending_deadlines[processor] = (
                        totals.pending_deadlines.get(processor, 0.0) + _number(sample.value))
                elif name == "shaho_end_to_end_seconds_bucket":
                    le = float(labels.get("le", "nan"))
                    if math.isnan(le):
                        raise Unreadable("a bucket without its bound")
                    buckets = totals.end_to_end.setdefault(processor, {})
                    buckets[le] = buckets.get(le, 0.0) + _number(sample.value)
    except Unreadable:
        raise
    except Exception as refused:  # the parser's own errors: ValueError, IndexError, …
        raise Unreadable("the page is not Prometheus text") from refused
    return totals


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """`histogram_quantile(q, …)` over cumulative `buckets` (upper bound → count): linear
    within the bucket the rank falls in; the highest finite bound when it falls in +Inf;
    None with no observations."""
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def _increase(new: float, old: float | None) -> float:
    """A counter's increase, a reset (the counter lower than before) counted from zero."""
    if old is None:
        return new
    return new - old if new >= old else new


@dataclass(frozen=True)
class EndpointState:
    processor: str
    port: int
    ok: bool
    error: str | None

    def as_json(self) -> dict[str, object]:
        return {"processor": self.processor, "port": self.port, "ok": self.ok,
                "error": self.error}


@dataclass
class Scrapes:
    """The processors' endpoints of one namespace, scraped at each poll; the last `keep`
    scrapes kept for rates and percentiles over `range_seconds`."""

    folder: Path
    namespace: str
    range_seconds: float = 300.0
    keep: int = 720
    clock: Callable[[], float] = time.time
    history: deque[tuple[float, Totals]] = field(default_factory=deque)
    endpoints: list[EndpointState] = field(default_factory=list)

    async def scrape(self, session: aiohttp.ClientSession) -> Totals:
        found = [e for e in await asyncio.to_thread(endpoints, self.folder)
                 if e.namespace == self.namespace]
        results = await asyncio.gather(*(self._one(session, e) for e in found))
        totals = Totals()
        states = []
        for endpoint, (page, error) in zip(found, results, strict=True):
            states.append(EndpointState(processor_label(endpoint.processor), endpoint.port,
                                        page is not None, error))
            if page is not None:
                totals.add(page)
        self.endpoints = states
        self.history.append((self.clock(), totals))
        while len(self.history) > self.keep:
            self.history.popleft()
        return totals

    async def _one(self, session: aiohttp.ClientSession,
                   endpoint: Endpoint) -> tuple[Totals | None, str | None]:
        try:
            async with session.get(endpoint.url,
                                   timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)) as got:
                if got.status != 200:
                    return None, f"HTTP {got.status}"
                body = await got.content.read(MAX_PAGE + 1)
            if len(body) > MAX_PAGE:
                return None, "page too large"
            return summarise(body.decode("utf-8", errors="replace")), None
        except Unreadable:
            return None, "unreadable page"
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None, "not answering"

    def _since(self, seconds: float) -> tuple[float, Totals] | None:
        """The oldest scrape within the last `seconds` (before the newest one)."""
        if len(self.history) < 2:
            return None
        newest = self.history[-1][0]
        for at, totals in self.history:
            if newest - at <= seconds and at < newest:
                return at, totals
        return None

    def rate(self, pick: str, seconds: float) -> dict[object, float]:
        """Per key of the `pick` counters, the increase per second over the last `seconds`."""
        if not self.history:
            return {}
        newest_at, newest = self.history[-1]
        base = self._since(seconds)
        if base is None:
            return {k: 0.0 for k in getattr(newest, pick)}
        at, old = base
        olds = getattr(old, pick)
        return {k: _increase(v, olds.get(k)) / (newest_at - at)
                for k, v in getattr(newest, pick).items()}

    def latency(self, seconds: float) -> dict[str, dict[str, float | None]]:
        """Per processor, the end-to-end quantiles of what it committed over the last
        `seconds` (over its whole life while only one scrape is known)."""
        if not self.history:
            return {}
        newest = self.history[-1][1].end_to_end
        base = self._since(seconds)
        olds = base[1].end_to_end if base is not None else {}
        out: dict[str, dict[str, float | None]] = {}
        for processor, buckets in newest.items():
            old = olds.get(processor, {})
            recent = {le: _increase(c, old.get(le)) for le, c in buckets.items()}
            if not any(recent.values()):
                recent = buckets
            out[processor] = {f"p{round(q * 100)}": quantile(q, recent) for q in QUANTILES}
        return out

    def as_json(self) -> dict[str, object]:
        """The processors' part of the dashboard's API."""
        if not self.history:
            return {"scraped_at": None, "endpoints": [], "processors": [], "dead_letters": [],
                    "throughput": {"at": [], "in_per_second": [], "out_per_second": []}}
        at, latest = self.history[-1]
        ins = self.rate("records_in", self.range_seconds)
        outs = self.rate("records_out", self.range_seconds)
        dead_rate = self.rate("dead_letters", self.range_seconds)
        latency = self.latency(self.range_seconds)
        names = sorted(set(latest.records_in) | set(latest.records_out) | set(latency)
                       | {p for p, _ in latest.dead_letters})
        processors = [{
            "processor": name,
            "records_in": latest.records_in.get(name, 0.0),
            "records_out": latest.records_out.get(name, 0.0),
            "in_per_second": ins.get(name, 0.0),
            "out_per_second": outs.get(name, 0.0),
            "end_to_end_seconds": latency.get(name, {f"p{round(q * 100)}": None
                                                     for q in QUANTILES}),
            "dead_letters": sum(v for (p, _), v in latest.dead_letters.items() if p == name),
            "refusals": sum(v for (p, _), v in latest.refusals.items() if p == name),
            "pending_deadlines": latest.pending_deadlines.get(name),
        } for name in names]
        dead = [{"processor": p, "reason": r, "count": v,
                 "per_second": dead_rate.get((p, r), 0.0)}
                for (p, r), v in sorted(latest.dead_letters.items())]
        return {"scraped_at": at, "endpoints": [e.as_json() for e in self.endpoints],
                "processors": processors, "dead_letters": dead,
                "throughput": self.throughput()}

    def throughput(self) -> dict[str, list[float | None]]:
        """Records in and out per second (all processors) between consecutive scrapes."""
        at: list[float | None] = []
        ins: list[float | None] = []
        outs: list[float | None] = []
        for (t0, a), (t1, b) in zip(list(self.history), list(self.history)[1:], strict=False):
            if t1 <= t0:
                continue
            at.append(t1)
            ins.append(_sum_increase(b.records_in, a.records_in) / (t1 - t0))
            outs.append(_sum_increase(b.records_out, a.records_out) / (t1 - t0))
        return {"at": at, "in_per_second": ins, "out_per_second": outs}


def _sum_increase(new: Mapping[str, float], old: Mapping[str, float]) -> float:
    return sum(_increase(v, old.get(k)) for k, v in new.items())

