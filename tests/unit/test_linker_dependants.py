"""Dependants (被扶養者) are attached to their insured person only when that person's number and
five items both match (DOMAIN §5a, issue 8 point 1); each test writes the expected links by hand.

The source of every rule: DOMAIN §5a "A dependant's filing (被扶養者異動届) names the insured person
too, by number and the insured person's five items; both persons are matched by the same rule. A
look-alike or mistyped insured number must never attach a dependant to someone else.\""""

from datetime import date

from groundfloor.crypto import Keyring
from relay_linker.domain.commands import CloseLink, InsuredPerson, OpenLink
from relay_linker.translate import Translator, identity_of
from schemas.common import Capacity
from schemas.employer import DependantChange
from schemas.insurer import InsuredPersonOf
from tests.fixtures import examples
from tests.fixtures.examples import example_filing, resident
from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    Filer,
    Relay,
    Someone,
    at,
    blind,
    employee_insurance,
    moving,
    opening,
    person,
    register,
    with_items,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
TARO = person("taro", "40000000001", "1980-05-10", "male")
# TARO's look-alike: same kana name, birth date and sex; another kanji name and address
TWIN = Someone(
    "twin",
    "40000000002",
    with_items(TARO.identity, kanji_name="太朗漢字", address="東京都港区芝9-9-9"),
)
KID = person("kid", "40000000003", "2015-07-07")
EVERYONE = (TARO, TWIN, KID)
ADDED_ON, REMOVED_ON = date(2025, 5, 1), date(2025, 9, 1)
TARO_75 = date(2055, 5, 10)  # a dependant's cover ends at the insured person's 75th (§5b)


def _by(ref: Someone, items: Someone) -> InsuredPerson:
    """The insured person as a filing names them: `ref`'s number, `items`' identity items."""
    return InsuredPerson(ref.resident, items.identity)


def _added(insured: InsuredPerson) -> OpenLink:
    return OpenLink(
        KID.resident, KID.identity, employee_insurance(KID, "dependant"), ADDED_ON, None, insured
    )


def _removed(insured: InsuredPerson, on: date = REMOVED_ON) -> CloseLink:
    return CloseLink(KID.resident, KID.identity, employee_insurance(KID, "dependant"), on, insured)


def _employed() -> Relay:
    """TARO, his look-alike and the child registered; TARO employed from 4/1."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg-taro", register(TARO), when=at(4, 1)),
        TOWN.file("reg-twin", register(TWIN), when=at(4, 1)),
        TOWN.file("reg-kid", register(KID), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(TARO, employee_insurance(TARO), date(2025, 4, 1)), when=at(4, 2)
        ),
    )
    return relay


TARO_EMPLOYED = ("taro", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1),
                 TARO_75, False)


def _insured_of_kid(relay: Relay) -> list[str | None]:
    return [x.insured_relay_id for x in relay.state.links.get(relay.relay_id(KID), [])]


def test_a_dependant_is_added_under_the_insured_person_both_items_and_number_name() -> None:
    relay = _employed()
    added = EMPLOYER.file("dep-add", _added(_by(TARO, TARO)), when=at(5, 2))
    relay.feed(added)
    assert relay.status(added) == "accepted"
    assert relay.links(*EVERYONE) == [
        ("kid", EMPLOYER_INSURER, "dependant", "employee_insurance", ADDED_ON, TARO_75, False),
        TARO_EMPLOYED,
    ]
    assert _insured_of_kid(relay) == [relay.relay_id(TARO)]


def test_a_lookalikes_number_never_attaches_a_dependant_to_the_lookalike() -> None:
    """The 2023 failure in the dependant path: the employer typed the look-alike's number, with
    the right insured person's items. Parked naming the insured person's items that differ, a
    look-alike recorded, refused 14 days of relay time later; no link for anyone."""
    relay = _employed()
    added = EMPLOYER.file("dep-add", _added(_by(TWIN, TARO)), when=at(5, 2))
    relay.feed(added)
    assert relay.reasons(added) == [
        ("identity_mismatch", "insured_identity.kanji_name"),
        ("identity_mismatch", "insured_identity.address"),
    ]
    lookalikes = [a for a in relay.state.anomalies.values() if a.event_id == added.event_id]
    assert [(a.code, a.relay_ids) for a in lookalikes] == [("lookalike", (relay.relay_id(TWIN),))]
    relay.expire(at(5, 17))
    assert relay.status(added) == "refused"
    assert relay.links(*EVERYONE) == [TARO_EMPLOYED]


def test_a_mistyped_insured_number_parks_the_dependant() -> None:
    relay = _employed()
    typo = InsuredPerson(blind("resident_code", "40000000009"), TARO.identity)
    added = EMPLOYER.file("dep-add", _added(typo), when=at(5, 2))
    relay.feed(added)
    assert relay.reasons(added) == [("unknown_reference", "insured_person")]
    assert relay.links(*EVERYONE) == [TARO_EMPLOYED]


def test_the_insured_persons_items_on_the_filings_date_are_matched_like_anyone_elses() -> None:
    """Same rule as for any person (DOMAIN §5a): the insured person moved on 5/1, so an addition
    of 5/1 names the new address; the old one on a filing of that date is parked."""
    relay = _employed()
    new_home = "東京都港区三田2-2-2"
    relay.feed(TOWN.file("move", moving(TARO, TARO.identity, new_home, ADDED_ON), when=at(5, 2)))
    stale = EMPLOYER.file("dep-add", _added(_by(TARO, TARO)), when=at(5, 3))
    relay.feed(stale)
    assert relay.reasons(stale) == [("identity_mismatch", "insured_identity.address")]
    moved = InsuredPerson(TARO.resident, TARO.at_address(new_home))
    fresh = EMPLOYER.file("dep-add-2", _added(moved), when=at(5, 3))
    relay.feed(fresh)
    assert relay.status(fresh) == "accepted"


def test_a_removal_ends_the_dependants_link_under_the_insured_person_named() -> None:
    relay = _employed()
    relay.feed(EMPLOYER.file("dep-add", _added(_by(TARO, TARO)), when=at(5, 2)))
    removed = EMPLOYER.file("dep-remove", _removed(_by(TARO, TARO)), when=at(9, 2))
    relay.feed(removed)
    assert relay.status(removed) == "accepted"
    assert relay.links(*EVERYONE) == [
        ("kid", EMPLOYER_INSURER, "dependant", "employee_insurance", ADDED_ON, REMOVED_ON, False),
        TARO_EMPLOYED,
    ]


def test_a_removal_naming_the_lookalikes_number_changes_nothing() -> None:
    """For removals too (issue 8 point 1): the look-alike's number with the right items is an
    identity mismatch; the look-alike named consistently is not the child's insured person."""
    relay = _employed()
    relay.feed(EMPLOYER.file("dep-add", _added(_by(TARO, TARO)), when=at(5, 2)))
    mixed = EMPLOYER.file("dep-remove-1", _removed(_by(TWIN, TARO)), when=at(9, 2))
    other = EMPLOYER.file("dep-remove-2", _removed(_by(TWIN, TWIN)), when=at(9, 2))
    relay.feed(mixed, other)
    assert relay.reasons(mixed) == [
        ("identity_mismatch", "insured_identity.kanji_name"),
        ("identity_mismatch", "insured_identity.address"),
    ]
    assert relay.reasons(other) == [("no_open_link", "link")]
    assert relay.links(*EVERYONE) == [
        ("kid", EMPLOYER_INSURER, "dependant", "employee_insurance", ADDED_ON, TARO_75, False),
        TARO_EMPLOYED,
    ]


