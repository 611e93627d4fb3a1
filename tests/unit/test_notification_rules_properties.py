"""Properties of the notification rules over generated facts: the dead are never addressed, ids
do not depend on the order of the covers, deadlines are the 14th day, bad facts never raise."""

from datetime import date, timedelta
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from notification_streams.rules.age_milestones import (
    AGE_75,
    expected_changes_missing,
    notices_on,
)
from notification_streams.rules.double_enrolment import Step, StoredList, listed, step
from notification_streams.rules.facts import Cover, PersonFacts
from notification_streams.rules.nhi_reminder import losses, reminder_due
from notification_streams.rules.pension_switch import switch_due, switch_losses
from notification_streams.rules.reminders import Delivery, Recipient, Reminder, settle
from tests.unit.test_notification_rules_support import lives, member, twentieth_day

CATEGORIES = {"employee_insurance": "medical", "nhi": "medical", "late_stage_elderly": "medical",
              "employee_pension": "pension", "national_type1": "pension",
              "national_type3": "pension"}
BECAUSE = [None, "loss", "death", "insured_person_lost", "insured_person_died",
           "late_stage_transfer", "insured_late_stage_transfer", "insured_elsewhere",
           "request", "age_70", "period_end"]
EARLY, LATE = date(2024, 1, 1), date(2027, 12, 31)


@st.composite
def covers(draw: st.DrawFn, low: date = EARLY, high: date = LATE) -> Cover:
    category = draw(st.sampled_from(sorted(CATEGORIES)))
    start = draw(st.dates(low, high))
    end = draw(st.none() | st.dates(low, high))
    return Cover(
        scheme=CATEGORIES[category], category=category,
        capacity=draw(st.sampled_from(["insured", "dependant", "voluntary_continuation"])),
        insurer_number=draw(st.sampled_from(["01130012", "06130099", "138016"])),
        valid_from=start, valid_to=end,
        closed_because=draw(st.sampled_from(BECAUSE)) if end is not None else None,
        insured_relay_id=draw(st.sampled_from([None, "taro"])),
        spouse_relay_id=draw(st.sampled_from([None, "taro"])),
        pension_type=draw(st.sampled_from([None, 1, 2, 3])),
        source_event_id=draw(st.sampled_from(["e-1", "e-2", "e-3"])))


@st.composite
def persons(draw: st.DrawFn, low: date = EARLY, high: date = LATE,
            died: bool | None = None) -> PersonFacts:
    death = draw(st.dates(low, high)) if died else None
    if died is None:
        death = draw(st.none() | st.dates(low, high))
    return PersonFacts(
        relay_id=draw(st.sampled_from(["hanako", "jiro"])),
        birth_date=draw(st.none() | st.dates(date(1940, 1, 1), date(2010, 12, 31))),
        died_on=death,
        covers=tuple(draw(st.lists(covers(low, high), max_size=5))),
        residences=(lives("131016", "2020-01-01"),),
        households=(member("h-1", "2020-01-01"),))


HEAD = PersonFacts(relay_id="taro", households=(member("h-1", "2020-01-01", heads=True),))
DAYS = st.dates(EARLY, LATE + timedelta(days=60))


def _all_reminders(facts: PersonFacts, today: date) -> list[Reminder]:
    found = [reminder_due(facts, x, today, HEAD, twentieth_day) for x in losses(facts)]
    found += [switch_due(facts, x, today, HEAD) for x in switch_losses(facts)]
    return [r for r in found if r is not None]


@settings(max_examples=300)
@given(persons(died=True), DAYS)
def test_no_notice_is_ever_addressed_to_a_person_whose_death_is_known(
    facts: PersonFacts, today: date
) -> None:
    for reminder in _all_reminders(facts, today):  # the householder and the municipality are
        assert facts.relay_id not in {r.relay_id for r in reminder.recipients}  # still told
        assert reminder.rule == "nhi_enrolment_reminder" and not reminder.continuation_named
    lists = [StoredList(today - timedelta(days=31), listed(facts, today - timedelta(days=31))),
             StoredList(today, listed(facts, today))]
    assert step(lists, (), today, facts).step is Step.WAIT
    assert notices_on(facts, today) == ()


