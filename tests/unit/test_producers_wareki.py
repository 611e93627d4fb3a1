"""Dates in batch files: ISO and 和暦, every era boundary, 元年, and dates outside their era.

`occurred_at` without an offset is Japan time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from producers.wareki import ERAS, JST, DateProblem, parse_date, parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the last day of each era and the first day of the next one
        ("明治45年7月29日", date(1912, 7, 29)),
        ("大正元年7月30日", date(1912, 7, 30)),
        ("大正15年12月24日", date(1926, 12, 24)),
        ("昭和元年12月25日", date(1926, 12, 25)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("令和元年5月1日", date(2019, 5, 1)),
        # 元年 and year 1 are the same year
        ("令和1年5月1日", date(2019, 5, 1)),
        ("R1.5.1", date(2019, 5, 1)),
        ("H元.1.8", date(1989, 1, 8)),
        # the usual ways of writing a date
        ("令和7年4月1日", date(2025, 4, 1)),
        ("R7.4.1", date(2025, 4, 1)),
        ("R07.04.01", date(2025, 4, 1)),
        ("r7/4/1", date(2025, 4, 1)),
        ("平31.4.30", date(2019, 4, 30)),
        ("H31-4-30", date(2019, 4, 30)),
        ("S64.1.7", date(1989, 1, 7)),
        ("T15.12.24", date(1926, 12, 24)),
        ("M45.7.29", date(1912, 7, 29)),
        ("㍻31年4月30日", date(2019, 4, 30)),
        ("令和 7年 4月 1日", date(2025, 4, 1)),
        ("令和７年４月１日", date(2025, 4, 1)),
        ("2025-04-01", date(2025, 4, 1)),
        ("2025/4/1", date(2025, 4, 1)),
        ("2025.04.01", date(2025, 4, 1)),
        ("20250401", date(2025, 4, 1)),
        ("2025年4月1日", date(2025, 4, 1)),
        ("２０２５／０４／０１", date(2025, 4, 1)),
        ("明治6年1月1日", date(1873, 1, 1)),
    ],
)
def test_dates_are_read_as_filed(text: str, expected: date):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "平成31年5月1日",
        "H31.5.1",
        "昭和64年1月8日",
        "平成元年1月7日",
        "令和元年4月30日",
        "大正15年12月25日",
        "昭和元年12月24日",
        "明治45年7月30日",
        "大正元年7月29日",
        "令和0年5月1日",
    ],
)
def test_dates_outside_their_era_are_refused(text: str):
    with pytest.raises(DateProblem):
        parse_date(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-29",
        "令和7年2月29日",
        "R7.13.1",
        "2025-4",
        "4/1/2025",
        "令和七年四月一日",
        "X7.4.1",
        "",
    ],
)
def test_things_that_are_not_dates_are_refused(text: str):
    with pytest.raises(DateProblem):
        parse_date(text)


def test_meiji_dates_before_the_gregorian_calendar_are_refused_with_a_hint():
    with pytest.raises(DateProblem, match="ISO"):
        parse_date("明治5年12月2日")


def test_era_table_is_ordered_and_each_era_ends_the_day_before_the_next():
    starts = [era.start for era in ERAS]
    assert starts == sorted(starts)
    assert [e.name for e in ERAS] == ["明治", "大正", "昭和", "平成", "令和"]
    for earlier, later in pairwise(ERAS):
        last = later.start - timedelta(days=1)
        years = last.year - earlier.start.year + 1
        assert parse_date(f"{earlier.name}{years}年{last.month}月{last.day}日") == last


def test_problem_messages_do_not_repeat_the_text():
    for text in ("平成31年5月1日", "1980-02-30", "not-a-date-19800402"):
        with pytest.raises(DateProblem) as caught:
            parse_date(text)
        assert text not in str(caught.value)
        assert "1980" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-04-03T09:30:00+09:00", datetime(2025, 4, 3, 9, 30, tzinfo=JST)),
        ("2025-04-03 09:30", datetime(2025, 4, 3, 9, 30, tzinfo=JST)),
        ("2025/4/3 9:30:15", datetime(2025, 4, 3, 9, 30, 15, tzinfo=JST)),
        ("令和7年4月3日 9:30", datetime(2025, 4, 3, 9, 30, tzinfo=JST)),
        ("R7.4.3", datetime(2025, 4, 3, tzinfo=JST)),
        ("2025-04-03T00:30Z", datetime(2025, 4, 3, 0, 30, tzinfo=UTC)),
        (
            "2025-04-03T00:30:00.25-05:00",
            datetime(2025, 4, 3, 0, 30, 0, 250000, tzinfo=timezone(timedelta(hours=-5))),
        ),
    ],
)
def test_instants_without_an_offset_are_japan_time(text: str, expected: datetime):
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_a_date_only_instant_keeps_its_japanese_date():
    parsed = parse_instant("2025-04-01")
    assert parsed.astimezone(UTC).date() == date(2025, 3, 31)
    assert parsed.astimezone(JST).date() == date(2025, 4, 1)


@pytest.mark.parametrize("text", ["2025-04-03 25:00", "2025-04-03T09:30+24:00", "tomorrow"])
def test_impossible_instants_are_refused(text: str):
    with pytest.raises(DateProblem):
        parse_instant(text)


@pytest.mark.parametrize("parse", [parse_date, parse_instant])
def test_a_cell_longer_than_any_notation_is_refused_before_any_pattern_runs(parse):
    """A digit, a long run of spaces and a letter once cost the time pattern quadratic
    backtracking (a 1 MB cell would have taken hours); a cell over MAX_TEXT is refused at once,
    and the longest real notation still fits."""
    assert parse_instant("令和7年12月31日T23:59:59.999999+09:00") == datetime(
        2025, 12, 31, 23, 59, 59, 999999, tzinfo=JST)
    cell = "1" + " " * 1_000_000 + "x"
    with pytest.raises(DateProblem, match="longer than 64 characters") as refused:
        parse(cell)
    assert "1 " not in str(refused.value)
