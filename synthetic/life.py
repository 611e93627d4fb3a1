"""Births, deaths and the ages of 20, 60, 65, 70 and 75, with what every party files then.

Each handler runs on the event's date; moves and names are in `population_moves`.
"""

from __future__ import annotations

from datetime import date, timedelta

from schemas.common import Sex
from schemas.employer import DependantChange, DependantChanged
from schemas.municipality import (
    BirthRegistered,
    DeathRegistered,
    LateStageElderlyQualificationAcquired,
    LateStageElderlyQualificationLost,
    LongTermCareQualificationAcquired,
    LongTermCareQualificationLost,
    NhiQualificationAcquired,
)
from schemas.payload import Payload
from schemas.secret import SecretNumber
from synthetic.cover import cover_dependant, cover_late_stage, cover_nhi
from synthetic.data import GIVEN, Place
from synthetic.engine import Sim
from synthetic.households import born_into, filed, householder_died
from synthetic.pension import pension_lost, pension_update
from synthetic.quirks import P_AFTER_DEATH
from synthetic.render import (
    by_resident,
    dependant,
    identity,
    insured,
    member_ref,
)
from synthetic.work import (
    end_dependants,
    enrol_nhi,
    file_loss,
    nhi_lost,
    remove_dependant,
)
from synthetic.world import REGISTER, Cover, Person

ONE_DAY = timedelta(days=1)
LATE_ACQUIRED = LateStageElderlyQualificationAcquired
LATE_LOST = LateStageElderlyQualificationLost
AFTER_DEATH = (("timely", 85), ("late", 10), ("never", 5))


def month_end(day: date) -> date:
    """The last day of `day`'s month."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - ONE_DAY


def birth(sim: Sim, mother: Person) -> None:
    """出生届, and the baby's cover: dependant of an employed parent, else NHI."""
    if not mother.alive:
        return
    day, household = sim.today, mother.household
    sex = sim.rng.choice((Sex.MALE, Sex.FEMALE))
    given = sim.rng.choice(GIVEN[(sex.value, True)])
    code = sim.numbers.resident_code()
    baby = Person(len(sim.persons), mother.surname, given, day, sex, household, code, "child")
    household.members.append(baby)
    sim.persons.append(baby)
    born_into(baby, mother)
    registered, delay = sim.rng.randint(0, 6), sim.rng.randint(1, 5)
    filer = sim.municipality(household.place)
    payload = BirthRegistered(
        resident_code=SecretNumber(code),
        identity=identity(baby, filer.style),
        registered_on=day + timedelta(registered),
        household=filed(baby),
    )
    sim.file(filer, baby, payload, delay)
    parents = [p for p in (mother, mother.spouse) if p and p.alive and p.cover]
    employed = [p for p in parents if p.cover and p.cover.kind == "employee"]
    if employed:
        _add_baby(sim, baby, employed[0], registered + delay + sim.rng.randint(0, 3))
    else:
        _baby_nhi(sim, baby, registered + delay)


def _add_baby(sim: Sim, baby: Person, parent: Person, delay: int) -> None:
    cover_dependant(sim.numbers, baby, parent)
    head_cover, employer = parent.cover, parent.cover.employer if parent.cover else None
    if head_cover is None or employer is None or baby.cover is None:
        return
    style = employer.filer.style
    payload = DependantChanged(
        person=member_ref(parent, style, head_cover.scope),
        identity=identity(parent, style),
        insurer_number=head_cover.insurer,
        change=DependantChange.ADDED,
        dependant=dependant(baby, style, baby.cover.scope),
        changed_on=sim.today,
    )
    sim.file(employer.filer, parent, payload, delay)


def _baby_nhi(sim: Sim, baby: Person, delay: int) -> None:
    cover_nhi(sim.numbers, baby)
    place = baby.household.place
    filer = sim.municipality(place)
    payload = NhiQualificationAcquired(
        person=by_resident(baby),
        identity=identity(baby, filer.style),
        insurer_number=place.insurer,
        insured_number=insured(baby, place.insurer),
        acquired_on=sim.today,
    )
    sim.file(filer, baby, payload, delay)


