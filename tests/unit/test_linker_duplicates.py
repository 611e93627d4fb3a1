"""Idempotency: an event id decides once; the same filing again repeats its outcome.

Different content under a known event id is refused and leaves the original untouched."""

from datetime import date

from relay_linker.domain import history
from relay_linker.domain.effects import OutcomeIssued
from tests.unit.test_linker_support import (
    Filer,
    Relay,
    at,
    employee_insurance,
    of_type,
    opening,
    person,
    register,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HANA = person("hana", "10000000001", "1980-05-10")


def _relay_with_acquisition() -> tuple[Relay, OutcomeIssued]:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    effects = relay.feed(
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        )
    )
    (first,) = of_type(effects, OutcomeIssued)
    return relay, first


def test_the_same_filing_uploaded_again_repeats_its_outcome_and_changes_nothing() -> None:
    relay, first = _relay_with_acquisition()
    before = (history(relay.state), dict(relay.state.ledger), dict(relay.state.persons))
    again = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    effects = relay.feed(again)
    (repeat,) = effects
    assert isinstance(repeat, OutcomeIssued)
    assert (repeat.status, repeat.receipt_id, repeat.repeated) == (
        "accepted",
        first.receipt_id,
        True,
    )
    assert repeat.outbox_id != first.outbox_id
    assert (history(relay.state), relay.state.ledger, relay.state.persons) == before


def test_the_same_kafka_record_redelivered_gives_nothing() -> None:
    relay = Relay()
    registration = TOWN.file("reg", register(HANA), when=at(4, 1))
    relay.feed(registration)
    assert relay.feed(registration) == []


def test_different_content_under_a_known_event_id_is_a_conflicting_duplicate() -> None:
    relay, first = _relay_with_acquisition()
    before = (history(relay.state), dict(relay.state.ledger))
    changed = EMPLOYER.file(
        "acq",
        opening(HANA, employee_insurance(HANA), date(2025, 5, 1)),
        when=at(4, 3),
        content="v2",
    )
    (refusal,) = relay.feed(changed)
    assert isinstance(refusal, OutcomeIssued)
    assert (refusal.status, [r.code for r in refusal.reasons]) == (
        "refused",
        ["conflicting_duplicate"],
    )
    assert refusal.receipt_id != first.receipt_id
    assert (history(relay.state), relay.state.ledger) == before
    assert relay.status(changed) == "accepted"


def test_a_parked_filing_uploaded_again_repeats_parked() -> None:
    relay = Relay()
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    relay.feed(acquisition)
    again = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    (repeat,) = relay.feed(again)
    assert isinstance(repeat, OutcomeIssued)
    assert repeat.status == "parked"
