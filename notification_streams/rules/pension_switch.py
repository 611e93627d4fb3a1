"""The National Pension switch reminder (DOMAIN §6): a retiree aged 20–59 who loses employee
pension, and a dependent spouse aged 20–59 whose type 3 ends with it, must file type 1 in 14 days.

Same timing and follow-ups as the NHI reminder (`reminders.settle`); addressed to the person."""

from dataclasses import dataclass
from datetime import date

from notification_streams.rules.calendar import age_on, filing_deadline, first_day_after
from notification_streams.rules.facts import (
    EMPLOYEE_PENSION,
    PENSION,
    Cover,
    PersonFacts,
    covered_on,
    dead,
    sane,
)
from notification_streams.rules.ids import notice_id
from notification_streams.rules.reminders import PERSON, Recipient, Reminder
from relay_linker.domain.model import DEATH

RULE = "national_pension_switch"
NOT_A_TRIGGER = (DEATH, "age_70")
"""The retiree's own death, and employee pension lost the day before the 70th birthday."""
TYPE3 = "national_type3"
RETIREMENT, SPOUSE_RETIRED = "retirement", "spouse_lost_employee_pension"
TYPE1_AGES = range(20, 60)
"""DOMAIN §5b: the type-1 obligation runs from age 20 reached to age 60 reached."""


@dataclass(frozen=True, kw_only=True)
class PensionLoss:
    """An end of pension cover on `loss_date` that may call for a switch to type 1: the person's
    own employee pension, or their type 3 as the spouse of `retiree_relay_id`."""

    loss_date: date
    cover: Cover
    deadline: date
    fires_on: date
    why: str
    retiree_relay_id: str


def switch_losses(person: PersonFacts) -> tuple[PensionLoss, ...]:
    """Every date the person lost employee pension (not by death, not at 70) or a type-3 link
    naming a spouse, oldest first, one per date (their own retirement preferred)."""
    if not sane(person):
        return ()
    found: dict[date, PensionLoss] = {}
    for cover in sorted(person.covers, key=_preference):
        why = _why(cover)
        if why is None or cover.valid_to is None:
            continue
        retiree = person.relay_id if why == RETIREMENT else cover.spouse_relay_id or ""
        deadline = filing_deadline(cover.valid_to)
        found.setdefault(cover.valid_to, PensionLoss(
            loss_date=cover.valid_to, cover=cover, deadline=deadline,
            fires_on=first_day_after(deadline), why=why, retiree_relay_id=retiree))
    return tuple(found[day] for day in sorted(found))


def switch_due(
    person: PersonFacts, loss: PensionLoss, today: date, retiree: PersonFacts | None = None
) -> Reminder | None:
    """The switch reminder due on `today`, or None: the person is dead, the loss is gone from
    the facts, `fires_on` has not come, their age on the loss date is unknown or outside 20–59,
    any pension cover holds the loss date, or (a spouse) the retiree's facts do not show their
    employee pension ending on that date (the type 3 must end *with* it; a death counts: the
    widowed spouse must switch too, `_retired_on`)."""
    day = loss.loss_date
    current = next((x for x in switch_losses(person) if x.loss_date == day), None)
    if dead(person) or current is None or today < current.fires_on:
        return None
    if person.birth_date is None or age_on(person.birth_date, day) not in TYPE1_AGES:
        return None
    if covered_on(person, PENSION, day):
        return None
    if current.why == SPOUSE_RETIRED and not _retired_on(retiree, current.retiree_relay_id, day):
        return None
    return Reminder(
        notice_id=notice_id(person.relay_id, RULE, day),
        rule=RULE,
        relay_id=person.relay_id,
        loss_date=day,
        deadline=current.deadline,
        fires_on=current.fires_on,
        why=current.why,
        recipients=(Recipient(PERSON, relay_id=person.relay_id),),
    )


def _why(cover: Cover) -> str | None:
    if cover.scheme != PENSION or cover.empty or cover.closed_because in NOT_A_TRIGGER:
        return None
    if cover.category == EMPLOYEE_PENSION:
        return RETIREMENT
    type3 = cover.category == TYPE3 or cover.pension_type == 3
    return SPOUSE_RETIRED if type3 and cover.spouse_relay_id is not None else None


def _preference(cover: Cover) -> tuple[int, str, date, str]:
    own = 0 if cover.category == EMPLOYEE_PENSION else 1
    return (own, cover.insurer_number, cover.valid_from, cover.source_event_id)


def _retired_on(retiree: PersonFacts | None, relay_id: str, day: date) -> bool:
    """Whether the retiree's facts show their employee pension ending on `day`, for whatever
    reason: retirement, death (the widowed spouse's type 3 ends with it: 国民年金法7条1項3号
    holds only while the spouse is a type-2 insured person, so the survivor becomes type 1 and
    files the change within 14 days, 同法12条), or the 70th birthday."""
    if retiree is None or retiree.relay_id != relay_id or not sane(retiree):
        return False
    return any(c.scheme == PENSION and c.category == EMPLOYEE_PENSION and not c.empty
               and c.valid_to == day for c in retiree.covers)
