"""Voluntary continuation (任意継続, DOMAIN §6): who may elect it, its window, and its own ends.

Needs two months of cover as an insured person (健保法3条4項); ends after two years, or when
the person is insured elsewhere (健保法38条); the window's last day comes on the command."""

import calendar
from collections.abc import Iterable
from datetime import date

from relay_linker.domain.commands import Election, LinkerRecord, LinkSpec
from relay_linker.domain.effects import AnomalyRecorded, Effect, LinkClosed
from relay_linker.domain.ids import anomaly_id
from relay_linker.domain.model import FILED_ENDS, Anomaly, Closure, Link

VOLUNTARY = "voluntary_continuation"
EMPLOYEE = "employee_insurance"
LATE_STAGE = "late_stage_elderly"
LATE_ELECTION = "late_voluntary_continuation"
TERM = "voluntary_continuation_term"
INSURED_ELSEWHERE = "insured_elsewhere"
NOT_QUALIFYING_LAW_CODES = ("03", "04", "31", "32", "33", "34")
"""日雇特例 (03, 04) and the mutual-aid associations 共済 (31–34): not cover that qualifies."""


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier, or that month's last day when it has no such day."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _qualifies(link: Link) -> bool:
    return (
        link.scheme == "medical"
        and link.category == EMPLOYEE
        and link.capacity == "insured"
        and not link.retracted
        and link.insurer_number[:2] not in NOT_QUALIFYING_LAW_CODES
    )


def continuous_from(links: Iterable[Link], lost_on: date) -> date:
    """The first day of the unbroken cover as an insured person that reaches `lost_on - 1`;
    `lost_on` itself when that day was not covered."""
    spans = [(x.valid_from, x.valid_to) for x in links if _qualifies(x)]
    start = lost_on
    while earlier := [a for a, b in spans if a < start and (b is None or b >= start)]:
        start = min(earlier)
    return start


def eligible(links: Iterable[Link], lost_on: date) -> bool:
    """At least two months of continuous cover as an insured person (本人) of employee health
    insurance up to the day before the loss (健保法3条4項); cover as a dependant, in 任意継続
    itself, as a 日雇特例 or 共済 member does not count."""
    return continuous_from(links, lost_on) <= months_before(lost_on, 2)


def late_election(
    record: LinkerRecord, position: int, relay_id: str, election: Election
) -> list[Effect]:
    """An application after its window (健保法37条) is the insurer's to accept: recorded, and
    flagged unless the insurer said why it accepted it."""
    if election.applied_on <= election.due_on or election.justified:
        return []
    key = anomaly_id(LATE_ELECTION, str(record.event_id), str(position))
    note = Anomaly(key, LATE_ELECTION, (relay_id,), record.event_id, ("elected_on",))
    return [AnomalyRecorded(note)]


def term_end(valid_from: date) -> date:
    """The loss date after two years (健保法38条1号, 民法143条): the same day two years on
    (2025-04-01 → 2027-04-01), or 1 March when that day is a 29 February that does not exist."""
    try:
        return valid_from.replace(year=valid_from.year + 2)
    except ValueError:
        return date(valid_from.year + 2, 3, 1)


def continuation_bounds(spec: LinkSpec, valid_from: date) -> list[tuple[date, str]]:
    """Where 任意継続 opened from `valid_from` ends by rule at opening (健保法38条1号): after two
    years. Cover elsewhere already known ends it by a closure instead (`known_elsewhere`)."""
    if spec.scheme != "medical" or spec.capacity != VOLUNTARY:
        return []
    return [(term_end(valid_from), TERM)]


def known_elsewhere(links: Iterable[Link], opened: Link) -> tuple[Closure, ...]:
    """任意継続 opened after the person's cover as an insured person elsewhere was decided ends
    on that cover's start (健保法38条4号・6号), one closure under each such acquisition within
    its term, exactly as `ended_elsewhere` closes it when they come second: so retracting one
    acquisition leaves the next one's end, whichever came first."""
    if opened.scheme != "medical" or opened.capacity != VOLUNTARY:
        return ()
    term = opened.opened_valid_to or date.max
    return tuple(
        Closure(x.valid_from, x.opened_by, INSURED_ELSEWHERE)
        for x in sorted(links, key=lambda x: (x.valid_from, str(x.link_id)))
        if insures_elsewhere(x) and opened.valid_from < x.valid_from < term
    )


def insures_elsewhere(link: Link) -> bool:
    """Cover as an insured person of employee insurance or the 75+ scheme (健保法38条4号・6号)."""
    return (
        link.scheme == "medical"
        and link.category in (EMPLOYEE, LATE_STAGE)
        and link.capacity == "insured"
        and not link.retracted
    )


def ended_elsewhere(
    links: Iterable[Link], opened: Link, record: LinkerRecord
) -> list[LinkClosed]:
    """任意継続 ends on the day the person becomes insured elsewhere: the new link's start; every
    such acquisition within its term adds its closure, so retracting one leaves the others'. One
    that starts that very day never covered a day (an election the relay heard of first; decided
    the other way round it is refused, `covered_on_start`): it ends on its first day."""
    if not insures_elsewhere(opened):
        return []
    on = opened.valid_from
    closure = Closure(on, record.event_id, INSURED_ELSEWHERE)
    return [
        LinkClosed(x.closed_with(closure), closure)
        for x in links
        if x.capacity == VOLUNTARY
        and not x.retracted
        and x.valid_from <= on
        and (x.opened_valid_to is None or on < x.opened_valid_to)
        and closure not in x.closures
    ]


def covered_on_start(links: Iterable[Link], spec: LinkSpec, valid_from: date) -> bool:
    """Whether the person is insured on the day 任意継続 would start (健保法3条4項: it is for one
    who has lost that cover): by another insurer, or again by the same one (同日得喪). The link
    the election continues, at the same insurer and started earlier, is the one being lost."""
    return any(
        insures_elsewhere(x)
        and x.valid_from <= valid_from
        and (x.valid_to is None or valid_from < x.valid_to)
        and not (x.insurer_number == spec.insurer_number and x.valid_from < valid_from)
        for x in links
    )


def continued(links: Iterable[Link], lost: Link, closure: Closure) -> bool:
    """Whether 任意継続 at the lost link's insurer starts on the date `closure` ended it, and
    covers at least that day: the insured person's cover goes on (健保法3条4項・37条), so their
    dependants' does too (§6), and the election rests on that loss."""
    return (
        closure.kind in FILED_ENDS
        and lost.capacity == "insured"
        and any(
            x.capacity == VOLUNTARY
            and not x.retracted
            and (x.scheme, x.insurer_number) == (lost.scheme, lost.insurer_number)
            and x.valid_from == closure.valid_to
            and x.valid_to != x.valid_from
            for x in links
        )
    )
