"""The purpose policy: which asking insurer may ask which scheme for which data, why and for
how long, each permission a row of `purpose_policy.csv` citing its law; anything else is denied.
A row with a disclosure delay is a lawful covert query: its access-log entries stay sealed from
the person for that many days of relay time.

Pure: the file is parsed strictly (a bad file is refused whole, its error naming a line and a
column, never a value) and the rules are plain functions over the parsed rows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TypeVar

from schemas.exchange_terms import DataCategory, ExchangeScheme, Purpose

COLUMNS = ("row", "role", "scheme", "category", "purpose", "span", "max_days",
           "disclosure_delay_days", "law", "article", "paragraph", "item", "note")
MAX_DISCLOSURE_DELAY = 3650
"""The longest a covert query's entries may stay sealed: ten years of relay time (longer than
the log keeps them, seven years, would mean never)."""
VERSION_LINE = re.compile(r"# purpose policy version ([0-9]{4}-[0-9]{2}-[0-9]{2})")
ROW_ID = re.compile(r"P[0-9]{2,}")
ARTICLE = re.compile(r"第[0-9]+条(の[0-9]+)*")
PARAGRAPH = re.compile(r"第[0-9]+項")
ITEM = re.compile(r"第[0-9]+号(の[0-9]+)*")
POSITIVE = re.compile(r"[1-9][0-9]{0,5}")
WHOLE = re.compile(r"0|[1-9][0-9]{0,3}")

E = TypeVar("E", bound=StrEnum)


class AskerRole(StrEnum):
    """The asking insurer's role for the person: the scheme under which it covers them."""

    MEDICAL_INSURER = "medical_insurer"
    CARE_INSURER = "care_insurer"
    PENSION_INSURER = "pension_insurer"


_ROLE_OF_SCHEME = {"medical": AskerRole.MEDICAL_INSURER,
                   "long_term_care": AskerRole.CARE_INSURER,
                   "pension": AskerRole.PENSION_INSURER}


def asker_role(scheme: str) -> AskerRole | None:
    """The role of an insurer whose link to the person is of this scheme (None: no role)."""
    return _ROLE_OF_SCHEME.get(scheme)


class Span(StrEnum):
    """What time a request covers: one date, or a period from one date to another."""

    AS_OF = "as_of"
    PERIOD = "period"


@dataclass(frozen=True)
class PolicyRow:
    """One permitted exchange and the provision that permits it."""

    row: str
    role: AskerRole
    scheme: ExchangeScheme
    category: DataCategory
    purpose: Purpose
    span: Span
    max_days: int
    disclosure_delay_days: int  # 0: the person sees the entries at once
    law: str
    article: str
    paragraph: str
    item: str
    note: str

    def citation(self) -> str:
        """The provision, as cited: "健康保険法施行令 第43条の2 第1項" (号 when the row has one)."""
        return " ".join(part for part in (self.law, self.article, self.paragraph, self.item)
                        if part)

    def key(self) -> tuple[str, str, str, str, str]:
        """What no two rows share: (role, scheme, category, purpose, span)."""
        return (self.role, self.scheme, self.category, self.purpose, self.span)

    def disclose_from(self, relay_day: date) -> date | None:
        """The relay date from which the person sees an access this row allowed on
        `relay_day`: None when the row has no delay (seen at once)."""
        if not self.disclosure_delay_days:
            return None
        return relay_day + timedelta(days=self.disclosure_delay_days)


@dataclass(frozen=True)
class Policy:
    """A version of the purpose policy: its rows, everything else denied."""

    version: str
    rows: tuple[PolicyRow, ...]

    def allowing(self, role: AskerRole, scheme: ExchangeScheme, category: DataCategory,
                 purpose: Purpose, span: Span, days: int) -> PolicyRow | None:
        """The row that allows this request for `days` days (inclusive), or None: denied."""
        if days < 1:
            return None
        for row in self.rows:
            if row.key() == (role, scheme, category, purpose, span):
                return row if days <= row.max_days else None
        return None

    def row(self, row_id: str) -> PolicyRow | None:
        """The row with id `row_id` (None: no such row in this version)."""
        return next((r for r in self.rows if r.row == row_id), None)

    def permits(self, role: AskerRole, scheme: ExchangeScheme, category: DataCategory,
                purpose: Purpose) -> bool:
        """Whether some row allows (role, scheme, category, purpose), for either span."""
        return any(row.key()[:4] == (role, scheme, category, purpose) for row in self.rows)


class PolicyFileError(ValueError):
    """The policy file is not a valid policy; the message names a line and a column only."""


