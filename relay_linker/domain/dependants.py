"""A dependant's cover ends with the insured person's: their loss date, their death + 1 (§6).

Closures under the insured person's filing, written both ways so either arrival order agrees."""

from collections.abc import Callable
from datetime import date
from uuid import UUID

from relay_linker.domain.ages import ONE_DAY
from relay_linker.domain.effects import AnomalyRecorded, Effect, LinkClosed
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


def end_with_loss(view: RelayState, insured: Link, closure: Closure) -> list[Effect]:
    """The insured person's link at an insurer is lost (健康保険法3条7項: a dependant is covered
    as the insured person's): their dependant links at that insurer end on the loss date."""
    if insured.capacity == "dependant":
        return []
    mine = Closure(closure.valid_to, closure.closed_by, INSURED_LOST)
    return _close(
        view,
        insured.relay_id,
        mine,
        lambda x: (x.scheme, x.insurer_number) == (insured.scheme, insured.insurer_number),
    )


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
    already said: each filed end of their link at the same insurer (a loss, or 任意継続 ended on
    request or for non-payment, as `end_with_loss` ends it), and their death."""
    insured_relay_id = link.insured_relay_id
    if link.capacity != "dependant" or insured_relay_id is None:
        return ()
    found = [
        Closure(c.valid_to, c.closed_by, INSURED_LOST)
        for x in links_of(view, insured_relay_id)
        if x.capacity != "dependant"
        and not x.retracted
        and (x.scheme, x.insurer_number) == (link.scheme, link.insurer_number)
        for c in x.closures
        if c.kind in FILED_ENDS and held_under(link, insured_relay_id, c.valid_to)
    ]
    holder = person(view, insured_relay_id)
    if holder is not None and holder.died_on is not None and holder.died_by is not None:
        death = Closure(holder.died_on + ONE_DAY, holder.died_by, INSURED_DIED)
        if held_under(link, insured_relay_id, death.valid_to):
            found.append(death)
    return tuple(dict.fromkeys(found))
