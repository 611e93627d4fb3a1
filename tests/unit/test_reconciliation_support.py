"""Builders for the 合算 tests: members, receipts and care self-pay with plain defaults."""

from datetime import date

from reconciliation.calculation import (
    CareSelfPay,
    Household,
    IncomeCategory,
    Member,
    Month,
    OutpatientAnnualBenefit,
    Period,
    Receipt,
    ReceiptKind,
)

PERIOD = Period(2024)
END = date(2024, 7, 31)
HEALTH, OTHER_HEALTH, NHI, LATE_STAGE = "06130012", "01130012", "138016", "39131015"
CARE = "131011"
CLINIC, PHARMACY, DENTIST = "1310000001", "1390000001", "1330000001"
UNDER_70, AGED_72, AGED_78 = date(1970, 1, 10), date(1952, 3, 10), date(1946, 2, 2)


def member(key: str = "m1", birth: date = UNDER_70, *, base_date: date = END,
           insurer: str = HEALTH, category: IncomeCategory = IncomeCategory.GENERAL,
           in_household: bool = True) -> Member:
    return Member(key=key, birth_date=birth, in_household=in_household, base_date=base_date,
                  base_insurer=insurer, income_category=category)


def receipt(receipt_id: str, month: Month, copay: int, *, key: str = "m1", benefit: int = 0,
            kind: ReceiptKind = ReceiptKind.MEDICAL_INPATIENT, institution: str = CLINIC,
            insurer: str = HEALTH, prescribed_by: str | None = None, dentist: bool = False,
            meals: int = 0) -> Receipt:
    return Receipt(receipt_id=receipt_id, insurer_number=insurer, member_key=key, month=month,
                   institution=institution, kind=kind, copay=copay, high_cost_benefit=benefit,
                   meals_and_room=meals, prescribed_by=prescribed_by,
                   prescribed_by_dentist=dentist)


def care(month: Month, amount: int, *, key: str = "m1", insurer: str = CARE,
         preventive: bool = False) -> CareSelfPay:
    return CareSelfPay(insurer_number=insurer, member_key=key, month=month, self_pay=amount,
                       preventive=preventive)


def outpatient_benefit(amount: int, *, key: str = "m1",
                       insurer: str = HEALTH) -> OutpatientAnnualBenefit:
    return OutpatientAnnualBenefit(insurer_number=insurer, member_key=key, amount=amount)


def household(*members: Member, receipts=(), care_pay=(), benefits=(),
              period: Period = PERIOD) -> Household:
    return Household(period=period, members=tuple(members) or (member(),),
                     receipts=tuple(receipts), care=tuple(care_pay),
                     outpatient_benefits=tuple(benefits))
