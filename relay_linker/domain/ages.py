"""Age milestones of Japanese social insurance (DOMAIN §5b) as pure date arithmetic.

An age is reached the day before the birthday; a 29 February birthday is 1 March in common years."""

from datetime import date, timedelta

ONE_DAY = timedelta(days=1)


def birthday(birth: date, age: int) -> date:
    """The date of the `age`-th birthday."""
    year = birth.year + age
    try:
        return birth.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def age_reached_on(birth: date, age: int) -> date:
    """The day the law counts the age as reached: the day before the birthday."""
    return birthday(birth, age) - ONE_DAY


def late_stage_elderly_from(birth: date) -> date:
    """The 75+ scheme covers from the 75th birthday itself; other medical cover ends that day."""
    return birthday(birth, 75)


def first_category_care_from(birth: date) -> date:
    """First-category long-term-care insured from the day before the 65th birthday."""
    return age_reached_on(birth, 65)


def employee_pension_until(birth: date) -> date:
    """Employee pension is lost the day before the 70th birthday."""
    return age_reached_on(birth, 70)


def national_type1_from(birth: date) -> date:
    """National Pension type-1 obligation starts when age 20 is reached."""
    return age_reached_on(birth, 20)


def national_type1_until(birth: date) -> date:
    """National Pension type-1 obligation ends when age 60 is reached."""
    return age_reached_on(birth, 60)


def elderly_copay_from(birth: date) -> date:
    """The 70–74 copay band (高齢受給者) starts on the first day of the month after the month in
    which 70 is reached: for someone born on the 1st, the first day of the birthday month."""
    reached = age_reached_on(birth, 70)
    if reached.month == 12:
        return date(reached.year + 1, 1, 1)
    return date(reached.year, reached.month + 1, 1)


def second_category_care_from(birth: date) -> date:
    """Second-category long-term-care insured (第2号被保険者) from when age 40 is reached, while
    covered by a medical insurer, until first-category cover starts (介護保険法9条2号)."""
    return age_reached_on(birth, 40)
