"""Day counting for the notices: the n-th day with the start as day 1, the double-enrolment
deadlines counted from the day after a notice, and age on a day under Japanese law."""

from datetime import date, timedelta

from relay_linker.domain.ages import age_reached_on

FILING_DAYS = 14
"""DOMAIN §6: NHI and National Pension filings are due within 14 days, the loss date day 1."""
FIRST_NOTICE_DAYS = 31
"""DOMAIN §6: a double-enrolment notice gives at least 31 days from the day after it."""
SECOND_NOTICE_DAYS = 14
"""DOMAIN §6: the second notice gives at least 14 more days from the day after it."""


def day_n(start: date, n: int) -> date:
    """The n-th day counting `start` as day 1 (民法140条 as the filing rules apply it):
    day_n(4/1, 14) = 4/14."""
    if n < 1:
        raise ValueError("days are counted from 1")
    return start + timedelta(days=n - 1)


def filing_deadline(loss_date: date) -> date:
    """The 14th day counting the loss date as day 1 (loss 4/1 → 4/14)."""
    return day_n(loss_date, FILING_DAYS)


def first_day_after(deadline: date) -> date:
    """The first day on which one knows nothing was done by `deadline`."""
    return deadline + timedelta(days=1)


def first_notice_deadline(notice_day: date) -> date:
    """At least 31 days counted from the day after the notice: notice on N → N + 31."""
    return day_n(notice_day + timedelta(days=1), FIRST_NOTICE_DAYS)


def second_notice_deadline(notice_day: date) -> date:
    """At least 14 more days counted from the day after the second notice: N → N + 14."""
    return day_n(notice_day + timedelta(days=1), SECOND_NOTICE_DAYS)


def age_on(birth: date, day: date) -> int:
    """The age the law counts on `day`: an age is reached the day before the birthday (年齢計算
    ニ関スル法律), a 29 February birthday on 28 February (ages.age_reached_on)."""
    age = day.year - birth.year
    while age > 0 and age_reached_on(birth, age) > day:
        age -= 1
    while age_reached_on(birth, age + 1) <= day:
        age += 1
    return age
