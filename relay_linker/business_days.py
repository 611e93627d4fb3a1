"""Business days for filing deadlines: not a Saturday, Sunday, national holiday or 29 Dec–3 Jan.

National holidays come from jpholiday, a maintained calendar; the pure domain gets only dates."""

from datetime import date, timedelta

import jpholiday

ONE_DAY = timedelta(days=1)
ELECTION_DAYS = 20
"""任意継続 is applied for within 20 days, the loss date counting as day 1 (健保法37条)."""


def is_business_day(day: date) -> bool:
    """A day government offices open: the year-end holidays are 29 Dec to 3 Jan."""
    if day.weekday() >= 5 or (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3):
        return False
    return not jpholiday.is_holiday(day)


def next_business_day(day: date) -> date:
    """`day` itself when it is a business day, otherwise the first business day after it."""
    while not is_business_day(day):
        day += ONE_DAY
    return day


def election_due(lost_on: date) -> date:
    """The last day to apply for 任意継続 after a loss on `lost_on`: the 20th day counting the
    loss date as day 1 (健保法37条, 民法140条), moved to the next business day when it is not
    one (民法142条; loss 2025-04-01 → due 2025-04-21, since the 20th is a Sunday)."""
    return next_business_day(lost_on + (ELECTION_DAYS - 1) * ONE_DAY)
