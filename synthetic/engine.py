"""The generator's engine: a calendar of pending events and the outbox of draft filings.

Drafts get their filing time when made and their reference and person token at the end.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate

from schemas.envelope import JST, Filing, new_filing
from schemas.filings import FilingRetracted
from schemas.payload import FilerKind, Payload
from synthetic.cover import Numbers
from synthetic.data import Place
from synthetic.world import Employer, Filer, Household, Person

# (fewest, most) days between the effective date and the filing date, by kind of filer
LATENESS: dict[FilerKind, tuple[int, int]] = {
    FilerKind.EMPLOYER: (1, 5),
    FilerKind.MUNICIPALITY: (1, 14),
    FilerKind.PENSION: (1, 10),
    FilerKind.INSURER: (1, 10),
}
TOKEN_DIGITS = 5  # shorter than any person-level number a token may not contain


@dataclass(eq=False)
class Draft:
    """A filing before its reference and token are known; `retracts` for a 取消."""

    seq: int
    filer: Filer
    person: Person
    occurred_at: datetime
    payload: Payload | None
    retracts: Draft | None = None
    reference: str = ""


def token(counter: int) -> str:
    """`p00123`: a per-filer counter that can never contain a 6-digit number."""
    head, tail = divmod(counter, 10**TOKEN_DIGITS)
    letters = ""
    while head:
        head, rest = divmod(head - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"p{letters}{tail:0{TOKEN_DIGITS}d}"


class Outbox:
    """Collects drafts and turns them into Filings in the order the filers publish them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.drafts: list[Draft] = []

    def _at(self, day: date) -> datetime:
        seconds = self.rng.randrange(8 * 3600 + 30 * 60, 18 * 3600)
        return datetime.combine(day, time(tzinfo=JST)) + timedelta(seconds=seconds)

    def lateness(self, kind: FilerKind) -> int:
        low, high = LATENESS[kind]
        return min(self.rng.randint(low, high), self.rng.randint(low, high))

    def file(
        self, filer: Filer, person: Person, payload: Payload, delay: int | None = None
    ) -> Draft:
        """File `payload` `delay` days (default: the filer's usual lateness) after it applies."""
        effective = payload.effective_on()
        if effective is None:
            raise ValueError("a retraction is filed with retract()")
        days = self.lateness(filer.kind) if delay is None else delay
        draft = Draft(
            len(self.drafts), filer, person, self._at(effective + timedelta(days)), payload
        )
        self.drafts.append(draft)
        return draft

    def file_at(self, filer: Filer, person: Person, payload: Payload, at: datetime) -> Draft:
        """File `payload` at the given time (a correction right after a retraction)."""
        draft = Draft(len(self.drafts), filer, person, at, payload)
        self.drafts.append(draft)
        return draft

    def retract(self, original: Draft, days: int) -> Draft:
        """The filer's 取消 of `original`, `days` after it was filed."""
        at = self._at(original.occurred_at.date() + timedelta(days))
        draft = Draft(len(self.drafts), original.filer, original.person, at, None, original)
        self.drafts.append(draft)
        return draft

    def finalize(self) -> list[Filing]:
        """Filings by filing time (ties: filer code, then creation order), refs and tokens set."""
        ordered = sorted(self.drafts, key=lambda d: (d.occurred_at, d.filer.code, d.seq))
        references: dict[str, int] = {}
        people: dict[str, int] = {}
        tokens: dict[tuple[str, int], str] = {}
        filings = []
        for draft in ordered:
            code = draft.filer.code
            references[code] = references.get(code, 0) + 1
            draft.reference = f"{draft.occurred_at:%Y%m%d}-{references[code]:06d}"
            key = (code, draft.person.pid)
            if key not in tokens:
                people[code] = people.get(code, 0) + 1
                tokens[key] = token(people[code])
            filings.append(_filing(draft, tokens[key]))
        return filings


def _filing(draft: Draft, person_token: str) -> Filing:
    payload = draft.payload
    if draft.retracts is not None:
        payload = FilingRetracted(retracted_filing_reference=draft.retracts.reference)
    if payload is None:
        raise ValueError("a draft without payload must retract another")
    return new_filing(
        payload,
        filer_code=draft.filer.code,
        filing_reference=draft.reference,
        person_token=person_token,
        occurred_at=draft.occurred_at,
    )


Handler = Callable[..., None]


class Calendar:
    """Pending events by (day, priority, creation order); identity changes go first in a day."""

    def __init__(self, start: date, end: date) -> None:
        self.start = start
        self.end = end
        self.today = date.min
        self._queue: list[tuple[date, int, int, Handler, tuple[object, ...]]] = []
        self._seq = 0

    def at(self, day: date, handler: Handler, *args: object, priority: int = 1) -> None:
        """Run `handler(*args)` on `day` if that is after the start and not after the end."""
        if self.start < day <= self.end:
            self._seq += 1
            heapq.heappush(self._queue, (day, priority, self._seq, handler, args))

    def run(self) -> None:
        while self._queue:
            day, _, _, handler, args = heapq.heappop(self._queue)
            self.today = day
            handler(*args)


@dataclass(eq=False)
class Sim:
    """Everything the event handlers share: random source, world, numbers, outbox, calendar."""

    rng: random.Random
    start: date
    end: date
    numbers: Numbers
    out: Outbox
    calendar: Calendar
    jps: Filer
    filers: dict[str, Filer] = field(default_factory=dict)
    employers: list[Employer] = field(default_factory=list)
    households: list[Household] = field(default_factory=list)
    persons: list[Person] = field(default_factory=list)
    _weights: list[float] = field(default_factory=list)
    household_rng: random.Random = field(default_factory=lambda: random.Random(0))
    """The households' own random source (`synthetic.households`): drawing from it leaves every
    other draw, and so the rest of the population, as it was."""
    setai_serials: dict[str, int] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.calendar.today

    def municipality(self, place: Place) -> Filer:
        """The municipality's filer (register notation)."""
        return self.filers[place.code]

    def insurer(self, number: str) -> Filer:
        """The filer of an insurer's own filings (member loads, elections)."""
        return self.filers[number]

    def employer(self, other_than: Employer | None = None) -> Employer:
        """An employer (not `other_than`), larger ones more often."""
        if not self._weights:
            self._weights = list(accumulate(e.weight for e in self.employers))
        while True:
            chosen = self.rng.choices(self.employers, cum_weights=self._weights)[0]
            if chosen is not other_than or len(self.employers) == 1:
                return chosen

    def file(
        self, filer: Filer, person: Person, payload: Payload, delay: int | None = None
    ) -> Draft:
        """File `payload` with the filer's usual lateness, or `delay` days after it applies."""
        return self.out.file(filer, person, payload, delay)

    def at(self, day: date, handler: Handler, *args: object, priority: int = 1) -> None:
        """Run `handler(self, *args)` on `day` (priority 0 for identity changes)."""
        self.calendar.at(day, handler, self, *args, priority=priority)

    def days(self, low: int, high: int) -> date:
        """A random day between `low` and `high` days after the start."""
        return self.start + timedelta(self.rng.randint(low, high))
