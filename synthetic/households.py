"""Resident households (世帯) as the municipalities keep them: tokens, householders, changes.

Drawn from a random source of its own (`Sim.household_rng`), so the rest of the population is
what it was before households were filed; a household's token is its municipality's own."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from schemas.envelope import JST
from schemas.municipality import Household as FiledHousehold
from schemas.municipality import HouseholdChange, HouseholdChanged
from schemas.secret import SecretNumber
from synthetic.data import Place
from synthetic.engine import Sim
from synthetic.render import by_resident, identity
from synthetic.world import REGISTER, Person

P_SEPARATION = 0.15
"""A grown child's chance of a 世帯分離 (moving out to a household of their own, or marrying)
over the simulated months."""
SEPARATING_AGES = range(18, 35)


def new_token(sim: Sim, place: Place) -> str:
    """The municipality's next household token: its own serial, opaque to everyone else."""
    serial = sim.setai_serials.get(place.code, 0) + 1
    sim.setai_serials[place.code] = serial
    return f"SETAI-{place.code}-{serial:05d}"


def form_households(sim: Sim) -> None:
    """At go-live each dwelling is one 世帯 whose head is the householder."""
    for household in sim.households:
        token = new_token(sim, household.place)
        for person in household.members:
            person.setai, person.householder = token, person.role == "head"


def filed(person: Person) -> FiledHousehold | None:
    """The person's household as the municipality files it."""
    if person.setai is None:
        return None
    return FiledHousehold(token=SecretNumber(person.setai), householder=person.householder)


def born_into(baby: Person, mother: Person) -> None:
    """A baby joins the mother's household as a member."""
    baby.setai, baby.householder = mother.setai, False


def moved_to(sim: Sim, members: list[Person], place: Place) -> None:
    """転入: the new municipality gives each household moving in a token of its own."""
    tokens: dict[str | None, str] = {}
    for person in members:
        if person.setai not in tokens:
            tokens[person.setai] = new_token(sim, place)
        person.setai = tokens[person.setai]


def plan_households(sim: Sim) -> None:
    """Some grown children leave their parents' household (世帯分離) on a day of the months."""
    rng, span = sim.household_rng, (sim.end - sim.start).days
    for person in sim.persons:
        grown = person.role == "child" and person.age(sim.start) in SEPARATING_AGES
        if grown and rng.random() < P_SEPARATION:
            sim.at(sim.start + timedelta(rng.randint(1, span)), separate, person)


def separate(sim: Sim, person: Person) -> None:
    """世帯分離: the person becomes the householder of a household of their own."""
    sharing = [p for p in person.household.members if p.alive and p.setai == person.setai]
    if not person.alive or person.householder or len(sharing) < 2:
        return
    person.setai, person.householder = new_token(sim, person.household.place), True
    _file(sim, person, HouseholdChange.SEPARATION)


def householder_died(sim: Sim, dead: Person) -> None:
    """The day after a householder's death another member becomes householder (世帯主変更):
    the spouse, else the eldest member of the household."""
    if not dead.householder or dead.setai is None:
        return
    dead.householder = False
    heirs = [p for p in dead.household.members if p.alive and p.setai == dead.setai]
    if not heirs:
        return
    spouse = [p for p in heirs if p is dead.spouse]
    heir = spouse[0] if spouse else min(heirs, key=lambda p: (p.born, p.pid))
    heir.householder = True
    _file(sim, heir, HouseholdChange.HOUSEHOLDER_CHANGE)


def _file(sim: Sim, person: Person, kind: HouseholdChange) -> None:
    """HouseholdChanged from today, filed 1 to 14 days later at an office hour."""
    household = filed(person)
    assert household is not None
    filer = sim.municipality(person.household.place)
    payload = HouseholdChanged(
        person=by_resident(person),
        identity=identity(person, REGISTER),
        kind=kind,
        household=household,
        changed_on=sim.today,
    )
    rng = sim.household_rng
    day = sim.today + timedelta(rng.randint(1, 14))
    seconds = rng.randrange(8 * 3600 + 30 * 60, 18 * 3600)
    at = datetime.combine(day, time(tzinfo=JST)) + timedelta(seconds=seconds)
    sim.out.file_at(filer, person, payload, at)

