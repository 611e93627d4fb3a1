"""What the notifications processor does for one person at one clock step: the rules applied to
the facts it holds, as plain values: the deadlines to keep, the notices to send, what to record.

No I/O: the processor (`notification_streams.processor`) loads the facts these functions ask
for, calls them, and stores and delivers what they return."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid5

from notification_streams.rules import age_milestones, double_enrolment, nhi_reminder
from notification_streams.rules import pension_switch as pension
from notification_streams.rules.facts import (
    MEDICAL,
    NHI,
    Anomaly,
    Cover,
    PersonFacts,
    dead,
)
from notification_streams.rules.reminders import (
    PERSON,
    Delivery,
    Recipient,
    Reminder,
    living_recipients,
    settle,
)
from relay_linker.domain.continuation import EMPLOYEE

REMINDER_RULES = (nhi_reminder.RULE, pension.RULE)
DOUBLE = double_enrolment.RULE
MILESTONE_RULES = (age_milestones.AGE_65, age_milestones.AGE_75)
AGE_75_CHECK = "age_75_check"
"""The deadline on which the 75th birthday's expected link changes must have arrived."""

REMINDER, RESOLVED, WITHDRAWN, CORRECTED = "reminder", "resolved", "withdrawn", "corrected"
MILESTONE = "milestone"


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """A notice to send: `notice_id` is the relay's own id (it never leaves the relay; each
    recipient gets an id derived for it alone); `refers_to` the notice it follows up."""

    notice_id: UUID
    rule: str
    step: str
    relay_id: str
    key_date: date
    deadline: date | None
    recipients: tuple[Recipient, ...]
    refers_to: UUID | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deadline:
    """A pending deadline: judge `rule` for `relay_id` about `key_date` on `due_on`."""

    relay_id: str
    rule: str
    key_date: date
    due_on: date


@dataclass(frozen=True)
class SentReminder:
    """A reminder sent (`round` 0 first, one more for each correction), with the cover whose
    end it is about (NHI) or None (pension); `closed` once resolved or withdrawn."""

    reminder: Reminder
    cover: Cover | None
    round: int = 0
    closed: bool = False


@dataclass
class Outcome:
    """What judging one person gave: notices, the reminder's new record, deadlines, anomalies."""

    notices: list[Outgoing] = field(default_factory=list)
    sent: SentReminder | None = None
    deadlines: list[Deadline] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    steps: list[double_enrolment.SentStep] = field(default_factory=list)
    step_ids: list[UUID] = field(default_factory=list)


@dataclass(frozen=True)
class Others:
    """What a judgement may read of other persons: anyone's facts by relay id (None for an
    unknown one), and a person's householder on a day (`folding.householder_for`)."""

    facts: Callable[[str | None], PersonFacts | None]
    householder: Callable[[PersonFacts, date], PersonFacts | None]


# -- filing reminders ----------------------------------------------------------------------------

def reminder_deadlines(person: PersonFacts) -> list[Deadline]:
    """One deadline per triggering loss of either reminder rule, due on its `fires_on`."""
    found = [Deadline(person.relay_id, nhi_reminder.RULE, x.loss_date, x.fires_on)
             for x in nhi_reminder.losses(person)]
    found += [Deadline(person.relay_id, pension.RULE, x.loss_date, x.fires_on)
              for x in pension.switch_losses(person)]
    return found


def round_id(base: UUID, round_: int) -> UUID:
    """The notice id of the `round_`-th reminder for one loss: the rule's id first, then one
    of its own for each reminder sent again after a correction."""
    return base if round_ == 0 else uuid5(base, f"round:{round_}")


def follow_up_id(sent: UUID, step: str) -> UUID:
    return uuid5(sent, f"follow-up:{step}")


