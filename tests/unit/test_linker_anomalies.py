"""Look-alike anomalies tell the truth: one raised while a filing waited for an identity change
is resolved when the filing is then accepted (DOMAIN §5a); one still unexplained stays open."""

from datetime import date, timedelta

from relay_linker.domain import effects as fx
from relay_linker.domain.commands import InsuredPerson, OpenLink
from tests.unit.test_linker_support import (
    Filer,
    Relay,
    at,
    employee_insurance,
    moving,
    of_type,
    opening,
    person,
    register,
    with_items,
)

KID = person("kid", "10000000003", "2015-07-07")
TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HANA = person("hana", "10000000001", "1980-05-10")
NEW_HOME = "東京都港区三田2-2-2"
OTHER_HOME = "東京都新宿区西新宿2-8-1"


def _early_acquisition(address: str = NEW_HOME):
    """An employer told of the move files with the new address before the town's move arrives."""
    moved = HANA.at_address(address)
    filed = opening(HANA, employee_insurance(HANA), date(2025, 4, 1), identity=moved)
    return EMPLOYER.file("acq", filed, when=at(4, 2))


def _move():
    moved = moving(HANA, HANA.identity, NEW_HOME, date(2025, 3, 20))
    return TOWN.file("move", moved, when=at(4, 3))


def test_a_lookalike_raised_while_waiting_for_the_move_is_resolved_by_the_acceptance() -> None:
    relay = Relay()
    early = _early_acquisition()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), early)
    assert relay.status(early) == "parked"
    assert relay.anomalies() == [("lookalike", False)]
    effects = relay.feed(_move())
    assert relay.status(early) == "accepted"
    (note,) = relay.state.anomalies.values()
    assert (note.code, note.event_id, note.resolved) == ("lookalike", early.event_id, True)
    assert [e.anomaly_id for e in of_type(effects, fx.AnomalyResolved)] == [note.anomaly_id]


def test_the_move_arriving_first_raises_no_lookalike_so_both_orders_end_with_none_open() -> None:
    first = Relay()
    first.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), _move(), _early_acquisition())
    assert first.anomalies() == []
    later = Relay()
    later.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), _early_acquisition(), _move())
    assert [resolved for _, resolved in later.anomalies()] == [True]


def test_a_filing_refused_when_its_parking_runs_out_keeps_its_lookalike_open() -> None:
    relay = Relay()
    wrong = _early_acquisition(OTHER_HOME)
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), wrong)
    relay.expire(at(4, 2) + timedelta(days=15))
    assert relay.status(wrong) == "refused"
    assert relay.anomalies() == [("lookalike", False)]


def test_a_filing_accepted_at_once_resolves_no_other_filings_lookalike() -> None:
    relay = Relay()
    wrong = EMPLOYER.file(
        "acq-wrong",
        opening(HANA, employee_insurance(HANA), date(2025, 4, 1),
                identity=with_items(HANA.identity, kanji_name="山田花代")),
        when=at(4, 2),
    )
    right = EMPLOYER.file(
        "acq-right", opening(HANA, employee_insurance(HANA), date(2025, 5, 1)), when=at(4, 3)
    )
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), wrong, right)
    assert relay.status(right) == "accepted"
    assert relay.anomalies() == [("lookalike", False)]


def test_an_insured_persons_lookalike_is_resolved_when_the_dependant_is_then_added() -> None:
    """A dependant's filing names the insured person by number and items (DOMAIN §5a): the
    insured person's new address before their move parks it with a look-alike about them."""
    relay = Relay()
    hired = opening(HANA, employee_insurance(HANA), date(2025, 3, 1))
    insured = InsuredPerson(HANA.resident, HANA.at_address(NEW_HOME))
    spec = employee_insurance(KID, "dependant")
    added = EMPLOYER.file(
        "add", OpenLink(KID.resident, KID.identity, spec, date(2025, 4, 1), None, insured),
        when=at(4, 2),
    )
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(3, 1)),
        TOWN.file("reg-kid", register(KID), when=at(3, 1)),
        EMPLOYER.file("acq", hired, when=at(3, 2)),
        added,
    )
    assert relay.status(added) == "parked"
    (note,) = relay.state.anomalies.values()
    assert (note.relay_ids, note.fields) == ((relay.relay_id(HANA),), ("insured_identity.address",))
    relay.feed(_move())
    assert relay.status(added) == "accepted"
    assert relay.anomalies() == [("lookalike", True)]
