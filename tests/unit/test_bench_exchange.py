"""The exchange bench's pure helpers: nearest-rank percentiles, the held verdict, the report."""

import math

from bench.exchange import markdown, percentile, summary


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_summary_holds_only_when_all_answered_within_target():
    assert summary([10.0] * 100, 100)["held"] is True
    missing = summary([10.0] * 99, 100)
    assert missing["unanswered"] == 1 and missing["held"] is False
    assert summary([10.0] * 98 + [150.0] * 2, 100)["held"] is False
    assert summary([], 5)["held"] is False


def _step(rate, p50, p99, held):
    return {"rate": rate, "seconds": 10.0, "sent": rate * 10, "answered": rate * 10,
            "unanswered": 0, "p50_ms": p50, "p99_ms": p99, "max_ms": p99, "held": held,
            "wall_s": 10.0,
            "cpu_s": {"router": 1.0}}


def test_markdown_shows_the_figures_and_ratios():
    result = {
        "when": "now", "machine": "m", "persons": 600, "seed": 7, "rate": 200, "seconds": 20.0,
        "step_seconds": 10.0, "candidates": 42,
        "steady": {**_step(200, 40.0, 90.0, True), "seconds": 20.0, "wall_s": 20.0},
        "raw_steady": _step(200, 4.0, 9.0, True),
        "steps": [_step(50, 30.0, 60.0, True), _step(400, 80.0, 300.0, False)],
        "raw": {"50": _step(50, 3.0, 6.0, True), "400": _step(400, 5.0, 12.0, True)},
        "highest_held": 50, "raw_highest_held": 400,
        "batched": {"requests": 2, "persons": 1000, "settled_requests": 2,
                    "providers_reached": 300, "provider_replies": 300, "wall_s": 4.0,
                    "persons_per_s": 250.0, "cpu_s": {"router": 2.0}},
    }
    text = markdown(result)
    assert "| exchange | 40.0 | 90.0 |" in text
    assert "| raw request/reply | 4.0 | 9.0 |" in text
    assert "p50 ratio exchange/raw: 10.0×; p99 ratio: 10.0×" in text
    assert "| 400 | 80.0 | 300.0 | 0 | no | 5.0 | 12.0 | yes |" in text
    assert "Highest step held by the exchange: 50/s; by the raw request/reply: 400/s" in text
    assert "**250 persons/s**" in text
    assert "router 1.0 s (5% of a core)" in text
    assert "Per request sent, in CPU ms (whatever a process spent idle in the phase included): "\
        "router 0.5." in text
