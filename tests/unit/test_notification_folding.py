"""The fold of LinkChangedV2 and PersonChanged into PersonFacts (notification_streams.folding):
hand-written message sequences with their expected facts written out, replays, hostile input,
the linker's own messages folded back into its links, and the fold feeding the NHI reminder."""

from dataclasses import replace
from datetime import UTC, date, datetime
from itertools import product
from uuid import NAMESPACE_URL, UUID, uuid5

from hypothesis import given, settings
from hypothesis import strategies as st

from notification_streams.folding import (
    LINK_AMBIGUOUS,
    LINK_UNKNOWN,
    OTHER_PERSON,
    empty,
    fold,
    fold_all,
    fold_link,
    fold_person,
    householder_for,
    householder_of,
)
from notification_streams.rules.facts import (
    Anomaly,
    Cover,
    Folded,
    Household,
    PersonFacts,
    Residence,
    residence_on,
)
from notification_streams.rules.nhi_reminder import losses, reminder_due
from notification_streams.rules.reminders import Recipient
from relay_linker.domain.commands import JoinHousehold
from relay_linker.domain.effects import LinkChangeEmitted, PersonChangeEmitted
from relay_linker.messages import link_changed_v2, person_changed
from schemas.internal import LinkChangedV2, PersonChanged
from tests.unit.test_linker_support import (
    Filer,
    Relay,
    at,
    blind,
    closing,
    death,
    employee_insurance,
    of_type,
    opening,
    pension,
    person,
    register,
    retraction,
)
from tests.unit.test_notification_rules_support import twentieth_day

NS = uuid5(NAMESPACE_URL, "urn:shaho-relay:test-folding")
TARO, HANA = "taro", "hana"
EMPLOYER = "06139018"
"""An employee insurer (law code 06), as the linker's tests file it."""
CHIYODA = "131016"
KEY_A, KEY_B = "a1" * 16, "b2" * 16
"""Two households' keys: lowercase hex blind indexes, as LinkChanged v2 carries them."""
WHEN = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def event(name: str) -> UUID:
    return uuid5(NS, f"event:{name}")


def link(
    change: str, tag: str, version: int, valid_from: str, valid_to: str | None = None, *,
    because: str | None = None, who: str = TARO, scheme: str = "medical",
    insurer: str = EMPLOYER, capacity: str | None = "insured",
    category: str | None = "employee_insurance", source: str = "acq",
    insured: str | None = None, pension_type: int | None = None,
) -> LinkChangedV2:
    """A v2 message as the linker writes one; `tag` names the message (its outbox id)."""
    return LinkChangedV2(
        relay_id=who, person_version=version, change=change, scheme=scheme,
        insurer_number=insurer, capacity=capacity, category=category,
        valid_from=d(valid_from), valid_to=d(valid_to) if valid_to else None,
        closed_because=because, insured_relay_id=insured, pension_type=pension_type,
        source_event_id=event(source), outbox_id=uuid5(NS, tag), relay_time=WHEN)


def membership(
    change: str, tag: str, version: int, key: str, valid_from: str,
    valid_to: str | None = None, *, heads: bool = False, because: str | None = None,
    who: str = TARO, source: str = "reg",
) -> LinkChangedV2:
    return LinkChangedV2(
        relay_id=who, person_version=version, change=change, scheme="resident",
        insurer_number=CHIYODA, category="household", household=key, householder=heads,
        valid_from=d(valid_from), valid_to=d(valid_to) if valid_to else None,
        closed_because=because, source_event_id=event(source), outbox_id=uuid5(NS, tag),
        relay_time=WHEN)


def life(version: int, born: str | None = "1980-05-10", died: str | None = None, *,
         removed: bool = False, who: str = TARO, source: str = "reg") -> PersonChanged:
    return PersonChanged(
        relay_id=who, person_version=version, born_on=d(born) if born else None,
        died_on=d(died) if died else None, removed=removed, source_event_id=event(source),
        outbox_id=uuid5(NS, f"person:{who}:{version}"), relay_time=WHEN)


