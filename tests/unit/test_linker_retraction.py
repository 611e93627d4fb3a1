"""取消: a retraction undoes exactly the named filing, or parks until it arrives.

A parked target is refused as retracted; a registration others build on is not retractable."""

from datetime import date

from relay_linker.domain.effects import LinkChangeEmitted
from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    Filer,
    Relay,
    at,
    closing,
    death,
    employee_insurance,
    moving,
    of_type,
    opening,
    outcomes,
    person,
    register,
    retraction,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
OTHER = Filer("E0002")
HANA = person("hana", "10000000001", "1980-05-10")
KOJI = person("koji", "10000000002", "1982-11-03", "male")
RETIRED = date(2055, 5, 10)


def _acquired(relay: Relay) -> None:
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
    )


def test_retracting_an_acquisition_marks_its_link_retracted() -> None:
    relay = Relay()
    _acquired(relay)
    effects = relay.feed(EMPLOYER.file("cancel", retraction("acq"), when=at(4, 3)))
    assert relay.links(HANA) == [
        (
            "hana",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2025, 4, 1),
            RETIRED,
            True,
        ),
    ]
    assert [e.change for e in of_type(effects, LinkChangeEmitted)] == ["retracted"]
    assert relay.state.ledger[relay.state.references[("E0001", "acq")]].retracted_by is not None
    assert HANA.insured().key not in relay.state.index


def test_retracting_a_loss_reopens_the_link() -> None:
    relay = Relay()
    _acquired(relay)
    relay.feed(
        EMPLOYER.file(
            "loss", closing(HANA, employee_insurance(HANA), date(2025, 9, 1)), when=at(4, 4)
        )
    )
    assert relay.links(HANA)[0][5] == date(2025, 9, 1)
    effects = relay.feed(EMPLOYER.file("cancel", retraction("loss"), when=at(4, 5)))
    assert relay.links(HANA)[0][5:] == (RETIRED, False)
    (emitted,) = of_type(effects, LinkChangeEmitted)
    assert (emitted.change, emitted.valid_to) == ("reopened", RETIRED)
    relay.feed(
        EMPLOYER.file(
            "loss-2", closing(HANA, employee_insurance(HANA), date(2025, 10, 1)), when=at(4, 6)
        )
    )
    assert relay.links(HANA)[0][5] == date(2025, 10, 1)


def test_retracting_a_parked_filing_refuses_it_as_retracted() -> None:
    relay = Relay()
    waiting = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    relay.feed(waiting)
    effects = relay.feed(EMPLOYER.file("cancel", retraction("acq"), when=at(4, 3)))
    assert outcomes(effects) == [("acq", "refused", ("retracted",)), ("cancel", "accepted", ())]
    assert relay.state.parked == {}
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 4)))
    assert relay.links(HANA) == []


def test_a_retraction_arriving_before_its_target_waits_for_it() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    cancel = EMPLOYER.file("cancel", retraction("acq"), when=at(4, 3))
    relay.feed(cancel)
    assert relay.reasons(cancel) == [("retraction_target_missing", "retracted_filing_reference")]
    effects = relay.feed(
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        )
    )
    assert outcomes(effects) == [("acq", "accepted", ()), ("cancel", "accepted", ())]
    assert relay.links(HANA)[0][-1] is True


def test_only_the_same_filer_can_retract() -> None:
    relay = Relay()
    _acquired(relay)
    cancel = OTHER.file("cancel", retraction("acq"), when=at(4, 3))
    relay.feed(cancel)
    assert relay.status(cancel) == "parked"
    assert relay.links(HANA)[0][-1] is False


def test_a_registration_with_links_cannot_be_retracted() -> None:
    relay = Relay()
    _acquired(relay)
    cancel = TOWN.file("cancel", retraction("reg"), when=at(4, 3))
    relay.feed(cancel)
    assert relay.reasons(cancel) == [("retraction_blocked", "retracted_filing_reference")]
    assert relay.relay_id(HANA) in relay.state.persons


def test_a_registration_alone_can_be_retracted_and_the_code_registered_again() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("cancel", retraction("reg"), when=at(4, 2)),
    )
    assert relay.state.persons == {}
    assert relay.state.index == {}
    relay.feed(TOWN.file("reg-2", register(HANA), when=at(4, 3)))
    assert len(relay.state.persons) == 1


def test_an_acquisition_already_lost_cannot_be_retracted() -> None:
    relay = Relay()
    _acquired(relay)
    relay.feed(
        EMPLOYER.file(
            "loss", closing(HANA, employee_insurance(HANA), date(2025, 9, 1)), when=at(4, 4)
        )
    )
    cancel = EMPLOYER.file("cancel", retraction("acq"), when=at(4, 5))
    relay.feed(cancel)
    assert relay.reasons(cancel) == [("retraction_blocked", "retracted_filing_reference")]


def test_retracting_a_move_restores_the_old_address() -> None:
    relay = Relay()
    new_home = "東京都港区三田2-2-2"
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("move", moving(HANA, HANA.identity, new_home, date(2025, 3, 20)), when=at(4, 2)),
        TOWN.file("cancel", retraction("move"), when=at(4, 3)),
    )
    old_address = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 4)
    )
    relay.feed(old_address)
    assert relay.status(old_address) == "accepted"


def test_retracting_a_death_reopens_the_links_it_closed() -> None:
    relay = Relay()
    _acquired(relay)
    relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(4, 5)))
    assert relay.links(HANA)[0][5] == date(2025, 7, 1)
    relay.feed(TOWN.file("cancel", retraction("death"), when=at(4, 6)))
    assert relay.links(HANA)[0][5] == RETIRED
    assert relay.state.persons[relay.relay_id(HANA)].died_on is None


def test_retractions_are_ledgered_and_cannot_be_retracted_or_repeated() -> None:
    relay = Relay()
    _acquired(relay)
    relay.feed(EMPLOYER.file("cancel", retraction("acq"), when=at(4, 3)))
    again = EMPLOYER.file("cancel-2", retraction("acq"), when=at(4, 4))
    undo = EMPLOYER.file("cancel-3", retraction("cancel"), when=at(4, 5))
    relay.feed(again, undo)
    assert relay.status(EMPLOYER.file("cancel", retraction("acq"), when=at(4, 3))) == "accepted"
    assert relay.reasons(again) == [("already_retracted", "retracted_filing_reference")]
    assert relay.reasons(undo) == [("not_retractable", "retracted_filing_reference")]


def test_retracting_a_refused_filing_is_accepted_and_changes_nothing() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    twice = TOWN.file("reg-twice", register(HANA), when=at(4, 2))
    cancel = TOWN.file("cancel", retraction("reg-twice"), when=at(4, 3))
    relay.feed(twice, cancel)
    assert (relay.status(twice), relay.status(cancel)) == ("refused", "accepted")
    assert len(relay.state.persons) == 1
