"""Notices on the age milestone days (DOMAIN §5b): 65, first-category long-term care; 75, the
75+ scheme and the end of the dependants' cover, with anomalies when its link changes are late."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from notification_streams.rules.calendar import age_on
from notification_streams.rules.facts import (
    DEPENDANT,
    MEDICAL,
    NHI,
    Anomaly,
    Cover,
    PersonFacts,
    covers_on,
    dead,
    sane,
)
from notification_streams.rules.ids import notice_id
from relay_linker.domain.ages import first_category_care_from, late_stage_elderly_from
from relay_linker.domain.continuation import EMPLOYEE, LATE_STAGE

AGE_65, AGE_75 = "age_65", "age_75"
DEPENDANT_RULE = "age_75_dependant"
FORMER_MEDICAL = (EMPLOYEE, NHI)
GRACE_DAYS = 14


@dataclass(frozen=True, kw_only=True)
class MilestoneNotice:
    """A notice to `relay_id` because `reached_by` reached `milestone`, effective `effective_on`;
    `ending` are the insurers whose medical cover of the addressee ends that day."""

    notice_id: UUID
    rule: str
    relay_id: str
    reached_by: str
    milestone: str
    effective_on: date
    ending: tuple[str, ...] = ()


def milestone_on(birth: date, milestone: str) -> date | None:
    """65: the day before the 65th birthday; 75: the 75th birthday itself; None for others."""
    if milestone == AGE_65:
        return first_category_care_from(birth)
    if milestone == AGE_75:
        return late_stage_elderly_from(birth)
    return None


def notices_on(
    person: PersonFacts, day: date, dependants: Sequence[PersonFacts] = ()
) -> tuple[MilestoneNotice, ...]:
    """The notices due exactly on `day`: to the living person on their 65th or 75th milestone
    day, and on the 75th to each living dependant under 75 whose dependant cover under them
    ends that day (a dependant of unknown birth date is included: the cover's end says enough)."""
    if not _judged(person) or dead(person):
        return ()
    birth = person.birth_date or date.min
    found: list[MilestoneNotice] = []
    for milestone in (AGE_65, AGE_75):
        if milestone_on(birth, milestone) != day:
            continue
        ending = _former_ending(person, day) if milestone == AGE_75 else ()
        found.append(MilestoneNotice(
            notice_id=notice_id(person.relay_id, milestone, day), rule=milestone,
            relay_id=person.relay_id, reached_by=person.relay_id, milestone=milestone,
            effective_on=day, ending=ending))
        if milestone == AGE_75:
            found += [_dependant_notice(person, d, day) for d in dependants
                      if _loses_cover_with(person, d, day)]
    return tuple(found)


def expected_changes_missing(
    person: PersonFacts,
    dependants: Sequence[PersonFacts],
    milestone: str,
    today: date,
    grace_days: int = GRACE_DAYS,
) -> tuple[Anomaly, ...]:
    """The link changes the 75th birthday calls for that have not arrived once more than
    `grace_days` days of relay time have passed since it: a 75+ scheme link holding the
    birthday, no former medical cover (employee insurance, NHI) holding it, no dependant cover
    under the person holding it. None for 65 (no link changes), a person who died before the
    day, or facts no rule can judge."""
    if milestone != AGE_75 or not _judged(person):
        return ()
    day = late_stage_elderly_from(person.birth_date or date.min)
    if today <= day + timedelta(days=grace_days):
        return ()
    if person.died_on is not None and person.died_on < day:
        return ()
    rid = person.relay_id
    found: list[Anomaly] = []
    if not any(c.category == LATE_STAGE for c in covers_on(person, MEDICAL, day)):
        found.append(Anomaly("late_stage_link_missing", rid, day.isoformat()))
    found += [Anomaly("former_cover_not_closed", rid, insurer) for insurer in _former(person, day)]
    for d in dependants:
        held = [c for c in covers_on(d, MEDICAL, day) if _under(c, person.relay_id)]
        found += [Anomaly("dependant_cover_not_closed", d.relay_id, c.insurer_number)
                  for c in held]
    return tuple(found)


def _judged(person: PersonFacts) -> bool:
    """A birth date known, and facts without contradictions (dates in range among them)."""
    return person.birth_date is not None and sane(person)


def _former(person: PersonFacts, day: date) -> tuple[str, ...]:
    return tuple(sorted(c.insurer_number for c in covers_on(person, MEDICAL, day)
                        if c.category in FORMER_MEDICAL))


def _former_ending(person: PersonFacts, day: date) -> tuple[str, ...]:
    """The insurers whose former medical cover held the day before and ends on the birthday."""
    before = day - timedelta(days=1)
    return tuple(sorted(c.insurer_number for c in covers_on(person, MEDICAL, before)
                        if c.category in FORMER_MEDICAL and c.valid_to == day))


def _under(cover: Cover, relay_id: str) -> bool:
    return cover.capacity == DEPENDANT and cover.insured_relay_id == relay_id


def _loses_cover_with(person: PersonFacts, dependant: PersonFacts, day: date) -> bool:
    if dead(dependant) or not sane(dependant):
        return False
    if dependant.birth_date is not None and age_on(dependant.birth_date, day) >= 75:
        return False
    before = day - timedelta(days=1)
    return any(_under(c, person.relay_id) and c.valid_to == day
               for c in covers_on(dependant, MEDICAL, before))


def _dependant_notice(person: PersonFacts, dependant: PersonFacts, day: date) -> MilestoneNotice:
    before = day - timedelta(days=1)
    ending = tuple(sorted(c.insurer_number for c in covers_on(dependant, MEDICAL, before)
                          if _under(c, person.relay_id) and c.valid_to == day))
    return MilestoneNotice(
        notice_id=notice_id(dependant.relay_id, DEPENDANT_RULE, day), rule=DEPENDANT_RULE,
        relay_id=dependant.relay_id, reached_by=person.relay_id, milestone=AGE_75,
        effective_on=day, ending=ending)
