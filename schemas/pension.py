"""Payloads the Japan Pension Service (日本年金機構) files on `filing.pension.v1`.

Basic pension number assignment and pension qualification (厚生年金, 国民年金 type 1/2/3).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas.base import Day
from schemas.common import (
    BasicPensionNumber,
    IdentityItems,
    PensionCategory,
    PersonKey,
    PersonReference,
)
from schemas.payload import FilerKind, Payload


class BasicPensionNumberAssigned(Payload):
    """A basic pension number (基礎年金番号) was assigned to the resident; not after filing."""

    EVENT_TYPE: ClassVar[str] = "BasicPensionNumberAssigned"
    FILER: ClassVar[FilerKind] = FilerKind.PENSION
    EFFECTIVE_FIELD: ClassVar[str | None] = "assigned_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("assigned_on",)
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = (PersonKey.RESIDENT_CODE,)

    person: PersonReference
    identity: IdentityItems
    basic_pension_number: BasicPensionNumber
    assigned_on: Day


class PensionQualificationAcquired(Payload):
    """The person acquired a pension qualification of `category` on `acquired_on`."""

    EVENT_TYPE: ClassVar[str] = "PensionQualificationAcquired"
    FILER: ClassVar[FilerKind] = FilerKind.PENSION
    EFFECTIVE_FIELD: ClassVar[str | None] = "acquired_on"
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = (PersonKey.BASIC_PENSION_NUMBER,)

    person: PersonReference
    identity: IdentityItems
    category: PensionCategory
    acquired_on: Day


class PensionQualificationLost(Payload):
    """The person lost a pension qualification of `category` on `lost_on` (資格喪失日)."""

    EVENT_TYPE: ClassVar[str] = "PensionQualificationLost"
    FILER: ClassVar[FilerKind] = FilerKind.PENSION
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"

    person: PersonReference
    identity: IdentityItems
    category: PensionCategory
    lost_on: Day = Field(description="資格喪失日: the first day without the qualification")


PAYLOADS = (BasicPensionNumberAssigned, PensionQualificationAcquired, PensionQualificationLost)
