"""The NHI enrolment reminder (DOMAIN §6): whoever loses employee medical cover and has no other
medical cover by the 14th day is reminded, with the householder and their municipality's NHI.

Losses are read from the facts; whether a reminder is due, to whom, and whether it names
任意継続 are pure functions of them. What to do with one already sent is `reminders.settle`."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from uuid import NAMESPACE_URL, uuid5

from notification_streams.rules.calendar import filing_deadline, first_day_after
from notification_streams.rules.facts import (
    DEPENDANT,
    INSURED,
    MEDICAL,
    Cover,
    PersonFacts,
    covered_on,
    dead,
    other_householder,
    residence_on,
    sane,
)
from notification_streams.rules.ids import notice_id
from notification_streams.rules.reminders import (
    HOUSEHOLDER,
    MUNICIPALITY_NHI,
    PERSON,
    Recipient,
    Reminder,
)
from relay_linker.domain.continuation import EMPLOYEE, INSURED_ELSEWHERE, VOLUNTARY, eligible
from relay_linker.domain.endings import LATE_STAGE_TRANSFER
from relay_linker.domain.model import DEATH, LOSS, Link

RULE = "nhi_enrolment_reminder"
NOT_A_TRIGGER = (DEATH, LATE_STAGE_TRANSFER, INSURED_ELSEWHERE)
"""The person's own death, their own move to the 75+ scheme, and 任意継続 ended because they
are insured elsewhere: none leaves them to enrol in NHI."""
UNEXPLAINED = "unexplained"
_PREFERENCE = {INSURED: 0, VOLUNTARY: 1, DEPENDANT: 2}


@dataclass(frozen=True, kw_only=True)
class Loss:
    """An end of employee medical cover on `loss_date` (L) that may call for a reminder."""

    loss_date: date
    cover: Cover
    deadline: date
    fires_on: date
    why: str


def losses(person: PersonFacts) -> tuple[Loss, ...]:
    """Every loss date of the person's employee medical cover (any capacity) that triggers the
    rule, oldest first; one Loss per date (the insured capacity's cover preferred when several
    end on it), none when the facts contradict themselves."""
    if not sane(person):
        return ()
    ended = sorted((c for c in person.covers if _triggers(c)), key=_preference)
    by_date: dict[date, Cover] = {}
    for cover in ended:
        by_date.setdefault(cover.valid_to or date.max, cover)
    return tuple(_loss(by_date[day]) for day in sorted(by_date))


def loss_on(person: PersonFacts, day: date) -> Loss | None:
    """The triggering loss the facts show on `day` now, if any."""
    return next((x for x in losses(person) if x.loss_date == day), None)


def loss_stands(person: PersonFacts, loss: Loss, insured: PersonFacts | None = None) -> bool:
    """Whether `loss` still exists for `settle`: the facts still show a loss on its date, or (a
    dependant) the insured person elected 任意継続 from that date at that insurer, which kept
    the dependant's cover (DOMAIN §6): covered, not retracted, so RESOLVED and not WITHDRAWN."""
    if loss_on(person, loss.loss_date) is not None:
        return True
    return insured is not None and loss.cover.capacity == DEPENDANT and any(
        c.capacity == VOLUNTARY
        and c.insurer_number == loss.cover.insurer_number
        and c.valid_from == loss.loss_date
        and not c.empty
        for c in insured.covers
    )


