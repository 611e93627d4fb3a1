"""Dotted column paths: splitting, nesting (lists included), flattening back, date fields."""

from __future__ import annotations

import pytest

from producers.paths import (
    PathError,
    check_columns,
    date_paths,
    flatten,
    pattern_of,
    split_path,
    unflatten,
)
from schemas.employer import EmployeeInsuranceAcquired
from schemas.municipality import ResidentRecordCorrected


def _cells(**by_column: str) -> dict:
    return {split_path(column.replace("__", ".")): v for column, v in by_column.items()}


def test_paths_split_into_names_and_list_indexes():
    assert split_path("dependants.0.identity.kana_name") == (
        "dependants",
        0,
        "identity",
        "kana_name",
    )
    assert split_path("event_type") == ("event_type",)
    for bad in ("a..b", "0.a", "a.-1", "名前", "a.b c", "a.1000"):
        with pytest.raises(PathError):
            split_path(bad)


def test_unflatten_nests_dicts_and_lists():
    cells = _cells(
        identity__address__prefecture="東京都",
        identity__kanji_name="髙橋一郎",
        dependants__1__identity__kana_name="ﾊﾅｺ",
        dependants__0__identity__kana_name="ﾀﾛｳ",
        dependants__0__person__resident_code="12345678901",
        acquired_on="2025-04-01",
    )
    nested, problems = unflatten(cells)
    assert problems == []
    assert nested == {
        "identity": {"address": {"prefecture": "東京都"}, "kanji_name": "髙橋一郎"},
        "dependants": [
            {"identity": {"kana_name": "ﾀﾛｳ"}, "person": {"resident_code": "12345678901"}},
            {"identity": {"kana_name": "ﾊﾅｺ"}},
        ],
        "acquired_on": "2025-04-01",
    }


def test_list_items_with_a_gap_are_a_problem_at_the_missing_item():
    nested, problems = unflatten(_cells(dependants__2__person__resident_code="1"))
    assert nested == {"dependants": [{"person": {"resident_code": "1"}}]}
    assert [p for p, _ in problems] == [("dependants", 0), ("dependants", 1)]


def test_flatten_is_the_inverse_of_unflatten():
    data = {"a": {"b": "1", "c": None}, "l": [{"x": "2"}, {"x": "3", "y": ["4"]}], "e": []}
    flat = dict(flatten(data))
    assert flat == {"a.b": "1", "l.0.x": "2", "l.1.x": "3", "l.1.y.0": "4"}
    nested, _ = unflatten({split_path(k): v for k, v in flat.items()})
    assert nested == {"a": {"b": "1"}, "l": [{"x": "2"}, {"x": "3", "y": ["4"]}]}


def test_header_checks_report_duplicates_and_conflicts():
    assert check_columns(["a", "b.c", "d.0.e", "d.1.e"]) == []
    problems = check_columns(["a", "a", "b", "b.c", "d.0", "d.x"])
    assert any("'a' appears more than once" in p for p in problems)
    assert any("'b' also has sub-columns" in p for p in problems)
    assert any("'d' has both named and numbered" in p for p in problems)


def test_date_fields_are_found_in_nested_models_and_lists():
    dates = date_paths(EmployeeInsuranceAcquired)
    assert dates == {
        ("acquired_on",),
        ("identity", "birth_date"),
        ("dependants", "*", "identity", "birth_date"),
    }
    assert pattern_of(("dependants", 3, "identity", "birth_date")) in dates
    assert ("corrected", "birth_date") in date_paths(ResidentRecordCorrected)
