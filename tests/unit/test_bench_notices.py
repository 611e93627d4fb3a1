"""The notice-latency bench's pure parts: the simulated calendar it files and ticks through,
each notice matched to the tick that judged it, the summary and the report from a fixed
result; the timings themselves are the bench's business, never asserted here."""

from datetime import date, datetime, timedelta

import pytest

from bench.notices import AFTER, calendar, end_of, latencies, markdown, summary
from schemas.envelope import JST
from synthetic.population import generate


def test_the_calendar_files_every_filing_once_on_its_day_and_runs_on_past_the_last():
    population = generate(3, 40, date(2025, 1, 1))
    days = calendar(population)
    filed = [i for _, ids in days for i in ids]
    assert sorted(filed) == list(range(len(population.filings)))
    assert [d for d, _ in days] == [days[0][0] + timedelta(days=n) for n in range(len(days))]
    for day, ids in days:
        assert all(population.filings[i].occurred_at.astimezone(JST).date() == day for i in ids)
    assert days[-AFTER - 1][1] and not any(ids for _, ids in days[-AFTER:])


def test_a_day_closes_with_a_tick_late_that_day_in_japan():
    tick = end_of(date(2026, 3, 31))
    assert tick.astimezone(JST).date() == date(2026, 3, 31) and tick.hour == 23


def test_each_notice_waits_from_the_tick_at_its_relay_time():
    t1, t2 = end_of(date(2026, 4, 1)), end_of(date(2026, 4, 2))
    ticks = {t1: 100.0, t2: 100.5}
    arrivals = [(t1, 100.25), (t2, 100.5125), (t2, 101.5), (end_of(date(2026, 4, 3)), 102.0)]
    waits, unknown = latencies(ticks, arrivals)
    assert waits == pytest.approx([250.0, 12.5, 1000.0]) and unknown == 1


def test_summary_uses_nearest_rank_percentiles():
    s = summary([float(n) for n in range(1, 101)])
    assert (s["count"], s["p50_ms"], s["p99_ms"], s["max_ms"]) == (100, 50.0, 99.0, 100.0)
    empty = summary([])
    assert empty["count"] == 0 and empty["p50_ms"] != empty["p50_ms"]


def _result() -> dict:
    relay = {"days": 450, "rate_days_per_s": 10.0, "ticking_s": 45.2, "filings": 1800,
             "notices_sent": 120, "inbox_copies": 150, "topic_copies": 90, "unmatched": 0,
             "by_step": {"nhi_enrolment_reminder:reminder": 60}, **summary([400.0, 800.0])}
    raw = {"sent": 90, "rate_per_s": 8.0, "lost": 0, **summary([20.0, 40.0])}
    return {"when": "2026-01-01 00:00:00 JST", "seed": 7, "persons": 400,
            "machine": "x86_64, 2 cores", "relay": relay, "raw": raw}


def test_the_report_gives_both_rows_the_ratio_and_what_it_does_not_measure():
    text = markdown(_result())
    assert "| relay: tick published → notice readable | 2 | 400 ms | 800 ms | 800 ms |" in text
    assert "| 2 | 20 ms | 40 ms | 40 ms |" in text
    assert "20.0× the raw loop's" in text
    assert "nhi_enrolment_reminder:reminder 60" in text
    assert "What it does not measure" in text and "0.10 s" in text


def test_the_report_survives_no_notices():
    r = _result()
    r["relay"].update(summary([]), by_step={})
    r["raw"].update(summary([]))
    text = markdown(r)
    assert "| 0 | – | – | – |" in text and "nan×" in text


def test_relay_times_are_compared_as_instants():
    at = datetime(2026, 4, 1, 14, 59, tzinfo=JST)
    assert latencies({at: 1.0}, [(at.astimezone(JST), 1.5)])[0] == [500.0]
