"""The figures of every flow's bench, read off the results its run returned, set against their
targets and the raw baselines measured in the same run: rows, verdicts and the Markdown table.

Pure: no I/O. A target is given only where the project states one; a figure without a target
says so instead of being judged, and one without a same-run baseline shows none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.exchange import P99_TARGET_MS
from bench.linker import TARGETS as LINKER_TARGETS
from bench.reconciliation import TARGET_PERSONS, TARGET_RSS_MIB, TARGET_WALL_S

HIGHER, LOWER = "higher", "lower"
MET, MISSED, NO_TARGET, NOT_MEASURED, FAILED = (
    "met", "missed", "no target", "not measured", "failed")
BEGIN, END = "<!-- bench:latest -->", "<!-- /bench:latest -->"
HEADER = ("| flow | figure | value | target | baseline | ratio | verdict |\n"
          "|---|---|---:|---:|---:|---:|---|")


@dataclass(frozen=True)
class Row:
    """One figure of one flow; `ratio` is value ÷ baseline, whichever way is better."""

    flow: str
    figure: str
    value: float | None
    unit: str
    better: str = HIGHER
    target: float | None = None
    baseline: float | None = None
    baseline_is: str = ""
    failed: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.failed:
            return FAILED
        if self.value is None:
            return NOT_MEASURED
        if self.target is None:
            return NO_TARGET
        good = self.value >= self.target if self.better == HIGHER else self.value <= self.target
        return MET if good else MISSED

    def as_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "figure": self.figure, "value": self.value,
                "unit": self.unit, "better": self.better, "target": self.target,
                "baseline": self.baseline, "baseline_is": self.baseline_is or None,
                "ratio_to_baseline": self.ratio, "verdict": self.verdict,
                "error": self.failed or None}


def _at(result: Any, *path: str) -> Any:
    """What stands at `path` in nested mappings, or None."""
    here = result
    for step in path:
        if not isinstance(here, Mapping):
            return None
        here = here.get(step)
    return here


def number(result: Any, *path: str) -> float | None:
    """The finite number at `path` in a run's result, or None when it is missing or not one."""
    here = _at(result, *path)
    if isinstance(here, bool) or not isinstance(here, int | float):
        return None
    return float(here) if math.isfinite(here) else None


def _items(result: Any, key: str) -> list[Any]:
    found = _at(result, key)
    return found if isinstance(found, list) else []


def linker(r: Any) -> list[Row]:
    rate = number(r, "latency", "rate")
    raw = number(r, "baseline", "consume_write_events_per_s")
    sustained = number(r, "sustained", "events_per_s")
    return [
        Row("linker", "sustained filings/s over a backlog", sustained, "/s", HIGHER,
            LINKER_TARGETS["events_per_s"], raw, "raw aiokafka consume + asyncpg batch write"),
        Row("linker", "sustained ÷ raw consume + write", None if sustained is None or not raw
            else sustained / raw, "×", HIGHER, LINKER_TARGETS["baseline_ratio"]),
        Row("linker", f"p99 publish → outcome at {rate or 0:,.0f}/s",
            number(r, "latency", "p99_ms"), "ms", LOWER, LINKER_TARGETS["p99_ms"]),
    ]


def signatures(r: Any) -> list[Row]:
    return [Row("signatures", "linker decode with signature checks, per filing",
                number(r, "signatures", "verify_then_decode_us"), "µs", LOWER, None,
                number(r, "signatures", "decode_only_us"), "the same decode without them")]


def exchange(r: Any) -> list[Row]:
    rate, raw = number(r, "rate") or 0, "raw request/reply over the same broker"
    stepped = isinstance(_at(r, "steps"), list)  # none held is 0/s, not unmeasured
    held = number(r, "highest_held") or 0.0 if stepped else None
    raw_held = number(r, "raw_highest_held") or 0.0 if stepped else None
    return [
        Row("exchange", f"round trip p99 at {rate:,.0f}/s", number(r, "steady", "p99_ms"), "ms",
            LOWER, P99_TARGET_MS, number(r, "raw_steady", "p99_ms"), raw),
        Row("exchange", f"round trip p50 at {rate:,.0f}/s", number(r, "steady", "p50_ms"), "ms",
            LOWER, None, number(r, "raw_steady", "p50_ms"), raw),
        Row("exchange", f"highest rate step held (p99 ≤ {P99_TARGET_MS:.0f} ms)",
            held, "/s", HIGHER, None, raw_held, raw),
        Row("exchange", "persons/s through batched requests",
            number(r, "batched", "persons_per_s"), "/s"),
    ]


