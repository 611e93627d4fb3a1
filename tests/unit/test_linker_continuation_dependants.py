"""Dependants under 任意継続 and at the seams of their insured person's cover (DOMAIN §6).

Each test writes the expected links by hand, (who, insurer, capacity, category, from, to,
retracted), and names the rule and its source; a property test then tries every arrival order."""

import itertools
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from relay_linker.domain.commands import Election, LinkerRecord, LinkSpec
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

TOWN, EMPLOYER, OTHER = Filer("131016"), Filer("E-1"), Filer("E-2")
INSURER = Filer(EMPLOYER_INSURER)
KEN = person("ken", "10000000011", "1980-05-10", "male")
MIO = person("mio", "10000000099", "1982-02-02")
OTHER_INSURER = "01130012"
HIRED, LOST, TERM = date(2024, 4, 1), date(2025, 4, 1), date(2027, 4, 1)
KEN_75 = date(2055, 5, 10)  # the insured person's 75th birthday bounds every link (§5b)
ON_TIME = Election(date(2025, 4, 10), date(2025, 4, 21))
DEPENDANT = LinkSpec("medical", EMPLOYER_INSURER, "dependant", "employee_insurance",
                     MIO.insured(EMPLOYER_INSURER))
CONTINUED = employee_insurance(KEN, "voluntary_continuation")
ELSEWHERE = LinkSpec("medical", OTHER_INSURER, "insured", "employee_insurance",
                     KEN.insured(OTHER_INSURER))


def _row(who: str, capacity: str, start: date, end: date | None, gone: bool = False,
         insurer: str = EMPLOYER_INSURER) -> tuple:
    return (who, insurer, capacity, "employee_insurance", start, end, gone)


def _base() -> Relay:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-ken", register(KEN), when=at(1, 5)),
        TOWN.file("reg-mio", register(MIO), when=at(1, 5)),
        EMPLOYER.file("acq", opening(KEN, employee_insurance(KEN), HIRED), when=at(1, 6)),
    )
    return relay


def _dep(start: date = date(2024, 6, 1), ref: str = "dep", by: Filer = EMPLOYER,
         when: tuple[int, int] = (1, 7)) -> LinkerRecord:
    return by.file(ref, opening(MIO, DEPENDANT, start, insured_by=KEN), when=at(*when))


def _loss() -> LinkerRecord:
    return EMPLOYER.file("loss", closing(KEN, employee_insurance(KEN), LOST), when=at(4, 2))


def _election() -> LinkerRecord:
    return INSURER.file("vc", opening(KEN, CONTINUED, LOST, election=ON_TIME), when=at(4, 10))


def _elsewhere(start: date = date(2025, 6, 1)) -> LinkerRecord:
    return OTHER.file("acq-2", opening(KEN, ELSEWHERE, start), when=at(6, 2))


def _mio(relay: Relay) -> list[tuple]:
    return [row for row in relay.links(KEN, MIO) if row[0] == "mio"]


def _closures_of(relay: Relay, who) -> list[tuple[date, str]]:
    return sorted(
        (c.valid_to, c.kind) for x in relay.state.links[relay.relay_id(who)] for c in x.closures
    )


# --- an election keeps the dependants' cover from the loss date (§6; 健保法3条4項・37条) --------


def test_an_election_keeps_the_dependants_cover_in_every_arrival_order() -> None:
    """KEN loses employee insurance on 4/1 and elects 任意継続 from 4/1: MIO, his dependant since
    2024-06-01, stays covered without a gap until the continuation's two years end
    (健保法38条1号), whether the election comes after the loss, before it, or before MIO's own
    filing. The end she holds is the continuation's term, under the election."""
    expected = [
        _row("ken", "insured", HIRED, LOST),
        _row("ken", "voluntary_continuation", LOST, TERM),
        _row("mio", "dependant", date(2024, 6, 1), TERM),
    ]
    for order in itertools.permutations((_dep, _loss, _election)):
        relay = _base()
        relay.feed(*(make() for make in order))
        assert relay.links(KEN, MIO) == expected, order
        assert _closures_of(relay, MIO) == [(TERM, "insured_person_lost")]


def test_retracting_the_election_ends_the_kept_dependant_on_the_loss_date_again() -> None:
    """Without the election the loss stands alone: MIO's cover ends with KEN's on 4/1 (§6)."""
    for order in ((_dep, _loss, _election), (_dep, _election, _loss)):
        relay = _base()
        relay.feed(*(make() for make in order))
        undo = INSURER.file("undo-vc", retraction("vc"), when=at(5, 1))
        relay.feed(undo)
        assert relay.status(undo) == "accepted"
        assert relay.links(KEN, MIO) == [
            _row("ken", "insured", HIRED, LOST),
            _row("ken", "voluntary_continuation", LOST, TERM, gone=True),
            _row("mio", "dependant", date(2024, 6, 1), LOST),
        ]
        assert _closures_of(relay, MIO) == [(LOST, "insured_person_lost")]


