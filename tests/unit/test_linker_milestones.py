"""Age milestones on the relay clock (DOMAIN §5b): planned at registration, announced once.

Dates are written by hand: an age is reached the day before the birthday, 75 on the birthday."""

from datetime import UTC, date, datetime

import pytest

from relay_linker.domain import announce, fold
from relay_linker.domain.ages import elderly_copay_from
from relay_linker.domain.commands import ChangeIdentity, ClockAdvanced
from relay_linker.domain.effects import AgeMilestoneEmitted
from relay_linker.domain.ids import milestone_outbox_id
from relay_linker.domain.milestones import milestones_of
from relay_linker.domain.slicing import carve
from relay_linker.domain.state import MilestonesDue, MissingFromSlice, Needs
from tests.unit.test_linker_support import (
    HASHER,
    JST,
    Filer,
    Relay,
    at,
    death,
    person,
    register,
    retraction,
)

TOWN = Filer("131016")
HIRO = person("hiro", "40000000001", "1980-05-10", "male")
GRANDPA = person("grandpa", "20000000001", "1951-06-20", "male")
EMI = person("emi", "30000000005", "1950-09-09")
YOUNG = person("young", "20000000004", "2006-01-15")


def _jst(y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=JST)


def _pending(relay: Relay, who) -> list[tuple[str, date]]:
    held = relay.state.milestones.get(relay.relay_id(who), ())
    return sorted(((m.name, m.due_on) for m in held), key=lambda x: x[1])


def _announced(effects) -> list[tuple[str, int, date]]:
    return [(e.name, e.age, e.due_on) for e in effects if isinstance(e, AgeMilestoneEmitted)]


def test_milestone_dates_for_a_29_february_birth() -> None:
    assert [(m.name, m.age, m.due_on) for m in milestones_of("r", date(1952, 2, 29))] == [
        ("age_20", 20, date(1972, 2, 28)),
        ("age_60", 60, date(2012, 2, 28)),
        ("age_65", 65, date(2017, 2, 28)),
        ("age_70", 70, date(2022, 2, 28)),
        ("age_70_copay", 70, date(2022, 3, 1)),
        ("age_75", 75, date(2027, 3, 1)),
    ]


def test_milestone_dates_for_someone_born_on_the_1st() -> None:
    assert [(m.name, m.due_on) for m in milestones_of("r", date(1951, 4, 1))] == [
        ("age_20", date(1971, 3, 31)),
        ("age_60", date(2011, 3, 31)),
        ("age_65", date(2016, 3, 31)),
        ("age_70", date(2021, 3, 31)),
        ("age_70_copay", date(2021, 4, 1)),  # the birthday month, the birthday itself
        ("age_75", date(2026, 4, 1)),
    ]


@pytest.mark.parametrize(
    ("birth", "band"),
    [
        (date(1956, 7, 15), date(2026, 8, 1)),
        (date(1956, 8, 1), date(2026, 8, 1)),
        (date(1956, 8, 2), date(2026, 9, 1)),
        (date(1956, 12, 2), date(2027, 1, 1)),
        (date(1957, 1, 1), date(2027, 1, 1)),  # 70 reached on 31 Dec: January
        (date(1957, 1, 2), date(2027, 2, 1)),  # 70 reached on 1 Jan: February, not January
        (date(1956, 2, 29), date(2026, 3, 1)),  # 70 reached on 28 Feb in a common year
    ],
)
def test_the_70_to_74_copay_band_starts_the_month_after_70_is_reached(birth, band) -> None:
    """DOMAIN §5b: "from the first day of the month after the month in which 70 is reached (for
    someone born on the 1st, that is the birthday month)"; an age is reached the day before the
    birthday (年齢計算ニ関スル法律, 民法143条), so born on 2 Jan reaches 70 on 1 Jan."""
    assert elderly_copay_from(birth) == band


def test_a_registration_plans_only_what_is_still_to_come() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-young", register(YOUNG), when=at(4, 1)),
        TOWN.file("reg-emi", register(EMI), when=at(4, 1)),
    )
    assert _pending(relay, YOUNG) == [
        ("age_20", date(2026, 1, 14)),
        ("age_60", date(2066, 1, 14)),
        ("age_65", date(2071, 1, 14)),
        ("age_70", date(2076, 1, 14)),
        ("age_70_copay", date(2076, 2, 1)),
        ("age_75", date(2081, 1, 15)),
    ]
    assert _pending(relay, EMI) == [("age_75", date(2025, 9, 9))]
    assert _announced(relay.log) == []


