"""Age milestones (DOMAIN §5b) planned per person and announced once when the relay clock
reaches their date: the ages that drive rules, as events, so no processor needs a birth date."""

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone

from relay_linker.domain import effects as fx
from relay_linker.domain.ages import (
    elderly_copay_from,
    employee_pension_until,
    first_category_care_from,
    late_stage_elderly_from,
    national_type1_from,
    national_type1_until,
)
from relay_linker.domain.commands import LinkerRecord
from relay_linker.domain.ids import milestone_outbox_id
from relay_linker.domain.model import Milestone
from relay_linker.domain.person_changes import vitals_after
from relay_linker.domain.reads import milestones_due, pending_milestones
from relay_linker.domain.state import RelayState

JST = timezone(timedelta(hours=9))
"""Dates are Japan's: the relay clock reaches a date at its midnight in Japan time."""

RULES: tuple[tuple[str, int, Callable[[date], date]], ...] = (
    ("age_20", 20, national_type1_from),  # National Pension type-1 obligation starts
    ("age_60", 60, national_type1_until),  # ... and ends
    ("age_65", 65, first_category_care_from),  # first-category long-term-care insured
    ("age_70", 70, employee_pension_until),  # employee pension lost
    ("age_70_copay", 70, elderly_copay_from),  # the 70-74 copay band (高齢受給者)
    ("age_75", 75, late_stage_elderly_from),  # the 75+ scheme, from the birthday itself
)
ORDER = {name: position for position, (name, _, _) in enumerate(RULES)}
REPLANNED = (
    fx.PersonRegistered,
    fx.PersonRemoved,
    fx.PersonDied,
    fx.DeathRetracted,
    fx.IdentityChangeRecorded,
    fx.IdentityChangeRemoved,
)


def relay_date(at: datetime) -> date:
    """The date in Japan at relay time `at`."""
    return at.astimezone(JST).date()


def milestones_of(relay_id: str, birth: date) -> tuple[Milestone, ...]:
    """Every milestone of a person born on `birth`, in the order of RULES."""
    return tuple(Milestone(relay_id, name, age, rule(birth)) for name, age, rule in RULES)


def replan(view: RelayState, record: LinkerRecord, effects: Iterable[fx.Effect]) -> list[fx.Effect]:
    """Milestones scheduled or dropped because this filing registered a person, removed one,
    recorded or retracted a death, or changed a birth date.

    A registration plans the milestones due on or after the relay date it arrived on: those
    already past are not announced (the person's links already say what they brought). Later
    changes plan again from the birth date and death then known: what is due after the relay
    date is planned, what is still pending unchanged stays, a milestone after the death is
    dropped. So a milestone announced before a birth-date correction is announced again at its
    corrected date if that is still to come, and one whose corrected date has passed is not."""
    effects = list(effects)
    today = relay_date(record.relay_time)
    new = {e.person.relay_id for e in effects if isinstance(e, fx.PersonRegistered)}
    planned = sorted({r for e in effects if isinstance(e, REPLANNED) for r in _persons_of(e)})
    out: list[fx.Effect] = []
    for relay_id in planned:
        current = {} if relay_id in new else {m.name: m for m in pending_milestones(view, relay_id)}
        wanted = _wanted(view, relay_id, effects, relay_id in new)
        keep = {
            m.name: m
            for m in wanted
            if m.due_on > today
            or (relay_id in new and m.due_on == today)
            or current.get(m.name) == m
        }
        out += [fx.MilestoneDropped(relay_id, n) for n in sorted(current.keys() - keep.keys())]
        out += [fx.MilestoneScheduled(m) for m in keep.values() if current.get(m.name) != m]
    return out


def _persons_of(effect: fx.Effect) -> tuple[str, ...]:
    match effect:
        case fx.PersonRegistered(person=holder):
            return (holder.relay_id,)
        case fx.IdentityChangeRecorded(change=change):
            return (change.relay_id,) if change.secret_birth_date is not None else ()
        case fx.PersonRemoved(relay_id=r) | fx.PersonDied(relay_id=r) | fx.DeathRetracted(
            relay_id=r
        ) | fx.IdentityChangeRemoved(relay_id=r):
            return (r,)
    return ()


def _wanted(
    view: RelayState, relay_id: str, effects: list[fx.Effect], new: bool
) -> tuple[Milestone, ...]:
    """The person's milestones once `effects` apply, up to the date of death."""
    if any(isinstance(e, fx.PersonRemoved) and e.relay_id == relay_id for e in effects):
        return ()
    birth, died = vitals_after(view, relay_id, effects, new)
    if birth is None:
        return ()
    return tuple(m for m in milestones_of(relay_id, birth) if died is None or m.due_on <= died)


def announce(state: RelayState, now: datetime) -> list[fx.Effect]:
    """The relay clock reached `now`: announce every pending milestone due on or before its
    date in Japan, oldest first, each once (it is dropped as it is announced), under an outbox
    id derived from the person, the milestone and its date alone."""
    due = sorted(
        milestones_due(state, relay_date(now)),
        key=lambda m: (m.due_on, m.relay_id, ORDER[m.name]),
    )
    effects: list[fx.Effect] = []
    for m in due:
        outbox_id = milestone_outbox_id(m.relay_id, m.name, m.due_on)
        effects.append(fx.AgeMilestoneEmitted(m.relay_id, m.name, m.age, m.due_on, 0, outbox_id))
        effects.append(fx.MilestoneDropped(m.relay_id, m.name))
    return effects
