"""The member's statement: every amount, rule, threshold and share in words, Japanese with
English alongside, yen with separators, and no member key or personal number of anyone."""

from dataclasses import replace

import pytest

from reconciliation.calculation import InputError, calculate, statement
from tests.unit.test_reconciliation_cases import CASES

BY_NAME = {case.name: case for case in CASES}


def _text(name: str, key: str) -> str:
    return statement(calculate(BY_NAME[name].household), key)


def test_the_statement_tells_the_amounts_the_rules_the_thresholds_and_the_shares():
    text = _text("single", "m1")
    for expected in [
        "自己負担額 (self-pay) 400,000円", "一部負担金 (copay) 500,000円",
        "高額療養費 (monthly high-cost benefit) 100,000円",
        "食事・居住費 (meals and room, never counted) 20,000円",
        "計上: 70歳未満で21,000円以上", "基準日 (base date): 2024-07-31",
        "計算する保険者 (calculating insurer): 06130012", "所得区分 (income category): 一般",
        "70歳未満を含む世帯 (household with members under 70) 600,000円",
        "700,000円 − 600,000円 → 超過額 (excess) 100,000円",
        "医療保険者 (medical insurer) 06130012 高額介護合算療養費: 57,143円",
        "介護保険者 (care insurer) 131011 高額医療合算介護(予防)サービス費: 42,857円",
        "支給額合計 (total paid): 100,000円"]:
        assert expected in text


def test_excluded_receipts_the_500_yen_rule_and_a_zero_side_are_explained():
    assert "除外: 70歳未満で21,000円未満" in _text("boundary_21000", "m1")
    assert "調剤を含む, pharmacy joined" in _text("pharmacy_and_dental", "m1")
    assert "超過額が500円以下のため支給なし" in _text("excess_500", "m1")
    assert "介護の自己負担が0円のため支給なし" in _text("care_side_zero", "m1")
    assert "外来年間合算の控除 (annual outpatient benefit deducted): 56,000円" in _text(
        "outpatient_benefit", "m1")
    assert "介護側は70歳以上の基準額310,000円" in _text("low_income_I_care_users", "x")


def test_a_member_sees_their_own_receipts_and_the_others_only_as_totals():
    text = _text("mixed_ages", "young")
    assert "120,000円" in text and "400,000円 − " not in text.split("世帯のほかの方")[0]
    assert "世帯のほかの方 1人 (other household members): 医療 (medical) 400,000円" in text
    keys = {"old": "k-7f3a91", "young": "k-c20e55"}
    renamed = BY_NAME["mixed_ages"].household
    renamed = replace(
        renamed, members=tuple(replace(m, key=keys[m.key]) for m in renamed.members),
        receipts=tuple(replace(r, member_key=keys[r.member_key]) for r in renamed.receipts),
        care=tuple(replace(c, member_key=keys[c.member_key]) for c in renamed.care))
    texts = [statement(calculate(renamed), key) for key in keys.values()]
    assert not [key for key in keys.values() for text in texts if key in text]
    assert "段階1" in text and "段階2" in text


def test_a_stranger_has_no_statement():
    with pytest.raises(InputError) as caught:
        _text("single", "someone else")
    assert caught.value.reason == "unknown_member"
