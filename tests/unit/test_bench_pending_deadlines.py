"""The pending-deadlines bench's pure parts: the due-day spread, the pending rows and their
notices, the faust store filled as its recovery fills it, and the report from a fixed result;
the timings themselves are the bench's business, never asserted here."""

import json
import random
from collections import Counter
from datetime import date, timedelta

from bench.pending_deadlines import (
    BASELINE,
    DAYS,
    HEAVY_DAY,
    YEAR_START,
    _Event,
    changelog_key,
    due_dates,
    faust_table,
    key_date_of,
    markdown,
    notice,
    pending_rows,
    relay_id,
    verdict,
)
from notification_streams.rules.calendar import filing_deadline, first_day_after
from notification_streams.rules.ids import notice_id


def test_five_percent_fall_on_the_heavy_day_and_the_rest_within_the_year():
    days = due_dates(10_000, random.Random(1))
    counts = Counter(days)
    assert len(days) == 10_000
    assert counts[HEAVY_DAY] >= 500 and counts[HEAVY_DAY] < 500 + 10_000 // DAYS * 3
    assert min(days) >= YEAR_START and max(days) < YEAR_START + timedelta(days=DAYS)
    ordinary = [n for d, n in counts.items() if d != HEAVY_DAY]
    assert len(ordinary) == DAYS - 1 and max(ordinary) < 3 * 9_500 / DAYS


def test_the_spread_is_the_same_for_the_same_seed():
    assert due_dates(500, random.Random(4)) == due_dates(500, random.Random(4))


def test_a_reminder_is_due_the_day_after_its_14th_day():
    loss = date(2027, 4, 1)
    due = first_day_after(filing_deadline(loss))
    assert due == HEAVY_DAY
    assert key_date_of("nhi_enrolment_reminder", due) == loss
    assert key_date_of("national_pension_switch", due) == loss
    assert key_date_of("age_75", due) == due


def test_rows_carry_a_realistic_notice_and_unique_keys():
    rows = list(pending_rows(2_000, 5))
    assert len({(r[0], r[1], r[2]) for r in rows}) == 2_000
    assert len({changelog_key(r) for r in rows}) == 2_000
    assert all(100 <= len(r[4]) <= 200 for r in rows)
    assert all(len(r[0]) == 21 and r[0].startswith("R") for r in rows)
    relay, rule, key, _due, payload = rows[0]
    body = json.loads(payload)
    assert body["id"] == str(notice_id(relay, rule, key))
    assert relay_id(0) == relay and relay_id(1) != relay


def test_the_outbox_row_is_the_notice_marked_sent():
    row = next(pending_rows(1, 9))
    uid, topic, key, value = notice(row)
    body = json.loads(value)
    assert str(uid) == body["id"] and key == row[0].encode() and topic.endswith(".v1")
    assert body["sent_on"] == row[3].isoformat() and body["rule"] == row[1]


def test_the_faust_store_holds_what_recovery_applies_and_drops_deleted_keys():
    table = faust_table()
    rows = list(pending_rows(50, 2))
    table.apply_changelog_batch([_Event(changelog_key(r).decode(), r[4], i % 6)
                                 for i, r in enumerate(rows)])
    assert len(table.data.data) == 50
    gone = changelog_key(rows[0]).decode()
    table.apply_changelog_batch([_Event(gone, None, 0)])
    assert len(table.data.data) == 49 and gone not in table.data.data


def _phase(seconds, rows, txs, statements):
    return {"runs": 2, "wall_s": seconds * 2, "rows": rows * 2, "transactions": txs * 2,
            "rows_per_s": rows / seconds, "rows_per_run": rows, "seconds_per_run": seconds,
            "statements": statements * 2, "statements_per_row": statements / rows,
            "statements_by_kind": {"BEGIN": txs * 2, "COMMIT": txs * 2, "SELECT": txs * 2},
            "cpu_s": {"python": 1.0, "backend": 2.0, "postgres_all": 3.0},
            "cpu_us_per_row": {"python": 10.0, "backend": 20.0, "postgres_all": 30.0}}


