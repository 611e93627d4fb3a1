"""Work and cover: hiring, leaving, dependants, voluntary continuation and NHI enrolment.

Employers file within 5 days; people's own notices to the municipality may be late or never come.
"""

from __future__ import annotations

from datetime import date, timedelta

from relay_linker.business_days import election_due
from relay_linker.domain.continuation import months_before
from schemas.common import IdentityItems
from schemas.employer import (
    DependantChange,
    DependantChanged,
    EmployeeInsuranceAcquired,
    EmployeeInsuranceLost,
)
from schemas.insurer import VoluntaryContinuationElected
from schemas.municipality import NhiQualificationAcquired, NhiQualificationLost
from synthetic.cover import cover_dependant, cover_nhi, employ
from synthetic.data import PLACES
from synthetic.engine import Sim
from synthetic.pension import pension_update
from synthetic.quirks import P_NHI_KEPT, P_NHI_LATE_LOSS, file_checked
from synthetic.render import (
    by_insured,
    by_number,
    by_resident,
    dependant,
    identity,
    insured,
    member_ref,
)
from synthetic.world import Cover, Employer, Person, birthday

ONE_DAY = timedelta(days=1)
NHI_LATE_NOTICE = 15  # the fewest days after the loss date that a late NHI loss notice comes
# what people do after leaving a job without a new one (timely/late/no NHI, 任意継続)
LEAVING_PATHS = (("timely", 62), ("late", 12), ("never", 8), ("vc", 18))


def leaving_path(sim: Sim) -> str:
    """How someone leaving employee insurance without a new job gets covered next."""
    return sim.rng.choices([p for p, _ in LEAVING_PATHS], [w for _, w in LEAVING_PATHS])[0]


def enrol_nhi(sim: Sim, people: list[Person], mode: str) -> None:
    """People join NHI from today; they tell the municipality in time, late, or never."""
    delay = sim.rng.randint(15, 45) if mode == "late" else sim.rng.randint(1, 13)
    for person in people:
        if not person.alive or sim.today >= birthday(person.born, 75):
            continue
        if mode == "never":
            person.cover = None
            continue
        cover_nhi(sim.numbers, person)
        place = person.household.place
        filer = sim.municipality(place)
        payload = NhiQualificationAcquired(
            person=by_resident(person),
            identity=identity(person, filer.style),
            insurer_number=place.insurer,
            insured_number=insured(person, place.insurer),
            acquired_on=sim.today,
        )
        sim.file(filer, person, payload, delay)


def nhi_lost(
    sim: Sim,
    person: Person,
    cover: Cover,
    after_death: bool = False,
    lost_on: date | None = None,
    delay: int | None = None,
) -> None:
    """The municipality files the end of `person`'s NHI membership from `lost_on` (today)."""
    if not (person.alive or after_death):
        return
    place = next(p for p in PLACES if p.insurer == cover.insurer)
    filer = sim.municipality(place)
    payload = NhiQualificationLost(
        person=by_resident(person),
        identity=identity(person, filer.style),
        insurer_number=cover.insurer,
        insured_number=insured(person, cover.scope),
        lost_on=lost_on or sim.today,
    )
    sim.file(filer, person, payload, delay)


def hire(sim: Sim, person: Person, employer: Employer, quick: bool = False) -> None:
    """資格取得届 for `person` from today, with the household members they now support."""
    day, cover = sim.today, person.cover
    if not person.alive or day >= birthday(person.born, 75):
        return
    if cover is not None and cover.kind in ("employee", "late"):
        return
    dependants = _new_dependants(person, day)
    before = [(p, p.cover) for p in (person, *dependants)]
    employ(sim.numbers, person, employer)
    if person.cover is not None:
        person.cover.since = day
    for member in dependants:
        cover_dependant(sim.numbers, member, person)
    style, scope = employer.filer.style, employer.filer.code
    entries = tuple(dependant(m, style, m.cover.scope) for m in dependants if m.cover)

    def make(items: IdentityItems, off: int) -> EmployeeInsuranceAcquired:
        return EmployeeInsuranceAcquired(
            person=by_number(person, style),
            identity=items,
            insurer_number=employer.insurer,
            insured_number=insured(person, scope),
            acquired_on=day + timedelta(off),
            dependants=entries,
        )

    shiftable = all(m.born <= day - timedelta(3) for m in (person, *dependants))
    file_checked(
        sim, employer.filer, person, make, sim.rng.randint(1, 2) if quick else None, shiftable
    )
    for member, old in before:
        _end_cover(sim, member, old)
        pension_update(sim, member)


