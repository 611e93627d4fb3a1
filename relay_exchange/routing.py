"""The relay's decision about each person of an insurer's request, as plain data: forwarded to
which insurers under which of their numbers, or refused with its reason.

Pure: the links, the suspect flag and the policy come in as values; the router only moves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from relay_exchange.policy import Policy, Span, asker_role, reference_date, span_days
from schemas.exchange_terms import DataCategory, ExchangeScheme, ForwardRefusal, Purpose

COVERING_SCHEMES = {
    ExchangeScheme.MEDICAL: "medical",
    ExchangeScheme.LONG_TERM_CARE: "long_term_care",
    ExchangeScheme.PENSION: "pension",
}
"""The link scheme whose insurers a request of each exchange scheme reaches."""


@dataclass(frozen=True)
class Link:
    """One of the person's links, as the router needs it: who, under which number (its kind,
    blind index and sealed form, never in clear), in which scheme and period (half-open)."""

    scheme: str
    insurer: str
    number_kind: str
    number_index: bytes
    number_sealed: bytes | None
    valid_from: date
    valid_to: date | None
    retracted: bool = False

    def covers(self, day: date) -> bool:
        return (not self.retracted and self.valid_from <= day
                and (self.valid_to is None or day < self.valid_to))

    def overlaps(self, first: date, last: date) -> bool:
        """Whether the link covers any day of the inclusive span first..last."""
        return (not self.retracted and self.valid_from <= last
                and (self.valid_to is None or first < self.valid_to))


@dataclass(frozen=True)
class Person:
    """Whoever the asker's number names: their links and whether an identity anomaly about
    them is still open (a suspect link is never used to route)."""

    links: tuple[Link, ...]
    suspect: bool = False


@dataclass(frozen=True)
class Ask:
    """What a request asks, as the router judges it (one per request)."""

    asker: str
    scheme: ExchangeScheme
    category: DataCategory
    purpose: Purpose
    as_of: date | None
    period: tuple[date, date] | None

    @property
    def span(self) -> tuple[date, date]:
        if self.period is not None:
            return self.period
        assert self.as_of is not None
        return (self.as_of, self.as_of)


@dataclass(frozen=True)
class Provider:
    """An insurer reached: its code and the number it knows the person by (kind, sealed)."""

    code: str
    number_kind: str
    number_sealed: bytes


@dataclass(frozen=True)
class Decision:
    """Forwarded to `providers` under policy row `policy_row`, or refused for `refusal`."""

    refusal: ForwardRefusal | None = None
    providers: tuple[Provider, ...] = field(default_factory=tuple)
    policy_row: str | None = None

    @property
    def forwarded(self) -> bool:
        return self.refusal is None


def refused(reason: ForwardRefusal) -> Decision:
    return Decision(refusal=reason)


def decide_entry(ask: Ask, number: tuple[str, bytes], person: Person | None,
                 policy: Policy) -> Decision:
    """The decision about one person of `ask`, named by the asker's number `number` (its kind
    and blind index), who is `person` (None when the relay knows no one by that number).

    In order: an unknown number; the asker not covering the person under that number on the
    request's reference date (an insurer asks only about its members); the purpose policy for
    the asker's role (the scheme it covers the person in); an open identity anomaly ("verify
    identity at the counter"); nobody else of the scheme covering the person in the span.

    A number of a kind every participant could hold (the basic pension number, not scoped to
    the asker) is refused "not_member" whether the relay knows it or not, so the refusal tells
    no asker whether such a number belongs to someone."""
    if person is None:
        scoped = number[0].endswith(f":{ask.asker}")
        return refused(ForwardRefusal.UNKNOWN_NUMBER if scoped else ForwardRefusal.NOT_MEMBER)
    on = reference_date(ask.purpose, ask.as_of, ask.period)
    own = sorted((lk for lk in person.links
                  if lk.insurer == ask.asker and (lk.number_kind, lk.number_index) == number
                  and lk.covers(on)), key=lambda lk: (lk.valid_from, lk.scheme))
    if not own:
        return refused(ForwardRefusal.NOT_MEMBER)
    role = asker_role(own[-1].scheme)
    first, last = ask.span
    span = Span.PERIOD if ask.period is not None else Span.AS_OF
    row = None if role is None else policy.allowing(role, ask.scheme, ask.category,
                                                    ask.purpose, span, span_days(first, last))
    if row is None:
        return refused(ForwardRefusal.PURPOSE_NOT_ALLOWED)
    if person.suspect:
        return refused(ForwardRefusal.VERIFY_IDENTITY)
    latest: dict[str, Link] = {}
    for lk in sorted(person.links, key=lambda lk: (lk.valid_from, lk.number_kind)):
        if (lk.scheme == COVERING_SCHEMES[ask.scheme] and lk.insurer != ask.asker
                and lk.number_sealed is not None and lk.overlaps(first, last)):
            latest[lk.insurer] = lk
    if not latest:
        return refused(ForwardRefusal.NOBODY_COVERED)
    providers = tuple(Provider(code, lk.number_kind, lk.number_sealed)  # type: ignore[arg-type]
                      for code, lk in sorted(latest.items()))
    return Decision(providers=providers, policy_row=row.row)


def rate_allows(counted: int, persons: int, limit: int) -> bool:
    """Whether `persons` more fit in the hour's allowance of `limit` after `counted`."""
    return counted + persons <= limit
