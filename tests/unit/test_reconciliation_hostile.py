"""The 合算 settlement read as a hostile filer or administrator would: answers spelled to slip
past the reader, totals no settlement can carry, payers that collected nothing that counts, and
corrections that must take back what was settled, each refused with a reason or settled right."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from insurer_workers.closing import new_settlements
from reconciliation.calculation import InputError, Month, Period, ReceiptKind, calculate
from reconciliation.calculation.apportion import Side
from reconciliation.settling import (
    MAX_SETTLED,
    Answer,
    Made,
    TargetKey,
    Unreadable,
    member_targets,
    next_settlement,
    read_answer,
)
from relay_exchange.policy import default_policy
from relay_exchange.routing import Link, Person
from relay_exchange.settling import MEDICAL_BENEFIT, Settle, decide_settlement
from schemas import MessageRejected, decode_relay
from schemas.exchange_terms import ForwardRefusal
from schemas.settlements import SettlementAmount, SettlementInstruction, period_span
from tests.unit.test_reconciliation_support import (
    AGED_72,
    HEALTH,
    LATE_STAGE,
    NHI,
    care,
    household,
    member,
    outpatient_benefit,
    receipt,
)
from tests.unit.test_settlement_contracts import _instruction

SENDER, PERIOD = HEALTH, 2024
RECEIPT = {"receipt_id": "R-1", "month": "2023-09", "institution": "1310000001",
           "kind": "medical_inpatient", "copay_yen": 300_000, "high_cost_benefit_yen": 0,
           "meals_and_room_yen": 0, "prescribed_by": None, "prescribed_by_dentist": False}


@pytest.mark.parametrize("month", ["２０２３-０９", "٢٠٢٣-٠٩", "2023-０９"])
def test_a_month_in_other_scripts_digits_is_not_yyyy_mm(month):
    """`\\d` takes any script's digits and int() reads them: a month spelled so was taken as
    September 2023 although the answer's contract is `YYYY-MM`."""
    body = {"status": "covered", "receipts": [{**RECEIPT, "month": month}]}
    assert read_answer(body, provider="01130012", member_key="k1",
                       scheme="medical") == Unreadable("not_a_month:month")

def _huge_household():
    """A provider's answer at the edge of what the reader takes: 5,000 receipts of
    100,000,000 yen each, every one accepted."""
    entries = [{**RECEIPT, "receipt_id": f"R{i}", "institution": f"I{i}",
                "copay_yen": 100_000_000} for i in range(5_000)]
    got = read_answer({"status": "covered", "receipts": entries}, provider="01130012",
                      member_key="m1", scheme="medical")
    assert isinstance(got, Answer)
    return household(member(), receipts=got.receipts,
                     care_pay=[care(Month(2023, 10), 100_000_000)])


def test_a_total_no_settlement_can_carry_holds_the_household_back():
    """Such a household's share is far above what the settlement contract carries: the row was
    written, and sealing it raised at sending, so every row after it stayed unsent at each
    try. The close refuses it instead (InputError: the household is held back), naming no
    amount."""
    targets = member_targets(calculate(_huge_household()))
    assert max(targets.values()) > MAX_SETTLED
    with pytest.raises(InputError) as refused:
        new_settlements(SENDER, Period(PERIOD), targets, {})
    assert (refused.value.reason, refused.value.field) == ("too_large", "target")
    assert not any(ch.isdigit() for ch in str(refused.value))


def test_the_ledgers_bound_is_the_contracts():
    SettlementAmount(amount_yen=MAX_SETTLED, total_yen=MAX_SETTLED)
    SettlementAmount(amount_yen=-MAX_SETTLED, total_yen=0)
    with pytest.raises(ValidationError):
        SettlementAmount(amount_yen=1, total_yen=MAX_SETTLED + 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3 * MAX_SETTLED), min_size=1, max_size=6))
def test_every_settlement_made_can_be_sealed(targets):
    key = TargetKey("k1", Side.MEDICAL, HEALTH, "高額介護合算療養費")
    made: list[Made] = []
    for target in targets:
        try:
            new = next_settlement(SENDER, PERIOD, key, made, target)
        except InputError as refused:
            assert target > MAX_SETTLED and refused.reason == "too_large"
            continue
        if new is not None:
            SettlementAmount(amount_yen=new.amount, total_yen=new.total)
            made.append(Made(new.settlement_id, new.corrects, new.amount))

@pytest.mark.parametrize("spelled", [1_785_456_000, 1_785_456_000.0, "2026-07-31T00:00:00"])
def test_a_base_date_is_written_yyyy_mm_dd_only(spelled):
    """The base date took epoch seconds and date-times as a day, as no other contract's date
    does: one settlement had several spellings (each other bytes to the relay)."""
    with pytest.raises(MessageRejected):
        decode_relay(json.dumps(_instruction(base_date=spelled)).encode(), SettlementInstruction)
    assert decode_relay(json.dumps(_instruction()).encode(),
                        SettlementInstruction).base_date == date(2026, 7, 31)

