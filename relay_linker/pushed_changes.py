"""Change notices the linker pushes, as access-log entries for the notices log: one per notice
whose outbox row was made, keyed by the relay so a recipient cannot find its leaf, and the same
on every run (a record processed again adds nothing: the log skips known ids). The recipient
of each notice witnesses the notices log's heads, as the providers witness the exchange's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from access_log.entries import AccessKind
from consumers.access_records import Access
from groundfloor.crypto import Keyring, blind_index
from relay_linker.domain import effects as fx
from schemas.notices import notice_id_for

PURPOSE = "change_notice"
OUTCOME = "pushed"
RELAY = "relay"
NO_POLICY_ROW = "-"  # no row of the purpose policy covers notices; the law's duty to tell does


def notice_entry_id(keyring: Keyring, notice_id: UUID) -> str:
    """A pushed notice's entry id: keyed by the relay, 48 hex characters."""
    return blind_index(keyring, "access-entry-notice", str(notice_id)).hex()[:48]


def pushed_accesses(effects: Iterable[fx.Effect], pushed: set[UUID], keyring: Keyring,
                    relay_time: datetime) -> list[Access]:
    """The accesses of the notices among `effects` whose ids are in `pushed` (the outbox rows
    made), in decision order. The asker is the recipient; the provider the filer of the
    filing that made the notice due (read from the decision's ledgered filings), else the
    relay; the category the kind of change, the scheme the ended coverage's when one ended;
    the witness the recipient."""
    effects = list(effects)
    filers = {e.entry.event_id: e.entry.filer_code for e in effects
              if isinstance(e, fx.FilingLedgered)}
    out = []
    for e in effects:
        if not isinstance(e, fx.ChangeNoticeDue) or e.outbox_id is None:
            continue
        notice_id = notice_id_for(e.outbox_id, e.recipient_code)
        if notice_id not in pushed:
            continue
        out.append(Access(
            notice_entry_id(keyring, notice_id), e.relay_id, AccessKind.PUSHED_CHANGE,
            e.recipient_code, filers.get(e.source_event_id, RELAY), e.ended_scheme or "-",
            e.kind, PURPOSE, NO_POLICY_ROW, relay_time, OUTCOME, witness=e.recipient_code))
    return out
