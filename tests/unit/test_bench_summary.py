"""The report of every flow's bench: figures read off each flow's result, set against their
targets and same-run baselines, the Markdown table, and the README block the bench rewrites.
The figures here are fixed inputs; the timings themselves are never asserted."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import summary
from bench.summary import (
    BEGIN,
    END,
    FAILED,
    MET,
    MISSED,
    NO_TARGET,
    NOT_MEASURED,
    Row,
    number,
    replace_block,
    rows,
    table,
)

LINKER = {"baseline": {"consume_write_events_per_s": 1000.0},
          "sustained": {"events_per_s": 250.0}, "latency": {"rate": 1000, "p99_ms": 80.0}}
EXCHANGE = {"rate": 20, "steady": {"p50_ms": 40.0, "p99_ms": 400.0},
            "raw_steady": {"p50_ms": 2.0, "p99_ms": 8.0}, "steps": [{}, {}],
            "highest_held": None, "raw_highest_held": 20, "batched": {"persons_per_s": 75.0}}
ACCESS_LOG = {
    "appends": [{"batch": 1, "log": {"items_per_s": 500.0}, "plain": {"items_per_s": 2000.0}}],
    "proofs": {"size": 20000, "first_root_s": 0.5, "raw_hashes_s": 0.05,
               "inclusion": {"verify_us": {"p50": 30.0}, "raw_hashes_us": {"p50": 10.0}}},
    "relayed": [{"persons": 50, "with_log": {"transactions": 100, "wall_s": 4.0},
                 "without_log": {"transactions": 100, "wall_s": 2.0}}]}
NOTICES = {"relay": {"p50_ms": 200.0, "p99_ms": float("nan")},
           "raw": {"p50_ms": 5.0, "p99_ms": 20.0}}
RECONCILIATION = {"runs": [{"persons": 40}, {"persons": 120, "wall_s": 30.0,
                                             "raw": {"best_s": 0.01}}],
                  "projection": {"wall_s": 1200.0, "raw_s": 3.0,
                                 "peak_rss_mib": {"close": 900.0, "router": 3000.0}}}
SIGNATURES = {"signatures": {"verify_then_decode_us": 300.0, "decode_only_us": 200.0}}
RESULTS = {"linker": LINKER, "exchange": EXCHANGE, "access_log": ACCESS_LOG,
           "notices": NOTICES, "reconciliation": RECONCILIATION, "signatures": SIGNATURES}


def _row(figures, flow, start):
    return next(r for r in figures if r.flow == flow and r.figure.startswith(start))


def test_each_flow_gives_its_figures_against_the_baseline_of_its_own_run():
    figures = rows(RESULTS, {})
    sustained = _row(figures, "linker", "sustained filings/s")
    assert (sustained.value, sustained.baseline, sustained.ratio) == (250.0, 1000.0, 0.25)
    assert (sustained.target, sustained.verdict) == (5000, MISSED)
    assert _row(figures, "linker", "sustained ÷").value == 0.25
    p99 = _row(figures, "linker", "p99")
    assert (p99.verdict, p99.baseline, p99.ratio) == (MET, None, None)
    assert _row(figures, "exchange", "round trip p99").ratio == 50.0
    held = _row(figures, "exchange", "highest rate step")
    assert (held.value, held.baseline, held.ratio) == (0.0, 20.0, 0.0)
    relayed = _row(figures, "access log", "relayed query")
    assert (relayed.value, relayed.baseline, relayed.ratio) == (25.0, 50.0, 0.5)
    assert _row(figures, "access log", "inclusion").ratio == 3.0
    rss = _row(figures, "reconciliation", "largest peak RSS")
    assert (rss.value, rss.verdict) == (3000.0, MISSED)
    assert _row(figures, "reconciliation", "close extrapolated").ratio == 400.0
    assert _row(figures, "signatures", "linker decode").ratio == 1.5


def test_a_figure_without_a_stated_target_is_not_judged_and_nan_is_not_measured():
    figures = rows(RESULTS, {})
    p50, p99 = (_row(figures, "notices", f"tick → notice readable, {q}") for q in ("p50", "p99"))
    assert (p50.verdict, p50.ratio) == (NO_TARGET, 40.0)
    assert (p99.value, p99.verdict, p99.ratio) == (None, NOT_MEASURED, None)


def test_an_extrapolation_below_zero_is_not_measured_never_a_target_met():
    noisy = {**RECONCILIATION, "projection": {"wall_s": -36000.0, "raw_s": 3.0,
                                              "peak_rss_mib": {"close": -5.0}}}
    figures = rows({"reconciliation": noisy}, {})
    for start in ("close extrapolated", "largest peak RSS"):
        row = _row(figures, "reconciliation", start)
        assert (row.value, row.verdict, row.ratio) == (None, NOT_MEASURED, None)


def test_a_failed_flow_is_one_failed_row_and_the_others_still_report():
    figures = rows({"linker": LINKER}, {"exchange": "RuntimeError: no candidates"})
    failed = [r for r in figures if r.verdict == FAILED]
    assert [(r.flow, r.failed) for r in failed] == [("exchange", "RuntimeError: no candidates")]
    assert {r.flow for r in figures} == {"linker", "exchange"}
    assert "failed: RuntimeError: no candidates" in table(figures)


def test_the_flows_come_in_a_fixed_order_whatever_order_they_finished_in():
    flows = [r.flow for r in rows(dict(reversed(RESULTS.items())), {})]
    assert list(dict.fromkeys(flows)) == ["linker", "signatures", "exchange", "access log",
                                          "notices", "reconciliation"]


def test_the_table_has_one_line_per_figure_with_every_column():
    figures = rows(RESULTS, {})
    lines = table(figures).splitlines()
    assert lines[0] == "| flow | figure | value | target | baseline | ratio | verdict |"
    assert len(lines) == len(figures) + 2
    assert all(line.count(" | ") == 6 for line in lines[2:])
    linker_line = next(line for line in lines if "sustained filings/s" in line)
    assert "| 250/s | ≥ 5,000/s | 1,000/s | 0.25× | missed |" in linker_line


def test_the_json_form_holds_value_target_baseline_ratio_and_verdict():
    doc = [r.as_json() for r in rows(RESULTS, {"notices": "boom"})]
    text = json.dumps(doc, allow_nan=False)  # no NaN reaches the report
    back = json.loads(text)
    assert {"value", "unit", "target", "baseline", "ratio_to_baseline", "verdict"} <= set(back[0])


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
junk = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
keys = st.sampled_from(["baseline", "sustained", "latency", "steady", "raw_steady", "steps",
                        "appends", "proofs", "relayed", "relay", "raw", "runs", "projection",
                        "rate", "highest_held", "batched", "signatures", "p50_ms", "wall_s"])
results = st.dictionaries(keys, junk, max_size=8)


@given(st.dictionaries(st.sampled_from(list(summary.FLOWS)), results | junk),
       st.dictionaries(st.sampled_from(list(summary.FLOWS)), st.text(max_size=40)))
def test_any_shape_of_result_gives_rows_a_one_line_per_row_table_and_plain_json(found, errors):
    figures = rows(found, errors)
    for r in figures:
        assert r.value is None or math.isfinite(r.value)
        assert r.verdict in (MET, MISSED, NO_TARGET, NOT_MEASURED, FAILED)
    assert len(table(figures).splitlines()) == len(figures) + 2
    json.dumps([r.as_json() for r in figures], allow_nan=False)


@given(st.text(), st.text(), finite, finite | st.none())
def test_cells_never_break_the_table(flow, figure, value, target):
    line = table([Row(flow, figure, value, "ms", target=target)]).splitlines()[2:]
    assert len(line) == 1
    unescaped = line[0].replace("\\\\", "").replace("\\|", "")
    assert unescaped.count("|") == 8


@given(junk, st.text(), st.text())
def test_number_is_a_finite_float_or_none(value, a, b):
    got = number({a: {b: value}}, a, b)
    assert got is None or (isinstance(got, float) and math.isfinite(got))


def test_the_verdict_reads_the_better_direction():
    assert Row("f", "x", 90.0, "ms", summary.LOWER, 100.0).verdict == MET
    assert Row("f", "x", 110.0, "ms", summary.LOWER, 100.0).verdict == MISSED
    assert Row("f", "x", 100.0, "/s", summary.HIGHER, 100.0).verdict == MET
    assert Row("f", "x", 1.0, "/s", baseline=0.0).ratio is None


outside = st.text().filter(lambda s: BEGIN not in s and END not in s)


@given(outside, outside, outside, outside)
def test_only_the_block_between_the_markers_is_replaced(head, old, tail, new):
    text = f"{head}{BEGIN}{old}{END}{tail}"
    done = replace_block(text, new)
    assert done == f"{head}{BEGIN}\n{new.strip()}\n{END}{tail}"
    assert replace_block(done, new) == done


@given(outside)
def test_text_without_both_markers_or_with_them_reversed_is_refused(text):
    for bad in (text, f"{text}{BEGIN}", f"{END}{text}{BEGIN}", f"{BEGIN}{BEGIN}{END}{text}"):
        with pytest.raises(ValueError):
            replace_block(bad, "table")


def test_a_block_holding_a_marker_is_refused():
    with pytest.raises(ValueError):
        replace_block(f"a{BEGIN}b{END}c", f"x{END}y")


def test_the_report_says_whether_the_run_was_quick_and_at_which_sizes():
    run = {"date": "2026-12-07", "when": "2026-12-07 18:49:26 UTC", "quick": True,
           "machine": "x86_64, 2 cores", "load": "3.0 before, 4.0 after", "seconds": 300.0,
           "sizes": {"persons": 150, "exchange_steps": "10,20"}, "flow_seconds": {"linker": 50},
           "flow_reports": "bench/reports/quick/"}
    figures = rows(RESULTS, {})
    text = summary.report(run, figures)
    assert text.startswith("# Benchmarks of 2026-12-07")
    assert "Quick run of 2026-12-07 18:49:26 UTC" in text and "persons 150" in text
    assert table(figures) in text
    assert "- linker: sustained filings/s over a backlog against raw aiokafka consume" in text
    block = summary.readme_block(run, figures, "bench/reports/2026-12-07.md")
    assert BEGIN not in block and "(bench/reports/2026-12-07.md)" in block


def test_the_quick_sizes_are_no_larger_than_the_full_run_s_and_every_flow_runs_in_both():
    from dataclasses import asdict

    from bench.suite import FLOWS, full, quick

    small, big = asdict(quick(7)), asdict(full(2400, 7))
    assert small.pop("days_per_s") >= big.pop("days_per_s")  # a faster calendar is a shorter run
    for name, value in small.items():
        most = max(value) if isinstance(value, tuple) else value
        assert most <= (max(big[name]) if isinstance(big[name], tuple) else big[name]), name
    assert [name for name, _, _ in FLOWS] == list(summary.FLOWS)
    assert quick(7).reconciliation_small < quick(7).reconciliation_persons