def test_the_continuation_ended_by_cover_elsewhere_ends_its_dependants_too() -> None:
    """健保法38条4号: 任意継続 ends the day KEN is insured elsewhere (6/1), and MIO's cover under it
    with it (§6), whichever comes first; retracting that acquisition gives both their term back."""
    for order in ((_loss, _election, _elsewhere), (_elsewhere, _loss, _election)):
        relay = _base()
        relay.feed(_dep(), *(make() for make in order))
        assert relay.links(KEN, MIO) == [
            _row("ken", "insured", date(2025, 6, 1), KEN_75, insurer=OTHER_INSURER),
            _row("ken", "insured", HIRED, LOST),
            _row("ken", "voluntary_continuation", LOST, date(2025, 6, 1)),
            _row("mio", "dependant", date(2024, 6, 1), date(2025, 6, 1)),
        ]
        relay.feed(OTHER.file("undo-2", retraction("acq-2"), when=at(6, 20)))
        assert relay.links(KEN, MIO) == [
            _row("ken", "insured", date(2025, 6, 1), KEN_75, gone=True, insurer=OTHER_INSURER),
            _row("ken", "insured", HIRED, LOST),
            _row("ken", "voluntary_continuation", LOST, TERM),
            _row("mio", "dependant", date(2024, 6, 1), TERM),
        ]


# --- a dependant needs the insured person's cover on its first day (§6; 健保法3条7項) ---------


def test_a_dependant_starting_on_the_loss_date_waits_for_cover_that_day() -> None:
    """MIO filed from 4/1, the day KEN's cover ended: she waits until KEN is covered that day
    (here 任意継続 from 4/1), and is refused after the parking bound if he never is."""
    relay = _base()
    waiting = _dep(LOST, "dep-late", INSURER, when=(4, 3))
    relay.feed(_loss(), waiting)
    assert relay.status(waiting) == "parked"
    assert relay.reasons(waiting) == [("insured_person_not_covered", "insured_person")]
    relay.feed(_election())
    assert relay.status(waiting) == "accepted"
    assert _mio(relay) == [_row("mio", "dependant", LOST, TERM)]

    alone = _base()
    alone.feed(_loss(), waiting)
    alone.expire(at(6, 1))
    assert alone.status(waiting) == "refused"
    assert _mio(alone) == []


def test_a_dependant_starting_on_the_loss_date_decided_first_ends_that_day() -> None:
    """Decided before the loss, MIO's link from 4/1 had KEN's cover that day; the loss takes it
    away, so her cover ends on its first day: no day covered, as the other order refuses it."""
    relay = _base()
    early = _dep(LOST, "dep-late", INSURER, when=(4, 1))
    relay.feed(early, _loss())
    assert relay.status(early) == "accepted"
    assert _mio(relay) == [_row("mio", "dependant", LOST, LOST)]
    relay.feed(EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), LOST), when=at(4, 3)))
    assert _mio(relay) == [_row("mio", "dependant", LOST, KEN_75)]  # 同日得喪: covered


def test_retracting_an_election_a_dependant_was_filed_under_is_blocked() -> None:
    """MIO was filed under KEN's 任意継続 (from 5/1): the insurer retracts her filing first,
    as with any filing others build on."""
    relay = _base()
    under = _dep(date(2025, 5, 1), "dep-vc", INSURER, when=(4, 28))
    relay.feed(_loss(), _election(), under)
    first = INSURER.file("undo-vc", retraction("vc"), when=at(5, 2))
    relay.feed(first)
    assert relay.reasons(first) == [("retraction_blocked", "retracted_filing_reference")]
    relay.feed(INSURER.file("undo-dep", retraction("dep-vc"), when=at(5, 3)))
    again = INSURER.file("undo-vc-2", retraction("vc"), when=at(5, 4))
    relay.feed(again)
    assert relay.status(again) == "accepted"
    assert relay.links(KEN, MIO) == [
        _row("ken", "insured", HIRED, LOST),
        _row("ken", "voluntary_continuation", LOST, TERM, gone=True),
        _row("mio", "dependant", date(2025, 5, 1), TERM, gone=True),
    ]


# --- who may elect: not one insured again on that day (健保法3条4項, 同日得喪) ---------------


def test_an_election_on_a_day_the_person_is_insured_again_is_refused() -> None:
    relay = _base()
    relay.feed(_loss(), EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), LOST),
                                      when=at(4, 3)))
    vc = _election()
    relay.feed(vc)
    assert relay.reasons(vc) == [("insured_on_continuation_start", "valid_from")]