def employee(valid_from: str, valid_to: str | None = None, because: str | None = None,
             source: str = "acq") -> Cover:
    return Cover(scheme="medical", category="employee_insurance", capacity="insured",
                 insurer_number=EMPLOYER, valid_from=d(valid_from),
                 valid_to=d(valid_to) if valid_to else None, closed_because=because,
                 source_event_id=str(event(source)))


def facts_of(messages: list, who: str = TARO) -> PersonFacts:
    facts, anomalies = fold_all(empty(who), messages)
    assert anomalies == ()
    return facts


def plain(facts: PersonFacts) -> PersonFacts:
    """The facts without the fold's bookkeeping: what the rules read."""
    return replace(facts, folded=Folded())


# --- covers ----------------------------------------------------------------------------


def test_an_employee_loss_closes_the_cover_and_its_retraction_reopens_it() -> None:
    """Opened, then a loss (資格喪失) on 1 April: valid_to and closed_because set; the loss
    retracted: the linker says `reopened` with no end, and the cover is open again."""
    opened = link("opened", "o", 2, "2024-04-01")
    closed = link("closed", "c", 3, "2024-04-01", "2026-04-01", because="loss", source="loss")
    reopened = link("reopened", "r", 4, "2024-04-01", source="undo")
    after_loss = facts_of([life(1), opened, closed])
    assert plain(after_loss) == PersonFacts(
        relay_id=TARO, birth_date=d("1980-05-10"),
        covers=(employee("2024-04-01", "2026-04-01", "loss"),))
    assert plain(fold_link(after_loss, reopened)) == PersonFacts(
        relay_id=TARO, birth_date=d("1980-05-10"), covers=(employee("2024-04-01"),))


def test_a_retracted_acquisition_leaves_no_cover() -> None:
    facts = facts_of([
        link("opened", "o", 1, "2024-04-01"),
        link("opened", "o2", 2, "2025-01-01", insurer="06139026", source="acq2"),
        link("retracted", "x", 3, "2024-04-01", source="undo"),
    ])
    assert [c.insurer_number for c in facts.covers] == ["06139026"]
    assert facts.folded == Folded(link_version=3, link_ids=frozenset({uuid5(NS, "x")}))


def test_a_reopened_link_keeps_the_end_another_rule_still_gives() -> None:
    """A reopened link takes the end the message gives: the filer's end at opening survives
    a retracted loss (the linker keeps the earliest end)."""
    facts = facts_of([
        link("opened", "o", 1, "2024-04-01", "2027-03-31", because="period_end"),
        link("closed", "c", 2, "2024-04-01", "2026-04-01", because="loss"),
        link("reopened", "r", 3, "2024-04-01", "2027-03-31", because="period_end"),
    ])
    assert facts.covers == (employee("2024-04-01", "2027-03-31", "period_end"),)


def test_a_dependant_and_a_pension_link_keep_their_v2_fields() -> None:
    facts = facts_of([
        link("opened", "dep", 1, "2024-04-01", capacity="dependant", insured=HANA),
        link("opened", "t3", 2, "2024-04-01", scheme="pension", insurer="JPS",
             category="national_type3", pension_type=3),
    ])
    assert facts.covers == (
        Cover(scheme="medical", category="employee_insurance", capacity="dependant",
              insurer_number=EMPLOYER, valid_from=d("2024-04-01"), valid_to=None,
              insured_relay_id=HANA, source_event_id=str(event("acq"))),
        Cover(scheme="pension", category="national_type3", capacity="insured",
              insurer_number="JPS", valid_from=d("2024-04-01"), valid_to=None,
              pension_type=3, source_event_id=str(event("acq"))),
    )


