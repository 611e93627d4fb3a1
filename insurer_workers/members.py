"""What each simulated insurer knows of its members: its own numbers, periods, households, an
income category and some monthly benefits, derived from the synthetic population's filings.

Pure: the insurer's own reading of the filings it received or was told of, with the rules of
DOMAIN §5b/§6 that end a period unfiled (ages, death, 任意継続, a dependant's insured person).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from insurer_workers.member_reading import (
    CARE,
    DEPENDANT,
    INSURED,
    MEDICAL,
    PENSION,
    VOLUNTARY,
    Key,
    Opened,
    Reading,
    canonical_number,
    read,
)
from schemas import Filing

__all__ = ["BenefitRecord", "MemberPeriod", "benefits_for", "canonical_number",
           "members_from_filings"]

ONE_DAY = timedelta(days=1)
UNDER_70 = ("ア", "イ", "ウ", "ウ", "ウ", "エ", "エ", "オ")
FROM_70 = ("現役並みⅢ", "現役並みⅡ", "現役並みⅠ", "一般", "一般", "一般", "低所得Ⅱ", "低所得Ⅰ")
EMPLOYEE_PENSION, NATIONAL_TYPE1 = "employee_pension", "national_type1"


@dataclass(frozen=True)
class MemberPeriod:
    """One period [valid_from, valid_to) in which `insurer_code` covers its member, named by
    the insurer's own number (`canonical_number`); `household` is an opaque token shared with
    the insured person's dependants (employee insurance) or the resident household (NHI, 75+,
    care); `income_category` is a synthetic 所得区分 label, fixed per member and age band;
    `birth_date` and `died_on` as the filings give them (the 合算's age bands and base date)."""

    insurer_code: str
    member_number: str
    scheme: str
    capacity: str
    valid_from: date
    valid_to: date | None
    household: str
    income_category: str
    birth_date: date | None = None
    died_on: date | None = None


@dataclass(frozen=True)
class BenefitRecord:
    """One month of a member's synthetic benefit data, whole yen."""

    member_number: str
    month: date
    kind: str
    self_pay_yen: int
    benefit_yen: int


def _birthday(born: date, age: int) -> date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:
        return date(born.year + age, 3, 1)


def _age(born: date, on: date) -> int:
    day = on + ONE_DAY
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _term_end(valid_from: date) -> date:
    """任意継続's two years (健保法38条1号): the same day two years on."""
    return _birthday(valid_from, 2)


def _income(insurer: str, number: str, born: date | None, on: date) -> str:
    labels = FROM_70 if born is not None and _age(born, on) >= 70 else UNDER_70
    return labels[int(_token("income", insurer, number), 16) % len(labels)]


@dataclass
class _Span:
    o: Opened
    person: str
    end: date | None


def _bound(s: _Span, born: dict[str, date], head_born: date | None) -> date | None:
    """The end the rules give at opening (DOMAIN §5b, 健保法38条)."""
    _, scheme, capacity, _ = s.o.key
    bounds = [s.o.valid_to] if s.o.valid_to else []
    mine = born.get(s.person)
    if scheme == MEDICAL and s.o.category != "late" and mine is not None:
        bounds.append(_birthday(mine, 75))
    if scheme == MEDICAL and capacity == DEPENDANT and head_born is not None:
        bounds.append(_birthday(head_born, 75))
    if s.o.category == EMPLOYEE_PENSION and mine is not None:
        bounds.append(_birthday(mine, 70) - ONE_DAY)
    if s.o.category == NATIONAL_TYPE1 and mine is not None:
        bounds.append(_birthday(mine, 60) - ONE_DAY)
    if capacity == VOLUNTARY:
        bounds.append(_term_end(s.o.valid_from))
    return min(bounds, default=None)


def _ends(spans: list[_Span], r: Reading) -> None:
    """Each loss closes the latest period of its number that started before it."""
    by_key: dict[Key, list[_Span]] = {}
    for s in sorted(spans, key=lambda s: s.o.valid_from):
        by_key.setdefault(s.o.key, []).append(s)
    for key, held in by_key.items():
        for lost_on in r.losses.get(key, ()):
            started = [s for s in held if s.o.valid_from < lost_on]
            if started:
                target = started[-1]
                target.end = min(lost_on, target.end or date.max)


def _earliest(*ends: date | None) -> date | None:
    return min((e for e in ends if e is not None), default=None)


def _insured_end(spans: list[_Span], d: _Span, head: str) -> date | bool | None:
    """Where the insured person's cover at the dependant's insurer ends, through 任意継続;
    False when it does not cover the dependant's first day."""
    mine = [s for s in spans if s.person == head and s.o.key[2] != DEPENDANT
            and s.o.key[:2] == d.o.key[:2]]
    on = d.o.valid_from
    covering = [s for s in mine if s.o.valid_from <= on and (s.end is None or on < s.end)]
    if not covering:
        return False
    held = max(covering, key=lambda s: s.o.valid_from)
    while held.end is not None:
        after = [s for s in mine if s.o.key[2] == VOLUNTARY and s.o.valid_from == held.end
                 and s is not held]
        if not after:
            break
        held = after[0]
    return held.end


def _unfiled_ends(spans: list[_Span], r: Reading, born: dict[str, date]) -> None:
    """The ends the law gives without a filing of this insurer: the bounds at opening, death
    + 1, 任意継続 on cover elsewhere, a dependant's with their insured person's cover."""
    died = {r.find(k): v for k, v in r.died.items()}
    for s in spans:
        head_born = born.get(r.find(s.o.insured)) if s.o.insured else None
        death = died.get(s.person)
        after_death = death + ONE_DAY if death is not None and s.o.valid_from <= death else None
        s.end = _earliest(s.end, _bound(s, born, head_born), after_death)
    for s in spans:
        if s.o.key[2] == VOLUNTARY:
            elsewhere = [x.o.valid_from for x in spans if x.person == s.person
                         and x.o.key[1:3] == (MEDICAL, INSURED)
                         and x.o.category in ("employee", "late")
                         and s.o.valid_from < x.o.valid_from < (s.end or date.max)]
            s.end = _earliest(s.end, *elsewhere)
    for s in spans:
        if s.o.key[2] == DEPENDANT and s.o.insured is not None:
            ends = _insured_end(spans, s, r.find(s.o.insured))
            if ends is not False:
                s.end = _earliest(s.end, ends)  # type: ignore[arg-type]


def members_from_filings(filings: Iterable[Filing]) -> dict[str, list[MemberPeriod]]:
    """What each insurer (by its code; the Japan Pension Service as `JPS`) knows of its
    members: acquisitions open a period, losses close it, a 取消 undoes its filing, and the
    ends the law gives without a filing (ages, death, 任意継続's term and cover elsewhere, a
    dependant's insured person's end) close it as the relay's linker does."""
    filings = list(filings)
    retracted = {(f.filer_code, f.payload.retracted_filing_reference) for f in filings
                 if f.event_type == "FilingRetracted"}
    r = Reading()
    for f in filings:
        undone = (f.filer_code, f.filing_reference) in retracted
        if f.event_type != "FilingRetracted" and not undone:
            read(r, f)
    born = {r.find(k): v for k, v in r.born.items()}
    spans = [_Span(o, r.find(o.person), None) for o in r.opens.values()]
    _ends(spans, r)
    _unfiled_ends(spans, r, born)
    households = _households(r)
    died = {r.find(k): v for k, v in r.died.items()}
    stores: dict[str, list[MemberPeriod]] = {}
    for s in sorted(spans, key=lambda s: (s.o.key, s.o.valid_from)):
        if s.end is not None and s.end <= s.o.valid_from:
            continue
        insurer, scheme, capacity, number = s.o.key
        stores.setdefault(insurer, []).append(MemberPeriod(
            insurer, number, scheme, capacity, s.o.valid_from, s.end,
            households[(insurer, s.o.household)],
            _income(insurer, number, born.get(s.person), s.o.valid_from),
            born.get(s.person), died.get(s.person)))
    return stores


def _token(*parts: str) -> str:
    """A stable draw from `parts` (a label's choice, a random source's seed); never stored."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _households(r: Reading) -> dict[tuple[str, str], str]:
    """Each insurer's households numbered h00001, h00002, … in the order its filings name
    them: an opaque token that says nothing of the number or address behind it."""
    tokens: dict[tuple[str, str], str] = {}
    counts: dict[str, int] = {}
    for o in r.opens.values():
        insurer = o.key[0]
        if (insurer, o.household) not in tokens:
            counts[insurer] = counts.get(insurer, 0) + 1
            tokens[(insurer, o.household)] = f"h{counts[insurer]:05d}"
    return tokens


KINDS = {MEDICAL: "high_cost_medical", CARE: "care_service", PENSION: "pension_paid"}


def _months(p: MemberPeriod) -> list[date]:
    first = p.valid_from.replace(day=1)
    last = (p.valid_to - ONE_DAY) if p.valid_to else p.valid_from + timedelta(days=365)
    months, day = [], first
    while day <= last:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def benefits_for(members: list[MemberPeriod], seed: int) -> list[BenefitRecord]:
    """A few synthetic monthly records per member, within their periods: self-pay and benefit
    in whole yen, the same for the same members and seed."""
    records: dict[tuple[str, date, str], BenefitRecord] = {}
    for p in sorted(members, key=lambda p: (p.member_number, p.scheme, p.valid_from)):
        rng = random.Random(_token("benefits", str(seed), p.insurer_code, p.member_number,
                                   p.scheme, p.valid_from.isoformat()))
        months = _months(p)
        for month in sorted(rng.sample(months, min(len(months), rng.randint(0, 3)))):
            kind = KINDS[p.scheme]
            if kind == "pension_paid":  # a pension paid: no self-pay
                self_pay, benefit = 0, rng.randrange(50_000, 300_000, 100)
            else:  # the copay, and what the insurer paid on top
                self_pay = rng.randrange(1_000, 120_000, 10)
                benefit = self_pay * rng.randint(2, 9)
            records.setdefault((p.member_number, month, kind), BenefitRecord(
                p.member_number, month, kind, self_pay, benefit))
    return sorted(records.values(), key=lambda b: (b.member_number, b.month, b.kind))
