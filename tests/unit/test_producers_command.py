"""`shaho publish` without a broker: the documented example validates, unreadable files exit 2,
all-bad files exit 1 before any connection, outcome lines and the progress bar."""

from __future__ import annotations

import io
from pathlib import Path
from uuid import uuid4

from groundfloor.config import REPO_ROOT
from groundfloor.kafka_clients import KafkaLogin
from producers import report
from producers.batch_rows import read_batch
from producers.command import PublishOptions, progress_bar, run_publish
from producers.sender import Delivery
from producers.validate import validate_batch
from schemas.relay import OutcomeStatus
from shaho.cli import build_parser
from tests.fixtures.examples import example_filing, example_filing_outcome
from tests.fixtures.template import csv_row, csv_text

EXAMPLE_CSV = REPO_ROOT / "docs" / "examples" / "employer-batch.csv"
NOWHERE = "127.0.0.1:1"  # nothing listens here: a test that connected would fail


def _run(path: Path, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_publish(PublishOptions(path=path, kafka=KafkaLogin(NOWHERE), **options), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_documented_example_file_validates():
    results = validate_batch(read_batch(EXAMPLE_CSV))
    assert results and all(r.ok for r in results), report.problem_lines(results)
    assert {r.topic for r in results} == {"filing.employer.v1"}
    identities = [getattr(r.filing.payload, "identity", None) for r in results]
    assert any("髙" in i.kanji_name.reveal() for i in identities if i is not None)


def test_an_unreadable_file_exits_2_with_a_clear_message(tmp_path: Path):
    code, out, err = _run(tmp_path / "missing.csv")
    assert (code, out) == (2, "")
    assert "missing.csv: cannot read the file" in err
    (tmp_path / "bad.csv").write_bytes(b"a,a\n1,2\n")
    assert _run(tmp_path / "bad.csv")[0] == 2
    assert _run(EXAMPLE_CSV, filer="lower-case")[0] == 2


def test_a_file_of_bad_rows_reports_each_row_and_exits_1_without_connecting(tmp_path: Path):
    row = csv_row(example_filing("EmployeeInsuranceAcquired"))
    rows = [{**row, "person.resident_code": "123"}, {**row, "identity.birth_date": "H31.5.1"}]
    path = tmp_path / "bad.csv"
    path.write_text(csv_text(rows), encoding="cp932")
    code, out, err = _run(path)
    assert code == 1, err
    assert out.splitlines() == [
        "line 2: person.resident_code: must be 11 ASCII digits",
        "line 3: identity.birth_date: the date is not within its era "
        "(平成 ends on 31年4月30日, 令和 begins on 元年5月1日)",
        "line 3: filing_reference: duplicate filing_reference: already used on line 2",
        "published 0 filings; rejected 2 rows",
    ]


def test_an_unreachable_broker_exits_3(tmp_path: Path):
    code, _, err = _run(EXAMPLE_CSV)
    assert code == 3
    assert "not reachable" in err and "nothing published" in err


def test_the_cli_parses_the_publish_options():
    args = build_parser().parse_args(
        ["publish", "f.csv", "--filer", "EMP-1", "--encoding", "cp932", "--wait", "--timeout", "5"]
    )
    assert (args.file, args.filer, args.encoding, args.wait, args.timeout) == (
        "f.csv",
        "EMP-1",
        "cp932",
        True,
        5.0,
    )
    assert args.bootstrap is None and args.filer_kind is None


def _delivery(reference: str) -> Delivery:
    return Delivery(uuid4(), reference, "filing.employer.v1", 0, 0)


def test_outcome_lines_give_reference_status_reasons_and_receipt():
    refused = example_filing_outcome(OutcomeStatus.REFUSED)
    accepted = example_filing_outcome(OutcomeStatus.ACCEPTED)
    first, second, third = _delivery("R-1"), _delivery("R-2"), _delivery("R-3")
    lines = report.outcome_lines(
        [first, second, third], {first.event_id: refused, second.event_id: accepted}
    )
    assert lines == [
        "R-1 refused [invalid payload.identity.kana_name: Field required] RCPT-20250410-000001",
        "R-2 accepted - RCPT-20250410-000001",
        "R-3 pending - -",
    ]


def test_exit_codes_follow_rejections_and_refusals():
    ok = validate_batch(read_batch(EXAMPLE_CSV))
    refused = example_filing_outcome(OutcomeStatus.REFUSED)
    parked = example_filing_outcome(OutcomeStatus.PARKED)
    assert report.exit_code(ok) == 0
    assert report.exit_code(ok, {refused.event_id: parked}) == 0
    assert report.exit_code(ok, {refused.event_id: refused}) == 1


def test_summary_counts_topics_and_rejections():
    deliveries = [_delivery("R-1"), _delivery("R-2")]
    assert report.summary([], deliveries) == (
        "published 2 filings (filing.employer.v1: 2); rejected 0 rows"
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_or_for_large_files():
    with progress_bar(10, io.StringIO()) as progress:
        assert progress is None
    out = io.StringIO()
    with progress_bar(1001, out) as progress:
        assert progress is not None
        for done in range(1, 1002):
            progress(done)
    lines = out.getvalue().splitlines()
    assert lines[0] == "acknowledged 100/1001" and lines[-1] == "acknowledged 1001/1001"
    terminal = _Terminal()
    with progress_bar(3, terminal) as progress:
        assert progress is not None
        progress(3)
    assert "3/3" in terminal.getvalue()