def test_a_dependant_loaded_without_an_insured_person_is_removed_by_its_number() -> None:
    """A link opened before dependants named their insured person holds none: the removal is
    judged by the dependant's own number and items, the insured person still matched."""
    relay = _employed()
    loaded = opening(KID, employee_insurance(KID, "dependant"), date(2025, 4, 1))
    relay.feed(EMPLOYER.file("load", loaded, when=at(4, 3)))
    removed = EMPLOYER.file("dep-remove", _removed(_by(TARO, TARO)), when=at(9, 2))
    relay.feed(removed)
    assert relay.status(removed) == "accepted"
    assert relay.links(*EVERYONE) == [
        ("kid", EMPLOYER_INSURER, "dependant", "employee_insurance", date(2025, 4, 1), REMOVED_ON,
         False),
        TARO_EMPLOYED,
    ]


def test_a_dependant_filing_carries_the_insured_persons_number_and_items_to_the_linker() -> None:
    """The 被扶養者異動届's insured person (its `person` and `identity`) travels on the command,
    for additions and removals alike, instead of being dropped after the number."""
    translator = Translator(Keyring.generate())
    filing = example_filing("DependantChanged")
    source = EMPLOYER.file("x", register(KID), when=at(4, 1)).source
    payload = filing.payload
    insurer = str(payload.insurer_number)
    expected = InsuredPerson(
        translator.person(payload.person, insurer), identity_of(payload.identity)
    )
    removal = filing.model_copy(
        update={"payload": payload.model_copy(update={"change": DependantChange.REMOVED})}
    )
    (added,) = translator.record(filing, source, at(4, 2)).commands
    (removed,) = translator.record(removal, source, at(4, 2)).commands
    assert isinstance(added, OpenLink) and isinstance(removed, CloseLink)
    assert added.insured_person == removed.insured_person == expected


def test_a_go_live_load_of_a_dependant_names_the_insured_person_to_the_linker() -> None:
    """Go-live member loads of dependants name their insured person (issue 8 point 1): the load's
    `insured_person` travels on the command and is matched like a 被扶養者異動届's."""
    translator = Translator(Keyring.generate())
    filing = example_filing("MemberLoaded")
    head = InsuredPersonOf(person=resident("23456789012"), identity=examples.identity())
    payload = filing.payload.model_copy(
        update={"capacity": Capacity.DEPENDANT, "insured_person": head}
    )
    source = EMPLOYER.file("x", register(KID), when=at(4, 1)).source
    (loaded,) = translator.record(filing.model_copy(update={"payload": payload}), source,
                                  at(4, 2)).commands
    assert isinstance(loaded, OpenLink)
    assert loaded.link.capacity == "dependant"
    assert loaded.insured_person == InsuredPerson(
        translator.resident("23456789012"), identity_of(examples.identity())
    )
