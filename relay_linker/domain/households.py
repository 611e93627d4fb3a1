"""Households (世帯): a person's membership of a municipality's household, kept as dated links.

One household link per person at a time: each membership ends where the person's next one
begins, whatever order the filings arrive in; a 転出 (MovedOut) ends the memberships at the
municipality moved out of; a death ends it (died_on + 1) like every link. Only the person's own
municipality changes their household without a move (`HouseholdChanged`)."""

from collections.abc import Iterable
from datetime import date

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.commands import JoinHousehold, LinkerRecord
from relay_linker.domain.effects import Effect, LinkClosed, LinkOpened
from relay_linker.domain.ids import link_id
from relay_linker.domain.matching import after_death, locate
from relay_linker.domain.model import DEATH, HOUSEHOLD_CHANGED, Closure, Link, Reason
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import identity_changes, ledger_entry, links_of
from relay_linker.domain.state import RelayState
from relay_linker.domain.verdict import Verdict, accepted, refused

RESIDENT, HOUSEHOLD = "resident", "household"
"""A household link's scheme and category: the resident register's, the municipality's own."""
HOUSEHOLDER, MEMBER = "householder", "member"
"""A household link's capacity: the householder (世帯主) or another member (世帯員)."""
MOVED_OUT = "moved_out"
"""The reason of a 転出's identity change (`translate`: MovedOut)."""
HOUSEHOLD_CHANGES = frozenset({"separation", "merger", "householder_change"})
"""A `JoinHousehold`'s reasons that come from `HouseholdChanged` (世帯分離, 世帯合併, 世帯主変更):
a change without a move, which happens inside one municipality."""


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
    held = memberships(links_of(view, holder.relay_id))
    if command.reason in HOUSEHOLD_CHANGES:
        foreign = _other_municipality(view, holder.relay_id, held, command)
        if foreign is not None:
            return foreign
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
    for closure in [*later_starts(held, link), *moves_out(view, holder.relay_id, link)]:
        link = link.closed_with(closure)
    if holder.died_on is not None and holder.died_by is not None:
        link = link.closed_with(Closure(holder.died_on + ONE_DAY, holder.died_by, DEATH))
    effects: list[Effect] = [LinkOpened(link)]
    closure = Closure(command.joined_on, record.event_id, HOUSEHOLD_CHANGED)
    for earlier in held:
        if _order(earlier) < _order(link):
            effects.append(LinkClosed(earlier.closed_with(closure), closure))
    return accepted(effects)


def _other_municipality(
    view: RelayState, relay_id: str, held: list[Link], command: JoinHousehold
) -> Verdict | None:
    """A `HouseholdChanged` is the municipality's own act on its own resident: refused
    (`other_municipality`) unless the person's membership standing on `changed_on` (the one
    holding it, or else the latest that began before it) is at the filing municipality.

    A person with no membership standing is accepted from any municipality: the resident
    register always has a household for a resident, so such a filing most likely completes
    go-live data loaded without households. A membership a 転出 ended does not stand after it
    (the person left that register; the new municipality may have filed its 転入 without a
    household), so that person counts as having none. The limit: for a person without a
    standing membership, any municipality can still set one. The judgement is made on what
    has arrived: a membership elsewhere that arrives later does not undo an accepted change."""
    standing = household_on(held, command.joined_on)
    if standing is None:
        earlier = [x for x in held if x.valid_from <= command.joined_on]
        standing = earlier[-1] if earlier else None
        if standing is not None and _ended_by_move_out(view, relay_id, standing):
            standing = None
    if standing is None or standing.insurer_number == command.municipality:
        return None
    return refused([Reason("other_municipality", "household")])


def _ended_by_move_out(view: RelayState, relay_id: str, link: Link) -> bool:
    left = {c.event_id for c in identity_changes(view, relay_id) if c.reason == MOVED_OUT}
    return any(c.closed_by in left and c.valid_to == link.valid_to for c in link.closures)


def move_out(view: RelayState, record: LinkerRecord, relay_id: str, moved_on: date) -> list[Effect]:
    """転出 on `moved_on`: the person leaves the resident register of the municipality that
    files it, and its household with it, so every membership there that begins before
    `moved_on` ends on it (`household_changed`), under the 転出 filing, so that retracting it
    lifts exactly that end. A membership there that begins on or after `moved_on` is another
    stay (a return) and is not touched; memberships elsewhere neither."""
    closure = Closure(moved_on, record.event_id, HOUSEHOLD_CHANGED)
    return [
        LinkClosed(x.closed_with(closure), closure)
        for x in memberships(links_of(view, relay_id))
        if x.insurer_number == record.filer_code and x.valid_from < moved_on
    ]


def moves_out(view: RelayState, relay_id: str, link: Link) -> list[Closure]:
    """The closures `link` takes from the person's 転出 that arrived before it: each 転出 filed
    by `link`'s municipality and dated after `link`'s start ends it on that date, under the
    転出's own filing (as `move_out` would have had `link` been there), in any arrival order."""
    closures = []
    for change in identity_changes(view, relay_id):
        if change.reason != MOVED_OUT or change.effective_from <= link.valid_from:
            continue
        entry = ledger_entry(view, change.event_id)
        if entry is not None and entry.filer_code == link.insurer_number:
            closures.append(Closure(change.effective_from, change.event_id, HOUSEHOLD_CHANGED))
    return closures


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
