"""Properties of the 合算 over generated households: shares add up to each stage's excess and
stay within a yen of their exact proportion, nothing is negative, and the order in which
receipts arrive changes nothing."""

from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.calculation import (
    Household,
    IncomeCategory,
    Month,
    ReceiptKind,
    calculate,
)
from reconciliation.calculation.apportion import Payer, Side, apportion
from tests.unit.test_reconciliation_support import (
    CLINIC,
    PHARMACY,
    care,
    household,
    member,
    receipt,
)

MONTHS = [Month(2023, m) for m in range(8, 13)] + [Month(2024, m) for m in range(1, 8)]
MEDICAL_INSURERS, CARE_INSURERS = ["01130012", "06130012", "138016"], ["131011", "131024"]
BIRTHS = [date(1970, 1, 10), date(1954, 1, 15), date(1952, 3, 10), date(1946, 2, 2)]
payers = st.builds(Payer, st.sampled_from(list(Side)), st.sampled_from(MEDICAL_INSURERS))


@given(st.integers(0, 10_000_000), st.dictionaries(payers, st.integers(0, 5_000_000),
                                                    min_size=1))
def test_apportioned_shares_add_up_and_stay_within_a_yen(excess, weights):
    shares = apportion(excess, weights)
    total = sum(weights.values())
    if total == 0:
        assert set(shares.values()) <= {0}
        return
    assert sum(shares.values()) == excess
    for payer, share in shares.items():
        assert share >= 0
        assert abs(share - Fraction(excess * weights[payer], total)) < 1


@st.composite
def households(draw: st.DrawFn) -> Household:
    keys = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    category = draw(st.sampled_from(list(IncomeCategory)))
    members = [member(k, draw(st.sampled_from(BIRTHS)), category=category) for k in keys]
    receipts = []
    for n in range(draw(st.integers(0, 8))):
        copay = draw(st.integers(0, 400_000))
        kind = draw(st.sampled_from(list(ReceiptKind)))
        pharmacy = kind is ReceiptKind.PHARMACY
        receipts.append(receipt(
            f"r{n}", draw(st.sampled_from(MONTHS)), copay, key=draw(st.sampled_from(keys)),
            benefit=draw(st.integers(0, copay)), kind=kind,
            institution=PHARMACY if pharmacy else CLINIC,
            prescribed_by=CLINIC if pharmacy else None,
            insurer=draw(st.sampled_from(MEDICAL_INSURERS))))
    entries = {(draw(st.sampled_from(keys)), draw(st.sampled_from(MONTHS)),
                draw(st.sampled_from(CARE_INSURERS))) for _ in range(draw(st.integers(0, 5)))}
    care_pay = [care(month, draw(st.integers(0, 400_000)), key=key, insurer=insurer)
                for key, month, insurer in sorted(entries)]
    return household(*members, receipts=receipts, care_pay=care_pay)


@settings(max_examples=200, deadline=None)
@given(households())
def test_each_stage_is_shared_exactly_and_nothing_is_negative(given_household):
    result = calculate(given_household)
    for run in filter(None, (result.run, result.care_run)):
        assert run.payment in (0, run.excess)
        for stage in run.stages:
            weights = dict(stage.weights)
            shares = dict(stage.shares)
            assert min([stage.excess, *weights.values(), *shares.values()], default=0) >= 0
            if run.payment:
                assert sum(shares.values()) == stage.excess
                total = sum(weights.values())
                for payer, share in shares.items():
                    assert abs(share - Fraction(stage.excess * weights[payer], total)) < 1
            else:
                assert set(shares.values()) <= {0}
    assert all(share.amount >= 0 for share in result.shares)
    assert all(m.medical >= 0 and m.care >= 0 for m in result.members)
    if result.care_run is None:
        assert result.payment == result.run.payment


@settings(max_examples=100, deadline=None)
@given(households(), st.randoms(use_true_random=False))
def test_the_order_of_receipts_and_care_changes_nothing(given_household, random):
    receipts, care_pay = list(given_household.receipts), list(given_household.care)
    members = list(given_household.members)
    for items in (receipts, care_pay, members):
        random.shuffle(items)
    shuffled = household(*members, receipts=receipts, care_pay=care_pay)
    assert calculate(shuffled) == calculate(given_household)
