"""Changes pushed to those who know the person: which change notices one decision makes due.

A death, a change of name or address, or the end of a coverage is told to every insurer that
holds or held a link of the person (medical, long-term care, pension), once per change, naming
the person by that insurer's most recent link's number. A notice sent is never taken back: a
retracted filing's notices stay sent (its retraction is no change of the person's)."""

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from relay_linker.domain import effects as fx
from relay_linker.domain.model import Link
from relay_linker.domain.reads import indexed, links_of
from relay_linker.domain.state import RelayState

DEATH, NAME_CHANGE, ADDRESS_CHANGE, COVERAGE_ENDED = (
    "death", "name_change", "address_change", "coverage_ended")
NOTIFIED_SCHEMES = frozenset({"medical", "long_term_care", "pension"})
"""Schemes whose insurers hear of changes; the resident scheme is the municipality's own."""
NAME_ITEMS = frozenset({"kanji_name", "kana_name"})


def notices_due(before: RelayState, step: Iterable[fx.Effect]) -> list[fx.ChangeNoticeDue]:
    """The notices `step` (the effects of one settled filing) makes due, read against the
    state `before` it: a death of a person, each identity change of name or address, and
    each link whose end (`valid_to`) the step sets or moves, in the step's order.

    A link closed by the person's own death in the same step is told as the death alone."""
    effects = list(step)
    died = {e.relay_id for e in effects if isinstance(e, fx.PersonDied)}
    due: list[fx.ChangeNoticeDue] = []
    for effect in effects:
        match effect:
            case fx.PersonDied(relay_id=relay_id, died_on=on, event_id=event):
                due += _to_insurers(before, relay_id, DEATH, on, event)
            case fx.IdentityChangeRecorded(change=change) if not change.base:
                items = {item for item, _ in change.hashes}
                for kind, changed in ((NAME_CHANGE, bool(items & NAME_ITEMS)),
                                      (ADDRESS_CHANGE, "address" in items)):
                    if changed:
                        due += _to_insurers(before, change.relay_id, kind,
                                            change.effective_from, change.event_id)
            case fx.LinkClosed(link=link, closure=closure) if link.relay_id not in died:
                if _end_moved(before, link):
                    assert link.valid_to is not None
                    due += _to_insurers(before, link.relay_id, COVERAGE_ENDED, link.valid_to,
                                        closure.closed_by, ended=link)
    return due


def _end_moved(before: RelayState, link: Link) -> bool:
    """Whether `link` (the row after the change) ends, or ends otherwise, than it did."""
    if link.scheme not in NOTIFIED_SCHEMES or link.retracted or link.valid_to is None:
        return False
    held = [x for x in links_of(before, link.relay_id) if x.link_id == link.link_id]
    return not held or held[0].valid_to != link.valid_to


def recipients(view: RelayState, relay_id: str) -> dict[str, Link]:
    """Each insurer that holds or held a link of the person (not retracted, notified
    schemes), with its most recent link: the one whose number names the person to it."""
    latest: dict[str, Link] = {}
    for link in links_of(view, relay_id):
        if link.scheme not in NOTIFIED_SCHEMES or link.retracted:
            continue
        known = latest.get(link.insurer_number)
        if known is None or (link.valid_from, str(link.link_id)) > (
                known.valid_from, str(known.link_id)):
            latest[link.insurer_number] = link
    return dict(sorted(latest.items()))


def _to_insurers(view: RelayState, relay_id: str, kind: str, effective: date, event_id: UUID,
                 ended: Link | None = None) -> list[fx.ChangeNoticeDue]:
    due = []
    for code, link in recipients(view, relay_id).items():
        entry = indexed(view, link.number_key)
        due.append(fx.ChangeNoticeDue(
            relay_id=relay_id, recipient_code=code, kind=kind, effective_date=effective,
            number_key=link.number_key, source_event_id=event_id,
            sealed_number=entry.sealed if entry is not None else None,
            ended_scheme=ended.scheme if ended else None,
            ended_insurer=ended.insurer_number if ended else None))
    return due
