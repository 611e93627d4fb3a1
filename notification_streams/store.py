"""The notifications processor's PostgreSQL state (migration 0015): facts, indexes, deadlines,
lists, reminders and steps sent, the ledger of notices, anomalies and the persons' inboxes.

Set-based statements (one round trip per kind of row and chunk); the caller owns the
transaction. Also the one read of the relay database: a recipient's own number, sealed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from notification_streams.casework import Deadline, SentReminder
from notification_streams.rules.double_enrolment import ListEntry, SentStep, Step, StoredList
from notification_streams.rules.facts import Anomaly, PersonFacts
from notification_streams.stored import (
    entry_from,
    entry_json,
    facts_from,
    facts_json,
    reminder_from,
    reminder_json,
)

Conn = asyncpg.Connection


async def load_facts(conn: Conn, relay_ids: Iterable[str]) -> dict[str, PersonFacts]:
    rows = await conn.fetch("SELECT relay_id, facts FROM notification_facts "
                            "WHERE relay_id = ANY($1::text[])", sorted(set(relay_ids)))
    return {r["relay_id"]: facts_from(json.loads(r["facts"])) for r in rows}


async def save_facts(conn: Conn, facts: Sequence[PersonFacts]) -> None:
    if not facts:
        return
    await conn.execute(
        "INSERT INTO notification_facts (relay_id, facts) "
        "SELECT * FROM unnest($1::text[], $2::jsonb[]) "
        "ON CONFLICT (relay_id) DO UPDATE SET facts = EXCLUDED.facts",
        [f.relay_id for f in facts], [json.dumps(facts_json(f)) for f in facts])


async def index(conn: Conn, facts: Sequence[PersonFacts], overlapping: set[str]) -> None:
    """Household members, dependants and double-enrolment candidates after a fold; the persons
    folded, and those whose reminders read their facts, are marked to be judged at the next
    clock step."""
    members = sorted({(h.household_token_key, f.relay_id) for f in facts for h in f.households})
    dependants = sorted({(other, f.relay_id) for f in facts for c in f.covers
                         for other in (c.insured_relay_id, c.spouse_relay_id)
                         if other is not None and other != f.relay_id})
    ids = sorted({f.relay_id for f in facts})
    if members:
        await conn.execute("INSERT INTO notification_members (household_key, relay_id) "
                           "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                           [m[0] for m in members], [m[1] for m in members])
    if dependants:
        await conn.execute("INSERT INTO notification_dependants (insured_relay_id, relay_id) "
                           "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                           [d[0] for d in dependants], [d[1] for d in dependants])
    await conn.execute("DELETE FROM notification_overlaps WHERE relay_id = ANY($1::text[])",
                       [i for i in ids if i not in overlapping])
    await conn.execute("INSERT INTO notification_overlaps (relay_id) SELECT unnest($1::text[]) "
                       "ON CONFLICT DO NOTHING", sorted(overlapping))
    await conn.execute("INSERT INTO notification_dirty (relay_id) SELECT unnest($1::text[]) "
                       "ON CONFLICT DO NOTHING", ids)
    # whose reminders read these persons' facts: their households' members (the householder
    # a reminder names) and those depending on them (a dependant's or type-3 spouse's loss is
    # judged on the insured person's facts)
    keys = sorted({h.household_token_key for f in facts for h in f.households})
    await conn.execute(
        "INSERT INTO notification_dirty (relay_id) SELECT relay_id FROM notification_members "
        "WHERE household_key = ANY($1::text[]) UNION SELECT relay_id FROM "
        "notification_dependants WHERE insured_relay_id = ANY($2::text[]) "
        "ON CONFLICT DO NOTHING", keys, ids)


async def take_dirty(conn: Conn, limit: int) -> list[str]:
    rows = await conn.fetch("DELETE FROM notification_dirty WHERE relay_id IN (SELECT relay_id "
                            "FROM notification_dirty ORDER BY relay_id LIMIT $1 "
                            "FOR UPDATE SKIP LOCKED) RETURNING relay_id", limit)
    return sorted(r["relay_id"] for r in rows)


async def members(conn: Conn, keys: Iterable[str]) -> dict[str, list[str]]:
    rows = await conn.fetch("SELECT household_key, relay_id FROM notification_members "
                            "WHERE household_key = ANY($1::text[])", sorted(set(keys)))
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["household_key"], []).append(r["relay_id"])
    return out


async def dependants_of(conn: Conn, insured: Iterable[str]) -> dict[str, list[str]]:
    rows = await conn.fetch("SELECT insured_relay_id, relay_id FROM notification_dependants "
                            "WHERE insured_relay_id = ANY($1::text[])", sorted(set(insured)))
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["insured_relay_id"], []).append(r["relay_id"])
    return out


# -- deadlines -----------------------------------------------------------------------------------

async def add_deadlines(conn: Conn, deadlines: Sequence[Deadline]) -> None:
    """Pending deadlines; one already pending for the same person, rule and key date stays."""
    if not deadlines:
        return
    await conn.execute(
        "INSERT INTO notification_deadlines (relay_id, rule, key_date, due_on) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::date[]) "
        "ON CONFLICT DO NOTHING",
        [d.relay_id for d in deadlines], [d.rule for d in deadlines],
        [d.key_date for d in deadlines], [d.due_on for d in deadlines])


async def take_due(conn: Conn, today: date, limit: int) -> list[Deadline]:
    """Up to `limit` deadlines due on or before `today`, in (due_on, relay_id, rule, key_date)
    order, deleted (the caller's transaction judges them)."""
    rows = await conn.fetch(
        "DELETE FROM notification_deadlines d USING (SELECT relay_id, rule, key_date "
        "FROM notification_deadlines WHERE due_on <= $1 ORDER BY due_on, relay_id, rule, "
        "key_date LIMIT $2 FOR UPDATE SKIP LOCKED) due WHERE d.relay_id = due.relay_id AND "
        "d.rule = due.rule AND d.key_date = due.key_date "
        "RETURNING d.relay_id, d.rule, d.key_date, d.due_on", today, limit)
    found = [Deadline(r["relay_id"], r["rule"], r["key_date"], r["due_on"]) for r in rows]
    return sorted(found, key=lambda d: (d.due_on, d.relay_id, d.rule, d.key_date))


async def pending_deadlines(conn: Conn | asyncpg.Pool) -> int:
    return await conn.fetchval("SELECT count(*) FROM notification_deadlines")


# -- reminders, lists, steps -------------------------------------------------------------------

async def reminders_of(conn: Conn, relay_ids: Iterable[str]
                       ) -> dict[tuple[str, str, date], SentReminder]:
    rows = await conn.fetch("SELECT relay_id, rule, key_date, round, state, sent "
                            "FROM notification_reminders WHERE relay_id = ANY($1::text[])",
                            sorted(set(relay_ids)))
    out = {}
    for r in rows:
        reminder, cover = reminder_from(json.loads(r["sent"]))
        out[(r["relay_id"], r["rule"], r["key_date"])] = SentReminder(
            reminder, cover, r["round"], r["state"] == "closed")
    return out


async def save_reminder(conn: Conn, key: tuple[str, str, date], sent: SentReminder) -> None:
    await conn.execute(
        "INSERT INTO notification_reminders (relay_id, rule, key_date, round, state, sent) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (relay_id, rule, key_date) DO UPDATE "
        "SET round = EXCLUDED.round, state = EXCLUDED.state, sent = EXCLUDED.sent", *key,
        sent.round, "closed" if sent.closed else "sent",
        json.dumps(reminder_json(sent.reminder, sent.cover)))


async def list_dates(conn: Conn) -> list[date]:
    return [r["list_date"] for r in await conn.fetch(
        "SELECT list_date FROM notification_list_dates ORDER BY list_date")]


async def overlap_candidates(conn: Conn) -> list[str]:
    return [r["relay_id"] for r in await conn.fetch(
        "SELECT relay_id FROM notification_overlaps ORDER BY relay_id")]


async def store_list(conn: Conn, list_date: date, entries: Sequence[ListEntry]) -> None:
    await conn.execute("INSERT INTO notification_list_dates (list_date, persons) VALUES ($1, $2)",
                       list_date, len(entries))
    if entries:
        await conn.execute(
            "INSERT INTO notification_lists (relay_id, list_date, entry) "
            "SELECT * FROM unnest($1::text[], $2::date[], $3::jsonb[])",
            [e.relay_id for e in entries], [list_date] * len(entries),
            [json.dumps(entry_json(e)) for e in entries])


async def lists_of(conn: Conn, relay_id: str, dates: Sequence[date]) -> list[StoredList]:
    """The stored lists of `dates` as the person appears on them (None: not on it)."""
    rows = await conn.fetch("SELECT list_date, entry FROM notification_lists "
                            "WHERE relay_id = $1 AND list_date = ANY($2::date[])",
                            relay_id, list(dates))
    on = {r["list_date"]: entry_from(json.loads(r["entry"])) for r in rows}
    return [StoredList(d, on.get(d)) for d in dates]


async def steps_of(conn: Conn, relay_id: str) -> list[SentStep]:
    rows = await conn.fetch("SELECT step, sent_on, deadline FROM notification_steps "
                            "WHERE relay_id = $1 ORDER BY sent_on, step", relay_id)
    return [SentStep(Step(r["step"]), r["sent_on"], r["deadline"]) for r in rows]


async def save_steps(conn: Conn, relay_id: str, ids: Sequence[UUID],
                     steps: Sequence[SentStep]) -> None:
    for notice_id, s in zip(ids, steps, strict=True):
        await conn.execute("INSERT INTO notification_steps (relay_id, notice_id, step, sent_on, "
                           "deadline) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                           relay_id, notice_id, s.step.value, s.sent_on, s.deadline)


# -- what was sent ----------------------------------------------------------------------------

async def record_sent(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """(notice_id, relay_id, rule, step, key_date, copies, relay_time) rows of the ledger."""
    if rows:
        await conn.executemany(
            "INSERT INTO notifications_sent (notice_id, relay_id, rule, step, key_date, copies, "
            "relay_time) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING", rows)


async def deliver_inbox(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """(copy_id, relay_id, rule, step, key_date, deadline, refers_to, relay_time, body)."""
    if rows:
        await conn.executemany(
            "INSERT INTO person_inbox (copy_id, relay_id, rule, step, key_date, deadline, "
            "refers_to, relay_time, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT DO NOTHING", rows)


async def record_anomalies(conn: Conn, rows: Sequence[tuple[UUID, Anomaly]],
                           relay_time: datetime) -> None:
    if rows:
        await conn.executemany(
            "INSERT INTO notification_anomalies (anomaly_id, relay_id, code, detail, relay_time) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [(i, a.relay_id, a.code, a.detail, relay_time) for i, a in rows])


async def sealed_number(conn: Conn, relay_id: str, municipality: bool,
                        insurer: str | None) -> tuple[str, bytes] | None:
    """The person's number a recipient knows them by, as the relay database keeps it sealed
    (its kind, the AAD it is sealed under, and the sealed JSON): the resident code for a
    municipality, the number of their latest medical link at `insurer` for an insurer."""
    if municipality:
        row = await conn.fetchrow(
            "SELECT r.kind, r.number_sealed FROM persons p JOIN reference_index r ON "
            "r.kind = p.resident_kind AND r.blind_index = p.resident_index "
            "WHERE p.relay_id = $1", relay_id)
    else:
        row = await conn.fetchrow(
            "SELECT r.kind, r.number_sealed FROM links l JOIN reference_index r ON "
            "r.kind = l.number_kind AND r.blind_index = l.number_index WHERE l.relay_id = $1 "
            "AND l.insurer_number = $2 AND l.scheme = 'medical' AND l.retracted_by IS NULL "
            "ORDER BY l.valid_from DESC, l.link_id LIMIT 1", relay_id, insurer)
    if row is None or row["number_sealed"] is None:
        return None
    return row["kind"], bytes(row["number_sealed"])