RESULT = {
    "when": "2026-12-07 00:00:00 UTC", "machine": "x86_64, 2 cores, 24 GiB, Python 3.12.0",
    "pg_version": "15.10", "load_before": [1.0, 1.0, 1.0], "load_after": [1.5, 1.0, 1.0],
    "persons": 1_000_000, "batch": 500,
    "load": {"rows": 1_000_000, "copy_s": 4.0, "copy_rows_per_s": 250_000.0,
             "bytes": {"total": 2**28, "heap": 2**27, "indexes": 2**27, "toast": 8192,
                       "by_index": {"notification_deadlines_pkey": 2**26}},
             "payload_bytes": {"min": 146, "max": 183, "mean": 163.0},
             "raw_bytes": 2**27, "per_gib": 4_000_000.0, "raw_per_gib": 8_000_000.0,
             "per_day": {"min": 2_400, "max": 2_900, "mean": 2_603.0, "heavy": 52_600}},
    "uniform": {"processor": _phase(0.5, 2_600, 6, 30), "baseline": _phase(0.1, 2_600, 1, 3),
                "ratio_rows_per_s": 0.2, "last_day": "2027-01-07"},
    "heavy": {"processor": _phase(5.0, 52_600, 106, 530),
              "baseline": _phase(1.0, 52_600, 1, 3), "ratio_rows_per_s": 0.2},
    "rss": {"first_day": "2027-01-08", "last_day": "2027-04-14", "rows": 250_000, "batch": 500,
            "wall_s": 20.0, "cpu_s": 10.0, "rss_mib_before": 40.0, "rss_mib_after": 41.0,
            "rss_mib_max": 41.5, "rss_mib_min": 40.1},
    "faust_held": {"persons": 1_000_000, "held": 1_000_000, "rss_mib_before": 80.0,
                   "rss_mib_after": 592.0, "build_s": 30.0, "key_partition_entries": 1_000_000},
    "changelog": {"topic_partitions": 6, "records": 1_000_000, "produce_s": 40.0},
    "recovery": {"raw": {"records": 1_000_000, "wall_s": 10.0, "records_per_s": 100_000.0,
                         "cpu_s": 8.0, "rss_mib_before": 60.0, "rss_mib_after": 70.0},
                 "faust": {"records": 1_000_000, "wall_s": 15.0, "records_per_s": 66_667.0,
                           "cpu_s": 12.0, "rss_mib_before": 80.0, "rss_mib_after": 600.0},
                 "ratio_s": 1.5},
}


def test_the_report_shows_each_figure_its_baseline_and_a_choice():
    text = markdown(RESULT)
    assert text.startswith("# Pending deadlines")
    assert "| PostgreSQL table" in text and "| 4,000,000 | 8,000,000 | 2.00 |" in text
    assert "| faust memory store (worker RSS growth) | 1,000,000 in 512.0 MiB | 2,000,000 |" \
        in text
    assert "| ordinary | 2,600 | 0.50 | 5,200 | 0.10 | 26,000 | 0.20 |" in text
    assert "| 15 April | 52,600 | 5.00 |" in text
    assert BASELINE in text
    assert "RSS 40.0 MiB before, 41.0 MiB after" in text
    assert "| 1,000,000 | 15.0 | 66,667 | 12.0 | 80 → 600 |" in text
    choice = text.split("## Choice", 1)[1]
    assert "PostgreSQL table" in choice and "4.00 million deadlines on disk" in choice
    assert "512 MiB" in choice and "+1.5 MiB" in choice and "python-rocksdb" in choice
    assert choice.lstrip().startswith("The processor keeps its pending deadlines in the PostgreSQL")
    assert "5.0× the single plain statement" in choice


def test_the_choice_follows_the_figures():
    assert verdict(RESULT) == {"per_gib": True, "memory": True, "restart": True,
                               "exactly_once": True}
    grown = {**RESULT, "rss": {**RESULT["rss"], "rss_mib_max": 400.0}}
    assert verdict(grown)["memory"] is False
    assert "## Choice\n\nThe figures favour the faust table" in markdown(grown)
