"""A dependant's cover ends with the insured person's: their loss date, their death + 1, and
任意継続's ends; an election keeps it (§6). Closures under the insured person's filings,
derived from their links both ways (`follow`, `inherited`), so any arrival order agrees."""

from collections.abc import Callable, Iterable
from datetime import date
from uuid import UUID

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.continuation import INSURED_ELSEWHERE, TERM, VOLUNTARY
from relay_linker.domain.effects import AnomalyRecorded, Effect, LinkClosed, LinkReopened
from relay_linker.domain.ids import anomaly_id
from relay_linker.domain.model import (
    FILED_ENDS,
    INSURED_DIED,
    INSURED_LOST,
    Anomaly,
    Closure,
    Link,
    Reason,
)
from relay_linker.domain.reads import dependants, links_of, person
from relay_linker.domain.state import RelayState


def held_under(link: Link, insured_relay_id: str, ends_on: date) -> bool:
    """Whether the insured person's cover ending on `ends_on` ends `link` too: a dependant's
    link under them that started before that date (a link acquired on it is a new period)."""
    return (
        link.capacity == "dependant"
        and link.insured_relay_id == insured_relay_id
        and not link.retracted
        and link.valid_from < ends_on
    )


def dependant_ends(insured_links: Iterable[Link], link: Link) -> tuple[Closure, ...]:
    """Where the insured person's cover ends `link`, a dependant's link held under them (健康保険法
    3条7項: a dependant is covered as the insured person's): the end of their cover at that
    insurer from the link's first day, through 任意継続 that continues it from a loss date
    (健保法3条4項・37条), under the filing that gave that end: a loss, 任意継続's request or
    non-payment end, cover elsewhere, its two years, an end given at opening. With no such cover
    on its first day the link ends that day (no day covered). Death and age bounds end it
    otherwise (`end_with_death`, the insured person's 75th birthday at opening)."""
    mine = [
        x
        for x in insured_links
        if x.capacity != "dependant"
        and not x.retracted
        and (x.scheme, x.insurer_number) == (link.scheme, link.insurer_number)
    ]
    on = link.valid_from
    covering = [x for x in mine if x.valid_from <= on and (x.valid_to is None or on < x.valid_to)]
    if not covering:
        ended = [x for x in mine if x.valid_from <= on and x.valid_to is not None]
        if not ended:
            return ()
        last = max(ended, key=lambda x: (x.valid_to or date.max, x.valid_from, str(x.link_id)))
        return tuple(Closure(on, by, INSURED_LOST) for by in _ended_by(last))
    held = max(covering, key=lambda x: (x.valid_from, str(x.link_id)))
    seen = {held.link_id}
    while (after := _continued_by(mine, held)) is not None and after.link_id not in seen:
        seen.add(after.link_id)
        held = after
    if held.valid_to is None:
        return ()
    return tuple(Closure(held.valid_to, by, INSURED_LOST) for by in _ended_by(held))


def _ended_by(link: Link) -> list[UUID]:
    """The filings whose say gives `link` its end, when that end also ends dependants."""
    ends = link.valid_to
    found = [
        c.closed_by
        for c in link.closures
        if c.valid_to == ends and (c.kind in FILED_ENDS or c.kind == INSURED_ELSEWHERE)
    ]
    if link.opened_valid_to == ends and link.clamp in (None, TERM):
        found.append(link.opened_by)
    return sorted(set(found), key=str)


def _continued_by(mine: list[Link], link: Link) -> Link | None:
    """任意継続 continuing `link`'s cover as an insured person from its filed end or the end
    given at opening (健保法3条4項・37条): starting that day and covering at least that day."""
    ends = link.valid_to
    if link.capacity != "insured" or ends is None:
        return None
    filed = any(c.valid_to == ends and c.kind in FILED_ENDS for c in link.closures)
    if not (filed or (link.opened_valid_to == ends and link.clamp is None)):
        return None
    after = [
        x
        for x in mine
        if x.capacity == VOLUNTARY and x.valid_from == ends and x.valid_to != x.valid_from
    ]
    return min(after, key=lambda x: str(x.link_id)) if after else None


def follow(
    view: RelayState, insured_relay_id: str, insured_links: Iterable[Link], scheme: str,
    insurer_number: str,
) -> list[Effect]:
    """The dependant links held under the insured person at an insurer, brought in line with
    `dependant_ends` once the insured person's links are `insured_links`: ends added, then ends
    no longer said removed (an election keeps the cover its loss had ended, §6)."""
    held = tuple(insured_links)
    effects: list[Effect] = []
    for relay_id in dependants(view, insured_relay_id):
        for link in links_of(view, relay_id):
            if not (
                held_under(link, insured_relay_id, date.max)
                and (link.scheme, link.insurer_number) == (scheme, insurer_number)
            ):
                continue
            want = set(dependant_ends(held, link))
            have = {c for c in link.closures if c.kind == INSURED_LOST}
            for closure in sorted(want - have, key=_order):
                link = link.closed_with(closure)
                effects.append(LinkClosed(link, closure))
            for closure in sorted(have - want, key=_order):
                link = link.without(closure)
                effects.append(LinkReopened(link, closure))
        after = {x.link_id: x for x in links_of(view, relay_id)}
        after.update({e.link.link_id: e.link for e in effects if e.link.relay_id == relay_id})
        effects += rehome(tuple(after.values()))
    return effects


