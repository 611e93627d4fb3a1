"""Payloads insurers (保険者) file on `filing.insurer.v1`.

Member loads (go-live and reconciliation) and elections of voluntary continuation (任意継続).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from schemas.base import ContractModel, Day, Problem
from schemas.checkdigits import is_late_stage
from schemas.common import (
    Capacity,
    CareInsuredNumber,
    EmployeeInsurerNumber,
    IdentityItems,
    InsuredNumber,
    InsurerNumber,
    PersonKey,
    PersonReference,
    RecipientNumber,
    Scheme,
)
from schemas.payload import FilerKind, Payload, person_key_problems

VOLUNTARY_CONTINUATION_DAYS = 20

# scheme -> (the member-number field it uses, the insurer number lengths it accepts)
MEMBER_SCHEMES: dict[Scheme, tuple[str, tuple[int, ...]]] = {
    Scheme.MEDICAL: ("insured_number", (6, 8)),
    Scheme.LONG_TERM_CARE: ("care_insured_number", (6,)),
    Scheme.PUBLIC_EXPENSE: ("recipient_number", (8,)),
}
MEMBER_NUMBER_FIELDS = ("insured_number", "care_insured_number", "recipient_number")


class InsuredPersonOf(ContractModel):
    """A dependant's insured person (本人): who, and their identity items as filed."""

    person: PersonReference
    identity: IdentityItems


class MemberLoaded(Payload):
    """A member as the insurer's register knows them, for the period `[valid_from, valid_to)`.

    `scheme` is medical (6-digit NHI or 8-digit health insurer number; the member number is
    `insured_number`), long_term_care (6 digits; `care_insured_number`) or public_expense
    (8-digit 公費負担者番号; `recipient_number`). Only employee health insurance (8 digits, law
    code other than 39) has dependants and voluntary continuation; a dependant's load names
    the insured person (`insured_person`) by resident code or basic pension number and their
    identity items, which the relay matches like the dependant's own.
    """

    EVENT_TYPE: ClassVar[str] = "MemberLoaded"
    FILER: ClassVar[FilerKind] = FilerKind.INSURER
    EFFECTIVE_FIELD: ClassVar[str | None] = "valid_from"
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = (
        PersonKey.RESIDENT_CODE,
        PersonKey.BASIC_PENSION_NUMBER,
    )

    person: PersonReference
    identity: IdentityItems
    scheme: Scheme
    insurer_number: InsurerNumber = Field(description="保険者番号 or 公費負担者番号")
    insured_number: InsuredNumber | None = None
    care_insured_number: CareInsuredNumber | None = None
    recipient_number: RecipientNumber | None = None
    capacity: Capacity
    valid_from: Day
    valid_to: Day | None = Field(default=None, description="the loss date, exclusive")
    insured_person: InsuredPersonOf | None = Field(
        default=None, description="a dependant's insured person (本人); only for a dependant"
    )

    def cross_field_problems(self) -> list[Problem]:
        if self.scheme not in MEMBER_SCHEMES:
            allowed = ", ".join(s.value for s in MEMBER_SCHEMES)
            return [Problem(("scheme",), "scheme", f"a member load is for {allowed}")]
        return [
            *self._number_problems(),
            *self._capacity_problems(),
            *self._period_problems(),
            *self._insured_problems(),
        ]

    def _insured_problems(self) -> list[Problem]:
        dependant = self.capacity is Capacity.DEPENDANT
        if dependant and self.insured_person is None:
            message = "a dependant's load names the insured person"
            return [Problem(("insured_person",), "insured_person", message)]
        if not dependant and self.insured_person is not None:
            message = "only a dependant's load names an insured person"
            return [Problem(("insured_person",), "insured_person", message)]
        if self.insured_person is None:
            return []
        return person_key_problems(
            ("insured_person", "person"),
            self.insured_person.person,
            self.PERSON_KEYS,
            self.EVENT_TYPE,
        )

    def _number_problems(self) -> list[Problem]:
        wanted, lengths = MEMBER_SCHEMES[self.scheme]
        problems = [
            Problem((name,), "member_number", f"scheme {self.scheme.value} uses {wanted} only")
            for name in MEMBER_NUMBER_FIELDS
            if name != wanted and getattr(self, name) is not None
        ]
        if getattr(self, wanted) is None:
            message = f"scheme {self.scheme.value} needs {wanted}"
            problems.append(Problem((wanted,), "member_number", message))
        if len(self.insurer_number) not in lengths:
            digits = " or ".join(str(n) for n in lengths)
            message = f"scheme {self.scheme.value} needs a {digits}-digit insurer_number"
            problems.append(Problem(("insurer_number",), "insurer_number", message))
        return problems

    def _capacity_problems(self) -> list[Problem]:
        employee = (
            self.scheme is Scheme.MEDICAL
            and len(self.insurer_number) == 8
            and not is_late_stage(self.insurer_number)
        )
        if self.capacity is Capacity.INSURED or employee:
            return []
        message = f"capacity {self.capacity.value} exists only in employee health insurance"
        return [Problem(("capacity",), "capacity", message)]

    def _period_problems(self) -> list[Problem]:
        if self.valid_to is None or self.valid_to > self.valid_from:
            return []
        return [Problem(("valid_to",), "period", "valid_to must be after valid_from")]


class VoluntaryContinuationElected(Payload):
    """任意継続: elected on `elected_on`, from `lost_on` to at most 20 days after it.

    The cover applies from the employee-insurance loss date, which is the effective date.
    The election has happened, so `elected_on` is not after the filing date.
    """

    EVENT_TYPE: ClassVar[str] = "VoluntaryContinuationElected"
    FILER: ClassVar[FilerKind] = FilerKind.INSURER
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("elected_on",)

    person: PersonReference
    identity: IdentityItems
    insurer_number: EmployeeInsurerNumber
    insured_number: InsuredNumber
    lost_on: Day = Field(description="the employee-insurance loss date (資格喪失日)")
    elected_on: Day = Field(description="the day the person elected voluntary continuation")

    def cross_field_problems(self) -> list[Problem]:
        latest = self.lost_on + timedelta(days=VOLUNTARY_CONTINUATION_DAYS)
        if self.lost_on <= self.elected_on <= latest:
            return []
        message = "elected_on must be from lost_on to 20 days after lost_on"
        return [Problem(("elected_on",), "election_window", message)]


PAYLOADS = (MemberLoaded, VoluntaryContinuationElected)
