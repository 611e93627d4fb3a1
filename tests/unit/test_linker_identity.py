"""Who a filing is about: never guessed, five items matched on the filing's effective date.

Reasons name the mismatched item only; a three-item look-alike is recorded, never merged."""

from datetime import UTC, date, datetime

import pytest

from relay_linker.domain import history
from relay_linker.domain.commands import ChangeIdentity
from relay_linker.domain.model import Reason
from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    HASHER,
    NHI_INSURER,
    Filer,
    Relay,
    at,
    closing,
    employee_insurance,
    moving,
    nhi,
    opening,
    outcomes,
    person,
    register,
    with_items,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HANA = person("hana", "10000000001", "1980-05-10")
TWIN = person("hana", "10000000009", "1980-05-10", address="港区芝9-9-9")
NEW_HOME = "東京都港区三田2-2-2"


def test_a_second_registration_of_a_resident_code_is_refused() -> None:
    relay = Relay()
    again = TOWN.file("reg-again", register(HANA, reason="birth"), when=at(4, 2))
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), again)
    assert relay.status(again) == "refused"
    assert relay.reasons(again) == [("person_exists", "resident_code")]
    assert len(relay.state.persons) == 1


def test_an_unknown_number_parks_the_filing() -> None:
    relay = Relay()
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    relay.feed(acquisition)
    assert relay.status(acquisition) == "parked"
    assert relay.reasons(acquisition) == [("unknown_reference", "person")]
    assert relay.state.persons == {}


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("kanji_name", "山田花代"),
        ("kana_name", "ヤマダハナヨ"),
        ("birth_date", "1980-05-11"),
        ("sex", "male"),
        ("address", "東京都新宿区西新宿2-8-1"),
    ],
)
def test_an_identity_mismatch_names_only_the_item(item: str, value: str) -> None:
    relay = Relay()
    wrong = with_items(HANA.identity, **{item: value})
    acquisition = EMPLOYER.file(
        "acq",
        opening(HANA, employee_insurance(HANA), date(2025, 4, 1), identity=wrong),
        when=at(4, 2),
    )
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), acquisition)
    assert relay.status(acquisition) == "parked"
    assert relay.state.ledger[acquisition.event_id].reasons == (
        Reason("identity_mismatch", f"identity.{item}"),
    )
    reason = relay.state.ledger[acquisition.event_id].reasons[0]
    assert value not in f"{reason} {reason.message}"
    relay.feed(EMPLOYER.file("later", opening(TWIN, nhi(TWIN), date(2025, 4, 1)), when=at(4, 17)))
    assert relay.status(acquisition) == "refused"
    assert relay.links(HANA) == []


@pytest.mark.parametrize(
    ("item", "value", "lookalike"),
    [
        ("kanji_name", "山田花代", True),
        ("address", "東京都新宿区西新宿2-8-1", True),
        ("kana_name", "ヤマダハナヨ", False),
        ("sex", "male", False),
    ],
)
def test_a_three_item_match_with_a_mismatch_elsewhere_is_a_lookalike(
    item: str, value: str, lookalike: bool
) -> None:
    relay = Relay()
    wrong = with_items(HANA.identity, **{item: value})
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq",
            opening(HANA, employee_insurance(HANA), date(2025, 4, 1), identity=wrong),
            when=at(4, 2),
        ),
    )
    expected = [("lookalike", False)] if lookalike else []
    assert relay.anomalies() == expected


def test_registering_a_lookalike_records_it_and_still_creates_the_person() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-1", register(HANA), when=at(4, 1)),
        TOWN.file("reg-2", register(TWIN), when=at(4, 2)),
    )
    assert len(relay.state.persons) == 2
    (note,) = relay.state.anomalies.values()
    assert note.code == "lookalike"
    assert set(note.relay_ids) == {relay.relay_id(HANA), relay.relay_id(TWIN)}


def test_a_late_filing_with_the_old_address_matches_the_identity_of_its_date() -> None:
    relay = Relay()
    late = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 3, 1)), when=at(4, 5)
    )
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, date(2025, 3, 20)), when=at(4, 2)),
        late,
    )
    assert relay.status(late) == "accepted"


def test_a_filing_dated_after_the_move_with_the_old_address_is_parked() -> None:
    relay = Relay()
    stale = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 5)
    )
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, date(2025, 3, 20)), when=at(4, 2)),
        stale,
    )
    assert relay.reasons(stale) == [("identity_mismatch", "identity.address")]


def test_a_filing_with_the_new_address_waits_for_the_move() -> None:
    relay = Relay()
    moved = HANA.at_address(NEW_HOME)
    early = EMPLOYER.file(
        "acq",
        opening(HANA, employee_insurance(HANA), date(2025, 4, 1), identity=moved),
        when=at(4, 2),
    )
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), early)
    assert relay.status(early) == "parked"
    effects = relay.feed(
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, date(2025, 3, 20)), when=at(4, 3))
    )
    assert outcomes(effects) == [("move", "accepted", ()), ("acq", "accepted", ())]
    assert relay.links(HANA)[0][:2] == ("hana", EMPLOYER_INSURER)