def test_two_periods_at_one_insurer_are_two_links() -> None:
    """Re-acquisition at the same insurer (同日得喪): valid_from tells the periods apart."""
    facts = facts_of([
        link("opened", "o1", 1, "2024-04-01"),
        link("closed", "c1", 2, "2024-04-01", "2025-04-01", because="loss"),
        link("opened", "o2", 3, "2025-04-01", source="acq2"),
        link("closed", "c2", 4, "2025-04-01", "2026-04-01", because="loss"),
    ])
    assert facts.covers == (employee("2024-04-01", "2025-04-01", "loss"),
                            employee("2025-04-01", "2026-04-01", "loss", source="acq2"))


# --- households and residences ---------------------------------------------------------


def test_a_household_chain_gives_memberships_and_residences() -> None:
    """Householder of A from 2020; 世帯分離 on 1 March 2026: A ends (household_changed) where
    B begins; B's retraction reopens A. Each membership is a residence in its municipality."""
    chain = [
        membership("opened", "a", 1, KEY_A, "2020-01-01", heads=True),
        membership("opened", "b", 2, KEY_B, "2026-03-01", heads=True, source="split"),
        membership("closed", "a-end", 2, KEY_A, "2020-01-01", "2026-03-01", heads=True,
                   because="household_changed", source="split"),
    ]
    facts = facts_of(chain)
    assert plain(facts) == PersonFacts(
        relay_id=TARO,
        residences=(Residence(municipality_code=CHIYODA, valid_from=d("2020-01-01"),
                              valid_to=d("2026-03-01")),
                    Residence(municipality_code=CHIYODA, valid_from=d("2026-03-01"))),
        households=(Household(household_token_key=KEY_A, householder=True,
                              valid_from=d("2020-01-01"), valid_to=d("2026-03-01")),
                    Household(household_token_key=KEY_B, householder=True,
                              valid_from=d("2026-03-01"))))
    assert residence_on(facts, d("2026-03-01")) == facts.residences[1]
    undone = fold_all(facts, [
        membership("retracted", "b-x", 3, KEY_B, "2026-03-01", heads=True, source="undo"),
        membership("reopened", "a-re", 3, KEY_A, "2020-01-01", heads=True, source="undo"),
    ])
    assert plain(undone[0]) == PersonFacts(
        relay_id=TARO,
        residences=(Residence(municipality_code=CHIYODA, valid_from=d("2020-01-01")),),
        households=(Household(household_token_key=KEY_A, householder=True,
                              valid_from=d("2020-01-01")),))
    assert undone[1] == ()


def test_a_change_of_householder_is_another_membership() -> None:
    """The same household key, the person no longer its head: a new link (householder is
    part of a membership's identity), so closing the old one leaves the new one open."""
    facts = facts_of([
        membership("opened", "m", 1, KEY_A, "2020-01-01"),
        membership("opened", "h", 2, KEY_A, "2026-03-01", heads=True, source="change"),
        membership("closed", "m-end", 2, KEY_A, "2020-01-01", "2026-03-01",
                   because="household_changed", source="change"),
    ])
    assert [(h.householder, h.valid_to) for h in facts.households] == [
        (False, d("2026-03-01")), (True, None)]


def test_two_memberships_begun_on_one_day_keep_their_residences_apart() -> None:
    """B filed first; A, filed late for the same day, ends on it (empty). A retracted: B's
    residence stays, though both residences began that day in one municipality."""
    facts = facts_of([
        membership("opened", "b", 1, KEY_B, "2026-03-01"),
        membership("opened", "a", 2, KEY_A, "2026-03-01", "2026-03-01",
                   because="household_changed", source="late"),
        membership("retracted", "a-x", 3, KEY_A, "2026-03-01", source="undo"),
    ])
    assert plain(facts) == PersonFacts(
        relay_id=TARO,
        residences=(Residence(municipality_code=CHIYODA, valid_from=d("2026-03-01")),),
        households=(Household(household_token_key=KEY_B, householder=False,
                              valid_from=d("2026-03-01")),))


# --- persons -----------------------------------------------------------------------------