def _new_dependants(person: Person, on: date) -> list[Person]:
    if person.role not in ("head", "spouse"):
        return []
    return [
        m
        for m in person.household.members
        if m is not person
        and m.alive
        and (m.cover is None or m.cover.kind == "nhi")
        and (m is person.spouse or m.role == "parent" or (m.role == "child" and m.age(on) < 22))
    ]


def _end_cover(sim: Sim, person: Person, cover: Cover | None) -> None:
    """Joining employee insurance today ends NHI tomorrow (DOMAIN §6: D + 1, a legal one-day
    overlap), however late the municipality hears of it; a dependant is removed today."""
    if cover is None:
        return
    if cover.kind == "nhi":
        roll = sim.rng.random()
        if roll >= P_NHI_KEPT:
            late = roll < P_NHI_KEPT + P_NHI_LATE_LOSS
            delay = sim.rng.randint(NHI_LATE_NOTICE, NHI_LATE_NOTICE + 20) if late else None
            nhi_lost(sim, person, cover, lost_on=sim.today + ONE_DAY, delay=delay)
    elif cover.kind == "dependant":
        remove_dependant(sim, person, cover)


def end_dependants(sim: Sim, dependants: list[Person], delay: int | None = None) -> None:
    """The insured person's cover ends today, and their dependants' with it (DOMAIN §6)."""
    for member in dependants:
        if member.cover is not None and member.cover.kind == "dependant":
            remove_dependant(sim, member, member.cover, delay)


def remove_dependant(sim: Sim, member: Person, cover: Cover, delay: int | None = None) -> None:
    """被扶養者異動届 (removed) from today by the insured person's employer."""
    head, employer = cover.head, cover.employer
    if head is None or employer is None or head.cover is None or head.cover.kind != "employee":
        return
    style = employer.filer.style
    payload = DependantChanged(
        person=member_ref(head, style, head.cover.scope),
        identity=identity(head, style),
        insurer_number=cover.insurer,
        change=DependantChange.REMOVED,
        dependant=dependant(member, style, cover.scope, added=False),
        changed_on=sim.today,
    )
    sim.file(employer.filer, head, payload, delay)


def file_loss(sim: Sim, person: Person, last_day: date, delay: int | None = None) -> None:
    """資格喪失届 by the employer: loss the day after `last_day`."""
    cover = person.cover
    if cover is None or cover.employer is None:
        return
    style = cover.employer.filer.style

    def make(items: IdentityItems, off: int) -> EmployeeInsuranceLost:
        return EmployeeInsuranceLost(
            person=member_ref(person, style, cover.scope),
            identity=items,
            insurer_number=cover.insurer,
            insured_number=insured(person, cover.scope),
            last_day_of_employment=last_day + timedelta(off),
            lost_on=last_day + timedelta(off + 1),
        )

    file_checked(sim, cover.employer.filer, person, make, delay)


def leave(sim: Sim, person: Person, path: str, late_filing: bool = False) -> None:
    """The employment ended yesterday; `path` says what cover follows (job: a new one today)."""
    cover = person.cover
    if not person.alive or cover is None or cover.kind != "employee":
        return
    dependants = person.dependants()
    delay = 5 if late_filing else None
    file_loss(sim, person, sim.today - ONE_DAY, delay)
    if path == "vc" and (cover.since or sim.start) > months_before(sim.today, 2):
        path = "timely"  # 任意継続 needs two months of cover as an insured person (健保法3条4項)
    if path != "vc":  # 任意継続 keeps the dependants covered
        end_dependants(sim, dependants, delay)
    if path == "vc":
        _elect_voluntary_continuation(sim, person, cover)
    else:
        for member in (person, *dependants):
            member.cover = None
        if path != "job":
            enrol_nhi(sim, [person, *dependants], path)
    if path != "job":
        for member in (person, *dependants):
            pension_update(sim, member)


def _elect_voluntary_continuation(sim: Sim, person: Person, cover: Cover) -> None:
    person.cover = Cover("vc", cover.insurer, cover.scope, employer=cover.employer)
    filer = sim.insurer(cover.insurer)
    last = (election_due(sim.today) - sim.today).days  # the window (健保法37条)
    elected = min(sim.rng.randint(2, 12), last)
    payload = VoluntaryContinuationElected(
        person=by_insured(person, cover.scope),
        identity=identity(person, filer.style),
        insurer_number=cover.insurer,
        insured_number=insured(person, cover.scope),
        lost_on=sim.today,
        elected_on=sim.today + timedelta(elected),
    )
    sim.file(filer, person, payload, elected + sim.rng.randint(1, 2))