def test_a_payer_covering_only_after_the_base_date_is_not_a_payer():
    """Someone moving to the 75+ scheme on 15 March 2024 has 14 March as the base date: the
    75+ insurer covers them from the 15th, collected nothing that counts, and is no payer of
    that calculation, although its cover overlaps the period."""
    mine = ("insured:138016", b"nhi-index")
    person = Person((
        Link("medical", NHI, *mine, b"sealed-nhi", date(2020, 4, 1), date(2024, 3, 15)),
        Link("medical", LATE_STAGE, "insured:39131015", b"late", b"sealed-late",
             date(2024, 3, 15), None)))
    base = date(2024, 3, 14)
    late = decide_settlement(Settle(NHI, LATE_STAGE, MEDICAL_BENEFIT, period_span(PERIOD), base),
                             mine, person, default_policy())
    assert late.refusal is ForwardRefusal.NOT_PAYER
    own = decide_settlement(Settle(NHI, NHI, MEDICAL_BENEFIT, period_span(PERIOD), base),
                            mine, person, default_policy())
    assert own.routed

def test_a_share_is_split_by_the_self_pay_counted_after_the_outpatient_benefit():
    """Two members aged 72 paid 144,000 yen each that counts at the insurer: one as an
    inpatient, the other as 200,000 yen of outpatient care less a 56,000-yen annual outpatient
    benefit (the statement shows 144,000 for both). The insurer's share is theirs equally,
    not 200:144."""
    calc = calculate(household(
        member("a", AGED_72), member("b", AGED_72),
        receipts=[receipt("r1", Month(2023, 9), 200_000, key="a",
                          kind=ReceiptKind.MEDICAL_OUTPATIENT),
                  receipt("r2", Month(2023, 9), 144_000, key="b")],
        care_pay=[care(Month(2023, 10), 400_000, key="a")],
        benefits=[outpatient_benefit(56_000, key="a")]))
    assert [m.medical for m in calc.members] == [144_000, 144_000]
    targets = member_targets(calc)
    health = [v for k, v in sorted(targets.items()) if k.payer == HEALTH]
    assert abs(health[0] - health[1]) <= 1

def _ledger(ledgers: dict[TargetKey, list[Made]], targets: dict[TargetKey, int]) -> None:
    """One close: the household's new rows appended to its ledger lines."""
    for s in new_settlements(SENDER, Period(PERIOD), targets, ledgers):
        ledgers.setdefault(s.key, []).append(Made(s.settlement_id, s.corrects, s.amount))


def _totals(ledgers: dict[TargetKey, list[Made]]) -> dict[TargetKey, int]:
    return {k: sum(m.amount for m in v) for k, v in ledgers.items()}


def _two_members(care_b: int):
    return household(
        member("a"), member("b"),
        receipts=[receipt("r1", Month(2023, 9), 350_000, key="a")],
        care_pay=[care(Month(2023, 10), care_b, key="b")])


@pytest.mark.parametrize("care_b, paid", [(250_500, False), (250_000, False), (250_501, True)])
def test_a_total_falling_to_500_or_less_after_a_correction_takes_everything_back(care_b, paid):
    """Settled at 10,000 yen of excess; a corrected care month brings the excess to 500 (or
    nothing): every line is brought back to 0 by a delta naming what it corrects; at 501 the
    whole 501 yen is settled."""
    ledgers: dict[TargetKey, list[Made]] = {}
    _ledger(ledgers, member_targets(calculate(_two_members(260_000))))
    assert sum(_totals(ledgers).values()) == 10_000
    again = calculate(_two_members(care_b))
    _ledger(ledgers, member_targets(again))
    assert sum(_totals(ledgers).values()) == (501 if paid else 0) == again.payment
    for lines in ledgers.values():
        assert [m.corrects is None for m in lines] == [True] + [False] * (len(lines) - 1)


def test_a_payer_whose_receipts_no_longer_count_is_taken_back_whole():
    """A second medical insurer's only receipt corrected below 21,000 yen: it drops out of the
    shares altogether, and what it was settled is reversed, not left standing."""
    other = "01130012"

    def calc(copay: int):
        return calculate(household(
            member(),
            receipts=[receipt("r1", Month(2023, 9), 400_000),
                      receipt("r2", Month(2023, 10), copay, insurer=other)],
            care_pay=[care(Month(2023, 11), 300_000)]))

    ledgers: dict[TargetKey, list[Made]] = {}
    _ledger(ledgers, member_targets(calc(100_000)))
    assert any(k.payer == other and v > 0 for k, v in _totals(ledgers).items())
    final = calc(20_000)
    assert all(s.payer.insurer_number != other for s in final.shares)
    _ledger(ledgers, member_targets(final))
    assert all(v == 0 for k, v in _totals(ledgers).items() if k.payer == other)
    assert sum(_totals(ledgers).values()) == final.payment


def test_the_ids_do_not_depend_on_the_order_of_members_or_receipts():
    members = (member("a"), member("b"))
    receipts = [receipt("r1", Month(2023, 9), 300_000, key="a"),
                receipt("r2", Month(2023, 10), 200_000, key="b"),
                receipt("r3", Month(2023, 11), 100_000, key="b", insurer="01130012")]
    pay = [care(Month(2023, 12), 300_000, key="a"), care(Month(2024, 1), 100_000, key="b")]
    one = new_settlements(SENDER, Period(PERIOD), member_targets(calculate(
        household(*members, receipts=receipts, care_pay=pay))), {})
    two = new_settlements(SENDER, Period(PERIOD), member_targets(calculate(
        household(*reversed(members), receipts=receipts[::-1], care_pay=pay[::-1]))), {})
    assert sorted(s.settlement_id for s in one) == sorted(s.settlement_id for s in two)
    assert {s.key: s.total for s in one} == {s.key: s.total for s in two}
