"""Parking, then acceptance or refusal: filings wait for what they name, within 14 days.

Retries cascade inside one decision, oldest first; expiry follows the partition's event time."""

from datetime import date, datetime, timedelta

from relay_linker.domain import PARKING_BOUND
from relay_linker.domain.effects import AnomalyRecorded, FilingParked, OutcomeIssued
from relay_linker.domain.keys import index_wait
from tests.unit.test_linker_support import (
    Filer,
    Relay,
    at,
    closing,
    employee_insurance,
    of_type,
    opening,
    outcomes,
    pension,
    person,
    register,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001", partition=1)
JPS = Filer("JPS", partition=2)
HANA = person("hana", "10000000001", "1980-05-10")
KOJI = person("koji", "10000000002", "1982-11-03", "male")


def test_the_bound_is_fourteen_days_of_event_time() -> None:
    assert timedelta(days=14) == PARKING_BOUND


def test_parked_until_the_registration_arrives_then_accepted_with_the_same_receipt() -> None:
    relay = Relay()
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    first = relay.feed(acquisition)
    (parked,) = of_type(first, FilingParked)
    assert parked.parked.wait_keys == (index_wait(HANA.resident.key),)
    later = relay.feed(TOWN.file("reg", register(HANA), when=at(4, 3)))
    assert outcomes(later) == [("reg", "accepted", ()), ("acq", "accepted", ())]
    receipts = {
        e.receipt_id for e in of_type(first + later, OutcomeIssued) if e.filing_reference == "acq"
    }
    assert len(receipts) == 1
    assert relay.state.parked == {}
    assert all(not waiting for waiting in relay.state.waiting.values())


def test_a_cascade_runs_through_chains_in_event_order() -> None:
    relay = Relay()
    number = pension(HANA, "employee_pension").number
    assignment = JPS.file(
        "bpn", opening(HANA, pension(HANA, None), date(2025, 4, 1)), when=at(4, 3)
    )
    qualification = JPS.file(
        "ep",
        opening(HANA, pension(HANA, "employee_pension"), date(2025, 4, 1), ref=number),
        when=at(4, 4),
    )
    loss = JPS.file(
        "ep-loss",
        closing(HANA, pension(HANA, "employee_pension"), date(2025, 6, 1), ref=number),
        when=at(4, 2),
    )
    relay.feed(loss, qualification, assignment)
    assert [(x[3], x[4], x[5]) for x in relay.links(HANA)] == []
    effects = relay.feed(TOWN.file("reg", register(HANA), when=at(4, 5)))
    assert outcomes(effects) == [
        ("reg", "accepted", ()),
        ("bpn", "accepted", ()),
        ("ep-loss", "parked", ("no_open_link",)),
        ("ep", "accepted", ()),
        ("ep-loss", "accepted", ()),
    ]
    assert [(x[3], x[4], x[5]) for x in relay.links(HANA)] == [
        (None, date(2025, 4, 1), None),
        ("employee_pension", date(2025, 4, 1), date(2025, 6, 1)),
    ]


def test_refused_after_the_bound_with_its_reason() -> None:
    relay = Relay()
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    relay.feed(acquisition)
    relay.feed(
        EMPLOYER.file(
            "x", opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)), when=at(4, 16, 9)
        )
    )
    assert relay.status(acquisition) == "parked"
    effects = relay.feed(
        EMPLOYER.file(
            "y", opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)), when=at(4, 16, 10)
        )
    )
    assert ("acq", "refused", ("unknown_reference",)) in outcomes(effects)
    assert relay.status(acquisition) == "refused"
    assert acquisition.event_id not in relay.state.parked


def test_expiry_reads_the_relay_clock_whatever_partition_is_quiet() -> None:
    relay = Relay()
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    relay.feed(acquisition)
    assert relay.expire(at(4, 16, 9)) == []
    assert relay.status(acquisition) == "parked"
    assert relay.expire(at(4, 16, 10))  # no record on its partition: the clock alone
    assert relay.status(acquisition) == "refused"


def test_a_forged_future_moves_no_deadline_and_is_refused() -> None:
    relay = Relay()
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    future = datetime(2999, 1, 1, tzinfo=at(4, 2).tzinfo)
    forged = EMPLOYER.file(
        "far", opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)), when=future,
        relay_time=at(4, 3),
    )
    effects = relay.feed(acquisition, forged)
    assert ("far", "refused", ("occurred_in_future",)) in outcomes(effects)
    assert relay.status(acquisition) == "parked"
    registration = TOWN.file("reg", register(HANA), when=at(4, 4))
    assert ("acq", "accepted", ()) in outcomes(relay.feed(registration))


def test_a_day_of_skew_is_tolerated_and_old_filings_are_legal() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    skewed = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2, 8),
        relay_time=at(4, 1, 9),
    )
    late = EMPLOYER.file(
        "old", opening(HANA, pension(HANA, "employee_pension"), date(2025, 4, 1)),
        when=at(1, 5), relay_time=at(9, 1),
    )
    assert outcomes(relay.feed(skewed, late)) == [
        ("acq", "accepted", ()), ("old", "accepted", ())
    ]


def test_a_loss_that_never_finds_its_acquisition_is_an_anomaly() -> None:
    relay = Relay()
    loss = EMPLOYER.file(
        "loss", closing(HANA, employee_insurance(HANA), date(2025, 9, 1)), when=at(4, 2)
    )
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), loss)
    effects = relay.expire(at(4, 17))
    (note,) = [e.anomaly for e in of_type(effects, AnomalyRecorded)]
    assert (note.code, note.relay_ids) == ("loss_without_acquisition", (relay.relay_id(HANA),))
    assert relay.reasons(loss) == [("no_open_link", "link")]
    (issued,) = of_type(effects, OutcomeIssued)
    assert (issued.status, issued.index) == ("refused", 0)


def test_a_filing_still_waiting_after_a_retry_is_not_reissued() -> None:
    relay = Relay()
    koji_links = EMPLOYER.file(
        "acq",
        opening(HANA, employee_insurance(HANA), date(2025, 4, 1)),
        opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)),
        when=at(4, 2),
    )
    relay.feed(koji_links)
    effects = relay.feed(TOWN.file("reg-k", register(KOJI), when=at(4, 3)))
    assert outcomes(effects) == [("reg-k", "accepted", ())]
    effects = relay.feed(TOWN.file("reg-h", register(HANA), when=at(4, 4)))
    assert outcomes(effects) == [("reg-h", "accepted", ()), ("acq", "accepted", ())]
