"""Households in the municipalities' contracts: the optional `household` and HouseholdChanged,
decoded, refused with a clear problem, kept secret, admitted from municipalities only, and
translated into the linker's JoinHousehold."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundfloor.crypto import Keyring
from relay_linker.domain.commands import ChangeIdentity, JoinHousehold, RegisterPerson, Source
from relay_linker.translate import Translator
from schemas import Filing, FilingRejected, decode_filing, encode
from schemas.filings import allowed_on
from tests.fixtures.examples import example_filing, leaks
from tests.fixtures.poison import Mutator, dumps, example_wire
from trust.rules import may_file

MUNICIPALITY = "filing.municipality.v1"
TOKEN = "SETAI-0042"
HOUSEHOLD = {"token": TOKEN, "householder": False}
NOW = datetime(2025, 4, 12, 9, 0, tzinfo=datetime.now().astimezone().tzinfo)


def _changed() -> dict:
    return example_wire("HouseholdChanged")


def _decoded(data: dict, topic: str | None = MUNICIPALITY) -> Filing | FilingRejected:
    """A Filing or the rejection; any other exception fails, and no rejection shows the token."""
    try:
        return decode_filing(dumps(data), topic)
    except FilingRejected as rejected:
        assert rejected.reasons
        texts = [str(rejected), *(r.model_dump_json() for r in rejected.reasons)]
        assert leaks([TOKEN], *texts) == []
        return rejected


def _problems(data: dict, topic: str | None = MUNICIPALITY) -> list[tuple[str, str | None]]:
    outcome = _decoded(data, topic)
    assert isinstance(outcome, FilingRejected)
    return [(r.code, r.field) for r in outcome.reasons]


@pytest.mark.parametrize(
    "event_type",
    ["ResidentRegistered", "BirthRegistered", "ArrivalFromAbroadRegistered", "MovedIn",
     "AddressChanged"],
)
def test_a_household_is_optional_on_registrations_and_moves(event_type: str) -> None:
    """Old filings (no household) keep decoding; with one, it is carried, masked in repr."""
    bare = example_wire(event_type)
    assert isinstance(_decoded(bare), Filing)
    bare["payload"]["household"] = HOUSEHOLD
    filing = _decoded(bare)
    assert isinstance(filing, Filing)
    assert filing.payload.household.token.reveal() == TOKEN
    assert TOKEN not in repr(filing)


@pytest.mark.parametrize("event_type", ["MovedOut", "AddressRenamed", "DeathRegistered"])
def test_no_household_on_other_municipality_events(event_type: str) -> None:
    data = example_wire(event_type)
    data["payload"]["household"] = HOUSEHOLD
    assert ("invalid", "payload.household") in _problems(data)


def test_the_example_household_change_decodes() -> None:
    filing = _decoded(_changed())
    assert isinstance(filing, Filing)
    assert filing.payload.kind.value == "separation"
    assert filing.payload.household.householder is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.pop("household"), ("invalid", "payload.household")),
        (lambda p: p.update(kind="divorce"), ("invalid", "payload.kind")),
        (lambda p: p["household"].update(token="SETAI 42"), ("invalid", "payload.household.token")),
        (lambda p: p["household"].update(token=""), ("invalid", "payload.household.token")),
        (lambda p: p["household"].update(token="x" * 65), ("invalid", "payload.household.token")),
        (lambda p: p["household"].update(householder="maybe"),
         ("invalid", "payload.household.householder")),
        (lambda p: p["household"].update(extra=1), ("invalid", "payload.household.extra")),
        (lambda p: p.update(changed_on="2025-04-01T00:00"), ("invalid", "payload.changed_on")),
    ],
)
def test_an_invalid_household_change_names_its_field(change, expected) -> None:
    data = _changed()
    change(data["payload"])
    assert expected in _problems(data)


def test_a_change_dated_after_its_filing_is_refused() -> None:
    data = _changed()
    day = date.fromisoformat(data["occurred_at"][:10]) + timedelta(days=3)
    data["payload"]["changed_on"] = data["effective_date"] = day.isoformat()
    assert ("invalid", "payload.changed_on") in _problems(data)


def test_the_person_token_may_not_carry_the_household_token() -> None:
    data = _changed()
    data["person_token"] = f"p-{TOKEN}"
    assert ("invalid", "person_token") in _problems(data)


def test_only_municipalities_file_household_changes() -> None:
    assert allowed_on("HouseholdChanged", MUNICIPALITY)
    assert not allowed_on("HouseholdChanged", "filing.employer.v1")
    assert may_file("municipality", "HouseholdChanged", MUNICIPALITY)
    for role, topic in (("employer", "filing.employer.v1"), ("insurer", "filing.insurer.v1"),
                        ("pension", "filing.pension.v1")):
        assert not may_file(role, "HouseholdChanged", topic)
    assert ("wrong_topic", "event_type") in _problems(_changed(), "filing.employer.v1")


# --- properties: nothing but a filing or a clear rejection ----------------------------------

FIELDS = ("kind", "household", "changed_on", "person", "identity")
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats()
          | st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12))


@settings(max_examples=1000, deadline=None)
@given(raw=st.binary(max_size=400))
def test_random_bytes_on_the_municipality_topic_are_refused(raw: bytes) -> None:
    assert isinstance(_decoded_raw(raw), FilingRejected)


@settings(max_examples=1000, deadline=None)
@given(name=st.sampled_from(FIELDS), leaf=LEAVES, seed=st.integers(0, 2**64))
def test_household_changes_with_any_value_give_a_filing_or_a_clear_problem(
    name: str, leaf, seed: int
) -> None:
    """A field of the payload (or of its household) replaced by any leaf or a poison value: a
    filing, or a rejection whose every reason says what is wrong (an invalid value where) and
    never shows the token."""
    data = _changed()
    rng = random.Random(seed)
    target = data["payload"]["household"] if rng.random() < 0.3 else data["payload"]
    key = rng.choice(["token", "householder"]) if target is not data["payload"] else name
    target[key] = leaf if rng.random() < 0.5 else Mutator(rng).nasty(target.get(key))
    outcome = _decoded(data)
    if isinstance(outcome, FilingRejected):
        assert all(r.message for r in outcome.reasons)
        assert all(r.field for r in outcome.reasons if r.code == "invalid")


def _decoded_raw(raw: bytes) -> Filing | FilingRejected:
    try:
        return decode_filing(raw, MUNICIPALITY)
    except FilingRejected as rejected:
        assert rejected.reasons
        return rejected


# --- translation ------------------------------------------------------------------------------

def _record(filing: Filing):
    return Translator(Keyring.ephemeral(b"households")).record(
        filing, Source(MUNICIPALITY, 0, 1), NOW)


def _with_household(event_type: str) -> Filing:
    data = example_wire(event_type)
    data["payload"]["household"] = HOUSEHOLD
    return decode_filing(json.dumps(data).encode(), MUNICIPALITY)


def test_a_move_with_a_household_joins_it_from_the_move_date() -> None:
    """転入 with a household: the address change, then the membership from moved_on; the
    identity items are those before the move (moved_on − 1), as for the change itself."""
    filing = _with_household("MovedIn")
    change, join = _record(filing).commands
    assert isinstance(change, ChangeIdentity) and isinstance(join, JoinHousehold)
    moved_on = filing.payload.moved_on
    assert (join.joined_on, join.identity_on) == (moved_on, moved_on - timedelta(days=1))
    assert join.person == change.person
    assert (join.municipality, join.household.kind) == (
        filing.filer_code, f"household:{filing.filer_code}")
    assert join.householder is False


def test_a_registration_with_a_household_registers_then_joins() -> None:
    filing = _with_household("BirthRegistered")
    register, join = _record(filing).commands
    assert isinstance(register, RegisterPerson) and isinstance(join, JoinHousehold)
    assert join.person == register.resident_code
    assert join.joined_on == join.identity_on == filing.payload.registered_on


def test_a_household_change_is_one_membership_and_the_token_stays_hidden() -> None:
    filing = example_filing("HouseholdChanged")
    record = _record(filing)
    (join,) = record.commands
    assert isinstance(join, JoinHousehold)
    assert (join.joined_on, join.reason, join.householder) == (
        filing.payload.changed_on, "separation", True)
    assert TOKEN not in repr(record)
    assert TOKEN.encode() not in join.household.index
    assert join.household.sealed is not None and TOKEN.encode() not in join.household.sealed


def test_one_token_at_two_municipalities_is_two_households() -> None:
    """A token is the municipality's own reference: indexed under its code."""
    translator = Translator(Keyring.ephemeral(b"households"))
    first = translator.number("household:131016", TOKEN)
    second = translator.number("household:271004", TOKEN)
    assert first.index != second.index


