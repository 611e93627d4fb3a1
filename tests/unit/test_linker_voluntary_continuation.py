"""任意継続 (DOMAIN §6): eligibility, the election window on the national calendar, its ends.

Expected histories are written by hand; each test names the rule and where it comes from."""

from datetime import date

from groundfloor.crypto import Keyring
from relay_linker.business_days import election_due, is_business_day
from relay_linker.domain.commands import CloseLink, Election, LinkSpec, OpenLink
from relay_linker.domain.endings import closed_because
from relay_linker.translate import Translator
from schemas.insurer import LateElectionReason
from tests.fixtures.examples import example_filing
from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    Filer,
    Relay,
    at,
    closing,
    death,
    employee_insurance,
    opening,
    person,
    register,
    retraction,
)

KEN = person("ken", "10000000011", "1980-05-10", "male")
TOWN, EMPLOYER, INSURER = Filer("131016"), Filer("E-1"), Filer(EMPLOYER_INSURER)
OTHER_INSURER = "01130012"  # 協会けんぽ 東京
MUTUAL_AID = "31130011"  # 共済 (law code 31)
ON_TIME = Election(date(2025, 4, 10), date(2025, 4, 21))


def _continued() -> LinkSpec:
    return employee_insurance(KEN, "voluntary_continuation")


def _elsewhere(insurer: str = OTHER_INSURER, capacity: str = "insured") -> LinkSpec:
    return LinkSpec("medical", insurer, capacity, "employee_insurance", KEN.insured(insurer))


def _employed(relay: Relay, start: date, end: date = date(2025, 4, 1)) -> None:
    relay.feed(
        TOWN.file("reg", register(KEN), when=at(1, 5)),
        EMPLOYER.file("acq", opening(KEN, employee_insurance(KEN), start), when=at(1, 6)),
        EMPLOYER.file("loss", closing(KEN, employee_insurance(KEN), end), when=at(4, 2)),
    )


def _elect(relay: Relay, election: Election = ON_TIME, ref: str = "vc") -> str:
    record = INSURER.file(
        ref, opening(KEN, _continued(), date(2025, 4, 1), election=election), when=at(4, 10)
    )
    relay.feed(record)
    return relay.status(record)


def _continuation(relay: Relay) -> tuple[date, date | None, str | None]:
    link = next(
        x
        for x in relay.state.links[relay.relay_id(KEN)]
        if x.capacity == "voluntary_continuation"
    )
    return link.valid_from, link.valid_to, closed_because(link)


# --- the window: 20 days counting the loss date as day 1 (健保法37条, 民法140条) -------------


def test_the_window_is_20_days_counting_the_loss_date_as_day_1() -> None:
    assert election_due(date(2026, 4, 1)) == date(2026, 4, 20)  # a Monday


def test_a_20th_day_on_a_saturday_or_sunday_moves_to_monday() -> None:
    assert election_due(date(2025, 3, 31)) == date(2025, 4, 21)  # 20th day: Saturday 4/19
    assert election_due(date(2025, 4, 1)) == date(2025, 4, 21)  # 20th day: Sunday 4/20


def test_a_20th_day_on_a_national_holiday_moves_to_the_next_business_day() -> None:
    assert election_due(date(2025, 10, 15)) == date(2025, 11, 4)  # 11/3 文化の日
    assert election_due(date(2025, 11, 5)) == date(2025, 11, 25)  # 11/24 振替休日


def test_a_20th_day_in_the_year_end_holidays_moves_past_3_january() -> None:
    assert election_due(date(2025, 12, 10)) == date(2026, 1, 5)  # 20th day: 12/29
    assert not is_business_day(date(2026, 1, 2))  # a Friday, but 29 Dec–3 Jan are closed


def test_an_election_filing_carries_its_application_date_and_window_to_the_linker() -> None:
    """The window is judged on `elected_on`, the application date, not on `occurred_at`."""
    translator = Translator(Keyring.generate())
    filing = example_filing("VoluntaryContinuationElected")  # lost 2025-04-01, applied 4/8
    source = INSURER.file("x", register(KEN), when=at(4, 1)).source
    (elected,) = translator.record(filing, source, at(4, 10)).commands
    assert isinstance(elected, OpenLink)
    assert elected.election == Election(date(2025, 4, 8), date(2025, 4, 21))
    excused = filing.payload.model_copy(update={"late_reason": LateElectionReason.ILLNESS})
    (late,) = translator.record(filing.model_copy(update={"payload": excused}), source,
                                at(4, 10)).commands
    assert isinstance(late, OpenLink) and late.election is not None and late.election.justified


