"""Field types for the identifiers of DOMAIN.md §5: public institution numbers and secret ones.

Institution numbers are plain strings ops may see; person-level numbers are `SecretNumber`s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from schemas import checkdigits as cd
from schemas.base import error
from schemas.secret import Secret, SecretNumber, SecretText


def _as_pydantic(validator: Callable[[str], str]) -> Callable[[str], str]:
    def run(value: str) -> str:
        try:
            return validator(value)
        except cd.NumberFormatError as exc:
            kind, message = exc.kind, exc.message
        raise error(kind, message)

    return run


CHECK_DIGIT_RULE = (
    "last digit = (10 - sum mod 10) mod 10, the sum adding the digits of the products of the "
    "other digits by 2, 1, 2, 1, ... from the rightmost"
)


@dataclass(frozen=True)
class CheckedNumber:
    """Annotation for a public number with a check digit (see `schemas.checkdigits`)."""

    validator: Callable[[str], str]
    pattern: str

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            _as_pydantic(self.validator), core_schema.str_schema(strict=True)
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.pattern, "x-check-digit": CHECK_DIGIT_RULE}


def _either_insurer_number(value: str) -> str:
    if len(value) == 6:
        return cd.validate_municipal_insurer_number(value)
    return cd.validate_health_insurer_number(value)


def _recipient_check(value: str) -> None:
    _as_pydantic(cd.validate_recipient_number)(value)


EIGHT = "^[0-9]{8}$"

HealthInsurerNumber = Annotated[str, CheckedNumber(cd.validate_health_insurer_number, EIGHT)]
EmployeeInsurerNumber = Annotated[str, CheckedNumber(cd.validate_employee_insurer_number, EIGHT)]
LateStageInsurerNumber = Annotated[
    str, CheckedNumber(cd.validate_late_stage_insurer_number, "^39[0-9]{6}$")
]
MunicipalInsurerNumber = Annotated[
    str, CheckedNumber(cd.validate_municipal_insurer_number, "^[0-9]{6}$")
]
InsurerNumber = Annotated[str, CheckedNumber(_either_insurer_number, "^[0-9]{6}([0-9]{2})?$")]
PublicExpensePayerNumber = Annotated[
    str, CheckedNumber(cd.validate_public_expense_payer_number, EIGHT)
]

RecipientNumber = Annotated[
    SecretNumber,
    SecretText(what="7 ASCII digits", pattern="^[0-9]{7}$", max_length=7, check=_recipient_check),
]
ResidentCode = Annotated[
    SecretNumber, SecretText(what="11 ASCII digits", pattern="^[0-9]{11}$", max_length=11)
]
BasicPensionNumber = Annotated[
    SecretNumber,
    SecretText(
        what="4 + 6 ASCII digits, written 1234-567890 or 1234567890",
        pattern="^[0-9]{4}-?[0-9]{6}$",
        max_length=11,
    ),
]
CareInsuredNumber = Annotated[
    SecretNumber, SecretText(what="10 ASCII digits", pattern="^[0-9]{10}$", max_length=10)
]
InsuredText = Annotated[SecretNumber, SecretText(what="an insured symbol or number", max_length=38)]
InsuredBranch = Annotated[
    SecretNumber, SecretText(what="2 ASCII digits", pattern="^[0-9]{2}$", max_length=2)
]
IdentityText = Annotated[Secret, SecretText(what="text", max_length=100)]
HouseholdToken = Annotated[
    SecretNumber,
    SecretText(what="1-64 printable ASCII characters without spaces", pattern="^[!-~]{1,64}$",
               max_length=64),
]
"""A municipality's own reference of a household (世帯): opaque to the relay, secret as a number."""

FILER_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,19}$"
FILING_REFERENCE_PATTERN = r"^[!-~](?:[ -~]{0,62}[!-~])?$"
PERSON_TOKEN_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

FilerCode = Annotated[str, StringConstraints(strict=True, pattern=FILER_CODE_PATTERN)]
FilingReference = Annotated[str, StringConstraints(strict=True, pattern=FILING_REFERENCE_PATTERN)]
PersonToken = Annotated[str, StringConstraints(strict=True, pattern=PERSON_TOKEN_PATTERN)]
RelayId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ReceiptId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
InstitutionCode = FilerCode
