"""What each simulated insurer knows of its members: its own numbers, periods, households, an
income category and some monthly benefits, derived from the synthetic population's filings.

Pure: the insurer's own reading of the filings it received or was told of, with the rules of
DOMAIN §5b/§6 that end a period unfiled (ages, death, 任意継続, a dependant's insured person).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from schemas import Filing
from schemas.common import (
    InsuredNumber,
    PersonReference,
    canonical_insured_number,
    canonical_pension_number,
)

JPS = "JPS"
MEDICAL, CARE, PENSION = "medical", "long_term_care", "pension"
INSURED, DEPENDANT, VOLUNTARY = "insured", "dependant", "voluntary_continuation"
ONE_DAY = timedelta(days=1)
UNDER_70 = ("ア", "イ", "ウ", "ウ", "ウ", "エ", "エ", "オ")
FROM_70 = ("現役並みⅢ", "現役並みⅡ", "現役並みⅠ", "一般", "一般", "一般", "低所得Ⅱ", "低所得Ⅰ")
EMPLOYEE_PENSION, NATIONAL_TYPE1 = "employee_pension", "national_type1"


@dataclass(frozen=True)
class MemberPeriod:
    """One period [valid_from, valid_to) in which `insurer_code` covers its member, named by
    the insurer's own number (`canonical_number`); `household` is an opaque token shared with
    the insured person's dependants (employee insurance) or the resident household (NHI, 75+,
    care); `income_category` is a synthetic 所得区分 label, fixed per member and age band."""

    insurer_code: str
    member_number: str
    scheme: str
    capacity: str
    valid_from: date
    valid_to: date | None
    household: str
    income_category: str


@dataclass(frozen=True)
class BenefitRecord:
    """One month of a member's synthetic benefit data, whole yen."""

    member_number: str
    month: date
    kind: str
    self_pay_yen: int
    benefit_yen: int


def canonical_number(insured_number: InsuredNumber | None = None, care_insured_number: Any = None,
                     basic_pension_number: Any = None) -> str:
    """The member's number as text from a filing's number fields: symbol|number|branch for a
    medical insurer, the 10-digit care insured number, the basic pension number without its
    hyphen. The relay indexes its links by the same text (`schemas.common`)."""
    if insured_number is not None:
        n = insured_number
        return canonical_insured_number(_clear(n.symbol) if n.symbol else None,
                                        _clear(n.number), _clear(n.branch) if n.branch else None)
    if care_insured_number is not None:
        return _clear(care_insured_number)
    if basic_pension_number is not None:
        return canonical_pension_number(_clear(basic_pension_number))
    raise ValueError("no member number given")


def _clear(value: Any) -> str:
    return str(value.reveal() if hasattr(value, "reveal") else value)