@settings(max_examples=300)
@given(persons(), DAYS)
def test_no_reminder_names_a_dead_recipient(facts: PersonFacts, today: date) -> None:
    dead_head = PersonFacts(relay_id="taro", died_on=date(2025, 1, 1),
                            households=HEAD.households)
    for loss in losses(facts):
        reminder = reminder_due(facts, loss, today, dead_head, twentieth_day)
        assert reminder is None or Recipient("householder", relay_id="taro") not in (
            reminder.recipients)


@settings(max_examples=200)
@given(persons(), st.randoms(use_true_random=False), DAYS)
def test_notice_ids_do_not_depend_on_the_order_of_the_covers(
    facts: PersonFacts, rnd: object, today: date
) -> None:
    shuffled = list(facts.covers)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    other = PersonFacts(relay_id=facts.relay_id, birth_date=facts.birth_date,
                        died_on=facts.died_on, covers=tuple(shuffled),
                        residences=facts.residences, households=facts.households)
    assert losses(other) == losses(facts)
    assert switch_losses(other) == switch_losses(facts)
    assert _all_reminders(other, today) == _all_reminders(facts, today)


@settings(max_examples=300)
@given(persons())
def test_the_deadline_is_always_the_14th_day_and_the_reminder_fires_the_day_after(
    facts: PersonFacts,
) -> None:
    for loss in (*losses(facts), *switch_losses(facts)):
        assert loss.deadline == loss.loss_date + timedelta(days=13)
        assert loss.fires_on == loss.loss_date + timedelta(days=14)


@settings(max_examples=300)
@given(persons(), DAYS)
def test_continuation_is_named_only_for_the_insured_persons_own_cover(
    facts: PersonFacts, today: date
) -> None:
    for loss in losses(facts):
        reminder = reminder_due(facts, loss, today, None, twentieth_day)
        if reminder is not None and reminder.continuation_named:
            assert loss.cover.capacity == "insured"
            assert reminder.continuation_last_day == loss.loss_date + timedelta(days=19)


@settings(max_examples=300)
@given(persons(low=date.min, high=date.max), st.dates())
def test_any_facts_however_wrong_never_raise(facts: PersonFacts, today: date) -> None:
    _all_reminders(facts, today)
    step([StoredList(today, listed(facts, today))] * 2, (), today, facts)
    notices_on(facts, today, (facts,))
    expected_changes_missing(facts, (facts,), AGE_75, today)


@settings(max_examples=200)
@given(persons(), st.dates())
def test_sound_facts_on_any_day_never_raise(facts: PersonFacts, today: date) -> None:
    _all_reminders(facts, today)
    step([StoredList(today, listed(facts, today))] * 2, (), today, facts)
    notices_on(facts, today, (facts,))
    expected_changes_missing(facts, (facts,), AGE_75, today)


def test_a_list_on_the_last_day_there_is_sends_nothing_it_cannot_date() -> None:
    both = PersonFacts(relay_id="x", covers=(
        Cover(scheme="medical", category="nhi", capacity="insured", insurer_number="138016",
              valid_from=date(2025, 1, 1), valid_to=None, source_event_id="e-1"),
        Cover(scheme="medical", category="employee_insurance", capacity="insured",
              insurer_number="01130012", valid_from=date(2025, 2, 1), valid_to=None,
              source_event_id="e-2")))
    last = date.max
    assert step([StoredList(last, listed(both, last))] * 2, (), last, both).step is Step.WAIT


def test_settle_is_total_and_never_follows_up_what_was_not_sent() -> None:
    reminder = Reminder(notice_id=__import__("uuid").uuid4(), rule="r", relay_id="x",
                        loss_date=date(2026, 4, 1), deadline=date(2026, 4, 14),
                        fires_on=date(2026, 4, 15), why="retirement", recipients=())
    for sent, now, exists, died in product((None, reminder), (None, reminder), (True, False),
                                           (True, False)):
        kind = settle(sent, now, exists, person_died=died)
        assert isinstance(kind, Delivery)
        if sent is None:
            assert kind in (Delivery.SEND, Delivery.CANCEL)
        else:
            assert kind in (Delivery.RESOLVED, Delivery.WITHDRAWN, Delivery.NOTHING)
