"""One CSV row → the Filing document `schemas` validates: envelope, dates read, payload nested.

Pure; problems name the column and never carry a cell's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from producers.paths import Path, date_paths, join_path, pattern_of, split_path, unflatten
from producers.wareki import DateProblem, parse_date, parse_instant
from schemas import PAYLOADS, event_id_for
from schemas.codec import MAX_INT_DIGITS
from schemas.filings import versions_of

ENVELOPE_COLUMNS = (
    "event_type",
    "filing_reference",
    "person_token",
    "occurred_at",
    "schema_version",
    "filer_code",
)
FILER_KIND_COLUMN = "filer_kind"
OWN_COLUMNS = (*ENVELOPE_COLUMNS, FILER_KIND_COLUMN)


@dataclass
class Document:
    """The Filing document of a row, the problems found converting it and the columns they name."""

    data: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def problem(self, column: str, reason: str) -> None:
        self.problems.append((column, reason))

    @property
    def reported(self) -> set[str]:
        """Columns with a conversion problem (schema reasons about them would repeat it)."""
        return {column for column, _ in self.problems}


def document(cells: Mapping[str, str], filer: str | None = None) -> Document:
    """The Filing document for the non-empty `cells` of a row, `filer` filling `filer_code`."""
    doc = Document()
    envelope = {name: cells[name].strip() for name in ENVELOPE_COLUMNS if name in cells}
    doc.data.update(envelope)
    _filer_code(doc, envelope.get("filer_code"), filer)
    model = _payload_model(doc, envelope.get("event_type"), envelope.get("schema_version"))
    _occurred_at(doc, envelope.get("occurred_at"))
    payload_cells = {k: v for k, v in cells.items() if k not in OWN_COLUMNS}
    payload = _payload(doc, payload_cells, date_paths(model) if model else frozenset())
    doc.data["payload"] = payload
    effective = getattr(model, "EFFECTIVE_FIELD", None)
    value = payload.get(effective) if effective else None
    doc.data["effective_date"] = value if isinstance(value, date) else None
    code, reference = doc.data.get("filer_code"), doc.data.get("filing_reference")
    if isinstance(code, str) and isinstance(reference, str):
        doc.data["event_id"] = event_id_for(code, reference)
    return doc


def _filer_code(doc: Document, cell: str | None, filer: str | None) -> None:
    if cell is not None and filer is not None and cell != filer:
        doc.problem("filer_code", "differs from the --filer option")
    elif cell is None and filer is not None:
        doc.data["filer_code"] = filer


def _payload_model(doc: Document, event_type: str | None, version: str | None) -> Any:
    known = versions_of(event_type) if event_type else ()
    if version is None:
        if known:
            doc.data["schema_version"] = known[-1]
        return PAYLOADS.get((event_type, known[-1])) if known else None
    if not version.isascii() or not version.isdigit() or len(version) > MAX_INT_DIGITS:
        doc.problem("schema_version", "must be a whole number such as 1")
        del doc.data["schema_version"]
        return None
    doc.data["schema_version"] = int(version)
    return PAYLOADS.get((event_type, int(version)))


def _occurred_at(doc: Document, cell: str | None) -> None:
    if cell is None:
        return
    try:
        doc.data["occurred_at"] = parse_instant(cell)
    except DateProblem as exc:
        doc.problem("occurred_at", str(exc))
        del doc.data["occurred_at"]


def _payload(doc: Document, cells: Mapping[str, str], dates: frozenset[Path]) -> dict[str, Any]:
    values: dict[Path, Any] = {}
    for column, cell in cells.items():
        path = split_path(column)
        if pattern_of(path) not in dates:
            values[path] = cell
            continue
        try:
            values[path] = parse_date(cell)
        except DateProblem as exc:
            doc.problem(column, str(exc))
    nested, gaps = unflatten(values)
    for path, reason in gaps:
        doc.problem(join_path(path), reason)
    return nested
