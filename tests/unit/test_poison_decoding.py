"""Decoding never raises anything but a rejection: the issue's poison records one by one, the
relay's calendar bounds, and properties over random bytes, random JSON and mutated filings."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay_linker.domain import ages
from schemas import Filing, FilingRejected, decode_filing
from schemas.base import EARLIEST_DAY, LATEST_DAY
from schemas.codec import MAX_DEPTH, MAX_INT_DIGITS
from schemas.filings import EVENT_TYPES, topics_for
from schemas.relay import ReasonCode
from tests.fixtures.examples import example_filing, leaks, secret_values
from tests.fixtures.poison import (
    RandomJson,
    RawToken,
    dumps,
    example_wire,
    mutated_example,
    named_poison,
    shifted,
    wire,
)

ACQUISITION = "EmployeeInsuranceAcquired"
EMPLOYER = "filing.employer.v1"
FORMAT_EXAMPLES = {"1234-567890"}  # a help message's example that an example filing uses too
SECRETS = sorted({v for t in EVENT_TYPES for v in secret_values(example_filing(t))}
                 - FORMAT_EXAMPLES)


def _outcome(raw: bytes, topic: str | None = None) -> Filing | FilingRejected:
    """What decoding `raw` gives: a Filing or the rejection; any other exception fails."""
    try:
        filing = decode_filing(raw, topic)
    except FilingRejected as rejected:
        assert rejected.reasons, "a rejection gives at least one reason"
        texts = [str(rejected), *(r.model_dump_json() for r in rejected.reasons)]
        assert leaks(SECRETS, *texts) == []
        return rejected
    assert isinstance(filing, Filing)
    return filing


def _codes(raw: bytes, topic: str | None = EMPLOYER) -> list[tuple[str, str | None]]:
    outcome = _outcome(raw, topic)
    assert isinstance(outcome, FilingRejected), "a poison record must be rejected"
    return [(r.code, r.field) for r in outcome.reasons]


# --- the records, one by one --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(named_poison()))
def test_every_named_poison_record_is_rejected_with_a_reason(name: str):
    assert _codes(named_poison()[name])


def test_an_integer_of_5000_digits_is_not_json():
    codes = _codes(named_poison()["integer of 5,000 digits"])
    assert codes == [(ReasonCode.NOT_JSON.value, None)]


def test_integers_are_read_up_to_20_digits():
    fits = RawToken("1" + "0" * (MAX_INT_DIGITS - 1), 0)
    data = example_wire(ACQUISITION)
    data["schema_version"] = fits
    assert _codes(dumps(data)) == [(ReasonCode.UNKNOWN_SCHEMA_VERSION.value, "schema_version")]
    data["schema_version"] = RawToken("-" + "1" * (MAX_INT_DIGITS + 1), 0)
    assert _codes(dumps(data)) == [(ReasonCode.NOT_JSON.value, None)]


@pytest.mark.parametrize("occurred_at", [
    "9999-12-31T23:00:00+00:00",  # year 10000 in Japan: astimezone overflowed
    "0001-01-01T00:00:00+09:00",  # year 0 in UTC
    "1799-12-31T23:59:59+09:00",
    "3000-01-01T00:00:00+09:00",
    "2999-12-31T20:00:00-12:00",  # 2999 where it was written, 3000 in Japan
])
def test_an_occurred_at_outside_the_calendar_is_invalid(occurred_at: str):
    data = example_wire(ACQUISITION)
    data["occurred_at"] = occurred_at
    assert _codes(dumps(data)) == [(ReasonCode.INVALID.value, "occurred_at")]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_calendar_edges_are_inside(event_type: str):
    """Each filing moved so its earliest date is the calendar's first day, then so its filing
    date is the last (the latest of its dates; occurred_at 23:59 in Japan)."""
    filing = example_filing(event_type)
    data = wire(filing)
    dates = [filing.filed_on, *(_at(data, p) for p in _date_paths(data))]
    for days in ((EARLIEST_DAY - min(dates)).days, (LATEST_DAY - max(dates)).days):
        moved = shifted(data, days)
        assert isinstance(_outcome(dumps(moved), topics_for(event_type)[0].name), Filing)
    moved["occurred_at"] = f"{LATEST_DAY}T23:59:59+09:00"
    assert isinstance(_outcome(dumps(moved), topics_for(event_type)[0].name), Filing)


@pytest.mark.parametrize("birth_date", ["9990-01-01", "3000-01-01", "1799-12-31", "0001-01-01"])
def test_a_birth_date_outside_the_calendar_is_invalid(birth_date: str):
    data = example_wire(ACQUISITION)
    data["payload"]["identity"]["birth_date"] = birth_date
    assert (ReasonCode.INVALID.value, "payload.identity.birth_date") in _codes(dumps(data))


def _date_paths(node, path=()) -> list[tuple]:
    """Paths of the YYYY-MM-DD strings in a filing's JSON document."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _date_paths(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _date_paths(v, (*path, i))]
    return [path] if isinstance(node, str) and _is_day(node) else []


def _is_day(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text) is not None
    except ValueError:
        return False


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_date_field_of_every_filing_is_held_to_the_calendar(event_type: str):
    paths = _date_paths(example_wire(event_type))
    assert paths or event_type == "FilingRetracted"
    for path in paths:
        for outside in ("1799-12-31", "3000-01-01", "9999-12-31", "0001-01-01"):
            data = example_wire(event_type)
            node = data
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = outside
            codes = _codes(dumps(data), topics_for(event_type)[0].name)
            assert (ReasonCode.INVALID.value, ".".join(map(str, path))) in codes


