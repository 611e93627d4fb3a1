"""What a decision hands the publisher: link changes without numbers, one outcome per decision.

Outputs are numbered per record and their outbox ids are derived, never random."""

import copy
import random
from datetime import date

from relay_linker.domain import decide
from relay_linker.domain.effects import (
    OUTPUT_EFFECTS,
    LinkChangeEmitted,
    OutcomeIssued,
    PersonChangeEmitted,
    PersonVersionBumped,
)
from relay_linker.domain.ids import outbox_id, person_change_outbox_id
from tests.unit.test_linker_support import (
    HASHER,
    PEOPLE,
    Filer,
    Relay,
    at,
    employee_insurance,
    of_type,
    opening,
    person,
    register,
    sample_records,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
KOJI = person("koji", "10000000002", "1982-11-03", "male")
MIKU = person("miku", "10000000003", "2015-07-07")


def test_outputs_are_numbered_in_order_with_derived_outbox_ids() -> None:
    relay = Relay()
    relay.feed(TOWN.file("reg-k", register(KOJI), when=at(4, 1)))
    acquisition = EMPLOYER.file(
        "acq",
        opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)),
        opening(MIKU, employee_insurance(MIKU, "dependant"), date(2025, 4, 1), insured_by=KOJI),
        when=at(4, 2),
    )
    relay.feed(acquisition)
    registration = TOWN.file("reg-m", register(MIKU), when=at(4, 3))
    effects = decide(relay.state, registration, HASHER)
    outputs = [e for e in effects
               if isinstance(e, OUTPUT_EFFECTS) and not isinstance(e, PersonChangeEmitted)]
    assert [e.index for e in outputs] == list(range(len(outputs)))
    assert len({e.outbox_id for e in outputs}) == len(outputs)
    assert None not in {e.outbox_id for e in outputs}
    kinds = [type(e).__name__ for e in outputs]
    assert kinds == ["OutcomeIssued", "LinkChangeEmitted", "LinkChangeEmitted", "OutcomeIssued"]
    assert [e.outbox_id for e in outputs] == [
        outbox_id(registration.event_id, registration.source, i) for i in range(4)
    ]
    assert {e.source_event_id for e in of_type(outputs, LinkChangeEmitted)} == {
        acquisition.event_id
    }
    # the registration's person change numbers nothing: its id is the person's and version's
    (changed,) = of_type(effects, PersonChangeEmitted)
    assert changed.person_version == 1
    assert changed.outbox_id == person_change_outbox_id(changed.relay_id, 1)


def test_outbox_ids_follow_the_record_and_index() -> None:
    record = TOWN.file("reg-k", register(KOJI), when=at(4, 1))
    relay = Relay()
    (issued,) = of_type(decide(relay.state, record, HASHER), OutcomeIssued)
    assert issued.outbox_id == outbox_id(record.event_id, record.source, 0)


def test_link_changes_carry_the_bumped_version_and_no_number() -> None:
    relay = Relay()
    relay.feed(*sample_records())
    emitted = of_type(relay.log, LinkChangeEmitted)
    bumps = {(e.relay_id, e.version) for e in of_type(relay.log, PersonVersionBumped)}
    assert emitted and all((e.relay_id, e.person_version) in bumps for e in emitted)
    numbers = [
        blob
        for who in PEOPLE
        for blob in (who.resident.index, who.insured().index, who.pension_number.index)
    ]
    for change in emitted:
        text = repr(change)
        assert not any(n.hex() in text or repr(n) in text for n in numbers)
        assert "sealed" not in text


def test_each_person_version_counts_the_filings_that_changed_them() -> None:
    relay = Relay()
    relay.feed(*sample_records())
    versions = {p.relay_id: p.version for p in relay.state.persons.values()}
    ben, chie = PEOPLE[1], PEOPLE[2]
    assert versions[relay.relay_id(ben)] == 7
    assert versions[relay.relay_id(chie)] == 3


def test_decide_is_pure_and_deterministic() -> None:
    records = sample_records()
    random.Random(5).shuffle(records)
    relay = Relay()
    for record in records:
        before = copy.deepcopy(relay.state)
        first = decide(relay.state, record, HASHER)
        assert relay.state == before
        assert decide(relay.state, record, HASHER) == first
        relay.feed(record)
