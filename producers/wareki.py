"""Dates as Japanese filers write them: ISO, slashed, compact or 和暦 (令和7年4月1日, R7.4.1).

Pure functions; errors are `DateProblem`s whose messages never repeat the text they were given.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")
GREGORIAN_FROM = date(1873, 1, 1)  # 明治6年1月1日: Japan's first day on the Gregorian calendar


class DateProblem(ValueError):
    """A date or date-time that cannot be read; the message says why without the text."""


@dataclass(frozen=True)
class Era:
    """A Japanese era (元号): its name, its letter and its first day."""

    name: str
    letter: str
    start: date


ERAS: tuple[Era, ...] = (
    Era("明治", "M", date(1868, 10, 23)),
    Era("大正", "T", date(1912, 7, 30)),
    Era("昭和", "S", date(1926, 12, 25)),
    Era("平成", "H", date(1989, 1, 8)),
    Era("令和", "R", date(2019, 5, 1)),
)

_ERA_BY_SPELLING: dict[str, Era] = {
    spelling: era
    for era in ERAS
    for spelling in (era.name, era.name[0], era.letter, era.letter.lower())
}

FORMATS_HELP = "write YYYY-MM-DD, YYYY/M/D, YYYYMMDD or 和暦 such as 令和7年4月1日 or R7.4.1"
ERA_HELP = "the date is not within its era (平成 ends on 31年4月30日, 令和 begins on 元年5月1日)"

_SEP = r"[-/.]"
_GREGORIAN = (
    re.compile(rf"(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_ERA_NAMES = "|".join(sorted(map(re.escape, _ERA_BY_SPELLING), key=len, reverse=True))
_WAREKI = (
    re.compile(rf"({_ERA_NAMES})(元|\d{{1,2}})年(\d{{1,2}})月(\d{{1,2}})日"),
    re.compile(rf"({_ERA_NAMES})(元|\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})"),
)
_TIME = re.compile(
    r"(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)


MAX_TEXT = 64
"""The longest date or date-time cell read: the longest notation (a 和暦 date with a time, a
fraction and an offset) is under 40 characters, and a longer cell is refused before any pattern
runs, so no cell can make a pattern's backtracking cost more than a bounded amount."""


def _bounded(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise DateProblem(f"longer than {MAX_TEXT} characters: {FORMATS_HELP}")
    return text


def _normalise(text: str) -> str:
    """NFKC (full-width digits, ㍻ → 平成), without any spaces."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def parse_date(text: str) -> date:
    """The calendar date `text` names; DateProblem when it names none."""
    value = _normalise(_bounded(text))
    for pattern in _GREGORIAN:
        if match := pattern.fullmatch(value):
            return _day(*map(int, match.groups()))
    for pattern in _WAREKI:
        if match := pattern.fullmatch(value):
            era, year, month, day = match.groups()
            return from_wareki(
                _ERA_BY_SPELLING[era], 1 if year == "元" else int(year), int(month), int(day)
            )
    raise DateProblem(f"not a date: {FORMATS_HELP}")


def from_wareki(era: Era, year: int, month: int, day: int) -> date:
    """The Gregorian date of `era` year `year` (元年 = 1); DateProblem outside the era."""
    if year < 1:
        raise DateProblem("an era year starts at 1 (元年)")
    result = _day(era.start.year + year - 1, month, day)
    following = next((e.start for e in ERAS if e.start > era.start), None)
    if result < era.start or (following is not None and result >= following):
        raise DateProblem(ERA_HELP)
    if result < GREGORIAN_FROM:
        raise DateProblem("dates before 明治6年 (1873) follow the old calendar: write them in ISO")
    return result


def _day(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateProblem("no such day in the calendar") from None


def parse_instant(text: str) -> datetime:
    """The moment `text` names; a date alone is midnight, no UTC offset means Japan time."""
    value = unicodedata.normalize("NFKC", _bounded(text)).strip()
    match = _TIME.search(value)
    if match is None:
        return datetime.combine(parse_date(value), datetime.min.time(), JST)
    day = parse_date(value[: match.start()])
    hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        return datetime(
            day.year,
            day.month,
            day.day,
            int(hour),
            int(minute),
            int(second or 0),
            micro,
            _zone(offset),
        )
    except ValueError:
        raise DateProblem("no such time of day") from None


def _zone(offset: str | None) -> timezone:
    if offset is None:
        return JST
    if offset == "Z":
        return UTC
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise DateProblem("the UTC offset is out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if offset[0] == "-" else delta)
