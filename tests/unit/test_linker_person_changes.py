"""Which decisions emit a person's change (relay.person-change.v1) and with what: registration,
death and its retraction, a birth-date correction and its retraction, a retracted registration;
nothing for other changes or refused filings. Expectations written by hand."""

from datetime import UTC, date, datetime

from groundfloor.crypto import Keyring
from groundfloor.kafka_clients import default_partition
from relay_clock.ticks import authentic, is_tick_record
from relay_linker.domain.commands import ChangeIdentity
from relay_linker.domain.effects import PersonChangeEmitted
from relay_linker.domain.ids import person_change_outbox_id
from relay_linker.messages import forwarded_tick_id, output_rows, tick_rows
from schemas import RelayTick, decode_relay
from schemas.internal import PersonChanged
from schemas.topics import PERSON_CHANGE, Namespace
from tests.unit.test_linker_support import (
    Filer,
    Relay,
    at,
    death,
    employee_insurance,
    moving,
    of_type,
    opening,
    person,
    register,
    retraction,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001", partition=1)
HANA = person("hana", "50000000001", "1980-05-10")
JIRO = person("jiro", "50000000002", "1949-12-01", "male")
NOON = datetime(2025, 4, 20, 3, tzinfo=UTC)


def _changes(effects) -> list[tuple[int, date | None, date | None, bool]]:
    return [(e.person_version, e.born_on, e.died_on, e.removed)
            for e in of_type(effects, PersonChangeEmitted)]


def _correction(who, birth: str, on: date = date(2025, 4, 1)) -> ChangeIdentity:
    return ChangeIdentity(who.resident, who.identity, {"birth_date": birth}, on, "correction")


def test_a_registration_tells_the_birth_date_at_version_1() -> None:
    relay = Relay()
    record = TOWN.file("reg", register(HANA), when=at(4, 1))
    effects = relay.feed(record)
    assert _changes(effects) == [(1, date(1980, 5, 10), None, False)]
    (change,) = of_type(effects, PersonChangeEmitted)
    hana = relay.relay_id(HANA)
    assert change.relay_id == hana and change.source_event_id == record.event_id
    assert change.outbox_id == person_change_outbox_id(hana, 1)
    assert "1980" not in repr(change), "the birth date stays out of logs"


def test_a_move_or_an_acquisition_changes_no_life_event() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    moved = relay.feed(TOWN.file(
        "move", moving(HANA, HANA.identity, "港区芝2-2-2", date(2025, 4, 2)), when=at(4, 2)))
    hired = relay.feed(EMPLOYER.file(
        "acq", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 3)))
    assert _changes(moved) == [] and _changes(hired) == []


def test_a_death_and_its_retraction_each_tell_the_whole_picture() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(JIRO), when=at(4, 1)))
    relay.feed(TOWN.file(
        "move", moving(JIRO, JIRO.identity, "港区芝3-3-3", date(2025, 4, 2)), when=at(4, 2)))
    died = relay.feed(TOWN.file(
        "death", death(JIRO, date(2025, 4, 5), JIRO.at_address("港区芝3-3-3")), when=at(4, 6)))
    assert _changes(died) == [(3, date(1949, 12, 1), date(2025, 4, 5), False)]
    undone = relay.feed(TOWN.file("undo-death", retraction("death"), when=at(4, 7)))
    assert _changes(undone) == [(4, date(1949, 12, 1), None, False)]
    jiro = relay.relay_id(JIRO)
    assert [e.outbox_id for e in of_type(relay.log, PersonChangeEmitted)] == [
        person_change_outbox_id(jiro, v) for v in (1, 3, 4)]


def test_a_second_death_is_refused_and_tells_nothing() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(JIRO), when=at(4, 1)),
               TOWN.file("death", death(JIRO, date(2025, 4, 5)), when=at(4, 6)))
    again = relay.feed(TOWN.file("death-2", death(JIRO, date(2025, 4, 8)), when=at(4, 9)))
    assert _changes(again) == []


