"""The relay database behind the decision function: load a slice, write back what changed.

One `BatchSlice` lives for one micro-batch transaction: it loads only what decisions ask for
(locking person rows), keeps what was loaded or changed in memory, and at the end writes the
final state of every touched row in one statement per table. What memory changed or deleted is
never reloaded, so a later read in the same batch sees the batch's own effects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from uuid import UUID

import asyncpg

from groundfloor.crypto import Keyring
from relay_linker import row_mapping
from relay_linker.domain import effects as fx
from relay_linker.domain.apply import apply_all
from relay_linker.domain.commands import IndexKey, LinkerRecord
from relay_linker.domain.keys import CANDIDATE_KIND, person_wait
from relay_linker.domain.model import Milestone, ParkedFiling
from relay_linker.domain.ports import Hasher
from relay_linker.domain.slicing import needs, then
from relay_linker.domain.state import (
    MilestonesDue,
    Needs,
    ParkedDue,
    Reference,
    RelayState,
    new_state,
)
from relay_linker.domain.touches import NOTHING, Touches, touches


@dataclass
class Touched:
    """Rows the batch's effects changed, by table."""

    persons: set[str] = field(default_factory=set)
    identity: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)
    milestones: set[tuple[str, str]] = field(default_factory=set)
    index: set[IndexKey] = field(default_factory=set)
    candidates: set[bytes] = field(default_factory=set)
    anomalies: set[UUID] = field(default_factory=set)
    parked: set[UUID] = field(default_factory=set)
    ledger: set[UUID] = field(default_factory=set)

    def note(self, effect: fx.Effect) -> None:
        rows = touches(effect)
        if rows is NOTHING:
            return
        for name in _TABLES:
            changed = getattr(rows, name)
            if changed:
                getattr(self, name).update(changed)


_TABLES = tuple(table.name for table in fields(Touches))


