"""A dependant's cover ends with the insured person's: on their loss date and on their death + 1
(DOMAIN §6; 健康保険法3条7項), in either arrival order, and a retraction undoes exactly that.

Each test writes the expected links by hand: (who, insurer, capacity, category, from, to,
retracted)."""

from datetime import date

from relay_linker.domain import apply_all, decide, history, new_state
from relay_linker.domain.commands import LinkerRecord
from relay_linker.domain.effects import LinkChangeEmitted
from relay_linker.domain.slicing import carve, needs, widened
from relay_linker.domain.state import MissingFromSlice
from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    HASHER,
    Filer,
    Relay,
    at,
    closing,
    death,
    employee_insurance,
    of_type,
    opening,
    person,
    register,
    retraction,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HIRO = person("hiro", "50000000001", "1980-05-10", "male")
KANA = person("kana", "50000000002", "1983-09-01")
SORA = person("sora", "50000000003", "2012-12-24", "male")
FAMILY = (HIRO, KANA, SORA)
HIRED, LOST, DIED = date(2025, 4, 1), date(2025, 6, 1), date(2025, 7, 10)
HIRO_75 = date(2055, 5, 10)  # the insured person's 75th birthday bounds every link (§5b)
EI = (EMPLOYER_INSURER, "employee_insurance")


def _row(who: str, capacity: str, start: date, end: date | None, gone: bool = False) -> tuple:
    return (who, EI[0], capacity, EI[1], start, end, gone)


def _registered() -> Relay:
    relay = Relay()
    relay.feed(*(TOWN.file(f"reg-{p.name}", register(p), when=at(4, 1)) for p in FAMILY))
    return relay


def _hired() -> LinkerRecord:
    return EMPLOYER.file("acq", opening(HIRO, employee_insurance(HIRO), HIRED), when=at(4, 2))


def _dependant(who, reference: str = "", start: date = HIRED, when=None) -> LinkerRecord:
    spec = employee_insurance(who, "dependant")
    return EMPLOYER.file(
        reference or f"dep-{who.name}",
        opening(who, spec, start, insured_by=HIRO),
        when=when or at(4, 3),
    )


def _family() -> Relay:
    relay = _registered()
    relay.feed(_hired(), _dependant(KANA), _dependant(SORA))
    return relay


def _loss(reference: str = "loss", on: date = LOST, when=None) -> LinkerRecord:
    return EMPLOYER.file(
        reference, closing(HIRO, employee_insurance(HIRO), on), when=when or at(6, 2)
    )


def _own_loss(who, on: date, when) -> LinkerRecord:
    spec = employee_insurance(who, "dependant")
    return EMPLOYER.file(f"loss-{who.name}", closing(who, spec, on), when=when)


def _ends(relay: Relay, *people) -> list[tuple[object, ...]]:
    names = relay.names(*people)
    return [
        (names[e.relay_id], e.change, e.valid_to, e.closed_because)
        for e in of_type(relay.log, LinkChangeEmitted)
        if e.relay_id in names and e.change != "opened"
    ]


def test_the_insured_persons_loss_ends_the_dependants_links_on_the_loss_date() -> None:
    """DOMAIN §6: "their cover ends on the insured person's loss date" (健康保険法3条7項)."""
    relay = _family()
    loss = _loss()
    relay.feed(loss)
    assert relay.status(loss) == "accepted"
    assert relay.links(*FAMILY) == [
        _row("hiro", "insured", HIRED, LOST),
        _row("kana", "dependant", HIRED, LOST),
        _row("sora", "dependant", HIRED, LOST),
    ]
    assert _ends(relay, *FAMILY) == [
        ("hiro", "closed", LOST, "loss"),
        ("kana", "closed", LOST, "insured_person_lost"),
        ("sora", "closed", LOST, "insured_person_lost"),
    ]


def test_the_insured_persons_death_ends_the_dependants_links_on_death_plus_one() -> None:
    """DOMAIN §6: "on the insured person's death + 1" (§5a: a loss date is death + 1)."""
    relay = _family()
    relay.feed(TOWN.file("died", death(HIRO, DIED), when=at(7, 11)))
    after = date(2025, 7, 11)
    assert relay.links(*FAMILY) == [
        _row("hiro", "insured", HIRED, after),
        _row("kana", "dependant", HIRED, after),
        _row("sora", "dependant", HIRED, after),
    ]
    assert _ends(relay, *FAMILY) == [
        ("hiro", "closed", after, "death"),
        ("kana", "closed", after, "insured_person_died"),
        ("sora", "closed", after, "insured_person_died"),
    ]


