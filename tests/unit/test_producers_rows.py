"""Reading batch files: CP932 and UTF-8 (with BOM) with 髙橋/ﾔﾏﾀﾞ names, physical line numbers,
header problems, JSON Lines detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.batch_rows import (
    BatchUnreadable,
    CsvRow,
    JsonRow,
    decode,
    format_of,
    parse_batch,
    read_batch,
)
from producers.validate import validate_batch
from schemas import encode
from tests.fixtures.examples import example_filing
from tests.fixtures.template import csv_row, csv_text

NAMES = {
    "identity.kanji_name": "髙橋 﨑子",
    "identity.kana_name": "ﾀｶﾊｼ ｻｷｺ",
    "identity.address.town": "霞が関",
}


def _acquired_csv(**overrides: str) -> str:
    row = {**csv_row(example_filing("EmployeeInsuranceAcquired")), **NAMES, **overrides}
    return csv_text([row])


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (_acquired_csv().encode("cp932"), "cp932"),
        (b"\xef\xbb\xbf" + _acquired_csv().encode("utf-8"), "utf-8"),
        (_acquired_csv().encode("utf-8"), "utf-8"),
    ],
    ids=["cp932", "utf-8-bom", "utf-8"],
)
def test_cp932_and_utf8_files_give_the_same_names_as_filed(raw: bytes, encoding: str):
    batch = parse_batch(raw)
    assert batch.encoding == encoding
    assert batch.columns[0] == "event_type"  # the byte order mark is not part of a column name
    (result,) = validate_batch(batch)
    assert result.ok, [str(p) for p in result.problems]
    identity = result.filing.payload.identity
    assert identity.kanji_name.reveal() == "髙橋 﨑子"
    assert identity.kana_name.reveal() == "ﾀｶﾊｼ ｻｷｺ"  # half-width kana kept as filed


def test_forced_encoding_is_used_and_a_mismatch_is_unreadable():
    raw = _acquired_csv().encode("cp932")
    assert parse_batch(raw, encoding="cp932").encoding == "cp932"
    with pytest.raises(BatchUnreadable, match=r"not UTF-8 text .*line 2"):
        parse_batch(raw, encoding="utf-8")
    with pytest.raises(BatchUnreadable, match="unknown encoding"):
        decode(raw, "latin-1")


def test_bytes_that_are_neither_utf8_nor_cp932_are_unreadable():
    raw = b"event_type,filing_reference\nA,\x81\x7f\xff\n"
    with pytest.raises(BatchUnreadable, match="neither UTF-8 nor CP932"):
        parse_batch(raw)


def test_rows_carry_the_physical_line_they_start_on():
    text = (
        "event_type,filing_reference,identity.kanji_name\n"
        "\n"
        'A,r1,"two\nlines"\n'
        ",,\n"
        "B,r2,x\r\n"
        "C,r3,y\n"
    )
    batch = parse_batch(text.encode())
    assert [row.line for row in batch.rows] == [3, 6, 7]
    assert batch.rows[0].cells["identity.kanji_name"] == "two\nlines"


def test_empty_cells_are_absent_and_extra_cells_are_counted():
    batch = parse_batch(b"event_type,filing_reference,person_token\nA,,  \nB,r,t,x,\n")
    first, second = batch.rows
    assert first == CsvRow(2, {"event_type": "A"})
    assert second.extra_cells == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "empty"),
        ("event_type,event_type", "more than once"),
        ("identity,identity.kanji_name", "sub-columns"),
        ("dependants.0.person,dependants.x.person", "named and numbered"),
        ("event_type,,filing_reference", "no name"),
        ("identity..kana_name", "dotted path"),
        ("0.identity", "dotted path"),
    ],
)
def test_header_problems_make_the_file_unreadable(header: str, message: str):
    with pytest.raises(BatchUnreadable, match=message):
        parse_batch(f"{header}\nA,B\n".encode())


def test_format_follows_the_suffix_then_the_first_character():
    assert format_of("batch.jsonl", b"") == "jsonl"
    assert format_of("batch.NDJSON", b"") == "jsonl"
    assert format_of("batch.csv", b"{") == "csv"
    assert format_of("batch", b'\xef\xbb\xbf\n {"event_id": 1}') == "jsonl"
    assert format_of("batch", b"event_type,filing_reference") == "csv"


def test_json_lines_rows_keep_their_line_numbers(tmp_path: Path):
    line = encode(example_filing("EmployeeInsuranceLost")).decode()
    path = tmp_path / "batch.jsonl"
    path.write_text(f"{line}\n\n{line}\r\n", encoding="utf-8")
    batch = read_batch(path)
    assert batch.format == "jsonl"
    assert batch.rows == (JsonRow(1, line), JsonRow(3, line))


def test_a_missing_file_is_unreadable(tmp_path: Path):
    with pytest.raises(BatchUnreadable, match="cannot read"):
        read_batch(tmp_path / "missing.csv")
