"""A batch file as rows: CSV (UTF-8 with or without BOM, or CP932) or JSON Lines of Filings.

Parsing is pure (`parse_batch` takes bytes); `read_batch` only adds reading the file. No error
quotes a cell: cells are names and numbers; column names and line numbers are what it gives.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from producers.convert import OWN_COLUMNS
from producers.paths import check_columns, is_path
from schemas.topics import MAX_MESSAGE_BYTES

Format = Literal["csv", "jsonl"]

UTF8 = "utf-8"
CP932 = "cp932"
ENCODINGS: dict[str, str] = {
    "utf-8": UTF8,
    "utf8": UTF8,
    "utf-8-sig": UTF8,
    "cp932": CP932,
    "ms932": CP932,
    "windows-31j": CP932,
    "shift_jis": CP932,
    "sjis": CP932,
}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
BOM = b"\xef\xbb\xbf"
# what ends a physical line: the CSV reader's universal newlines; JSON Lines split on \n
LINE_BREAKS: dict[str, re.Pattern[bytes]] = {
    "csv": re.compile(rb"\r\n|\r|\n"),
    "jsonl": re.compile(rb"\n"),
}
MAX_CELL_CHARS = MAX_MESSAGE_BYTES  # a longer cell can never fit in a filing
EXPECTED_HEADER = (
    "the first line must name the columns: event_type, filing_reference, person_token, "
    "occurred_at and filer_code (unless --filer is given), then payload fields as dotted "
    "paths such as identity.kanji_name"
)
LISTED_CELLS = 10


class BatchUnreadable(ValueError):
    """The file cannot be read as a batch; the message says why without any cell's value."""


@dataclass(frozen=True)
class CsvRow:
    """One CSV data row: the physical line it starts on and its non-empty cells by column.

    `oversized` names the columns whose cells were longer than MAX_CELL_CHARS (left out)."""

    line: int
    cells: dict[str, str]
    extra_cells: int = 0
    oversized: tuple[str, ...] = ()


@dataclass(frozen=True)
class JsonRow:
    """One JSON Lines row: its line number and the line's text (one Filing object)."""

    line: int
    text: str


Row = CsvRow | JsonRow


@dataclass(frozen=True)
class Batch:
    """The rows of one file, with the format and encoding it was read in."""

    format: Format
    encoding: str
    rows: tuple[Row, ...]
    columns: tuple[str, ...] = field(default=())


