"""The base every message model shares, and the helper that reports problems at a field.

Models are frozen, reject unknown fields and never echo an input value in a validation error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, NamedTuple

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
JST = timezone(timedelta(hours=9), "JST")
EARLIEST_DAY = date(1800, 1, 1)
LATEST_DAY = date(2999, 12, 31)
CALENDAR = f"between {EARLIEST_DAY} and {LATEST_DAY}"
"""The calendar a filing's dates and the relay's times lie in: no true filing names a day
outside it, and inside it every computation of the relay (ages up to 75 years on, deadlines of
days) stays far inside Python's calendar (years 1 to 9999)."""


class Problem(NamedTuple):
    """One cross-field problem: where it is, its error type and a message without values."""

    loc: Loc
    type: str
    message: str


class ContractModel(BaseModel):
    """Base of every model on the wire: frozen, closed, and silent about input values."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=True,
    )


def error(error_type: str, message: str) -> PydanticCustomError:
    """A pydantic error of `error_type`; `message` must be built without input values."""
    return PydanticCustomError(error_type, message)


def raise_problems(title: str, problems: Iterable[Problem]) -> None:
    """Raise one ValidationError listing `problems` at their own locations; no-op when empty."""
    details = [
        InitErrorDetails(type=error(p.type, p.message), loc=p.loc, input=None) for p in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details, hide_input=True)


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(value: object) -> object:
    """Let a date or a YYYY-MM-DD string through; refuse numbers and other spellings."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    raise error("date_format", "must be a date written YYYY-MM-DD")


def iso_instant(value: object) -> object:
    """Let a datetime or an ISO 8601 string through; refuse numbers (epoch seconds)."""
    if isinstance(value, datetime | str):
        return value
    raise error("datetime_format", "must be an ISO 8601 date-time with a UTC offset")


def in_calendar(value: date) -> date:
    """`value` when it lies in the relay's calendar (EARLIEST_DAY to LATEST_DAY)."""
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise error("date_range", f"must be a date {CALENDAR}")
    return value


def instant_in_calendar(value: datetime) -> datetime:
    """`value` when its date, where it was written and in Japan, lies in the relay's calendar."""
    if not EARLIEST_DAY <= value.date() <= LATEST_DAY:
        raise error("date_range", f"must be a date-time {CALENDAR}")
    if not EARLIEST_DAY <= value.astimezone(JST).date() <= LATEST_DAY:  # safe: a day off at most
        raise error("date_range", f"must be a date-time whose Japan date is {CALENDAR}")
    return value


Day = Annotated[date, BeforeValidator(iso_day), AfterValidator(in_calendar)]
"""A date in the relay's calendar, written YYYY-MM-DD: every date of a filing."""
AnyDay = Annotated[date, BeforeValidator(iso_day)]
"""A date the relay computed (a link's end at an age bound can lie 75 years after a filing)."""
Instant = Annotated[
    AwareDatetime, BeforeValidator(iso_instant), AfterValidator(instant_in_calendar)
]
"""A moment with a UTC offset whose Japan date lies in the relay's calendar."""
