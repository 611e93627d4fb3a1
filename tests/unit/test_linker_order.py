"""Order independence: the same filings in any order within the bound, duplicated or replayed,
give the same history as the filings in event order."""

import random
from dataclasses import replace
from datetime import date

import pytest

from relay_linker.domain import fold, history
from relay_linker.domain.commands import LinkerRecord, Source
from tests.unit import test_linker_support as support
from tests.unit.test_linker_support import HASHER, PEOPLE, Relay, outcomes, sample_records

EI, NHI, CARE = support.EMPLOYER_INSURER, support.NHI_INSURER, support.CARE_INSURER
ELDERLY, JPS = support.ELDERLY_INSURER, support.PENSION_INSURER
SEEDS = range(12)


def _with_duplicates(records: list[LinkerRecord], rng: random.Random) -> list[LinkerRecord]:
    """Some records delivered twice, some uploaded again at a later offset."""
    again = rng.sample(records, 6)
    uploads = [
        replace(r, source=Source(r.source.topic, r.source.partition, 1000 + i))
        for i, r in enumerate(rng.sample(records, 4))
    ]
    return [*records, *again, *uploads]


def test_the_event_order_history_is_the_expected_one() -> None:
    relay = Relay()
    relay.feed(*sample_records())
    assert relay.state.parked == {}
    assert relay.links(*PEOPLE) == [
        ("aoi", EI, "insured", "employee_insurance", date(2025, 4, 1), date(2060, 3, 3), False),
        ("aoi", NHI, "insured", "nhi", date(2024, 1, 1), date(2025, 4, 2), False),
        ("aoi", CARE, "insured", None, date(2025, 4, 6), None, True),
        ("aoi", JPS, "insured", None, date(2005, 3, 2), None, False),
        ("aoi", JPS, "insured", "employee_pension", date(2025, 4, 1), date(2055, 3, 2), False),
        ("ben", EI, "insured", "employee_insurance", date(2025, 4, 1), date(2025, 4, 10), False),
        ("ben", NHI, "insured", "nhi", date(2025, 4, 10), date(2054, 8, 20), False),
        ("ben", JPS, "insured", None, date(1999, 8, 19), None, False),
        ("ben", JPS, "insured", "national_type1", date(2025, 4, 10), date(2039, 8, 19), False),
        ("chie", EI, "dependant", "employee_insurance", date(2025, 4, 1), date(2025, 4, 10), False),
        ("dai", EI, "insured", "employee_insurance", date(2025, 4, 3), date(2025, 4, 9), False),
        ("dai", NHI, "insured", "nhi", date(2025, 4, 2), date(2025, 4, 9), False),
        ("emi", NHI, "insured", "nhi", date(2010, 4, 1), date(2025, 9, 9), False),
        ("emi", CARE, "insured", None, date(2015, 9, 8), None, False),
        ("emi", ELDERLY, "insured", "late_stage_elderly", date(2025, 9, 9), None, False),
        ("fumi", NHI, "insured", "nhi", date(2025, 4, 3), date(2100, 4, 3), False),
    ]


def test_shuffles_do_exercise_parking() -> None:
    records = sample_records()
    rng = random.Random(SEEDS[0])
    arrivals = list(records)
    rng.shuffle(arrivals)
    relay = Relay()
    relay.feed(*arrivals)
    assert any(o[1] == "parked" for o in outcomes(relay.log))


@pytest.mark.parametrize("seed", SEEDS)
def test_any_arrival_order_gives_the_same_history(seed: int) -> None:
    records = sample_records()
    expected = history(fold(records, HASHER))
    rng = random.Random(seed)
    arrivals = _with_duplicates(records, rng)
    rng.shuffle(arrivals)
    state = fold(arrivals, HASHER)
    assert history(state) == expected
    assert state.parked == {}


def test_replaying_everything_changes_nothing() -> None:
    records = sample_records()
    once = fold(records, HASHER)
    twice = fold([*records, *records], HASHER)
    assert history(twice, include_retracted=True) == history(once, include_retracted=True)
    assert {k: p.version for k, p in twice.persons.items()} == {
        k: p.version for k, p in once.persons.items()
    }