def test_two_moves_arriving_in_reverse_order_both_apply() -> None:
    relay = Relay()
    first_home, second_home = "東京都港区三田2-2-2", "東京都港区高輪3-3-3"
    after_first = HANA.at_address(first_home)
    second = TOWN.file(
        "move-2", moving(HANA, after_first, second_home, date(2025, 5, 1)), when=at(5, 2)
    )
    first = TOWN.file(
        "move-1", moving(HANA, HANA.identity, first_home, date(2025, 4, 1)), when=at(5, 3)
    )
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), second, first)
    assert (relay.status(second), relay.status(first)) == ("accepted", "accepted")
    relay_id = relay.relay_id(HANA)
    periods = [(c.effective_from, c.reason) for c in relay.state.identity[relay_id]]
    assert sorted(periods) == [
        (date(2024, 1, 1), "go_live"),
        (date(2025, 4, 1), "moved"),
        (date(2025, 5, 1), "moved"),
    ]


def test_a_name_change_changes_the_lookalike_candidate() -> None:
    relay = Relay()
    renamed = ChangeIdentity(
        HANA.resident,
        HANA.identity,
        {"kanji_name": "鈴木花子", "kana_name": "スズキハナコ"},
        date(2025, 4, 1),
        "name_changed",
    )
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("rename", renamed, when=at(4, 2)),
    )
    assert sum(len(v) for v in relay.state.candidates.values()) == 2


def test_an_unknown_identity_item_is_refused() -> None:
    relay = Relay()
    odd = ChangeIdentity(
        HANA.resident, HANA.identity, {"shoe_size": "24"}, date(2025, 4, 1), "corrected"
    )
    record = TOWN.file("odd", odd, when=at(4, 2))
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)), record)
    assert relay.reasons(record) == [("unknown_item", "changes.shoe_size")]


def test_identity_never_appears_in_clear_in_the_state_or_effects() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, date(2025, 3, 20)), when=at(4, 2)),
        TOWN.file(
            "move-2", moving(TWIN, TWIN.identity, NEW_HOME, date(2025, 3, 20)), when=at(4, 3)
        ),
    )
    assert relay.state.parked
    dumped = repr(relay.state) + repr(relay.log)
    for value in (
        HANA.identity.kanji_name,
        HANA.identity.kana_name,
        HANA.identity.address,
        NEW_HOME,
        "1980-05-10",
        "1980, 5, 10",
        "sealed:",
    ):
        assert value not in dumped


def test_identity_periods_in_the_history_follow_the_dated_changes() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, date(2025, 3, 20)), when=at(4, 2)),
    )
    relay_id = relay.relay_id(HANA)
    rows = [row for row in history(relay.state) if row[1] == relay_id]
    assert [row[:4] for row in rows] == [
        ("identity", relay_id, date(2024, 1, 1), date(2025, 3, 20)),
        ("identity", relay_id, date(2025, 3, 20), None),
        ("person", relay_id, None),
    ]
    (first, second) = rows[:2]
    assert first[4:8] == second[4:8]
    assert first[8] != second[8]
    assert first[8] == HASHER.identity_hash(relay_id, "address", HANA.identity.address).hex()


# Whose identity a filing is compared with (DOMAIN §5a, issue 8 point 4). Each test states the
# rule, its source and the links the relay must hold afterwards, written out by hand.

MOVED_ON = date(2025, 6, 1)
AT_75 = date(2055, 5, 10)  # an open employee-insurance link ends at 75 (DOMAIN §5b)
MARRIED = with_items(HANA.identity, kanji_name="佐藤花子", kana_name="サトウハナコ")


def _married(on: date) -> ChangeIdentity:
    changes = {"kanji_name": MARRIED.kanji_name, "kana_name": MARRIED.kana_name}
    return ChangeIdentity(HANA.resident, HANA.identity, changes, on, "name_changed")


def _employed_then_moved(relay: Relay) -> None:
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, MOVED_ON), when=at(6, 2)),
    )


def test_a_loss_on_the_day_of_a_move_carries_the_old_address() -> None:
    """Rule: a loss is compared with the identity of the last covered day, loss date − 1
    (DOMAIN §5a; 健康保険法36条: the loss date is the day after the last day of employment).
    She moves on 6/1, her last day at work is 5/31; the employer's correct 資格喪失届 names
    the address she had on 5/31 and ends the link on 6/1."""
    relay = Relay()
    _employed_then_moved(relay)
    loss = EMPLOYER.file(
        "loss", closing(HANA, employee_insurance(HANA), MOVED_ON), when=at(6, 3)
    )
    relay.feed(loss)
    assert relay.status(loss) == "accepted"
    assert relay.links(HANA) == [
        ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1), MOVED_ON,
         False),
    ]