def parse_policy(text: str) -> Policy:
    """The policy in `text`: a version line, the exact header, then one valid row a line."""
    buffer = io.StringIO(text, newline="")
    version = _version(buffer.readline())
    reader = csv.reader(buffer, strict=True)
    rows: list[PolicyRow] = []
    seen_ids: dict[str, int] = {}
    seen_keys: dict[tuple[str, ...], int] = {}
    header = False
    try:
        for values in reader:
            line = reader.line_num + 1
            if not header:
                if tuple(values) != COLUMNS:
                    raise PolicyFileError(f"line {line}: the header is not "
                                          f"{','.join(COLUMNS)}")
                header = True
                continue
            row = _row(line, values)
            if row.row in seen_ids:
                raise PolicyFileError(f"line {line}, column row: the id is already used "
                                      f"on line {seen_ids[row.row]}")
            if row.key() in seen_keys:
                raise PolicyFileError(f"line {line}: the same role, scheme, category, purpose "
                                      f"and span as line {seen_keys[row.key()]}")
            seen_ids[row.row], seen_keys[row.key()] = line, line
            rows.append(row)
    except csv.Error:
        raise PolicyFileError(f"line {reader.line_num + 1}: not valid CSV") from None
    if not header:
        raise PolicyFileError("line 2: the header is missing")
    return Policy(version=version, rows=tuple(rows))


@cache
def default_policy() -> Policy:
    """The shipped policy, `purpose_policy.csv` next to this module, parsed once."""
    text = resources.files(__package__).joinpath("purpose_policy.csv").read_text("utf-8")
    return parse_policy(text)


def policy_from(path: str | None) -> Policy:
    """The policy in the file at `path` (UTF-8), or the shipped one when `path` is None or
    empty; PolicyFileError (naming a line and a column) when the file is no valid policy."""
    if not path:
        return default_policy()
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as failure:
        raise PolicyFileError(f"the policy file cannot be read ({type(failure).__name__})") \
            from None
    return parse_policy(text)


def span_days(start: date, end: date) -> int:
    """Days from `start` to `end`, both counted (a one-day period is 1)."""
    if end < start:
        raise ValueError("a period cannot end before it starts")
    return (end - start).days + 1


def reference_date(purpose: Purpose, as_of: date | None,
                   period: tuple[date, date] | None) -> date:
    """The date on which the asking insurer must cover the person to ask about them.

    An as-of request: its date. A period: the base date its purpose names, which is the
    period's last day for every purpose. For combined_high_cost that last day is 31 July, the
    基準日 of the 1 August – 31 July period (DOMAIN §6; the base dates of a person who dies or
    moves to the 75+ scheme are the asker's to choose as the period's end); for the other
    purposes the asker asks about the time it covered the person up to. Exactly one of
    `as_of` and `period` is given.
    """
    if (as_of is None) == (period is None):
        raise ValueError("give either an as-of date or a period")
    if as_of is not None:
        return as_of
    assert period is not None
    start, end = period
    span_days(start, end)  # a period that ends before it starts is no period
    return end  # combined_high_cost: the 基準日; every other purpose: the period's last day


def _version(first: str) -> str:
    match = VERSION_LINE.fullmatch(first.removeprefix("\ufeff").rstrip("\r\n"))
    if match is None:
        raise PolicyFileError("line 1: expected '# purpose policy version YYYY-MM-DD'")
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        raise PolicyFileError("line 1: the version is not a date") from None
    return match.group(1)


def _row(line: int, values: list[str]) -> PolicyRow:
    if len(values) != len(COLUMNS):
        raise PolicyFileError(f"line {line}: expected {len(COLUMNS)} columns")
    cells = dict(zip(COLUMNS, values, strict=True))
    span = _member(line, "span", Span, cells["span"])
    max_days = _max_days(line, cells["max_days"], span)
    for column, pattern in (("row", ROW_ID), ("article", ARTICLE), ("paragraph", PARAGRAPH)):
        if not pattern.fullmatch(cells[column]):
            raise PolicyFileError(f"line {line}, column {column}: missing or malformed")
    if cells["item"] and not ITEM.fullmatch(cells["item"]):
        raise PolicyFileError(f"line {line}, column item: malformed")
    if not cells["law"].strip() or cells["law"] != cells["law"].strip():
        raise PolicyFileError(f"line {line}, column law: missing or padded")
    return PolicyRow(
        row=cells["row"], role=_member(line, "role", AskerRole, cells["role"]),
        scheme=_member(line, "scheme", ExchangeScheme, cells["scheme"]),
        category=_member(line, "category", DataCategory, cells["category"]),
        purpose=_member(line, "purpose", Purpose, cells["purpose"]),
        span=span, max_days=max_days,
        disclosure_delay_days=_delay(line, cells["disclosure_delay_days"]), law=cells["law"],
        article=cells["article"],
        paragraph=cells["paragraph"], item=cells["item"], note=cells["note"])


def _member(line: int, column: str, kind: type[E], value: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise PolicyFileError(f"line {line}, column {column}: not a known value") from None


def _delay(line: int, value: str) -> int:
    if not WHOLE.fullmatch(value) or int(value) > MAX_DISCLOSURE_DELAY:
        raise PolicyFileError(f"line {line}, column disclosure_delay_days: not a whole number "
                              f"from 0 to {MAX_DISCLOSURE_DELAY}")
    return int(value)


def _max_days(line: int, value: str, span: Span) -> int:
    if not POSITIVE.fullmatch(value):
        raise PolicyFileError(f"line {line}, column max_days: not a positive whole number")
    days = int(value)
    if span is Span.AS_OF and days != 1:
        raise PolicyFileError(f"line {line}, column max_days: an as_of row allows 1 day")
    return days
