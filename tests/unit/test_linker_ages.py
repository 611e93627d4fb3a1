"""Age milestones as dates: an age is reached the day before the birthday (DOMAIN §5b).

Leap-day births have their birthday on 1 March in common years."""

from datetime import date

import pytest

from relay_linker.domain.ages import (
    age_reached_on,
    birthday,
    employee_pension_until,
    first_category_care_from,
    late_stage_elderly_from,
    national_type1_from,
    national_type1_until,
)


@pytest.mark.parametrize(
    ("birth", "age", "expected"),
    [
        (date(1950, 4, 2), 75, date(2025, 4, 2)),
        (date(1950, 4, 1), 75, date(2025, 4, 1)),
        (date(2000, 2, 29), 20, date(2020, 2, 29)),
        (date(2000, 2, 29), 75, date(2075, 3, 1)),
        (date(1952, 2, 29), 73, date(2025, 3, 1)),
        (date(1999, 12, 31), 1, date(2000, 12, 31)),
    ],
)
def test_birthday(birth: date, age: int, expected: date) -> None:
    assert birthday(birth, age) == expected


def test_an_age_is_reached_the_day_before_the_birthday() -> None:
    assert age_reached_on(date(1960, 4, 1), 65) == date(2025, 3, 31)
    assert age_reached_on(date(1960, 1, 1), 65) == date(2024, 12, 31)


def test_a_leap_day_birth_reaches_its_age_on_28_february_in_common_years() -> None:
    assert age_reached_on(date(1960, 2, 29), 65) == date(2025, 2, 28)
    assert age_reached_on(date(1960, 2, 29), 64) == date(2024, 2, 28)


def test_scheme_milestones() -> None:
    birth = date(1955, 6, 15)
    assert late_stage_elderly_from(birth) == date(2030, 6, 15)
    assert first_category_care_from(birth) == date(2020, 6, 14)
    assert employee_pension_until(birth) == date(2025, 6, 14)
    assert national_type1_from(date(2005, 6, 15)) == date(2025, 6, 14)
    assert national_type1_until(date(1965, 6, 15)) == date(2025, 6, 14)


def test_scheme_milestones_of_a_leap_day_birth() -> None:
    birth = date(1952, 2, 29)
    assert late_stage_elderly_from(birth) == date(2027, 3, 1)
    assert employee_pension_until(birth) == date(2022, 2, 28)
    assert first_category_care_from(birth) == date(2017, 2, 28)
