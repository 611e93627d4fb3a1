"""Parts shared by the filings: enums, the structured address, identity items and references.

Identity items are carried as filed; normalising them for matching is the linker's business.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from schemas.base import ContractModel, error
from schemas.identifiers import (
    BasicPensionNumber,
    CareInsuredNumber,
    EmployeeInsurerNumber,
    HealthInsurerNumber,
    IdentityText,
    InsuredBranch,
    InsuredText,
    InsurerNumber,
    LateStageInsurerNumber,
    MunicipalInsurerNumber,
    PublicExpensePayerNumber,
    RecipientNumber,
    ResidentCode,
)
from schemas.secret import Secret, SecretDate, SecretNumber, SecretText

__all__ = [
    "BasicPensionNumber",
    "Capacity",
    "CareInsuredNumber",
    "EmployeeInsurerNumber",
    "HealthInsurerNumber",
    "IdentityItems",
    "InsuredNumber",
    "InsurerNumber",
    "LateStageInsurerNumber",
    "MunicipalInsurerNumber",
    "PensionCategory",
    "PersonKey",
    "PersonReference",
    "PublicExpensePayerNumber",
    "RecipientNumber",
    "ResidentCode",
    "Scheme",
    "Secret",
    "SecretDate",
    "SecretNumber",
    "SecretText",
    "Sex",
    "StructuredAddress",
]


class Scheme(StrEnum):
    """The kind of scheme a link belongs to."""

    PENSION = "pension"
    MEDICAL = "medical"
    LONG_TERM_CARE = "long_term_care"
    PUBLIC_EXPENSE = "public_expense"
    RESIDENT = "resident"


class Capacity(StrEnum):
    """In which capacity a scheme knows the person; voluntary continuation counts as cover."""

    INSURED = "insured"
    DEPENDANT = "dependant"
    VOLUNTARY_CONTINUATION = "voluntary_continuation"


class PensionCategory(StrEnum):
    """Pension qualification: employee pension (厚生年金) or national pension type 1, 2 or 3."""

    EMPLOYEE_PENSION = "employee_pension"
    NATIONAL_TYPE1 = "national_type1"
    NATIONAL_TYPE2 = "national_type2"
    NATIONAL_TYPE3 = "national_type3"


class Sex(StrEnum):
    """Sex as recorded in the resident register."""

    MALE = "male"
    FEMALE = "female"


class PersonKey(StrEnum):
    """Which number a `PersonReference` uses."""

    RESIDENT_CODE = "resident_code"
    BASIC_PENSION_NUMBER = "basic_pension_number"
    INSURED_NUMBER = "insured_number"
    CARE_INSURED_NUMBER = "care_insured_number"


class StructuredAddress(ContractModel):
    """An address in structured fields, as filed (numbers may be kanji or full-width)."""

    prefecture: IdentityText = Field(description="都道府県")
    municipality: IdentityText = Field(description="市区町村 (with 郡 or 政令市の区)")
    town: IdentityText = Field(description="町字")
    chome: IdentityText | None = Field(default=None, description="丁目")
    banchi: IdentityText | None = Field(default=None, description="番 or 番地")
    go: IdentityText | None = Field(default=None, description="号")
    building: IdentityText | None = Field(default=None, description="building and room")


class IdentityItems(ContractModel):
    """The five identity items (DOMAIN.md §5a), all required and carried as filed."""

    kanji_name: IdentityText = Field(description="氏名 in kanji, as filed")
    kana_name: IdentityText = Field(description="氏名 in kana, as filed")
    birth_date: SecretDate = Field(description="生年月日")
    sex: Sex
    address: StructuredAddress


class InsuredNumber(ContractModel):
    """被保険者記号・番号・枝番: symbol and number may contain kanji and kana (港いろは１２３４)."""

    symbol: InsuredText | None = Field(default=None, description="記号, as issued")
    number: InsuredText = Field(description="番号, as issued")
    branch: InsuredBranch | None = Field(default=None, description="枝番, 2 digits")


def canonical_insured_number(symbol: str | None, number: str, branch: str | None) -> str:
    """The one text of an insured symbol/number/branch (clear parts, as issued): the relay
    indexes a member's number by it and the insurer's own member store keys it the same way."""
    return "|".join(part or "" for part in (symbol, number, branch))


def canonical_pension_number(number: str) -> str:
    """The one text of a basic pension number: its 10 digits, with or without the hyphen."""
    return number.replace("-", "")


class PersonReference(ContractModel):
    """Who a record is about: exactly one person-level number."""

    resident_code: ResidentCode | None = Field(default=None, description="住民票コード")
    basic_pension_number: BasicPensionNumber | None = Field(
        default=None, description="基礎年金番号"
    )
    insured_number: InsuredNumber | None = Field(
        default=None, description="the insured number at the filing's insurer"
    )
    care_insured_number: CareInsuredNumber | None = Field(
        default=None, description="介護保険被保険者番号"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PersonReference:
        given = [key for key in PersonKey if getattr(self, key.value) is not None]
        if len(given) != 1:
            names = ", ".join(key.value for key in PersonKey)
            raise error("person_reference", f"give exactly one of {names}")
        return self

    @property
    def key(self) -> PersonKey:
        """Which number this reference uses."""
        return next(key for key in PersonKey if getattr(self, key.value) is not None)