def _current(rule: str, person: PersonFacts, key_date: date, today: date, others: Others,
             election_last_day: Callable[[date], date]) -> tuple[Reminder | None, Cover | None]:
    """The reminder the facts call for on `today` about the loss on `key_date`, and its cover."""
    if rule == nhi_reminder.RULE:
        loss = nhi_reminder.loss_on(person, key_date)
        if loss is None:
            return None, None
        head = _householder(person, key_date, others)
        return (nhi_reminder.reminder_due(person, loss, today, head, election_last_day),
                loss.cover)
    found = next((x for x in pension.switch_losses(person) if x.loss_date == key_date), None)
    if found is None:
        return None, None
    retiree = others.facts(found.retiree_relay_id)
    return pension.switch_due(person, found, today, retiree), found.cover


def _householder(person: PersonFacts, day: date, others: Others) -> PersonFacts | None:
    return others.householder(person, day)


def _stands(rule: str, person: PersonFacts, sent: SentReminder, others: Others) -> bool:
    if rule == nhi_reminder.RULE:
        cover = sent.cover
        if cover is None:
            return nhi_reminder.loss_on(person, sent.reminder.loss_date) is not None
        r = sent.reminder
        loss = nhi_reminder.Loss(loss_date=r.loss_date, cover=cover, deadline=r.deadline,
                                 fires_on=r.fires_on, why=r.why)
        return nhi_reminder.loss_stands(person, loss, others.facts(cover.insured_relay_id))
    return any(x.loss_date == sent.reminder.loss_date for x in pension.switch_losses(person))


def judge_reminder(rule: str, person: PersonFacts, key_date: date, today: date,
                   sent: SentReminder | None, others: Others,
                   election_last_day: Callable[[date], date]) -> Outcome:
    """A reminder's one step (`reminders.settle`): at its deadline when none was sent (send or
    cancel), and whenever the person's facts changed after one was sent (resolve, withdraw,
    correct: the void copies named, and the reminder due now sent as the next round). A case
    closed by its follow-up stays closed unless the facts call for the reminder again (the
    cover that resolved it, or the retraction that withdrew it, was itself retracted): then
    the reminder goes out as the next round, under an id of its own."""
    out = Outcome(sent=sent)
    due_now, cover = _current(rule, person, key_date, today, others, election_last_day)
    if sent is None or sent.closed:  # a closed case due again (what closed it was retracted)
        again = 0 if sent is None else sent.round + 1
        if settle(None, due_now, due_now is not None) is Delivery.SEND and due_now is not None:
            out.notices.append(_reminder_notice(due_now, again))
            out.sent = SentReminder(due_now, cover, again)
        return out
    stands = _stands(rule, person, sent, others)
    kind = settle(sent.reminder, due_now, stands, person_died=dead(person))
    if kind in (Delivery.NOTHING, Delivery.SEND, Delivery.CANCEL):
        return out
    sent_id = round_id(sent.reminder.notice_id, sent.round)
    deceased = {r.relay_id for r in sent.reminder.recipients
                if r.relay_id is not None and _dead(others, person, r.relay_id)}
    step = {Delivery.RESOLVED: RESOLVED, Delivery.WITHDRAWN: WITHDRAWN,
            Delivery.CORRECTED: CORRECTED}[kind]
    out.notices.append(Outgoing(
        notice_id=follow_up_id(sent_id, step), rule=rule, step=step, relay_id=person.relay_id,
        key_date=sent.reminder.loss_date, deadline=sent.reminder.deadline,
        recipients=living_recipients(sent.reminder, deceased), refers_to=sent_id,
        details=_reminder_details(sent.reminder)))
    if kind is Delivery.CORRECTED and due_now is not None:
        again = sent.round + 1
        out.notices.append(_reminder_notice(due_now, again))
        out.sent = SentReminder(due_now, cover, again)
    else:
        out.sent = SentReminder(sent.reminder, sent.cover, sent.round, closed=True)
    return out


def _dead(others: Others, person: PersonFacts, relay_id: str) -> bool:
    facts = person if relay_id == person.relay_id else others.facts(relay_id)
    return facts is not None and dead(facts)


