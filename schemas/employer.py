"""Payloads employers (事業主) file on `filing.employer.v1`.

資格取得届, 資格喪失届 and 被扶養者異動届 of employee health insurance (never the 75+ scheme).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from schemas.base import ContractModel, Day, Problem
from schemas.common import (
    EmployeeInsurerNumber,
    IdentityItems,
    InsuredNumber,
    PersonKey,
    PersonReference,
)
from schemas.payload import FilerKind, Payload, person_key_problems

NUMBER_KEYS = (PersonKey.RESIDENT_CODE, PersonKey.BASIC_PENSION_NUMBER)


class Dependant(ContractModel):
    """A dependant (被扶養者): who, the identity items as filed and their insured number."""

    person: PersonReference
    identity: IdentityItems
    insured_number: InsuredNumber


class DependantChange(StrEnum):
    """Whether a 被扶養者異動届 adds or removes a dependant."""

    ADDED = "added"
    REMOVED = "removed"


def _dependant_problems(
    loc: tuple[str | int, ...], dependant: Dependant, on: date, event_type: str, field: str
) -> list[Problem]:
    problems = person_key_problems((*loc, "person"), dependant.person, NUMBER_KEYS, event_type)
    if dependant.identity.birth_date.reveal() > on:
        message = f"a dependant cannot be born after {field}"
        problems.append(Problem((*loc, "identity", "birth_date"), "before_birth", message))
    return problems


class EmployeeInsuranceAcquired(Payload):
    """資格取得届: the person joins employee insurance on `acquired_on` (may be pre-filed).

    The person and each listed dependant are referred to by resident code or basic pension
    number (the number is mandatory on 資格取得届); dependants are born on or before
    `acquired_on`.
    """

    EVENT_TYPE: ClassVar[str] = "EmployeeInsuranceAcquired"
    FILER: ClassVar[FilerKind] = FilerKind.EMPLOYER
    EFFECTIVE_FIELD: ClassVar[str | None] = "acquired_on"
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = NUMBER_KEYS

    person: PersonReference
    identity: IdentityItems
    insurer_number: EmployeeInsurerNumber
    insured_number: InsuredNumber
    acquired_on: Day = Field(description="資格取得日")
    dependants: tuple[Dependant, ...] = Field(default=(), max_length=50)

    def cross_field_problems(self) -> list[Problem]:
        return [
            problem
            for index, dependant in enumerate(self.dependants)
            for problem in _dependant_problems(
                ("dependants", index), dependant, self.acquired_on, self.EVENT_TYPE, "acquired_on"
            )
        ]


class EmployeeInsuranceLost(Payload):
    """資格喪失届: the loss date is the day after the last day of employment (checked).

    For a death, `last_day_of_employment` is the date of death; the loss is the day after.
    """

    EVENT_TYPE: ClassVar[str] = "EmployeeInsuranceLost"
    FILER: ClassVar[FilerKind] = FilerKind.EMPLOYER
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"

    person: PersonReference
    identity: IdentityItems
    insurer_number: EmployeeInsurerNumber
    insured_number: InsuredNumber
    last_day_of_employment: Day
    lost_on: Day = Field(description="資格喪失日 = last_day_of_employment + 1 day")

    def cross_field_problems(self) -> list[Problem]:
        if self.lost_on == self.last_day_of_employment + timedelta(days=1):
            return []
        message = "lost_on must be the day after last_day_of_employment (資格喪失日)"
        return [Problem(("lost_on",), "loss_date", message)]


class DependantChanged(Payload):
    """被扶養者異動届: a dependant of the insured `person` is added or removed on `changed_on`.

    An added dependant is referred to by resident code or basic pension number and is born on
    or before `changed_on`.
    """

    EVENT_TYPE: ClassVar[str] = "DependantChanged"
    FILER: ClassVar[FilerKind] = FilerKind.EMPLOYER
    EFFECTIVE_FIELD: ClassVar[str | None] = "changed_on"

    person: PersonReference = Field(description="the insured person")
    identity: IdentityItems = Field(description="the insured person's identity items")
    insurer_number: EmployeeInsurerNumber
    change: DependantChange
    dependant: Dependant
    changed_on: Day

    def cross_field_problems(self) -> list[Problem]:
        if self.change is not DependantChange.ADDED:
            return []
        return _dependant_problems(
            ("dependant",), self.dependant, self.changed_on, self.EVENT_TYPE, "changed_on"
        )


PAYLOADS = (EmployeeInsuranceAcquired, EmployeeInsuranceLost, DependantChanged)
