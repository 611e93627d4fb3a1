"""Households (世帯) as hand-written link histories: one membership at a time, dated chains in
any arrival order, death, retraction, and what the relay tells of them.

Each test names the rule it checks (relay_linker/domain/households.py, DOMAIN §6 households)."""

from dataclasses import replace
from datetime import date
from itertools import permutations

from relay_linker.domain import MissingFromSlice, advance, apply_all, decide, new_state
from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.commands import ChangeIdentity, JoinHousehold, NumberRef
from relay_linker.domain.effects import ChangeNoticeDue, LinkChangeEmitted
from relay_linker.domain.fold import history
from relay_linker.domain.slicing import carve, needs, widened
from relay_linker.messages import link_changed, link_changed_v2
from tests.unit.test_linker_support import (
    HASHER,
    Filer,
    Relay,
    Someone,
    at,
    blind,
    death,
    nhi,
    of_type,
    opening,
    outcomes,
    person,
    register,
    retraction,
)

TOWN = Filer("131016")
HANA = person("hana", "40000000001", "1970-05-10")
KOJI = person("koji", "40000000002", "1968-11-03", "male")
MIKU = person("miku", "40000000003", "1998-07-07")
D0, D1, D2 = date(2024, 1, 1), date(2025, 2, 1), date(2025, 3, 1)


def token(value: str) -> NumberRef:
    return blind(f"household:{TOWN.code}", value)


def joining(
    who: Someone, household: str, on: date, householder: bool = False, reason: str = "separation"
) -> JoinHousehold:
    return JoinHousehold(
        who.resident, who.identity, TOWN.code, token(household), householder, on, on, reason
    )


def memberships(relay: Relay, *people: Someone) -> list[tuple[object, ...]]:
    """(who, capacity, valid_from, valid_to, retracted) of the household links."""
    return [
        (row[0], row[2], row[4], row[5], row[6])
        for row in relay.links(*people)
        if row[3] == "household"
    ]


def test_a_registration_with_a_household_opens_one_open_membership() -> None:
    """The registration's household is the person's from the registration date, householder as
    filed, under the municipality's code (scheme resident, category household)."""
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), joining(HANA, "A", D0, True), when=at(4, 1)))
    assert memberships(relay, HANA) == [("hana", "householder", D0, None, False)]
    link = relay.state.links[relay.relay_id(HANA)][0]
    assert (link.scheme, link.insurer_number, link.number_key) == (
        "resident", "131016", token("A").key)
    assert link.sealed_number == token("A").sealed


def test_a_new_membership_closes_the_previous_on_its_date() -> None:
    """世帯分離 on D1: the old membership ends on D1 (household_changed), the new one opens."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("sep", joining(MIKU, "B", D1, True), when=at(4, 2)),
    )
    assert memberships(relay, MIKU) == [
        ("miku", "householder", D1, None, False),
        ("miku", "member", D0, D1, False),
    ]
    closed = [e for e in of_type(relay.log, LinkChangeEmitted) if e.change == "closed"]
    assert [(e.valid_to, e.closed_because) for e in closed] == [(D1, "household_changed")]


def _chain_records() -> list:
    filer = Filer("131016")
    return [
        filer.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        filer.file("merge", joining(MIKU, "B", D1, reason="merger"), when=at(4, 2)),
        filer.file("sep", joining(MIKU, "C", D2, True), when=at(4, 3)),
    ]


def test_late_filings_keep_the_dated_chain_in_any_arrival_order() -> None:
    """Each membership ends where the next later one begins, whichever arrives first:
    A [D0, D1), B [D1, D2), C [D2, ∞) for all six orders of the three filings."""
    expected = [
        ("miku", "householder", D2, None, False),
        ("miku", "member", D0, D1, False),
        ("miku", "member", D1, D2, False),
    ]
    in_order = Relay()
    in_order.feed(*_chain_records())
    assert memberships(in_order, MIKU) == expected
    reg, *changes = _chain_records()
    for order in permutations(changes):
        relay = Relay()
        relay.feed(reg, *order)
        assert memberships(relay, MIKU) == expected, order
        assert history(relay.state) == history(in_order.state)


def test_a_retraction_undoes_exactly_its_membership() -> None:
    """取消 of the middle change: its link is retracted and A runs again to C's start."""
    relay = Relay()
    relay.feed(*_chain_records(), TOWN.file("undo", retraction("merge"), when=at(4, 4)))
    assert memberships(relay, MIKU) == [
        ("miku", "householder", D2, None, False),
        ("miku", "member", D0, D2, False),
        ("miku", "member", D1, D2, True),
    ]
    assert outcomes(relay.log)[-1] == ("undo", "accepted", ())


