"""Acquisitions and losses: opening a link, and closing the person's matching open link.

History is kept: a loss adds a closure and never deletes; age bounds clamp the end at opening."""

from datetime import date

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.commands import (
    CloseLink,
    InsuredPerson,
    LinkerRecord,
    LinkSpec,
    OpenLink,
)
from relay_linker.domain.continuation import (
    VOLUNTARY,
    continuation_bounds,
    covered_on_start,
    eligible,
    ended_elsewhere,
    known_elsewhere,
    late_election,
)
from relay_linker.domain.coverage import age_bound, breaks_age_rule, clamped
from relay_linker.domain.dependants import (
    after_insured_death,
    ended_by_insured,
    follow,
    follow_all,
    footing,
    inherited,
    rehome,
)
from relay_linker.domain.effects import (
    AnomalyRecorded,
    Effect,
    LinkClosed,
    LinkOpened,
    LinkReopened,
    ReferenceIndexed,
)
from relay_linker.domain.ids import anomaly_id, link_id
from relay_linker.domain.keys import link_wait
from relay_linker.domain.matching import (
    INSURED,
    Located,
    after_death,
    last_covered_day,
    locate,
)
from relay_linker.domain.model import (
    DEATH,
    Anomaly,
    Closure,
    IndexEntry,
    Link,
    Reason,
)
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import indexed, links_of
from relay_linker.domain.state import RelayState
from relay_linker.domain.verdict import Verdict, accepted, parked, refused


def open_link(
    view: RelayState, record: LinkerRecord, position: int, command: OpenLink, hasher: Hasher
) -> Verdict:
    on = record.effective_date or command.valid_from
    found = locate(view, record, command.person, command.identity, on, hasher)
    if isinstance(found, Verdict):
        return found
    insured = _insured(view, record, command.insured_person, on, hasher)
    if isinstance(insured, Verdict):
        return insured
    late = after_death(found.person, command.valid_from, record)
    if late is not None:
        return late
    relay_id = found.person.relay_id
    owner = indexed(view, command.link.number.key)
    if owner is not None and owner.relay_id != relay_id:
        return refused([Reason("number_in_use", "link.number")])
    if command.valid_to is not None and command.valid_to < command.valid_from:
        return refused([Reason("invalid_period", "valid_to")])
    held = links_of(view, relay_id)
    if command.election is not None and not eligible(held, command.valid_from):
        return refused([Reason("voluntary_continuation_ineligible", "lost_on")])
    if command.election is not None and covered_on_start(held, command.link, command.valid_from):
        return refused([Reason("insured_on_continuation_start", "valid_from")])
    dead = after_insured_death(view, insured[0], command.valid_from) if insured else None
    if dead is not None:
        return refused([dead])
    birth = found.snapshot.secret_birth_date
    valid_to, clamp = clamped(command.valid_to, _bound(command, birth, insured))
    if clamp is not None and valid_to is not None and valid_to <= command.valid_from:
        return refused(
            [Reason("age_limit_passed", "valid_from")], [_age_rule(record, position, relay_id)]
        )
    unfooted = _without_footing(view, command, insured)
    if unfooted is not None:
        return unfooted
    link = Link(
        link_id(record.event_id, position),
        relay_id,
        command.link.scheme,
        command.link.insurer_number,
        command.link.capacity,
        command.link.category,
        command.link.number.key,
        command.valid_from,
        valid_to,
        clamp,
        record.event_id,
        insured[0] if insured else None,
    )
    effects: list[Effect] = []
    if owner is None:
        sealed = command.link.number.sealed
        effects.append(
            ReferenceIndexed(IndexEntry(link.number_key, relay_id, record.event_id, sealed))
        )
    for closure in (*inherited(view, link), *known_elsewhere(held, link)):  # decided first
        link = link.closed_with(closure)
    link = _bounded_by_death(found, link)
    moved = _stray_ends(held, link)
    for other, closure in moved:
        link = link.closed_with(closure)
        effects.append(LinkReopened(other.without(closure), closure))
    effects.append(LinkOpened(link))
    ended = ended_elsewhere(held, link, record)
    effects += ended
    if ended or _moves_dependants(held, link):  # the insured person's ends moved
        after = {x.link_id: x for x in held} | {e.link.link_id: e.link for e in ended}
        effects += follow_all(view, relay_id, (*after.values(), link))
    if command.election is not None:
        effects += late_election(record, position, relay_id, command.election)
    if breaks_age_rule(command.link, command.valid_from, birth):
        effects.append(_age_rule(record, position, relay_id))
    return accepted(effects)


def _bound(
    command: OpenLink, birth: date, insured: tuple[str, date] | None
) -> tuple[date, str] | None:
    """The earliest end the rules put on a link at opening: an age (DOMAIN §5b), and for
    任意継続 its two years (健保法38条1号; cover elsewhere closes it: `known_elsewhere`)."""
    bounds = [age_bound(command.link, birth, insured[1] if insured else None)]
    bounds += continuation_bounds(command.link, command.valid_from)
    return min((b for b in bounds if b is not None), default=None)


