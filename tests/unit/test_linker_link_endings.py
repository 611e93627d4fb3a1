"""Why a link ends, its pension type and whom it depends on (LinkChanged v2, DOMAIN §5b, §6).

Each test writes the expected link changes by hand: (who, change, category, valid_to, because)."""

from datetime import date

from relay_linker.domain.commands import Source
from relay_linker.domain.effects import LinkChangeEmitted
from relay_linker.domain.endings import closed_because
from relay_linker.messages import link_changed_v2, output_rows
from schemas import decode_relay
from schemas.internal import LinkChangedV2
from schemas.topics import Namespace
from tests.unit.test_linker_support import (
    Filer,
    Relay,
    at,
    closing,
    death,
    employee_insurance,
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
JPS = Filer("JPS", partition=2)
HIRO = person("hiro", "40000000001", "1980-05-10", "male")
KANA = person("kana", "40000000002", "1983-09-01")
SORA = person("sora", "40000000003", "2012-12-24", "male")
GRANDPA = person("grandpa", "20000000001", "1951-06-20", "male")
GRANDMA = person("grandma", "20000000002", "1958-02-01")


def _registered(*people) -> Relay:
    relay = Relay()
    relay.feed(*(TOWN.file(f"reg-{p.name}", register(p), when=at(4, 1)) for p in people))
    return relay


def _changes(relay: Relay, *people) -> list[tuple[object, ...]]:
    names = relay.names(*people)
    return [
        (names[e.relay_id], e.change, e.category, e.valid_to, e.closed_because)
        for e in of_type(relay.log, LinkChangeEmitted)
        if e.relay_id in names
    ]


def _family_insured(relay: Relay) -> None:
    relay.feed(
        EMPLOYER.file(
            "acq",
            opening(HIRO, employee_insurance(HIRO), date(2025, 4, 1)),
            opening(KANA, employee_insurance(KANA, "dependant"), date(2025, 4, 1), insured_by=HIRO),
            opening(SORA, employee_insurance(SORA, "dependant"), date(2025, 4, 1), insured_by=HIRO),
            when=at(4, 2),
        )
    )


def test_retirement_closes_with_a_loss_and_the_dependants_with_the_insured_persons_loss() -> None:
    relay = _registered(HIRO, KANA, SORA)
    _family_insured(relay)
    relay.feed(
        EMPLOYER.file(
            "loss",
            closing(HIRO, employee_insurance(HIRO), date(2025, 6, 1)),
            closing(KANA, employee_insurance(KANA, "dependant"), date(2025, 6, 1)),
            when=at(6, 2),
        ),
        EMPLOYER.file(
            "loss-sora", closing(SORA, employee_insurance(SORA, "dependant"), date(2025, 6, 1)),
            when=at(6, 3),
        ),
    )
    ends = [c for c in _changes(relay, HIRO, KANA, SORA) if c[1] == "closed"]
    assert ends == [
        ("hiro", "closed", "employee_insurance", date(2025, 6, 1), "loss"),
        ("kana", "closed", "employee_insurance", date(2025, 6, 1), "insured_person_lost"),
        ("sora", "closed", "employee_insurance", date(2025, 6, 1), "insured_person_lost"),
    ]
    insured = {e.relay_id: e.insured_relay_id for e in of_type(relay.log, LinkChangeEmitted)}
    assert insured[relay.relay_id(KANA)] == relay.relay_id(HIRO)
    assert insured[relay.relay_id(HIRO)] is None


def test_a_dependant_removed_while_the_insured_person_stays_covered_is_a_loss() -> None:
    relay = _registered(HIRO, KANA, SORA)
    _family_insured(relay)
    relay.feed(
        EMPLOYER.file(
            "removed", closing(SORA, employee_insurance(SORA, "dependant"), date(2025, 8, 1)),
            when=at(8, 2),
        )
    )
    assert _changes(relay, SORA)[-1] == (
        "sora", "closed", "employee_insurance", date(2025, 8, 1), "loss"
    )


def test_a_death_closes_every_link_because_of_the_death_even_with_a_loss_that_day() -> None:
    relay = _registered(HIRO)
    relay.feed(
        TOWN.file("nhi", opening(HIRO, nhi(HIRO), date(2024, 1, 1)), when=at(4, 2)),
        EMPLOYER.file("acq", opening(HIRO, employee_insurance(HIRO), date(2025, 4, 1)),
                      when=at(4, 3)),
        EMPLOYER.file("loss", closing(HIRO, employee_insurance(HIRO), date(2025, 7, 11)),
                      when=at(7, 11)),
        TOWN.file("died", death(HIRO, date(2025, 7, 10)), when=at(7, 12)),
    )
    assert [c for c in _changes(relay, HIRO) if c[1] == "closed"] == [
        ("hiro", "closed", "employee_insurance", date(2025, 7, 11), "loss"),
        ("hiro", "closed", "nhi", date(2025, 7, 11), "death"),
    ]
    # the loss came first and said why; the death moves no end of the employee insurance link,
    # so only the NHI link is announced again, but the stored link now ends by the death
    (employee,) = [x for x in relay.state.links[relay.relay_id(HIRO)] if x.scheme == "medical"
                   and x.category == "employee_insurance"]
    assert closed_because(employee) == "death"


def test_the_move_to_the_75_plus_scheme_ends_the_insured_and_the_under_75_dependants() -> None:
    relay = _registered(GRANDPA, GRANDMA)
    relay.feed(
        EMPLOYER.file(
            "acq",
            opening(GRANDPA, employee_insurance(GRANDPA), date(2025, 4, 1)),
            opening(
                GRANDMA,
                employee_insurance(GRANDMA, "dependant"),
                date(2025, 4, 1),
                insured_by=GRANDPA,
            ),
            when=at(4, 2),
        )
    )
    assert _changes(relay, GRANDPA, GRANDMA) == [
        ("grandpa", "opened", "employee_insurance", date(2026, 6, 20), "late_stage_transfer"),
        (
            "grandma",
            "opened",
            "employee_insurance",
            date(2026, 6, 20),
            "insured_late_stage_transfer",
        ),
    ]


def test_type_3_names_the_spouse_and_employee_pension_ends_at_70() -> None:
    relay = _registered(HIRO, KANA, SORA)
    _family_insured(relay)
    relay.feed(
        JPS.file(
            "ep", opening(HIRO, pension(HIRO, "employee_pension"), date(2025, 4, 1)), when=at(4, 3)
        ),
        JPS.file(
            "t3", opening(KANA, pension(KANA, "national_type3"), date(2025, 4, 1)), when=at(4, 3)
        ),
    )
    emitted = {
        (e.relay_id, e.category): e
        for e in of_type(relay.log, LinkChangeEmitted)
        if e.scheme == "pension"
    }
    husband = emitted[(relay.relay_id(HIRO), "employee_pension")]
    wife = emitted[(relay.relay_id(KANA), "national_type3")]
    assert (husband.pension_type, husband.valid_to, husband.closed_because) == (
        2,
        date(2050, 5, 9),
        "age_70",
    )
    assert husband.spouse_relay_id is None
    assert (wife.pension_type, wife.spouse_relay_id, wife.closed_because) == (
        3,
        relay.relay_id(HIRO),
        None,
    )


def test_type_3_without_a_dependant_link_names_no_spouse() -> None:
    relay = _registered(KANA)
    relay.feed(
        JPS.file(
            "t3", opening(KANA, pension(KANA, "national_type3"), date(2025, 4, 1)), when=at(4, 3)
        )
    )
    (wife,) = of_type(relay.log, LinkChangeEmitted)
    assert (wife.pension_type, wife.spouse_relay_id) == (3, None)


def test_a_retraction_carries_no_reason_and_a_reopened_link_its_remaining_end() -> None:
    relay = _registered(GRANDPA)
    relay.feed(
        TOWN.file("nhi", opening(GRANDPA, nhi(GRANDPA), date(2020, 4, 1)), when=at(4, 2)),
        TOWN.file("loss", closing(GRANDPA, nhi(GRANDPA), date(2025, 5, 1)), when=at(5, 2)),
        TOWN.file("undo", retraction("loss"), when=at(5, 3)),
        TOWN.file("bad", opening(GRANDPA, employee_insurance(GRANDPA), date(2025, 5, 1)),
                  when=at(5, 4)),
        TOWN.file("undo-bad", retraction("bad"), when=at(5, 5)),
    )
    assert _changes(relay, GRANDPA) == [
        ("grandpa", "opened", "nhi", date(2026, 6, 20), "late_stage_transfer"),
        ("grandpa", "closed", "nhi", date(2025, 5, 1), "loss"),
        ("grandpa", "reopened", "nhi", date(2026, 6, 20), "late_stage_transfer"),
        ("grandpa", "opened", "employee_insurance", date(2026, 6, 20), "late_stage_transfer"),
        ("grandpa", "retracted", "employee_insurance", date(2026, 6, 20), None),
    ]


def test_an_open_end_given_at_opening_is_a_period_end() -> None:
    relay = _registered(HIRO)
    relay.feed(
        TOWN.file("nhi", opening(HIRO, nhi(HIRO), date(2024, 4, 1), date(2025, 4, 1)),
                  when=at(4, 2)),
        TOWN.file("nhi-2", opening(HIRO, nhi(HIRO), date(2025, 4, 1)), when=at(4, 3)),
    )
    assert _changes(relay, HIRO) == [
        ("hiro", "opened", "nhi", date(2025, 4, 1), "period_end"),
        ("hiro", "opened", "nhi", date(2055, 5, 10), "late_stage_transfer"),
    ]


def test_v2_rows_sit_beside_v1_rows_with_ids_of_their_own() -> None:
    relay = _registered(HIRO, KANA, SORA)
    effects = relay.feed(
        EMPLOYER.file(
            "acq",
            opening(HIRO, employee_insurance(HIRO), date(2025, 4, 1)),
            opening(KANA, employee_insurance(KANA, "dependant"), date(2025, 4, 1), insured_by=HIRO),
            when=at(4, 2),
        )
    )
    changes = of_type(effects, LinkChangeEmitted)
    rows = output_rows(changes, Source("filing.employer.v1", 0, 7), Namespace("t."))
    topics = [r.topic for r in rows]
    assert topics == [
        "t.relay.link-change.v1",
        "t.relay.link-change.v2",
        "t.relay.link-change.v1",
        "t.relay.link-change.v2",
    ]
    assert len({r.id for r in rows}) == len(rows)
    second = decode_relay(rows[3].value, LinkChangedV2)
    (dependant,) = [e for e in changes if e.capacity == "dependant"]
    assert second == link_changed_v2(dependant)
    assert second.model_dump(mode="json", exclude={"outbox_id", "source_event_id"}) == {
        "relay_id": relay.relay_id(KANA),
        "person_version": 2,
        "change": "opened",
        "scheme": "medical",
        "insurer_number": "06139018",
        "capacity": "dependant",
        "category": "employee_insurance",
        "pension_type": None,
        "valid_from": "2025-04-01",
        "valid_to": "2055-05-10",
        "closed_because": "insured_late_stage_transfer",
        "insured_relay_id": relay.relay_id(HIRO),
        "spouse_relay_id": None,
        "household": None,
        "householder": None,
        "relay_time": None,
    }
    assert rows[3].key == relay.relay_id(KANA).encode()
