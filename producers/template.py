"""Filings written back as CSV rows in the batch layout: for templates, examples and tests.

The inverse of `producers.convert`: the payload flattened by dotted paths, dates in ISO.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

from producers.paths import flatten
from schemas import Filing

ENVELOPE_ORDER = (
    "event_type",
    "filer_code",
    "filing_reference",
    "person_token",
    "occurred_at",
    "schema_version",
)


def csv_row(filing: Filing) -> dict[str, str]:
    """`filing` as one CSV row by column name (secrets in clear: this is a filing, not a log)."""
    wire = filing.model_dump(mode="json")
    row = {name: str(wire[name]) for name in ENVELOPE_ORDER}
    row.update((column, str(value)) for column, value in flatten(wire["payload"]))
    return row


def columns_of(rows: Iterable[Mapping[str, str]]) -> list[str]:
    """Every column of `rows`, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def csv_text(rows: Iterable[Mapping[str, str]], columns: list[str] | None = None) -> str:
    """`rows` as CSV text with a header; missing cells are empty."""
    rows = list(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or columns_of(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
