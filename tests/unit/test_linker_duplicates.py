"""Idempotency: an event id decides once; the same filing again repeats its outcome.

Different content under a known event id is refused under an id of its own and leaves the
original, and the original's answer, untouched."""

from dataclasses import replace
from datetime import date
from uuid import uuid5

from relay_linker.domain import decide, history
from relay_linker.domain.commands import LinkerRecord
from relay_linker.domain.effects import OutcomeIssued
from relay_linker.messages import output_rows
from schemas import FilingOutcome, decode_relay, event_id_for
from schemas.topics import Namespace
from tests.unit.test_linker_support import (
    FILING_NAMESPACE,
    HASHER,
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


def _changed_acquisition() -> LinkerRecord:
    """The acquisition re-sent under its filing reference with another date: other content."""
    return EMPLOYER.file(
        "acq",
        opening(HANA, employee_insurance(HANA), date(2025, 5, 1)),
        when=at(4, 3),
        content="v2",
    )


# hand-written: the test filer's event id of "acq", and the refusal's id derived from it
ACQ_EVENT_ID = uuid5(FILING_NAMESPACE, "E0001:acq")
ACQ_CONFLICT_ID = uuid5(ACQ_EVENT_ID, "conflict:acq:v2")


def test_different_content_under_a_known_event_id_is_refused_under_its_own_id() -> None:
    relay, first = _relay_with_acquisition()
    before = (history(relay.state), dict(relay.state.ledger))
    changed = _changed_acquisition()
    (refusal,) = relay.feed(changed)
    assert isinstance(refusal, OutcomeIssued)
    assert (refusal.event_id, refusal.conflicts_with) == (ACQ_CONFLICT_ID, ACQ_EVENT_ID)
    assert (refusal.filer_code, refusal.filing_reference) == ("E0001", "acq")
    assert (refusal.status, [(r.code, r.field) for r in refusal.reasons]) == (
        "refused",
        [("conflicting_duplicate", "event_id")],
    )
    assert refusal.content_hash == "acq:v2"
    assert refusal.receipt_id != first.receipt_id
    assert (history(relay.state), relay.state.ledger) == before
    assert relay.status(changed) == "accepted"


def test_the_original_keeps_its_answer_and_its_re_upload_repeats_it() -> None:
    relay, first = _relay_with_acquisition()
    assert (first.event_id, first.content_hash, first.conflicts_with) == (
        ACQ_EVENT_ID,
        "acq:v1",
        None,
    )
    relay.feed(_changed_acquisition())
    again = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    (repeat,) = relay.feed(again)
    assert isinstance(repeat, OutcomeIssued)
    assert (repeat.event_id, repeat.status, repeat.content_hash, repeat.conflicts_with) == (
        ACQ_EVENT_ID,
        "accepted",
        "acq:v1",
        None,
    )
    answers = [e for e in of_type(relay.log, OutcomeIssued) if e.event_id == ACQ_EVENT_ID]
    assert [e.status for e in answers] == ["accepted", "accepted"]


def test_the_changed_content_sent_twice_is_refused_twice_under_the_same_id() -> None:
    relay, _ = _relay_with_acquisition()
    (one,) = relay.feed(_changed_acquisition())
    (two,) = relay.feed(_changed_acquisition())
    assert isinstance(one, OutcomeIssued) and isinstance(two, OutcomeIssued)
    assert (one.event_id, two.event_id) == (ACQ_CONFLICT_ID, ACQ_CONFLICT_ID)
    assert one.receipt_id == two.receipt_id
    assert one.outbox_id != two.outbox_id


def test_a_conflict_with_a_parked_filing_leaves_it_parked_until_it_is_accepted() -> None:
    relay = Relay()
    relay.feed(
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        )
    )
    (refusal,) = relay.feed(_changed_acquisition())
    assert isinstance(refusal, OutcomeIssued)
    assert (refusal.event_id, refusal.status) == (ACQ_CONFLICT_ID, "refused")
    assert relay.state.ledger[ACQ_EVENT_ID].status == "parked"
    woken = relay.feed(TOWN.file("reg", register(HANA), when=at(4, 3)))
    accepted = [e for e in of_type(woken, OutcomeIssued) if e.filing_reference == "acq"]
    assert [(e.event_id, e.status, e.content_hash) for e in accepted] == [
        (ACQ_EVENT_ID, "accepted", "acq:v1")
    ]


def test_the_refusal_is_a_valid_outcome_message_that_names_the_earlier_filing() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    event_id = event_id_for("E0001", "acq")
    original = replace(
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        event_id=event_id,
        content_hash="1" * 64,
    )
    relay.feed(original)
    changed = replace(_changed_acquisition(), event_id=event_id, content_hash="2" * 64)
    effects = decide(relay.state, changed, HASHER)
    (row,) = output_rows(effects, changed.source, Namespace())
    message = decode_relay(row.value, FilingOutcome)
    assert message.event_id == uuid5(event_id, "conflict:" + "2" * 64)
    assert (message.conflicts_with, message.content_hash) == (event_id, "2" * 64)
    assert (message.filing_reference, message.status.value) == ("acq", "refused")
    assert message.kafka_key() == b"E0001"


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
