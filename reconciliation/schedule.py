"""When a 合算 period is closed on the relay clock, and when a person's right to its benefit
lapses (DOMAIN §6): plain functions over dates, importing only the standard library.

The first close of period Y (1 August Y−1 to 31 July Y) is on 1 December Y: care receipts come
two to three months after the service and medical ones one to two, so July's are in by the end
of October, and a month is left for corrections. The period is closed again on the 1st of every
month after, so a late or corrected receipt at any insurer is settled by the next month's close,
for as long as a right of the period can still be claimed: the last right (base date 31 July Y)
lapses on 1 August Y+2, so the last close is on 1 July Y+2. A close missed while nothing ran is
made up once, on the first day the clock is read again; the days in between add nothing that
the one close does not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

FIRST_CLOSE_MONTH = 12
"""The month of period Y's first close, in year Y."""


def first_close(period: int) -> date:
    """Period `period`'s first close: 1 December of its year."""
    return date(period, FIRST_CLOSE_MONTH, 1)


def last_close(period: int) -> date:
    """Period `period`'s last close: the 1st of the month in which its last right lapses."""
    return date(period + 2, 7, 1)


def lapse_date(base_date: date) -> date:
    """The first day on which the right to the benefit no longer exists: two years after the
    day after the base date (the day the right can first be used). A right that starts on
    29 February lapses on 1 March when the second year has no 29 February (民法143条2項: the
    period ends on the last day of that month)."""
    start = base_date + timedelta(days=1)
    try:
        return start.replace(year=start.year + 2)
    except ValueError:  # 29 February with no 29 February two years on
        return date(start.year + 2, 3, 1)


def close_dates(period: int) -> list[date]:
    """Every scheduled close of `period`, first to last."""
    first, last = first_close(period), last_close(period)
    found, year, month = [], first.year, first.month
    while (day := date(year, month, 1)) <= last:
        found.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def open_periods(today: date) -> list[int]:
    """The periods that have a scheduled close on or before `today` and a later right still
    claimable: at most three at once."""
    return [p for p in range(today.year - 2, today.year + 1)
            if first_close(p) <= today and today < lapse_date(date(p, 7, 31))]


def due_close(period: int, today: date, last_closed: date | None) -> date | None:
    """The scheduled close of `period` to run now: the latest one on or before `today`, if no
    close ran on or after it (`last_closed`, the scheduled date of the last close run); None
    when nothing is due."""
    due = [d for d in close_dates(period) if d <= today]
    if not due or (last_closed is not None and last_closed >= due[-1]):
        return None
    return due[-1]


def closes_due(today: date, last_closed: Mapping[int, date | None]) -> list[tuple[int, date]]:
    """The scheduled closes to run now, (period, scheduled date), oldest period first: for each
    open period the close `due_close` names, given the scheduled date of its last close that
    finished (`last_closed`, absent or None for none)."""
    found = []
    for period in open_periods(today):
        due = due_close(period, today, last_closed.get(period))
        if due is not None:
            found.append((period, due))
    return found


def retry_delay(failures: int, poll: float, cap: float) -> float:
    """Seconds to wait before a close that fell short (no reply in time, a close already
    running) is tried again after `failures` such attempts in a row: the poll interval,
    doubled each time, never more than `cap`."""
    if failures <= 0:
        return 0.0
    return min(cap, poll * 2.0 ** min(failures - 1, 32))
