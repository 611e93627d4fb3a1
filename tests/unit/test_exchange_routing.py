"""The router's decision about one person, as a pure function: unknown number, not the asker's
member on the reference date, the purpose policy, a suspect link, nobody else covering, and
who is reached under which number when forwarded."""

from __future__ import annotations

from datetime import date

import pytest

from relay_exchange.policy import parse_policy
from relay_exchange.routing import Ask, Link, Person, decide_entry, rate_allows
from schemas.exchange_terms import DataCategory, ExchangeScheme, ForwardRefusal, Purpose

POLICY = parse_policy(
    "# purpose policy version 2026-12-01\n"
    "row,role,scheme,category,purpose,span,max_days,disclosure_delay_days,law,article,paragraph,"
    "item,note\n"
    "P91,medical_insurer,medical,qualification,eligibility_confirmation,as_of,1,0,"
    "健康保険法,第3条,第1項,,test\n"
    "P92,care_insurer,medical,self_pay_amounts,combined_high_cost,period,366,0,"
    "介護保険法施行令,第22条の3,第1項,,test\n")
A, B, C = "06130012", "01130012", "131011"
MINE = ("insured:06130012", b"a-index")


def _link(insurer: str, start: date, end: date | None, scheme: str = "medical",
          number: tuple[str, bytes] | None = None, retracted: bool = False) -> Link:
    kind, index = number or (f"insured:{insurer}", insurer.encode())
    return Link(scheme, insurer, kind, index, b"sealed-" + insurer.encode(), start, end,
                retracted)


def _ask(as_of: date | None = date(2025, 6, 1), period=None, purpose=Purpose.
         ELIGIBILITY_CONFIRMATION, category=DataCategory.QUALIFICATION,
         scheme=ExchangeScheme.MEDICAL, asker: str = A) -> Ask:
    return Ask(asker, scheme, category, purpose, as_of, period)


PERSON = Person((
    _link(A, date(2025, 4, 1), None, number=MINE),
    _link(B, date(2020, 4, 1), date(2024, 4, 1)),
    _link(C, date(2024, 4, 1), date(2025, 4, 1)),
    _link(C, date(2025, 5, 1), date(2025, 7, 1)),
))


def test_an_unknown_number_is_refused():
    assert decide_entry(_ask(), MINE, None, POLICY).refusal is ForwardRefusal.UNKNOWN_NUMBER


def test_a_basic_pension_number_tells_no_asker_whether_it_exists():
    """The kind is not scoped to the asker: known or unknown, an insurer that does not cover
    the person under it hears the same refusal."""
    pension = ("basic_pension_number", b"pension-index")
    known = Person((_link("JPS", date(2000, 4, 1), None, scheme="pension", number=pension),
                    _link(A, date(2025, 4, 1), None, number=MINE)))
    assert decide_entry(_ask(), pension, known, POLICY).refusal is ForwardRefusal.NOT_MEMBER
    assert decide_entry(_ask(), pension, None, POLICY).refusal is ForwardRefusal.NOT_MEMBER
    assert decide_entry(_ask(asker="JPS"), pension, None,
                        POLICY).refusal is ForwardRefusal.NOT_MEMBER


@pytest.mark.parametrize("as_of", [date(2025, 3, 31), date(2019, 1, 1)])
def test_someone_the_asker_did_not_cover_on_the_date_is_not_its_member(as_of):
    assert decide_entry(_ask(as_of), MINE, PERSON, POLICY).refusal is ForwardRefusal.NOT_MEMBER


def test_the_askers_number_must_be_the_one_it_covers_the_person_under():
    other = ("insured:06130012", b"someone-else")
    assert decide_entry(_ask(), other, PERSON, POLICY).refusal is ForwardRefusal.NOT_MEMBER


def test_a_retracted_cover_makes_no_member():
    person = Person((_link(A, date(2025, 4, 1), None, number=MINE, retracted=True),
                     _link(C, date(2025, 5, 1), None)))
    assert decide_entry(_ask(), MINE, person, POLICY).refusal is ForwardRefusal.NOT_MEMBER


def test_the_policy_decides_by_the_askers_role_and_span():
    denied = _ask(purpose=Purpose.PREMIUM_ASSESSMENT)
    assert decide_entry(denied, MINE, PERSON, POLICY).refusal is ForwardRefusal.PURPOSE_NOT_ALLOWED
    wrong_span = _ask(None, (date(2025, 5, 1), date(2025, 6, 1)))
    assert decide_entry(wrong_span, MINE, PERSON,
                        POLICY).refusal is ForwardRefusal.PURPOSE_NOT_ALLOWED
    # P92 is a care insurer's row: a medical insurer asking the same is denied
    care_row = _ask(None, (date(2024, 8, 1), date(2025, 7, 31)),
                    purpose=Purpose.COMBINED_HIGH_COST, category=DataCategory.SELF_PAY_AMOUNTS)
    assert decide_entry(care_row, MINE, PERSON,
                        POLICY).refusal is ForwardRefusal.PURPOSE_NOT_ALLOWED


def test_a_care_insurer_asks_for_a_whole_period_of_at_most_366_days():
    care = ("care_insured:131011", b"care-index")
    person = Person((*PERSON.links, _link(C, date(2024, 1, 1), None, "long_term_care", care)))
    ask = _ask(None, (date(2024, 8, 1), date(2025, 7, 31)), purpose=Purpose.COMBINED_HIGH_COST,
               category=DataCategory.SELF_PAY_AMOUNTS, asker=C)
    decision = decide_entry(ask, care, person, POLICY)
    assert decision.policy_row == "P92"
    assert {p.code for p in decision.providers} == {A}  # C's own medical cover is not asked
    too_long = _ask(None, (date(2024, 7, 30), date(2025, 7, 31)),  # 367 days
                    purpose=Purpose.COMBINED_HIGH_COST,
                    category=DataCategory.SELF_PAY_AMOUNTS, asker=C)
    assert decide_entry(too_long, care, person,
                        POLICY).refusal is ForwardRefusal.PURPOSE_NOT_ALLOWED


def test_a_suspect_person_is_sent_to_the_counter():
    suspect = Person(PERSON.links, suspect=True)
    assert decide_entry(_ask(), MINE, suspect, POLICY).refusal is ForwardRefusal.VERIFY_IDENTITY


def test_nobody_else_covering_then_is_said():
    alone = Person((_link(A, date(2025, 4, 1), None, number=MINE),
                    _link(B, date(2020, 4, 1), date(2024, 4, 1))))
    assert decide_entry(_ask(), MINE, alone, POLICY).refusal is ForwardRefusal.NOBODY_COVERED


def test_forwarded_to_each_insurer_covering_the_date_once_under_its_latest_number():
    decision = decide_entry(_ask(), MINE, PERSON, POLICY)
    assert decision.forwarded and decision.policy_row == "P91"
    assert [(p.code, p.number_sealed) for p in decision.providers] == [(C, b"sealed-131011")]


def test_a_loss_date_is_not_covered_and_other_schemes_are_not_reached():
    person = Person((_link(A, date(2025, 4, 1), None, number=MINE),
                     _link(B, date(2025, 1, 1), date(2025, 6, 1)),
                     _link(C, date(2025, 1, 1), None, "long_term_care")))
    assert decide_entry(_ask(), MINE, person, POLICY).refusal is ForwardRefusal.NOBODY_COVERED


def test_the_rate_allowance():
    assert rate_allows(0, 10, 10) and not rate_allows(1, 10, 10) and rate_allows(9, 1, 10)
