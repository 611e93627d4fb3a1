"""Payloads insurers (保険者) file on `filing.insurer.v1`.

Member loads (go-live and reconciliation); voluntary continuation (任意継続) elected and ended.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
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


class LateElectionReason(StrEnum):
    """Why the insurer accepted an election made after its window (健保法37条 ただし書)."""

    DISASTER = "disaster"
    ILLNESS = "illness"
    INSURER_DELAY = "insurer_delay"
    OTHER_JUSTIFIED = "other_justified"


class VoluntaryContinuationElected(Payload):
    """任意継続 applied for on `elected_on` (申出日, the application date) after `lost_on`.

    The cover applies from the employee-insurance loss date, which is the effective date. The
    window (20 days counting the loss date as day 1, 健保法37条) is judged by the relay on
    `elected_on`, never on `occurred_at`: the insurer decides, so an election after it is
    recorded, and flagged unless `late_reason` says why the insurer accepted it.
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
    elected_on: Day = Field(description="the application date (申出日) the window is judged on")
    late_reason: LateElectionReason | None = Field(
        default=None, description="why the insurer accepted an application after the window"
    )

    def cross_field_problems(self) -> list[Problem]:
        if self.lost_on <= self.elected_on:
            return []
        message = "elected_on must not be before lost_on"
        return [Problem(("elected_on",), "election_window", message)]


class VoluntaryContinuationEndReason(StrEnum):
    """The ends of 任意継続 the insurer files (健保法38条); the others the relay derives."""

    REQUEST = "request"
    NON_PAYMENT = "non_payment"


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class VoluntaryContinuationEnded(Payload):
    """任意継続 ends on `lost_on` on the person's request or for non-payment (健保法38条).

    On request, `lost_on` is the first day of the month after the month the request was
    accepted (`request_accepted_on`); on non-payment, the day after `payment_deadline`.
    """

    EVENT_TYPE: ClassVar[str] = "VoluntaryContinuationEnded"
    FILER: ClassVar[FilerKind] = FilerKind.INSURER
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("request_accepted_on", "payment_deadline")

    person: PersonReference
    identity: IdentityItems
    insurer_number: EmployeeInsurerNumber
    insured_number: InsuredNumber
    reason: VoluntaryContinuationEndReason
    lost_on: Day = Field(description="the loss date (資格喪失日), exclusive")
    request_accepted_on: Day | None = Field(
        default=None, description="request: the day the insurer accepted the request"
    )
    payment_deadline: Day | None = Field(
        default=None, description="non_payment: the premium's payment deadline (納付期日)"
    )

    def cross_field_problems(self) -> list[Problem]:
        request = self.reason is VoluntaryContinuationEndReason.REQUEST
        given, other = (
            ("request_accepted_on", "payment_deadline")
            if request
            else ("payment_deadline", "request_accepted_on")
        )
        basis = getattr(self, given)
        if basis is None or getattr(self, other) is not None:
            message = f"reason {self.reason.value} carries {given} and not {other}"
            return [Problem((given,), "end_basis", message)]
        due = first_of_next_month(basis) if request else basis + timedelta(days=1)
        if self.lost_on == due:
            return []
        rule = (
            "the first day of the month after request_accepted_on"
            if request
            else "the day after payment_deadline"
        )
        return [Problem(("lost_on",), "end_date", f"lost_on must be {rule}")]


PAYLOADS = (MemberLoaded, VoluntaryContinuationElected, VoluntaryContinuationEnded)
