"""The Japan Pension Service's filings as people's work and age change their category.

Numbers are assigned when first needed (age 20 or a first job); switches lose and acquire.
"""

from __future__ import annotations

from schemas.common import IdentityItems
from schemas.pension import (
    BasicPensionNumberAssigned,
    PensionQualificationAcquired,
    PensionQualificationLost,
)
from schemas.secret import SecretNumber
from synthetic.cover import wanted_pension
from synthetic.engine import Sim
from synthetic.render import by_pension, by_resident, identity
from synthetic.world import Person


def pension_update(sim: Sim, person: Person) -> None:
    """The Japan Pension Service files the switch to the category the person now has."""
    on, wanted, style = sim.today, wanted_pension(person, sim.today), sim.jps.style
    if wanted == person.pension or not person.alive:
        return
    items = identity(person, style)
    pension_lost(sim, person)
    if wanted is not None:
        delay = None if person.pension_number else _assign_pension_number(sim, person, items) + 1
        acquired = PensionQualificationAcquired(
            person=by_pension(person, style), identity=items, category=wanted, acquired_on=on
        )
        sim.file(sim.jps, person, acquired, delay)
    person.pension = wanted


def pension_lost(sim: Sim, person: Person) -> None:
    """The person's pension qualification ends today (a new category or none follows)."""
    if person.pension is None:
        return
    style = sim.jps.style
    lost = PensionQualificationLost(
        person=by_pension(person, style),
        identity=identity(person, style),
        category=person.pension,
        lost_on=sim.today,
    )
    sim.file(sim.jps, person, lost)
    person.pension = None


def _assign_pension_number(sim: Sim, person: Person, items: IdentityItems) -> int:
    person.pension_number = sim.numbers.pension_number()
    payload = BasicPensionNumberAssigned(
        person=by_resident(person),
        identity=items,
        basic_pension_number=SecretNumber(person.pension_number),
        assigned_on=sim.today,
    )
    delay = sim.rng.randint(1, 8)
    sim.file(sim.jps, person, payload, delay)
    return delay
