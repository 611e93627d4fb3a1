"""When a 合算 period is closed and when its rights lapse (reconciliation.schedule)."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from reconciliation.schedule import (
    close_dates,
    closes_due,
    due_close,
    first_close,
    lapse_date,
    last_close,
    open_periods,
    retry_delay,
)


def test_a_period_is_first_closed_on_1_december_and_then_monthly_until_july_two_years_on():
    dates = close_dates(2025)
    assert dates[0] == first_close(2025) == date(2025, 12, 1)
    assert dates[-1] == last_close(2025) == date(2027, 7, 1)
    assert len(dates) == 20
    assert all(d.day == 1 for d in dates)
    assert dates == sorted(set(dates))


def test_the_right_lapses_two_years_after_the_day_after_the_base_date():
    assert lapse_date(date(2025, 7, 31)) == date(2027, 8, 1)
    assert lapse_date(date(2025, 3, 10)) == date(2027, 3, 11)  # a death in the period
    assert lapse_date(date(2023, 12, 31)) == date(2026, 1, 1)


def test_a_right_starting_on_29_february_lapses_on_1_march():
    assert lapse_date(date(2024, 2, 28)) == date(2026, 3, 1)


def test_the_last_close_comes_before_the_last_right_of_the_period_lapses():
    for period in (2010, 2024, 2025, 2028):
        assert last_close(period) < lapse_date(date(period, 7, 31))


def test_nothing_is_due_before_the_first_close():
    assert due_close(2025, date(2025, 11, 30), None) is None
    assert due_close(2025, date(2025, 12, 1), None) == date(2025, 12, 1)


def test_a_close_runs_once_per_scheduled_date_and_a_missed_one_is_made_up_once():
    assert due_close(2025, date(2025, 12, 15), date(2025, 12, 1)) is None
    assert due_close(2025, date(2026, 1, 1), date(2025, 12, 1)) == date(2026, 1, 1)
    assert due_close(2025, date(2026, 4, 20), date(2025, 12, 1)) == date(2026, 4, 1)
    assert due_close(2025, date(2030, 1, 1), date(2027, 7, 1)) is None


def test_open_periods():
    assert open_periods(date(2025, 11, 30)) == [2024]
    assert open_periods(date(2025, 12, 1)) == [2024, 2025]
    assert open_periods(date(2026, 7, 31)) == [2024, 2025]
    assert open_periods(date(2026, 8, 1)) == [2025]
    assert open_periods(date(2026, 12, 1)) == [2025, 2026]


@given(st.dates(min_value=date(2009, 8, 1), max_value=date(2098, 12, 31)))
def test_the_right_lasts_two_years_give_or_take_a_leap_day(base: date):
    days = (lapse_date(base) - base - timedelta(days=1)).days
    assert days in (730, 731)


@given(st.integers(min_value=2009, max_value=2097),
       st.dates(min_value=date(2008, 1, 1), max_value=date(2100, 12, 31)))
def test_running_the_due_close_leaves_nothing_due_that_day(period: int, today: date):
    due = due_close(period, today, None)
    if due is None:
        assert today < first_close(period)
    else:
        assert due <= today
        assert due_close(period, today, due) is None
        assert due in close_dates(period)


def test_the_closes_due_now_are_each_open_periods_due_close_oldest_first():
    assert closes_due(date(2026, 11, 30), {}) == [(2025, date(2026, 11, 1))]
    assert closes_due(date(2026, 11, 30), {2025: date(2026, 11, 1)}) == []
    assert closes_due(date(2026, 12, 1), {2025: date(2026, 11, 1)}) == [
        (2025, date(2026, 12, 1)), (2026, date(2026, 12, 1))]
    assert closes_due(date(2026, 12, 20), {2025: date(2026, 12, 1), 2026: None}) == [
        (2026, date(2026, 12, 1))]
    assert closes_due(date(2027, 8, 1), {2025: date(2027, 7, 1), 2026: date(2027, 7, 1)}) == [
        (2026, date(2027, 8, 1))]  # 2025's last right lapsed: no longer open


@given(st.dates(min_value=date(2010, 1, 1), max_value=date(2098, 12, 31)),
       st.dictionaries(st.integers(min_value=2008, max_value=2100),
                       st.none() | st.dates(min_value=date(2009, 12, 1),
                                            max_value=date(2100, 7, 1))))
def test_a_close_due_now_is_scheduled_open_and_later_than_the_last_one_run(
        today: date, last: dict[int, date | None]):
    due = closes_due(today, last)
    assert [p for p, _ in due] == sorted({p for p, _ in due})
    for period, day in due:
        assert period in open_periods(today)
        assert day in close_dates(period) and day <= today
        assert last.get(period) is None or last[period] < day
        assert closes_due(today, {**last, period: day}) == [
            d for d in due if d[0] != period]
    assert {p for p, _ in due} == {p for p in open_periods(today)
                                   if due_close(p, today, last.get(p)) is not None}


def test_a_close_that_fell_short_is_tried_again_after_a_doubling_bounded_wait():
    assert retry_delay(0, 5, 60) == 0
    assert [retry_delay(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert retry_delay(10_000, 5, 60) == 60