def test_nesting_deeper_than_the_limit_is_not_json():
    data = example_wire(ACQUISITION)
    data["payload"] = RawToken("[" * MAX_DEPTH + "]" * MAX_DEPTH, 0)
    assert _codes(dumps(data)) == [(ReasonCode.NOT_JSON.value, None)]
    data["payload"] = RawToken("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2), 0)
    assert _codes(dumps(data)) == [(ReasonCode.INVALID.value, "payload")]


@pytest.mark.parametrize("token", ['"\\ud800"', '"a\\udfffb"'])
def test_a_lone_surrogate_in_a_value_or_a_key_is_not_json(token: str):
    data = example_wire(ACQUISITION)
    data["payload"]["identity"]["kana_name"] = RawToken(token, 0)
    assert _codes(dumps(data)) == [(ReasonCode.NOT_JSON.value, None)]
    raw = dumps(example_wire(ACQUISITION)).replace(b'"person_token"',
                                                          token.encode(), 1)
    assert _codes(raw) == [(ReasonCode.NOT_JSON.value, None)]


def test_a_surrogate_pair_is_a_character():
    data = example_wire(ACQUISITION)
    data["payload"]["identity"]["address"]["building"] = RawToken('"\\ud83c\\udf8c"', 0)
    assert isinstance(_outcome(dumps(data), EMPLOYER), Filing)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_numbers_a_float_cannot_hold_are_not_json(token: str):
    data = example_wire(ACQUISITION)
    data["payload"]["dependants"] = RawToken(f"[{token}]", 0)
    assert _codes(dumps(data)) == [(ReasonCode.NOT_JSON.value, None)]


def test_zero_bytes_are_rejected_escaped_or_raw():
    assert _codes(named_poison()["escaped NUL"]) == [(ReasonCode.NOT_JSON.value, None)]
    assert _codes(named_poison()["raw NUL byte"]) == [(ReasonCode.NOT_JSON.value, None)]
    assert _codes(b"\x00" * 10) == [(ReasonCode.NOT_JSON.value, None)]


def test_age_arithmetic_holds_at_the_calendar_edges():
    for birth in (EARLIEST_DAY, LATEST_DAY, date(2999, 2, 28), date(2996, 2, 29)):
        assert ages.late_stage_elderly_from(birth).year == birth.year + 75
        assert ages.national_type1_from(birth) < ages.employee_pension_until(birth)


# --- properties -----------------------------------------------------------------------------

# no topic, or any ingestion topic (a retraction may be published on each of them)
TOPICS = st.sampled_from([None, *(t.name for t in topics_for("FilingRetracted"))])
ANY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats()
          | st.text(ANY_CHARACTER, max_size=8))


@settings(max_examples=1000, deadline=None)
@given(raw=st.binary(max_size=600), topic=TOPICS)
def test_random_bytes_give_a_filing_or_a_rejection(raw: bytes, topic: str | None):
    assert isinstance(_outcome(raw, topic), FilingRejected)


@settings(max_examples=1000, deadline=None)
@given(seed=st.integers(0, 2**64), leaf=LEAVES, topic=TOPICS)
def test_random_json_gives_a_filing_or_a_rejection(seed: int, leaf, topic: str | None):
    """Documents built from a seeded Random (hypothesis's own recursive strategies take 5 to
    20 s for 1,000 examples on this machine), each holding a leaf hypothesis drew."""
    _outcome(RandomJson(random.Random(seed)).document(leaf), topic)


@settings(max_examples=1000, deadline=None)
@given(seed=st.integers(0, 2**64), on_its_topic=st.booleans())
def test_mutated_filings_of_every_event_type_give_a_filing_or_a_rejection(
    seed: int, on_its_topic: bool
):
    """The mutations come from a Random seeded by the drawn integer: fast to draw, and a
    failure names the seed that reproduces it."""
    event_type, raw = mutated_example(random.Random(seed))
    topic = topics_for(event_type)[0].name if on_its_topic else None
    _outcome(raw, topic)


@settings(max_examples=1000, deadline=None)
@given(event_type=st.sampled_from(EVENT_TYPES), days=st.integers(-700_000, 2_900_000))
def test_filings_moved_to_any_era_give_a_filing_only_inside_the_calendar(event_type: str,
                                                                          days: int):
    """The same filing filed in another era (every date moved alike, within Python's own
    calendar): valid exactly when all its dates stay in the relay's calendar."""
    filing = example_filing(event_type)
    data = wire(filing)
    outcome = _outcome(dumps(shifted(data, days)), topics_for(event_type)[0].name)
    dates = [filing.filed_on, *(_at(data, p) for p in _date_paths(data))]
    inside = all(EARLIEST_DAY <= d + timedelta(days=days) <= LATEST_DAY for d in dates)
    assert isinstance(outcome, Filing) == inside


def _at(data, path) -> date:
    for part in path:
        data = data[part]
    return date.fromisoformat(data)


def test_the_mutator_reaches_every_event_type_and_sometimes_leaves_a_valid_filing():
    seen, valid = set(), 0
    for seed in range(600):
        event_type, raw = mutated_example(random.Random(seed))
        seen.add(event_type)
        valid += isinstance(_outcome(raw, topics_for(event_type)[0].name), Filing)
    assert seen == set(EVENT_TYPES)
    assert 0 < valid < 300