def test_retracting_the_insured_persons_loss_reopens_the_dependants_links() -> None:
    """A retraction undoes exactly the filing's effects (取消): the dependants' ends it set."""
    relay = _family()
    relay.feed(_loss(), EMPLOYER.file("cancel", retraction("loss"), when=at(6, 3)))
    assert relay.links(*FAMILY) == [
        _row("hiro", "insured", HIRED, HIRO_75),
        _row("kana", "dependant", HIRED, HIRO_75),
        _row("sora", "dependant", HIRED, HIRO_75),
    ]
    assert _ends(relay, KANA)[-1] == (
        "kana", "reopened", HIRO_75, "insured_late_stage_transfer"
    )


def test_retracting_the_insured_persons_death_reopens_the_dependants_links() -> None:
    relay = _family()
    relay.feed(
        TOWN.file("died", death(HIRO, DIED), when=at(7, 11)),
        TOWN.file("cancel", retraction("died"), when=at(7, 12)),
    )
    assert relay.links(*FAMILY) == [
        _row("hiro", "insured", HIRED, HIRO_75),
        _row("kana", "dependant", HIRED, HIRO_75),
        _row("sora", "dependant", HIRED, HIRO_75),
    ]


def test_a_dependants_own_earlier_loss_stands_in_either_arrival_order() -> None:
    """SORA removed on 5/1, HIRO retires on 6/1: SORA's link ends 5/1 whichever arrives first."""
    expected = [
        _row("hiro", "insured", HIRED, LOST),
        _row("kana", "dependant", HIRED, LOST),
        _row("sora", "dependant", HIRED, date(2025, 5, 1)),
    ]
    own = _own_loss(SORA, date(2025, 5, 1), at(5, 2))
    first = _family()
    first.feed(own, _loss())
    later = _family()
    later.feed(_loss(), own)
    assert first.links(*FAMILY) == later.links(*FAMILY) == expected
    assert history(first.state) == history(later.state)
    assert later.status(own) == "accepted"


def test_a_dependants_loss_filed_after_the_insured_persons_is_accepted_as_already_ended() -> None:
    """The employer still files the dependant's 被扶養者異動届 on the same loss date: accepted,
    nothing moves, nothing is announced again; retracting the insured person's loss then leaves
    the dependant's own loss in force."""
    relay = _family()
    relay.feed(_loss())
    own = _own_loss(SORA, LOST, at(6, 3))
    seen = relay.feed(own)
    assert relay.status(own) == "accepted"
    assert of_type(seen, LinkChangeEmitted) == []
    relay.feed(EMPLOYER.file("cancel", retraction("loss"), when=at(6, 4)))
    assert relay.links(*FAMILY) == [
        _row("hiro", "insured", HIRED, HIRO_75),
        _row("kana", "dependant", HIRED, HIRO_75),
        _row("sora", "dependant", HIRED, LOST),
    ]


def test_the_insured_persons_loss_before_the_dependants_acquisition_gives_the_same_links() -> None:
    """Order independence: the loss processed before KANA's acquisition (filed late) ends her
    link on the loss date all the same, with the reason; retracting the loss reopens it."""
    in_order = _registered()
    in_order.feed(_hired(), _dependant(KANA), _loss())
    late = _registered()
    late.feed(_hired(), _loss(), _dependant(KANA, when=at(6, 5)))
    expected = [_row("hiro", "insured", HIRED, LOST), _row("kana", "dependant", HIRED, LOST)]
    assert in_order.links(HIRO, KANA) == late.links(HIRO, KANA) == expected
    (opened,) = [e for e in of_type(late.log, LinkChangeEmitted)
                 if e.relay_id == late.relay_id(KANA)]
    assert (opened.change, opened.valid_to, opened.closed_because) == (
        "opened", LOST, "insured_person_lost"
    )
    late.feed(EMPLOYER.file("cancel", retraction("loss"), when=at(6, 6)))
    assert late.links(HIRO, KANA) == [
        _row("hiro", "insured", HIRED, HIRO_75),
        _row("kana", "dependant", HIRED, HIRO_75),
    ]