def test_an_end_filing_closes_the_continuation_with_its_reason() -> None:
    translator = Translator(Keyring.generate())
    filing = example_filing("VoluntaryContinuationEnded")  # non-payment, due 4/8
    source = INSURER.file("x", register(KEN), when=at(4, 1)).source
    (ended,) = translator.record(filing, source, at(4, 10)).commands
    assert isinstance(ended, CloseLink)
    assert (ended.link.capacity, ended.lost_on, ended.kind) == (
        "voluntary_continuation", date(2025, 4, 9), "non_payment"
    )


# --- eligibility: two months of cover as an insured person (健保法3条4項) --------------------


def test_two_months_of_cover_as_an_insured_person_make_the_election_valid() -> None:
    relay = Relay()
    _employed(relay, date(2025, 2, 1))
    assert _elect(relay) == "accepted"
    assert _continuation(relay) == (
        date(2025, 4, 1),
        date(2027, 4, 1),  # two years have passed (健保法38条1号)
        "voluntary_continuation_term",
    )
    assert relay.anomalies() == []


def test_less_than_two_months_is_refused_with_its_reason() -> None:
    relay = Relay()
    _employed(relay, date(2025, 2, 2))
    record = INSURER.file(
        "vc", opening(KEN, _continued(), date(2025, 4, 1), election=ON_TIME), when=at(4, 10)
    )
    relay.feed(record)
    assert relay.status(record) == "refused"
    assert relay.reasons(record) == [("voluntary_continuation_ineligible", "lost_on")]


def test_cover_at_two_insurers_without_a_gap_counts_as_continuous() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(KEN), when=at(1, 5)),
        EMPLOYER.file(
            "a", opening(KEN, _elsewhere(), date(2025, 1, 20), date(2025, 3, 10)), when=at(1, 6)
        ),
        EMPLOYER.file("acq", opening(KEN, employee_insurance(KEN), date(2025, 3, 10)),
                      when=at(3, 10)),
        EMPLOYER.file("loss", closing(KEN, employee_insurance(KEN), date(2025, 4, 1)),
                      when=at(4, 2)),
    )
    assert _elect(relay) == "accepted"


def test_cover_as_a_dependant_does_not_count() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(KEN), when=at(1, 5)),
        TOWN.file(
            "dep",
            opening(KEN, _elsewhere(capacity="dependant"), date(2024, 1, 1), date(2025, 3, 1)),
            when=at(1, 6),
        ),
        EMPLOYER.file("acq", opening(KEN, employee_insurance(KEN), date(2025, 3, 1)),
                      when=at(3, 1)),
        EMPLOYER.file("loss", closing(KEN, employee_insurance(KEN), date(2025, 4, 1)),
                      when=at(4, 2)),
    )
    assert _elect(relay) == "refused"


def test_cover_in_a_mutual_aid_association_does_not_count() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(KEN), when=at(1, 5)),
        EMPLOYER.file(
            "a", opening(KEN, _elsewhere(MUTUAL_AID), date(2020, 4, 1), date(2025, 3, 10)),
            when=at(1, 6),
        ),
        EMPLOYER.file("acq", opening(KEN, employee_insurance(KEN), date(2025, 3, 10)),
                      when=at(3, 10)),
        EMPLOYER.file("loss", closing(KEN, employee_insurance(KEN), date(2025, 4, 1)),
                      when=at(4, 2)),
    )
    assert _elect(relay) == "refused"


# --- late elections: the insurer decides (健保法37条 ただし書) -----------------------------


def test_a_late_election_is_recorded_and_flagged() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    assert _elect(relay, Election(date(2025, 4, 22), date(2025, 4, 21))) == "accepted"
    assert relay.anomalies() == [("late_voluntary_continuation", False)]


def test_a_late_election_with_a_justified_reason_is_not_flagged() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    late = Election(date(2025, 5, 30), date(2025, 4, 21), justified=True)
    assert _elect(relay, late) == "accepted"
    assert relay.anomalies() == []


# --- ends (健保法38条) ----------------------------------------------------------------------


def test_becoming_insured_elsewhere_ends_it_that_day() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    _elect(relay)
    hired = EMPLOYER.file("new", opening(KEN, _elsewhere(), date(2025, 9, 1)), when=at(9, 2))
    relay.feed(hired)
    assert _continuation(relay) == (date(2025, 4, 1), date(2025, 9, 1), "insured_elsewhere")
    relay.feed(EMPLOYER.file("undo", retraction("new"), when=at(9, 3)))
    assert _continuation(relay)[1:] == (date(2027, 4, 1), "voluntary_continuation_term")


def test_an_election_filed_after_the_new_cover_ends_on_its_start() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    relay.feed(EMPLOYER.file("new", opening(KEN, _elsewhere(), date(2025, 6, 1)), when=at(4, 5)))
    _elect(relay)
    assert _continuation(relay) == (date(2025, 4, 1), date(2025, 6, 1), "insured_elsewhere")
    # retracting the new cover reopens the continuation, as when the election came first
    relay.feed(EMPLOYER.file("undo", retraction("new"), when=at(6, 20)))
    assert _continuation(relay)[1:] == (date(2027, 4, 1), "voluntary_continuation_term")