def ended_by_insured(link: Link) -> bool:
    return any(c.kind in (INSURED_LOST, INSURED_DIED) for c in link.closures)


def rehome(links: tuple[Link, ...]) -> list[LinkClosed | LinkReopened]:
    """A dependant's own filed end that lies past the end the insured person gave its period
    belongs to the period re-filed under them that covers its last day: moved there, so the
    history is the one the filings give in order (§6)."""
    current = {x.link_id: x for x in links}
    effects: list[LinkClosed | LinkReopened] = []
    for link_id in sorted(current, key=str):
        for closure in current[link_id].closures:
            stray = current[link_id]
            if not (
                closure.kind in FILED_ENDS
                and stray.capacity == "dependant"
                and not stray.retracted
                and ended_by_insured(stray)
                and stray.valid_to is not None
                and stray.valid_to < closure.valid_to
            ):
                continue
            homes = [
                x
                for x in current.values()
                if x.link_id != link_id
                and not x.retracted
                and _same_number(x, stray)
                and x.valid_from < closure.valid_to <= (x.valid_to or date.max)
            ]
            if not homes:
                continue
            home = max(homes, key=lambda x: (x.valid_from, str(x.link_id)))
            current[link_id] = stray.without(closure)
            current[home.link_id] = home.closed_with(closure)
            effects += [
                LinkReopened(current[link_id], closure),
                LinkClosed(current[home.link_id], closure),
            ]
    return effects


def _same_number(a: Link, b: Link) -> bool:
    return (a.scheme, a.insurer_number, a.capacity, a.category, a.number_key) == (
        b.scheme, b.insurer_number, b.capacity, b.category, b.number_key
    )


def follow_all(
    view: RelayState, insured_relay_id: str, insured_links: Iterable[Link]
) -> list[Effect]:
    """`follow` at every insurer where the insured person holds a link."""
    held = tuple(insured_links)
    places = sorted({(x.scheme, x.insurer_number) for x in held if x.capacity != "dependant"})
    return [
        effect
        for scheme, insurer in places
        for effect in follow(view, insured_relay_id, held, scheme, insurer)
    ]


def footing(
    view: RelayState, insured_relay_id: str, scheme: str, insurer_number: str, on: date
) -> bool:
    """Whether the insured person is covered at the insurer on `on` (insured, or in 任意継続):
    a dependant's cover there has a footing that day (DOMAIN §6)."""
    return _covers(links_of(view, insured_relay_id), scheme, insurer_number, on)


def _covers(insured_links: Iterable[Link], scheme: str, insurer_number: str, on: date) -> bool:
    return any(
        x.capacity != "dependant"
        and not x.retracted
        and (x.scheme, x.insurer_number) == (scheme, insurer_number)
        and x.valid_from <= on
        and (x.valid_to is None or on < x.valid_to)
        for x in insured_links
    )


def _order(closure: Closure) -> tuple[date, str]:
    return (closure.valid_to, str(closure.closed_by))


def end_with_death(
    view: RelayState, insured_relay_id: str, died_on: date, by: UUID
) -> list[Effect]:
    """The insured person died: every dependant link under them ends on died_on + 1; one that
    starts after the death is recorded for operations, as for the person's own links."""
    mine = Closure(died_on + ONE_DAY, by, INSURED_DIED)
    effects = _close(view, insured_relay_id, mine, lambda x: True)
    for relay_id in dependants(view, insured_relay_id):
        for link in links_of(view, relay_id):
            if held_under(link, insured_relay_id, date.max) and link.valid_from > died_on:
                key = anomaly_id("filing_for_dead_person", str(link.opened_by), relay_id)
                note = Anomaly(key, "filing_for_dead_person", (relay_id,), by)
                effects.append(AnomalyRecorded(note))
    return effects


def after_insured_death(view: RelayState, insured_relay_id: str, valid_from: date) -> Reason | None:
    """Why a dependant's link starting after its insured person's death is refused."""
    holder = person(view, insured_relay_id)
    if holder is None or holder.died_on is None or valid_from <= holder.died_on:
        return None
    return Reason("person_deceased", "insured_person")


def _close(
    view: RelayState, insured_relay_id: str, closure: Closure, at_insurer: Callable[[Link], bool]
) -> list[Effect]:
    effects: list[Effect] = []
    for relay_id in dependants(view, insured_relay_id):
        for link in links_of(view, relay_id):
            if (
                held_under(link, insured_relay_id, closure.valid_to)
                and at_insurer(link)
                and closure not in link.closures
            ):
                effects.append(LinkClosed(link.closed_with(closure), closure))
    return effects


def inherited(view: RelayState, link: Link) -> tuple[Closure, ...]:
    """The closures a dependant's link opened late takes from what its insured person's filings
    already said: `dependant_ends` at the same insurer, and their death."""
    insured_relay_id = link.insured_relay_id
    if link.capacity != "dependant" or insured_relay_id is None:
        return ()
    found = list(dependant_ends(links_of(view, insured_relay_id), link))
    holder = person(view, insured_relay_id)
    if holder is not None and holder.died_on is not None and holder.died_by is not None:
        death = Closure(holder.died_on + ONE_DAY, holder.died_by, INSURED_DIED)
        if held_under(link, insured_relay_id, death.valid_to):
            found.append(death)
    return tuple(dict.fromkeys(found))
