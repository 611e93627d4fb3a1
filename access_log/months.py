"""One tree per month of relay time, so that retention works: which log an access belongs to,
and which months' trees may be deleted whole on a relay date (seven years after their end).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

RETENTION_YEARS = 7
ORIGIN_PREFIX = "shaho-relay access log "
MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def month_of(relay_time: datetime) -> str:
    """The month (YYYY-MM) of an access at `relay_time` (the relay clock runs in UTC)."""
    if relay_time.tzinfo is None or relay_time.utcoffset() is None:
        raise ValueError("relay time is timezone-aware")
    utc = relay_time.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def origin(month: str) -> str:
    """The name of a month's log, the first line of its heads."""
    _parse(month)
    return ORIGIN_PREFIX + month


def head_origin(log: str, month: str) -> str:
    """The first line of a named log's month's heads: the month's log name, and which log."""
    return f"{origin(month)} {log}"


def _parse(month: str) -> tuple[int, int]:
    found = MONTH.fullmatch(month) if isinstance(month, str) else None
    if found is None:
        raise ValueError("a month is written YYYY-MM")
    return int(found[1]), int(found[2])


def deletable_from(month: str) -> date:
    """The first relay date on which `month`'s tree may be deleted: the day after its last
    day, seven years on (entries of 2026-12 are kept through 2033-12-31)."""
    year, number = _parse(month)
    if number == 12:
        return date(year + 1 + RETENTION_YEARS, 1, 1)
    return date(year + RETENTION_YEARS, number + 1, 1)


def expired(months: list[str], today: date) -> list[str]:
    """The months whose trees are deleted whole on relay date `today`, oldest first."""
    return sorted(m for m in months if today >= deletable_from(m))