def test_death_ends_it_the_day_after() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    _elect(relay)
    relay.feed(TOWN.file("died", death(KEN, date(2025, 7, 14)), when=at(7, 15)))
    assert _continuation(relay) == (date(2025, 4, 1), date(2025, 7, 15), "death")


def test_on_request_it_ends_on_the_first_of_the_next_month() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    _elect(relay)
    ended = closing(KEN, _continued(), date(2025, 8, 1), kind="request")  # accepted 7/22
    relay.feed(INSURER.file("end", ended, when=at(7, 22)))
    assert _continuation(relay) == (date(2025, 4, 1), date(2025, 8, 1), "request")


def test_for_non_payment_it_ends_the_day_after_the_deadline() -> None:
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    _elect(relay)
    ended = closing(KEN, _continued(), date(2025, 6, 11), kind="non_payment")  # due 6/10
    relay.feed(INSURER.file("end", ended, when=at(6, 20)))
    assert _continuation(relay) == (date(2025, 4, 1), date(2025, 6, 11), "non_payment")


# --- dependants stay covered under it (DOMAIN §6) -------------------------------------------

MIO = person("mio", "10000000012", "2015-06-01", address="港区芝1-1-1")


def test_a_dependant_is_covered_under_the_insured_person_in_voluntary_continuation() -> None:
    """The insurer files the dependant under the 任意継続 insured person from the loss date."""
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    _elect(relay)
    spec = LinkSpec("medical", EMPLOYER_INSURER, "dependant", "employee_insurance",
                    MIO.insured(EMPLOYER_INSURER))
    kept = INSURER.file(
        "mio", register(MIO), opening(MIO, spec, date(2025, 4, 1), insured_by=KEN),
        when=at(4, 12),
    )
    relay.feed(kept)
    assert relay.status(kept) == "accepted"
    (link,) = relay.state.links[relay.relay_id(MIO)]
    assert (link.capacity, link.valid_from, link.insured_relay_id) == (
        "dependant", date(2025, 4, 1), relay.relay_id(KEN)
    )


def test_the_insurers_filed_end_of_voluntary_continuation_ends_its_dependants_too() -> None:
    """DOMAIN §6: dependants are covered only as the insured person's; 任意継続 ended on request
    (健康保険法38条7号) ends the dependant kept under it on the same day, whichever of the two
    filings is decided first."""
    spec = LinkSpec("medical", EMPLOYER_INSURER, "dependant", "employee_insurance",
                    MIO.insured(EMPLOYER_INSURER))
    for end_first in (False, True):
        relay = Relay()
        _employed(relay, date(2024, 4, 1))
        _elect(relay)
        kept = INSURER.file(
            "mio", register(MIO), opening(MIO, spec, date(2025, 4, 1), insured_by=KEN),
            when=at(7, 23))
        ended = INSURER.file("end", closing(KEN, _continued(), date(2025, 8, 1), kind="request"),
                             when=at(7, 22))
        relay.feed(*((ended, kept) if end_first else (kept, ended)))
        (link,) = relay.state.links[relay.relay_id(MIO)]
        assert (link.valid_from, link.valid_to) == (date(2025, 4, 1), date(2025, 8, 1))
        assert [(c.valid_to, c.kind) for c in link.closures] == [
            (date(2025, 8, 1), "insured_person_lost"),  # the request (健保法38条7号)
        ]


def test_the_loss_an_election_rests_on_is_retracted_only_after_the_election() -> None:
    """The election's eligibility and start (健保法3条4項・37条) rest on the loss: retracting the
    loss alone would leave employee insurance and 任意継続 at one insurer at once."""
    relay = Relay()
    _employed(relay, date(2024, 4, 1))
    _elect(relay)
    undo_loss = EMPLOYER.file("undo-loss", retraction("loss"), when=at(5, 1))
    relay.feed(undo_loss)
    assert relay.status(undo_loss) == "refused"
    assert relay.reasons(undo_loss) == [("retraction_blocked", "retracted_filing_reference")]
    relay.feed(INSURER.file("undo-vc", retraction("vc"), when=at(5, 2)))
    again = EMPLOYER.file("undo-loss-2", retraction("loss"), when=at(5, 3))
    relay.feed(again)
    assert relay.status(again) == "accepted"
    assert [(x[2], x[4], x[5], x[6]) for x in sorted(relay.links(KEN))] == [
        ("insured", date(2024, 4, 1), date(2055, 5, 10), False),
        ("voluntary_continuation", date(2025, 4, 1), date(2027, 4, 1), True),
    ]
