"""Change notices: a death, a name or address change and a coverage end are told to every
insurer that knows or knew the person, once each, by that insurer's own number."""

from datetime import date

from relay_linker.domain.commands import ChangeIdentity
from relay_linker.domain.effects import ChangeNoticeDue
from relay_linker.domain.notices import notices_due
from tests.unit.test_linker_support import (
    CARE_INSURER,
    EMPLOYER_INSURER,
    NHI_INSURER,
    PENSION_INSURER,
    Filer,
    Relay,
    at,
    care,
    closing,
    death,
    employee_insurance,
    moving,
    nhi,
    of_type,
    opening,
    pension,
    person,
    register,
    retraction,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
JPS = Filer("JPS")
HANA = person("hana", "10000000001", "1960-05-10")
OTHER_EMPLOYER = "06130012"


def _three_insurers_over_ten_years(relay: Relay, town: Filer = TOWN,
                                   employer: Filer = EMPLOYER, jps: Filer = JPS) -> None:
    """NHI 2015-2018, employee insurance 2018-, a second period at the NHI 2019-2020, and the
    pension from 2018."""
    relay.feed(
        town.file("reg", register(HANA, date(2010, 1, 1)), when=at(1, 5)),
        town.file("nhi1", opening(HANA, nhi(HANA), date(2015, 4, 1), date(2018, 4, 1)),
                  when=at(1, 6)),
        employer.file("acq", opening(HANA, employee_insurance(HANA), date(2018, 4, 1)),
                      when=at(1, 7)),
        town.file("nhi2", opening(HANA, nhi(HANA), date(2019, 4, 1), date(2020, 4, 1),
                                  ref=HANA.insured(NHI_INSURER)), when=at(1, 8)),
        jps.file("pen", opening(HANA, pension(HANA, "type2"), date(2018, 4, 1)),
                 when=at(1, 9)),
    )


def _notices(effects: list) -> list[tuple[str, str, date]]:
    return [(n.recipient_code, n.kind, n.effective_date)
            for n in of_type(effects, ChangeNoticeDue)]


def test_a_death_is_told_once_to_each_insurer_that_knew_the_person() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    seen = relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(7, 1)))
    assert sorted(_notices(seen)) == sorted([
        (EMPLOYER_INSURER, "death", date(2025, 6, 30)),
        (PENSION_INSURER, "death", date(2025, 6, 30)),
        (NHI_INSURER, "death", date(2025, 6, 30)),
    ])


def test_each_insurer_is_named_the_person_by_its_own_most_recent_number() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    seen = relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(7, 1)))
    numbers = {n.recipient_code: n.number_key for n in of_type(seen, ChangeNoticeDue)}
    assert numbers == {
        EMPLOYER_INSURER: HANA.insured(EMPLOYER_INSURER).key,
        NHI_INSURER: HANA.insured(NHI_INSURER).key,
        PENSION_INSURER: HANA.pension_number.key,
    }
    sealed = {n.recipient_code: n.sealed_number for n in of_type(seen, ChangeNoticeDue)}
    assert sealed[PENSION_INSURER] == HANA.pension_number.sealed


def test_an_insurer_with_two_periods_hears_once() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    seen = relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(7, 1)))
    assert [c for c, _, _ in _notices(seen)].count(NHI_INSURER) == 1


def test_a_name_change_is_told_to_each_insurer() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    renamed = ChangeIdentity(HANA.resident, HANA.identity,
                             {"kanji_name": "花子漢字", "kana_name": "ハナコカナ"},
                             date(2025, 5, 1), "name_change")
    seen = relay.feed(TOWN.file("name", renamed, when=at(5, 2)))
    assert sorted(_notices(seen)) == sorted([
        (EMPLOYER_INSURER, "name_change", date(2025, 5, 1)),
        (PENSION_INSURER, "name_change", date(2025, 5, 1)),
        (NHI_INSURER, "name_change", date(2025, 5, 1)),
    ])


def test_an_address_change_is_told_to_each_insurer() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    move = moving(HANA, HANA.identity, "東京都港区三田2-2-2", date(2025, 5, 1))
    seen = relay.feed(TOWN.file("move", move, when=at(5, 2)))
    assert sorted(_notices(seen)) == sorted([
        (EMPLOYER_INSURER, "address_change", date(2025, 5, 1)),
        (PENSION_INSURER, "address_change", date(2025, 5, 1)),
        (NHI_INSURER, "address_change", date(2025, 5, 1)),
    ])