def reminder_due(
    person: PersonFacts,
    loss: Loss,
    today: date,
    householder: PersonFacts | None,
    election_last_day: Callable[[date], date],
) -> Reminder | None:
    """The reminder the facts call for on `today`, or None: the loss is gone from the facts
    (retracted, moved), `fires_on` has not come, a medical cover of any category or capacity
    (任意継続 included) holds the loss date, or nobody is left to tell.

    A person whose death the relay knows is never addressed, but their death does not cancel
    the reminder: NHI covered them from the loss date to the death and the householder still
    files it (国民健康保険法9条1項), so the householder and the municipality are told. The
    householder is the one heading the person's household on the day the reminder fires (the
    one who has to act then), or on the last day of their life (`householder_day`).

    A cover that starts after the loss date does not cancel it: NHI is compulsory from the
    loss date (国民健康保険法7条), so the gap still has to be filed. A loss filed after its
    deadline still sends: the obligation is the same, only later."""
    current = loss_on(person, loss.loss_date)
    if current is None or today < current.fires_on:
        return None
    day = current.loss_date
    if covered_on(person, MEDICAL, day):
        return None
    died = dead(person)
    recipients = [] if died else [Recipient(PERSON, relay_id=person.relay_id)]
    head = other_householder(person, householder, householder_day(person, current))
    if head is not None:
        recipients.append(Recipient(HOUSEHOLDER, relay_id=head.relay_id))
    home = residence_on(person, day)
    if home is not None:
        recipients.append(Recipient(MUNICIPALITY_NHI, municipality_code=home.municipality_code))
    if not recipients:
        return None
    named = not died and may_elect_continuation(person, current)
    return Reminder(
        notice_id=notice_id(person.relay_id, RULE, day),
        rule=RULE,
        relay_id=person.relay_id,
        loss_date=day,
        deadline=current.deadline,
        fires_on=current.fires_on,
        why=current.why,
        recipients=tuple(recipients),
        municipality=home.municipality_code if home is not None else None,
        continuation_named=named,
        continuation_last_day=election_last_day(day) if named else None,
    )


def householder_day(person: PersonFacts, loss: Loss) -> date:
    """The day whose householder a reminder names: the day it fires, or the person's day of
    death when that came first (their membership ends the day after it)."""
    if person.died_on is not None and person.died_on < loss.fires_on:
        return max(person.died_on, loss.loss_date)
    return loss.fires_on


def may_elect_continuation(person: PersonFacts, loss: Loss) -> bool:
    """任意継続 is named only to the insured person themself (本人) whose own insured cover ended
    (not a dependant, not 任意継続 itself) after two months of continuous cover as an insured
    person up to the loss (健保法3条4項, `continuation.eligible`); death and the move to the 75+
    scheme never reach here (`NOT_A_TRIGGER`)."""
    if loss.cover.capacity != INSURED or loss.cover.closed_because in NOT_A_TRIGGER:
        return False
    return eligible(_as_links(person), loss.loss_date)


def _triggers(cover: Cover) -> bool:
    return (
        cover.scheme == MEDICAL
        and cover.category == EMPLOYEE
        and cover.valid_to is not None
        and not cover.empty
        and cover.closed_because not in NOT_A_TRIGGER
    )


def _preference(cover: Cover) -> tuple[int, str, date, str]:
    rank = _PREFERENCE.get(cover.capacity, len(_PREFERENCE))
    return (rank, cover.insurer_number, cover.valid_from, cover.source_event_id)


def _loss(cover: Cover) -> Loss:
    day = cover.valid_to or date.max
    deadline = filing_deadline(day)
    return Loss(loss_date=day, cover=cover, deadline=deadline, fires_on=first_day_after(deadline),
                why=_why(cover))


def _why(cover: Cover) -> str:
    """The cover's `closed_because`, a filed loss told apart: retirement for the insured person,
    a dependant removed (被扶養者異動届) for a dependant."""
    if cover.closed_because == LOSS:
        return {INSURED: "retirement", DEPENDANT: "dependant_removed"}.get(cover.capacity, LOSS)
    return cover.closed_because or UNEXPLAINED


_LINKS = uuid5(NAMESPACE_URL, "urn:shaho-relay:notification-streams:covers")


def _as_links(person: PersonFacts) -> tuple[Link, ...]:
    """The person's covers as the linker's links, so its 任意継続 eligibility rule is reused."""
    return tuple(
        Link(
            link_id=uuid5(_LINKS, f"{person.relay_id}:{i}"),
            relay_id=person.relay_id,
            scheme=c.scheme,
            insurer_number=c.insurer_number,
            capacity=c.capacity,
            category=c.category,
            number_key=("", b""),
            valid_from=c.valid_from,
            opened_valid_to=c.valid_to,
            clamp=None,
            opened_by=uuid5(_LINKS, c.source_event_id),
        )
        for i, c in enumerate(person.covers)
    )