def test_an_election_while_insured_elsewhere_is_refused() -> None:
    relay = _base()
    relay.feed(_elsewhere(date(2025, 3, 15)), _loss())
    vc = _election()
    relay.feed(vc)
    assert relay.reasons(vc) == [("insured_on_continuation_start", "valid_from")]


def test_an_election_decided_before_the_same_day_reacquisition_ends_on_its_first_day() -> None:
    """The relay heard of the election first: the re-acquisition ends it on 4/1 (健保法38条4号),
    so no day is covered by it, as the other order refuses it."""
    relay = _base()
    relay.feed(_loss(), _election())
    relay.feed(EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), LOST), when=at(4, 11)))
    assert relay.links(KEN) == [
        _row("ken", "insured", HIRED, LOST),
        _row("ken", "insured", LOST, KEN_75),
        _row("ken", "voluntary_continuation", LOST, LOST),
    ]


# --- a dependant's own loss ends the period covering its last day (§6) -----------------------


def test_a_dependants_loss_retried_late_ends_the_period_refiled_under_the_same_day_cover() -> None:
    """KEN lost and re-acquired on 4/1 (同日得喪); MIO's first period ends 4/1 with his, her
    re-filed period from 4/1 is the one her own loss of 7/1 ends, in every arrival order (all
    filed within the parking bound, so a filing that waits is retried, not refused)."""
    again = EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), LOST), when=at(4, 3))
    refiled = _dep(LOST, "dep-2", when=(4, 3))
    own_loss = EMPLOYER.file("dep-loss", closing(MIO, DEPENDANT, date(2025, 7, 1)), when=at(4, 3))
    expected = [
        _row("mio", "dependant", date(2024, 6, 1), LOST),
        _row("mio", "dependant", LOST, date(2025, 7, 1)),
    ]
    for order in itertools.permutations((_dep(), _loss(), again, refiled, own_loss)):
        relay = _base()
        relay.feed(*order)
        assert _mio(relay) == expected, [r.filing_reference for r in order]


# --- a go-live load that registered and linked a dependant can be retracted (取消) -----------


def test_a_member_load_that_registered_and_linked_a_dependant_can_be_retracted() -> None:
    relay = _base()
    newcomer = person("sora", "10000000098", "2015-05-05", "male")
    spec = LinkSpec("medical", EMPLOYER_INSURER, "dependant", "employee_insurance",
                    newcomer.insured(EMPLOYER_INSURER))
    load = INSURER.file("load", register(newcomer),
                        opening(newcomer, spec, date(2024, 6, 1), insured_by=KEN), when=at(1, 8))
    relay.feed(load)
    assert relay.status(load) == "accepted"
    undo = INSURER.file("undo-load", retraction("load"), when=at(1, 9))
    relay.feed(undo)
    assert relay.status(undo) == "accepted"
    assert newcomer.resident.key not in relay.state.index
    assert relay.links(KEN) == [_row("ken", "insured", HIRED, KEN_75)]


# --- the end is that of the insured person's cover the dependant's period is held under (§6) ---


def test_a_finished_continuations_term_does_not_cut_a_period_under_later_cover() -> None:
    """任意継続 from 4/1 ended 6/1 when KEN was hired again at the same insurer (健保法38条4号);
    MIO filed again from 6/1 is covered under the new employment, to his 75th birthday, not
    to the finished continuation's two years."""
    again = EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), date(2025, 6, 1)),
                          when=at(4, 12))
    refiled = _dep(date(2025, 6, 1), "dep-2", when=(4, 13))
    relay = _base()
    relay.feed(_dep(), _loss(), _election(), again, refiled)
    assert _mio(relay) == [
        _row("mio", "dependant", date(2024, 6, 1), date(2025, 6, 1)),
        _row("mio", "dependant", date(2025, 6, 1), KEN_75),
    ]


def test_a_loss_dated_before_a_dependants_first_day_leaves_it_to_the_cover_that_day() -> None:
    """MIO filed from 6/1 while KEN's employment was open; his loss dated 4/1 arrives later and
    he is hired again from 6/1: she is covered from 6/1 under the new employment in every order
    (no period ends before it starts)."""
    again = EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), date(2025, 6, 1)),
                          when=at(4, 3))
    later = _dep(date(2025, 6, 1), "dep-2", when=(4, 4))
    for order in itertools.permutations((_loss(), again, later)):
        relay = _base()
        relay.feed(*order)
        assert _mio(relay) == [_row("mio", "dependant", date(2025, 6, 1), KEN_75)], order
    alone = _base()
    alone.feed(later, _loss())  # no cover on 6/1 at all: her period covers no day
    assert _mio(alone) == [_row("mio", "dependant", date(2025, 6, 1), date(2025, 6, 1))]


