"""The receipt contract: what an insurer loads into its own member store for the 合算 (DOMAIN
§6), one medical receipt (レセプト) or one month of a member's care self-pay per record.

It travels on the insurer's private topic `private.<code>.receipts.v1`, which only that
insurer's principal writes and reads: the relay never sees an amount. One message with a `kind`
rather than two: one topic, one ordering and one id space for duplicates and corrections; the
validator says which fields each kind takes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, StrictInt, StringConstraints, model_validator

from schemas.base import Problem, raise_problems
from schemas.common import InsuredNumber
from schemas.identifiers import CareInsuredNumber, InsurerNumber
from schemas.relay import RelayMessage

MAX_YEN = 100_000_000
"""The largest amount a receipt may carry: 1億円. The dearest treatment on the NHI price list
(about 1.7億円 in one month) leaves a 30% copay near 5,000万円, so no true receipt comes near
it, and a household's amounts for a whole period stay far inside a 64-bit integer."""
SCHEME_START = "2008-04"
"""The 合算 began in April 2008: no earlier service month is a receipt of it."""

ReceiptReference = Annotated[str, StringConstraints(strict=True,
                                                    pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
ServiceMonth = Annotated[str, StringConstraints(
    strict=True, pattern=r"^(200[89]|20[1-9][0-9]|2[1-9][0-9]{2})-(0[1-9]|1[0-2])$")]
"""YYYY-MM from 2008 to 2999; months before April 2008 are refused by the validator."""
InstitutionNumber = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]{10}$")]
"""医療機関コード / 薬局コード: prefecture (2), score table (1) and the institution (7)."""
Yen = Annotated[StrictInt, Field(ge=0, le=MAX_YEN)]


class ReceiptKind(StrEnum):
    """What the record is: a medical receipt per institution and month, inpatient and
    outpatient apart, medical (医科) and dental (歯科) apart, a pharmacy's (調剤), or a month of
    care self-pay (介護, 介護予防 included)."""

    MEDICAL_INPATIENT = "medical_inpatient"
    MEDICAL_OUTPATIENT = "medical_outpatient"
    DENTAL_INPATIENT = "dental_inpatient"
    DENTAL_OUTPATIENT = "dental_outpatient"
    PHARMACY = "pharmacy"
    CARE = "care"


MEDICAL_ONLY = ("insured_number", "institution_code", "copay_yen", "high_cost_benefit_yen",
                "meals_and_room_yen")
CARE_ONLY = ("care_insured_number", "self_pay_yen")


class ReceiptRecord(RelayMessage):
    """One receipt an insurer holds for the 合算: a medical receipt with its own copay before
    the monthly high-cost benefit, the benefit and the meals and room charges apart; or a
    member's care self-pay for a service month after the monthly high-cost care benefit."""

    receipt_id: ReceiptReference = Field(description="the insurer's own reference of the "
                                         "receipt: the idempotency key")
    insurer_number: InsurerNumber = Field(description="保険者番号 of the insurer holding it: the "
                                          "topic's own participant")
    kind: ReceiptKind
    insured_number: InsuredNumber | None = Field(
        default=None, description="the member's 記号・番号・枝番 at this insurer (medical kinds)")
    care_insured_number: CareInsuredNumber | None = Field(
        default=None, description="介護保険被保険者番号 (care only)")
    service_month: ServiceMonth = Field(description="診療月 / サービス提供月, YYYY-MM, "
                                        f"{SCHEME_START} or later")
    institution_code: InstitutionNumber | None = Field(
        default=None, description="the institution or pharmacy (medical kinds; null for care)")
    prescribed_by: InstitutionNumber | None = Field(
        default=None, description="the prescribing institution (pharmacy only): the receipt "
        "adds to that institution's outpatient receipt")
    prescribed_by_dentist: StrictBool = Field(
        default=False, description="whether a dentist prescribed (pharmacy only): the receipt "
        "then adds to the dental outpatient receipt")
    copay_yen: Yen | None = Field(default=None, description="the receipt's own self-pay before "
                                  "the monthly high-cost benefit, without meals and room "
                                  "(medical kinds)")
    high_cost_benefit_yen: Yen | None = Field(
        default=None, description="the monthly high-cost benefit (高額療養費) paid on it, at "
        "most the copay (medical kinds)")
    meals_and_room_yen: Yen | None = Field(
        default=None, description="meals and room charges, never counted (medical kinds)")
    self_pay_yen: Yen | None = Field(default=None, description="the month's care self-pay after "
                                     "the monthly high-cost care benefit (care only)")
    preventive: StrictBool = Field(default=False, description="介護予防 (care only)")
    corrects: ReceiptReference | None = Field(
        default=None, description="the id of the receipt first sent that this one replaces "
        "(always the first of its chain, never a correction); null for a new receipt")

    @model_validator(mode="after")
    def _consistent(self) -> ReceiptRecord:
        care = self.kind is ReceiptKind.CARE
        problems = [Problem((name,), "kind", "needed for this kind" if (care == (name in
                    CARE_ONLY)) else "set for the other kinds only")
                    for name in (*MEDICAL_ONLY, *CARE_ONLY)
                    if (getattr(self, name) is None) == (care == (name in CARE_ONLY))]
        if self.preventive and not care:
            problems.append(Problem(("preventive",), "kind", "set for care only"))
        pharmacy = self.kind is ReceiptKind.PHARMACY
        if (self.prescribed_by is None) == pharmacy:
            problems.append(Problem(("prescribed_by",), "kind",
                                    "needed for pharmacy" if pharmacy else "pharmacy only"))
        if self.prescribed_by_dentist and not pharmacy:
            problems.append(Problem(("prescribed_by_dentist",), "kind", "pharmacy only"))
        if self.service_month < SCHEME_START:
            problems.append(Problem(("service_month",), "before_scheme",
                                    f"the scheme began in {SCHEME_START}"))
        if (self.copay_yen is not None and self.high_cost_benefit_yen is not None
                and self.high_cost_benefit_yen > self.copay_yen):
            problems.append(Problem(("high_cost_benefit_yen",), "benefit_exceeds_copay",
                                    "at most the copay"))
        if self.corrects == self.receipt_id:
            problems.append(Problem(("corrects",), "corrects", "another receipt's id"))
        raise_problems(type(self).__name__, problems)
        return self

    @property
    def chain(self) -> str:
        """The id of the receipt first sent: its own, or the one it corrects."""
        return self.corrects or self.receipt_id

    def kafka_key(self) -> bytes:
        """The record key: `<insurer number>:<first receipt id>`, so a receipt and its
        corrections reach the worker in order on one partition."""
        return f"{self.insurer_number}:{self.chain}".encode()


RECEIPT_MESSAGES: tuple[type[RelayMessage], ...] = (ReceiptRecord,)
