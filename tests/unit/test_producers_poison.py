"""The batch command never stops on a row: poison rows among good ones are each reported with a
reason and never with a value, and the good rows stay ready to publish (CSV and JSON Lines)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from producers import report
from producers.batch_rows import BatchUnreadable, CsvRow, JsonRow, parse_batch
from producers.validate import checked_row, validate_batch
from schemas import encode
from schemas.filings import EVENT_TYPES
from schemas.payload import FilerKind
from tests.fixtures.examples import example_filing, leaks, secret_values
from tests.fixtures.poison import (
    EXTREME_TEXTS,
    HUGE_INT,
    example_bytes,
    mutated_example,
    named_poison,
)
from tests.fixtures.template import csv_row, csv_text

FORMAT_EXAMPLES = {"1234-567890"}  # a help message's example that an example filing uses too
SECRETS = sorted({v for t in EVENT_TYPES for v in secret_values(example_filing(t))}
                 - FORMAT_EXAMPLES)
CSV_POISON = (*EXTREME_TEXTS, HUGE_INT, "9" * 30, "R99.1.1", "令和9999年1月1日", "99999999",
              "2025-04-10T09:00:00+99:99", "2025-04-10 9:00:00.1234567+09",
              "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "S1.1.1", "明治元年1月1日")


CSV_ROWS = {event_type: csv_row(example_filing(event_type)) for event_type in EVENT_TYPES}


def _good(event_type: str, reference: str) -> dict[str, str]:
    row = dict(CSV_ROWS[event_type])
    row["filing_reference"] = reference
    row["filer_kind"] = "employer"  # only a retraction needs it; harmless elsewhere
    return row


def _mutated_row(rng: random.Random, reference: str) -> tuple[dict[str, str], list[str]]:
    """A good row with one to three cells replaced by poison; the values put in."""
    row = _good(rng.choice(EVENT_TYPES), reference)
    put = []
    for _ in range(rng.randint(1, 3)):
        column = rng.choice([c for c in row if c != "filing_reference"])
        row[column] = rng.choice(CSV_POISON)
        put.append(row[column])
    return row, put


def test_a_schema_version_of_5000_digits_is_a_problem_of_its_row():
    rows = [_good("EmployeeInsuranceAcquired", "GOOD-1"), _good("EmployeeInsuranceAcquired",
                                                                "BAD-1")]
    rows[1]["schema_version"] = HUGE_INT
    results = validate_batch(parse_batch(csv_text(rows).encode(), "csv"))
    assert [r.ok for r in results] == [True, False]
    assert [(p.field, p.reason) for p in results[1].problems] == [
        ("schema_version", "must be a whole number such as 1")]


def test_json_lines_poison_rows_are_each_reported_and_the_good_rows_kept():
    good = [encode(example_filing(t)) for t in ("ResidentRegistered", "NhiQualificationAcquired")]
    # bytes that are not UTF-8 make the file mix encodings, which refuses it as a whole
    poison = [raw for name, raw in named_poison().items() if raw and name != "invalid UTF-8"]
    lines = [good[0], *poison, good[1]]
    results = validate_batch(parse_batch(b"\n".join(lines), "jsonl"))
    assert [r.line for r in results] == list(range(1, len(lines) + 1))
    assert [r.ok for r in results] == [True, *[False] * len(poison), True]
    messages = report.problem_lines(results)
    bad_lines = {int(m.split(":")[0].removeprefix("line ")) for m in messages}
    assert bad_lines == set(range(2, len(lines)))
    assert leaks(SECRETS, *messages) == []


def test_a_row_whose_checking_raises_is_reported_and_not_fatal():
    """A row of a kind the checks do not expect (cells that are not text) raises inside them:
    it becomes that row's problem, naming the exception's type only."""
    row = CsvRow(3, {"event_type": 12345, "filing_reference": "X-1"})  # type: ignore[dict-item]
    result = checked_row(row)
    assert not result.ok
    assert [(p.line, p.field, p.reason) for p in result.problems] == [
        (3, None, "the row could not be checked (AttributeError)")]
    fine = checked_row(JsonRow(4, encode(example_filing("MovedIn")).decode()))
    assert fine.filing == example_filing("MovedIn") and not fine.problems


def _telling(values: list[str]) -> list[str]:
    """The put values no message could hold by chance: names, long texts (help messages do
    quote formats, dates and codes such as 2999-12-31 or male)."""
    return [v for v in values if not v.isascii() or len(v) > 100]


@settings(max_examples=1000, deadline=None)
@given(seed=st.integers(0, 2**64), good_first=st.booleans())
def test_poison_csv_rows_are_reported_and_good_rows_kept(seed: int, good_first: bool):
    rng = random.Random(seed)
    poison, put = _mutated_row(rng, "POISON-1")
    good = _good(rng.choice(EVENT_TYPES), "GOOD-1")
    rows = [good, poison] if good_first else [poison, good]
    columns = sorted({c for r in rows for c in r})
    results = validate_batch(parse_batch(csv_text(rows, columns).encode(), "csv"))
    by_reference = {r.filing_reference: r for r in results}
    assert sorted(by_reference) == ["GOOD-1", "POISON-1"]
    assert by_reference["GOOD-1"].ok
    assert by_reference["POISON-1"].ok or by_reference["POISON-1"].problems
    assert leaks([*SECRETS, *_telling(put)], *report.problem_lines(results)) == []


@settings(max_examples=1000, deadline=None)
@given(seed=st.integers(0, 2**64))
def test_poison_json_lines_are_reported_and_good_rows_kept(seed: int):
    rng = random.Random(seed)
    event_type, mutated = mutated_example(rng)
    first, last = rng.sample([t for t in EVENT_TYPES if t != event_type], 2)
    lines = [example_bytes(first), mutated.replace(b"\n", b" ").replace(b"\r", b" "),
             example_bytes(last)]
    try:
        batch = parse_batch(b"\n".join(lines), "jsonl")
    except BatchUnreadable:  # a file that is not UTF-8 (nor CP932) as a whole
        return
    results = validate_batch(batch, filer_kind=FilerKind.EMPLOYER)  # for a retraction
    assert [r.line for r in results] == [1, 2, 3]
    assert results[0].ok and (results[1].ok or results[1].problems)
    assert results[2].ok
    assert leaks(SECRETS, *report.problem_lines(results)) == []
