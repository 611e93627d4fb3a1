"""Day counting and ids of the notification rules, with every date written by hand.

DOMAIN §6 (14 days, loss date day 1; 31 and 14 days from the day after a notice) and §5b."""

from datetime import date

import pytest

from notification_streams.rules.calendar import (
    age_on,
    day_n,
    filing_deadline,
    first_day_after,
    first_notice_deadline,
    second_notice_deadline,
)
from notification_streams.rules.ids import notice_id, recipient_notice_id
from tests.unit.test_notification_rules_support import d


@pytest.mark.parametrize(("loss", "due"), [
    ("2026-04-01", "2026-04-14"),  # DOMAIN §6: loss 4/1 → due 4/14
    ("2026-12-31", "2027-01-13"),  # over the year end
    ("2028-02-20", "2028-03-04"),  # through 29 Feb of a leap year
    ("2027-02-20", "2027-03-05"),  # a common year: no 29 Feb
    ("2028-02-29", "2028-03-13"),  # a loss on the leap day itself
    ("2026-01-31", "2026-02-13"),
])
def test_the_14th_day_counts_the_loss_date_as_day_1(loss: str, due: str) -> None:
    assert filing_deadline(d(loss)) == d(due)
    assert day_n(d(loss), 14) == d(due)


def test_day_1_is_the_start_and_day_0_does_not_exist() -> None:
    assert day_n(d("2026-04-01"), 1) == d("2026-04-01")
    with pytest.raises(ValueError):
        day_n(d("2026-04-01"), 0)


def test_the_first_day_one_knows_nothing_was_filed() -> None:
    assert first_day_after(d("2026-04-14")) == d("2026-04-15")
    assert first_day_after(d("2026-12-31")) == d("2027-01-01")


@pytest.mark.parametrize(("notice", "due"), [
    ("2026-06-02", "2026-07-03"),  # DOMAIN §6: 31 days from the day after: N + 31
    ("2026-12-31", "2027-01-31"),
    ("2027-01-31", "2027-03-03"),  # February 2027 has 28 days
    ("2028-01-31", "2028-03-02"),  # February 2028 has 29
])
def test_a_first_notice_gives_31_days_from_the_day_after_it(notice: str, due: str) -> None:
    assert first_notice_deadline(d(notice)) == d(due)


@pytest.mark.parametrize(("notice", "due"), [
    ("2026-07-04", "2026-07-18"),  # DOMAIN §6: at least 14 more days from the day after
    ("2028-02-20", "2028-03-05"),
    ("2026-12-25", "2027-01-08"),
])
def test_a_second_notice_gives_14_days_from_the_day_after_it(notice: str, due: str) -> None:
    assert second_notice_deadline(d(notice)) == d(due)


@pytest.mark.parametrize(("birth", "day", "age"), [
    ("1961-04-01", "2026-03-30", 64),
    ("1961-04-01", "2026-03-31", 65),  # §5b: an age is reached the day before the birthday
    ("1961-04-02", "2026-04-01", 65),
    ("1952-02-29", "2017-02-27", 64),
    ("1952-02-29", "2017-02-28", 65),  # 29 Feb birthday: the 1 March birthday's day before
    ("1952-02-29", "2020-02-28", 68),  # leap year: the day before 29 Feb
    ("2006-04-02", "2026-04-01", 20),
    ("2006-04-03", "2026-04-01", 19),
    ("1980-05-10", "1980-05-10", 0),
])
def test_age_on_a_day_under_japanese_law(birth: str, day: str, age: int) -> None:
    assert age_on(d(birth), d(day)) == age


def test_a_notice_id_is_the_same_for_the_same_person_rule_and_date() -> None:
    a = notice_id("r-1", "nhi_enrolment_reminder", date(2026, 4, 1))
    assert a == notice_id("r-1", "nhi_enrolment_reminder", date(2026, 4, 1))
    assert a != notice_id("r-2", "nhi_enrolment_reminder", date(2026, 4, 1))
    assert a != notice_id("r-1", "national_pension_switch", date(2026, 4, 1))
    assert a != notice_id("r-1", "nhi_enrolment_reminder", date(2026, 4, 2))


def test_each_recipient_gets_an_id_of_its_own_that_does_not_show_the_notice_id() -> None:
    notice = notice_id("r-1", "nhi_enrolment_reminder", date(2026, 4, 1))
    person = recipient_notice_id(notice, "person")
    town = recipient_notice_id(notice, "municipality:131016")
    assert len({notice, person, town}) == 3
    assert person == recipient_notice_id(notice, "person")
    assert notice.hex not in person.hex + town.hex
