"""The settling of the 合算: a provider's answer read hostilely (a reason, never an exception),
the shares split per member adding up exactly, and the ledger's rule: only differences are
settled, each naming the one it corrects, under ids the same inputs always give."""

import json
from dataclasses import replace
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.calculation import Household, Month, calculate
from reconciliation.calculation.apportion import Side
from reconciliation.settling import (
    Answer,
    LedgerBroken,
    Made,
    TargetKey,
    Unreadable,
    chain_of,
    member_targets,
    next_settlement,
    read_answer,
    split,
)
from tests.unit.test_reconciliation_properties import households
from tests.unit.test_reconciliation_support import (
    CARE,
    HEALTH,
    OTHER_HEALTH,
    care,
    household,
    member,
    receipt,
)

SENDER, PERIOD = "06130012", 2024
RECEIPT = {"receipt_id": "R-1", "month": "2023-09", "institution": "1310000001",
           "kind": "medical_inpatient", "copay_yen": 300_000, "high_cost_benefit_yen": 100_000,
           "meals_and_room_yen": 5_000, "prescribed_by": None, "prescribed_by_dentist": False}
CARE_MONTH = {"month": "2023-10", "self_pay_yen": 44_400, "preventive": True}


def test_an_answer_gives_receipts_under_the_member_key_with_the_provider_in_their_ids():
    body = {"status": "covered", "periods": [], "receipts": [RECEIPT]}
    got = read_answer(body, provider=OTHER_HEALTH, member_key="k1", scheme="medical")
    assert isinstance(got, Answer) and got.covered
    (r,) = got.receipts
    assert (r.receipt_id, r.insurer_number, r.member_key, r.month, r.self_pay) == (
        f"{OTHER_HEALTH}:R-1", OTHER_HEALTH, "k1", Month(2023, 9), 200_000)
    care_body = {"status": "covered", "care": [CARE_MONTH]}
    got = read_answer(care_body, provider=CARE, member_key="k1", scheme="long_term_care")
    assert isinstance(got, Answer)
    assert [(c.month, c.self_pay, c.preventive) for c in got.care] == [
        (Month(2023, 10), 44_400, True)]
    assert read_answer({"status": "not_covered"}, provider=CARE, member_key="k1",
                       scheme="long_term_care") == Answer(covered=False)


@pytest.mark.parametrize("body, reason", [
    ([], "not_an_object"),
    ({"status": "refused", "reason": "tampered_number"}, "provider_refused"),
    ({"status": "covered"}, "no_receipts"),
    ({"status": "covered", "too_large": True}, "answer_too_large"),
    ({"status": "covered", "receipts": [{**RECEIPT, "copay_yen": -1}]},
     "negative_amount:copay_yen"),
    ({"status": "covered", "receipts": [{**RECEIPT, "copay_yen": 1.5}]}, "not_whole_yen:copay_yen"),
    ({"status": "covered", "receipts": [{**RECEIPT, "copay_yen": True}]},
     "not_whole_yen:copay_yen"),
    ({"status": "covered", "receipts": [{**RECEIPT, "copay_yen": 10**30}]}, "too_large:copay_yen"),
    ({"status": "covered", "receipts": [{**RECEIPT, "month": "2023-13"}]}, "not_a_month:month"),
    ({"status": "covered", "receipts": [{**RECEIPT, "kind": "x"}]}, "unknown_kind:kind"),
    ({"status": "covered", "receipts": [{**RECEIPT, "extra": 1}]}, "unexpected_fields:receipt"),
    ({"status": "covered", "receipts": [{**RECEIPT, "high_cost_benefit_yen": 400_000}]},
     "benefit_exceeds_copay:high_cost_benefit"),
])
def test_a_malformed_answer_is_a_reason(body, reason):
    assert read_answer(body, provider=OTHER_HEALTH, member_key="k1",
                       scheme="medical") == Unreadable(reason)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["medical", "long_term_care", "pension"]))
def test_any_json_is_read_or_refused_with_a_reason(body, scheme):
    got = read_answer(body, provider=OTHER_HEALTH, member_key="k1", scheme=scheme)
    assert isinstance(got, Answer | Unreadable)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(RECEIPT)), json_values, max_size=9),
       st.booleans())
def test_receipts_with_any_field_values_are_read_or_refused(changes, care_side):
    entry = {**(CARE_MONTH if care_side else RECEIPT), **changes}
    body = json.loads(json.dumps({"status": "covered", "care" if care_side else "receipts":
                                  [entry]}, allow_nan=True))
    got = read_answer(body, provider=OTHER_HEALTH, member_key="k1",
                      scheme="long_term_care" if care_side else "medical")
    assert isinstance(got, Answer | Unreadable)


def test_a_share_is_split_over_the_members_by_their_self_pay_under_that_payer():
    calc = calculate(household(
        member("a"), member("b"),
        receipts=[receipt("r1", Month(2023, 9), 300_000, key="a"),
                  receipt("r2", Month(2023, 10), 100_000, key="b"),
                  receipt("r3", Month(2023, 11), 100_000, key="b", insurer=OTHER_HEALTH)],
        care_pay=[care(Month(2023, 12), 300_000, key="a")]))
    targets = member_targets(calc)
    shares = {(s.payer.side, s.payer.insurer_number): s.amount for s in calc.shares}
    health = shares[(Side.MEDICAL, HEALTH)]
    assert targets[TargetKey("a", Side.MEDICAL, HEALTH, "高額介護合算療養費")] == \
        health - targets[TargetKey("b", Side.MEDICAL, HEALTH, "高額介護合算療養費")]
    assert abs(targets[TargetKey("a", Side.MEDICAL, HEALTH, "高額介護合算療養費")]
               - health * 3 / 4) <= 1
    assert [k.member_key for k in targets if k.payer == OTHER_HEALTH] == ["b"]
    assert [k.member_key for k in targets if k.side is Side.CARE] == ["a"]