def test_a_coverage_end_is_told_to_each_insurer_naming_the_coverage() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    loss = closing(HANA, employee_insurance(HANA), date(2025, 4, 1))
    seen = relay.feed(EMPLOYER.file("loss", loss, when=at(4, 2)))
    ended = [n for n in of_type(seen, ChangeNoticeDue) if n.kind == "coverage_ended"]
    assert sorted(n.recipient_code for n in ended) == sorted(
        [EMPLOYER_INSURER, NHI_INSURER, PENSION_INSURER])
    assert {(n.ended_scheme, n.ended_insurer, n.effective_date) for n in ended} == {
        ("medical", EMPLOYER_INSURER, date(2025, 4, 1))}


def test_a_refused_or_parked_filing_makes_no_notice() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    stranger = person("nobody", "10000000009", "1970-01-01")
    waiting = TOWN.file("death2", death(stranger, date(2025, 6, 30)), when=at(7, 1))
    parked = relay.feed(waiting)
    relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(7, 2)))
    twice = TOWN.file("twice", death(HANA, date(2025, 6, 30)), when=at(7, 3))
    refused = relay.feed(twice)
    assert relay.status(waiting) == "parked"
    assert relay.status(twice) == "refused"
    assert _notices(parked) == []
    assert _notices(refused) == []


def test_the_resident_scheme_and_a_person_without_insurers_hear_nothing() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA, date(2010, 1, 1)), when=at(1, 5)))
    seen = relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(7, 1)))
    assert _notices(seen) == []
    assert all(link.scheme == "resident" for held in relay.state.links.values()
               for link in held)


def test_a_long_term_care_insurer_hears_too() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA, date(2010, 1, 1)), when=at(1, 5)),
        TOWN.file("care", opening(HANA, care(HANA), date(2025, 5, 9)), when=at(1, 6)),
    )
    seen = relay.feed(TOWN.file("death", death(HANA, date(2025, 6, 30)), when=at(7, 1)))
    assert _notices(seen) == [(CARE_INSURER, "death", date(2025, 6, 30))]


def test_a_retraction_takes_no_notice_back_and_makes_none() -> None:
    relay = Relay()
    _three_insurers_over_ten_years(relay)
    move = moving(HANA, HANA.identity, "東京都港区三田2-2-2", date(2025, 5, 1))
    first = relay.feed(TOWN.file("move", move, when=at(5, 2)))
    undone = relay.feed(TOWN.file("undo", retraction("move"), when=at(5, 3)))
    assert len(_notices(first)) == 3
    assert _notices(undone) == []


def test_notice_ids_are_deterministic() -> None:
    def run() -> list[ChangeNoticeDue]:
        relay, town = Relay(), Filer("131016")
        _three_insurers_over_ten_years(relay, town, Filer("E0001"), Filer("JPS"))
        return of_type(relay.feed(town.file("death", death(HANA, date(2025, 6, 30)),
                                            when=at(7, 1))), ChangeNoticeDue)

    first, second = run(), run()
    assert [n.outbox_id for n in first] == [n.outbox_id for n in second]
    assert len({n.outbox_id for n in first}) == 3
    assert None not in {n.outbox_id for n in first}


def test_the_rule_over_no_effects_is_empty() -> None:
    relay = Relay()
    assert notices_due(relay.state, []) == []


def test_a_dependants_cover_ended_by_the_insured_persons_loss_is_told_too() -> None:
    taro, kid = person("taro", "10000000011", "1980-01-01", "male"), person(
        "kid", "10000000012", "2015-07-07")
    relay = Relay()
    relay.feed(
        TOWN.file("reg-taro", register(taro), when=at(4, 1)),
        TOWN.file("reg-kid", register(kid), when=at(4, 1)),
        EMPLOYER.file("acq-taro", opening(taro, employee_insurance(taro), date(2025, 4, 1)),
                      when=at(4, 2)),
        EMPLOYER.file("acq-kid", opening(kid, employee_insurance(kid, "dependant"),
                                         date(2025, 5, 1), insured_by=taro), when=at(5, 2)),
    )
    loss = closing(taro, employee_insurance(taro), date(2025, 9, 1))
    seen = relay.feed(EMPLOYER.file("loss-taro", loss, when=at(9, 2)))
    told = sorted((n.relay_id, n.kind, n.effective_date, n.number_key)
                  for n in of_type(seen, ChangeNoticeDue))
    assert told == sorted([
        (relay.relay_id(taro), "coverage_ended", date(2025, 9, 1),
         taro.insured(EMPLOYER_INSURER).key),
        (relay.relay_id(kid), "coverage_ended", date(2025, 9, 1),
         kid.insured(EMPLOYER_INSURER).key),
    ])
