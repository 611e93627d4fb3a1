"""What the notification rules know of a person: covers, residences, household memberships.

Plain frozen values the processor folds from LinkChanged v2 and PersonChanged
(`notification_streams.folding`); a retracted link is simply absent. Also the reads every rule
shares and the facts' anomalies."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

MEDICAL, PENSION = "medical", "pension"
NHI = "nhi"
EMPLOYEE_PENSION = "employee_pension"
INSURED, DEPENDANT = "insured", "dependant"
FIRST_DAY, LAST_DAY = date(1870, 1, 1), date(9800, 12, 31)
"""Dates the rules reason about: far enough from date.min/max that age and deadline arithmetic
(75 years, 31 days) cannot overflow; anything outside is an anomaly, never an exception."""


@dataclass(frozen=True, kw_only=True)
class Cover:
    """One link of the person over [valid_from, valid_to) (valid_to exclusive, None = open)."""

    scheme: str
    category: str | None
    capacity: str
    insurer_number: str
    valid_from: date
    valid_to: date | None
    closed_because: str | None = None
    insured_relay_id: str | None = None
    spouse_relay_id: str | None = None
    pension_type: int | None = None
    source_event_id: str

    def contains(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    @property
    def bare_number(self) -> bool:
        """A medical or pension link of no category: the relay knows a number (the basic
        pension number, filed apart from any qualification), which is no cover."""
        return self.scheme in (MEDICAL, PENSION) and self.category is None

    @property
    def empty(self) -> bool:
        """Covers no day: a link ended on its own first day (or a contradiction, valid_to before
        valid_from, which `contradictions` reports)."""
        return self.valid_to is not None and self.valid_to <= self.valid_from


@dataclass(frozen=True, kw_only=True)
class Residence:
    """The municipality the person is registered in over [valid_from, valid_to)."""

    municipality_code: str
    valid_from: date
    valid_to: date | None = None


@dataclass(frozen=True, kw_only=True)
class Household:
    """Membership of a resident household (世帯) over [valid_from, valid_to); the key is opaque."""

    household_token_key: str
    householder: bool
    valid_from: date
    valid_to: date | None = None


@dataclass(frozen=True, kw_only=True)
class Folded:
    """What the fold has taken in, so a replayed or stale message changes nothing (see
    `notification_streams.folding`); no rule reads it. `link_ids` holds only the outbox ids
    folded at `link_version` (one decision's link changes of the person), so it stays small."""

    person_version: int = 0
    link_version: int = 0
    link_ids: frozenset[UUID] = frozenset()
    removed_at: int = 0


@dataclass(frozen=True, kw_only=True)
class PersonFacts:
    relay_id: str
    birth_date: date | None = None
    died_on: date | None = None
    covers: tuple[Cover, ...] = ()
    residences: tuple[Residence, ...] = ()
    households: tuple[Household, ...] = ()
    folded: Folded = Folded()


@dataclass(frozen=True)
class Anomaly:
    """Facts the rules refuse to act on, or an expected change that has not come: for operations,
    never a notice to anybody."""

    code: str
    relay_id: str
    detail: str = ""


def _within(start: date, end: date | None, day: date) -> bool:
    return start <= day and (end is None or day < end)


def covers_on(person: PersonFacts, scheme: str, day: date) -> tuple[Cover, ...]:
    """The person's covers of `scheme` that contain `day` (bare numbers are no cover)."""
    return tuple(c for c in person.covers
                 if c.scheme == scheme and not c.bare_number and c.contains(day))


def covered_on(person: PersonFacts, scheme: str, day: date) -> bool:
    """Whether any cover of `scheme` (any category and capacity, 任意継続 included) holds `day`."""
    return bool(covers_on(person, scheme, day))


def residence_on(person: PersonFacts, day: date) -> Residence | None:
    found = [r for r in person.residences if _within(r.valid_from, r.valid_to, day)]
    return found[0] if len(found) == 1 else None


def household_on(person: PersonFacts, day: date) -> Household | None:
    found = [h for h in person.households if _within(h.valid_from, h.valid_to, day)]
    return found[0] if len(found) == 1 else None


def heads_household(person: PersonFacts, key: str, day: date) -> bool:
    """Whether `person` is the householder (世帯主) of household `key` on `day`."""
    held = household_on(person, day)
    return held is not None and held.householder and held.household_token_key == key


def dead(person: PersonFacts) -> bool:
    """The relay knows the person's death (whatever its date): nothing is addressed to them."""
    return person.died_on is not None


def in_range(day: date | None) -> bool:
    return day is None or FIRST_DAY <= day <= LAST_DAY


def contradictions(person: PersonFacts) -> tuple[Anomaly, ...]:
    """Facts no rule should act on: a period ending before it starts, two overlapping covers of
    one insurer in one category (every pension link is the Japan Pension Service's, so the
    category tells them apart; bare numbers are left out), two residences or households at
    once, dates out of range."""
    found: list[Anomaly] = []
    rid = person.relay_id
    days = [person.birth_date, person.died_on]
    for c in person.covers:
        days += [c.valid_from, c.valid_to]
        if c.valid_to is not None and c.valid_to < c.valid_from:
            found.append(Anomaly("period_reversed", rid, f"{c.scheme}:{c.insurer_number}"))
    for r in (*person.residences, *person.households):
        days += [r.valid_from, r.valid_to]
    if not all(in_range(d) for d in days):
        found.append(Anomaly("date_out_of_range", rid))
    live = sorted((c for c in person.covers if not (c.empty or c.bare_number)), key=_cover_order)
    for i, a in enumerate(live):
        for b in live[i + 1 :]:
            same = (a.scheme, a.insurer_number, a.category) == (
                b.scheme, b.insurer_number, b.category)
            if same and _overlap(a.valid_from, a.valid_to, b.valid_from, b.valid_to):
                found.append(Anomaly("overlapping_covers", rid, f"{a.scheme}:{a.insurer_number}"))
    if _overlapping(person.residences):
        found.append(Anomaly("overlapping_residences", rid))
    if _overlapping(person.households):
        found.append(Anomaly("overlapping_households", rid))
    return tuple(dict.fromkeys(found))


def sane(person: PersonFacts) -> bool:
    return not contradictions(person)


def _cover_order(c: Cover) -> tuple[str, str, date, date, str, str]:
    return (c.scheme, c.insurer_number, c.valid_from, c.valid_to or date.max, c.capacity,
            c.source_event_id)


def _overlap(a0: date, a1: date | None, b0: date, b1: date | None) -> bool:
    return a0 < (b1 or date.max) and b0 < (a1 or date.max)


def _overlapping(periods: Iterable[Residence | Household]) -> bool:
    spans = sorted((p.valid_from, p.valid_to or date.max) for p in periods)
    return any(spans[i][1] > spans[i + 1][0] for i in range(len(spans) - 1))


def other_householder(
    person: PersonFacts, householder: PersonFacts | None, day: date
) -> PersonFacts | None:
    """`householder` when, on `day`, it heads the person's household, is another person than
    them and its death is not known; otherwise None (the person heads it, no household known,
    the facts given are of someone else)."""
    member = household_on(person, day)
    if member is None or member.householder or householder is None:
        return None
    if householder.relay_id == person.relay_id or dead(householder):
        return None
    return householder if heads_household(householder, member.household_token_key, day) else None
