"""Bad input to the 合算 is refused with a reason code naming the field, never an amount, and
nothing is ever summed twice; the period, the band and the thresholds read as DOMAIN says."""

from dataclasses import replace
from datetime import date

import pytest

from reconciliation.calculation import (
    Band,
    IncomeCategory,
    InputError,
    Month,
    Period,
    ReceiptKind,
    calculate,
    calculating_insurer,
    period_of,
)
from reconciliation.calculation.receipts import band_of
from reconciliation.calculation.thresholds import TABLE
from tests.unit.test_reconciliation_support import (
    AGED_72,
    CARE,
    CLINIC,
    OTHER_HEALTH,
    care,
    household,
    member,
    outpatient_benefit,
    receipt,
)

JAN = Month(2024, 1)


def _refused(reason: str, field: str, make) -> None:
    with pytest.raises(InputError) as caught:
        make()
    assert (caught.value.reason, caught.value.field) == (reason, field)
    assert str(caught.value) == f"{reason}: {field}"


@pytest.mark.parametrize(("value", "reason"), [
    (-1, "negative_amount"), (21_000.0, "not_whole_yen"), (True, "not_whole_yen"),
    ("21000", "not_whole_yen"), (None, "not_whole_yen")])
def test_an_amount_that_is_not_whole_non_negative_yen_is_refused(value, reason):
    _refused(reason, "copay", lambda: receipt("r1", JAN, value))
    _refused(reason, "self_pay", lambda: care(JAN, value))
    _refused(reason, "amount", lambda: outpatient_benefit(value))


def test_a_benefit_larger_than_the_copay_and_a_stray_prescriber_are_refused():
    _refused("benefit_exceeds_copay", "high_cost_benefit",
             lambda: receipt("r1", JAN, 30_000, benefit=30_001))
    _refused("prescriber_only_for_pharmacy", "prescribed_by",
             lambda: receipt("r1", JAN, 30_000, prescribed_by=CLINIC))
    _refused("prescriber_only_for_pharmacy", "prescribed_by",
             lambda: receipt("r1", JAN, 30_000, kind=ReceiptKind.PHARMACY))


@pytest.mark.parametrize(("month", "reason"), [
    (Month(2008, 3), "before_scheme"), (Month(2023, 7), "outside_period"),
    (Month(2024, 8), "outside_period")])
def test_a_service_month_outside_the_period_or_before_the_scheme_is_refused(month, reason):
    _refused(reason, "month", lambda: calculate(household(receipts=[receipt("r1", month, 1)])))
    _refused(reason, "month", lambda: calculate(household(care_pay=[care(month, 1)])))


def test_a_month_after_the_base_date_is_refused():
    dead = member(base_date=date(2024, 1, 20))
    _refused("after_base_date", "month", lambda: calculate(
        household(dead, receipts=[receipt("r1", Month(2024, 2), 50_000)])))


def test_a_receipt_given_twice_is_refused_never_summed_twice():
    twice = [receipt("r1", JAN, 400_000), receipt("r1", JAN, 400_000)]
    _refused("duplicate_receipt", "receipt_id", lambda: calculate(
        household(receipts=twice, care_pay=[care(JAN, 300_000)])))
    _refused("duplicate_care_month", "care", lambda: calculate(
        household(care_pay=[care(JAN, 1), care(JAN, 2)])))


def test_the_household_must_share_its_base_date_facts_and_know_every_member():
    _refused("base_facts_differ", "base_insurer", lambda: calculating_insurer(
        household(member("a"), member("b", insurer=OTHER_HEALTH))))
    _refused("base_facts_differ", "income_category", lambda: calculate(
        household(member("a"), member("b", category=IncomeCategory.LOW_II))))
    _refused("no_household_member", "members", lambda: calculate(
        household(member(in_household=False))))
    _refused("unknown_member", "member_key", lambda: calculate(
        household(receipts=[receipt("r1", JAN, 1, key="stranger")])))
    _refused("base_date_outside_period", "base_date", lambda: calculate(
        household(member(base_date=date(2024, 8, 1)))))


def test_an_outpatient_benefit_beyond_the_outpatient_self_pay_is_refused():
    old = member(birth=AGED_72)
    _refused("outpatient_benefit_exceeds_self_pay", "outpatient_benefits", lambda: calculate(
        household(old, receipts=[receipt("r1", JAN, 100_000)],
                  benefits=[outpatient_benefit(1)])))


def test_the_period_runs_august_to_july_and_the_first_from_april_2008():
    assert period_of(Month(2023, 8)) == period_of(Month(2024, 7)) == Period(2024)
    assert period_of(Month(2024, 8)) == Period(2025)
    assert Period(2009).first_month == period_of(Month(2008, 4)).first_month == Month(2008, 4)
    _refused("before_scheme", "period", lambda: Period(2008))
    _refused("before_scheme", "month", lambda: period_of(Month(2008, 3)))


@pytest.mark.parametrize(("birth", "last_under_70", "first_70_plus"), [
    (date(1954, 1, 15), Month(2024, 1), Month(2024, 2)),
    (date(1954, 2, 1), Month(2024, 1), Month(2024, 2)),  # born on the 1st: the birthday month
    (date(1954, 2, 2), Month(2024, 2), Month(2024, 3)),
    (date(1953, 12, 20), Month(2023, 12), Month(2024, 1)),
    (date(1952, 2, 29), Month(2022, 2), Month(2022, 3)),
])
def test_the_70_plus_band_starts_the_month_after_70_is_reached(birth, last_under_70,
                                                                first_70_plus):
    assert band_of(birth, last_under_70) is Band.UNDER_70
    assert band_of(birth, first_70_plus) is Band.SEVENTY_PLUS


def test_the_thresholds_are_domains_table():
    assert [(row.seventy_plus, row.under_70) for row in TABLE.values()] == [
        (2_120_000, 2_120_000), (1_410_000, 1_410_000), (670_000, 670_000),
        (560_000, 600_000), (310_000, 340_000), (190_000, 340_000)]


def test_meals_and_room_are_never_counted():
    plain = household(receipts=[receipt("r1", JAN, 400_000)], care_pay=[care(JAN, 300_000)])
    meals = replace(plain, receipts=(receipt("r1", JAN, 400_000, meals=90_000),))
    assert calculate(meals).shares == calculate(plain).shares
    assert calculate(meals).receipts[0].meals_and_room == 90_000


def test_one_care_user_at_low_income_i_keeps_190000_for_both_sides():
    low = member(birth=AGED_72, category=IncomeCategory.LOW_I)
    result = calculate(household(low, receipts=[receipt("r1", JAN, 100_000)],
                                 care_pay=[care(JAN, 150_000, insurer=CARE)]))
    assert result.care_run is None
    assert result.payment == 250_000 - 190_000
