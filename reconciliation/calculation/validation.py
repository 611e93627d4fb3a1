"""A household's inputs checked as a whole before anything is added: one base date, medical
insurer and income category for the household; every amount of a known member, in the period,
not after the base date; no receipt given twice. Each refusal is an InputError with a reason.

A receipt id given twice is refused rather than counted once: two copies may differ (a
correction), and which one stands is for the sender to say, never for the sum to guess."""

from collections import Counter
from collections.abc import Iterable

from reconciliation.calculation.inputs import (
    SCHEME_START,
    CareSelfPay,
    Household,
    InputError,
    Member,
    Month,
    OutpatientAnnualBenefit,
    Period,
    Receipt,
)


def checked(household: Household) -> tuple[dict[str, Member], Member]:
    """The members by key and one in-household member standing for the base-date facts."""
    if not isinstance(household, Household):
        raise InputError("not_a_household", "household")
    if not isinstance(household.period, Period):
        raise InputError("not_a_period", "period")
    members = _members(household.members)
    head = _base_facts(household.period, members)
    _all_of(household.receipts, Receipt, "receipts")
    _all_of(household.care, CareSelfPay, "care")
    _all_of(household.outpatient_benefits, OutpatientAnnualBenefit, "outpatient_benefits")
    last = Month(head.base_date.year, head.base_date.month)
    for entry in (*household.receipts, *household.care):
        _known(entry.member_key, members)
        _month_within(entry.month, household.period, last)
    for benefit in household.outpatient_benefits:
        _known(benefit.member_key, members)
    _unique((r.receipt_id for r in household.receipts), "duplicate_receipt", "receipt_id")
    _unique(((c.insurer_number, c.member_key, c.month) for c in household.care),
            "duplicate_care_month", "care")
    _unique(((b.insurer_number, b.member_key) for b in household.outpatient_benefits),
            "duplicate_outpatient_benefit", "outpatient_benefits")
    return members, head


def _members(given: object) -> dict[str, Member]:
    if not isinstance(given, tuple) or not all(isinstance(m, Member) for m in given):
        raise InputError("not_members", "members")
    _unique((m.key for m in given), "duplicate_member", "members")
    return {m.key: m for m in given}


def _base_facts(period: Period, members: dict[str, Member]) -> Member:
    inside = [m for m in members.values() if m.in_household]
    if not inside:
        raise InputError("no_household_member", "members")
    head = inside[0]
    for field in ("base_date", "base_insurer", "income_category"):
        if any(getattr(m, field) != getattr(head, field) for m in inside):
            raise InputError("base_facts_differ", field)
    if not period.first_day <= head.base_date <= period.last_day:
        raise InputError("base_date_outside_period", "base_date")
    return head


def _all_of(given: object, kind: type, field: str) -> None:
    if not isinstance(given, tuple) or not all(isinstance(x, kind) for x in given):
        raise InputError("wrong_type", field)


def _known(key: str, members: dict[str, Member]) -> None:
    if key not in members:
        raise InputError("unknown_member", "member_key")


def _month_within(month: Month, period: Period, last: Month) -> None:
    if month < Month(*SCHEME_START):
        raise InputError("before_scheme", "month")
    if month not in period:
        raise InputError("outside_period", "month")
    if month > last:
        raise InputError("after_base_date", "month")


def _unique(keys: Iterable[object], reason: str, field: str) -> None:
    if any(count > 1 for count in Counter(keys).values()):
        raise InputError(reason, field)
