"""The 合算 settlement read as a hostile filer or administrator would: answers spelled to slip
past the reader, totals no settlement can carry, payers that collected nothing that counts, and
corrections that must take back what was settled, each refused with a reason or settled right."""

from __future__ import annotations

import pytest

from reconciliation.settling import (
    Unreadable,
    read_answer,
)
from tests.unit.test_reconciliation_support import (
    HEALTH,
)

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
