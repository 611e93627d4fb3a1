"""Reading batch files: CP932 and UTF-8 (with BOM) with 髙橋/ﾔﾏﾀﾞ names, physical line numbers,
header problems, a first line that is data, oversized cells, mixed encodings, JSON Lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.batch_rows import (
    MAX_CELL_CHARS,
    BatchUnreadable,
    CsvRow,
    JsonRow,
    decode,
    format_of,
    parse_batch,
    read_batch,
)
from producers.validate import OVERSIZED, validate_batch
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
        ("event_type,identity,identity.kanji_name", "'identity' also has sub-columns"),
        ("event_type,dependants.0.person,dependants.x.person", "named and numbered"),
        ("event_type,,filing_reference", "no name for column"),
        ("event_type,identity..kana_name", r"not a header row \(cell 2 is not a column name\)"),
        ("0.identity,event_type", r"not a header row \(cell 1 is not a column name\)"),
        ("identity.kanji_name,identity.kana_name", "names no envelope column"),
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


def _without_header(text: str) -> str:
    return text.split("\n", 1)[1]


def _acquired_rows(count: int) -> list[dict[str, str]]:
    row = {**csv_row(example_filing("EmployeeInsuranceAcquired")), **NAMES}
    return [{**row, "filing_reference": f"ACQ-{n}"} for n in range(1, count + 1)]


def test_a_file_without_a_header_row_is_refused_naming_no_cell():
    rows = _acquired_rows(2)
    text = _without_header(csv_text(rows))
    with pytest.raises(BatchUnreadable) as caught:
        parse_batch(text.encode("utf-8"))
    message = str(caught.value)
    assert message.startswith("the first line is not a header row (cells ")
    assert "event_type, filing_reference, person_token, occurred_at and filer_code" in message
    cells = [v for v in rows[0].values() if len(v) > 1]
    assert [v for v in cells if v in message] == []
    assert "12345678901" in rows[0].values() and "12345678901" not in message


def test_a_first_line_of_name_like_words_is_not_a_header_either():
    with pytest.raises(BatchUnreadable) as caught:
        parse_batch(b"Yamada,Taro,Hanako\nYamada,Jiro,Hanako\n")
    message = str(caught.value)
    assert "names no envelope column" in message
    assert not {"Yamada", "Taro", "Hanako"} & set(message.replace(",", " ").split())


@pytest.mark.parametrize("length", [200_000, MAX_CELL_CHARS + 1])
def test_an_oversized_cell_makes_only_its_row_bad(length: int):
    rows = _acquired_rows(3)
    rows[1]["identity.kanji_name"] = "長" * length
    batch = parse_batch(csv_text(rows).encode("utf-8"))
    results = validate_batch(batch)
    assert [r.ok for r in results] == [True, False, True]
    lines = [str(p) for p in results[1].problems]
    assert lines and all(line.startswith("line 3: identity.kanji_name: ") for line in lines)
    assert all("長長" not in line for line in lines)
    if length > MAX_CELL_CHARS:
        assert batch.rows[1].oversized == ("identity.kanji_name",)
        assert lines == [f"line 3: identity.kanji_name: {OVERSIZED}"]


def _mixed_file(cp932_row: int) -> bytes:
    """UTF-8 rows with one row in CP932; the first row's name spans two physical lines."""
    rows = _acquired_rows(3)
    rows[0]["identity.address.building"] = "霞が関\nビル"
    text = csv_text(rows).replace("\n", "\r\n")
    lines = text.split("\r\n")
    header, first = lines[0], "\r\n".join(lines[1:3])
    records = [first, *lines[3:-1]]
    encoded = [r.encode("cp932" if i == cp932_row else "utf-8") for i, r in enumerate(records)]
    return b"\r\n".join([header.encode(), *encoded]) + b"\r\n"


def test_a_cp932_row_among_utf8_rows_is_refused_at_its_own_physical_line():
    with pytest.raises(BatchUnreadable) as caught:
        parse_batch(_mixed_file(cp932_row=2))
    assert str(caught.value) == (
        "the file mixes encodings: line 5 is not UTF-8 text, line 2 is; "
        "save the whole file as UTF-8 or as CP932 (--encoding forces one)"
    )
    with pytest.raises(BatchUnreadable, match="line 2 is not UTF-8 text, line 4 is"):
        parse_batch(_mixed_file(cp932_row=0))


def test_line_numbers_of_undecodable_bytes_count_physical_lines():
    raw = b"\xef\xbb\xbfevent_type,filing_reference\r\nA,r1\rB,r2\nC,\xff\n"
    with pytest.raises(BatchUnreadable, match=r"not UTF-8 text \(bad byte on line 4\)"):
        parse_batch(raw, encoding="utf-8")
    with pytest.raises(BatchUnreadable, match=r"line 4 is not UTF-8 text, line 1 is"):
        parse_batch(raw)
    lines = b'{"a": 1}\r{"b": 2}\n\x81\x7f\n'
    with pytest.raises(BatchUnreadable, match=r"line 2 is not UTF-8, line 2 is not CP932"):
        parse_batch(lines, format="jsonl")
    with pytest.raises(BatchUnreadable, match=r"line 3 is not UTF-8, line 3 is not CP932"):
        parse_batch(lines, format="csv")
