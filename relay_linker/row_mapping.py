"""Domain values ⇄ rows of the relay database (see infra/migrations/0003, 0004, 0007 and 0014).

Secrets are sealed here on the way in and opened on the way out; nothing else is stored in clear.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg

from groundfloor.crypto import Keyring, Sealed, open_sealed, seal
from relay_linker import stored_json
from relay_linker.domain.commands import IDENTITY_ITEMS
from relay_linker.domain.model import (
    Anomaly,
    Candidate,
    Card,
    IdentityChange,
    IndexEntry,
    LedgerEntry,
    Link,
    Milestone,
    ParkedFiling,
    Person,
)

BIRTH_AAD = b"identity.birth_date"
PARKED_AAD = b"parked_filing"


def _seal(keyring: Keyring, plain: bytes, aad: bytes) -> bytes:
    return json.dumps(seal(keyring, plain, aad).to_json_dict()).encode()


def _open(keyring: Keyring, stored: bytes, aad: bytes) -> bytes:
    return open_sealed(keyring, Sealed.from_json_dict(json.loads(stored)), aad)


def person_row(p: Person) -> tuple[Any, ...]:
    return (p.relay_id, p.version, p.registered_on, p.reason, p.created_by, p.died_on,
            p.died_by, p.resident_key[0], p.resident_key[1])


def person_of(r: asyncpg.Record) -> Person:
    return Person(relay_id=r["relay_id"], resident_key=(r["resident_kind"],
                  bytes(r["resident_index"])), registered_on=r["registered_on"],
                  reason=r["reason"], created_by=r["created_by"], version=r["version"],
                  died_on=r["died_on"], died_by=r["died_by"])


def identity_row(keyring: Keyring, c: IdentityChange) -> tuple[Any, ...]:
    hashes = dict(c.hashes)
    birth = None
    if c.secret_birth_date is not None:
        birth = _seal(keyring, c.secret_birth_date.isoformat().encode(), BIRTH_AAD)
    return (c.change_id, c.relay_id, c.event_id, c.effective_from, c.occurred_at, c.reason,
            c.base, *(hashes.get(item) for item in IDENTITY_ITEMS), birth)


def identity_of(keyring: Keyring, r: asyncpg.Record) -> IdentityChange:
    hashes = tuple((item, bytes(r[f"{item}_hash"])) for item in IDENTITY_ITEMS
                   if r[f"{item}_hash"] is not None)
    birth = None
    if r["birth_date_sealed"] is not None:
        birth = date.fromisoformat(_open(keyring, r["birth_date_sealed"], BIRTH_AAD).decode())
    return IdentityChange(relay_id=r["relay_id"], change_id=r["change_id"],
                          event_id=r["event_id"], effective_from=r["effective_from"],
                          occurred_at=r["occurred_at"], reason=r["reason"], hashes=hashes,
                          secret_birth_date=birth, base=r["base"])


def index_row(e: IndexEntry) -> tuple[Any, ...]:
    return (e.key[0], e.key[1], e.relay_id, e.created_by, e.sealed)


def index_of(r: asyncpg.Record) -> IndexEntry:
    sealed = bytes(r["number_sealed"]) if r["number_sealed"] is not None else None
    return IndexEntry((r["kind"], bytes(r["blind_index"])), r["relay_id"], r["created_by"], sealed)


def candidate_row(c: Candidate) -> tuple[Any, ...]:
    return (c.candidate_hash, c.relay_id, c.created_by)


def candidate_of(r: asyncpg.Record) -> Candidate:
    return Candidate(bytes(r["candidate_hash"]), r["relay_id"], r["created_by"])


def link_row(x: Link) -> tuple[Any, ...]:
    return (x.link_id, x.relay_id, x.scheme, x.insurer_number, x.capacity, x.category,
            x.number_key[0], x.number_key[1], x.valid_from, x.valid_to, x.opened_valid_to,
            x.clamp, x.opened_by, x.insured_relay_id, x.retracted_by, stored_json.dumps(x.closures),
            x.sealed_number)


def link_of(r: asyncpg.Record) -> Link:
    return Link(link_id=r["link_id"], relay_id=r["relay_id"], scheme=r["scheme"],
                insurer_number=r["insurer_number"], capacity=r["capacity"],
                category=r["category"], number_key=(r["number_kind"], bytes(r["number_index"])),
                valid_from=r["valid_from"], opened_valid_to=r["opened_valid_to"],
                clamp=r["clamp"], opened_by=r["opened_by"],
                insured_relay_id=r["insured_relay_id"], closures=stored_json.loads(r["closures"]),
                retracted_by=r["retracted_by"],
                sealed_number=bytes(r["number_sealed"]) if r["number_sealed"] is not None else None)


def milestone_row(m: Milestone) -> tuple[Any, ...]:
    return (m.relay_id, m.name, m.age, m.due_on)


def milestone_of(r: asyncpg.Record) -> Milestone:
    return Milestone(r["relay_id"], r["name"], r["age"], r["due_on"])


def card_row(c: Card) -> tuple[Any, ...]:
    return (bytes.fromhex(c.fingerprint), c.relay_id, c.public_key, c.issued_on, c.revoked_on,
            c.issued_by, c.revoked_by)


def card_of(r: asyncpg.Record) -> Card:
    return Card(fingerprint=bytes(r["fingerprint"]).hex(), relay_id=r["relay_id"],
                public_key=bytes(r["public_key"]), issued_on=r["issued_on"],
                issued_by=r["issued_by"], revoked_on=r["revoked_on"],
                revoked_by=r["revoked_by"])


def anomaly_row(a: Anomaly) -> tuple[Any, ...]:
    return (a.anomaly_id, a.code, list(a.relay_ids), a.event_id, list(a.fields),
            list(a.link_ids), a.resolved)


def anomaly_of(r: asyncpg.Record) -> Anomaly:
    return Anomaly(r["anomaly_id"], r["code"], tuple(r["relay_ids"]), r["event_id"],
                   tuple(r["fields"]), tuple(r["link_ids"]), r["resolved"])


def ledger_row(e: LedgerEntry) -> tuple[Any, ...]:
    return (e.event_id, e.filer_code, e.filing_reference, e.status, e.receipt_id,
            stored_json.dumps(e))


def ledger_of(r: asyncpg.Record) -> LedgerEntry:
    return stored_json.loads(r["entry"])


def parked_row(keyring: Keyring, p: ParkedFiling) -> tuple[Any, ...]:
    source = p.record.source
    reasons = json.dumps([{"code": r.code, "field": r.field} for r in p.reasons])
    return (p.record.event_id, source.topic, source.partition, p.record.occurred_at,
            p.parked_at, list(p.wait_keys), reasons,
            _seal(keyring, stored_json.dumps(p).encode(), PARKED_AAD))


def parked_of(keyring: Keyring, r: asyncpg.Record) -> ParkedFiling:
    return stored_json.loads(_open(keyring, r["record_sealed"], PARKED_AAD))