def death(sim: Sim, person: Person) -> None:
    """死亡届; every cover ends the next day and the dependants need cover of their own."""
    if not person.alive:
        return
    day, filer = sim.today, sim.municipality(person.household.place)
    items = identity(person, filer.style)
    payload = DeathRegistered(person=by_resident(person), identity=items, died_on=day)
    sim.file(filer, person, payload, min(sim.rng.randint(1, 7), sim.rng.randint(1, 7)))
    dependants = person.dependants()
    cover = person.cover
    if cover is not None and cover.kind == "employee":
        late = sim.rng.random() < P_AFTER_DEATH and month_end(day) > day
        file_loss(sim, person, month_end(day) if late else day)
    sim.at(day + ONE_DAY, _after_death, person, cover, dependants)
    sim.at(day + ONE_DAY, householder_died, person)
    person.died = day


def _after_death(sim: Sim, person: Person, cover: Cover | None, dependants: list[Person]) -> None:
    place = person.household.place
    if cover is not None and cover.kind == "employee":
        end_dependants(sim, dependants)
    if cover is not None and cover.kind == "dependant":
        remove_dependant(sim, person, cover)
    elif cover is not None and cover.kind == "nhi":
        nhi_lost(sim, person, cover, after_death=True)
    elif cover is not None and cover.kind == "late":
        late_stage_filing(sim, person, LATE_LOST, place, cover, lost_on=sim.today)
    if person.care_number is not None:
        care_filing(sim, person, LongTermCareQualificationLost, place, lost_on=sim.today)
    pension_lost(sim, person)
    mode = sim.rng.choices([m for m, _ in AFTER_DEATH], [w for _, w in AFTER_DEATH])[0]
    enrol_nhi(sim, dependants, mode)
    for member in dependants:
        pension_update(sim, member)


def _municipal(sim: Sim, person: Person, place: Place, payload: Payload) -> None:
    sim.file(sim.municipality(place), person, payload)


def care_filing(sim: Sim, person: Person, model: type[Payload], place: Place, **on: date) -> None:
    """`model` (long-term-care acquisition or loss) by `place` for the person's care number."""
    payload = model(
        person=by_resident(person),
        identity=identity(person, REGISTER),
        insurer_number=place.insurer,
        care_insured_number=SecretNumber(person.care_number or ""),
        **on,
    )
    _municipal(sim, person, place, payload)


def late_stage_filing(
    sim: Sim, person: Person, model: type[Payload], place: Place, cover: Cover, **on: date
) -> None:
    """`model` (75+ acquisition or loss) filed by `place` for the cover's insured number."""
    payload = model(
        person=by_resident(person),
        identity=identity(person, REGISTER),
        insurer_number=cover.insurer,
        insured_number=insured(person, cover.scope),
        **on,
    )
    _municipal(sim, person, place, payload)


def late_stage_acquired(sim: Sim, person: Person) -> None:
    """The 75+ scheme of the person's prefecture covers them from today."""
    cover_late_stage(sim.numbers, person)
    if person.cover is not None:
        place = person.household.place
        late_stage_filing(sim, person, LATE_ACQUIRED, place, person.cover, acquired_on=sim.today)


def care_acquired(sim: Sim, person: Person) -> None:
    """First-category long-term care from today, with a new care insured number."""
    place = person.household.place
    person.care_number = sim.numbers.care_number(place)
    care_filing(sim, person, LongTermCareQualificationAcquired, place, acquired_on=sim.today)


def turning(sim: Sim, person: Person, age: int) -> None:
    """Age milestones (DOMAIN.md §5b): 20 and 60 and 70 for pensions, 65 care, 75 the 75+ scheme."""
    if not person.alive:
        return
    if age == 65 and person.care_number is None:
        care_acquired(sim, person)
    elif age == 75 and (person.cover is None or person.cover.kind != "late"):
        _seventy_five(sim, person)
    pension_update(sim, person)


def _seventy_five(sim: Sim, person: Person) -> None:
    cover, dependants = person.cover, person.dependants()
    if cover is not None and cover.kind == "employee":
        file_loss(sim, person, sim.today - ONE_DAY)
        end_dependants(sim, dependants)
    elif cover is not None and cover.kind == "nhi":
        nhi_lost(sim, person, cover)
    elif cover is not None and cover.kind == "dependant":
        remove_dependant(sim, person, cover)
    late_stage_acquired(sim, person)
    if cover is not None and cover.kind in ("employee", "vc"):
        enrol_nhi(sim, [m for m in dependants if m.age(sim.today) < 75], "timely")
        for member in dependants:
            pension_update(sim, member)