def access_log(r: Any) -> list[Row]:
    rows = [Row("access log", f"appends/s in batches of {number(a, 'batch') or 0:,.0f}",
                number(a, "log", "items_per_s"), "/s", HIGHER, None,
                number(a, "plain", "items_per_s"), "plain rows of the leaf's size")
            for a in _items(r, "appends")]
    size = number(r, "proofs", "size") or 0
    rows += [
        Row("access log", f"inclusion proof verified at {size:,.0f} entries, p50",
            number(r, "proofs", "inclusion", "verify_us", "p50"), "µs", LOWER, None,
            number(r, "proofs", "inclusion", "raw_hashes_us", "p50"),
            "the same hashes with hashlib"),
        Row("access log", f"first root of {size:,.0f} entries",
            number(r, "proofs", "first_root_s"), "s", LOWER, None,
            number(r, "proofs", "raw_hashes_s"), "as many raw SHA-256 calls"),
    ]
    for q in _items(r, "relayed"):
        tx = [(number(q, side, "transactions"), number(q, side, "wall_s"))
              for side in ("with_log", "without_log")]
        with_log, without = (n / s if n is not None and s else None for n, s in tx)
        rows.append(Row("access log", f"relayed query tx/s, {number(q, 'persons') or 0:,.0f} "
                        "person(s) per request", with_log, "/s", HIGHER, None, without,
                        "the same transaction without the log"))
    return rows


def notices(r: Any) -> list[Row]:
    raw = "raw consume, transaction, transactional produce"
    return [Row("notices", f"tick → notice readable, {q}", number(r, "relay", f"{q}_ms"), "ms",
                LOWER, None, number(r, "raw", f"{q}_ms"), raw) for q in ("p50", "p99")]


def _extrapolated(value: float | None) -> float | None:
    """A time or size drawn on the line through two runs; at or below zero it says only that
    the two were too small or too noisy to draw a line through, so it is no figure."""
    return value if value is not None and value > 0 else None


def reconciliation(r: Any) -> list[Row]:
    runs = _items(r, "runs")
    last = runs[-1] if runs else {}
    rss = _at(r, "projection", "peak_rss_mib")
    values = [number(rss, k) for k in rss] if isinstance(rss, Mapping) else []
    largest = _extrapolated(max((v for v in values if v is not None), default=None))
    raw = "one SELECT of the same receipts"
    return [
        Row("reconciliation", f"close at {number(last, 'persons') or 0:,.0f} persons",
            number(last, "wall_s"), "s", LOWER, None, number(last, "raw", "best_s"), raw),
        Row("reconciliation", f"close extrapolated to {TARGET_PERSONS:,} persons",
            _extrapolated(number(r, "projection", "wall_s")), "s", LOWER, TARGET_WALL_S,
            _extrapolated(number(r, "projection", "raw_s")), raw + ", extrapolated"),
        Row("reconciliation", f"largest peak RSS extrapolated to {TARGET_PERSONS:,}",
            largest, "MiB", LOWER, TARGET_RSS_MIB),
    ]


FLOWS: dict[str, Callable[[Any], list[Row]]] = {
    "linker": linker, "signatures": signatures, "exchange": exchange,
    "access_log": access_log, "notices": notices, "reconciliation": reconciliation}