def test_death_and_its_retraction() -> None:
    """Died 10 March: PersonChanged sets died_on and the link closes the day after (death);
    the death retracted: died_on cleared, the link reopened."""
    opened = link("opened", "o", 2, "2024-04-01")
    facts = facts_of([
        life(1), opened, life(3, died="2026-03-10", source="death"),
        link("closed", "c", 3, "2024-04-01", "2026-03-11", because="death", source="death"),
    ])
    assert plain(facts) == PersonFacts(
        relay_id=TARO, birth_date=d("1980-05-10"), died_on=d("2026-03-10"),
        covers=(employee("2024-04-01", "2026-03-11", "death"),))
    back = facts_of([
        life(1), opened, life(3, died="2026-03-10", source="death"),
        link("closed", "c", 3, "2024-04-01", "2026-03-11", because="death", source="death"),
        link("reopened", "r", 4, "2024-04-01", source="undo"), life(4, source="undo"),
    ])
    assert plain(back) == PersonFacts(relay_id=TARO, birth_date=d("1980-05-10"),
                                      covers=(employee("2024-04-01"),))


def test_a_birth_date_correction_and_a_stale_picture() -> None:
    facts = facts_of([life(1), life(2, born="1980-06-10")])
    assert facts.birth_date == d("1980-06-10")
    assert fold_person(facts, life(1)) == facts  # an older picture changes nothing
    assert fold_person(facts, life(2, born="1999-01-01")) == facts  # same version: stale


def test_a_removal_empties_the_facts_in_either_topic_order() -> None:
    """A retracted registration: the person is gone; the links the linker retracts with it
    (same version) find nothing to do and raise no anomaly, before or after the removal."""
    opened = [life(1), membership("opened", "a", 1, KEY_A, "2020-01-01")]
    retracted = membership("retracted", "a-x", 2, KEY_A, "2020-01-01", source="undo")
    removal = life(2, born=None, removed=True, source="undo")
    for tail in ([removal, retracted], [retracted, removal]):
        facts, anomalies = fold_all(empty(TARO), [*opened, *tail])
        assert plain(facts) == PersonFacts(relay_id=TARO)
        assert anomalies == ()
        assert facts.folded.removed_at == 2


# --- replays and hostile input -----------------------------------------------------------


def test_replaying_every_message_changes_nothing() -> None:
    messages = [
        life(1), link("opened", "o", 1, "2024-04-01"),
        membership("opened", "a", 1, KEY_A, "2020-01-01", heads=True),
        link("closed", "c", 2, "2024-04-01", "2026-04-01", because="loss", source="loss"),
        link("opened", "n", 2, "2026-04-01", insurer="138016", category="nhi", source="loss"),
    ]
    once = facts_of(messages)
    assert facts_of(messages + messages) == once
    for message in messages:  # a single redelivered message, late
        assert fold(once, message) == (once, None)
    assert len(once.covers) == 2


def test_an_opened_link_redelivered_at_its_own_version_is_not_a_second_link() -> None:
    opened = link("opened", "o", 1, "2024-04-01")
    facts = facts_of([opened, link("opened", "o2", 1, "2025-01-01", insurer="06139026")])
    assert fold_link(facts, opened) == facts


def test_a_change_to_a_link_never_opened_is_an_anomaly_and_changes_nothing() -> None:
    facts = facts_of([life(1), link("opened", "o", 1, "2024-04-01")])
    for change in ("closed", "reopened", "retracted"):
        stranger = link(change, f"s-{change}", 2, "2023-01-01",
                        "2023-06-01" if change == "closed" else None)
        after, anomaly = fold(facts, stranger)
        assert anomaly == Anomaly(LINK_UNKNOWN, TARO, f"{change}:medical:{EMPLOYER}")
        assert plain(after) == plain(facts)
        assert fold(after, stranger) == (after, None)  # noted: its replay is quiet
    household = membership("closed", "h", 2, KEY_B, "2020-01-01", "2021-01-01")
    assert fold(facts, household).anomaly == Anomaly(LINK_UNKNOWN, TARO,
                                                     f"closed:resident:{CHIYODA}")