def test_retracting_the_latest_change_reopens_the_membership_before_it() -> None:
    relay = Relay()
    relay.feed(*_chain_records(), TOWN.file("undo", retraction("sep"), when=at(4, 4)))
    assert memberships(relay, MIKU) == [
        ("miku", "householder", D2, None, True),
        ("miku", "member", D0, D1, False),
        ("miku", "member", D1, None, False),
    ]


def test_a_death_ends_the_membership_the_day_after() -> None:
    """Like every link (DOMAIN §5a): died_on + 1, closed_because death; a householder change
    filed for the dead householder's spouse makes them householder from the day after."""
    relay = Relay()
    died = date(2025, 3, 10)
    relay.feed(
        TOWN.file("reg-koji", register(KOJI), joining(KOJI, "A", D0, True), when=at(4, 1)),
        TOWN.file("reg-hana", register(HANA), joining(HANA, "A", D0), when=at(4, 1, 10)),
        TOWN.file("death", death(KOJI, died), when=at(4, 2)),
        TOWN.file(
            "head", joining(HANA, "A", date(2025, 3, 11), True, "householder_change"),
            when=at(4, 3),
        ),
    )
    assert memberships(relay, KOJI, HANA) == [
        ("hana", "householder", date(2025, 3, 11), None, False),
        ("hana", "member", D0, date(2025, 3, 11), False),
        ("koji", "householder", D0, date(2025, 3, 11), False),
    ]
    closed = [e for e in of_type(relay.log, LinkChangeEmitted) if e.change == "closed"]
    assert [e.closed_because for e in closed] == ["death", "household_changed"]


def test_a_membership_after_the_death_is_refused() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(KOJI), joining(KOJI, "A", D0, True), when=at(4, 1)),
        TOWN.file("death", death(KOJI, D1), when=at(4, 2)),
        late := TOWN.file("sep", joining(KOJI, "B", D2, True), when=at(4, 3)),
    )
    assert relay.reasons(late) == [("person_deceased", "person")]


def test_a_membership_filed_late_for_a_dead_person_ends_with_the_death() -> None:
    """A change dated before the death that arrives after it still ends on died_on + 1."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(KOJI), when=at(4, 1)),
        TOWN.file("death", death(KOJI, D2), when=at(4, 2)),
        TOWN.file("sep", joining(KOJI, "B", D1, True), when=at(4, 3)),
    )
    assert memberships(relay, KOJI) == [("koji", "householder", D1, date(2025, 3, 2), False)]


def test_an_unknown_person_parks_the_change() -> None:
    relay = Relay()
    parked = TOWN.file("sep", joining(MIKU, "B", D1), when=at(4, 1))
    relay.feed(parked)
    assert relay.status(parked) == "parked"
    assert relay.reasons(parked) == [("unknown_reference", "person")]
    relay.feed(TOWN.file("reg", register(MIKU), when=at(4, 2)))
    assert relay.status(parked) == "accepted"
    assert memberships(relay, MIKU) == [("miku", "member", D1, None, False)]


def test_two_changes_on_one_day_give_the_same_links_in_either_order() -> None:
    """Same-day memberships are ordered by their filings' event ids: the earlier holds no day,
    and both arrival orders agree."""
    first = TOWN.file("x1", joining(MIKU, "B", D1), when=at(4, 2))
    second = TOWN.file("x2", joining(MIKU, "C", D1, True), when=at(4, 3))
    rows = []
    for order in ((first, second), (second, first)):
        relay = Relay()
        relay.feed(TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)), *order)
        rows.append(memberships(relay, MIKU))
        assert sum(1 for r in rows[-1] if r[3] is None) == 1
    assert rows[0] == rows[1]


def test_household_changes_make_no_change_notices() -> None:
    """The resident scheme is the municipality's own: insurers hear of no membership change."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("nhi", opening(MIKU, nhi(MIKU), D0), when=at(4, 1, 10)),
        TOWN.file("sep", joining(MIKU, "B", D1, True), when=at(4, 2)),
    )
    assert of_type(relay.log, ChangeNoticeDue) == []


def test_retracting_a_registration_with_its_household_removes_the_person() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("undo", retraction("reg"), when=at(4, 2)),
    )
    assert relay.state.persons == {}
    assert memberships(relay) == []


