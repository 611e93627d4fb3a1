"""Pushed change notices as notices-log entries: one per notice made, keyed by the relay,
naming the recipient as asker and witness and the filer as provider, and no number or relay
id."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

from access_log.entries import AccessEntry, AccessKind
from groundfloor.crypto import Keyring
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from relay_linker.domain.model import LedgerEntry
from relay_linker.pushed_changes import notice_entry_id, pushed_accesses
from schemas.notices import notice_id_for

KEYRING = Keyring.ephemeral(b"pushed change tests")
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _due(event_id, code: str, kind: str = "death", ended: str | None = None):
    return fx.ChangeNoticeDue(
        relay_id="R-HANA", recipient_code=code, kind=kind, effective_date=date(2025, 6, 30),
        number_key=(f"insured:{code}", b"ix"), source_event_id=event_id,
        ended_scheme=ended, ended_insurer="138012" if ended else None, index=1,
        outbox_id=uuid4())


def _ledgered(event_id, filer: str) -> fx.FilingLedgered:
    return fx.FilingLedgered(LedgerEntry(event_id, filer, "REF", "death_registered", "h",
                                         Source("filing.municipality.v1", 0, 7), NOW,
                                         uuid4(), "accepted"))


def test_each_notice_made_is_one_entry_with_the_recipient_and_the_filer():
    event = uuid4()
    told, untold = _due(event, "06139018"), _due(event, "JPS")
    ended = _due(uuid4(), "JPS", "coverage_ended", "medical")
    pushed = {notice_id_for(e.outbox_id, e.recipient_code) for e in (told, ended)}
    accesses = pushed_accesses([_ledgered(event, "131016"), told, untold, ended], pushed,
                               KEYRING, NOW)
    assert [(a.asker, a.provider, a.scheme, a.category, a.witness) for a in accesses] == [
        ("06139018", "131016", "-", "death", "06139018"),
        ("JPS", "relay", "medical", "coverage_ended", "JPS")]
    for a in accesses:
        assert (a.kind, a.purpose, a.policy_row, a.outcome, a.relay_time) == (
            AccessKind.PUSHED_CHANGE, "change_notice", "-", "pushed", NOW)
        assert len(a.entry_id) == 48 and "-" not in a.entry_id
        entry = AccessEntry(a.entry_id, a.kind, a.asker, a.provider, bytes(32), a.scheme,
                            a.category, a.purpose, a.policy_row, a.relay_time.isoformat(),
                            a.outcome)
        assert b"R-HANA" not in entry.leaf()


def test_entry_ids_are_the_same_each_time_and_keyed_by_the_relay():
    notice = uuid4()
    assert notice_entry_id(KEYRING, notice) == notice_entry_id(KEYRING, notice)
    assert notice_entry_id(KEYRING, notice) != notice_entry_id(
        Keyring.ephemeral(b"another relay"), notice)
    assert notice.hex[:48] != notice_entry_id(KEYRING, notice)