def test_the_wire_form_carries_the_token_in_clear_only_inside_the_payload() -> None:
    filing = example_filing("HouseholdChanged")
    assert TOKEN.encode() not in filing.kafka_key()
    assert TOKEN in encode(filing).decode()


# --- the householder flag: true or false, nothing guessed ------------------------------------


@pytest.mark.parametrize("value", [True, False, "true", "false", "TRUE", "False"])
def test_the_householder_flag_is_a_boolean_or_the_words_true_and_false(value) -> None:
    """docs/contracts.md: a boolean, read from a batch file's `true`/`false` (any case: a
    spreadsheet writes TRUE, and a filing written back as CSV reads True)."""
    data = _changed()
    data["payload"]["household"]["householder"] = value
    filing = _decoded(data)
    assert isinstance(filing, Filing)
    assert filing.payload.household.householder is (str(value).lower() == "true")


@pytest.mark.parametrize("value", ["1", "0", "yes", "no", "y", "n", "on", "off", "t", "f", "",
                                   " true", 1, 0, 1.0, None])
def test_a_householder_flag_that_is_neither_true_nor_false_is_refused(value) -> None:
    """Lax pydantic read "1", "yes", "on", "t", 1 and 1.0 as true and "0", "no", "off" as false:
    none is documented, and the flag decides who receives the NHI notices (DOMAIN §6)."""
    data = _changed()
    data["payload"]["household"]["householder"] = value
    assert ("invalid", "payload.household.householder") in _problems(data)


@pytest.mark.parametrize(("cell", "ok"), [("TRUE", True), ("false", True), ("yes", False),
                                          ("1", False)])
def test_a_batch_cell_for_the_householder_reads_only_true_or_false(cell: str, ok: bool) -> None:
    from producers.batch_rows import parse_batch
    from producers.validate import validate_batch
    from tests.fixtures.template import csv_row, csv_text

    row = csv_row(example_filing("HouseholdChanged"))
    assert row["household.householder"] == "True"
    row["household.householder"] = cell
    (result,) = validate_batch(parse_batch(csv_text([row]).encode()))
    assert result.ok is ok
    if not ok:
        assert TOKEN not in " ".join(str(p) for p in result.problems)
