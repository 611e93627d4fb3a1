"""A batch file as rows: CSV (UTF-8 with or without BOM, or CP932) or JSON Lines of Filings.

Parsing is pure (`parse_batch` takes bytes); `read_batch` only adds reading the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from producers.paths import PathError, check_columns

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


class BatchUnreadable(ValueError):
    """The file cannot be read as a batch; the message says why without any cell's value."""


@dataclass(frozen=True)
class CsvRow:
    """One CSV data row: the physical line it starts on and its non-empty cells by column."""

    line: int
    cells: dict[str, str]
    extra_cells: int = 0


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
    text, used = decode(raw, encoding)
    if format == "jsonl":
        return Batch("jsonl", used, tuple(_json_rows(text)))
    columns, rows = parse_csv(text)
    return Batch("csv", used, rows, columns)


def decode(raw: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of `raw` and the encoding used; a UTF-8 byte order mark is dropped."""
    if encoding is not None and encoding.lower() not in ENCODINGS:
        raise BatchUnreadable(f"unknown encoding {encoding!r}: use utf-8 or cp932")
    tried = [ENCODINGS[encoding.lower()]] if encoding else [UTF8, CP932]
    for name in tried:
        try:
            return raw.decode("utf-8-sig" if name == UTF8 else name), name
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
    names = " nor ".join(n.upper() for n in tried)
    either = "neither " if len(tried) > 1 else ""
    raise BatchUnreadable(f"the file is {either or 'not '}{names} text (bad byte on line {line})")


def _json_rows(text: str) -> Iterator[JsonRow]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield JsonRow(number, line.rstrip("\r"))


def parse_csv(text: str) -> tuple[tuple[str, ...], tuple[CsvRow, ...]]:
    """The header's columns and the data rows of CSV `text`; blank rows are skipped."""
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
    blank = [str(i) for i, name in enumerate(columns, start=1) if not name]
    if blank:
        raise BatchUnreadable(f"the header has no name for column(s) {', '.join(blank)}")
    try:
        problems = check_columns(columns)
    except PathError as exc:
        raise BatchUnreadable(str(exc)) from None
    if problems:
        raise BatchUnreadable("; ".join(problems))
    return tuple(columns)


def _csv_rows(reader: Any, columns: tuple[str, ...]) -> Iterator[CsvRow]:
    line = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            extra = cells[len(columns) :]
            kept = {c: v for c, v in zip(columns, cells, strict=False) if v.strip()}
            yield CsvRow(line, kept, sum(1 for v in extra if v.strip()))
        line = reader.line_num + 1
