"""Secret values: person-level numbers and identity items, masked everywhere but on the wire.

`repr`, `str`, logs and validation errors show a mask; JSON dumps carry the clear value.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, core_schema

from schemas.base import Loc, error, in_calendar, iso_day

MASK = "********"
DATE_MASK = "****-**-**"
SECRET_MARK = "x-secret"


class Secret:
    """A secret string (a name, an address part, a person-level number): masked when shown."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{type(self).__name__} holds a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The clear value: only for insurance business, never for logs or errors."""
        return self._value

    def get_secret_value(self) -> str:
        """The clear value (pydantic's SecretStr spelling of `reveal`)."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret) or type(other) is not type(self):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (type(self), (self._value,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return SecretText().__get_pydantic_core_schema__(source, handler)


class SecretNumber(Secret):
    """A person-level number (resident code, pension, insured or recipient number)."""

    __slots__ = ()


class SecretDate:
    """A secret date (a date of birth): masked when shown, ISO 8601 on the wire."""

    __slots__ = ("_value",)
    _value: date

    def __init__(self, value: date) -> None:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError("SecretDate holds a date")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> date:
        """The clear date: only for insurance business, never for logs or errors."""
        return self._value

    def get_secret_value(self) -> date:
        """The clear date (pydantic's SecretDate spelling of `reveal`)."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SecretDate is immutable")

    def __repr__(self) -> str:
        return f"SecretDate('{DATE_MASK}')"

    def __str__(self) -> str:
        return DATE_MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretDate):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(("SecretDate", self._value))

    def __reduce__(self) -> tuple[type[SecretDate], tuple[date]]:
        return (SecretDate, (self._value,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        wrapped = core_schema.no_info_after_validator_function(
            lambda value: cls(in_calendar(value)), core_schema.date_schema()
        )
        return _masked(core_schema.no_info_before_validator_function(_unwrap_date, wrapped))

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), SECRET_MARK: True}


def _unwrap_date(value: object) -> object:
    return iso_day(value.reveal() if isinstance(value, SecretDate) else value)


def _unwrap(value: object) -> object:
    return value.reveal() if isinstance(value, Secret | SecretDate) else value


def _on_the_wire(value: Secret | SecretDate, info: core_schema.SerializationInfo) -> object:
    """JSON carries the clear value; a Python dump keeps the masked wrapper."""
    if not info.mode_is_json():
        return value
    clear = value.reveal()
    return clear if isinstance(clear, str) else clear.isoformat()


def _masked(schema: CoreSchema) -> CoreSchema:
    """`schema` with errors whose input is the mask, and the wire serializer."""
    return core_schema.no_info_wrap_validator_function(
        _mask_errors,
        schema,
        serialization=core_schema.plain_serializer_function_ser_schema(
            _on_the_wire, info_arg=True, return_schema=core_schema.any_schema()
        ),
    )


def _mask_errors(value: object, handler: core_schema.ValidatorFunctionWrapHandler) -> object:
    """Re-raise validation errors with the input replaced by the mask, whatever the config."""
    try:
        return handler(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    details = [
        InitErrorDetails(type=error(e["type"], e["msg"]), loc=e["loc"], input=MASK) for e in errors
    ]
    raise ValidationError.from_exception_data("Secret", details, hide_input=True)


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


@dataclass(frozen=True)
class SecretText:
    """Annotation for a `Secret` field: length, format and an extra check, none echoing values.

    `pattern` is a regular expression valid in both Python and JSON Schema (use `[0-9]`, not
    `\\d`); `what` completes the message "must be ..." when the pattern does not match.
    """

    what: str = "text"
    pattern: str | None = None
    min_length: int = 1
    max_length: int = 100
    check: Callable[[str], None] | None = None

    def validate(self, value: str) -> str:
        """`value` if it is acceptable, else a pydantic error that does not contain it."""
        if _has_control(value):
            raise error("control_character", "must not contain control characters")
        if not value.strip():
            raise error("blank", "must not be blank")
        if self.pattern is not None and not _fullmatch(self.pattern, value):
            raise error("format", f"must be {self.what}")
        if self.check is not None:
            self.check(value)
        return value

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        wrap = source if isinstance(source, type) and issubclass(source, Secret) else Secret
        text = core_schema.str_schema(
            min_length=self.min_length, max_length=self.max_length, strict=True
        )
        checked = core_schema.no_info_after_validator_function(self.validate, text)
        wrapped = core_schema.no_info_after_validator_function(wrap, checked)
        return _masked(core_schema.no_info_before_validator_function(_unwrap, wrapped))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        extra: dict[str, Any] = {SECRET_MARK: True}
        if self.pattern is not None:
            extra["pattern"] = self.pattern
        return {**handler(schema), **extra}


def _fullmatch(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value, flags=re.ASCII) is not None


def iter_secrets(model: BaseModel, path: Loc = ()) -> Iterator[tuple[Loc, Secret | SecretDate]]:
    """Every secret inside `model`, nested models and lists included, with its location."""
    for name in type(model).model_fields:
        yield from _walk(getattr(model, name), (*path, name))


def _walk(value: object, path: Loc) -> Iterator[tuple[Loc, Secret | SecretDate]]:
    if isinstance(value, Secret | SecretDate):
        yield path, value
    elif isinstance(value, BaseModel):
        yield from iter_secrets(value, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