def test_a_message_for_another_person_is_an_anomaly() -> None:
    facts = facts_of([life(1)])
    assert fold(facts, life(2, who=HANA)) == (facts, Anomaly(
        OTHER_PERSON, TARO, "PersonChanged keyed to another relay id"))
    assert fold(facts, link("opened", "o", 2, "2024-04-01", who=HANA)).anomaly.code == (
        OTHER_PERSON)


def test_a_second_live_link_of_one_identity_is_kept_and_reported() -> None:
    """Two numbers at one insurer from one day cannot be told apart by the messages."""
    first = link("opened", "o1", 1, "2024-04-01")
    after, anomaly = fold(facts_of([first]), link("opened", "o2", 2, "2024-04-01"))
    assert len(after.covers) == 2
    assert anomaly == Anomaly(LINK_AMBIGUOUS, TARO, f"opened:medical:{EMPLOYER}")


# --- properties ----------------------------------------------------------------------------

_IDENTITIES = [
    {"insurer": EMPLOYER, "valid_from": "2024-04-01"},
    {"insurer": EMPLOYER, "valid_from": "2025-04-01"},
    {"insurer": "138016", "category": "nhi", "valid_from": "2025-04-01"},
    {"insurer": EMPLOYER, "capacity": "dependant", "insured": HANA, "valid_from": "2024-04-01"},
    {"scheme": "pension", "insurer": "JPS", "category": "national_type3", "pension_type": 3,
     "valid_from": "2024-04-01"},
    {"household": KEY_A, "valid_from": "2020-01-01"},
    {"household": KEY_B, "valid_from": "2026-03-01"},
]


@st.composite
def messages(draw: st.DrawFn) -> LinkChangedV2 | PersonChanged:
    version = draw(st.integers(1, 6))
    tag = f"m{draw(st.integers(0, 12))}"  # few tags: some messages share an outbox id
    if draw(st.integers(0, 4)) == 0:
        if draw(st.integers(0, 3)) == 0:
            return life(version, born=None, removed=True)
        return life(version, died=draw(st.sampled_from([None, "2026-03-10"])))
    identity = dict(draw(st.sampled_from(_IDENTITIES)))
    change = draw(st.sampled_from(["opened", "closed", "reopened", "retracted"]))
    valid_from = identity.pop("valid_from")
    ends = draw(st.sampled_from([None, "2026-04-01", "2026-12-31"]))
    ends = "2026-04-01" if change == "closed" and ends is None else ends
    because = None if ends is None or change == "retracted" else "loss"
    if "household" in identity:
        return membership(change, tag, version, identity["household"], valid_from, ends,
                          because=because, heads=draw(st.booleans()))
    return link(change, tag, version, valid_from, ends, because=because, **identity)


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), max_size=25))
def test_folding_a_sequence_twice_equals_folding_it_once(sequence: list) -> None:
    once, _ = fold_all(empty(TARO), sequence)
    twice, _ = fold_all(once, sequence)
    assert twice == once


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), max_size=25), st.lists(messages(), max_size=25))
def test_folding_never_raises_and_a_replayed_prefix_changes_nothing(
    head: list, tail: list
) -> None:
    """Any valid messages fold without an exception; after a prefix and more, the prefix
    redelivered (a consumer restarting from an older offset) changes nothing."""
    folded, _ = fold_all(empty(TARO), [*head, *tail])
    again, _ = fold_all(folded, head)
    assert again == folded


# --- the linker's own messages -------------------------------------------------------------

EMPLOYER_FILER = Filer("E0001")
TOWN = Filer("131016")
JPS_FILER = Filer("JPS", partition=2)
KEN = person("ken", "40000000011", "1980-05-10", "male")
YUKI = person("yuki", "40000000012", "1983-09-01")


