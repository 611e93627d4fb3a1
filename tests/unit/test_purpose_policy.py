"""The purpose policy: every shipped row allows exactly what it says and cites its law, every
exchange not in the file is denied, and a malformed file is refused naming its line."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay_exchange.policy import (
    COLUMNS,
    AskerRole,
    Policy,
    PolicyFileError,
    PolicyRow,
    Span,
    asker_role,
    default_policy,
    parse_policy,
    policy_from,
    reference_date,
    span_days,
)
from schemas.exchange_terms import DataCategory, ExchangeScheme, Purpose

SHIPPED = default_policy()
OTHER_SPAN = {Span.AS_OF: Span.PERIOD, Span.PERIOD: Span.AS_OF}
VERSION = "# purpose policy version 2026-12-01"
HEADER = ",".join(COLUMNS)
GOOD = ("P01,medical_insurer,medical,qualification,eligibility_confirmation,as_of,1,0,"
        "法,第6条,第1項,,")
OTHER = ("P02,care_insurer,medical,self_pay_amounts,combined_high_cost,period,366,30,"
         "法,第51条の2,第1項,第1号,")


def _file(*rows: str, version: str = VERSION, header: str = HEADER) -> str:
    return "\n".join([version, header, *rows]) + "\n"


# The shipped file --------------------------------------------------------------------------


def test_the_shipped_file_parses_with_its_version():
    assert SHIPPED.version == "2026-12-06"
    assert len(SHIPPED.rows) >= 12
    assert [row.row for row in SHIPPED.rows] == [f"P{n:02d}" for n in range(1, 19)]


@pytest.mark.parametrize("row", SHIPPED.rows, ids=lambda row: row.row)
def test_each_shipped_row_allows_its_span_up_to_its_longest_period_only(row: PolicyRow):
    ask = (row.role, row.scheme, row.category, row.purpose)
    assert SHIPPED.allowing(*ask, row.span, row.max_days) == row
    assert SHIPPED.allowing(*ask, row.span, 1) == row
    assert SHIPPED.allowing(*ask, row.span, row.max_days + 1) is None
    assert SHIPPED.allowing(*ask, row.span, 0) is None
    assert SHIPPED.allowing(*ask, OTHER_SPAN[row.span], 1) is None
    assert SHIPPED.permits(*ask)
    assert row.law and "第" in row.citation() and row.citation().startswith(row.law)
    assert row.article in row.citation() and row.paragraph in row.citation()


def _all_asks():
    return itertools.product(AskerRole, ExchangeScheme, DataCategory, Purpose)


def test_every_exchange_not_in_the_file_is_denied():
    listed = {(row.role, row.scheme, row.category, row.purpose) for row in SHIPPED.rows}
    denied = [ask for ask in _all_asks() if ask not in listed]
    assert len(denied) == 3 * 3 * 5 * 4 - len(listed)
    for ask in denied:
        assert not SHIPPED.permits(*ask), ask
        for span in Span:
            assert SHIPPED.allowing(*ask, span, 1) is None, (ask, span)
            assert SHIPPED.allowing(*ask, span, 366) is None, (ask, span)


def test_an_empty_policy_denies_everything():
    empty = parse_policy(_file())
    assert empty.rows == ()
    assert not any(empty.permits(*ask) for ask in _all_asks())


def test_the_shipped_policy_keeps_combined_high_cost_within_a_year_and_checks_as_of_one_day():
    for row in SHIPPED.rows:
        if row.purpose is Purpose.COMBINED_HIGH_COST:
            assert (row.span, row.max_days) == (Span.PERIOD, 366), row.row
        if row.span is Span.AS_OF:
            assert row.max_days == 1, row.row


def test_the_citation_reads_as_a_provision():
    row = parse_policy(_file(OTHER)).rows[0]
    assert row.citation() == "法 第51条の2 第1項 第1号"
    assert parse_policy(_file(GOOD)).rows[0].citation() == "法 第6条 第1項"


@pytest.mark.parametrize(("scheme", "role"), [("medical", AskerRole.MEDICAL_INSURER),
                                              ("long_term_care", AskerRole.CARE_INSURER),
                                              ("pension", AskerRole.PENSION_INSURER),
                                              ("employee_insurance", None), ("", None)])
def test_the_asker_role_is_the_scheme_of_its_link(scheme: str, role: AskerRole | None):
    assert asker_role(scheme) is role


# Malformed files ---------------------------------------------------------------------------


def _swap(row: str, column: str, value: str) -> str:
    cells = row.split(",")
    cells[COLUMNS.index(column)] = value
    return ",".join(cells)


MALFORMED = {
    "missing version": ("\n".join([HEADER, GOOD]), "line 1"),
    "version not a date": (_file(GOOD, version="# purpose policy version 2026-13-01"), "line 1"),
    "empty text": ("", "line 1"),
    "missing header": (VERSION + "\n", "line 2"),
    "bad header": (_file(GOOD, header=HEADER.replace("item", "number")), "line 2"),
    "header columns reordered": (_file(header=HEADER.replace("role,scheme", "scheme,role")),
                                 "line 2"),
    "unknown role": (_file(GOOD, _swap(OTHER, "role", "clinic")), "line 4, column role"),
    "unknown scheme": (_file(_swap(GOOD, "scheme", "tax")), "line 3, column scheme"),
    "unknown category": (_file(_swap(GOOD, "category", "diagnoses")), "line 3, column category"),
    "unknown purpose": (_file(_swap(GOOD, "purpose", "marketing")), "line 3, column purpose"),
    "unknown span": (_file(_swap(GOOD, "span", "forever")), "line 3, column span"),
    "duplicate row id": (_file(GOOD, _swap(OTHER, "row", "P01")), "line 4, column row"),
    "duplicate exchange": (_file(GOOD, _swap(GOOD, "row", "P02")), "line 4: the same"),
    "empty law": (_file(_swap(GOOD, "law", "")), "line 3, column law"),
    "blank law": (_file(_swap(GOOD, "law", " ")), "line 3, column law"),
    "empty article": (_file(_swap(GOOD, "article", "")), "line 3, column article"),
    "empty paragraph": (_file(_swap(GOOD, "paragraph", "")), "line 3, column paragraph"),
    "paragraph not a 項": (_file(_swap(GOOD, "paragraph", "1")), "line 3, column paragraph"),
    "item not a 号": (_file(_swap(GOOD, "item", "八")), "line 3, column item"),
    "max_days 0": (_file(_swap(OTHER, "max_days", "0")), "line 3, column max_days"),
    "max_days x": (_file(_swap(OTHER, "max_days", "x")), "line 3, column max_days"),
    "max_days negative": (_file(_swap(OTHER, "max_days", "-5")), "line 3, column max_days"),
    "as_of with max_days 2": (_file(_swap(GOOD, "max_days", "2")), "line 3, column max_days"),
    "delay x": (_file(_swap(GOOD, "disclosure_delay_days", "x")),
                "line 3, column disclosure_delay_days"),
    "delay negative": (_file(_swap(GOOD, "disclosure_delay_days", "-1")),
                       "line 3, column disclosure_delay_days"),
    "delay empty": (_file(_swap(GOOD, "disclosure_delay_days", "")),
                    "line 3, column disclosure_delay_days"),
    "delay padded": (_file(_swap(GOOD, "disclosure_delay_days", "07")),
                     "line 3, column disclosure_delay_days"),
    "delay over ten years": (_file(_swap(GOOD, "disclosure_delay_days", "3651")),
                             "line 3, column disclosure_delay_days"),
    "bad row id": (_file(_swap(GOOD, "row", "first")), "line 3, column row"),
    "too few columns": (_file(GOOD, GOOD.rsplit(",", 1)[0]), "line 4: expected 13 columns"),
    "too many columns": (_file(GOOD + ",extra"), "line 3: expected 13 columns"),
    "blank line": (_file(GOOD, "", OTHER), "line 4: expected 13 columns"),
    "broken quoting": (_file(GOOD, OTHER + '"a"b'), "line 4: not valid CSV"),
}


@pytest.mark.parametrize(("text", "where"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_refused_naming_its_line(text: str, where: str):
    with pytest.raises(PolicyFileError) as refused:
        parse_policy(text)
    assert str(refused.value).startswith(where)


def test_the_error_names_the_column_and_never_echoes_the_value():
    secret = "港いろは１２３４"
    for column in ("role", "scheme", "category", "purpose", "span", "max_days",
                   "disclosure_delay_days", "row",
                   "article", "paragraph", "item"):
        with pytest.raises(PolicyFileError) as refused:
            parse_policy(_file(_swap(GOOD, column, secret)))
        assert f"column {column}" in str(refused.value)
        assert secret not in str(refused.value)


def test_a_leading_byte_order_mark_and_crlf_lines_are_read():
    text = "\ufeff" + _file(GOOD, OTHER).replace("\n", "\r\n")
    assert [row.row for row in parse_policy(text).rows] == ["P01", "P02"]


# Properties --------------------------------------------------------------------------------


@given(st.text())
def test_arbitrary_text_is_either_a_policy_or_refused(text: str):
    try:
        policy = parse_policy(text)
    except PolicyFileError as refused:
        assert str(refused).startswith("line ")
    else:
        assert text.lstrip("\ufeff").startswith("# purpose policy version ")
        assert isinstance(policy, Policy)


@given(st.text())
def test_arbitrary_rows_after_a_good_header_are_either_rows_or_refused(text: str):
    try:
        policy = parse_policy(_file() + text)
    except PolicyFileError as refused:
        assert str(refused).startswith("line ")
    else:
        assert all(isinstance(row, PolicyRow) for row in policy.rows)


_asks = list(itertools.product(AskerRole, ExchangeScheme, DataCategory, Purpose, Span))
_words = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    keys = draw(st.lists(st.sampled_from(_asks), unique=True, max_size=25))
    rows = []
    for number, (role, scheme, category, purpose, span) in enumerate(keys, start=1):
        rows.append(PolicyRow(
            row=f"P{number:02d}", role=role, scheme=scheme, category=category, purpose=purpose,
            span=span,
            max_days=1 if span is Span.AS_OF else draw(st.integers(1, 999_999)),
            disclosure_delay_days=draw(st.integers(0, 3650)),
            law=draw(_words.filter(lambda w: w.strip() == w and w != "")),
            article=f"第{draw(st.integers(1, 999))}条"
                    + draw(st.sampled_from(["", "の2", "の4の2"])),
            paragraph=f"第{draw(st.integers(1, 20))}項",
            item=draw(st.sampled_from(["", "第1号", "第8号", "第2号の3"])),
            note=draw(_words)))
    day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
    return Policy(version=day.isoformat(), rows=tuple(rows))


def _written(policy: Policy) -> str:
    out = io.StringIO(newline="")
    out.write(f"# purpose policy version {policy.version}\n")
    writer = csv.writer(out)  # "\r\n": a note holding "\r" or "\n" is quoted
    writer.writerow(COLUMNS)
    for row in policy.rows:
        writer.writerow([getattr(row, column) for column in COLUMNS])
    return out.getvalue()


@given(policies())
def test_a_written_policy_reads_back_the_same(policy: Policy):
    assert parse_policy(_written(policy)) == policy


@given(policies(), st.sampled_from(_asks), st.integers(-3, 1_000_001))
def test_a_policy_allows_only_what_one_of_its_rows_says(policy: Policy, ask, days: int):
    allowed = policy.allowing(*ask, days)
    matching = [row for row in policy.rows if row.key() == ask]
    if allowed is None:
        assert not matching or days < 1 or days > matching[0].max_days
    else:
        assert matching == [allowed] and 1 <= days <= allowed.max_days
    assert policy.permits(*ask[:4]) == any(row.key()[:4] == ask[:4] for row in policy.rows)


_days = st.dates(date(1900, 1, 1), date(2199, 12, 31))


@given(_days, st.integers(0, 4000))
def test_span_days_counts_both_ends(start: date, length: int):
    end = start + timedelta(days=length)
    assert span_days(start, end) == length + 1
    assert span_days(end, end) == 1


@given(_days, st.integers(1, 4000))
def test_a_period_ending_before_it_starts_has_no_days(start: date, back: int):
    with pytest.raises(ValueError):
        span_days(start, start - timedelta(days=back))
    with pytest.raises(ValueError):
        reference_date(Purpose.BENEFIT_COORDINATION, None, (start, start - timedelta(days=back)))


@given(st.sampled_from(Purpose), _days, st.integers(0, 400))
def test_the_reference_date_is_the_as_of_date_or_the_periods_last_day(
        purpose: Purpose, start: date, length: int):
    end = start + timedelta(days=length)
    assert reference_date(purpose, start, None) == start
    assert reference_date(purpose, None, (start, end)) == end


def test_combined_high_cost_is_checked_on_its_base_date_31_july():
    period = (date(2025, 8, 1), date(2026, 7, 31))
    assert reference_date(Purpose.COMBINED_HIGH_COST, None, period) == date(2026, 7, 31)
    assert span_days(*period) == 365


@pytest.mark.parametrize("given_dates", [(None, None),
                                         (date(2026, 7, 31), (date(2025, 8, 1),
                                                              date(2026, 7, 31)))])
def test_the_reference_date_needs_exactly_one_of_date_and_period(given_dates):
    with pytest.raises(ValueError):
        reference_date(Purpose.ELIGIBILITY_CONFIRMATION, *given_dates)


# Disclosure delays ---------------------------------------------------------------------------


def test_no_shipped_row_delays_disclosure():
    """No provision cited by the shipped rows allows keeping an access from the person."""
    assert all(row.disclosure_delay_days == 0 for row in SHIPPED.rows)
    assert all(row.disclose_from(date(2026, 12, 6)) is None for row in SHIPPED.rows)


@given(st.dates(date(1900, 1, 1), date(2199, 12, 31)), st.integers(1, 3650))
def test_a_delayed_row_discloses_that_many_days_of_relay_time_later(day: date, delay: int):
    policy = parse_policy(_file(_swap(GOOD, "disclosure_delay_days", str(delay))))
    (row,) = policy.rows
    assert row.disclose_from(day) == day + timedelta(days=delay)
    assert policy.row("P01") is row and policy.row("P99") is None


def test_a_policy_file_is_read_from_a_path_or_refused_naming_no_value(tmp_path):
    good = tmp_path / "policy.csv"
    good.write_text(_file(_swap(GOOD, "disclosure_delay_days", "90")), encoding="utf-8")
    assert policy_from(str(good)).rows[0].disclosure_delay_days == 90
    assert policy_from(None) is SHIPPED and policy_from("") is SHIPPED
    with pytest.raises(PolicyFileError, match="cannot be read"):
        policy_from(str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes("港".encode("cp932"))
    with pytest.raises(PolicyFileError, match="cannot be read"):
        policy_from(str(bad))


def test_the_router_does_not_start_on_a_bad_policy_file_and_says_why(tmp_path, monkeypatch,
                                                                     capsys):
    """`shaho run relay-exchange` with SHAHO_PURPOSE_POLICY naming a bad file: exit 2 and the
    reason on one line, before any connection (nothing listens on the ports given)."""
    import asyncio

    from groundfloor.config import StackConfig
    from shaho.bootstrap import run_relay_exchange

    bad = tmp_path / "bad.csv"
    bad.write_text("# purpose policy version 2026-01-01\nrole,scheme\n", encoding="utf-8")
    for name, value in (("SHAHO_PURPOSE_POLICY", str(bad)), ("SHAHO_PG_PORT", "1"),
                        ("SHAHO_KAFKA_PORT", "1")):
        monkeypatch.setenv(name, value)
    assert asyncio.run(run_relay_exchange(StackConfig.from_env(), drain=True)) == 2
    err = capsys.readouterr().err
    assert err == ("shaho run relay-exchange: SHAHO_PURPOSE_POLICY: line 2: the header is not "
                   "row,role,scheme,category,purpose,span,max_days,disclosure_delay_days,law,"
                   "article,paragraph,item,note\n")
    monkeypatch.setenv("SHAHO_PURPOSE_POLICY", str(tmp_path / "missing.csv"))
    assert asyncio.run(run_relay_exchange(StackConfig.from_env(), drain=True)) == 2
    assert "cannot be read (FileNotFoundError)" in capsys.readouterr().err
