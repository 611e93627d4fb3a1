"""Payloads municipalities (市町村) file on `filing.municipality.v1`.

Residency (births, deaths, moves, names, corrections) and NHI, long-term-care and 75+ cover.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from schemas.base import ContractModel, Day, Problem, error
from schemas.common import (
    Capacity,
    CareInsuredNumber,
    IdentityItems,
    InsuredNumber,
    LateStageInsurerNumber,
    MunicipalInsurerNumber,
    PersonReference,
    ResidentCode,
    Sex,
    StructuredAddress,
)
from schemas.identifiers import HouseholdToken, IdentityText
from schemas.payload import FilerKind, Payload
from schemas.secret import SecretDate


class Household(ContractModel):
    """The resident household (世帯) a person belongs to, by the municipality's own token."""

    token: HouseholdToken = Field(
        description="the municipality's own opaque reference of the household (secret)"
    )
    householder: bool = Field(description="whether the person is the householder (世帯主)")

    @field_validator("householder", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        """A JSON boolean, or a batch cell reading `true`/`false` in any case (a spreadsheet
        writes TRUE): not pydantic's lax "1", "yes", "on", "t", "n", 1 or 1.0, which a flag
        that addresses NHI notices to a person must not be guessed from."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise error("bool_parsing", "householder must be true or false")


HOUSEHOLD = (
    "the household (世帯) the person belongs to from the effective date; optional, null when "
    "the municipality does not tell it (filings without it keep their meaning)"
)


class _Registration(Payload):
    """A resident record was created on `registered_on`; registration is never pre-filed."""

    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "registered_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("registered_on",)

    resident_code: ResidentCode
    identity: IdentityItems
    registered_on: Day
    household: Household | None = Field(default=None, description=HOUSEHOLD)


class ResidentRegistered(_Registration):
    """A resident as on the register at go-live (initial load)."""

    EVENT_TYPE: ClassVar[str] = "ResidentRegistered"


class BirthRegistered(_Registration):
    """出生届: a birth was registered; the birth date is not after `registered_on`."""

    EVENT_TYPE: ClassVar[str] = "BirthRegistered"


class ArrivalFromAbroadRegistered(_Registration):
    """A person arriving from abroad was registered."""

    EVENT_TYPE: ClassVar[str] = "ArrivalFromAbroadRegistered"


class DeathRegistered(Payload):
    """死亡届: the person died on `died_on`, which is not after the filing date."""

    EVENT_TYPE: ClassVar[str] = "DeathRegistered"
    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "died_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("died_on",)

    person: PersonReference
    identity: IdentityItems
    died_on: Day


class _AddressChange(Payload):
    """The person's address changes to `new_address` on `moved_on`."""

    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "moved_on"

    person: PersonReference
    identity: IdentityItems = Field(description="identity items as before the change")
    new_address: StructuredAddress
    moved_on: Day


class MovedIn(_AddressChange):
    """転入: filed after the move, so `moved_on` is not after the filing date."""

    EVENT_TYPE: ClassVar[str] = "MovedIn"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("moved_on",)

    household: Household | None = Field(default=None, description=HOUSEHOLD)


class MovedOut(_AddressChange):
    """転出: may be filed before the move, so `moved_on` may be after the filing date."""

    EVENT_TYPE: ClassVar[str] = "MovedOut"


class AddressChanged(_AddressChange):
    """転居 (within the municipality): filed after the move."""

    EVENT_TYPE: ClassVar[str] = "AddressChanged"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("moved_on",)

    household: Household | None = Field(default=None, description=HOUSEHOLD)


class HouseholdChange(StrEnum):
    """How a person's household changes without a move."""

    SEPARATION = "separation"  # 世帯分離: the person leaves to form a household of their own
    MERGER = "merger"  # 世帯合併: the person's household joins another
    HOUSEHOLDER_CHANGE = "householder_change"  # 世帯主変更: another member becomes householder


class HouseholdChanged(Payload):
    """世帯変更届: the person's household is `household` from `changed_on`, filed after it.

    One filing per person whose membership changes (a householder change is filed for the new
    householder and for the old one alike)."""

    EVENT_TYPE: ClassVar[str] = "HouseholdChanged"
    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "changed_on"
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ("changed_on",)

    person: PersonReference
    identity: IdentityItems
    kind: HouseholdChange
    household: Household = Field(description="the household the person belongs to from changed_on")
    changed_on: Day


class AddressRenamed(_AddressChange):
    """住居表示: the address is renamed from `moved_on`, which may be announced ahead."""

    EVENT_TYPE: ClassVar[str] = "AddressRenamed"


class NameChanged(Payload):
    """氏名変更: the new name, as filed, from `changed_on`."""

    EVENT_TYPE: ClassVar[str] = "NameChanged"
    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "changed_on"

    person: PersonReference
    identity: IdentityItems = Field(description="identity items as before the change")
    new_kanji_name: IdentityText
    new_kana_name: IdentityText
    changed_on: Day


class CorrectedItems(ContractModel):
    """The identity items a correction changes: only those, at least one."""

    kanji_name: IdentityText | None = None
    kana_name: IdentityText | None = None
    birth_date: SecretDate | None = None
    sex: Sex | None = None
    address: StructuredAddress | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> CorrectedItems:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise error("nothing_corrected", "give at least one corrected identity item")
        return self


class ResidentRecordCorrected(Payload):
    """職権修正: identity items corrected from `corrected_from` (the old ones may be wrong).

    The recorded date of birth may itself be the error, so dates are not checked against it.
    """

    EVENT_TYPE: ClassVar[str] = "ResidentRecordCorrected"
    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY
    EFFECTIVE_FIELD: ClassVar[str | None] = "corrected_from"
    BIRTH_BOUNDED: ClassVar[bool] = False

    person: PersonReference
    identity: IdentityItems = Field(description="identity items as before the correction")
    corrected: CorrectedItems
    corrected_from: Day


class _NhiQualification(Payload):
    """NHI (国民健康保険): everyone is insured in their own right, so no dependants."""

    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY

    person: PersonReference
    identity: IdentityItems
    insurer_number: MunicipalInsurerNumber
    insured_number: InsuredNumber
    capacity: Capacity = Field(default=Capacity.INSURED, description="always insured in NHI")

    def cross_field_problems(self) -> list[Problem]:
        if self.capacity is Capacity.INSURED:
            return []
        return [Problem(("capacity",), "capacity", "NHI knows its members as insured only")]


class NhiQualificationAcquired(_NhiQualification):
    """NHI membership from `acquired_on` (e.g. the employee-insurance loss date)."""

    EVENT_TYPE: ClassVar[str] = "NhiQualificationAcquired"
    EFFECTIVE_FIELD: ClassVar[str | None] = "acquired_on"

    acquired_on: Day


class NhiQualificationLost(_NhiQualification):
    """NHI membership ends: `lost_on` is the first day without it."""

    EVENT_TYPE: ClassVar[str] = "NhiQualificationLost"
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"

    lost_on: Day


class _CareQualification(Payload):
    """Long-term-care insurance (介護保険) of a municipality, 10-digit care insured number."""

    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY

    person: PersonReference
    identity: IdentityItems
    insurer_number: MunicipalInsurerNumber
    care_insured_number: CareInsuredNumber


class LongTermCareQualificationAcquired(_CareQualification):
    """Long-term-care qualification from `acquired_on`."""

    EVENT_TYPE: ClassVar[str] = "LongTermCareQualificationAcquired"
    EFFECTIVE_FIELD: ClassVar[str | None] = "acquired_on"

    acquired_on: Day


class LongTermCareQualificationLost(_CareQualification):
    """Long-term-care qualification ends: `lost_on` is the first day without it."""

    EVENT_TYPE: ClassVar[str] = "LongTermCareQualificationLost"
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"

    lost_on: Day


class _LateStageQualification(Payload):
    """The 75+ scheme (後期高齢者医療): insurer number with law code 39, no dependants."""

    FILER: ClassVar[FilerKind] = FilerKind.MUNICIPALITY

    person: PersonReference
    identity: IdentityItems
    insurer_number: LateStageInsurerNumber
    insured_number: InsuredNumber


class LateStageElderlyQualificationAcquired(_LateStageQualification):
    """75+ scheme from `acquired_on` (the 75th birthday itself, DOMAIN.md §5b)."""

    EVENT_TYPE: ClassVar[str] = "LateStageElderlyQualificationAcquired"
    EFFECTIVE_FIELD: ClassVar[str | None] = "acquired_on"

    acquired_on: Day


class LateStageElderlyQualificationLost(_LateStageQualification):
    """75+ scheme ends: `lost_on` is the first day without it (date of death + 1, a move)."""

    EVENT_TYPE: ClassVar[str] = "LateStageElderlyQualificationLost"
    EFFECTIVE_FIELD: ClassVar[str | None] = "lost_on"

    lost_on: Day


PAYLOADS = (
    ResidentRegistered,
    BirthRegistered,
    ArrivalFromAbroadRegistered,
    DeathRegistered,
    MovedIn,
    MovedOut,
    AddressChanged,
    AddressRenamed,
    NameChanged,
    ResidentRecordCorrected,
    HouseholdChanged,
    NhiQualificationAcquired,
    NhiQualificationLost,
    LongTermCareQualificationAcquired,
    LongTermCareQualificationLost,
    LateStageElderlyQualificationAcquired,
    LateStageElderlyQualificationLost,
)
