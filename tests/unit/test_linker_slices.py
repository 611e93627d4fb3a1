"""Slices: a decision on a partly loaded state reads only what was loaded, or says what it lacks.

Deciding through slices, loading what each MissingFromSlice names, gives the same effects."""

import random
from datetime import date

import pytest

from relay_linker.domain import (
    PARKING_BOUND,
    MissingFromSlice,
    apply_all,
    decide,
    expire,
    history,
    new_state,
)
from relay_linker.domain.commands import LinkerRecord
from relay_linker.domain.effects import Effect
from relay_linker.domain.slicing import carve, needs, then, widened
from relay_linker.domain.state import Needs, ParkedDue, RelayState
from tests.unit.test_linker_support import (
    HASHER,
    Filer,
    Relay,
    at,
    employee_insurance,
    opening,
    person,
    register,
    sample_records,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HANA = person("hana", "10000000001", "1980-05-10")


def _through_slices(whole: RelayState, record: LinkerRecord,
                    predicted: bool = False) -> tuple[list[Effect], int]:
    """Decide as the database adapter will: start empty, load what is missing, decide again;
    `predicted` loads what `needs` (with the hasher) and `then` foresee first, as it does."""
    keys = needs(record, HASHER) if predicted else needs(record)
    if predicted:
        keys = keys | then(record, carve(whole, keys))
    for rounds in range(1, 50):
        try:
            return decide(carve(whole, keys), record, HASHER), rounds
        except MissingFromSlice as missing:
            keys = widened(keys, missing)
    raise AssertionError("a decision kept asking for more")


def test_a_slice_without_the_person_says_so() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    wanted = Needs(
        index_keys=frozenset({HANA.resident.key}), event_ids=frozenset({acquisition.event_id})
    )
    part = carve(relay.state, wanted)
    with pytest.raises(MissingFromSlice) as raised:
        decide(part, acquisition, HASHER)
    lacking = raised.value.needs
    assert lacking.relay_ids == frozenset({relay.relay_id(HANA)})
    assert not (lacking.index_keys or lacking.event_ids or lacking.wait_keys)
    assert HANA.identity.kanji_name not in str(raised.value)


def test_a_slice_first_asks_for_the_ledger_entry() -> None:
    acquisition = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    with pytest.raises(MissingFromSlice) as raised:
        decide(new_state(complete=False), acquisition, HASHER)
    assert raised.value.needs.event_ids == frozenset({acquisition.event_id})


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_deciding_through_slices_gives_the_same_effects(seed: int | None) -> None:
    records = sample_records()
    if seed is not None:
        random.Random(seed).shuffle(records)
    whole = new_state()
    for record in [*records, records[0]]:
        effects, rounds = _through_slices(whole, record)
        assert effects == decide(whole, record, HASHER)
        assert rounds <= 20
        apply_all(whole, effects)
    assert history(whole) == history(_folded(records))


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_foreseen_reads_give_the_same_effects_with_fewer_second_decisions(
        seed: int | None) -> None:
    """Each round past the first costs the adapter a round trip and deciding again: loading
    what `needs` and `then` foresee leaves the effects as they are and saves half of them."""
    records = sample_records()
    if seed is not None:
        random.Random(seed).shuffle(records)
    whole = new_state()
    plain = foreseen = 0
    for record in records:
        effects, rounds = _through_slices(whole, record, predicted=True)
        expected, unforeseen = _through_slices(whole, record)
        assert effects == expected == decide(whole, record, HASHER)
        assert rounds <= unforeseen
        plain, foreseen = plain + unforeseen - 1, foreseen + rounds - 1
        apply_all(whole, effects)
    assert foreseen * 2 <= plain


def test_a_registration_with_its_household_is_foreseen_whole() -> None:
    """The new person's relay id, look-alike candidates and the filings waiting on the number
    and household link it creates are known from the record alone: one round."""
    relay = Relay()
    record = TOWN.file("reg", register(HANA), when=at(4, 1))
    effects, rounds = _through_slices(relay.state, record, predicted=True)
    assert rounds == 1
    assert effects == decide(relay.state, record, HASHER)


def test_expiring_through_a_slice_gives_the_same_effects() -> None:
    relay = Relay()
    waiting = EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
    )
    relay.feed(waiting)
    with pytest.raises(MissingFromSlice) as raised:
        expire(new_state(complete=False), at(4, 20))
    due = ParkedDue(at(4, 20) - PARKING_BOUND)
    assert raised.value.needs.parked_due == frozenset({due})
    assert not raised.value.needs.wait_keys
    part = carve(relay.state, Needs(parked_due=frozenset({due})))
    expected = expire(relay.state, at(4, 20))
    assert expire(part, at(4, 20)) == expected
    assert len(expected) == 3


def test_history_needs_the_whole_state() -> None:
    with pytest.raises(ValueError):
        history(new_state(complete=False))


def _folded(records: list[LinkerRecord]) -> RelayState:
    relay = Relay()
    relay.feed(*records)
    return relay.state


async def test_the_adapter_counts_each_decision_it_runs_again() -> None:
    """`in_slice` loads what a decision lacked and decides again, counting each such run."""
    from relay_linker.linker import in_slice

    class Batch:
        def __init__(self) -> None:
            self.state, self.misses, self.loaded = new_state(complete=False), 0, []

        async def load(self, needs: Needs) -> None:
            self.loaded.append(needs)
            self.state.loaded_relay_ids |= needs.relay_ids

        def apply(self, effects: list[Effect]) -> None:
            self.applied = effects

    def rule(state: RelayState) -> list[Effect]:
        for relay_id in ("a", "b"):
            if relay_id not in state.loaded_relay_ids:
                raise MissingFromSlice(Needs(relay_ids=frozenset({relay_id})))
        return []

    batch = Batch()
    assert await in_slice(batch, rule) == []  # type: ignore[arg-type]
    assert batch.misses == 2 and len(batch.loaded) == 2
