"""The whole relay in memory: fold records through decide, apply and expire; compare histories.

`history` keeps what must not depend on arrival order; versions and anomalies stay out."""

from collections.abc import Iterable
from datetime import date, datetime

from relay_linker.domain.apply import apply_all
from relay_linker.domain.commands import IDENTITY_ITEMS, LinkerRecord
from relay_linker.domain.decide import decide
from relay_linker.domain.effects import FilingParked
from relay_linker.domain.expiry import PARKING_BOUND, expire
from relay_linker.domain.matching import identity_at
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import identity_changes, parked_in_partition
from relay_linker.domain.state import RelayState, new_state

Row = tuple[object, ...]


def fold(records: Iterable[LinkerRecord], hasher: Hasher) -> RelayState:
    """Decide and apply each record in turn, expiring its partition's overdue parked filings.

    `oldest` is a lower bound on the event time of each partition's parked filings, so the
    scan in `expire` runs only when something may be due; the result is as if it ran always."""
    state = new_state()
    oldest: dict[tuple[str, int], datetime] = {}
    for record in records:
        effects = decide(state, record, hasher)
        apply_all(state, effects)
        for effect in effects:
            if isinstance(effect, FilingParked):
                _note_parked(oldest, effect.parked.record)
        key = (record.source.topic, record.source.partition)
        watermark = state.watermarks.get(key)
        if watermark is not None and key in oldest and oldest[key] + PARKING_BOUND < watermark:
            apply_all(state, expire(state, *key, watermark))
            oldest.pop(key)
            for parked in parked_in_partition(state, *key):
                _note_parked(oldest, parked.record)
    return state


def _note_parked(oldest: dict[tuple[str, int], datetime], record: LinkerRecord) -> None:
    key = (record.source.topic, record.source.partition)
    oldest[key] = min(oldest.get(key, record.occurred_at), record.occurred_at)


def identity_periods(state: RelayState, relay_id: str) -> tuple[Row, ...]:
    """[valid_from, valid_to) periods with one hash per item, derived from dated changes."""
    starts = sorted({c.effective_from for c in identity_changes(state, relay_id)})
    ends: list[date | None] = [*starts[1:], None]
    rows = []
    for start, end in zip(starts, ends, strict=True):
        hashes = identity_at(state, relay_id, start).hashes
        rows.append((start, end, *(hashes[item].hex() for item in IDENTITY_ITEMS)))
    return tuple(rows)


def history(state: RelayState, *, include_retracted: bool = False) -> tuple[Row, ...]:
    """Canonical, sorted rows of persons, identity periods and links of a complete state.

    Rows: ("person", relay_id, died_on); ("identity", relay_id, valid_from, valid_to, one hash
    per item); ("link", relay_id, scheme, insurer, capacity, category, number index hex,
    valid_from, valid_to, retracted). Person versions count accepted changes, and whether a
    filing is accepted can depend on arrival order (a loss filed after a death), so they are
    left out. So are retracted links unless asked for: a retraction that finds its target
    still parked refuses it, and then no link was ever opened."""
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
    return tuple(sorted(rows, key=_sort_key))


def _sort_key(row: Row) -> tuple[str, ...]:
    return tuple("" if value is None else str(value) for value in row)