def test_the_clock_announces_a_milestone_once_at_midnight_in_japan() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg-emi", register(EMI), when=at(4, 1)))
    assert _announced(relay.expire(_jst(2025, 9, 8, 23, 59))) == []
    reached = relay.expire(datetime(2025, 9, 8, 15, 0, tzinfo=UTC))  # 9 Sep 00:00 in Japan
    assert _announced(reached) == [("age_75", 75, date(2025, 9, 9))]
    (emitted,) = [e for e in reached if isinstance(e, AgeMilestoneEmitted)]
    assert emitted.relay_id == relay.relay_id(EMI)
    assert emitted.outbox_id == milestone_outbox_id(emitted.relay_id, "age_75", date(2025, 9, 9))
    assert _announced(relay.expire(_jst(2025, 9, 10))) == []
    assert _pending(relay, EMI) == []


def test_registered_on_the_day_of_a_milestone_still_gets_it() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg-emi", register(EMI), when=_jst(2025, 9, 9, 10)))
    assert _pending(relay, EMI) == [("age_75", date(2025, 9, 9))]
    assert _announced(relay.expire(_jst(2025, 9, 9, 10))) == [("age_75", 75, date(2025, 9, 9))]


def test_a_death_drops_later_milestones_and_its_retraction_plans_them_again() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HIRO), when=at(4, 1)),
        TOWN.file("died", death(HIRO, date(2025, 5, 30)), when=at(6, 1)),
    )
    assert _pending(relay, HIRO) == []
    relay.feed(TOWN.file("undo", retraction("died"), when=at(6, 10)))
    assert _pending(relay, HIRO) == [
        ("age_60", date(2040, 5, 9)),
        ("age_65", date(2045, 5, 9)),
        ("age_70", date(2050, 5, 9)),
        ("age_70_copay", date(2050, 6, 1)),
        ("age_75", date(2055, 5, 10)),
    ]


def test_a_birth_date_correction_moves_the_pending_milestones() -> None:
    relay = Relay()
    correction = ChangeIdentity(
        GRANDPA.resident, GRANDPA.identity, {"birth_date": "1951-07-20"}, date(2025, 4, 1),
        "correction",
    )
    relay.feed(
        TOWN.file("reg", register(GRANDPA), when=at(4, 1)),
        TOWN.file("fix", correction, when=at(4, 2)),
    )
    assert _pending(relay, GRANDPA) == [("age_75", date(2026, 7, 20))]
    relay.feed(TOWN.file("undo-fix", retraction("fix"), when=at(4, 3)))
    assert _pending(relay, GRANDPA) == [("age_75", date(2026, 6, 20))]


def test_a_retracted_registration_leaves_no_milestone() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(YOUNG), when=at(4, 1)),
        TOWN.file("undo", retraction("reg"), when=at(4, 2)),
    )
    assert relay.state.persons == {} and relay.state.milestones == {}


def test_announcements_do_not_depend_on_how_often_the_clock_ticks() -> None:
    records = [
        TOWN.file("reg-young", register(YOUNG), when=at(4, 1)),
        TOWN.file("reg-emi", register(EMI), when=at(4, 1)),
        TOWN.file("reg-grandpa", register(GRANDPA), when=at(4, 2)),
    ]
    monthly = [_jst(2025, m, 1) for m in range(5, 13)] + [_jst(2026, m, 1) for m in range(1, 8)]
    results = []
    for ticks in (monthly, [_jst(2026, 7, 1)]):
        relay = Relay()
        relay.feed(*records)
        for tick in ticks:
            relay.expire(tick)
        folded = fold([*records, *(ClockAdvanced(t) for t in ticks)], HASHER)
        assert folded.milestones == relay.state.milestones
        results.append(sorted(
            (e.due_on, e.name, e.relay_id, e.outbox_id)
            for e in relay.log
            if isinstance(e, AgeMilestoneEmitted)
        ))
    assert results[0] == results[1]
    assert [(on, name) for on, name, _, _ in results[0]] == [
        (date(2025, 9, 9), "age_75"),
        (date(2026, 1, 14), "age_20"),
        (date(2026, 6, 20), "age_75"),
    ]


def test_a_slice_loads_what_is_due_before_announcing() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-young", register(YOUNG), when=at(4, 1)),
        TOWN.file("reg-emi", register(EMI), when=at(4, 1)),
    )
    part = carve(relay.state, Needs())
    with pytest.raises(MissingFromSlice) as missing:
        announce(part, _jst(2026, 1, 14))
    due = MilestonesDue(date(2026, 1, 14))
    assert missing.value.needs == Needs(milestones_due=frozenset({due}))
    part = carve(relay.state, missing.value.needs)
    assert sorted(m.name for held in part.milestones.values() for m in held) == [
        "age_20",
        "age_75",
    ]
    assert _announced(announce(part, _jst(2026, 1, 14))) == _announced(
        announce(relay.state, _jst(2026, 1, 14))
    ) == [("age_75", 75, date(2025, 9, 9)), ("age_20", 20, date(2026, 1, 14))]