def _token(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


Key = tuple[str, str, str, str]  # insurer, scheme, capacity, number


@dataclass
class _Open:
    key: Key
    valid_from: date
    valid_to: date | None
    person: str
    category: str
    household: str
    insured: str | None = None


@dataclass
class _Reading:
    """The filings as read so far: persons joined by the numbers filings give together."""

    parent: dict[str, str] = field(default_factory=dict)
    born: dict[str, date] = field(default_factory=dict)
    died: dict[str, date] = field(default_factory=dict)
    opens: dict[tuple[Key, date], _Open] = field(default_factory=dict)
    losses: dict[Key, set[date]] = field(default_factory=dict)

    def find(self, node: str) -> str:
        while self.parent.setdefault(node, node) != node:
            node = self.parent[node]
        return node

    def join(self, *nodes: str) -> str:
        roots = sorted({self.find(n) for n in nodes})
        for other in roots[1:]:
            self.parent[other] = roots[0]
        return roots[0]

    def ref(self, ref: PersonReference, insurer: str | None) -> str:
        if ref.resident_code is not None:
            return "resident:" + _clear(ref.resident_code)
        if ref.basic_pension_number is not None:
            return "pension:" + canonical_number(basic_pension_number=ref.basic_pension_number)
        if ref.insured_number is not None:
            return f"insured:{insurer}:" + canonical_number(ref.insured_number)
        return f"care:{insurer}:" + canonical_number(care_insured_number=ref.care_insured_number)

    def member(self, insurer: str, scheme: str, capacity: str, number: str,
               ref: PersonReference) -> tuple[Key, str]:
        kind = {MEDICAL: "insured", CARE: "care", PENSION: "pension"}[scheme]
        node = f"pension:{number}" if scheme == PENSION else f"{kind}:{insurer}:{number}"
        self.join(node, self.ref(ref, insurer))
        return (insurer, scheme, capacity, number), node

    def open(self, o: _Open) -> None:
        self.opens[(o.key, o.valid_from)] = o

    def lose(self, key: Key, lost_on: date) -> None:
        self.losses.setdefault(key, set()).add(lost_on)


def _address(items: Any) -> str:
    a = items.address
    return "|".join(_clear(p) if p is not None else "" for p in
                    (a.prefecture, a.municipality, a.town, a.chome, a.banchi, a.go))


def _medical_household(insurer: str, number: InsuredNumber, items: Any) -> str:
    if len(insurer) == 8 and not insurer.startswith("39"):  # employee insurance: 本人 + 被扶養者
        return _token("household", insurer, canonical_number(number).rpartition("|")[0])
    return _token("household", insurer, _address(items))


def _medical(r: _Reading, p: Any, ref: PersonReference, number: InsuredNumber, capacity: str,
             valid_from: date, items: Any, insured: str | None = None,
             valid_to: date | None = None) -> None:
    insurer = _clear(p.insurer_number)
    key, node = r.member(insurer, MEDICAL, capacity, canonical_number(number), ref)
    category = ("nhi" if len(insurer) == 6 else "late" if insurer.startswith("39")
                else "employee")
    r.open(_Open(key, valid_from, valid_to, node, category,
                 _medical_household(insurer, number, items), insured))


def _medical_loss(r: _Reading, p: Any, capacity: str, number: InsuredNumber, lost_on: date,
                  ref: PersonReference) -> None:
    insurer = _clear(p.insurer_number)
    key, _ = r.member(insurer, MEDICAL, capacity, canonical_number(number), ref)
    r.lose(key, lost_on)


def _read(r: _Reading, f: Filing) -> None:
    """One filing's part in what the insurers know, one branch per event type."""
    p, kind = f.payload, f.event_type
    if kind in ("ResidentRegistered", "BirthRegistered", "ArrivalFromAbroadRegistered"):
        r.born.setdefault(r.find("resident:" + _clear(p.resident_code)),
                          p.identity.birth_date.reveal())
    elif kind == "DeathRegistered":
        r.died.setdefault(r.ref(p.person, None), p.died_on)
    elif kind == "BasicPensionNumberAssigned":
        r.join(r.ref(p.person, None),
               "pension:" + canonical_number(basic_pension_number=p.basic_pension_number))
    elif kind in ("PensionQualificationAcquired", "PensionQualificationLost"):
        _pension(r, p)
    elif kind == "EmployeeInsuranceAcquired":
        _medical(r, p, p.person, p.insured_number, INSURED, p.acquired_on, p.identity)
        head = r.find(f"insured:{_clear(p.insurer_number)}:" + canonical_number(p.insured_number))
        for d in p.dependants:
            _medical(r, p, d.person, d.insured_number, DEPENDANT, p.acquired_on, d.identity, head)
    elif kind == "DependantChanged":
        head = r.join(r.ref(p.person, _clear(p.insurer_number)))
        d = p.dependant
        if p.change.value == "added":
            _medical(r, p, d.person, d.insured_number, DEPENDANT, p.changed_on, d.identity, head)
        else:
            _medical_loss(r, p, DEPENDANT, d.insured_number, p.changed_on, d.person)
    elif kind == "MemberLoaded":
        _loaded(r, p)
    elif kind == "VoluntaryContinuationElected":
        _medical(r, p, p.person, p.insured_number, VOLUNTARY, p.lost_on, p.identity)
    elif kind == "VoluntaryContinuationEnded":
        _medical_loss(r, p, VOLUNTARY, p.insured_number, p.lost_on, p.person)
    elif kind in ("EmployeeInsuranceLost", "NhiQualificationLost",
                  "LateStageElderlyQualificationLost"):
        _medical_loss(r, p, INSURED, p.insured_number, p.lost_on, p.person)
    elif kind in ("NhiQualificationAcquired", "LateStageElderlyQualificationAcquired"):
        _medical(r, p, p.person, p.insured_number, INSURED, p.acquired_on, p.identity)
    elif kind in ("LongTermCareQualificationAcquired", "LongTermCareQualificationLost"):
        insurer = _clear(p.insurer_number)
        number = canonical_number(care_insured_number=p.care_insured_number)
        key, node = r.member(insurer, CARE, INSURED, number, p.person)
        if kind.endswith("Acquired"):
            r.open(_Open(key, p.acquired_on, None, node, "care",
                         _token("household", insurer, _address(p.identity))))
        else:
            r.lose(key, p.lost_on)


def _pension(r: _Reading, p: Any) -> None:
    """The Japan Pension Service's qualification periods, by basic pension number."""
    ref = r.ref(p.person, None)
    if not ref.startswith("pension:"):
        return  # named by another number: the pension service files by its own
    key, node = r.member(JPS, PENSION, INSURED, ref.removeprefix("pension:"), p.person)
    if hasattr(p, "acquired_on"):
        r.open(_Open(key, p.acquired_on, None, node, p.category.value,
                     _token("household", JPS, _address(p.identity))))
    else:
        r.lose(key, p.lost_on)


def _loaded(r: _Reading, p: Any) -> None:
    scheme, capacity = p.scheme.value, p.capacity.value
    if scheme == MEDICAL:
        head = None
        if p.insured_person is not None:
            head = r.join(r.ref(p.insured_person.person, _clear(p.insurer_number)))
        _medical(r, p, p.person, p.insured_number, capacity, p.valid_from, p.identity, head,
                 p.valid_to)
    elif scheme == CARE:
        insurer = _clear(p.insurer_number)
        number = canonical_number(care_insured_number=p.care_insured_number)
        key, node = r.member(insurer, CARE, capacity, number, p.person)
        r.open(_Open(key, p.valid_from, p.valid_to, node, "care",
                     _token("household", insurer, _address(p.identity))))


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
    o: _Open
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


def _ends(spans: list[_Span], r: _Reading) -> None:
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


def members_from_filings(filings: Iterable[Filing]) -> dict[str, list[MemberPeriod]]:
    """What each insurer (by its code; the Japan Pension Service as `JPS`) knows of its
    members: acquisitions open a period, losses close it, a 取消 undoes its filing, and the
    ends the law gives without a filing (ages, death, 任意継続's term and cover elsewhere, a
    dependant's insured person's end) close it as the relay's linker does."""
    filings = list(filings)
    retracted = {(f.filer_code, f.payload.retracted_filing_reference) for f in filings
                 if f.event_type == "FilingRetracted"}
    r = _Reading()
    for f in filings:
        undone = (f.filer_code, f.filing_reference) in retracted
        if f.event_type != "FilingRetracted" and not undone:
            _read(r, f)
    born = {r.find(k): v for k, v in r.born.items()}
    died = {r.find(k): v for k, v in r.died.items()}
    spans = [_Span(o, r.find(o.person), None) for o in r.opens.values()]
    _ends(spans, r)
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
    stores: dict[str, list[MemberPeriod]] = {}
    for s in sorted(spans, key=lambda s: (s.o.key, s.o.valid_from)):
        if s.end is not None and s.end <= s.o.valid_from:
            continue
        insurer, scheme, capacity, number = s.o.key
        stores.setdefault(insurer, []).append(MemberPeriod(
            insurer, number, scheme, capacity, s.o.valid_from, s.end, s.o.household,
            _income(insurer, number, born.get(s.person), s.o.valid_from)))
    return stores


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
