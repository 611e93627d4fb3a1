"""The notifications processor's pure core: what it stores round-trips exactly, the monthly list
days, and a reminder's life from its deadline through its follow-ups (DOMAIN §6)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from notification_streams.casework import (
    CORRECTED,
    REMINDER,
    RESOLVED,
    WITHDRAWN,
    Others,
    SentReminder,
    follow_up_id,
    judge_reminder,
    overlap_candidate,
    reminder_deadlines,
    round_id,
)
from notification_streams.processor import firsts_between
from notification_streams.rules.double_enrolment import ListEntry
from notification_streams.rules.facts import Cover, Folded, Household, PersonFacts, Residence
from notification_streams.rules.nhi_reminder import RULE as NHI
from notification_streams.rules.pension_switch import RULE as PENSION
from notification_streams.stored import (
    entry_from,
    entry_json,
    facts_from,
    facts_json,
    reminder_from,
    reminder_json,
)
from tests.unit.test_notification_rules_support import (
    KYOKAI,
    NHI_TOKYO,
    cover,
    d,
    lives,
    member,
    person,
    twentieth_day,
)

CHIYODA, SETAGAYA = "131016", "131121"
LOSS = d("2026-04-01")


def alone(facts: dict[str, PersonFacts] | None = None) -> Others:
    known = facts or {}
    return Others(facts=lambda rid: known.get(rid) if rid else None,
                  householder=lambda p, day: None)


def retiree(*more: Cover, residences: tuple[Residence, ...] = (lives(CHIYODA, "2020-01-01"),),
            died: str | None = None) -> PersonFacts:
    return person("R1", cover("employee_insurance", "2025-04-01", "2026-04-01"), *more,
                  residences=residences, died=died)


# -- stored values ---------------------------------------------------------------------------

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
text = st.text(min_size=1, max_size=12)
covers = st.builds(Cover, scheme=st.sampled_from(["medical", "pension", "care"]),
                   category=st.none() | text, capacity=text, insurer_number=text,
                   valid_from=days, valid_to=st.none() | days,
                   closed_because=st.none() | text, insured_relay_id=st.none() | text,
                   spouse_relay_id=st.none() | text, pension_type=st.none() | st.integers(1, 3),
                   source_event_id=text)
facts = st.builds(
    PersonFacts, relay_id=text, birth_date=st.none() | days, died_on=st.none() | days,
    covers=st.lists(covers, max_size=4).map(tuple),
    residences=st.lists(st.builds(Residence, municipality_code=text, valid_from=days,
                                  valid_to=st.none() | days), max_size=3).map(tuple),
    households=st.lists(st.builds(Household, household_token_key=text,
                                  householder=st.booleans(), valid_from=days,
                                  valid_to=st.none() | days), max_size=3).map(tuple),
    folded=st.builds(Folded, person_version=st.integers(0, 10**6),
                     link_version=st.integers(0, 10**6),
                     link_ids=st.frozensets(st.uuids(), max_size=3),
                     removed_at=st.integers(0, 10**6)))


@settings(deadline=None)
@given(facts)
def test_facts_are_stored_and_read_back_exactly(person_facts: PersonFacts) -> None:
    assert facts_from(facts_json(person_facts)) == person_facts


@settings(deadline=None)
@given(covers, st.booleans())
def test_a_sent_reminder_is_stored_and_read_back_exactly(kept: Cover, named: bool) -> None:
    due = judge_reminder(NHI, retiree(), LOSS, d("2026-04-15"), None, alone(), twentieth_day)
    assert due.sent is not None
    reminder = due.sent.reminder
    assert reminder_from(reminder_json(reminder, kept)) == (reminder, kept)
    assert reminder_from(reminder_json(reminder, None)) == (reminder, None)


def test_a_list_entry_is_stored_and_read_back_exactly() -> None:
    entry = ListEntry(relay_id="R1", list_date=d("2026-05-01"), employee_insurer=KYOKAI,
                      nhi_insurer=NHI_TOKYO, employee_from=d("2026-03-01"),
                      nhi_from=d("2025-01-01"))
    assert entry_from(entry_json(entry)) == entry


# -- monthly lists ----------------------------------------------------------------------------

def test_a_list_is_taken_on_each_first_passed_and_on_none_else() -> None:
    assert firsts_between(d("2026-04-30"), d("2026-05-01")) == [d("2026-05-01")]
    assert firsts_between(d("2026-05-01"), d("2026-05-31")) == []
    assert firsts_between(d("2026-11-15"), d("2027-02-01")) == [
        d("2026-12-01"), d("2027-01-01"), d("2027-02-01")]


@given(days, st.integers(0, 800))
def test_the_firsts_between_two_days_are_exactly_the_firsts_of_months_in_between(
        start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = [start + timedelta(days=i) for i in range(1, span + 1)
                if (start + timedelta(days=i)).day == 1]
    assert firsts_between(start, end) == expected


def test_only_nhi_and_employee_cover_sharing_a_day_make_a_list_candidate() -> None:
    both = person("R1", cover("nhi", "2025-01-01", insurer=NHI_TOKYO),
                  cover("employee_insurance", "2026-03-01"))
    one_day = person("R2", cover("nhi", "2025-01-01", "2026-03-01", insurer=NHI_TOKYO),
                     cover("employee_insurance", "2026-03-01"))
    assert overlap_candidate(both) and not overlap_candidate(one_day)


# -- a reminder's life ---------------------------------------------------------------------------

def test_each_loss_of_either_rule_has_its_deadline_on_the_fifteenth_day() -> None:
    facts_ = person("R1", cover("employee_insurance", "2025-04-01", "2026-04-01"),
                    cover("employee_pension", "2025-04-01", "2026-04-01"))
    found = {(x.rule, x.key_date, x.due_on) for x in reminder_deadlines(facts_)}
    assert found == {(NHI, LOSS, d("2026-04-15")), (PENSION, LOSS, d("2026-04-15"))}


def test_a_reminder_is_sent_once_then_left_alone_while_nothing_changes() -> None:
    first = judge_reminder(NHI, retiree(), LOSS, d("2026-04-15"), None, alone(), twentieth_day)
    assert [(n.step, n.key_date, n.deadline) for n in first.notices] == [
        (REMINDER, LOSS, d("2026-04-14"))]
    assert first.sent is not None and first.sent.round == 0
    assert first.notices[0].notice_id == first.sent.reminder.notice_id
    again = judge_reminder(NHI, retiree(), LOSS, d("2026-04-20"), first.sent, alone(),
                           twentieth_day)
    assert again.notices == [] and again.sent == first.sent


def test_cover_filed_in_time_sends_nothing() -> None:
    covered = retiree(cover("nhi", "2026-04-01", insurer=NHI_TOKYO))
    out = judge_reminder(NHI, covered, LOSS, d("2026-04-15"), None, alone(), twentieth_day)
    assert out.notices == [] and out.sent is None


def test_late_cover_resolves_it_and_closes_the_case_to_the_same_recipients() -> None:
    sent = judge_reminder(NHI, retiree(), LOSS, d("2026-04-15"), None, alone(),
                          twentieth_day).sent
    assert sent is not None
    late = retiree(cover("nhi", "2026-04-01", insurer=NHI_TOKYO))
    out = judge_reminder(NHI, late, LOSS, d("2026-05-02"), sent, alone(), twentieth_day)
    [follow] = out.notices
    assert (follow.step, follow.refers_to) == (RESOLVED, sent.reminder.notice_id)
    assert follow.notice_id == follow_up_id(sent.reminder.notice_id, RESOLVED)
    assert follow.recipients == sent.reminder.recipients
    assert out.sent == SentReminder(sent.reminder, sent.cover, 0, closed=True)
    closed = judge_reminder(NHI, late, LOSS, d("2026-05-03"), out.sent, alone(),
                            twentieth_day)
    assert closed.notices == [] and closed.sent == out.sent, "a closed case says nothing more"
    # the late NHI filing is itself retracted: the gap is back, and so is the reminder, as
    # round 1 under an id of its own
    again = judge_reminder(NHI, retiree(), LOSS, d("2026-05-10"), out.sent, alone(),
                           twentieth_day)
    [reminder] = again.notices
    assert reminder.step == REMINDER
    assert reminder.notice_id == round_id(sent.reminder.notice_id, 1) != sent.reminder.notice_id
    assert again.sent is not None and (again.sent.round, again.sent.closed) == (1, False)


def test_a_retracted_loss_withdraws_it() -> None:
    sent = judge_reminder(NHI, retiree(), LOSS, d("2026-04-15"), None, alone(),
                          twentieth_day).sent
    assert sent is not None
    gone = person("R1", cover("employee_insurance", "2025-04-01"),
                  residences=(lives(CHIYODA, "2020-01-01"),))
    out = judge_reminder(NHI, gone, LOSS, d("2026-04-20"), sent, alone(), twentieth_day)
    assert [n.step for n in out.notices] == [WITHDRAWN] and out.sent is not None
    assert out.sent.closed


def test_a_late_move_corrects_it_and_sends_the_next_round_to_the_new_municipality() -> None:
    """Sent to Chiyoda; a late 転入 shows Setagaya on the loss date: Chiyoda's copy is void
    (corrected), and the reminder goes again, as round 1 with an id of its own, to Setagaya."""
    sent = judge_reminder(NHI, retiree(), LOSS, d("2026-04-15"), None, alone(),
                          twentieth_day).sent
    assert sent is not None
    moved = retiree(residences=(lives(CHIYODA, "2020-01-01", "2026-03-20"),
                                lives(SETAGAYA, "2026-03-20")))
    out = judge_reminder(NHI, moved, LOSS, d("2026-04-20"), sent, alone(), twentieth_day)
    void, again = out.notices
    assert (void.step, void.refers_to) == (CORRECTED, sent.reminder.notice_id)
    assert {r.municipality_code for r in void.recipients} == {None, CHIYODA}
    assert again.step == REMINDER and again.notice_id == round_id(sent.reminder.notice_id, 1)
    assert {r.municipality_code for r in again.recipients} == {None, SETAGAYA}
    assert out.sent is not None and out.sent.round == 1 and not out.sent.closed


def test_a_follow_up_is_not_addressed_to_a_householder_whose_death_is_known() -> None:
    head = person("H1", households=(member("k", "2020-01-01", heads=True),))
    me = retiree()
    me = PersonFacts(**{**me.__dict__, "households": (member("k", "2020-01-01"),)})
    others = Others(facts=lambda rid: {"H1": head}.get(rid or ""),
                    householder=lambda p, day: head)
    sent = judge_reminder(NHI, me, LOSS, d("2026-04-15"), None, others, twentieth_day).sent
    assert sent is not None and {r.role for r in sent.reminder.recipients} == {
        "person", "householder", "municipality_nhi"}
    dead_head = PersonFacts(**{**head.__dict__, "died_on": d("2026-04-18")})
    later = Others(facts=lambda rid: {"H1": dead_head}.get(rid or ""),
                   householder=lambda p, day: dead_head)
    late = PersonFacts(**{**me.__dict__, "covers": (
        *me.covers, cover("nhi", "2026-04-01", insurer=NHI_TOKYO))})
    out = judge_reminder(NHI, late, LOSS, d("2026-04-20"), sent, later, twentieth_day)
    [follow] = out.notices
    assert follow.step == RESOLVED
    assert {r.role for r in follow.recipients} == {"person", "municipality_nhi"}