def test_the_old_municipalitys_nhi_loss_after_a_move_carries_the_old_address() -> None:
    """Rule: as above, for NHI (DOMAIN §5a; 国民健康保険法8条: a person who takes an address
    elsewhere loses the old membership that day). The old town files the loss of 6/1 with the
    address it knew, which was hers on 5/31."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        TOWN.file("nhi", opening(HANA, nhi(HANA), date(2024, 1, 1)), when=at(4, 2)),
        TOWN.file("move", moving(HANA, HANA.identity, NEW_HOME, MOVED_ON), when=at(6, 2)),
    )
    loss = TOWN.file("nhi-loss", closing(HANA, nhi(HANA), MOVED_ON), when=at(6, 4))
    relay.feed(loss)
    assert relay.status(loss) == "accepted"
    assert relay.links(HANA) == [
        ("hana", NHI_INSURER, "insured", "nhi", date(2024, 1, 1), MOVED_ON, False),
    ]


def test_a_loss_after_the_move_with_the_new_address_matches_what_was_known_on_arrival() -> None:
    """Rule: a filing also matches the identity known when it was filed, its relay time's
    Japan date (DOMAIN §5a, issue 8 point 4). Filed on 6/3 with the address valid on 6/3."""
    relay = Relay()
    _employed_then_moved(relay)
    moved = HANA.at_address(NEW_HOME)
    loss = EMPLOYER.file(
        "loss", closing(HANA, employee_insurance(HANA), MOVED_ON, identity=moved), when=at(6, 3)
    )
    relay.feed(loss)
    assert relay.status(loss) == "accepted"
    assert relay.links(HANA) == [
        ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1), MOVED_ON,
         False),
    ]


def test_a_loss_a_day_after_the_move_with_the_old_address_is_parked() -> None:
    """Rule: only the last covered day, not any earlier identity (DOMAIN §5a). Lost on 6/2,
    last covered day 6/1, when she already lived at the new address: the old one is wrong."""
    relay = Relay()
    _employed_then_moved(relay)
    loss = EMPLOYER.file(
        "loss", closing(HANA, employee_insurance(HANA), date(2025, 6, 2)), when=at(6, 3)
    )
    relay.feed(loss)
    assert relay.reasons(loss) == [("identity_mismatch", "identity.address")]
    assert relay.links(HANA) == [
        ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1),
         AT_75, False),
    ]


def test_a_loss_filed_after_a_marriage_with_the_new_name_is_accepted() -> None:
    """Rule: a filing matches the identity known on its relay time's date (DOMAIN §5a, issue 8
    point 4): told of her marriage of 5/1, the employer files on 5/10 the loss of 4/16 (last
    day at work 4/15) with her new name."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        TOWN.file("marriage", _married(date(2025, 5, 1)), when=at(5, 2)),
    )
    loss = EMPLOYER.file(
        "loss",
        closing(HANA, employee_insurance(HANA), date(2025, 4, 16), identity=MARRIED),
        when=at(5, 10),
    )
    relay.feed(loss)
    assert relay.status(loss) == "accepted"
    assert relay.links(HANA) == [
        ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1),
         date(2025, 4, 16), False),
    ]


def test_the_new_name_before_the_marriage_is_not_known_yet() -> None:
    """Rule: the identity known when filed is the one valid on the relay time's date, never a
    later one (DOMAIN §5a). The loss arrives on 4/20 with the name she takes on 5/1: parked,
    naming the items of the last covered day, then refused 14 days of relay time later."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        TOWN.file("marriage", _married(date(2025, 5, 1)), when=at(4, 18)),
    )
    loss = EMPLOYER.file(
        "loss",
        closing(HANA, employee_insurance(HANA), date(2025, 4, 16), identity=MARRIED),
        when=at(4, 20),
    )
    relay.feed(loss)
    assert relay.reasons(loss) == [
        ("identity_mismatch", "identity.kanji_name"),
        ("identity_mismatch", "identity.kana_name"),
    ]
    relay.expire(at(5, 5))
    assert relay.status(loss) == "refused"
    assert relay.links(HANA) == [
        ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1),
         AT_75, False),
    ]


def test_the_date_known_on_arrival_is_the_relay_times_japan_date() -> None:
    """Rule: "known when filed" is read on the relay clock, in Japan time (issue 8 point 4),
    never on `occurred_at`, which the filer sets. Relay time 4/30 15:30 UTC is 5/1 in Japan,
    the marriage's first day, so the new name matches although occurred_at says 4/20."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        TOWN.file("marriage", _married(date(2025, 5, 1)), when=at(4, 18)),
    )
    loss = EMPLOYER.file(
        "loss",
        closing(HANA, employee_insurance(HANA), date(2025, 4, 16), identity=MARRIED),
        when=at(4, 20),
        relay_time=datetime(2025, 4, 30, 15, 30, tzinfo=UTC),
    )
    relay.feed(loss)
    assert relay.status(loss) == "accepted"
