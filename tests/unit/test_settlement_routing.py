"""The router's decision about a settlement of the 合算, as a pure function: an unknown number,
a sender not covering the person on the base date, the purpose policy for the payer's scheme, a
suspect person, a payer that never covered them in the period (a care payer for a medical
benefit among them), the payer's link it is routed under, and the one chain per person, period,
payer and benefit: a first settlement only where none was routed, a delta only at its chain's
end and from its chain's sender."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from relay_exchange.policy import default_policy, parse_policy
from relay_exchange.routing import Link, Person
from relay_exchange.settling import (
    CARE_BENEFIT,
    MEDICAL_BENEFIT,
    Chain,
    Settle,
    chain_refusal,
    decide_settlement,
)
from schemas.exchange_terms import ForwardRefusal
from schemas.settlements import SettlementBenefit, period_span

SENDER, EARLIER, CARE = "06130012", "01130012", "131011"
MINE = ("insured:06130012", b"a-index")
POLICY = default_policy()
BASE = date(2026, 7, 31)


def _link(insurer: str, start: date, end: date | None, scheme: str = "medical",
          number: tuple[str, bytes] | None = None) -> Link:
    kind, index = number or (f"insured:{insurer}", insurer.encode())
    return Link(scheme, insurer, kind, index, b"sealed-" + insurer.encode(), start, end)


PERSON = Person((
    _link(SENDER, date(2026, 1, 1), None, number=MINE),
    _link(EARLIER, date(2020, 4, 1), date(2026, 1, 1)),
    _link(CARE, date(2024, 1, 1), None, scheme="long_term_care",
          number=("care_insured:131011", b"care")),
    _link("27130012", date(2019, 1, 1), date(2025, 8, 1)),  # ended the day the period began
))


def _settle(payer: str, benefit: str = MEDICAL_BENEFIT, base: date = BASE,
            period: int = 2026, corrects: UUID | None = None, sender: str = SENDER) -> Settle:
    return Settle(sender, payer, benefit, period_span(period), base, corrects)


def test_the_benefit_names_are_the_contracts():
    assert {MEDICAL_BENEFIT, CARE_BENEFIT} == {b.value for b in SettlementBenefit}


def test_an_earlier_medical_insurer_is_reached_under_its_own_link():
    decision = decide_settlement(_settle(EARLIER), MINE, PERSON, POLICY)
    assert decision.routed and decision.policy_row == "P05"
    assert decision.link is not None and decision.link.insurer == EARLIER


def test_the_sender_pays_its_own_share_the_same_way():
    decision = decide_settlement(_settle(SENDER), MINE, PERSON, POLICY)
    assert decision.routed and decision.link is not None
    assert (decision.link.number_kind, decision.link.number_index) == MINE


def test_a_care_insurer_pays_the_care_benefit_under_p08():
    decision = decide_settlement(_settle(CARE, CARE_BENEFIT), MINE, PERSON, POLICY)
    assert decision.routed and decision.policy_row == "P08"
    assert decision.link is not None and decision.link.scheme == "long_term_care"


def test_a_care_insurer_is_refused_for_the_medical_benefit_and_the_reverse():
    assert decide_settlement(_settle(CARE), MINE, PERSON, POLICY).refusal \
        is ForwardRefusal.NOT_PAYER
    assert decide_settlement(_settle(EARLIER, CARE_BENEFIT), MINE, PERSON, POLICY).refusal \
        is ForwardRefusal.NOT_PAYER


def test_a_payer_that_never_covered_them_in_the_period_is_refused():
    for payer in ("27130012", "99999999"):
        assert decide_settlement(_settle(payer), MINE, PERSON, POLICY).refusal \
            is ForwardRefusal.NOT_PAYER


def test_a_sender_not_covering_the_person_on_the_base_date_is_refused():
    decision = decide_settlement(_settle(EARLIER, base=date(2025, 12, 31)), MINE, PERSON,
                                 POLICY)
    assert decision.refusal is ForwardRefusal.NOT_MEMBER
    other_number = ("insured:06130012", b"someone-else")
    assert decide_settlement(_settle(EARLIER), other_number, PERSON, POLICY).refusal \
        is ForwardRefusal.NOT_MEMBER


def test_the_sender_must_cover_them_in_the_medical_scheme():
    care_only = Person((_link(SENDER, date(2020, 1, 1), None, scheme="long_term_care",
                              number=MINE), _link(EARLIER, date(2025, 1, 1), None)))
    assert decide_settlement(_settle(EARLIER), MINE, care_only, POLICY).refusal \
        is ForwardRefusal.NOT_MEMBER


def test_an_unknown_number_is_refused():
    assert decide_settlement(_settle(EARLIER), MINE, None, POLICY).refusal \
        is ForwardRefusal.UNKNOWN_NUMBER
    shared = ("basic_pension_number", b"x")
    assert decide_settlement(_settle(EARLIER), shared, None, POLICY).refusal \
        is ForwardRefusal.NOT_MEMBER


def test_a_suspect_person_goes_to_the_counter():
    suspect = Person(PERSON.links, suspect=True)
    assert decide_settlement(_settle(EARLIER), MINE, suspect, POLICY).refusal \
        is ForwardRefusal.VERIFY_IDENTITY


def test_the_purpose_policy_decides():
    medical_only = parse_policy(
        "# purpose policy version 2026-12-01\n"
        "row,role,scheme,category,purpose,span,max_days,disclosure_delay_days,law,article,"
        "paragraph,item,note\n"
        "P91,medical_insurer,medical,self_pay_amounts,combined_high_cost,period,366,0,"
        "健康保険法,第115条の2,第1項,,test\n")
    assert decide_settlement(_settle(EARLIER), MINE, PERSON, medical_only).policy_row == "P91"
    assert decide_settlement(_settle(CARE, CARE_BENEFIT), MINE, PERSON, medical_only).refusal \
        is ForwardRefusal.PURPOSE_NOT_ALLOWED
    short = parse_policy(
        "# purpose policy version 2026-12-01\n"
        "row,role,scheme,category,purpose,span,max_days,disclosure_delay_days,law,article,"
        "paragraph,item,note\n"
        "P91,medical_insurer,medical,self_pay_amounts,combined_high_cost,period,30,0,"
        "健康保険法,第115条の2,第1項,,test\n")
    assert decide_settlement(_settle(EARLIER), MINE, PERSON, short).refusal \
        is ForwardRefusal.PURPOSE_NOT_ALLOWED


FIRST, DELTA = uuid4(), uuid4()
"""The settlements routed so far in a chain: a first, then a delta of it (the chain's end)."""


def test_a_first_settlement_is_routed_where_no_chain_was():
    assert chain_refusal(_settle(EARLIER), None) is None
    decision = decide_settlement(_settle(EARLIER), MINE, PERSON, POLICY, None)
    assert decision.routed and decision.link is not None and decision.link.insurer == EARLIER


def test_a_second_first_settlement_is_already_settled_whoever_sends_it():
    for sender in (SENDER, "39131015"):  # its ledger started again, or another base-date insurer
        for last in (FIRST, DELTA):
            chain = Chain(sender, last)
            assert decide_settlement(_settle(EARLIER), MINE, PERSON, POLICY, chain).refusal \
                is ForwardRefusal.ALREADY_SETTLED
    assert decide_settlement(_settle(CARE, CARE_BENEFIT), MINE, PERSON, POLICY,
                             Chain(SENDER, FIRST)).refusal is ForwardRefusal.ALREADY_SETTLED


def test_a_chain_taken_back_to_nothing_may_be_started_again_by_anyone():
    """The base-date insurer changed: the one before took its settlements back (its last one
    `nothing_due`), so the new one's first settlement starts the chain again; the old one can
    no longer add to it."""
    closed = Chain("39131015", DELTA, closed=True)
    assert decide_settlement(_settle(EARLIER), MINE, PERSON, POLICY, closed).routed
    assert chain_refusal(_settle(EARLIER, sender="39131015"), closed) is None
    closed = Chain(SENDER, DELTA, closed=True)
    assert chain_refusal(_settle(EARLIER, corrects=DELTA), closed) is None, "its own delta"
    taken_over = Chain("39131015", FIRST)
    assert chain_refusal(_settle(EARLIER, corrects=DELTA), taken_over) \
        is ForwardRefusal.NOT_CHAIN_END
    assert chain_refusal(_settle(EARLIER), taken_over) is ForwardRefusal.ALREADY_SETTLED


def test_a_base_date_insurer_no_more_may_take_its_own_chain_back_and_nothing_else():
    """The sender covered them on the base date when it settled; a late loss moved that cover
    (or the base date) away. Its delta bringing its own chain to 0 is routed, so the new
    base-date insurer can start the chain again; it may not add to it, nor take back another
    sender's chain or from anywhere but the chain's end."""
    moved = Person((_link(SENDER, date(2026, 1, 1), date(2026, 6, 1), number=MINE),
                    *PERSON.links[1:]))
    back = Settle(SENDER, EARLIER, MEDICAL_BENEFIT, period_span(2026), BASE, DELTA,
                  nothing_due=True)
    decision = decide_settlement(back, MINE, moved, POLICY, Chain(SENDER, DELTA))
    assert decision.routed and decision.link is not None and decision.link.insurer == EARLIER
    more = Settle(SENDER, EARLIER, MEDICAL_BENEFIT, period_span(2026), BASE, DELTA)
    assert decide_settlement(more, MINE, moved, POLICY, Chain(SENDER, DELTA)).refusal \
        is ForwardRefusal.NOT_MEMBER
    for chain in (Chain("39131015", DELTA), Chain(SENDER, FIRST), None):
        assert decide_settlement(back, MINE, moved, POLICY, chain).refusal \
            is ForwardRefusal.NOT_MEMBER
    assert decide_settlement(back, MINE, None, POLICY, Chain(SENDER, DELTA)).refusal \
        is ForwardRefusal.UNKNOWN_NUMBER


def test_a_delta_naming_its_chains_end_is_routed():
    decision = decide_settlement(_settle(EARLIER, corrects=DELTA), MINE, PERSON, POLICY,
                                 Chain(SENDER, DELTA))
    assert decision.routed and decision.policy_row == "P05"
    assert decision.link is not None and decision.link.insurer == EARLIER
    assert decide_settlement(_settle(EARLIER, corrects=FIRST), MINE, PERSON, POLICY,
                             Chain(SENDER, FIRST)).routed


def test_a_delta_not_naming_its_chains_end_is_refused():
    chain = Chain(SENDER, DELTA)
    for corrects in (FIRST, uuid4()):  # an older settlement; one never routed (or refused)
        assert decide_settlement(_settle(EARLIER, corrects=corrects), MINE, PERSON, POLICY,
                                 chain).refusal is ForwardRefusal.NOT_CHAIN_END
    assert decide_settlement(_settle(EARLIER, corrects=FIRST), MINE, PERSON, POLICY,
                             None).refusal is ForwardRefusal.NOT_CHAIN_END


def test_a_delta_of_another_senders_chain_is_refused_even_naming_its_end():
    chain = Chain("39131015", DELTA)
    assert decide_settlement(_settle(EARLIER, corrects=DELTA), MINE, PERSON, POLICY,
                             chain).refusal is ForwardRefusal.NOT_CHAIN_END


def test_the_chain_is_judged_after_the_person_and_the_payer():
    chain = Chain(SENDER, DELTA)
    assert decide_settlement(_settle(EARLIER), MINE, None, POLICY, chain).refusal \
        is ForwardRefusal.UNKNOWN_NUMBER
    assert decide_settlement(_settle("99999999", corrects=FIRST), MINE, PERSON, POLICY,
                             chain).refusal is ForwardRefusal.NOT_PAYER
    suspect = Person(PERSON.links, suspect=True)
    assert decide_settlement(_settle(EARLIER), MINE, suspect, POLICY, chain).refusal \
        is ForwardRefusal.VERIFY_IDENTITY