def test_the_insured_persons_death_before_the_dependants_acquisition_gives_the_same_links() -> None:
    late = _registered()
    late.feed(_hired(), TOWN.file("died", death(HIRO, DIED), when=at(7, 11)),
              _dependant(KANA, when=at(7, 12)))
    after = date(2025, 7, 11)
    assert late.links(HIRO, KANA) == [
        _row("hiro", "insured", HIRED, after), _row("kana", "dependant", HIRED, after)
    ]
    late.feed(TOWN.file("cancel", retraction("died"), when=at(7, 13)))
    assert late.links(HIRO, KANA) == [
        _row("hiro", "insured", HIRED, HIRO_75), _row("kana", "dependant", HIRED, HIRO_75)
    ]


def test_a_dependant_added_after_the_insured_persons_death_is_refused() -> None:
    """Nobody is a dependant of a dead person: a link starting after the death is refused."""
    relay = _registered()
    relay.feed(_hired(), TOWN.file("died", death(HIRO, DIED), when=at(7, 11)))
    added = _dependant(KANA, start=date(2025, 8, 1), when=at(8, 2))
    relay.feed(added)
    assert relay.reasons(added) == [("person_deceased", "insured_person")]
    assert relay.links(HIRO, KANA) == [_row("hiro", "insured", HIRED, date(2025, 7, 11))]


def test_same_day_loss_and_reacquisition_keeps_the_new_dependant_period_open() -> None:
    """同日得喪 (DOMAIN §6): HIRO lost and re-acquired at the same insurer on 6/1, KANA added
    again from 6/1: her old period ends 6/1, the new one stays open, whichever comes first."""
    again = EMPLOYER.file("acq-2", opening(HIRO, employee_insurance(HIRO), LOST), when=at(6, 2))
    readded = _dependant(KANA, "dep-kana-2", start=LOST, when=at(6, 2))
    expected = [
        _row("hiro", "insured", HIRED, LOST),
        _row("hiro", "insured", LOST, HIRO_75),
        _row("kana", "dependant", HIRED, LOST),
        _row("kana", "dependant", LOST, HIRO_75),
    ]
    for order in ((_loss(), again, readded), (again, readded, _loss())):
        relay = _registered()
        relay.feed(_hired(), _dependant(KANA), *order)
        assert relay.links(HIRO, KANA) == expected


def _through_slices(whole, record: LinkerRecord):
    keys = needs(record)
    for _ in range(50):
        try:
            return decide(carve(whole, keys), record, HASHER)
        except MissingFromSlice as missing:
            keys = widened(keys, missing)
    raise AssertionError("a decision kept asking for more")


def test_deciding_the_insured_persons_filings_through_slices_gives_the_same_effects() -> None:
    """The adapter loads an insured person's dependants through their own slice key."""
    records = [
        *(TOWN.file(f"reg-{p.name}", register(p), when=at(4, 1)) for p in FAMILY),
        _hired(),
        _dependant(SORA),
        _loss(),
        _dependant(KANA, when=at(6, 5)),
        EMPLOYER.file("cancel", retraction("loss"), when=at(6, 6)),
        TOWN.file("died", death(HIRO, DIED), when=at(7, 11)),
        TOWN.file("cancel-death", retraction("died"), when=at(7, 12)),
    ]
    whole = new_state()
    for record in records:
        effects = _through_slices(whole, record)
        assert effects == decide(whole, record, HASHER)
        apply_all(whole, effects)


def test_a_death_before_a_dependants_start_already_on_file_is_recorded_for_operations() -> None:
    """The death arrives after a dependant link starting later: nothing is ended by it, and the
    link is recorded as filed for a dead person, as the person's own links are."""
    relay = _registered()
    relay.feed(_hired(), _dependant(KANA, start=date(2025, 8, 1), when=at(7, 1)))
    relay.feed(TOWN.file("died", death(HIRO, DIED), when=at(7, 11)))
    assert relay.links(HIRO, KANA) == [
        _row("hiro", "insured", HIRED, date(2025, 7, 11)),
        _row("kana", "dependant", date(2025, 8, 1), HIRO_75),
    ]
    assert relay.anomalies() == [("filing_for_dead_person", False)]