def _linker_messages(
    relay: Relay, relay_id: str, links_first: bool = False
) -> list[LinkChangedV2 | PersonChanged]:
    """What the linker publishes of one person, per topic in decision order, one topic
    entirely before the other: nothing orders the two topics against each other."""
    people = [person_changed(e, WHEN) for e in of_type(relay.log, PersonChangeEmitted)
              if e.relay_id == relay_id]
    links = [link_changed_v2(e, WHEN) for e in of_type(relay.log, LinkChangeEmitted)
             if e.relay_id == relay_id]
    return [*links, *people] if links_first else [*people, *links]


def _live_links(relay: Relay, relay_id: str) -> list[tuple[object, ...]]:
    return sorted((x.scheme, x.insurer_number, x.capacity, x.category, x.valid_from, x.valid_to)
                  for x in relay.state.links.get(relay_id, ()) if not x.retracted)


def _folded_links(facts: PersonFacts) -> list[tuple[object, ...]]:
    return sorted((c.scheme, c.insurer_number, c.capacity, c.category, c.valid_from,
                   c.valid_to) for c in facts.covers)


def test_the_linkers_messages_fold_back_into_its_links() -> None:
    """Acquisitions, a dependant, a loss and its retraction, a death and its retraction,
    through the linker: the fold of its v2 messages holds exactly its live links."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg-ken", register(KEN), when=at(4, 1)),
        TOWN.file("reg-yuki", register(YUKI), when=at(4, 1)),
        EMPLOYER_FILER.file(
            "acq", opening(KEN, employee_insurance(KEN), date(2025, 4, 1)),
            opening(YUKI, employee_insurance(YUKI, "dependant"), date(2025, 4, 1),
                    insured_by=KEN), when=at(4, 2)),
        JPS_FILER.file("t2", opening(KEN, pension(KEN, "employee_pension"), date(2025, 4, 1)),
                       when=at(4, 2)),
        EMPLOYER_FILER.file("loss", closing(KEN, employee_insurance(KEN), date(2026, 2, 1)),
                            when=at(4, 3)),
    )
    checkpoints = []
    for step in (
        EMPLOYER_FILER.file("undo-loss", retraction("loss"), when=at(4, 4)),
        TOWN.file("death", death(KEN, date(2026, 3, 10)), when=at(4, 5)),
        TOWN.file("undo-death", retraction("death"), when=at(4, 6)),
        EMPLOYER_FILER.file("undo-acq", retraction("acq"), when=at(4, 7)),
    ):
        relay.feed(step)
        checkpoints.append(step.filing_reference)
        for who, links_first in product((KEN, YUKI), (False, True)):
            relay_id = relay.relay_id(who)
            sequence = _linker_messages(relay, relay_id, links_first)
            facts, anomalies = fold_all(empty(relay_id), sequence)
            assert anomalies == ()
            assert _folded_links(facts) == _live_links(relay, relay_id), checkpoints
            assert facts.died_on == relay.state.persons[relay_id].died_on
    ken = relay.relay_id(KEN)
    assert [c.category for c in fold_all(empty(ken), _linker_messages(relay, ken))[0].covers] == [
        "employee_pension"]


def _joining(who, household: str, on: date, householder: bool = False) -> JoinHousehold:
    token = blind(f"household:{TOWN.code}", household)
    return JoinHousehold(who.resident, who.identity, TOWN.code, token, householder, on, on,
                         "separation")


def test_the_linkers_household_chain_and_a_removal_fold_back() -> None:
    """Memberships through the linker (a registration's household, 世帯分離, its retraction),
    then a retracted registration: the folded households follow the linker's links, and the
    removal leaves nothing and raises nothing, in either topic order."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(KEN), _joining(KEN, "A", date(2024, 1, 1), True),
                  when=at(4, 1)),
        TOWN.file("split", _joining(KEN, "B", date(2025, 3, 1), True), when=at(4, 2)),
    )
    ken = relay.relay_id(KEN)
    facts, anomalies = fold_all(empty(ken), _linker_messages(relay, ken))
    assert anomalies == ()
    assert [(h.valid_from, h.valid_to) for h in facts.households] == [
        (date(2024, 1, 1), date(2025, 3, 1)), (date(2025, 3, 1), None)]
    assert [(r.municipality_code, r.valid_to) for r in facts.residences] == [
        (TOWN.code, date(2025, 3, 1)), (TOWN.code, None)]
    relay.feed(TOWN.file("undo-split", retraction("split"), when=at(4, 3)))
    facts, anomalies = fold_all(empty(ken), _linker_messages(relay, ken))
    assert anomalies == ()
    assert [(h.valid_from, h.valid_to) for h in facts.households] == [(date(2024, 1, 1), None)]
    relay.feed(TOWN.file("reg-yuki", register(YUKI), _joining(YUKI, "A", date(2024, 1, 1)),
                         when=at(4, 4)))
    yuki = relay.relay_id(YUKI)
    relay.feed(TOWN.file("undo-reg-yuki", retraction("reg-yuki"), when=at(4, 5)))
    assert yuki not in relay.state.persons
    for links_first in (False, True):
        facts, anomalies = fold_all(empty(yuki), _linker_messages(relay, yuki, links_first))
        assert (plain(facts), anomalies) == (PersonFacts(relay_id=yuki), ())
        assert facts.folded.removed_at == 2