def rows(results: Mapping[str, Any], errors: Mapping[str, str]) -> list[Row]:
    """Every figure of the flows that ran, in FLOWS' order; a failed flow gives one row."""
    out: list[Row] = []
    for flow, figures in FLOWS.items():
        if flow in errors:
            out.append(Row(flow.replace("_", " "), "the flow's run", None, "",
                           failed=errors[flow] or "failed"))
        elif flow in results:
            out += figures(results[flow])
    return out


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell: one line, no column separator."""
    return re.sub(r"\s+", " ", text.replace("\\", "\\\\").replace("|", "\\|")).strip()


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}" if size >= 0.01 else f"{value:.2g}"


def _unit(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{_num(value)}{unit}" if unit in ("×", "/s") else f"{_num(value)} {unit}".strip()


def _target(row: Row) -> str:
    if row.target is None:
        return "—"
    return ("≥ " if row.better == HIGHER else "≤ ") + _unit(row.target, row.unit)


def _verdict(row: Row) -> str:
    return f"failed: {_cell(row.failed)}" if row.failed else row.verdict


def table(figures: list[Row]) -> str:
    """flow | figure | value | target | baseline | ratio | verdict, one line per figure."""
    lines = [HEADER]
    for row in figures:
        ratio = row.ratio
        lines.append(f"| {_cell(row.flow)} | {_cell(row.figure)} | {_unit(row.value, row.unit)}"
                     f" | {_target(row)} | {_unit(row.baseline, row.unit)} | "
                     f"{'—' if ratio is None else _num(ratio) + '×'} | {_verdict(row)} |")
    return "\n".join(lines)


def baselines(figures: list[Row]) -> list[str]:
    """What each figure's baseline is, once per (flow, baseline)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for row in figures:
        if row.baseline_is:
            seen.setdefault((row.flow, row.baseline_is), []).append(row.figure)
    return [f"- {_cell(flow)}: {_cell(', '.join(names))} against {_cell(what)}"
            for (flow, what), names in seen.items()]


def replace_block(text: str, block: str) -> str:
    """`text` with what stands between BEGIN and END replaced by `block`; everything outside
    the markers unchanged. ValueError when the markers are missing, out of order or repeated,
    or when `block` holds a marker itself."""
    if BEGIN in block or END in block:
        raise ValueError("the block holds a marker")
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"expected one {BEGIN} and one {END}")
    head, _, rest = text.partition(BEGIN)
    if END not in rest:
        raise ValueError(f"{END} comes before {BEGIN}")
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{block.strip()}\n{END}{tail}"


def _sizes(sizes: Mapping[str, Any]) -> str:
    return ", ".join(f"{_cell(str(k))} {_cell(str(v))}" for k, v in sizes.items())


def heading(run: Mapping[str, Any]) -> str:
    """One paragraph: when, where, how big, and whether it was the quick run."""
    kind = "Quick run" if run.get("quick") else "Full run"
    return (f"{kind} of {_cell(str(run.get('when', '?')))} on {_cell(str(run.get('machine', '?')))}"
            f", load average {_cell(str(run.get('load', '?')))}, "
            f"{_num(number(run, 'seconds'))} s in all. Sizes: {_sizes(run.get('sizes', {}))}.")


def report(run: Mapping[str, Any], figures: list[Row]) -> str:
    """The dated report: the run, the table, what each baseline is, how to read it."""
    timing = ", ".join(f"{_cell(str(k))} {_num(v)} s" for k, v in run.get("flow_seconds",
                                                                          {}).items())
    return "\n".join([
        f"# Benchmarks of {_cell(str(run.get('date', '?')))}", "", heading(run), "",
        f"Each flow's own report: `{_cell(str(run.get('flow_reports', '?')))}`. "
        f"Seconds per flow: {timing or '—'}.", "",
        table(figures), "",
        "Ratio is value ÷ baseline (for a time, above 1 is slower than the baseline). A "
        "target is shown where the project states one; \"no target\" where it states none. "
        "Baselines, each measured in the same run as the figure it is set against:", "",
        *baselines(figures), "",
    ])


def readme_block(run: Mapping[str, Any], figures: list[Row], report_path: str) -> str:
    """What the README shows between its markers: the run, the table, the full report's path."""
    return "\n".join([heading(run) + f" Report: [`{_cell(report_path)}`]({_cell(report_path)}).",
                      "", table(figures)])
