"""Double enrolment (DOMAIN §6): who is listed, when the first and second notices go, and when
the NHI insurer is handed the case. Every date and deadline written by hand."""

from typing import Any

from notification_streams.rules.double_enrolment import (
    ListEntry,
    SentStep,
    Step,
    StoredList,
    listed,
    step,
)
from notification_streams.rules.facts import Cover, PersonFacts
from notification_streams.rules.reminders import Recipient
from tests.unit.test_notification_rules_support import (
    KYOKAI,
    NHI_TOKYO,
    OTHER_EMPLOYER,
    cover,
    d,
    member,
    person,
)

NHI_OPEN = cover("nhi", "2025-01-01", insurer=NHI_TOKYO)
HIRED = cover("employee_insurance", "2026-04-10")  # D = 4/10


def both(*covers: Cover, **kw: Any) -> PersonFacts:
    kw.setdefault("households", (member("h-1", "2020-01-01"),))
    return person("taro", *(covers or (NHI_OPEN, HIRED)), **kw)


def on(facts: PersonFacts, *days: str) -> list[StoredList]:
    return [StoredList(d(x), listed(facts, d(x))) for x in days]


HEAD = person("father", households=(member("h-1", "2020-01-01", heads=True),))


def test_the_new_hire_is_not_listed_within_the_14_days_to_file_the_nhi_loss() -> None:
    taro = both()
    # DOMAIN §6: D = 4/10 is day 1; the NHI loss is due on day 14, 4/23
    assert listed(taro, d("2026-04-10")) is None
    assert listed(taro, d("2026-04-23")) is None
    assert listed(taro, d("2026-04-24")) == ListEntry(
        relay_id="taro", list_date=d("2026-04-24"), employee_insurer=KYOKAI,
        nhi_insurer=NHI_TOKYO, employee_from=d("2026-04-10"), nhi_from=d("2025-01-01"))


def test_the_legal_one_day_overlap_is_not_double_enrolment() -> None:
    # joining on D = 4/10 ends NHI on D + 1 = 4/11: the overlap is 4/10 alone
    taro = both(cover("nhi", "2025-01-01", "2026-04-11", insurer=NHI_TOKYO), HIRED)
    assert all(listed(taro, d(x)) is None
               for x in ("2026-04-10", "2026-04-11", "2026-04-24", "2026-06-01"))


def test_an_employee_start_before_the_nhi_start_is_not_listed() -> None:
    taro = both(cover("employee_insurance", "2024-04-01"), NHI_OPEN)
    assert listed(taro, d("2026-05-01")) is None


def test_a_dependant_in_employee_insurance_and_in_nhi_is_listed() -> None:
    taro = both(NHI_OPEN, cover("employee_insurance", "2026-01-05", capacity="dependant",
                                insured="father"))
    assert listed(taro, d("2026-02-01")) is not None


def test_the_first_notice_after_two_consecutive_lists_with_the_same_employee_insurer() -> None:
    taro = both()
    lists = on(taro, "2026-05-01", "2026-06-01")
    action = step(lists, (), d("2026-06-02"), taro, householder=HEAD)
    assert action.step is Step.FIRST_NOTICE
    # DOMAIN §6: at least 31 days counted from the day after the notice: 6/2 → 7/3
    assert action.deadline == d("2026-07-03")
    assert action.recipients == (
        Recipient("person", relay_id="taro"),
        Recipient("householder", relay_id="father"),
        Recipient("employee_insurer", insurer_number=KYOKAI),
        Recipient("nhi_insurer", insurer_number=NHI_TOKYO),
    )
    again = step(lists, (), d("2026-06-03"), taro, householder=HEAD)
    assert again.notice_id == action.notice_id  # keyed by the list, not the day it is sent


def test_one_list_or_a_broken_run_is_not_enough() -> None:
    taro = both()
    assert step(on(taro, "2026-06-01"), (), d("2026-06-02"), taro).step is Step.WAIT
    gap = [*on(taro, "2026-04-01"), StoredList(d("2026-05-01"), None),
           *on(taro, "2026-06-01")]
    assert step(gap, (), d("2026-06-02"), taro).step is Step.WAIT
    assert step([*on(taro, "2026-05-01"), StoredList(d("2026-06-01"), None)], (),
                d("2026-06-02"), taro).step is Step.WAIT


def test_a_changed_employee_insurer_between_the_lists_waits() -> None:
    earlier = both(NHI_OPEN, cover("employee_insurance", "2026-03-02", "2026-05-15",
                                   insurer=OTHER_EMPLOYER))
    later = both(NHI_OPEN, cover("employee_insurance", "2026-05-15"))
    lists = [*on(earlier, "2026-05-01"), *on(later, "2026-06-01")]
    assert step(lists, (), d("2026-06-02"), later).step is Step.WAIT


def test_the_overlap_ended_before_the_first_notice_sends_nothing() -> None:
    taro = both()
    lists = on(taro, "2026-05-01", "2026-06-01")
    ended = both(cover("nhi", "2025-01-01", "2026-04-11", insurer=NHI_TOKYO), HIRED)
    assert step(lists, (), d("2026-06-02"), ended).step is Step.WAIT


FIRST = SentStep(Step.FIRST_NOTICE, d("2026-06-02"), d("2026-07-03"))
SECOND = SentStep(Step.SECOND_NOTICE, d("2026-07-04"), d("2026-07-18"))
ESCALATED = SentStep(Step.ESCALATION, d("2026-07-19"), None)


