"""Double enrolment (DOMAIN §6): who the monthly lists name as in NHI and employee insurance at
once, and the steps that follow: a first notice, a second, then the NHI insurer's decision.

Pure: the lists stored so far and the steps already taken go in, the next step comes out."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from notification_streams.rules.calendar import (
    FILING_DAYS,
    day_n,
    first_notice_deadline,
    second_notice_deadline,
)
from notification_streams.rules.facts import (
    MEDICAL,
    NHI,
    Cover,
    PersonFacts,
    dead,
    in_range,
    other_householder,
    sane,
)
from notification_streams.rules.ids import notice_id
from notification_streams.rules.reminders import (
    EMPLOYEE_INSURER,
    HOUSEHOLDER,
    NHI_INSURER,
    PERSON,
    Recipient,
)
from relay_linker.domain.continuation import EMPLOYEE

RULE = "double_enrolment"


@dataclass(frozen=True, kw_only=True)
class ListEntry:
    """The person on a monthly list: NHI at `nhi_insurer` and employee insurance at
    `employee_insurer` both hold `list_date`."""

    relay_id: str
    list_date: date
    employee_insurer: str
    nhi_insurer: str
    employee_from: date
    nhi_from: date


@dataclass(frozen=True)
class StoredList:
    """One monthly list as stored: the person's entry on it, or None when not on it."""

    list_date: date
    entry: ListEntry | None


class Step(StrEnum):
    FIRST_NOTICE = "first_notice"
    SECOND_NOTICE = "second_notice"
    ESCALATION = "escalation"  # a record for the NHI insurer: removal is its decision
    CLOSED = "closed"  # the overlap ended (or the person died): the case is over
    WAIT = "wait"  # nothing to do today


@dataclass(frozen=True)
class SentStep:
    """A step already taken: its kind, the day it was sent, its deadline (None: escalation)."""

    step: Step
    sent_on: date
    deadline: date | None


@dataclass(frozen=True, kw_only=True)
class Action:
    step: Step
    notice_id: UUID | None = None
    deadline: date | None = None
    recipients: tuple[Recipient, ...] = ()


def listed(person: PersonFacts, list_date: date) -> ListEntry | None:
    """The person's entry on the list of `list_date`, or None. Listed when an NHI cover and an
    employee-insurance cover (any capacity) both hold the day, beyond the legal one day
    (joining on D ends NHI on D + 1: day D is not double enrolment), the employee start is on or
    after the NHI start, and the new hire is past the 14 days (D as day 1) to file the NHI loss."""
    if not sane(person):
        return None
    pairs = [
        (e, n)
        for e in _holding(person, EMPLOYEE, list_date)
        for n in _holding(person, NHI, list_date)
        if e.valid_from >= n.valid_from and list_date > day_n(e.valid_from, FILING_DAYS)
    ]
    if not pairs:
        return None
    e, n = min(pairs, key=lambda p: (p[0].valid_from, p[0].insurer_number, p[1].insurer_number))
    return ListEntry(relay_id=person.relay_id, list_date=list_date,
                     employee_insurer=e.insurer_number, nhi_insurer=n.insurer_number,
                     employee_from=e.valid_from, nhi_from=n.valid_from)


def step(
    lists: Sequence[StoredList],
    sent_steps: Sequence[SentStep],
    today: date,
    person: PersonFacts,
    householder: PersonFacts | None = None,
) -> Action:
    """The next step for the person on `today`.

    First notice: on the last two stored lists with the same employee insurer and still
    overlapping today, to the person, the householder and both insurers, deadline notice day
    + 31. After that deadline, still overlapping: the second notice, + 14 from the day after it.
    After that one's deadline, still overlapping: an escalation record for the NHI insurer.
    The overlap ended, or the person died, once a step was taken: closed. Otherwise wait.
    Steps sent before the current overlap's employee start belong to an earlier case."""
    if not sane(person) or not in_range(today):
        return Action(step=Step.WAIT)
    if dead(person):
        return Action(step=Step.CLOSED if sent_steps else Step.WAIT)
    now = listed(person, today)
    if now is not None:  # steps sent before this overlap began were for an earlier one
        sent_steps = [s for s in sent_steps if s.sent_on >= now.employee_from]
    if not sent_steps:
        return _first(lists, today, person, householder, now)
    if now is None:
        return Action(step=Step.CLOSED)
    last = max(sent_steps, key=lambda s: (s.sent_on, list(Step).index(s.step)))
    if last.deadline is None or today <= last.deadline:
        return Action(step=Step.WAIT)
    if last.step == Step.FIRST_NOTICE:
        return Action(step=Step.SECOND_NOTICE,
                      notice_id=notice_id(person.relay_id, f"{RULE}:second", last.deadline),
                      deadline=second_notice_deadline(today),
                      recipients=_recipients(person, householder, now))
    if last.step == Step.SECOND_NOTICE:
        return Action(step=Step.ESCALATION,
                      notice_id=notice_id(person.relay_id, f"{RULE}:escalation", last.deadline),
                      recipients=(Recipient(NHI_INSURER, insurer_number=now.nhi_insurer),))
    return Action(step=Step.WAIT)


def _first(
    lists: Sequence[StoredList],
    today: date,
    person: PersonFacts,
    householder: PersonFacts | None,
    now: ListEntry | None,
) -> Action:
    by_date: dict[date, set[ListEntry | None]] = {}
    for stored in lists:  # a list stored twice is one list; copies that disagree name nobody
        by_date.setdefault(stored.list_date, set()).add(stored.entry)
    ordered = [StoredList(day, next(iter(found)) if len(found) == 1 else None)
               for day, found in sorted(by_date.items())][-2:]
    entries = [x.entry for x in ordered if x.entry is not None]
    if len(entries) < 2 or now is None:
        return Action(step=Step.WAIT)
    insurers = {x.employee_insurer for x in entries}
    if len(insurers) != 1 or now.employee_insurer not in insurers:
        return Action(step=Step.WAIT)
    return Action(step=Step.FIRST_NOTICE,
                  notice_id=notice_id(person.relay_id, f"{RULE}:first", ordered[-1].list_date),
                  deadline=first_notice_deadline(today),
                  recipients=_recipients(person, householder, now))


def _recipients(
    person: PersonFacts, householder: PersonFacts | None, entry: ListEntry
) -> tuple[Recipient, ...]:
    found = [Recipient(PERSON, relay_id=person.relay_id)]
    head = other_householder(person, householder, entry.list_date)
    if head is not None:
        found.append(Recipient(HOUSEHOLDER, relay_id=head.relay_id))
    found.append(Recipient(EMPLOYEE_INSURER, insurer_number=entry.employee_insurer))
    found.append(Recipient(NHI_INSURER, insurer_number=entry.nhi_insurer))
    return tuple(found)


def _holding(person: PersonFacts, category: str, day: date) -> list[Cover]:
    return [c for c in person.covers
            if c.scheme == MEDICAL and c.category == category and c.contains(day)]
