"""Row validation: every event type from CSV (ISO and 和暦 dates), problems by line and field
without secret values, duplicates within a file, JSON Lines, and where retractions go."""

from __future__ import annotations

from datetime import date

import pytest

from producers.batch_rows import parse_batch
from producers.validate import RowResult, validate_batch
from producers.wareki import ERAS
from schemas import encode, event_id_for, topic_for
from schemas.filings import EVENT_TYPES
from schemas.payload import FilerKind
from tests.fixtures.examples import all_examples, example_filing, leaks, secret_values
from tests.fixtures.template import csv_row, csv_text

EXAMPLES = all_examples()
ACQUIRED = example_filing("EmployeeInsuranceAcquired")


def _validate(rows: list[dict[str, str]], **options) -> tuple[RowResult, ...]:
    return validate_batch(parse_batch(csv_text(rows).encode("utf-8")), **options)


def _wareki(day: date) -> str:
    era = next(e for e in reversed(ERAS) if e.start <= day)
    year = day.year - era.start.year + 1
    return f"{era.name}{'元' if year == 1 else year}年{day.month}月{day.day}日"


def _messages(results: tuple[RowResult, ...]) -> list[str]:
    return [str(problem) for result in results for problem in result.problems]


def test_every_event_type_round_trips_through_a_csv_row():
    results = _validate([csv_row(f) for f in EXAMPLES.values()])
    assert len(results) == len(EVENT_TYPES)
    for result, (event_type, example) in zip(results, EXAMPLES.items(), strict=True):
        assert result.ok, _messages((result,))
        assert result.filing == example
        assert result.line == 2 + list(EXAMPLES).index(event_type)
        kind = FilerKind.EMPLOYER if event_type == "FilingRetracted" else None
        assert result.topic == topic_for(event_type, kind).name


def test_dates_written_in_wareki_give_the_same_filings():
    rows = []
    for example in EXAMPLES.values():
        row = csv_row(example)
        for column, cell in row.items():
            if column.endswith(("_on", "birth_date", "valid_from", "corrected_from")):
                row[column] = _wareki(date.fromisoformat(cell))
        row["occurred_at"] = "令和7年4月10日 9:00"
        rows.append(row)
    assert any("昭和" in cell for row in rows for cell in row.values())
    results = _validate(rows)
    assert [r.filing for r in results] == list(EXAMPLES.values())


def test_schema_version_defaults_to_the_newest_and_filer_comes_from_the_option():
    row = csv_row(ACQUIRED)
    del row["schema_version"], row["filer_code"]
    (result,) = _validate([row], filer="EMP-0001")
    assert result.filing == ACQUIRED


def test_a_filer_code_that_differs_from_the_option_is_a_problem():
    (result,) = _validate([csv_row(ACQUIRED)], filer="EMP-0002")
    assert not result.ok
    assert [(p.field, p.reason) for p in result.problems] == [
        ("filer_code", "differs from the --filer option")
    ]


BAD_CELLS = [
    ({"person.resident_code": "9876543"}, "person.resident_code", "11 ASCII digits"),
    ({"identity.birth_date": "平成31年5月1日"}, "identity.birth_date", "not within its era"),
    ({"identity.birth_date": "1980-02-30"}, "identity.birth_date", "no such day"),
    ({"identity.kana_name": "ア" * 101}, "identity.kana_name", "at most 100"),
    ({"dependants.0.identity.sex": "other"}, "dependants.0.identity.sex", "'male' or 'female'"),
    ({"insurer_number": "01130013"}, "insurer_number", "check digit"),
    ({"acquired_on": "sometime"}, "acquired_on", "not a date"),
    ({"occurred_at": "R7.4.10 25:00"}, "occurred_at", "no such time"),
    ({"schema_version": "v1"}, "schema_version", "whole number"),
    ({"schema_version": "2"}, "schema_version", "schema versions 1"),
    ({"event_type": "EmployeeInsuranceGained"}, "event_type", "not a known event type"),
    ({"filing_reference": ""}, "filing_reference", "Field required"),
    ({"person_token": "tok-12345678901"}, "person_token", "person-level number"),
    ({"memo": "call 12345678901"}, "memo", "Extra inputs"),
    ({"dependants.0.identity.birth_date": "R7.4.2"}, "dependants.0.identity.birth_date", "born"),
]


@pytest.mark.parametrize(("cells", "field", "reason"), BAD_CELLS)
def test_a_bad_cell_is_reported_by_line_and_field_without_its_value(cells, field, reason):
    good = csv_row(ACQUIRED)
    results = _validate([good, {**good, **cells, "filing_reference": "R-2"} | _keep_ref(cells)])
    assert results[0].ok
    bad = results[1]
    assert not bad.ok and bad.outgoing is None
    assert [p.line for p in bad.problems] == [3] * len(bad.problems)
    assert field in [p.field for p in bad.problems], _messages(results)
    assert any(reason in p.reason for p in bad.problems), _messages(results)
    text = "\n".join(_messages(results))
    assert not leaks(secret_values(ACQUIRED), text)
    for value in cells.values():
        assert len(value) < 3 or value not in text


