"""Every row of a batch checked before anything is sent: a routed Filing or its problems.

Pure. A problem gives the line, the field (column or dotted path) and a reason, never a value.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from producers.batch_rows import MAX_CELL_CHARS, Batch, CsvRow, JsonRow, Row
from producers.convert import FILER_KIND_COLUMN, document
from producers.routing import FILER_KINDS, RETRACTION, Outgoing, kind_of, route
from schemas import Filing, FilingRejected, Reason, decode_filing, encode
from schemas.codec import validate
from schemas.identifiers import FILER_CODE_PATTERN, FILING_REFERENCE_PATTERN
from schemas.payload import FilerKind
from schemas.topics import MAX_MESSAGE_BYTES

RECORD_OVERHEAD = 512  # record-batch and record headers the broker counts against the limit
PAYLOAD_PREFIX = "payload."
OVERSIZED = f"the cell is longer than a filing may be ({MAX_CELL_CHARS:,} characters)"


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row; `field` None means the row as a whole."""

    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field or '(row)'}: {self.reason}"


@dataclass(frozen=True)
class RowResult:
    """A row's outcome: the filing and its topic when the row is valid, else its problems."""

    line: int
    filing_reference: str | None
    filer_code: str | None
    filing: Filing | None = None
    topic: str | None = None
    problems: tuple[RowProblem, ...] = ()
    filer_kind: FilerKind | None = None

    @property
    def ok(self) -> bool:
        return self.outgoing is not None

    @property
    def outgoing(self) -> Outgoing | None:
        """The record to publish, for a valid and routed row."""
        if self.filing is None or self.topic is None or self.problems:
            return None
        return Outgoing(self.filing, self.topic)


def validate_batch(
    batch: Batch, filer: str | None = None, filer_kind: FilerKind | None = None
) -> tuple[RowResult, ...]:
    """Each row of `batch` checked; duplicates within the file and retraction topics settled."""
    checked = [checked_row(row, filer) for row in batch.rows]
    checked = _mark_duplicates(checked)
    return tuple(_settle_topics(checked, filer_kind))


def checked_row(row: Row, filer: str | None = None) -> RowResult:
    """`check_row`, except that a row whose checking raises is reported, not fatal: one bad
    row must never keep the file's good rows from being published."""
    try:
        return check_row(row, filer)
    except Exception as exc:
        problem = RowProblem(row.line, None, f"the row could not be checked ({type(exc).__name__})")
        return RowResult(line=row.line, filing_reference=None, filer_code=None,
                         problems=(problem,))


def check_row(row: Row, filer: str | None = None) -> RowResult:
    """One row checked on its own: a Filing (not yet routed) or its problems."""
    if isinstance(row, JsonRow):
        return _json_row(row, filer)
    return _csv_row(row, filer)


def _csv_row(row: CsvRow, filer: str | None) -> RowResult:
    doc = document(row.cells, filer)
    problems = [RowProblem(row.line, column, OVERSIZED) for column in row.oversized]
    problems += [RowProblem(row.line, column, reason) for column, reason in doc.problems]
    if row.extra_cells:
        problems.append(RowProblem(row.line, None, "the row has more cells than the header"))
    kind, kind_problem = _kind_cell(row.cells.get(FILER_KIND_COLUMN))
    if kind_problem:
        problems.append(RowProblem(row.line, FILER_KIND_COLUMN, kind_problem))
    filing, reasons = validate(Filing, doc.data)
    reported = doc.reported | set(row.oversized)
    for reason in reasons:
        field = _column(reason.field)
        if field not in reported and field != "event_id":
            problems.append(RowProblem(row.line, field, reason.message))
    return _result(row.line, filing, problems, doc.data, kind)


def _kind_cell(cell: str | None) -> tuple[FilerKind | None, str | None]:
    if cell is None:
        return None, None
    if cell.strip() not in FILER_KINDS:
        return None, f"must be one of {', '.join(FILER_KINDS)}"
    return FilerKind(cell.strip()), None


def _column(field: str | None) -> str | None:
    """A schema reason's field as the CSV column: the payload's paths lose `payload.`."""
    if field is None or field == "payload":
        return field
    return field.removeprefix(PAYLOAD_PREFIX)


