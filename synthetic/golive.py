"""Go-live: residents, pension numbers and qualifications, insurers' members as on the start date.

Everything takes effect on the start date and is filed in the first days after it.
"""

from __future__ import annotations

from schemas.common import Capacity, IdentityItems, Scheme
from schemas.insurer import InsuredPersonOf, MemberLoaded
from schemas.municipality import ResidentRegistered
from schemas.pension import BasicPensionNumberAssigned, PensionQualificationAcquired
from schemas.secret import SecretNumber
from synthetic.engine import Sim
from synthetic.households import filed
from synthetic.quirks import P_LOAD_TYPO, P_PENSION_TYPO, file_checked
from synthetic.render import by_number, by_pension, by_resident, identity, insured
from synthetic.world import Person

CAPACITIES = {
    "employee": Capacity.INSURED,
    "dependant": Capacity.DEPENDANT,
    "nhi": Capacity.INSURED,
    "late": Capacity.INSURED,
}


def go_live(sim: Sim) -> None:
    """Every register's initial load, in the order the filers would send them."""
    for person in sim.persons:
        _register(sim, person)
        _pension(sim, person)
        _medical(sim, person)
        _care(sim, person)


def _register(sim: Sim, person: Person) -> None:
    filer = sim.municipality(person.household.place)
    payload = ResidentRegistered(
        resident_code=SecretNumber(person.resident_code),
        identity=identity(person, filer.style),
        registered_on=sim.start,
        household=filed(person),
    )
    sim.file(filer, person, payload, sim.rng.randint(1, 2))


def _pension(sim: Sim, person: Person) -> None:
    if person.pension_number is None:
        return
    style, category = sim.jps.style, person.pension
    assigned = BasicPensionNumberAssigned(
        person=by_resident(person),
        identity=identity(person, style),
        basic_pension_number=SecretNumber(person.pension_number),
        assigned_on=sim.start,
    )
    sim.file(sim.jps, person, assigned, sim.rng.randint(2, 3))
    if category is None:
        return

    def make(items: IdentityItems, _: int) -> PensionQualificationAcquired:
        return PensionQualificationAcquired(
            person=by_pension(person, style),
            identity=items,
            category=category,
            acquired_on=sim.start,
        )

    file_checked(sim, sim.jps, person, make, sim.rng.randint(4, 6), False, P_PENSION_TYPO)


def _load(sim: Sim, person: Person, insurer: str, scheme: Scheme, **member: object) -> None:
    """MemberLoaded for `person` by `insurer` from the start date."""
    filer = sim.insurer(insurer)

    def make(items: IdentityItems, _: int) -> MemberLoaded:
        return MemberLoaded(
            person=by_number(person, filer.style),
            identity=items,
            scheme=scheme,
            insurer_number=insurer,
            valid_from=sim.start,
            **member,
        )

    file_checked(sim, filer, person, make, sim.rng.randint(3, 7), False, P_LOAD_TYPO)


def _medical(sim: Sim, person: Person) -> None:
    cover = person.cover
    if cover is None:
        return
    head = None
    if cover.kind == "dependant" and cover.head is not None:
        style = sim.insurer(cover.insurer).style
        head = InsuredPersonOf(
            person=by_number(cover.head, style), identity=identity(cover.head, style)
        )
    _load(
        sim,
        person,
        cover.insurer,
        Scheme.MEDICAL,
        insured_number=insured(person, cover.scope),
        capacity=CAPACITIES[cover.kind],
        insured_person=head,
    )


def _care(sim: Sim, person: Person) -> None:
    if person.care_number is not None:
        _load(
            sim,
            person,
            person.household.place.insurer,
            Scheme.LONG_TERM_CARE,
            care_insured_number=SecretNumber(person.care_number),
            capacity=Capacity.INSURED,
        )
