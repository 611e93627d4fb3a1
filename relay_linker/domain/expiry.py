"""Parking has a bound in event time; past it, a parked filing is refused with its reasons.

The bound follows the filing deadlines, so what a filing waits for either comes or never will."""

from dataclasses import replace
from datetime import datetime, timedelta

from relay_linker.domain import effects as fx
from relay_linker.domain.ids import anomaly_id, expiry_outbox_id
from relay_linker.domain.keys import relay_of_link_wait
from relay_linker.domain.model import REFUSED, Anomaly, ParkedFiling
from relay_linker.domain.reads import ledger_entry, parked_in_partition
from relay_linker.domain.settle import outcome
from relay_linker.domain.state import RelayState

PARKING_BOUND = timedelta(days=14)
"""Residence notifications are due within 14 days of the change and employer filings within 5,
so a related record arrives within 14 days of event time or is not coming."""


def expire(state: RelayState, topic: str, partition: int, watermark: datetime) -> list[fx.Effect]:
    """Refuse the filings parked from this partition whose occurred_at + PARKING_BOUND < watermark.

    PARKING_BOUND is 14 days because residence notifications are due within 14 days of the
    change and employer filings within 5: what a filing waits for arrives within 14 days of
    event time or is not coming. `watermark` is the partition's highest event time seen; the
    wall clock is never read.
    A loss still waiting for its acquisition also records `loss_without_acquisition`."""
    due = [
        p
        for p in parked_in_partition(state, topic, partition)
        if p.record.occurred_at + PARKING_BOUND < watermark
    ]
    effects: list[fx.Effect] = []
    for parked in sorted(due, key=lambda p: (p.record.occurred_at, str(p.record.event_id))):
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