def _keep_ref(cells: dict[str, str]) -> dict[str, str]:
    return {"filing_reference": cells["filing_reference"]} if "filing_reference" in cells else {}


def test_cross_field_problems_name_the_payload_field():
    row = {**csv_row(example_filing("EmployeeInsuranceLost")), "lost_on": "令和7年4月2日"}
    (result,) = _validate([row])
    assert [(p.line, p.field) for p in result.problems] == [(2, "lost_on")]
    assert "day after last_day_of_employment" in result.problems[0].reason


def test_a_list_with_a_missing_item_is_reported_at_the_item():
    row = csv_row(ACQUIRED)
    moved = {k.replace("dependants.0.", "dependants.1."): v for k, v in row.items()}
    (result,) = _validate([moved])
    assert "dependants.0" in [p.field for p in result.problems]


def test_a_row_with_more_cells_than_the_header_is_a_problem():
    text = csv_text([csv_row(ACQUIRED)]).rstrip("\n") + ",surplus\n"
    (result,) = validate_batch(parse_batch(text.encode()))
    assert [(p.field, p.reason) for p in result.problems] == [
        (None, "the row has more cells than the header")
    ]
    assert str(result.problems[0]).startswith("line 2: (row): ")


def test_a_duplicate_reference_is_a_problem_on_the_later_line_only():
    row = csv_row(ACQUIRED)
    other = csv_row(example_filing("EmployeeInsuranceLost"))
    elsewhere = {**row, "filer_code": "EMP-0002"}
    results = _validate([row, other, elsewhere, {**row, "person_token": "tok-2"}])
    assert [r.ok for r in results] == [True, True, True, False]
    (problem,) = results[3].problems
    assert (problem.line, problem.field) == (5, "filing_reference")
    assert "already used on line 2" in problem.reason


def test_a_bad_row_does_not_hide_the_good_ones():
    rows = [csv_row(f) for f in EXAMPLES.values()]
    rows.insert(3, {**rows[3], "filing_reference": "BAD-1", "identity.sex": "x"})
    results = _validate(rows)
    assert sum(r.ok for r in results) == len(EXAMPLES)
    assert [r.line for r in results if not r.ok] == [5]


def test_a_lone_retraction_needs_the_filer_kind():
    row = csv_row(example_filing("FilingRetracted"))
    (alone,) = _validate([row])
    assert [p.field for p in alone.problems] == ["filer_kind"]
    (by_column,) = _validate([{**row, "filer_kind": "municipality"}])
    assert by_column.topic == "filing.municipality.v1"
    (by_option,) = _validate([row], filer_kind=FilerKind.INSURER)
    assert by_option.topic == "filing.insurer.v1"
    (bad_kind,) = _validate([{**row, "filer_kind": "clinic"}])
    assert "filer_kind" in [p.field for p in bad_kind.problems]


def test_a_retraction_goes_where_the_filers_other_filings_go():
    retraction = csv_row(example_filing("FilingRetracted"))
    results = _validate([csv_row(ACQUIRED), retraction])
    assert [r.topic for r in results] == ["filing.employer.v1"] * 2


def test_too_large_filings_are_refused_before_sending(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("producers.validate.MAX_MESSAGE_BYTES", len(encode(ACQUIRED)) + 512)
    (result,) = _validate([csv_row(ACQUIRED)])
    assert not result.ok
    assert "too large" in result.problems[0].reason


def _jsonl(*lines: str) -> tuple[RowResult, ...]:
    return validate_batch(parse_batch("\n".join(lines).encode(), format="jsonl"))


def test_json_lines_are_filings_as_on_the_wire():
    lines = [encode(f).decode() for f in EXAMPLES.values()]
    results = _jsonl(*lines)
    assert [r.filing for r in results] == list(EXAMPLES.values())
    assert all(r.ok for r in results)


def test_json_lines_problems_name_the_wire_path_and_never_the_value():
    good = encode(ACQUIRED).decode()
    bad = good.replace("ヤマダタロウ", "ア" * 101, 1)
    lost = encode(example_filing("EmployeeInsuranceLost")).decode()
    results = _jsonl(good, "{not json", bad, good, lost)
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[1].problems[0].field is None and "not JSON" in results[1].problems[0].reason
    assert "payload.identity.kana_name" in [p.field for p in results[2].problems]
    assert results[2].filing_reference == ACQUIRED.filing_reference
    assert "already used on line 1" in results[3].problems[0].reason
    assert not leaks(secret_values(ACQUIRED), "\n".join(_messages(results)))
    assert "ア" * 101 not in "\n".join(_messages(results))


def test_json_lines_from_another_filer_than_the_option_are_refused():
    (result,) = validate_batch(parse_batch(encode(ACQUIRED), format="jsonl"), filer="EMP-0002")
    assert [(p.field, p.reason) for p in result.problems] == [
        ("filer_code", "differs from the --filer option")
    ]


def test_event_ids_depend_only_on_filer_and_reference():
    first = _validate([csv_row(ACQUIRED)])[0].filing
    again = _validate([{**csv_row(ACQUIRED), "occurred_at": "2025-04-10 10:00"}])[0].filing
    assert first.event_id == again.event_id == event_id_for("EMP-0001", ACQUIRED.filing_reference)
