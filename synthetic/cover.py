"""Cover and numbers: who is insured where, under which number, and in which pension category.

State changes only; the filings that report them are made by the event handlers.
"""

from __future__ import annotations

import random
from datetime import date

from schemas.checkdigits import with_check_digit
from schemas.common import PensionCategory
from schemas.payload import FilerKind
from synthetic.data import FULL_WIDTH_DIGITS, KUMIAI_SYMBOLS, Place, late_stage_insurer
from synthetic.world import STYLES, Cover, Employer, Filer, InsuredParts, Person


class Numbers:
    """Unique person-level numbers, drawn from the generator's random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.serials: dict[str, int] = {}

    def _fresh(self, digits: int) -> str:
        while True:
            value = str(self.rng.randrange(10 ** (digits - 1), 10**digits))
            if value not in self.used:
                self.used.add(value)
                return value

    def serial(self, scope: str) -> int:
        """The next number of the counter `scope` (1, 2, …)."""
        self.serials[scope] = self.serials.get(scope, 0) + 1
        return self.serials[scope]

    def resident_code(self) -> str:
        """住民票コード: 11 digits."""
        return self._fresh(11)

    def pension_number(self) -> str:
        """基礎年金番号 written 1234-567890."""
        digits = self._fresh(10)
        return f"{digits[:4]}-{digits[4:]}"

    def care_number(self, place: Place) -> str:
        """介護保険被保険者番号: the municipality's 5 digits and a 5-digit serial."""
        return f"{place.code5}{self.serial('care:' + place.code5):05d}"

    def nhi(self, place: Place) -> InsuredParts:
        """NHI: the municipality's kanji symbol, a 7-digit number, branch 01."""
        return (place.nhi_symbol, f"{self.serial('nhi:' + place.code5):07d}", "01")

    def late_stage(self, pref: str) -> InsuredParts:
        """75+ scheme: an 8-digit number without symbol or branch."""
        return (None, f"{pref}{self.serial('late:' + pref):06d}", None)

    def employee(self, employer: Employer) -> InsuredParts:
        """The employer's symbol, the next number under it (full-width for some), branch 00."""
        number = str(self.serial(f"emp:{employer.insurer}:{employer.symbol}"))
        if employer.full_width:
            number = number.zfill(4).translate(FULL_WIDTH_DIGITS)
        return (employer.symbol, number, "00")


def make_employer(
    rng: random.Random, serial: int, pref: str, insurer_body: str, kumiai: bool
) -> Employer:
    """An employer of `pref` whose employees are insured with `insurer_body` + check digit."""
    code = f"E{pref}-{serial:05d}"
    symbol = rng.choice(KUMIAI_SYMBOLS) if kumiai else str(rng.randrange(10**7, 10**8))
    return Employer(
        Filer(code, FilerKind.EMPLOYER, rng.choice(STYLES)),
        with_check_digit(insurer_body),
        symbol,
        kumiai and rng.random() < 0.5,
        rng.paretovariate(1.2),
    )


def late_stage_of(place: Place) -> str:
    """The 75+ scheme insurer number for residents of `place`."""
    return late_stage_insurer(place.pref)


def employ(numbers: Numbers, person: Person, employer: Employer) -> None:
    """Cover `person` as an insured employee of `employer` (numbers kept on re-hire)."""
    scope = employer.filer.code
    if scope not in person.numbers:
        person.numbers[scope] = numbers.employee(employer)
    person.cover = Cover("employee", employer.insurer, scope, employer=employer)


def cover_dependant(numbers: Numbers, person: Person, head: Person) -> None:
    """Cover `person` as a dependant of `head` (same symbol and number, own branch)."""
    cover = head.cover
    if cover is None:
        raise ValueError("a dependant needs an insured head")
    scope = f"{cover.scope}>{head.pid}"
    if scope not in person.numbers:
        symbol, number, _ = head.numbers[cover.scope]
        branch = numbers.serial(f"branch:{cover.scope}:{number}")
        person.numbers[scope] = (symbol, number, f"{branch:02d}")
    person.cover = Cover("dependant", cover.insurer, scope, head, cover.employer)


def cover_nhi(numbers: Numbers, person: Person) -> None:
    """Cover `person` by the NHI of the municipality they live in."""
    place = person.household.place
    if place.insurer not in person.numbers:
        person.numbers[place.insurer] = numbers.nhi(place)
    person.cover = Cover("nhi", place.insurer, place.insurer)


def cover_late_stage(numbers: Numbers, person: Person) -> None:
    """Cover `person` by the 75+ scheme of their prefecture."""
    place = person.household.place
    union = late_stage_of(place)
    if union not in person.numbers:
        person.numbers[union] = numbers.late_stage(place.pref)
    person.cover = Cover("late", union, union)


def wanted_pension(person: Person, on: date) -> PensionCategory | None:
    """The pension category the person should hold on `on` (DOMAIN.md §4, §5b)."""
    age, cover = person.age(on), person.cover
    if cover is not None and cover.kind == "employee" and age < 70:
        return PensionCategory.EMPLOYEE_PENSION
    if not 20 <= age < 60:
        return None
    head = cover.head if cover is not None and cover.kind == "dependant" else None
    employed = head is not None and head.cover is not None and head.cover.kind == "employee"
    if head is not None and head is person.spouse and employed:
        return PensionCategory.NATIONAL_TYPE3
    return PensionCategory.NATIONAL_TYPE1