def read_batch(path: Path, encoding: str | None = None) -> Batch:
    """The batch in the file at `path`; BatchUnreadable when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BatchUnreadable(f"cannot read the file: {exc.strerror or exc}") from None
    return parse_batch(raw, format=format_of(path.name, raw), encoding=encoding)


def format_of(name: str, raw: bytes) -> Format:
    """JSON Lines for .jsonl/.ndjson, CSV for .csv; otherwise by whether it starts with `{`."""
    lower = name.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    return "jsonl" if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def parse_batch(raw: bytes, format: Format = "csv", encoding: str | None = None) -> Batch:
    """The rows in `raw`, decoded with `encoding` or detected (UTF-8 strictly, else CP932)."""
    text, used = decode(raw, encoding, format)
    if format == "jsonl":
        return Batch("jsonl", used, tuple(_json_rows(text)))
    columns, rows = parse_csv(text)
    return Batch("csv", used, rows, columns)


def decode(raw: bytes, encoding: str | None = None, format: Format = "csv") -> tuple[str, str]:
    """The text of `raw` and the encoding used; a UTF-8 byte order mark is dropped.

    Detected, the file is UTF-8 when it all is, else CP932 when no line of it is UTF-8 text;
    a file mixing the two is refused, naming its first line that is not UTF-8. Lines are
    physical lines as `format` counts them."""
    if encoding is not None and encoding.lower() not in ENCODINGS:
        raise BatchUnreadable(f"unknown encoding {encoding!r}: use utf-8 or cp932")
    breaks = LINE_BREAKS[format]
    if encoding is not None:
        name = ENCODINGS[encoding.lower()]
        try:
            return _decoded(raw, name), name
        except UnicodeDecodeError as exc:
            line = _line_of(_body(raw, name), exc.start, breaks)
        raise BatchUnreadable(f"the file is not {name.upper()} text (bad byte on line {line})")
    try:
        return _decoded(raw, UTF8), UTF8
    except UnicodeDecodeError as exc:
        not_utf8 = _line_of(_body(raw, UTF8), exc.start, breaks)
    utf8 = _first_utf8_line(raw, breaks)
    if utf8 is not None:
        raise BatchUnreadable(
            f"the file mixes encodings: line {not_utf8} is not UTF-8 text, line {utf8} is; "
            "save the whole file as UTF-8 or as CP932 (--encoding forces one)"
        )
    try:
        return _decoded(raw, CP932), CP932
    except UnicodeDecodeError as exc:
        not_cp932 = _line_of(raw, exc.start, breaks)
    raise BatchUnreadable(
        f"the file is neither UTF-8 nor CP932 text (line {not_utf8} is not UTF-8, "
        f"line {not_cp932} is not CP932)"
    )


def _body(raw: bytes, encoding: str) -> bytes:
    return raw[len(BOM) :] if encoding == UTF8 and raw.startswith(BOM) else raw


def _decoded(raw: bytes, encoding: str) -> str:
    return _body(raw, encoding).decode(encoding)


def _line_of(raw: bytes, offset: int, breaks: re.Pattern[bytes]) -> int:
    """The physical line (from 1) holding byte `offset` (line breaks are ASCII in both)."""
    return len(breaks.findall(raw, 0, offset)) + 1


def _first_utf8_line(raw: bytes, breaks: re.Pattern[bytes]) -> int | None:
    """The first line with text beyond ASCII that is UTF-8 (a byte order mark counts)."""
    for number, line in enumerate(breaks.split(raw), start=1):
        if line.isascii():
            continue
        try:
            line.decode(UTF8)
        except UnicodeDecodeError:
            continue
        return number
    return None


def _json_rows(text: str) -> Iterator[JsonRow]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield JsonRow(number, line.rstrip("\r"))


def parse_csv(text: str) -> tuple[tuple[str, ...], tuple[CsvRow, ...]]:
    """The header's columns and the data rows of CSV `text`; blank rows are skipped."""
    # the whole text is in memory already: no cell can be longer, so the reader never
    # refuses a file for one long cell; MAX_CELL_CHARS then makes only its row bad
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        columns = _columns(header)
        rows = tuple(_csv_rows(reader, columns))
    except csv.Error as exc:
        raise BatchUnreadable(f"not CSV near line {reader.line_num}: {exc}") from None
    return columns, rows


def _columns(header: list[str] | None) -> tuple[str, ...]:
    if not header or not any(cell.strip() for cell in header):
        raise BatchUnreadable("the file is empty: the first line must name the columns")
    columns = [cell.strip() for cell in header]
    _check_header_row(columns)
    blank = [str(i) for i, name in enumerate(columns, start=1) if not name]
    if blank:
        raise BatchUnreadable(f"the header has no name for column(s) {', '.join(blank)}")
    problems = check_columns(columns)
    if problems:
        raise BatchUnreadable("; ".join(problems))
    return tuple(columns)


def _check_header_row(columns: list[str]) -> None:
    """Refuse a first line that is data: a cell that is no column name, or no envelope column.

    The reason gives cell positions only: a data row's cells are names and numbers."""
    data = [i for i, name in enumerate(columns, start=1) if name and not is_path(name)]
    if data:
        listed = ", ".join(str(i) for i in data[:LISTED_CELLS])
        more = f" and {len(data) - LISTED_CELLS} more" if len(data) > LISTED_CELLS else ""
        cells = f"cell {listed} is not a column name"
        if len(data) > 1:
            cells = f"cells {listed}{more} are not column names"
        raise BatchUnreadable(f"the first line is not a header row ({cells}); {EXPECTED_HEADER}")
    if not set(columns) & set(OWN_COLUMNS):
        raise BatchUnreadable(
            f"the first line is not a header row (it names no envelope column); {EXPECTED_HEADER}"
        )


def _csv_rows(reader: Any, columns: tuple[str, ...]) -> Iterator[CsvRow]:
    line = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            extra = cells[len(columns) :]
            pairs = list(zip(columns, cells, strict=False))
            oversized = tuple(c for c, v in pairs if len(v) > MAX_CELL_CHARS)
            kept = {c: v for c, v in pairs if v.strip() and len(v) <= MAX_CELL_CHARS}
            yield CsvRow(line, kept, sum(1 for v in extra if v.strip()), oversized)
        line = reader.line_num + 1
