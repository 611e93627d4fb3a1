"""One access-log tree per month: the month of a relay time, the log's name, and deletion of a
month's tree whole seven years after the month ends, never a day early."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from access_log.months import deletable_from, expired, month_of, origin


def test_the_month_of_a_relay_time_is_the_utc_month():
    assert month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    jst, est = timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))
    assert month_of(datetime(2027, 1, 1, 8, 0, tzinfo=jst)) == "2026-12"
    assert month_of(datetime(2026, 12, 31, 21, 0, tzinfo=est)) == "2027-01"
    with pytest.raises(ValueError):
        month_of(datetime(2026, 12, 1))


def test_a_month_is_kept_seven_years_after_it_ends():
    assert deletable_from("2026-12") == date(2034, 1, 1)
    assert deletable_from("2026-01") == date(2033, 2, 1)
    months = ["2026-11", "2026-12", "2027-01"]
    assert expired(months, date(2033, 12, 31)) == ["2026-11"]
    assert expired(months, date(2034, 1, 1)) == ["2026-11", "2026-12"]
    assert expired(months, date(2026, 12, 6)) == []


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-01", "2026-1", "", "2026-01 ",
                                 "2026-12\n"])
def test_a_malformed_month_is_refused(bad: str):
    with pytest.raises(ValueError):
        origin(bad)
    with pytest.raises(ValueError):
        deletable_from(bad)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31),
                    timezones=st.just(UTC)))
def test_no_entry_is_deleted_within_seven_years(at: datetime):
    month = month_of(at)
    kept_until = at.date().replace(year=at.year + 7) if not (at.month == 2 and at.day == 29) \
        else date(at.year + 7, 2, 28)
    assert deletable_from(month) > kept_until
    assert origin(month).endswith(month)
