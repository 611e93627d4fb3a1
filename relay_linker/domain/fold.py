"""The whole relay in memory: fold records through decide, apply and expire; compare histories.

`history` keeps what must not depend on arrival order; versions and anomalies stay out."""

from collections.abc import Iterable
from datetime import date

from relay_linker.domain.apply import apply_all
from relay_linker.domain.clocking import advance
from relay_linker.domain.commands import IDENTITY_ITEMS, ClockAdvanced, Step
from relay_linker.domain.decide import decide
from relay_linker.domain.matching import identity_at
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import identity_changes
from relay_linker.domain.state import RelayState, new_state

Row = tuple[object, ...]


def fold(steps: Iterable[Step], hasher: Hasher) -> RelayState:
    """Decide and apply each record in turn; when the clock advances, expire what is due and
    announce the milestones reached.

    `steps` is the relay's order: records and ClockAdvanced steps as the relay clock's ticks
    put them (see consumers.clocked)."""
    state = new_state()
    for step in steps:
        if isinstance(step, ClockAdvanced):
            advance(state, step.relay_time)
        else:
            apply_all(state, decide(state, step, hasher))
    return state


def identity_periods(state: RelayState, relay_id: str) -> tuple[Row, ...]:
    """[valid_from, valid_to) periods with one hash per item, derived from dated changes."""
    starts = sorted({c.effective_from for c in identity_changes(state, relay_id)})
    ends: list[date | None] = [*starts[1:], None]
    rows = []
    for start, end in zip(starts, ends, strict=True):
        hashes = identity_at(state, relay_id, start).hashes
        rows.append((start, end, *(hashes[item].hex() for item in IDENTITY_ITEMS)))
    return tuple(rows)


def history(
    state: RelayState, *, include_retracted: bool = False, include_milestones: bool = False
) -> tuple[Row, ...]:
    """Canonical, sorted rows of persons, identity periods and links of a complete state.

    Rows: ("person", relay_id, died_on); ("identity", relay_id, valid_from, valid_to, one hash
    per item); ("link", relay_id, scheme, insurer, capacity, category, number index hex,
    valid_from, valid_to, retracted); when asked, ("milestone", relay_id, name, due_on) for
    milestones not announced yet, which depend on when the relay clock reached each date.
    Person versions count accepted changes, and whether a filing is accepted can depend on
    arrival order (a loss filed after a death), so they are left out. So are retracted links
    unless asked for: a retraction that finds its target still parked refuses it, and then no
    link was ever opened."""
    if not state.complete:
        raise ValueError("history needs the complete state, not a slice")
    rows: list[Row] = []
    for relay_id, holder in state.persons.items():
        rows.append(("person", relay_id, holder.died_on))
        rows += [("identity", relay_id, *p) for p in identity_periods(state, relay_id)]
    for links in state.links.values():
        rows += [
            (
                "link",
                x.relay_id,
                x.scheme,
                x.insurer_number,
                x.capacity,
                x.category,
                x.number_key[1].hex(),
                x.valid_from,
                x.valid_to,
                x.retracted,
            )
            for x in links
            if include_retracted or not x.retracted
        ]
    if include_milestones:
        rows += [
            ("milestone", m.relay_id, m.name, m.due_on)
            for held in state.milestones.values()
            for m in held
        ]
    return tuple(sorted(rows, key=_sort_key))


def _sort_key(row: Row) -> tuple[str, ...]:
    return tuple("" if value is None else str(value) for value in row)
