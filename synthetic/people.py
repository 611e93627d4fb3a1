"""The population at go-live: households, people and the cover each one has on the start date.

Look-alike pairs share kana name, birth date and sex but not kanji name or address.
"""

from __future__ import annotations

from datetime import timedelta

from schemas.checkdigits import with_check_digit
from schemas.common import Sex
from schemas.payload import FilerKind
from synthetic.cover import (
    cover_dependant,
    cover_late_stage,
    cover_nhi,
    employ,
    late_stage_of,
    make_employer,
    wanted_pension,
)
from synthetic.data import GIVEN, KUMIAI, KYOKAI, MODERN_FROM_YEAR, PLACES, SURNAMES
from synthetic.engine import Sim
from synthetic.world import (
    STYLES,
    Employer,
    Filer,
    Household,
    Person,
    Style,
    address_in,
    birthday,
)

HEAD_AGES = ((22, 34, 15), (35, 54, 32), (55, 74, 33), (75, 95, 20))
PLACE_WEIGHTS = (3, 5, 4, 3, 3, 3)
PERSONS_PER_EMPLOYER = 40
PERSONS_PER_LOOKALIKE = 100
JPS_STYLE = Style("", address="arabic")
# share employed, by role, below 60 / 60–69 / 70–74
EMPLOYED = {"head": (0.72, 0.45, 0.15), "spouse": (0.45, 0.3, 0.1), "child": (0.7, 0.4, 0.1)}


