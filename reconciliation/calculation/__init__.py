"""The 合算 calculation and the statement, pure: plain functions over plain frozen values,
importing only the standard library (guarded by tests/unit/test_architecture.py)."""

from reconciliation.calculation.calculate import Calculation, calculate, calculating_insurer
from reconciliation.calculation.inputs import (
    Band,
    CareSelfPay,
    Household,
    InputError,
    Member,
    Month,
    OutpatientAnnualBenefit,
    Period,
    Receipt,
    ReceiptKind,
    base_date_for,
    period_of,
)
from reconciliation.calculation.statement import statement
from reconciliation.calculation.thresholds import IncomeCategory

__all__ = [
    "Band",
    "Calculation",
    "CareSelfPay",
    "Household",
    "IncomeCategory",
    "InputError",
    "Member",
    "Month",
    "OutpatientAnnualBenefit",
    "Period",
    "Receipt",
    "ReceiptKind",
    "base_date_for",
    "calculate",
    "calculating_insurer",
    "period_of",
    "statement",
]
