"""The simulated world behind the synthetic population: people, households, filers, addresses.

Mutable simulation state; only the generator changes it, in effective-date order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.common import PensionCategory, Sex
from schemas.payload import FilerKind
from synthetic.data import BUILDINGS, Place

ONE_DAY = timedelta(days=1)
RURAL_WEIGHT = 0.4
InsuredParts = tuple[str | None, str, str | None]  # symbol, number, branch


@dataclass(frozen=True)
class Style:
    """How one filer writes identity items and refers to people (all notations the same person)."""

    name_space: str = "\u3000"
    kana: str = "katakana"  # katakana | hiragana | half_width
    standard_kanji: bool = False  # types 高 for 髙 and the like
    address: str = "register"  # register | arabic | full_width | hyphen | town
    by_pension: bool = False  # refers to people by basic pension number when it has one
    by_insured: bool = False  # refers to its own members by insured number on losses
    pension_hyphen: bool = True


REGISTER = Style()
STYLES = (
    Style("", address="arabic", by_pension=True, by_insured=True),
    Style(" ", "hiragana", True, "full_width", by_insured=True, pension_hyphen=False),
    Style("", "half_width", True, "hyphen", by_pension=True),
    Style("\u3000", address="town", by_insured=True),
    Style(" ", standard_kanji=True, address="arabic", by_pension=True, pension_hyphen=False),
)


@dataclass(frozen=True)
class Filer:
    """A filer: its public code, kind and notation."""

    code: str
    kind: FilerKind
    style: Style = REGISTER


@dataclass(frozen=True)
class Employer:
    """An employer (事業主) and the employee health insurer it belongs to."""

    filer: Filer
    insurer: str
    symbol: str
    full_width: bool
    weight: float


@dataclass(frozen=True)
class Address:
    """A structured address; numbers as integers, rendered per filer."""

    prefecture: str
    municipality: str
    town: str
    chome: int | None
    banchi: int
    go: int | None
    building: str | None


@dataclass(eq=False)
class Cover:
    """Medical cover: employee, dependant, nhi, late (75+) or vc (voluntary continuation)."""

    kind: str
    insurer: str
    scope: str  # the key of the insured number in Person.numbers
    head: Person | None = None
    employer: Employer | None = None
    since: date | None = None  # an employee's acquisition date; None: from go-live


@dataclass(eq=False)
class Household:
    """People sharing one address in one municipality."""

    members: list[Person]
    place: Place
    address: Address


@dataclass(eq=False)
class Person:
    """One person, as the simulation knows them today."""

    pid: int
    surname: tuple[str, str]
    given: tuple[str, str]
    born: date
    sex: Sex
    household: Household
    resident_code: str
    role: str = "head"  # head | spouse | child | parent
    spouse: Person | None = None
    pension_number: str | None = None
    pension: PensionCategory | None = None
    cover: Cover | None = None
    care_number: str | None = None
    died: date | None = None
    numbers: dict[str, InsuredParts] = field(default_factory=dict)
    setai: str | None = None  # the municipality's token of the person's 世帯 (resident household)
    householder: bool = False  # whether the person is its 世帯主

    @property
    def alive(self) -> bool:
        return self.died is None

    def age(self, on: date) -> int:
        """Age under Japanese law: an age is reached the day before the birthday."""
        day = on + ONE_DAY
        return day.year - self.born.year - ((day.month, day.day) < (self.born.month, self.born.day))

    def dependants(self) -> list[Person]:
        """The living people covered as this person's dependants."""
        return [
            p
            for p in self.household.members
            if p.alive and p.cover is not None and p.cover.head is self
        ]


def birthday(born: date, age: int) -> date:
    """The `age`-th birthday; 29 February is 1 March in common years."""
    try:
        return born.replace(year=born.year + age)
    except ValueError:
        return date(born.year + age, 3, 1)


def address_in(rng: random.Random, place: Place) -> Address:
    """A random address in `place`; fewer people live in the rural 大字."""
    weights = [RURAL_WEIGHT if name.startswith("大字") else 1 for name, _ in place.towns]
    name, chomes = rng.choices(place.towns, weights)[0]
    building = rng.choice(BUILDINGS) if rng.random() < 0.35 else None
    room = f"{rng.randint(1, 9)}0{rng.randint(1, 8)}"
    return Address(
        place.prefecture,
        place.name,
        name,
        rng.randint(1, chomes) if chomes else None,
        rng.randint(1, 40) if chomes else rng.randint(100, 2999),
        rng.randint(1, 30) if chomes else None,
        f"{building}{room}" if building else None,
    )
