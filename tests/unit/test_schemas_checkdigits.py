"""Check digits of DOMAIN.md §5, on hand-computed numbers, and the field types built on them."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import checkdigits as cd
from schemas.identifiers import (
    EmployeeInsurerNumber,
    HealthInsurerNumber,
    LateStageInsurerNumber,
    MunicipalInsurerNumber,
    PublicExpensePayerNumber,
    RecipientNumber,
)
from schemas.secret import SecretNumber

# Hand computations: weights 2, 1, 2, 1, … from the rightmost digit of the body; the digits of
# each product are added (12 → 1 + 2); check = (10 − sum mod 10) mod 10.
#
# 0113001 (協会けんぽ 東京): 1×2=2, 0×1=0, 0×2=0, 3×1=3, 1×2=2, 1×1=1, 0×2=0 → 8 → check 2
# 13101   (千代田区 NHI):     1×2=2, 0×1=0, 1×2=2, 3×1=3, 1×2=2 → 9 → check 1
# 3913100 (75+ scheme, 東京): 0, 0, 1×2=2, 3, 1×2=2, 9, 3×2=6 → 22 → check 8
# 1213601 (公費):             1×2=2, 0, 6×2=12→3, 3, 1×2=2, 2, 1×2=2 → 14 → check 6
# 123456  (受給者番号):        6×2=12→3, 5, 4×2=8, 3, 2×2=4, 1 → 24 → check 6
# 0613999:                  9×2=18→9, 9, 9×2=18→9, 3, 1×2=2, 6, 0×2=0 → 38 → check 2
HAND_COMPUTED = [
    ("0113001", 2),
    ("13101", 1),
    ("3913100", 8),
    ("1213601", 6),
    ("123456", 6),
    ("0613999", 2),
    ("0000000", 0),
]


@pytest.mark.parametrize(("body", "expected"), HAND_COMPUTED)
def test_check_digit_matches_hand_computation(body: str, expected: int) -> None:
    assert cd.check_digit(body) == expected
    assert cd.has_valid_check_digit(cd.with_check_digit(body))


@pytest.mark.parametrize(
    "number", ["01130012", "131011", "39131008", "12136016", "1234566", "06139992"]
)
def test_valid_numbers_pass(number: str) -> None:
    assert cd.has_valid_check_digit(number)


@pytest.mark.parametrize(
    "number", ["01130013", "131012", "39131009", "12136017", "1234567", "06139997"]
)
def test_wrong_check_digit_fails(number: str) -> None:
    assert not cd.has_valid_check_digit(number)


@pytest.mark.parametrize("number", ["０１１３００１２", "0113001A", "", "1"])
def test_non_ascii_or_short_numbers_never_pass(number: str) -> None:
    assert not cd.has_valid_check_digit(number)


@pytest.mark.parametrize(
    ("annotation", "good", "bad", "kind"),
    [
        (HealthInsurerNumber, "01130012", "01130013", "check_digit"),
        (HealthInsurerNumber, "01130012", "0113001", "format"),
        (EmployeeInsurerNumber, "01130012", "39131008", "law_code"),
        (LateStageInsurerNumber, "39131008", "01130012", "law_code"),
        (LateStageInsurerNumber, "39131008", "39131009", "check_digit"),
        (MunicipalInsurerNumber, "131011", "131012", "check_digit"),
        (MunicipalInsurerNumber, "131011", "01130012", "format"),
        (PublicExpensePayerNumber, "12136016", "12136017", "check_digit"),
    ],
)
def test_public_number_types(annotation: object, good: str, bad: str, kind: str) -> None:
    adapter = TypeAdapter(annotation)
    assert adapter.validate_python(good) == good
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(bad)
    assert caught.value.errors()[0]["type"] == kind


def test_recipient_number_is_secret_and_checked() -> None:
    adapter = TypeAdapter(RecipientNumber)
    value = adapter.validate_python("1234566")
    assert isinstance(value, SecretNumber)
    assert value.reveal() == "1234566"
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python("1234567")
    assert caught.value.errors()[0]["type"] == "check_digit"
    assert "1234567" not in str(caught.value)


def test_messages_never_contain_the_number() -> None:
    with pytest.raises(cd.NumberFormatError) as caught:
        cd.validate_recipient_number("7654321")
    assert "7654321" not in str(caught.value)
    assert caught.value.kind == "check_digit"
