"""Valid filings that are wrong in the way real ones are: typos, look-alikes, strays, 取消.

About 2% of all filings; nothing marks them, the relay has to find out by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from schemas.common import IdentityItems
from schemas.employer import EmployeeInsuranceAcquired, EmployeeInsuranceLost
from schemas.payload import Payload
from synthetic.data import GIVEN
from synthetic.engine import Sim
from synthetic.render import by_number, by_resident, identity, insured_number
from synthetic.world import Filer, Person, Style

P_TYPO = 0.1  # an employer filing with one identity item mistyped, refiled after refusal
P_LOAD_TYPO = 0.02  # the same in an insurer's member load at go-live
P_PENSION_TYPO = 0.01  # ... and in the pension service's load
P_RETRACTED = 0.04  # an employer filing with a wrong date, retracted and filed again
P_NHI_KEPT = 0.15  # a new employee who never leaves NHI (double enrolment)
P_NHI_LATE_LOSS = 0.08  # ... whose NHI loss (still dated D + 1) is told weeks late
P_NEW_ADDRESS = 0.25  # a hire filed with the new address before the move is registered
P_OLD_ADDRESS = 0.3  # a loss filed late with the old address after the move is registered
P_AFTER_DEATH = 0.4  # the employer files a month-end loss for an employee who died
PERSONS_PER_STRAY_LOSS = 150  # an employer files a loss for someone it never enrolled

Make = Callable[[IdentityItems, int], Payload]  # (identity items, days the dates are off)
_SMALL_KANA = str.maketrans("ャュョッァィゥェォ", "ヤユヨツアイウエオ")
_LOOK_SIMILAR = str.maketrans("郎太子美裕優和", "朗大了実祐憂知")


def file_checked(
    sim: Sim,
    filer: Filer,
    person: Person,
    make: Make,
    delay: int | None = None,
    shiftable: bool = True,
    typo: float = P_TYPO,
) -> None:
    """File a payload; now and then first with a typo (refiled) or a wrong date (retracted)."""
    rng = sim.rng
    right = identity(person, filer.style)
    roll = rng.random()
    if roll < typo:
        first = delay or rng.randint(1, 3)
        sim.file(filer, person, make(mistyped(sim, person, filer.style), 0), first)
        sim.file(filer, person, make(right, 0), first + rng.randint(3, 6))
    elif roll < typo + P_RETRACTED and shiftable:
        off, first = rng.randint(1, 3), rng.randint(1, 4)
        wrong = sim.file(filer, person, make(right, -off), first + off)
        retraction = sim.out.retract(wrong, rng.randint(1, 3))
        at = retraction.occurred_at + timedelta(minutes=rng.randint(5, 90))
        sim.out.file_at(filer, person, make(right, 0), at)
    else:
        sim.file(filer, person, make(right, 0), delay)


def mistyped(sim: Sim, person: Person, style: Style) -> IdentityItems:
    """`person`'s identity items with exactly one of them mistyped."""
    kind = sim.rng.choice(("kana", "kanji", "birth_date", "address"))
    if kind == "address":
        address = person.household.address
        return identity(person, style, replace(address, banchi=address.banchi + 1))
    if kind == "birth_date":
        days = sim.rng.choice((1, 10, 365))
        return identity(replace(person, born=person.born - timedelta(days)), style)
    kanji, kana = person.given
    if kind == "kanji":
        return identity(replace(person, given=(_wrong_kanji(kanji, kana), kana)), style)
    return identity(replace(person, given=(kanji, _wrong_kana(kana))), style)


def _wrong_kanji(kanji: str, kana: str) -> str:
    homophones = [k for names in GIVEN.values() for k, r in names if r == kana and k != kanji]
    if homophones:
        return homophones[0]
    similar = kanji.translate(_LOOK_SIMILAR)
    return similar if similar != kanji else f"{kanji[:-1]}之"


def _wrong_kana(kana: str) -> str:
    enlarged = kana.translate(_SMALL_KANA)
    if enlarged != kana:
        return enlarged
    if "ー" in kana:
        return kana.replace("ー", "", 1)
    last = ord(kana[-1])
    return kana[:-1] + chr(last + 1 if last < ord("ヶ") else last - 1)


def hire_lookalike(sim: Sim, original: Person, twin: Person) -> None:
    """A hire of `twin` filed under `original`'s resident code (found by three items)."""
    if not (original.alive and twin.alive) or twin.age(sim.today) >= 75:
        return
    employer = sim.employer()
    payload = EmployeeInsuranceAcquired(
        person=by_resident(original),
        identity=identity(twin, employer.filer.style),
        insurer_number=employer.insurer,
        insured_number=insured_number(sim.numbers.employee(employer)),
        acquired_on=sim.today,
    )
    sim.file(employer.filer, twin, payload)


def stray_loss(sim: Sim, person: Person) -> None:
    """A loss filed by an employer that never enrolled `person` (no acquisition to end)."""
    cover = person.cover
    if not person.alive or (cover is not None and cover.kind == "employee"):
        return
    employer = sim.employer()
    today: date = sim.today
    payload = EmployeeInsuranceLost(
        person=by_number(person, employer.filer.style),
        identity=identity(person, employer.filer.style),
        insurer_number=employer.insurer,
        insured_number=insured_number(sim.numbers.employee(employer)),
        last_day_of_employment=today - timedelta(days=1),
        lost_on=today,
    )
    sim.file(employer.filer, person, payload)
