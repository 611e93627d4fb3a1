"""The calendar of the simulated months: who is born, dies, moves, marries, changes job, ages.

Rates are per year; every handler checks on its day whether the event can still happen.
"""

from __future__ import annotations

from datetime import date, timedelta

from schemas.common import Sex
from synthetic.data import PLACES
from synthetic.engine import Sim
from synthetic.life import birth, death, month_end, turning
from synthetic.moves import marry, move, rename
from synthetic.quirks import (
    P_NEW_ADDRESS,
    P_OLD_ADDRESS,
    PERSONS_PER_STRAY_LOSS,
    hire_lookalike,
    stray_loss,
)
from synthetic.work import hire, leave, leaving_path
from synthetic.world import ONE_DAY, Household, Person, birthday

P_MOVE, P_MOVE_ELSEWHERE, P_BIRTH, P_MARRY = 0.05, 0.55, 0.09, 0.1
P_JOB_CHANGE, P_RETIRE, P_RETIRE_70S, P_HIRE = 0.08, 0.12, 0.25, 0.07
P_APRIL, P_MONTH_END, P_DIRECT = 0.35, 0.65, 0.6
P_GRADUATE = {18: 0.3, 19: 0.05, 20: 0.15, 21: 0.05, 22: 0.55, 23: 0.25}
DEATH_RATES = ((40, 0.0008), (60, 0.003), (70, 0.01), (80, 0.025), (90, 0.07), (200, 0.18))
MILESTONES = ((20, -1), (60, -1), (65, -1), (70, -1), (75, 0))  # age, days from the birthday


def plan(sim: Sim, lookalikes: list[tuple[Person, Person]]) -> None:
    """Put every event of the simulated months on the calendar."""
    for household in list(sim.households):
        _plan_household(sim, household)
    for person in list(sim.persons):
        _plan_person(sim, person)
    for place in PLACES:
        if place.renaming is not None:
            sim.at(sim.days(60, _span(sim) - 30), rename, place, priority=0)
    for original, twin in lookalikes:
        sim.at(sim.days(30, _span(sim)), hire_lookalike, original, twin)
    adults = [p for p in sim.persons if 20 <= p.age(sim.start) < 65 and not _employed(p)]
    strays = min(len(adults), len(sim.persons) // PERSONS_PER_STRAY_LOSS)
    for person in sim.rng.sample(adults, strays):
        sim.at(sim.days(1, _span(sim)), stray_loss, person)


def _employed(person: Person) -> bool:
    return person.cover is not None and person.cover.kind == "employee"


def _span(sim: Sim) -> int:
    return (sim.end - sim.start).days


def _chance(sim: Sim, rate: float) -> bool:
    return sim.rng.random() < rate * _span(sim) / 365


def _aprils(sim: Sim) -> list[date]:
    years = range(sim.start.year, sim.end.year + 1)
    return [d for d in (date(y, 4, 1) for y in years) if sim.start < d <= sim.end]


def _plan_household(sim: Sim, household: Household) -> None:
    if _chance(sim, P_MOVE):
        elsewhere = sim.rng.random() < P_MOVE_ELSEWHERE
        sim.at(sim.days(1, _span(sim)), move, household, elsewhere, priority=0)
    mothers = [
        p
        for p in household.members
        if p.sex is Sex.FEMALE and p.spouse is not None and 20 <= p.age(sim.start) <= 44
    ]
    if mothers and _chance(sim, P_BIRTH):
        sim.at(sim.days(1, _span(sim)), birth, mothers[0])
    single = len(household.members) == 1 and 22 <= household.members[0].age(sim.start) <= 38
    if single and _chance(sim, P_MARRY):
        sim.at(sim.days(1, _span(sim)), marry, household.members[0], priority=0)


def _plan_person(sim: Sim, person: Person) -> None:
    age = person.age(sim.start)
    rate = next(r for limit, r in DEATH_RATES if age < limit)
    if _chance(sim, rate):
        sim.at(sim.days(1, _span(sim)), death, person)
    for years, shift in MILESTONES:
        day = birthday(person.born, years) + timedelta(shift)
        if sim.start < day:
            sim.at(day, turning, person, years)
    if _employed(person):
        _plan_employee(sim, person, age)
    elif person.role in ("head", "spouse") and 20 <= age < 60 and _chance(sim, P_HIRE):
        sim.at(_first_day(sim), hire, person, sim.employer())
    for april in _aprils(sim):
        chance = P_GRADUATE.get(person.age(april), 0) if person.role == "child" else 0
        if sim.rng.random() < chance:  # before a parent's hire that day could list them
            sim.at(april, hire, person, sim.employer(), priority=0)


def _plan_employee(sim: Sim, person: Person, age: int) -> None:
    if age < 60 and _chance(sim, P_JOB_CHANGE):
        _job_change(sim, person)
    elif age >= 60 and _chance(sim, P_RETIRE if age < 70 else P_RETIRE_70S):
        last = _last_day(sim)
        late = sim.rng.random() < P_OLD_ADDRESS
        sim.at(last + ONE_DAY, leave, person, leaving_path(sim), late)
        if late:
            elsewhere = sim.rng.random() < P_MOVE_ELSEWHERE
            sim.at(last + 2 * ONE_DAY, move, person.household, elsewhere, 1, priority=0)


def _job_change(sim: Sim, person: Person) -> None:
    last = _last_day(sim)
    direct = sim.rng.random() < P_DIRECT
    start = last + ONE_DAY if direct else _first_day(sim, last + timedelta(sim.rng.randint(8, 60)))
    sim.at(last + ONE_DAY, leave, person, "job" if direct else leaving_path(sim))
    quick = sim.rng.random() < P_NEW_ADDRESS
    if quick:  # the move falls inside the simulated months, so it is filed with the hire
        moved = max(start - timedelta(sim.rng.randint(1, 3)), sim.start + ONE_DAY)
        sim.at(moved, move, person.household, True, sim.rng.randint(10, 14), priority=0)
    current = person.cover.employer if person.cover else None
    sim.at(start, hire, person, sim.employer(current), quick)


def _last_day(sim: Sim) -> date:
    aprils = _aprils(sim)
    if aprils and sim.rng.random() < P_APRIL:
        return sim.rng.choice(aprils) - ONE_DAY
    day = sim.days(1, _span(sim) - 20)
    return month_end(day) if sim.rng.random() < P_MONTH_END else day


def _first_day(sim: Sim, after: date | None = None) -> date:
    """A start date: 1 April or another first of a month, now and then any day."""
    day = after or sim.days(1, _span(sim))
    aprils = [a for a in _aprils(sim) if a >= day]
    if aprils and sim.rng.random() < P_APRIL:
        return aprils[0]
    return month_end(day) + ONE_DAY if sim.rng.random() < P_MONTH_END else day