def _json_row(row: JsonRow, filer: str | None) -> RowResult:
    try:
        filing = decode_filing(row.text.encode("utf-8"))
    except FilingRejected as exc:
        problems = [_from_reason(row.line, reason) for reason in exc.reasons]
        address = {"filer_code": exc.filer_code, "filing_reference": exc.filing_reference}
        return _result(row.line, None, problems, address, None)
    problems = []
    if filer is not None and filing.filer_code != filer:
        problems.append(RowProblem(row.line, "filer_code", "differs from the --filer option"))
    address = {"filer_code": filing.filer_code, "filing_reference": filing.filing_reference}
    return _result(row.line, filing, problems, address, None)


def _from_reason(line: int, reason: Reason) -> RowProblem:
    return RowProblem(line, reason.field, reason.message)


def _result(
    line: int,
    filing: Filing | None,
    problems: list[RowProblem],
    data: Mapping[str, Any],
    kind: FilerKind | None,
) -> RowResult:
    reference = _matching(data.get("filing_reference"), FILING_REFERENCE_PATTERN)
    code = _matching(data.get("filer_code"), FILER_CODE_PATTERN)
    if filing is not None and not problems:
        problems = _size_problems(line, filing)
    return RowResult(
        line=line,
        filing_reference=reference,
        filer_code=code,
        filing=filing if not problems else None,
        problems=tuple(problems),
        filer_kind=kind,
    )


def _matching(value: object, pattern: str) -> str | None:
    """`value` when it is a well-formed (public) code or reference, else None."""
    return value if isinstance(value, str) and re.fullmatch(pattern, value) else None


def _size_problems(line: int, filing: Filing) -> list[RowProblem]:
    size = len(encode(filing)) + len(filing.kafka_key()) + RECORD_OVERHEAD
    if size <= MAX_MESSAGE_BYTES:
        return []
    limit = MAX_MESSAGE_BYTES - RECORD_OVERHEAD
    return [RowProblem(line, None, f"the filing is too large: {size} bytes encoded, limit {limit}")]


def _mark_duplicates(results: list[RowResult]) -> list[RowResult]:
    first: dict[tuple[str, str], int] = {}
    marked = []
    for result in results:
        key = (result.filer_code or "", result.filing_reference or "")
        if result.filing_reference is None or result.filer_code is None:
            marked.append(result)
            continue
        if key in first:
            reason = f"duplicate filing_reference: already used on line {first[key]}"
            result = _reject(result, RowProblem(result.line, "filing_reference", reason))
        else:
            first[key] = result.line
        marked.append(result)
    return marked


def _reject(result: RowResult, problem: RowProblem) -> RowResult:
    return replace(result, filing=None, topic=None, problems=(*result.problems, problem))


def _settle_topics(results: list[RowResult], default: FilerKind | None) -> list[RowResult]:
    kinds = _kinds_by_filer(results)
    settled = []
    for result in results:
        filing = result.filing
        if filing is None:
            settled.append(result)
            continue
        if filing.event_type != RETRACTION:
            settled.append(replace(result, topic=route(filing).topic))
            continue
        settled.append(_route_retraction(result, filing, kinds, default))
    return settled


def _kinds_by_filer(results: list[RowResult]) -> dict[str, set[FilerKind]]:
    kinds: dict[str, set[FilerKind]] = defaultdict(set)
    for result in results:
        filing = result.filing
        if filing is not None and filing.event_type != RETRACTION:
            kinds[filing.filer_code].add(kind_of(filing.event_type))
    return kinds


def _route_retraction(
    result: RowResult,
    filing: Filing,
    kinds: dict[str, set[FilerKind]],
    default: FilerKind | None,
) -> RowResult:
    seen = kinds.get(filing.filer_code, set())
    kind = result.filer_kind or default or (next(iter(seen)) if len(seen) == 1 else None)
    if kind is None:
        reason = (
            f"{RETRACTION} goes to the filer's own topic: give filer_kind "
            f"({', '.join(FILER_KINDS)}) or file it with the filer's other filings"
        )
        return _reject(result, RowProblem(result.line, FILER_KIND_COLUMN, reason))
    return replace(result, topic=route(filing, kind).topic)
