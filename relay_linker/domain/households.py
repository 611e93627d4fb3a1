"""Households (世帯): a person's membership of a municipality's household, kept as dated links.

One household link per person at a time: each membership ends where the person's next one
begins, whatever order the filings arrive in; a death ends it (died_on + 1) like every link."""

from collections.abc import Iterable
from datetime import date

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.commands import JoinHousehold, LinkerRecord
from relay_linker.domain.effects import Effect, LinkClosed, LinkOpened
from relay_linker.domain.ids import link_id
from relay_linker.domain.matching import after_death, locate
from relay_linker.domain.model import DEATH, HOUSEHOLD_CHANGED, Closure, Link
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import links_of
from relay_linker.domain.state import RelayState
from relay_linker.domain.verdict import Verdict, accepted

RESIDENT, HOUSEHOLD = "resident", "household"
"""A household link's scheme and category: the resident register's, the municipality's own."""
HOUSEHOLDER, MEMBER = "householder", "member"
"""A household link's capacity: the householder (世帯主) or another member (世帯員)."""


def is_household(link: Link) -> bool:
    return link.scheme == RESIDENT and link.category == HOUSEHOLD


def join_household(
    view: RelayState, record: LinkerRecord, position: int, command: JoinHousehold, hasher: Hasher
) -> Verdict:
    """Open the membership from `joined_on`; it closes every earlier membership of the person
    on that date and ends itself where the next later one begins (the chain of dated links is
    the one the filings' dates give, in any arrival order)."""
    found = locate(view, record, command.person, command.identity, command.identity_on, hasher)
    if isinstance(found, Verdict):
        return found
    late = after_death(found.person, command.joined_on, record)
    if late is not None:
        return late
    holder = found.person
    link = Link(
        link_id(record.event_id, position),
        holder.relay_id,
        RESIDENT,
        command.municipality,
        HOUSEHOLDER if command.householder else MEMBER,
        HOUSEHOLD,
        command.household.key,
        command.joined_on,
        None,
        None,
        record.event_id,
        sealed_number=command.household.sealed,
    )
    held = memberships(links_of(view, holder.relay_id))
    for closure in later_starts(held, link):
        link = link.closed_with(closure)
    if holder.died_on is not None and holder.died_by is not None:
        link = link.closed_with(Closure(holder.died_on + ONE_DAY, holder.died_by, DEATH))
    effects: list[Effect] = [LinkOpened(link)]
    closure = Closure(command.joined_on, record.event_id, HOUSEHOLD_CHANGED)
    for earlier in held:
        if _order(earlier) < _order(link):
            effects.append(LinkClosed(earlier.closed_with(closure), closure))
    return accepted(effects)


def memberships(links: Iterable[Link]) -> list[Link]:
    """The person's household links that stand (not retracted), in the order of their start."""
    return sorted((x for x in links if is_household(x) and not x.retracted), key=_order)


def later_starts(held: Iterable[Link], link: Link) -> list[Closure]:
    """The closures `link` takes from the memberships that begin after it: each ends it on its
    own start, under its own filing, so retracting that filing lifts exactly that end."""
    return [
        Closure(later.valid_from, later.opened_by, HOUSEHOLD_CHANGED)
        for later in held
        if _order(later) > _order(link)
    ]


def household_on(links: Iterable[Link], on: date) -> Link | None:
    """The person's household link covering `on`, if any."""
    covering = [
        x
        for x in memberships(links)
        if x.valid_from <= on and (x.valid_to is None or on < x.valid_to)
    ]
    return covering[-1] if covering else None


def _order(link: Link) -> tuple[date, str]:
    """Memberships in date order; two on one day in the order of their filings' event ids, an
    order every arrival order agrees on (the earlier of the two holds no day)."""
    return (link.valid_from, str(link.opened_by))
