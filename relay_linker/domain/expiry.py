"""Parking has a bound in relay time: 14 days after a filing was first parked, it is refused
with its reasons. The relay clock is the only time read; the wall clock never is."""

from dataclasses import replace
from datetime import datetime, timedelta

from relay_linker.domain import effects as fx
from relay_linker.domain.ids import anomaly_id, expiry_outbox_id
from relay_linker.domain.keys import relay_of_link_wait
from relay_linker.domain.model import REFUSED, Anomaly, ParkedFiling
from relay_linker.domain.reads import ledger_entry, parked_by
from relay_linker.domain.settle import outcome
from relay_linker.domain.state import RelayState

PARKING_BOUND = timedelta(days=14)
"""Residence notifications are due within 14 days of the change and employer filings within 5,
so what a filing waits for arrives within 14 days of relay time or is not coming."""


def expire(state: RelayState, now: datetime) -> list[fx.Effect]:
    """Refuse every filing first parked more than PARKING_BOUND before the relay time `now`.

    Called when the relay clock advances (`ClockAdvanced`), for all partitions at once, so a
    filing parked from a partition that went quiet still gets its final answer, and a record
    claiming a far-future occurred_at moves no deadline. Oldest parked first, then by the
    relay order of the parked record. A loss still waiting for its acquisition also records
    `loss_without_acquisition`."""
    due = [p for p in parked_by(state, now - PARKING_BOUND) if p.parked_at + PARKING_BOUND < now]
    effects: list[fx.Effect] = []
    for parked in sorted(due, key=lambda p: (p.parked_at, p.record.relay_order)):
        effects += _refusal(state, parked)
    return effects


def _refusal(state: RelayState, parked: ParkedFiling) -> list[fx.Effect]:
    event_id = parked.record.event_id
    entry = ledger_entry(state, event_id)
    if entry is None:
        raise ValueError("parked filing without a ledger entry")
    refused = replace(entry, status=REFUSED, reasons=parked.reasons)
    effects: list[fx.Effect] = [
        fx.FilingUnparked(event_id, parked.wait_keys),
        fx.FilingLedgered(refused),
    ]
    if any(r.code == "no_open_link" for r in parked.reasons):
        relay_ids = tuple(
            sorted(relay_of_link_wait(k) for k in parked.wait_keys if k.startswith("link:"))
        )
        key = anomaly_id("loss_without_acquisition", str(event_id))
        note = Anomaly(key, "loss_without_acquisition", relay_ids, event_id, ("link",))
        effects.append(fx.AnomalyRecorded(note))
    issued = outcome(refused)
    effects.append(replace(issued, index=0, outbox_id=expiry_outbox_id(event_id, 0)))
    return effects