def close_link(
    view: RelayState, record: LinkerRecord, position: int, command: CloseLink, hasher: Hasher
) -> Verdict:
    on = last_covered_day(command.lost_on)
    found = locate(view, record, command.person, command.identity, on, hasher)
    if isinstance(found, Verdict):
        return found
    late = after_death(found.person, command.lost_on - ONE_DAY, record)
    if late is not None:
        return late
    insured = _insured(view, record, command.insured_person, on, hasher)
    if isinstance(insured, Verdict):
        return insured
    relay_id = found.person.relay_id
    spec = command.link
    wait = [link_wait(relay_id, spec.scheme, spec.insurer_number)]
    open_links = [
        x
        for x in links_of(view, relay_id)
        if _matches(x, spec) and not x.lost and _insured_by(x, insured)
    ]
    if not open_links:
        return parked([Reason("no_open_link", "link")], wait)
    # 同日得喪 (DOMAIN §6): a loss ends a period that covered at least one day, so a link
    # acquired on the loss date itself (a re-acquisition at the same insurer) is never its
    # target, whichever of the two filings arrives first; a loss dated on its only candidate's
    # own acquisition date is no period at all, and the acquisition is to be retracted.
    started = [x for x in open_links if x.valid_from < command.lost_on]
    if not started:
        on_the_day = [x for x in open_links if x.valid_from == command.lost_on]
        if any(x.capacity == "dependant" for x in on_the_day):
            # a dependant's period re-filed on the insured person's loss date (同日得喪,
            # 任意継続): the period this loss ends may not have arrived yet
            return parked([Reason("loss_on_acquisition_date", "lost_on")], wait)
        if on_the_day:
            return refused([Reason("loss_on_acquisition_date", "lost_on")])
        return parked([Reason("loss_before_acquisition", "lost_on")], wait)
    # The link whose cover reaches the last covered day is the one lost; a dependant's link the
    # insured person's end closed earlier waits for the period re-filed under them (§6), so a
    # loss retried late closes the same link as one decided in order.
    covering = [x for x in started if x.valid_to is None or x.valid_to >= command.lost_on]
    if not covering and any(ended_by_insured(x) for x in started):
        return parked([Reason("no_open_link", "link")], wait)
    target = max(covering or started, key=lambda x: (x.valid_from, str(x.link_id)))
    closure = Closure(command.lost_on, record.event_id, command.kind)
    closed = target.closed_with(closure)
    effects: list[Effect] = [LinkClosed(closed, closure)]
    if target.capacity != "dependant":
        others = tuple(x for x in links_of(view, relay_id) if x.link_id != target.link_id)
        effects += follow(view, relay_id, (*others, closed), target.scheme, target.insurer_number)
    return accepted(effects)


def _moves_dependants(held: tuple[Link, ...], opened: Link) -> bool:
    """Whether opening `opened` can change where the person's dependants' cover ends: 任意継続
    (an election keeps it), or cover again at an insurer where they were covered before (a
    dependant filed there needs the insured person's cover on its first day)."""
    if opened.capacity == "dependant":
        return False
    return opened.capacity == VOLUNTARY or any(
        (x.scheme, x.insurer_number) == (opened.scheme, opened.insurer_number)
        and x.capacity != "dependant"
        for x in held
    )


def _stray_ends(held: tuple[Link, ...], opened: Link) -> list[tuple[Link, Closure]]:
    """Filed ends of the dependant's earlier periods that belong to `opened` (`rehome`)."""
    moved = rehome((*held, opened))
    return [
        (gone.link, gone.removed)
        for gone, home in zip(moved[::2], moved[1::2], strict=True)
        if isinstance(gone, LinkReopened) and home.link.link_id == opened.link_id
    ]


def _without_footing(
    view: RelayState, command: OpenLink, insured: tuple[str, date] | None
) -> Verdict | None:
    """A dependant's link waits until the insured person is covered at that insurer on its
    first day (DOMAIN §6: covered only as the insured person's dependant): by an acquisition,
    a re-acquisition on the loss date (同日得喪) or 任意継続 from it."""
    spec = command.link
    if insured is None or spec.capacity != "dependant":
        return None
    if footing(view, insured[0], spec.scheme, spec.insurer_number, command.valid_from):
        return None
    wait = [link_wait(insured[0], spec.scheme, spec.insurer_number)]
    return parked([Reason("insured_person_not_covered", "insured_person")], wait)


def _insured(
    view: RelayState,
    record: LinkerRecord,
    insured: InsuredPerson | None,
    on: date,
    hasher: Hasher,
) -> tuple[str, date] | Verdict | None:
    """A dependant's insured person (本人), matched by number and five items like anyone
    (DOMAIN §5a), and their birth date, for the 75 rule."""
    if insured is None:
        return None
    found = locate(view, record, insured.person, insured.identity, on, hasher, INSURED)
    if isinstance(found, Verdict):
        return found
    return found.person.relay_id, found.snapshot.secret_birth_date


def _insured_by(link: Link, insured: tuple[str, date] | None) -> bool:
    """Whether a loss naming `insured` may end `link`: a dependant's link ends only under the
    insured person it was opened under (a link loaded without one is judged by its number)."""
    if insured is None or link.insured_relay_id is None:
        return True
    return link.insured_relay_id == insured[0]


def _matches(link: Link, spec: LinkSpec) -> bool:
    return not link.retracted and (
        link.scheme,
        link.insurer_number,
        link.capacity,
        link.category,
        link.number_key,
    ) == (spec.scheme, spec.insurer_number, spec.capacity, spec.category, spec.number.key)


def _bounded_by_death(found: Located, link: Link) -> Link:
    """A link opened for a person already known dead ends as the death's closures say."""
    holder = found.person
    if holder.died_on is None or holder.died_by is None:
        return link
    return link.closed_with(Closure(holder.died_on + ONE_DAY, holder.died_by, DEATH))


def _age_rule(record: LinkerRecord, position: int, relay_id: str) -> AnomalyRecorded:
    key = anomaly_id("age_rule", str(record.event_id), str(position))
    return AnomalyRecorded(Anomaly(key, "age_rule", (relay_id,), record.event_id, ("valid_from",)))