def _reminder_notice(reminder: Reminder, round_: int) -> Outgoing:
    return Outgoing(notice_id=round_id(reminder.notice_id, round_), rule=reminder.rule,
                    step=REMINDER, relay_id=reminder.relay_id, key_date=reminder.loss_date,
                    deadline=reminder.deadline, recipients=reminder.recipients,
                    details=_reminder_details(reminder))


def _reminder_details(reminder: Reminder) -> dict[str, Any]:
    details: dict[str, Any] = {"why": reminder.why}
    if reminder.municipality is not None:
        details["municipality"] = reminder.municipality
    if reminder.continuation_named and reminder.continuation_last_day is not None:
        details["continuation_last_day"] = reminder.continuation_last_day.isoformat()
    return details


# -- double enrolment ----------------------------------------------------------------------------

def overlap_candidate(person: PersonFacts) -> bool:
    """Whether an NHI cover and an employee-insurance cover of the person share a day: only
    such persons can be on a monthly list (`double_enrolment.listed` decides)."""
    nhi = [c for c in person.covers if c.scheme == MEDICAL and c.category == NHI and not c.empty]
    emp = [c for c in person.covers
           if c.scheme == MEDICAL and c.category == EMPLOYEE and not c.empty]
    return any(a.valid_from < (b.valid_to or date.max) and b.valid_from < (a.valid_to or date.max)
               for a in nhi for b in emp)


def judge_double_enrolment(person: PersonFacts, lists: Sequence[double_enrolment.StoredList],
                           taken: Sequence[double_enrolment.SentStep], today: date,
                           others: Others) -> Outcome:
    """The case's next step on `today` (`double_enrolment.step`): a notice and the deadline
    on which to judge again, an escalation, or nothing. A notice's key date is the date of the
    last list it was judged on (RelayNotice.key_date: the list date)."""
    out = Outcome()
    head = _householder(person, today, others)
    action = double_enrolment.step(lists, taken, today, person, head)
    if action.step in (double_enrolment.Step.WAIT, double_enrolment.Step.CLOSED):
        return out
    assert action.notice_id is not None
    listed_on = max((x.list_date for x in lists if x.list_date <= today), default=today)
    out.notices.append(Outgoing(
        notice_id=action.notice_id, rule=DOUBLE, step=action.step.value,
        relay_id=person.relay_id, key_date=listed_on, deadline=action.deadline,
        recipients=action.recipients))
    out.steps.append(double_enrolment.SentStep(action.step, today, action.deadline))
    out.step_ids.append(action.notice_id)
    if action.deadline is not None:
        out.deadlines.append(Deadline(person.relay_id, DOUBLE, action.deadline + timedelta(1),
                                      action.deadline + timedelta(1)))
    return out


# -- age milestones ------------------------------------------------------------------------------

def judge_milestone(rule: str, person: PersonFacts, day: date,
                    dependants: Sequence[PersonFacts]) -> Outcome:
    """The 65th or 75th milestone's notices on its day, each to the person concerned (their
    inbox); on the 75th, the check of its expected link changes after the grace days."""
    out = Outcome()
    for n in age_milestones.notices_on(person, day, dependants):
        if n.milestone != rule:
            continue
        out.notices.append(Outgoing(
            notice_id=n.notice_id, rule=n.rule, step=MILESTONE, relay_id=n.relay_id,
            key_date=n.effective_on, deadline=None,
            recipients=(Recipient(PERSON, relay_id=n.relay_id),),
            details={"ending": list(n.ending), "milestone": n.milestone}))
    if rule == age_milestones.AGE_75:
        check = day + timedelta(days=age_milestones.GRACE_DAYS + 1)
        out.deadlines.append(Deadline(person.relay_id, AGE_75_CHECK, day, check))
    return out


def judge_milestone_check(person: PersonFacts, dependants: Sequence[PersonFacts],
                          today: date) -> Outcome:
    out = Outcome()
    out.anomalies += age_milestones.expected_changes_missing(
        person, dependants, age_milestones.AGE_75, today)
    return out