def test_link_changes_tell_the_household_key_and_householder_to_the_relay_only() -> None:
    """v2 carries the household's blind index (hex, never the token) and the householder flag;
    v1 carries neither, and no capacity for a household link."""
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), joining(HANA, "SETAI-7", D0, True), when=at(4, 1)))
    emitted = of_type(relay.log, LinkChangeEmitted)[0]
    v1, v2 = link_changed(emitted), link_changed_v2(emitted)
    assert (v1.scheme.value, v1.capacity, v1.insurer_number) == ("resident", None, "131016")
    assert (v2.category, v2.household, v2.householder) == (
        "household", token("SETAI-7").index.hex(), True)
    for message in (v1, v2):
        assert "SETAI-7" not in message.model_dump_json()
    assert token("SETAI-7").index.hex() not in v1.model_dump_json()


def test_household_decisions_through_slices_give_the_same_effects() -> None:
    """What the linker loads for a household filing (the person, by their number) is enough:
    a slice decides as the whole state does, so the fold and the database agree."""
    records = [
        *_chain_records(),
        TOWN.file("reg-koji", register(KOJI), joining(KOJI, "A", D0, True), when=at(4, 4)),
        TOWN.file("death", death(KOJI, D1), when=at(4, 5)),
        TOWN.file("undo", retraction("merge"), when=at(4, 6)),
        TOWN.file("late", joining(MIKU, "D", date(2024, 6, 1)), when=at(4, 7)),
    ]
    whole = new_state()
    for record in records:
        advance(whole, record.relay_time)
        effects = _through_slices(whole, record)
        assert effects == decide(whole, record, HASHER)
        apply_all(whole, effects)
    assert sum(1 for links in whole.links.values() for x in links if x.category == "household") == 5


def _through_slices(whole, record) -> list:
    keys = needs(record)
    for _ in range(50):
        try:
            return decide(carve(whole, keys), record, HASHER)
        except MissingFromSlice as missing:
            keys = widened(keys, missing)
    raise AssertionError("a decision kept asking for more")


# --- 転出 (MovedOut) ends the membership at the municipality moved out of ----------------------

OTHER = Filer("271004", partition=1)
D3 = date(2025, 4, 1)


def joining_at(
    filer: Filer, who: Someone, household: str, on: date, householder: bool = False,
    reason: str = "separation",
) -> JoinHousehold:
    number = blind(f"household:{filer.code}", household)
    return JoinHousehold(who.resident, who.identity, filer.code, number, householder, on, on,
                         reason)


OSAKA = "大阪府大阪市北区梅田1-1"


def moving(who: Someone, on: date, reason: str) -> ChangeIdentity:
    return ChangeIdentity(who.resident, who.identity, {"address": OSAKA}, on, reason)


def moved(who: Someone) -> Someone:
    """`who` as described after the move (the new address)."""
    return replace(who, identity=replace(who.identity, address=OSAKA))


def moved_in(filer: Filer, who: Someone, household: str | None, on: date) -> list:
    """転入 filed by `filer`, with its household when given (matched on the day before)."""
    commands: list = [moving(who, on, "moved_in")]
    if household is not None:
        join = joining_at(filer, who, household, on, reason="MovedIn")
        commands.append(replace(join, identity_on=on - ONE_DAY))
    return commands


def test_moving_out_of_the_municipality_ends_its_household_membership() -> None:
    """転出 from TOWN on D2 to a municipality that files its 転入 without a household (the
    field is optional): the person leaves TOWN's register and its household on D2, so the
    membership ends there (household_changed, the person's household changes) and its
    householder is no longer addressed for them (DOMAIN §6)."""
    from relay_linker.domain.households import household_on

    other = Filer("271004")
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("out", ChangeIdentity(MIKU.resident, MIKU.identity, {"address": "osaka"}, D2,
                                        "moved_out"), when=at(4, 2)),
        other.file("in", ChangeIdentity(MIKU.resident, MIKU.identity, {"address": "osaka"}, D2,
                                        "moved_in"), when=at(4, 3)),
    )
    links = relay.state.links[relay.relay_id(MIKU)]
    assert household_on(links, D2) is None
    assert memberships(relay, MIKU) == [("miku", "member", D0, D2, False)]
    closed = [e for e in of_type(relay.log, LinkChangeEmitted) if e.change == "closed"]
    assert [(e.valid_to, e.closed_because) for e in closed] == [(D2, "household_changed")]