def test_retracting_one_acquisition_leaves_the_next_acquisitions_end() -> None:
    """任意継続 from 4/1; KEN hired again at the same insurer from 6/1 (filed in error, then
    retracted) and at another insurer from 7/15: once the first is retracted, the continuation
    and MIO under it end on 7/15, as if it had never been filed (健保法38条4号)."""
    again = EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), date(2025, 6, 1)),
                          when=at(4, 3))
    relay = _base()
    relay.feed(_dep(), _loss(), _election(), again, _elsewhere(date(2025, 7, 15)))
    relay.feed(EMPLOYER.file("undo-again", retraction("again"), when=at(6, 5)))
    assert [row for row in relay.links(KEN, MIO) if not row[6]] == [
        _row("ken", "insured", date(2025, 7, 15), KEN_75, insurer=OTHER_INSURER),
        _row("ken", "insured", HIRED, LOST),
        _row("ken", "voluntary_continuation", LOST, date(2025, 7, 15)),
        _row("mio", "dependant", date(2024, 6, 1), date(2025, 7, 15)),
    ]


def test_an_end_given_when_the_insured_persons_cover_was_loaded_ends_the_dependants() -> None:
    """A go-live load gives KEN's employment with its loss date (4/1): MIO loaded under him ends
    with it, whichever load comes first (§6)."""
    loaded = INSURER.file("load-ken", opening(KEN, employee_insurance(KEN), HIRED, LOST),
                          when=at(1, 6))
    dependant = INSURER.file("load-mio", opening(MIO, DEPENDANT, date(2024, 6, 1), insured_by=KEN),
                             when=at(1, 6))
    for order in ((loaded, dependant), (dependant, loaded)):
        relay = Relay()
        relay.feed(TOWN.file("reg-ken", register(KEN), when=at(1, 5)),
                   TOWN.file("reg-mio", register(MIO), when=at(1, 5)), *order)
        assert relay.status(dependant) == "accepted"
        assert _mio(relay) == [_row("mio", "dependant", date(2024, 6, 1), LOST)]


def test_a_dependants_loss_on_a_refiled_periods_first_day_waits_for_the_earlier_period() -> None:
    """MIO's own loss of 4/1 and her period re-filed under 任意継続 from 4/1 arrive before her
    period since 2024-06-01: the loss waits for it (the period it ends), as in filing order."""
    own_loss = EMPLOYER.file("dep-loss", closing(MIO, DEPENDANT, LOST), when=at(4, 2))
    refiled = _dep(LOST, "dep-vc", INSURER, when=(4, 11))
    relay = _base()
    relay.feed(_loss(), own_loss, _election(), refiled, _dep(when=(4, 12)))
    assert relay.status(own_loss) == "accepted"
    assert _mio(relay) == [
        _row("mio", "dependant", date(2024, 6, 1), LOST),
        _row("mio", "dependant", LOST, TERM),
    ]


# --- any arrival order gives the same links -------------------------------------------------


def _pool() -> dict[str, LinkerRecord]:
    return {
        "dep": _dep(),
        "loss": _loss(),
        "vc": _election(),
        "end": INSURER.file("end", closing(KEN, CONTINUED, date(2025, 8, 1), kind="request"),
                            when=at(7, 22)),
        "dep-loss": EMPLOYER.file("dep-loss", closing(MIO, DEPENDANT, date(2025, 7, 1)),
                                  when=at(6, 30)),
        "death": TOWN.file("death", death(KEN, date(2025, 6, 10)), when=at(6, 11)),
        "acq-2": _elsewhere(date(2025, 7, 15)),
        "again": EMPLOYER.file("again", opening(KEN, employee_insurance(KEN), LOST),
                               when=at(4, 3)),
    }


def _overlapping(rows: list[tuple]) -> bool:
    mine = [(r[4], r[5] or date.max) for r in rows if r[0] == "mio" and not r[6] and r[4] != r[5]]
    return any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(mine) for b in mine[i + 1:])


@settings(max_examples=300, deadline=None)
@given(st.permutations(list(_pool())), st.integers(min_value=2, max_value=5))
def test_every_arrival_order_of_accepted_filings_gives_the_in_order_links(
    names: list[str], size: int
) -> None:
    """The links depend on the filings, not on their arrival order, whenever every filing is
    accepted in both orders (a filing refused in one order is another history) and MIO holds no
    two overlapping periods (duplicate filings, flagged as overlapping cover)."""
    chosen = names[:size]
    in_order = [n for n in _pool() if n in chosen]
    results = []
    for sequence in (in_order, chosen):
        pool, relay = _pool(), _base()
        relay.feed(*(pool[n] for n in sequence))
        statuses = {relay.status(pool[n]) for n in sequence}
        results.append((relay.links(KEN, MIO), statuses))
    (first, first_statuses), (second, second_statuses) = results
    if first_statuses == second_statuses == {"accepted"} and not _overlapping(first):
        assert second == first