def set_up_filers(sim: Sim, persons: int) -> None:
    """Municipalities, insurers, the Japan Pension Service and the employers."""
    rng = sim.rng
    for place in PLACES:
        _add(sim, Filer(place.code, FilerKind.MUNICIPALITY))
        for number in (place.insurer, late_stage_of(place)):
            _add(sim, Filer(number, FilerKind.INSURER, rng.choice(STYLES)))
    for body in (*KYOKAI.values(), *(body for body, _ in KUMIAI)):
        _add(sim, Filer(with_check_digit(body), FilerKind.INSURER, rng.choice(STYLES)))
    _add(sim, sim.jps)
    for serial in range(1, max(6, persons // PERSONS_PER_EMPLOYER) + 1):
        sim.employers.append(_employer(sim, serial))
        _add(sim, sim.employers[-1].filer)


def _add(sim: Sim, filer: Filer) -> None:
    """Register `filer`; one prefecture's 75+ union serves several municipalities."""
    known = sim.filers.setdefault(filer.code, filer)
    if known.kind is not filer.kind:
        raise ValueError(f"two kinds of filer share the code {filer.code}")


def _employer(sim: Sim, serial: int) -> Employer:
    pref = sim.rng.choice(sorted(KYOKAI))
    kumiai = [body for body, p in KUMIAI if p == pref]
    if kumiai and sim.rng.random() < 0.35:
        return make_employer(sim.rng, serial, pref, sim.rng.choice(kumiai), True)
    return make_employer(sim.rng, serial, pref, KYOKAI[pref], False)


def build_people(sim: Sim, persons: int) -> list[tuple[Person, Person]]:
    """Households of `persons` people, look-alikes included; returns (original, look-alike)."""
    while len(sim.persons) < persons - persons // PERSONS_PER_LOOKALIKE:
        _household(sim, persons - persons // PERSONS_PER_LOOKALIKE - len(sim.persons))
    adults = [p for p in sim.persons if 20 <= p.age(sim.start) < 65]
    room = min(persons - len(sim.persons), len(adults))
    pairs = [(a, _lookalike(sim, a)) for a in sim.rng.sample(adults, room)]
    while len(sim.persons) < persons:
        _household(sim, persons - len(sim.persons))
    for household in sim.households:
        _cover_household(sim, household)
    return pairs


def _person(
    sim: Sim,
    household: Household,
    name: tuple[tuple[str, str], tuple[str, str] | None],
    age: int,
    sex: Sex,
    role: str,
) -> Person:
    """A new person; `name` is (surname, given name or None for a random one)."""
    born = sim.start - timedelta(days=age * 365 + sim.rng.randint(1, 364))
    given = name[1] or sim.rng.choice(GIVEN[(sex.value, born.year >= MODERN_FROM_YEAR)])
    code = sim.numbers.resident_code()
    person = Person(len(sim.persons), name[0], given, born, sex, household, code, role)
    household.members.append(person)
    sim.persons.append(person)
    return person


def _new_household(sim: Sim) -> Household:
    place = sim.rng.choices(PLACES, weights=PLACE_WEIGHTS)[0]
    household = Household([], place, address_in(sim.rng, place))
    sim.households.append(household)
    return household


def _household(sim: Sim, room: int) -> None:
    rng = sim.rng
    household = _new_household(sim)
    low, high, _ = rng.choices(HEAD_AGES, weights=[w for *_, w in HEAD_AGES])[0]
    age, surname = rng.randint(low, high), rng.choice(SURNAMES)
    sex = Sex.MALE if rng.random() < 0.6 else Sex.FEMALE
    head = _person(sim, household, (surname, None), age, sex, "head")
    couple = rng.random() < (0.3 if age < 30 else 0.68 if age < 75 else 0.45)
    if couple and room > 1:
        other = Sex.FEMALE if sex is Sex.MALE else Sex.MALE
        spouse_age = min(max(age + rng.randint(-6, 4), 20), 98)
        spouse = _person(sim, household, (surname, None), spouse_age, other, "spouse")
        head.spouse, spouse.spouse = spouse, head
    kids = (
        rng.choice((0, 1, 1, 2, 2, 3)) if 25 <= age <= 60 and (couple or rng.random() < 0.3) else 0
    )
    for _ in range(min(kids, room - len(household.members))):
        kid_sex = rng.choice((Sex.MALE, Sex.FEMALE))
        kid_age = rng.randint(0, min(age - 22, 26))
        _person(sim, household, (surname, None), kid_age, kid_sex, "child")
    if 40 <= age <= 62 and len(household.members) < room and rng.random() < 0.08:
        elder_sex = rng.choice((Sex.MALE, Sex.FEMALE))
        elder_age = min(age + rng.randint(25, 34), 99)
        _person(sim, household, (surname, None), elder_age, elder_sex, "parent")


def _lookalike(sim: Sim, original: Person) -> Person:
    """Someone else with the same kana name, birth date and sex, living elsewhere."""
    sex = original.sex.value
    homophones = [
        g
        for g in GIVEN[(sex, False)] + GIVEN[(sex, True)]
        if g[1] == original.given[1] and g[0] != original.given[0]
    ]
    given = sim.rng.choice(homophones) if homophones else original.given
    spellings = [s for s in SURNAMES if s[1] == original.surname[1] and s[0] != original.surname[0]]
    surname = sim.rng.choice(spellings) if spellings and not homophones else original.surname
    twin = _person(sim, _new_household(sim), (surname, given), 30, original.sex, "head")
    twin.born = original.born
    return twin


def _employable(sim: Sim, person: Person) -> bool:
    age = person.age(sim.start)
    if person.role == "parent" or not 18 <= age < 75:
        return False
    if person.role == "child" and age < 22:
        return sim.rng.random() < 0.12
    shares = EMPLOYED[person.role]
    return sim.rng.random() < shares[0 if age < 60 else 1 if age < 70 else 2]


def _cover_household(sim: Sim, household: Household) -> None:
    start, numbers = sim.start, sim.numbers
    for person in household.members:
        if start >= birthday(person.born, 75):
            cover_late_stage(numbers, person)
        elif _employable(sim, person):
            employ(numbers, person, sim.employer())
    for person in household.members:
        if person.cover is None:
            head = _insured_head(household, person)
            if head is not None:
                cover_dependant(numbers, person, head)
            else:
                cover_nhi(numbers, person)
    for person in household.members:
        _pension_and_care(sim, person)


def _insured_head(household: Household, person: Person) -> Person | None:
    """Who in the household can take `person` on as a dependant, if anyone."""
    if person.role == "spouse" or (person.role == "head" and person.spouse is not None):
        candidates = [person.spouse]
    elif person.role in ("child", "parent"):
        candidates = [m for m in household.members if m.role in ("head", "spouse")]
    else:
        candidates = []
    employed = [c for c in candidates if c is not None and c.cover and c.cover.kind == "employee"]
    return employed[0] if employed else None


def _pension_and_care(sim: Sim, person: Person) -> None:
    employed = person.cover is not None and person.cover.kind == "employee"
    if person.age(sim.start) >= 20 or employed:
        person.pension_number = sim.numbers.pension_number()
    person.pension = wanted_pension(person, sim.start)
    if sim.start >= birthday(person.born, 65) - timedelta(days=1):
        person.care_number = sim.numbers.care_number(person.household.place)
