"""Death closes every open link the day after; filings taking effect later are refused.

The employer's loss at died_on + 1 agrees with the death whichever arrives first."""

from datetime import date

from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    NHI_INSURER,
    Filer,
    Relay,
    at,
    closing,
    death,
    employee_insurance,
    moving,
    nhi,
    opening,
    person,
    register,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HANA = person("hana", "10000000001", "1960-05-10")
DIED = date(2025, 6, 30)


def _insured(relay: Relay) -> None:
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2024, 4, 1)), when=at(4, 2)
        ),
        TOWN.file(
            "nhi", opening(HANA, nhi(HANA), date(2020, 4, 1), date(2024, 4, 2)), when=at(4, 3)
        ),
    )


def test_death_closes_open_links_at_the_day_after() -> None:
    relay = Relay()
    _insured(relay)
    relay.feed(TOWN.file("death", death(HANA, DIED), when=at(7, 1)))
    assert relay.links(HANA) == [
        (
            "hana",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2024, 4, 1),
            date(2025, 7, 1),
            False,
        ),
        ("hana", NHI_INSURER, "insured", "nhi", date(2020, 4, 1), date(2024, 4, 2), False),
    ]
    assert relay.state.persons[relay.relay_id(HANA)].died_on == DIED


def test_a_filing_taking_effect_after_the_death_is_refused_and_noted() -> None:
    relay = Relay()
    _insured(relay)
    relay.feed(TOWN.file("death", death(HANA, DIED), when=at(7, 1)))
    late = TOWN.file(
        "move", moving(HANA, HANA.identity, "東京都港区三田2-2-2", date(2025, 7, 5)), when=at(7, 6)
    )
    relay.feed(late)
    assert relay.reasons(late) == [("person_deceased", "person")]
    assert relay.anomalies() == [("filing_for_dead_person", False)]


def test_the_employers_loss_after_the_death_agrees_with_it() -> None:
    for order in ("death first", "loss first"):
        relay = Relay()
        _insured(relay)
        dying = TOWN.file("death", death(HANA, DIED), when=at(7, 1))
        loss = EMPLOYER.file(
            "loss", closing(HANA, employee_insurance(HANA), date(2025, 7, 1)), when=at(7, 2)
        )
        relay.feed(*((dying, loss) if order == "death first" else (loss, dying)))
        assert relay.status(loss) == "accepted", order
        assert relay.links(HANA)[0][5] == date(2025, 7, 1), order


def test_a_loss_dated_after_the_death_is_refused() -> None:
    relay = Relay()
    _insured(relay)
    relay.feed(TOWN.file("death", death(HANA, DIED), when=at(7, 1)))
    loss = EMPLOYER.file(
        "loss", closing(HANA, employee_insurance(HANA), date(2025, 7, 15)), when=at(7, 2)
    )
    relay.feed(loss)
    assert relay.reasons(loss) == [("person_deceased", "person")]
    assert relay.links(HANA)[0][5] == date(2025, 7, 1)


def test_a_late_acquisition_from_before_the_death_ends_at_the_death() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("death", death(HANA, DIED), when=at(7, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 6, 1)), when=at(7, 2)
        ),
    )
    assert relay.links(HANA)[0][4:6] == (date(2025, 6, 1), date(2025, 7, 1))


def test_a_second_death_is_refused() -> None:
    relay = Relay()
    _insured(relay)
    again = TOWN.file("death-2", death(HANA, date(2025, 6, 29)), when=at(7, 2))
    relay.feed(TOWN.file("death", death(HANA, DIED), when=at(7, 1)), again)
    assert relay.reasons(again) == [("already_dead", "person")]