def test_the_second_notice_after_the_first_deadline_gives_14_more_days() -> None:
    taro = both()
    lists = on(taro, "2026-05-01", "2026-06-01")
    assert step(lists, (FIRST,), d("2026-07-03"), taro).step is Step.WAIT  # deadline day
    action = step(lists, (FIRST,), d("2026-07-04"), taro, householder=HEAD)
    assert action.step is Step.SECOND_NOTICE
    # DOMAIN §6: at least 14 more days from the day after the second notice: 7/4 → 7/18
    assert action.deadline == d("2026-07-18")
    assert Recipient("householder", relay_id="father") in action.recipients


def test_after_the_second_deadline_the_nhi_insurer_decides() -> None:
    taro = both()
    lists = on(taro, "2026-05-01", "2026-06-01")
    assert step(lists, (FIRST, SECOND), d("2026-07-18"), taro).step is Step.WAIT
    action = step(lists, (FIRST, SECOND), d("2026-07-19"), taro)
    assert action.step is Step.ESCALATION
    assert action.deadline is None
    assert action.recipients == (Recipient("nhi_insurer", insurer_number=NHI_TOKYO),)
    assert step(lists, (FIRST, SECOND, ESCALATED), d("2026-09-01"), taro).step is Step.WAIT


def test_the_overlap_ending_at_any_step_closes_the_case() -> None:
    ended = both(cover("nhi", "2025-01-01", "2026-06-20", insurer=NHI_TOKYO), HIRED)
    lists = on(both(), "2026-05-01", "2026-06-01")
    for sent in ((FIRST,), (FIRST, SECOND), (FIRST, SECOND, ESCALATED)):
        assert step(lists, sent, d("2026-07-30"), ended).step is Step.CLOSED


def test_the_ids_of_the_steps_differ_and_repeat() -> None:
    taro = both()
    lists = on(taro, "2026-05-01", "2026-06-01")
    first = step(lists, (), d("2026-06-02"), taro).notice_id
    second = step(lists, (FIRST,), d("2026-07-04"), taro).notice_id
    assert second == step(lists, (FIRST,), d("2026-07-05"), taro).notice_id
    escalation = step(lists, (FIRST, SECOND), d("2026-07-19"), taro).notice_id
    assert len({first, second, escalation}) == 3


def test_never_to_a_dead_person() -> None:
    dead = both(died="2026-06-20")
    lists = on(both(), "2026-05-01", "2026-06-01")
    assert step(lists, (), d("2026-06-02"), dead).step is Step.WAIT
    assert step(lists, (FIRST,), d("2026-07-04"), dead).step is Step.CLOSED


def test_a_dead_householder_is_not_addressed() -> None:
    taro = both()
    head = person("father", died="2026-05-20",
                  households=(member("h-1", "2020-01-01", heads=True),))
    action = step(on(taro, "2026-05-01", "2026-06-01"), (), d("2026-06-02"), taro, head)
    assert [r.role for r in action.recipients] == ["person", "employee_insurer", "nhi_insurer"]


def test_notices_at_month_and_year_ends() -> None:
    taro = both()
    lists = on(taro, "2026-11-01", "2026-12-01")
    assert step(lists, (), d("2026-12-31"), taro).deadline == d("2027-01-31")
    first = SentStep(Step.FIRST_NOTICE, d("2027-01-31"), d("2027-03-03"))
    assert step(lists, (first,), d("2027-03-04"), taro).deadline == d("2027-03-18")
    leap = SentStep(Step.FIRST_NOTICE, d("2028-01-19"), d("2028-02-19"))
    assert step(lists, (leap,), d("2028-02-20"), taro).deadline == d("2028-03-05")


def test_contradicting_facts_invent_no_notice() -> None:
    overlapping = both(NHI_OPEN, HIRED, cover("employee_insurance", "2026-05-01"))
    assert listed(overlapping, d("2026-06-01")) is None
    lists = on(both(), "2026-05-01", "2026-06-01")
    assert step(lists, (), d("2026-06-02"), overlapping).step is Step.WAIT


def test_one_list_stored_twice_is_still_one_list() -> None:
    """DOMAIN §6: two consecutive lists. The same monthly list stored twice (a replay, a
    re-import) is one list: no first notice from it, whichever copy names the person."""
    taro = both()
    (june,) = on(taro, "2026-06-01")
    assert step([june, june], (), d("2026-06-02"), taro).step is Step.WAIT
    assert step([StoredList(d("2026-06-01"), None), june], (), d("2026-06-02"),
                taro).step is Step.WAIT
    # a real earlier list still makes the pair
    assert step([*on(taro, "2026-05-01"), june, june], (), d("2026-06-02"),
                taro).step is Step.FIRST_NOTICE


def test_steps_of_an_earlier_overlap_do_not_carry_over_to_a_new_one() -> None:
    """A first notice sent in 2025 for an overlap that ended; a new job from 4/10/2026 makes a
    new overlap. It starts again with two lists and a first notice (31 days), never with a
    second notice from the old case's deadline."""
    taro = both()
    old = (SentStep(Step.FIRST_NOTICE, d("2025-06-02"), d("2025-07-03")),)
    assert step(on(taro, "2026-05-01"), old, d("2026-05-02"), taro).step is Step.WAIT
    action = step(on(taro, "2026-05-01", "2026-06-01"), old, d("2026-06-02"), taro)
    assert (action.step, action.deadline) == (Step.FIRST_NOTICE, d("2026-07-03"))
