"""Forwarded ticks without a broker: the rows the linker writes for a run of records and clock
steps, laid out lane by lane in insertion order as the outbox publishes them, read back through
`consumers.clocked.ClockedOrder`: every tick once per partition, nothing of a later relay time
before its tick, each person's changes released in relay-time and version order."""

from datetime import date, datetime, timedelta

from consumers.clocked import ClockAdvanced, ClockedOrder, Released, Tick
from groundfloor.crypto import Keyring
from relay_clock.ticks import authentic, is_tick_record
from relay_linker.domain import advance, apply_all, decide
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from relay_linker.domain.state import new_state
from relay_linker.messages import output_rows, tick_rows
from schemas import RelayTick, decode_relay
from schemas.internal import AgeMilestoneReached, LinkChangedV2, PersonChanged
from schemas.topics import (
    AGE_MILESTONE,
    FORWARDED_TICK_TOPICS,
    LINK_CHANGE_V2,
    PERSON_CHANGE,
    RELAY_CLOCK,
    Namespace,
)
from tests.unit.test_linker_support import (
    HASHER,
    JST,
    Filer,
    death,
    employee_insurance,
    opening,
    person,
    register,
)

KEYRING = Keyring.ephemeral(b"forwarded ticks, unit")
NS = Namespace()
MODELS = {LINK_CHANGE_V2.name: LinkChangedV2, AGE_MILESTONE.name: AgeMilestoneReached,
          PERSON_CHANGE.name: PersonChanged}
FORWARDED = (fx.LinkChangeEmitted, fx.AgeMilestoneEmitted, fx.PersonChangeEmitted)
TOWN = Filer("131016")
EMPLOYER = Filer("E0001", partition=1)
AKI = person("aki", "60000000001", "1960-04-11")
GEN = person("gen", "60000000002", "1950-04-20", "male")  # 75 on 2025-04-20
TICKS = [datetime(2025, 4, d, 1, tzinfo=JST) for d in (1, 3, 10, 25, 26)]


def _rows() -> list:
    """What the linker writes for: tick 1; two registrations; tick 2; an acquisition; tick 3;
    a death; tick 4 (GEN's 75th birthday is due); tick 5."""
    epochs = {
        1: [TOWN.file("reg-a", register(AKI), when=TICKS[0]),
            TOWN.file("reg-g", register(GEN), when=TICKS[0])],
        2: [EMPLOYER.file("acq", opening(AKI, employee_insurance(AKI), date(2025, 4, 1)),
                          when=TICKS[1])],
        3: [TOWN.file("death-a", death(AKI, date(2025, 4, 9)), when=TICKS[2])],
    }
    state, rows = new_state(), []
    for seq, at in enumerate(TICKS, start=1):
        rows += tick_rows(KEYRING, seq, at, NS)  # first: before what the step announces
        announced = [e for e in advance(state, at) if isinstance(e, FORWARDED)]
        rows += output_rows(announced, Source(RELAY_CLOCK.name, 0, seq), NS, at)
        for record in epochs.get(seq, []):
            effects = decide(state, record, HASHER)
            apply_all(state, effects)
            told = [e for e in effects if isinstance(e, FORWARDED)]
            rows += output_rows(told, record.source, NS, record.relay_time)
    return rows


def _lanes(rows: list) -> dict[tuple[str, int], list]:
    lanes: dict[tuple[str, int], list] = {(t.name, p): [] for t in FORWARDED_TICK_TOPICS
                                          for p in range(t.partitions)}
    for row in rows:
        if (row.topic, row.partition) in lanes:  # v1 link changes travel without ticks
            lanes[(row.topic, row.partition)].append(row)
    return lanes


def _item(row) -> Tick | object:
    if is_tick_record(row.headers):
        tick = decode_relay(row.value, RelayTick)
        assert authentic(KEYRING, tick)
        return Tick(tick.seq, tick.relay_time)
    return decode_relay(row.value, MODELS[row.topic])


def test_each_tick_lands_once_on_every_partition_after_everything_earlier() -> None:
    for where, lane in _lanes(_rows()).items():
        items = [_item(r) for r in lane]
        ticks = [i for i in items if isinstance(i, Tick)]
        assert ticks == [Tick(s, t) for s, t in enumerate(TICKS, start=1)], where
        current = None
        for item in items:
            if isinstance(item, Tick):
                current = item
            else:
                assert current is not None and item.relay_time == current.relay_time, where


def test_a_clocked_order_releases_the_three_topics_in_relay_time_and_version_order() -> None:
    order: ClockedOrder = ClockedOrder(_lanes(_rows()))
    for where, lane in _lanes(_rows()).items():
        for offset, row in enumerate(lane):
            item = _item(row)
            if isinstance(item, Tick):
                order.tick(where, offset, item)
            else:
                order.record(where, offset, item)
    steps = order.release(10_000)
    assert [(s.epoch, s.relay_time) for s in steps if isinstance(s, ClockAdvanced)] == list(
        enumerate(TICKS, start=1))
    released = [s for s in steps if isinstance(s, Released)]
    assert all(s.item.relay_time == s.relay_time for s in released)
    assert order.pending() == 0, "tick 5 releases what tick 4 announced"
    kinds = [(type(s.item).__name__, s.epoch) for s in released]
    assert ("AgeMilestoneReached", 4) in kinds  # GEN's 75th, announced at tick 4
    aki = [s.item for s in released if isinstance(s.item, PersonChanged)
           and s.item.died_on is not None]
    assert [(m.died_on, m.relay_time) for m in aki] == [(date(2025, 4, 9), TICKS[2])]
    by_person: dict[str, list[datetime]] = {}
    for s in released:
        by_person.setdefault(s.item.relay_id, []).append(s.relay_time)
    assert all(times == sorted(times) for times in by_person.values())
    for model in (PersonChanged, LinkChangedV2):
        for relay_id in by_person:
            versions = [s.item.person_version for s in released
                        if isinstance(s.item, model) and s.item.relay_id == relay_id]
            assert versions == sorted(versions)
    assert TICKS[3] - TICKS[2] > timedelta(days=14)
