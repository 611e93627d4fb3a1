"""The worked cases of docs/reconciliation.md, computed by hand (the arithmetic is in each case
and in the document's table), checked against the calculation, and the table checked against
this list so the two cannot drift."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from reconciliation.calculation import (
    Household,
    IncomeCategory,
    Month,
    ReceiptKind,
    base_date_for,
    calculate,
    calculating_insurer,
)
from tests.unit.test_reconciliation_support import (
    AGED_72,
    AGED_78,
    CARE,
    CLINIC,
    DENTIST,
    HEALTH,
    LATE_STAGE,
    NHI,
    OTHER_HEALTH,
    PERIOD,
    PHARMACY,
    care,
    household,
    member,
    outpatient_benefit,
    receipt,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "reconciliation.md"
OUT = ReceiptKind.MEDICAL_OUTPATIENT
M, C = "medical", "care"


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    arithmetic: str
    household: Household
    payment: int
    shares: dict[tuple[str, str], int]
    calculating: str = HEALTH


DIED, MOVED_BIRTH = date(2024, 1, 20), date(1949, 3, 15)
DEATH_BASE = base_date_for(PERIOD, died_on=DIED)
MOVE_BASE = base_date_for(PERIOD, late_stage_from=date(2024, 3, 15))
TURNS_70 = date(1954, 1, 15)  # 70 reached 2024-01-14: the 70+ band from 2024-02-01

CASES = [
    Case("single", "under 70, 一般: 600,000; shares by largest remainder",
         "self-pay 500,000 − 100,000 = 400,000; care 300,000; 700,000 − 600,000 = 100,000; "
         "medical 100,000×4/7 = 57,142.86, care 42,857.14; the 1 yen left → medical",
         household(receipts=[receipt("r1", Month(2024, 1), 500_000, benefit=100_000,
                                     meals=20_000)],
                   care_pay=[care(Month(2024, 2), 300_000)]),
         100_000, {(M, HEALTH): 57_143, (C, CARE): 42_857}),
    Case("household", "a household's members added up",
         "A medical 450,000 − 100,000 = 350,000; B care 280,000; 630,000 − 600,000 = 30,000; "
         "medical 30,000×35/63 = 16,666.67, care 13,333.33; 1 yen → medical",
         household(member("a"), member("b"),
                   receipts=[receipt("r1", Month(2023, 9), 450_000, key="a", benefit=100_000)],
                   care_pay=[care(Month(2023, 10), 280_000, key="b")]),
         30_000, {(M, HEALTH): 16_667, (C, CARE): 13_333}),
    Case("job_change", "an earlier insurer pays its share; the base-date insurer calculates",
         "01130012 100,000 + 06130012 200,000 + care 400,000 = 700,000 − 600,000 = 100,000; "
         "14,285.71 / 28,571.43 / 57,142.86; 2 yen left → care (.86), 01130012 (.71)",
         household(receipts=[receipt("r1", Month(2023, 9), 100_000, insurer=OTHER_HEALTH),
                             receipt("r2", Month(2024, 3), 200_000)],
                   care_pay=[care(Month(2024, 4), 400_000)]),
         100_000, {(M, OTHER_HEALTH): 14_286, (M, HEALTH): 28_571, (C, CARE): 57_143}),
    Case("mixed_ages", "70–74 threshold first, what remains added to the under-70 amounts",
         "stage 1: 400,000 + care 300,000 = 700,000 − 560,000 = 140,000 (medical 80,000, care "
         "60,000); stage 2: 560,000 + 120,000 = 680,000 − 600,000 = 80,000 over medical "
         "320,000 + 120,000 = 440,000 and care 240,000: 51,764.71 / 28,235.29, 1 yen → "
         "medical; total 220,000",
         household(member("old", AGED_72), member("young"),
                   receipts=[receipt("r1", Month(2023, 11), 400_000, key="old"),
                             receipt("r2", Month(2023, 12), 120_000, key="young")],
                   care_pay=[care(Month(2024, 1), 300_000, key="old")]),
         220_000, {(M, HEALTH): 131_765, (C, CARE): 88_235}),
    Case("turning_70", "each month in its own band; 21,000 only before 70",
         "under 70: 2023-10 outpatient 15,000 excluded, 2023-11 90,000 counted; 70+ (from "
         "2024-02): 2024-03 outpatient 15,000 + care 600,000 = 615,000 − 560,000 = 55,000 "
         "(medical 1,341.46, care 53,658.54 → care +1); stage 2: 560,000 + 90,000 = 650,000 − "
         "600,000 = 50,000 over medical 13,658.54 + 90,000 and care 546,341.46 (7,973.73 / "
         "42,026.27 → medical +1); total 105,000",
         household(member("m1", TURNS_70),
                   receipts=[receipt("r1", Month(2023, 10), 15_000, kind=OUT),
                             receipt("r2", Month(2023, 11), 90_000),
                             receipt("r3", Month(2024, 3), 15_000, kind=OUT)],
                   care_pay=[care(Month(2024, 4), 600_000)]),
         105_000, {(M, HEALTH): 9_315, (C, CARE): 95_685}),
    Case("excess_500", "500 yen or less pays nothing",
         "350,000 + care 250,500 = 600,500 − 600,000 = 500, not more than 500 → 0",
         household(receipts=[receipt("r1", Month(2024, 1), 350_000)],
                   care_pay=[care(Month(2024, 1), 250_500)]),
         0, {(M, HEALTH): 0, (C, CARE): 0}),
    Case("excess_501", "more than 500 pays the whole excess",
         "350,000 + care 250,501 = 600,501 − 600,000 = 501; medical 501×350,000/600,501 = "
         "292.00, care 208.99; 1 yen → care",
         household(receipts=[receipt("r1", Month(2024, 1), 350_000)],
                   care_pay=[care(Month(2024, 1), 250_501)]),
         501, {(M, HEALTH): 292, (C, CARE): 209}),
    Case("care_side_zero", "nothing when one side is 0",
         "medical 900,000, care 0 → 0",
         household(receipts=[receipt("r1", Month(2024, 1), 900_000)]),
         0, {(M, HEALTH): 0}),
    Case("medical_side_zero", "under 70, receipts below 21,000 leave the medical side 0",
         "4 receipts of 20,000 (2023-09 to 2023-12) excluded → medical 0; care 700,000 → 0",
         household(receipts=[receipt(f"r{n}", Month(2023, 8 + n), 20_000, kind=OUT)
                             for n in range(1, 5)],
                   care_pay=[care(Month(2024, 1), 700_000)]),
         0, {(C, CARE): 0}),
    Case("boundary_21000", "under 70: 20,999 excluded, 21,000 counted, on the copay",
         "20,999 excluded; 21,000 counted; 30,000 copay − 10,000 benefit counted as 20,000 "
         "(judged on the copay); care 600,000: 641,000 − 600,000 = 41,000; medical "
         "41,000×41/641 = 2,622.46, care 38,377.54; 1 yen → care",
         household(receipts=[receipt("r1", Month(2024, 1), 20_999, kind=OUT),
                             receipt("r2", Month(2024, 2), 21_000, kind=OUT),
                             receipt("r3", Month(2024, 3), 30_000, benefit=10_000, kind=OUT)],
                   care_pay=[care(Month(2024, 1), 600_000)]),
         41_000, {(M, HEALTH): 2_622, (C, CARE): 38_378}),
    Case("pharmacy_and_dental", "pharmacy joined to its prescriber's outpatient receipt; "
         "inpatient, outpatient, medical and dental apart",
         "clinic outpatient 15,000 + its pharmacy 6,000 = 21,000 counted; clinic inpatient "
         "20,000 and dentist 20,000 + its pharmacy 500 = 20,500 excluded; care 590,000: "
         "611,000 − 600,000 = 11,000; medical 378.07, care 10,621.93; 1 yen → care",
         household(receipts=[
             receipt("r1", Month(2023, 12), 15_000, kind=OUT),
             receipt("r2", Month(2023, 12), 6_000, kind=ReceiptKind.PHARMACY,
                     institution=PHARMACY, prescribed_by=CLINIC),
             receipt("r3", Month(2023, 12), 20_000),
             receipt("r4", Month(2023, 12), 20_000, kind=ReceiptKind.DENTAL_OUTPATIENT,
                     institution=DENTIST),
             receipt("r5", Month(2023, 12), 500, kind=ReceiptKind.PHARMACY,
                     institution=PHARMACY, prescribed_by=DENTIST, dentist=True)],
             care_pay=[care(Month(2024, 1), 590_000)]),
         11_000, {(M, HEALTH): 378, (C, CARE): 10_622}),
    Case("rounding_ties", "equal remainders: medical first, then the lower insurer number",
         "現役並みⅠ 670,000: 250,000 × 3 = 750,000 − 670,000 = 80,000; 26,666.67 each; 2 yen "
         "left → 01130012, 06130012",
         household(member(category=IncomeCategory.ACTIVE_I),
                   receipts=[receipt("r1", Month(2023, 9), 250_000, insurer=OTHER_HEALTH),
                             receipt("r2", Month(2024, 3), 250_000)],
                   care_pay=[care(Month(2024, 4), 250_000)]),
         80_000, {(M, OTHER_HEALTH): 26_667, (M, HEALTH): 26_667, (C, CARE): 26_666}),
    Case("death", "the base date is the date of death; 75+: 560,000",
         "base date 2024-01-20; 300,000 + care 400,000 = 700,000 − 560,000 = 140,000; "
         "medical 60,000, care 80,000",
         household(member(birth=AGED_78, base_date=DEATH_BASE, insurer=LATE_STAGE),
                   receipts=[receipt("r1", Month(2024, 1), 300_000, insurer=LATE_STAGE)],
                   care_pay=[care(Month(2023, 12), 400_000)]),
         140_000, {(M, LATE_STAGE): 60_000, (C, CARE): 80_000}, LATE_STAGE),
    Case("move_to_75", "the base date is the day before the move to 75+; NHI calculates",
         "base date 2024-03-14; 250,000 + care 350,000 = 600,000 − 560,000 = 40,000; "
         "16,666.67 / 23,333.33; 1 yen → medical",
         household(member(birth=MOVED_BIRTH, base_date=MOVE_BASE, insurer=NHI),
                   receipts=[receipt("r1", Month(2023, 10), 250_000, insurer=NHI)],
                   care_pay=[care(Month(2024, 3), 350_000)]),
         40_000, {(M, NHI): 16_667, (C, CARE): 23_333}, NHI),
    Case("outpatient_benefit", "70+: the annual outpatient benefit deducted first",
         "outpatient 200,000 − benefit 56,000 = 144,000 + inpatient 100,000 = 244,000; care "
         "400,000: 644,000 − 560,000 = 84,000; 31,826.09 / 52,173.91; 1 yen → care",
         household(member(birth=AGED_72),
                   receipts=[receipt("r1", Month(2023, 9), 120_000, kind=OUT),
                             receipt("r2", Month(2023, 10), 80_000, kind=OUT),
                             receipt("r3", Month(2023, 11), 100_000)],
                   care_pay=[care(Month(2024, 1), 400_000)],
                   benefits=[outpatient_benefit(56_000)]),
         84_000, {(M, HEALTH): 31_826, (C, CARE): 52_174}),
    Case("low_income_I_care_users", "低所得Ⅰ, two care users: the care side at 310,000",
         "150,000 + care 250,000 = 400,000; at 190,000: 210,000, medical 78,750; care side at "
         "310,000: 90,000, care 90,000×25/40 = 56,250; paid 135,000",
         household(member("x", AGED_78, insurer=LATE_STAGE, category=IncomeCategory.LOW_I),
                   member("y", AGED_78, insurer=LATE_STAGE, category=IncomeCategory.LOW_I),
                   receipts=[receipt("r1", Month(2023, 9), 100_000, key="x", insurer=LATE_STAGE),
                             receipt("r2", Month(2023, 9), 50_000, key="y", insurer=LATE_STAGE)],
                   care_pay=[care(Month(2023, 10), 150_000, key="x"),
                             care(Month(2023, 10), 100_000, key="y")]),
         135_000, {(M, LATE_STAGE): 78_750, (C, CARE): 56_250}, LATE_STAGE),
    Case("left_household", "a member not in the household on the base date is set aside",
         "stays: 400,000 + care 300,000 = 700,000 − 600,000 = 100,000; the leaver's 200,000 "
         "excluded; as in `single`",
         household(member("stays"), member("left", in_household=False),
                   receipts=[receipt("r1", Month(2024, 1), 400_000, key="stays"),
                             receipt("r2", Month(2023, 9), 200_000, key="left")],
                   care_pay=[care(Month(2024, 2), 300_000, key="stays")]),
         100_000, {(M, HEALTH): 57_143, (C, CARE): 42_857}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_worked_case_gives_the_hand_computed_payment_and_shares(case: Case):
    result = calculate(case.household)
    assert result.payment == case.payment
    assert {(s.payer.side.value, s.payer.insurer_number): s.amount
            for s in result.shares} == case.shares
    assert calculating_insurer(case.household) == case.calculating == result.calculating_insurer


def test_the_base_dates_of_death_and_the_move_to_75():
    assert [DEATH_BASE, MOVE_BASE, base_date_for(PERIOD)] == [
        date(2024, 1, 20), date(2024, 3, 14), date(2024, 7, 31)]
    after = base_date_for(PERIOD, died_on=date(2024, 8, 3), late_stage_from=date(2023, 8, 1))
    assert after == date(2024, 7, 31)


def _rows() -> dict[str, str]:
    table = DOC.read_text(encoding="utf-8").split("## Worked cases", 1)[1]
    return {row.split("|")[1].strip().strip("`"): row
            for row in table.splitlines() if row.startswith("| `")}


def test_the_documents_table_has_every_case_and_no_other():
    assert sorted(_rows()) == sorted(c.name for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_documents_row_carries_the_cases_rule_arithmetic_and_results(case: Case):
    cells = [cell.strip() for cell in _rows()[case.name].split("|")[1:-1]]
    assert cells[1:4] == [case.rule, case.arithmetic, f"{case.payment:,}"]
    shares = ", ".join(f"{side} {insurer} {amount:,}"
                       for (side, insurer), amount in case.shares.items())
    assert cells[4] == shares