def test_retracting_the_move_out_lifts_exactly_its_end() -> None:
    """取消 of the 転出: the closure recorded under it goes, the membership runs open again;
    an end another filing gave (the next membership's start) stays."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
        TOWN.file("undo", retraction("out"), when=at(4, 3)),
    )
    assert memberships(relay, MIKU) == [("miku", "member", D0, None, False)]
    assert outcomes(relay.log)[-1] == ("undo", "accepted", ())
    changes = [e.change for e in of_type(relay.log, LinkChangeEmitted)]
    assert changes[-2:] == ["closed", "reopened"]


def test_retracting_the_move_out_keeps_the_end_the_next_membership_gives() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
        OTHER.file("in", *moved_in(OTHER, MIKU, "X", D2), when=at(4, 3)),
        TOWN.file("undo", retraction("out"), when=at(4, 4)),
    )
    assert memberships(relay, MIKU) == [
        ("miku", "member", D0, D2, False),
        ("miku", "member", D2, None, False),
    ]


def _move_records() -> list:
    """TOWN: household A from D0, a late 世帯分離 into B on D1; 転出 on D2; OTHER's 転入 into X
    on D2 with its household."""
    return [
        TOWN.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
        OTHER.file("in", *moved_in(OTHER, MIKU, "X", D2), when=at(4, 3)),
        TOWN.file("sep", joining(MIKU, "B", D1, True), when=at(4, 4)),
    ]


def test_a_move_out_gives_one_chain_in_any_arrival_order() -> None:
    """The 転出, the 転入 with its household and a 世帯分離 at TOWN dated before the move
    arrive in all six orders: A [D0, D1), B [D1, D2), X [D2, ∞) every time; a membership at
    TOWN that arrives after the 転出 takes its end, under the 転出's filing."""
    reg = TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1))
    expected = [
        ("miku", "householder", D1, D2, False),
        ("miku", "member", D0, D1, False),
        ("miku", "member", D2, None, False),
    ]
    first = None
    for order in permutations(_move_records()):
        relay = Relay()
        relay.feed(reg, *order)
        assert memberships(relay, MIKU) == expected, order
        assert all(status == "accepted" for _, status, _ in outcomes(relay.log)), order
        first = first or history(relay.state)
        assert history(relay.state) == first, order


def test_retracting_the_move_out_lifts_the_end_a_late_membership_took_from_it() -> None:
    """B arrived after the 転出 and took its end; 取消 of the 転出 lifts it: B runs to X's start
    (the 転入's own end), A to B's start."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
        TOWN.file("sep", joining(MIKU, "B", D1, True), when=at(4, 3)),
        TOWN.file("undo", retraction("out"), when=at(4, 4)),
    )
    assert memberships(relay, MIKU) == [
        ("miku", "householder", D1, None, False),
        ("miku", "member", D0, D1, False),
    ]


def test_a_membership_begun_after_the_move_out_is_not_touched() -> None:
    """A return to TOWN (its 転入 with household C on D3, after the 転出 on D2) is another stay:
    the old 転出 does not end it, whichever arrives first; nor does it end OTHER's X."""
    records = [
        TOWN.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
        OTHER.file("in", *moved_in(OTHER, MIKU, "X", D2), when=at(4, 3)),
        TOWN.file("back", *moved_in(TOWN, moved(MIKU), "C", D3), when=at(4, 4)),
    ]
    expected = [  # TOWN's, then OTHER's
        ("miku", "member", D0, D2, False),
        ("miku", "member", D3, None, False),
        ("miku", "member", D2, D3, False),
    ]
    for order in permutations(records):
        relay = Relay()
        relay.feed(TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
                   *order)
        assert memberships(relay, MIKU) == expected, order


def test_a_move_out_filed_by_another_municipality_ends_nothing_here() -> None:
    """Only the municipality moved out of ends its membership: OTHER's 転出 leaves TOWN's
    membership open (the person was never on OTHER's register as far as the relay knows)."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        OTHER.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
    )
    assert memberships(relay, MIKU) == [("miku", "member", D0, None, False)]


def test_move_out_decisions_through_slices_give_the_same_effects() -> None:
    """A membership arriving after the 転出 reads the 転出's ledger row (its municipality):
    a slice asks for it and decides as the whole state does."""
    records = [
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        *_move_records(),
        TOWN.file("undo", retraction("out"), when=at(4, 5)),
    ]
    whole = new_state()
    for record in records:
        advance(whole, record.relay_time)
        effects = _through_slices(whole, record)
        assert effects == decide(whole, record, HASHER)
        apply_all(whole, effects)


# --- a household change without a move is the person's own municipality's -------------------


def test_a_municipality_cannot_move_a_resident_of_another_into_its_household() -> None:
    """TOWN registered Hana with household A; another municipality files a HouseholdChanged
    for her: refused (other_municipality), for the 世帯 is kept by her own municipality and a
    世帯分離/合併/世帯主変更 happens inside it. TOWN's membership stays as it was."""
    other = Filer("271004")
    relay = Relay()
    relay.feed(TOWN.file("reg", register(HANA), joining(HANA, "A", D0, True), when=at(4, 1)))
    stranger = JoinHousehold(HANA.resident, HANA.identity, other.code,
                             blind(f"household:{other.code}", "A"), False, D1, D1, "merger")
    filed = other.file("foreign", stranger, when=at(4, 2))
    relay.feed(filed)
    assert relay.status(filed) == "refused"
    assert relay.reasons(filed) == [("other_municipality", "household")]
    assert memberships(relay, HANA) == [("hana", "householder", D0, None, False)]