def test_a_birth_date_correction_and_its_retraction_move_the_birth_date() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    fixed = relay.feed(TOWN.file("fix", _correction(HANA, "1980-06-11"), when=at(4, 2)))
    assert _changes(fixed) == [(2, date(1980, 6, 11), None, False)]
    undone = relay.feed(TOWN.file("undo-fix", retraction("fix"), when=at(4, 3)))
    assert _changes(undone) == [(3, date(1980, 5, 10), None, False)]


def test_a_correction_to_the_same_birth_date_tells_nothing() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    same = relay.feed(TOWN.file("fix", _correction(HANA, "1980-05-10"), when=at(4, 2)))
    assert _changes(same) == []


def test_a_retracted_registration_removes_the_person_without_dates() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), when=at(4, 1)))
    removed = relay.feed(TOWN.file("undo", retraction("reg"), when=at(4, 2)))
    assert _changes(removed) == [(2, None, None, True)]
    (registered,) = of_type(relay.log[:-len(removed)], PersonChangeEmitted)
    (change,) = of_type(removed, PersonChangeEmitted)
    assert change.relay_id == registered.relay_id
    assert change.outbox_id == person_change_outbox_id(change.relay_id, 2)
    assert relay.state.persons == {}


def test_a_death_parked_until_the_registration_follows_it_in_version_order() -> None:
    relay = Relay()
    parked = relay.feed(TOWN.file("death", death(JIRO, date(2025, 4, 5)), when=at(4, 6)))
    assert relay.status(TOWN.file("death", death(JIRO, date(2025, 4, 5)),
                                  when=at(4, 6))) == "parked"
    assert _changes(parked) == []
    woken = relay.feed(TOWN.file("reg", register(JIRO), when=at(4, 7)))
    assert _changes(woken) == [(1, date(1949, 12, 1), None, False),
                               (2, date(1949, 12, 1), date(2025, 4, 5), False)]


def test_the_change_is_published_keyed_by_relay_id_on_the_person_change_topic() -> None:
    relay = Relay()
    record = TOWN.file("reg", register(HANA), when=at(4, 1))
    effects = relay.feed(record)
    changes = of_type(effects, PersonChangeEmitted)
    rows = output_rows(changes, record.source, Namespace("t9."), NOON)
    assert {r.topic for r in rows} == {"t9." + PERSON_CHANGE.name}
    hana = relay.relay_id(HANA)
    assert len(rows) == 1
    assert rows[0].key == hana.encode()
    assert rows[0].partition == default_partition(hana.encode(), PERSON_CHANGE.partitions)
    assert rows[0].id == person_change_outbox_id(hana, 1)
    message = decode_relay(rows[0].value, PersonChanged)
    assert message == PersonChanged(
        relay_id=hana, person_version=1, born_on=date(1980, 5, 10), died_on=None,
        removed=False, source_event_id=record.event_id,
        outbox_id=person_change_outbox_id(hana, 1), relay_time=NOON)


def test_tick_k_is_forwarded_once_onto_every_partition_of_the_three_topics() -> None:
    keyring = Keyring.ephemeral(b"forwarded ticks")
    rows = tick_rows(keyring, 7, NOON, Namespace("t9."))
    assert sorted((r.topic, r.partition) for r in rows) == sorted(
        (f"t9.{name}", p) for name in ("relay.link-change.v2", "relay.age-milestone.v1",
                                       "relay.person-change.v1") for p in range(6))
    assert all(is_tick_record(r.headers) for r in rows)
    ticks = [decode_relay(r.value, RelayTick) for r in rows]
    assert {(t.seq, t.relay_time) for t in ticks} == {(7, NOON)}
    assert all(authentic(keyring, t) for t in ticks)
    assert not authentic(Keyring.ephemeral(b"another relay"), ticks[0])
    assert [r.id for r in rows] == [
        forwarded_tick_id(r.topic[3:], r.partition, 7) for r in rows]
    assert len({r.id for r in rows}) == len(rows)
    assert rows == tick_rows(keyring, 7, NOON, Namespace("t9.")), "a replay inserts nothing new"
    assert [r.id for r in rows] == [r.id for r in tick_rows(keyring, 7, NOON, Namespace())]
    assert not {r.id for r in rows} & {r.id for r in tick_rows(keyring, 8, NOON, Namespace())}
