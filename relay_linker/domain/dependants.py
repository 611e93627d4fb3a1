"""A dependant's cover ends with the insured person's: their loss date, their death + 1, and
任意継続's ends; an election keeps it (§6). Closures under the insured person's filings,
derived from their links both ways (`follow`, `inherited`), so any arrival order agrees."""

from collections.abc import Callable, Iterable
from datetime import date
from uuid import UUID

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.continuation import INSURED_ELSEWHERE, TERM, VOLUNTARY, continued
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


def insured_ends(
    insured_links: Iterable[Link], scheme: str, insurer_number: str
) -> list[Closure]:
    """What ends a dependant's cover at an insurer, read from the insured person's links there
    (健康保険法3条7項: a dependant is covered as the insured person's): each filed end (a loss,
    or 任意継続 ended on request or for non-payment) unless 任意継続 continues the cover from
    that day, 任意継続's end on cover elsewhere and its two-year term (健保法38条1号・4号)."""
    mine = [
        x
        for x in insured_links
        if x.capacity != "dependant"
        and not x.retracted
        and (x.scheme, x.insurer_number) == (scheme, insurer_number)
    ]
    ends = [
        Closure(c.valid_to, c.closed_by, INSURED_LOST)
        for x in mine
        for c in x.closures
        if (c.kind in FILED_ENDS and not continued(mine, x, c)) or c.kind == INSURED_ELSEWHERE
    ]
    ends += [
        Closure(x.opened_valid_to, x.opened_by, INSURED_LOST)
        for x in mine
        if x.capacity == VOLUNTARY and x.clamp == TERM and x.opened_valid_to is not None
    ]
    return ends


def follow(
    view: RelayState, insured_relay_id: str, insured_links: Iterable[Link], scheme: str,
    insurer_number: str,
) -> list[Effect]:
    """The dependant links held under the insured person at an insurer, brought in line with
    what `insured_ends` says once their links are `insured_links`: ends added, then ends no
    longer said removed (an election keeps the cover its loss had ended, §6). A link starting
    on the insured person's loss date keeps its cover only if they are covered there that day
    (同日得喪, or 任意継続 from it); otherwise it ends on its first day."""
    held = tuple(insured_links)
    ends = insured_ends(held, scheme, insurer_number)
    effects: list[Effect] = []
    for relay_id in dependants(view, insured_relay_id):
        for link in links_of(view, relay_id):
            if not (
                held_under(link, insured_relay_id, date.max)
                and (link.scheme, link.insurer_number) == (scheme, insurer_number)
            ):
                continue
            first_day = _covers(held, scheme, insurer_number, link.valid_from)
            want = {c for c in ends if link.valid_from < c.valid_to or not first_day}
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
    already said: `insured_ends` at the same insurer, and their death."""
    insured_relay_id = link.insured_relay_id
    if link.capacity != "dependant" or insured_relay_id is None:
        return ()
    held = links_of(view, insured_relay_id)
    found = [
        c
        for c in insured_ends(held, link.scheme, link.insurer_number)
        if held_under(link, insured_relay_id, c.valid_to)
    ]
    holder = person(view, insured_relay_id)
    if holder is not None and holder.died_on is not None and holder.died_by is not None:
        death = Closure(holder.died_on + ONE_DAY, holder.died_by, INSURED_DIED)
        if held_under(link, insured_relay_id, death.valid_to):
            found.append(death)
    return tuple(dict.fromkeys(found))