def test_the_membership_holding_the_change_date_decides_who_may_file() -> None:
    """Hana moves from TOWN to OTHER on D2 (転入 with household X). A change dated D3 is
    OTHER's (accepted) and not TOWN's (refused); a late change dated D1 is TOWN's (accepted:
    her membership on D1 is TOWN's A) and not OTHER's (refused)."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(HANA), joining(HANA, "A", D0, True), when=at(4, 1)),
        TOWN.file("out", moving(HANA, D2, "moved_out"), when=at(4, 2)),
        OTHER.file("in", *moved_in(OTHER, HANA, "X", D2), when=at(4, 3)),
    )
    town_late = TOWN.file("t1", joining(HANA, "B", D1), when=at(4, 4))
    other_late = OTHER.file("o1", joining_at(OTHER, HANA, "Y", D1), when=at(4, 4, 10))
    town_now = TOWN.file("t3", joining(moved(HANA), "C", D3), when=at(4, 5))
    other_now = OTHER.file("o3", joining_at(OTHER, moved(HANA), "Z", D3, True),
                           when=at(4, 5, 10))
    relay.feed(town_late, other_late, town_now, other_now)
    assert [relay.status(r) for r in (town_late, other_late, town_now, other_now)] == [
        "accepted", "refused", "refused", "accepted"]
    assert relay.reasons(other_late) == [("other_municipality", "household")]
    assert relay.reasons(town_now) == [("other_municipality", "household")]


def test_with_no_membership_on_the_date_the_latest_before_it_decides() -> None:
    """Miku's only membership is TOWN's, from D1: a change dated D2 from OTHER is refused,
    and a change dated before D1 (no membership holds or precedes it) is anyone's."""
    relay = Relay()
    relay.feed(TOWN.file("reg", register(MIKU), joining(MIKU, "A", D1), when=at(4, 1)))
    later = OTHER.file("later", joining_at(OTHER, MIKU, "X", D2), when=at(4, 2))
    before = OTHER.file("before", joining_at(OTHER, MIKU, "X", D0), when=at(4, 3))
    relay.feed(later, before)
    assert relay.status(later) == "refused"
    assert relay.status(before) == "accepted"


def test_a_person_without_any_membership_may_be_given_one_by_any_municipality() -> None:
    """The stated limit: go-live data may come without households, and the register always
    has one for a resident, so a HouseholdChanged for a person with no membership is
    accepted from whichever municipality files it."""
    relay = Relay()
    relay.feed(TOWN.file("reg", register(MIKU), when=at(4, 1)))
    filed = OTHER.file("first", joining_at(OTHER, MIKU, "X", D1), when=at(4, 2))
    relay.feed(filed)
    assert relay.status(filed) == "accepted"


def test_a_membership_ended_by_a_move_out_does_not_stand_after_it() -> None:
    """転出 from TOWN on D2, 転入 at OTHER without a household: OTHER's later HouseholdChanged
    is accepted (the person has no standing membership: TOWN's ended with the move)."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        TOWN.file("out", moving(MIKU, D2, "moved_out"), when=at(4, 2)),
        OTHER.file("in", *moved_in(OTHER, MIKU, None, D2), when=at(4, 3)),
    )
    filed = OTHER.file("sep", joining_at(OTHER, moved(MIKU), "X", D3, True), when=at(4, 4))
    relay.feed(filed)
    assert relay.status(filed) == "accepted"
    assert memberships(relay, MIKU) == [
        ("miku", "member", D0, D2, False),
        ("miku", "householder", D3, None, False),
    ]


def test_moves_and_registrations_are_not_held_to_the_municipality() -> None:
    """A 転入 with its household is filed by the new municipality, whose register the person
    joins: it is not a HouseholdChanged, so the other municipality's membership does not bar it."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(MIKU), joining(MIKU, "A", D0), when=at(4, 1)),
        filed := OTHER.file("in", *moved_in(OTHER, MIKU, "X", D2), when=at(4, 2)),
    )
    assert relay.status(filed) == "accepted"
