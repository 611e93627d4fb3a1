"""Check digits of insurer, public-expense payer and recipient numbers (DOMAIN.md §5).

Pure functions, stdlib only; their error messages never contain the number itself.
"""

from __future__ import annotations

LATE_STAGE_LAW_CODE = "39"


class NumberFormatError(ValueError):
    """A number is malformed; `kind` is `format`, `check_digit` or `law_code`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _is_ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def check_digit(body: str) -> int:
    """The check digit for the ASCII digits `body` (the number without its check digit).

    From the rightmost digit of `body`, weights 2, 1, 2, 1, …; the digits of each product are
    added; check = (10 − sum mod 10) mod 10.
    """
    if not body or not _is_ascii_digits(body):
        raise NumberFormatError("format", "the body of a checked number must be ASCII digits")
    total = 0
    for position, char in enumerate(reversed(body)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def with_check_digit(body: str) -> str:
    """`body` followed by its check digit."""
    return f"{body}{check_digit(body)}"


def has_valid_check_digit(number: str) -> bool:
    """Whether the last digit of the ASCII-digit `number` is the check digit of the others."""
    if len(number) < 2 or not _is_ascii_digits(number):
        return False
    return check_digit(number[:-1]) == int(number[-1])


def _checked(number: str, length: int, what: str) -> str:
    if len(number) != length or not _is_ascii_digits(number):
        raise NumberFormatError("format", f"a {what} must be {length} ASCII digits")
    if not has_valid_check_digit(number):
        raise NumberFormatError("check_digit", f"the check digit of the {what} does not match")
    return number


def validate_health_insurer_number(number: str) -> str:
    """An 8-digit health insurer number: law code 2 + prefecture 2 + insurer 3 + check 1."""
    return _checked(number, 8, "health insurer number")


def validate_late_stage_insurer_number(number: str) -> str:
    """An 8-digit insurer number of the 75+ scheme (後期高齢者医療): law code 39."""
    validate_health_insurer_number(number)
    if number[:2] != LATE_STAGE_LAW_CODE:
        raise NumberFormatError("law_code", "a 75+ scheme insurer number has law code 39")
    return number


def validate_employee_insurer_number(number: str) -> str:
    """An 8-digit insurer number of employee health insurance: any law code but 39."""
    validate_health_insurer_number(number)
    if number[:2] == LATE_STAGE_LAW_CODE:
        raise NumberFormatError(
            "law_code", "law code 39 is the 75+ scheme, not employee health insurance"
        )
    return number


def validate_municipal_insurer_number(number: str) -> str:
    """A 6-digit NHI or long-term-care insurer number: prefecture 2 + insurer 3 + check 1."""
    return _checked(number, 6, "NHI or long-term-care insurer number")


def validate_public_expense_payer_number(number: str) -> str:
    """An 8-digit public-expense payer number (公費負担者番号)."""
    return _checked(number, 8, "public-expense payer number")


def validate_recipient_number(number: str) -> str:
    """A 7-digit public-expense recipient number (受給者番号): 6 digits + check digit."""
    return _checked(number, 7, "recipient number")


def is_late_stage(number: str) -> bool:
    """Whether an 8-digit insurer number belongs to the 75+ scheme (law code 39)."""
    return len(number) == 8 and number.startswith(LATE_STAGE_LAW_CODE)