# --- the fold feeding the rules ------------------------------------------------------------


def test_a_folded_retiree_gets_the_nhi_reminder_naming_the_householder_and_town() -> None:
    """Taro retires on 1 April 2026 and lives in Hana's household in Chiyoda: the folded facts
    give `losses` the loss and `reminder_due` its recipients; the householder is found by the
    household key (`householder_for`), as a processor would with its index of members."""
    taro = facts_of([
        life(1),
        membership("opened", "t-a", 1, KEY_A, "2020-01-01"),
        link("opened", "t-emp", 2, "2024-04-01"),
        link("closed", "t-loss", 3, "2024-04-01", "2026-04-01", because="loss", source="loss"),
    ])
    hana = facts_of([
        life(1, born="1978-02-02", who=HANA),
        membership("opened", "h-a", 1, KEY_A, "2020-01-01", heads=True, who=HANA),
    ], who=HANA)
    everyone = {TARO: taro, HANA: hana}
    (loss,) = losses(taro)
    assert (loss.loss_date, loss.why) == (d("2026-04-01"), "retirement")
    assert householder_of(everyone, KEY_A, loss.loss_date) == hana
    head = householder_for(taro, everyone, loss.loss_date)
    assert head == hana
    reminder = reminder_due(taro, loss, loss.fires_on, head, twentieth_day)
    assert reminder is not None
    assert reminder.recipients == (
        Recipient("person", relay_id=TARO),
        Recipient("householder", relay_id=HANA),
        Recipient("municipality_nhi", municipality_code=CHIYODA),
    )
    assert reminder.continuation_named  # two years insured before the loss
    # the loss retracted: the fold reopens the cover and the rule has nothing left
    back = fold_link(taro, link("reopened", "t-re", 4, "2024-04-01", source="undo"))
    assert losses(back) == ()
    assert reminder_due(back, loss, loss.fires_on, head, twentieth_day) is None


def test_no_householder_when_nobody_or_several_head_the_household() -> None:
    hana = facts_of([membership("opened", "h", 1, KEY_A, "2020-01-01", heads=True, who=HANA)],
                    who=HANA)
    ken = facts_of([membership("opened", "k", 1, KEY_A, "2020-01-01", heads=True, who="ken")],
                   who="ken")
    assert householder_of({HANA: hana}, KEY_B, d("2026-01-01")) is None
    assert householder_of({HANA: hana, "ken": ken}, KEY_A, d("2026-01-01")) is None
    assert householder_for(empty(TARO), {HANA: hana}, d("2026-01-01")) is None