@settings(max_examples=200, deadline=None)
@given(households())
def test_the_targets_add_up_to_each_payers_share(given_household):
    calc = calculate(given_household)
    targets = member_targets(calc)
    for share in calc.shares:
        mine = [v for k, v in targets.items()
                if (k.side, k.payer, k.benefit) == (share.payer.side, share.payer.insurer_number,
                                                    share.benefit)]
        assert sum(mine) == share.amount
        assert all(v >= 0 for v in mine)


@given(st.integers(0, 10**9), st.dictionaries(st.text(min_size=1, max_size=3),
                                              st.integers(0, 10**7), min_size=1))
def test_split_adds_up(amount, weights):
    assert sum(split(amount, weights).values()) == amount


KEY = TargetKey("k1", Side.MEDICAL, HEALTH, "高額介護合算療養費")


def _apply(ledger: list[Made], target: int) -> None:
    new = next_settlement(SENDER, PERIOD, KEY, ledger, target)
    if new is not None:
        ledger.append(Made(new.settlement_id, new.corrects, new.amount))


def test_a_changed_total_is_a_delta_naming_the_last_settlement():
    first = next_settlement(SENDER, PERIOD, KEY, [], 10_000)
    assert first is not None and (first.amount, first.total, first.corrects) == (10_000, 10_000,
                                                                                  None)
    made = [Made(first.settlement_id, None, 10_000)]
    assert next_settlement(SENDER, PERIOD, KEY, made, 10_000) is None
    less = next_settlement(SENDER, PERIOD, KEY, made, 7_500)
    assert less is not None and (less.amount, less.total, less.corrects) == (
        -2_500, 7_500, first.settlement_id)
    assert less == next_settlement(SENDER, PERIOD, KEY, list(reversed(made)), 7_500)
    assert next_settlement(SENDER, PERIOD, KEY, [], 0) is None
    assert next_settlement("01130012", PERIOD, KEY, [], 10_000).settlement_id != \
        first.settlement_id


def test_a_ledger_of_two_chains_is_refused():
    a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
    with pytest.raises(LedgerBroken):
        chain_of([Made(a, None, 1), Made(b, None, 1)])
    with pytest.raises(LedgerBroken):
        chain_of([Made(a, None, 1), Made(b, a, 1), Made(c, a, 1)])
    assert chain_of([Made(a, None, 1), Made(b, c, 1), Made(c, b, 1)]) == [Made(a, None, 1)]
    assert [m.settlement_id for m in chain_of([Made(b, a, 1), Made(a, None, 1)])] == [a, b]


def test_a_settlement_correcting_one_outside_the_chain_is_not_in_it():
    """A delta made on a settlement the relay then refused (taken out of the chain): the
    relay refuses the delta too, so the next settlement follows the chain's last one."""
    first = next_settlement(SENDER, PERIOD, KEY, [], 10_000)
    assert first is not None
    refused = UUID(int=99)  # left out of `made` by the close, refused by the relay
    orphan = Made(UUID(int=100), refused, 5_000)
    made = [Made(first.settlement_id, None, 10_000), orphan]
    assert chain_of(made) == made[:1]
    again = next_settlement(SENDER, PERIOD, KEY, made, 12_000)
    assert again is not None and (again.amount, again.corrects) == (2_000, first.settlement_id)
    assert chain_of([orphan]) == []
    assert next_settlement(SENDER, PERIOD, KEY, [orphan], 3_000).corrects is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 500_000), max_size=8))
def test_replaying_the_targets_adds_nothing_and_the_ids_are_the_same(targets):
    ledger: list[Made] = []
    for t in targets:
        _apply(ledger, t)
    again: list[Made] = []
    for t in targets:
        _apply(again, t)
    assert again == ledger
    before = list(ledger)
    if targets:
        _apply(ledger, targets[-1])
    assert ledger == before
    assert sum(m.amount for m in ledger) == (targets[-1] if targets else 0)


def _settled(h: Household, order: list[int], cuts: list[int]) -> dict[TargetKey, int]:
    """Close after each cut of the receipts arriving in `order`, then once with all."""
    receipts = [h.receipts[i] for i in order]
    ledgers: dict[TargetKey, list[Made]] = {}
    for cut in [*sorted(cuts), len(receipts)]:
        part = replace(h, receipts=tuple(receipts[:cut]))
        try:
            targets = member_targets(calculate(part))
        except ValueError:  # a part of the inputs may be refused (the benefit rule)
            continue
        for key in set(targets) | set(ledgers):
            made = ledgers.setdefault(key, [])
            new = next_settlement(SENDER, PERIOD, key, made, targets.get(key, 0))
            if new is not None:
                made.append(Made(new.settlement_id, new.corrects, new.amount))
    return {k: sum(m.amount for m in v) for k, v in ledgers.items()}


@settings(max_examples=100, deadline=None)
@given(households(), st.randoms(use_true_random=False), st.lists(st.integers(0, 8), max_size=4),
       st.lists(st.integers(0, 8), max_size=4))
def test_two_arrival_orders_end_at_the_same_totals(given_household, random, cuts1, cuts2):
    n = len(given_household.receipts)
    first, second = list(range(n)), list(range(n))
    random.shuffle(second)
    one = _settled(given_household, first, [min(c, n) for c in cuts1])
    two = _settled(given_household, second, [min(c, n) for c in cuts2])
    final = member_targets(calculate(given_household))
    for key in set(one) | set(two) | set(final):
        assert one.get(key, 0) == two.get(key, 0) == final.get(key, 0)