class BatchSlice:
    """A slice of the relay state for one transaction, filled from PostgreSQL on demand."""

    def __init__(self, conn: asyncpg.Connection, keyring: Keyring,
                 hasher: Hasher | None = None) -> None:
        self.conn, self.keyring, self.hasher = conn, keyring, hasher
        self.state: RelayState = new_state(complete=False)
        self._woken: list[LinkerRecord] = []
        """Parked filings loaded by the current `load`, whose own reads it loads next."""
        self.misses = 0
        """Decisions run again after loading what they lacked (`linker.in_slice` counts)."""
        self.touched = Touched()

    def apply(self, effects: list[fx.Effect]) -> None:
        apply_all(self.state, effects)
        for effect in effects:
            self.touched.note(effect)

    async def prefetch(self, records: Iterable[LinkerRecord]) -> None:
        """Load up front what the batch's decisions will read, in a few queries: the numbers
        they name, the persons behind them, the filings waiting on what they may change, and
        their ledger and parking entries (`slicing.needs`, then `slicing.then`). Each miss
        left costs a round trip and deciding its record again."""
        records = list(records)
        await self.load(Needs.merged(needs(record, self.hasher) for record in records))
        await self.load(Needs.merged(then(record, self.state) for record in records))

    async def load(self, missing: Needs, following: bool = False) -> None:
        """Load what a decision lacked; rows already in memory (or deleted there) are kept.

        A number found loads its person and the filings waiting on that person too, which the
        decision reads next; parked filings found load what their retry reads (`following`
        is that second step, which does not follow further)."""
        fresh = missing.index_keys - self.state.loaded_index_keys
        await self._index(fresh)
        found = {e.relay_id for k in fresh if (e := self.state.index.get(k)) is not None}
        missing = missing | Needs(relay_ids=frozenset(found),
                                  wait_keys=frozenset(person_wait(r) for r in found))
        self._woken = []
        await self._persons(missing.relay_ids - self.state.loaded_relay_ids)
        await self._waits(missing.wait_keys - self.state.loaded_wait_keys)
        await self._parked_due(missing.parked_due - self.state.loaded_parked_due)
        await self._milestones_due(missing.milestones_due - self.state.loaded_milestones_due)
        await self._dependants(missing.dependants_of - self.state.loaded_dependants_of)
        await self._references(missing.references - self.state.loaded_references)
        await self._events(missing.event_ids - self.state.loaded_event_ids)
        if self.hasher is not None and self._woken and not following:
            woken = self._woken  # parked filings a decision may retry: what they read
            await self.load(Needs.merged(needs(r, self.hasher) for r in woken), following=True)
            await self.load(Needs.merged(then(r, self.state) for r in woken), following=True)

    async def _persons(self, relay_ids: Iterable[str]) -> None:
        ids = sorted(set(relay_ids) - self.touched.persons)
        self.state.loaded_relay_ids.update(relay_ids)
        if not ids:
            return
        s, q = self.state, self.conn.fetch
        for r in await q("SELECT * FROM persons WHERE relay_id = ANY($1) ORDER BY relay_id "
                         "FOR UPDATE", ids):
            s.persons.setdefault(r["relay_id"], row_mapping.person_of(r))
        for r in await q("SELECT * FROM identity_changes WHERE relay_id = ANY($1)", ids):
            if r["relay_id"] not in self.touched.identity:
                change = row_mapping.identity_of(self.keyring, r)
                s.identity[change.relay_id] = (*s.identity.get(change.relay_id, ()), change)
        for r in await q("SELECT * FROM links WHERE relay_id = ANY($1)", ids):
            if r["relay_id"] not in self.touched.links:
                link = row_mapping.link_of(r)
                s.links[link.relay_id] = (*s.links.get(link.relay_id, ()), link)
        for r in await q("SELECT * FROM cards WHERE relay_id = ANY($1)", ids):
            if r["relay_id"] not in self.touched.cards:
                card = row_mapping.card_of(r)
                s.cards[card.relay_id] = (*s.cards.get(card.relay_id, ()), card)
        self._milestones(await q("SELECT * FROM age_milestones WHERE relay_id = ANY($1)", ids))
        for r in await q("SELECT * FROM anomalies WHERE relay_ids && $1::text[]", ids):
            if r["anomaly_id"] not in self.touched.anomalies:
                s.anomalies.setdefault(r["anomaly_id"], row_mapping.anomaly_of(r))

    async def _dependants(self, insured: Iterable[str]) -> None:
        """Load every person holding a link under these insured persons; links the batch
        opened are already in memory with their persons."""
        ids = sorted(set(insured))
        self.state.loaded_dependants_of.update(ids)
        if ids:
            found = await self.conn.fetch(
                "SELECT DISTINCT relay_id FROM links WHERE insured_relay_id = ANY($1)", ids)
            await self._persons({r["relay_id"] for r in found}
                                - self.state.loaded_relay_ids)

    async def _milestones_due(self, dues: Iterable[MilestonesDue]) -> None:
        """Load the milestones due by these dates (a clock step reads only those)."""
        dues = set(dues)
        self.state.loaded_milestones_due.update(dues)
        if dues:
            bound = max(due.bound for due in dues)
            self._milestones(await self.conn.fetch(
                "SELECT * FROM age_milestones WHERE due_on <= $1", bound))

    def _milestones(self, found: list[asyncpg.Record]) -> None:
        """Keep the milestone rows the batch has not changed nor already holds."""
        s = self.state
        for r in found:
            m = row_mapping.milestone_of(r)
            held = s.milestones.get(m.relay_id, ())
            if (m.relay_id, m.name) not in self.touched.milestones and all(
                    x.name != m.name for x in held):
                s.milestones[m.relay_id] = (*held, m)

    async def _index(self, keys: Iterable[IndexKey]) -> None:
        keys = set(keys)
        self.state.loaded_index_keys.update(keys)
        numbers = [k for k in keys if k[0] != CANDIDATE_KIND and k not in self.touched.index]
        hashes = [k[1] for k in keys if k[0] == CANDIDATE_KIND
                  and k[1] not in self.touched.candidates]
        if numbers:
            for r in await self.conn.fetch(
                "SELECT r.* FROM reference_index r JOIN unnest($1::text[], $2::bytea[]) "
                "AS k(kind, idx) ON r.kind = k.kind AND r.blind_index = k.idx",
                [k[0] for k in numbers], [k[1] for k in numbers],
            ):
                entry = row_mapping.index_of(r)
                self.state.index.setdefault(entry.key, entry)
        if hashes:
            for r in await self.conn.fetch(
                "SELECT * FROM lookalike_candidates WHERE candidate_hash = ANY($1)", hashes
            ):
                c = row_mapping.candidate_of(r)
                known = self.state.candidates.get(c.candidate_hash, ())
                if c not in known:
                    self.state.candidates[c.candidate_hash] = (*known, c)

    async def _waits(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        self.state.loaded_wait_keys.update(keys)
        if not keys:
            return
        fresh = await self._parked_rows(await self.conn.fetch(
            "SELECT * FROM parked_filings WHERE wait_keys && $1::text[]", keys))
        for event_id, parked in fresh:
            for key in set(parked.wait_keys) & set(keys):
                waiting = self.state.waiting.get(key, frozenset())
                self.state.waiting[key] = waiting | {event_id}

    async def _parked_due(self, dues: Iterable[ParkedDue]) -> None:
        """Load every filing parked at or before these bounds (expiry reads them all)."""
        dues = set(dues)
        self.state.loaded_parked_due.update(dues)
        for due in dues:
            await self._parked_rows(await self.conn.fetch(
                "SELECT * FROM parked_filings WHERE parked_at <= $1", due.bound))

    async def _parked_rows(self, found: list[asyncpg.Record]
                           ) -> list[tuple[UUID, ParkedFiling]]:
        """Keep the parked rows the batch has not changed, with their ledger entries."""
        fresh = [r for r in found if r["event_id"] not in self.touched.parked]
        kept = [(r["event_id"], row_mapping.parked_of(self.keyring, r)) for r in fresh]
        for event_id, parked in kept:
            self.state.parked.setdefault(event_id, parked)
        self._woken += [parked.record for _, parked in kept]
        await self._events({event_id for event_id, _ in kept})
        return kept

    async def _references(self, references: Iterable[Reference]) -> None:
        refs = sorted(set(references))
        self.state.loaded_references.update(refs)
        if not refs:
            return
        found = await self.conn.fetch(
            "SELECT l.* FROM filing_ledger l JOIN unnest($1::text[], $2::text[]) AS k(f, r) "
            "ON l.filer_code = k.f AND l.filing_reference = k.r",
            [r[0] for r in refs], [r[1] for r in refs])
        for r in found:
            self.state.references.setdefault((r["filer_code"], r["filing_reference"]),
                                              r["event_id"])
        await self._events({r["event_id"] for r in found})

    async def _events(self, event_ids: Iterable[UUID]) -> None:
        ids = sorted(set(event_ids) - self.state.loaded_event_ids, key=str)
        self.state.loaded_event_ids.update(ids)
        if not ids:
            return
        for r in await self.conn.fetch("SELECT * FROM filing_ledger WHERE event_id = ANY($1)",
                                       ids):
            if r["event_id"] not in self.touched.ledger:
                entry = row_mapping.ledger_of(r)
                self.state.ledger.setdefault(entry.event_id, entry)
                self.state.references.setdefault((entry.filer_code, entry.filing_reference),
                                                  entry.event_id)
        for r in await self.conn.fetch("SELECT * FROM parked_filings WHERE event_id = ANY($1)",
                                       ids):
            if r["event_id"] not in self.touched.parked:
                self.state.parked.setdefault(r["event_id"], row_mapping.parked_of(self.keyring, r))

    async def flush(self) -> None:
        """Write the final state of every touched row: one statement per table and kind."""
        s, t, x = self.state, self.touched, self.conn.executemany
        await self.conn.execute("DELETE FROM cards WHERE relay_id = ANY($1)", sorted(t.cards))
        await self._persons_flush()
        await self.conn.execute("DELETE FROM identity_changes WHERE relay_id = ANY($1)",
                                sorted(t.identity))
        await x(_insert("identity_changes", 13), [
            row_mapping.identity_row(self.keyring, c) for r in sorted(t.identity)
            for c in s.identity.get(r, ())])
        await x(_upsert("links", 17, "link_id"), [
            row_mapping.link_row(link) for r in sorted(t.links) for link in s.links.get(r, ())])
        gone = [k for k in t.index if k not in s.index]
        await x("DELETE FROM reference_index WHERE kind = $1 AND blind_index = $2", gone)
        await x(_upsert("reference_index", 5, "kind, blind_index"),
                [row_mapping.index_row(s.index[k]) for k in t.index if k in s.index])
        await self.conn.execute(
            "DELETE FROM lookalike_candidates WHERE candidate_hash = ANY($1)", sorted(t.candidates))
        await x(_insert("lookalike_candidates", 3), [
            row_mapping.candidate_row(c) for h in t.candidates for c in s.candidates.get(h, ())])
        await self._milestones_flush()
        await x(_upsert("anomalies", 7, "anomaly_id"),
                [row_mapping.anomaly_row(s.anomalies[a]) for a in t.anomalies if a in s.anomalies])
        await self._replace("parked_filings", "event_id", t.parked, [
            row_mapping.parked_row(self.keyring, s.parked[e]) for e in t.parked if e in s.parked])
        await x(_upsert("filing_ledger", 6, "event_id"),
                [row_mapping.ledger_row(s.ledger[e]) for e in t.ledger if e in s.ledger])
        await x(_insert("cards", 7), [
            row_mapping.card_row(c) for r in sorted(t.cards) for c in s.cards.get(r, ())])

    async def _milestones_flush(self) -> None:
        """Delete the touched milestones, then insert those still pending."""
        keys = sorted(self.touched.milestones)
        if not keys:
            return
        await self.conn.execute(
            "DELETE FROM age_milestones m USING unnest($1::text[], $2::text[]) AS k(r, n) "
            "WHERE m.relay_id = k.r AND m.name = k.n", [k[0] for k in keys], [k[1] for k in keys])
        held: dict[tuple[str, str], Milestone] = {
            (m.relay_id, m.name): m for ms in self.state.milestones.values() for m in ms}
        await self.conn.executemany(_insert("age_milestones", 4), [
            row_mapping.milestone_row(held[k]) for k in keys if k in held])

    async def _persons_flush(self) -> None:
        """Upsert persons in place (their cards refer to them); delete the removed ones."""
        s, t = self.state, self.touched
        gone = sorted(r for r in t.persons if r not in s.persons)
        await self.conn.execute("DELETE FROM links WHERE relay_id = ANY($1)", gone)
        await self.conn.execute("DELETE FROM persons WHERE relay_id = ANY($1)", gone)
        await self.conn.executemany(_upsert("persons", 9, "relay_id"), [
            row_mapping.person_row(s.persons[r]) for r in sorted(t.persons) if r in s.persons])

    async def _replace(self, table: str, key: str, keys: set, values: list[tuple]) -> None:
        if keys:
            await self.conn.execute(f"DELETE FROM {table} WHERE {key} = ANY($1)", list(keys))
        if values:
            await self.conn.executemany(_insert(table, len(values[0])), values)


_COLUMNS = {
    "persons": "relay_id, version, registered_on, reason, created_by, died_on, died_by, "
               "resident_kind, resident_index",
    "identity_changes": "change_id, relay_id, event_id, effective_from, occurred_at, reason, "
                        "base, kanji_name_hash, kana_name_hash, birth_date_hash, sex_hash, "
                        "address_hash, birth_date_sealed",
    "links": "link_id, relay_id, scheme, insurer_number, capacity, category, number_kind, "
             "number_index, valid_from, valid_to, opened_valid_to, clamp, opened_by, "
             "insured_relay_id, retracted_by, closures, number_sealed",
    "cards": "fingerprint, relay_id, public_key, issued_on, revoked_on, issued_by, revoked_by",
    "reference_index": "kind, blind_index, relay_id, created_by, number_sealed",
    "lookalike_candidates": "candidate_hash, relay_id, created_by",
    "age_milestones": "relay_id, name, age, due_on",
    "anomalies": "anomaly_id, code, relay_ids, event_id, fields, link_ids, resolved",
    "parked_filings": "event_id, source_topic, source_partition, occurred_at, parked_at, "
                      "wait_keys, reasons, record_sealed",
    "filing_ledger": "event_id, filer_code, filing_reference, status, receipt_id, entry",
}


def _insert(table: str, count: int) -> str:
    marks = ", ".join(f"${i}" for i in range(1, count + 1))
    return f"INSERT INTO {table} ({_COLUMNS[table]}) VALUES ({marks})"


def _upsert(table: str, count: int, key: str) -> str:
    keys = {k.strip() for k in key.split(",")}
    cols = [c.strip() for c in _COLUMNS[table].split(",")]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in keys)
    return f"{_insert(table, count)} ON CONFLICT ({key}) DO UPDATE SET {sets}"
