"""How an insurer reads the filings about its members: who each filing is about (persons
joined by the numbers a filing gives together), and which periods it opens or closes.

Pure; `members` turns what is read here into each insurer's member periods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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


Key = tuple[str, str, str, str]  # insurer, scheme, capacity, number


@dataclass
class Opened:
    """A period as a filing opened it; `household` is what the household is told by (the
    insured number dependants share, or the address filed), never stored as it is."""

    key: Key
    valid_from: date
    valid_to: date | None
    person: str
    category: str
    household: str
    insured: str | None = None


@dataclass
class Reading:
    """The filings as read so far: persons joined by the numbers filings give together."""

    parent: dict[str, str] = field(default_factory=dict)
    born: dict[str, date] = field(default_factory=dict)
    died: dict[str, date] = field(default_factory=dict)
    opens: dict[tuple[Key, date], Opened] = field(default_factory=dict)
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

    def open(self, o: Opened) -> None:
        self.opens[(o.key, o.valid_from)] = o

    def lose(self, key: Key, lost_on: date) -> None:
        self.losses.setdefault(key, set()).add(lost_on)


def _address(items: Any) -> str:
    a = items.address
    return "|".join(_clear(p) if p is not None else "" for p in
                    (a.prefecture, a.municipality, a.town, a.chome, a.banchi, a.go))


def _medical_household(insurer: str, number: InsuredNumber, items: Any) -> str:
    if len(insurer) == 8 and not insurer.startswith("39"):  # employee insurance: 本人 + 被扶養者
        return "insured\x1f" + canonical_number(number).rpartition("|")[0]
    return "address\x1f" + _address(items)


def _medical(r: Reading, p: Any, ref: PersonReference, number: InsuredNumber, capacity: str,
             valid_from: date, items: Any, insured: str | None = None,
             valid_to: date | None = None) -> None:
    insurer = _clear(p.insurer_number)
    key, node = r.member(insurer, MEDICAL, capacity, canonical_number(number), ref)
    category = ("nhi" if len(insurer) == 6 else "late" if insurer.startswith("39")
                else "employee")
    r.open(Opened(key, valid_from, valid_to, node, category,
                 _medical_household(insurer, number, items), insured))


def _medical_loss(r: Reading, p: Any, capacity: str, number: InsuredNumber, lost_on: date,
                  ref: PersonReference) -> None:
    insurer = _clear(p.insurer_number)
    key, _ = r.member(insurer, MEDICAL, capacity, canonical_number(number), ref)
    r.lose(key, lost_on)


def read(r: Reading, f: Filing) -> None:
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
            r.open(Opened(key, p.acquired_on, None, node, "care",
                         "address\x1f" + _address(p.identity)))
        else:
            r.lose(key, p.lost_on)


def _pension(r: Reading, p: Any) -> None:
    """The Japan Pension Service's qualification periods, by basic pension number."""
    ref = r.ref(p.person, None)
    if not ref.startswith("pension:"):
        return  # named by another number: the pension service files by its own
    key, node = r.member(JPS, PENSION, INSURED, ref.removeprefix("pension:"), p.person)
    if hasattr(p, "acquired_on"):
        r.open(Opened(key, p.acquired_on, None, node, p.category.value,
                     "address\x1f" + _address(p.identity)))
    else:
        r.lose(key, p.lost_on)


def _loaded(r: Reading, p: Any) -> None:
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
        r.open(Opened(key, p.valid_from, p.valid_to, node, "care",
                     "address\x1f" + _address(p.identity)))
