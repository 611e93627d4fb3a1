"""The access logs' signed tree heads in PostgreSQL: heads signed at a steady interval of relay
time, what each witness is sent, its answers recorded, and the stored heads checked again.

Log-generic: any processor that appends to a log (the router for the exchange's, the linker for
the notices') calls `heads_due` from its own clock handling, in its own transaction. A witness
is a providing insurer of the log's entries; it is sent the signed note and a consistency proof
from the last head it cosigned of that month, and answers with the note cosigned, or a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import asyncpg
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.heads import signed_head
from access_log.merkle import Tree
from access_log.months import head_origin, month_of
from access_log.verifier import DASH, Head, HeadRefused, parse_note, verify_head
from consumers.access_records import LOGS, leaf_hashes
from schemas import encode
from schemas.access_log import TreeHeadForWitness
from schemas.topics import Namespace, heads_topic

COSIGNATURE_LINE = re.compile(r"\u2014 [!-~]+ [A-Za-z0-9+/]+={0,2}\n")
"""The one line a witness adds to the relay's note: `— <witness> <base64 signature>`."""
HEADS_NAMESPACE = UUID("8e2c51f4-7a9d-5b3e-a061-3f4d2c1b0e97")
HEAD_INTERVAL = timedelta(hours=1)
"""A month's tree is signed again after this much relay time even when it did not grow."""
SILENT_AFTER = 3
"""A witness that leaves a head unanswered while this many heads are signed (that one included)
has stopped cosigning."""


@dataclass(frozen=True)
class ForWitness:
    """One signed head for one witness, with the consistency proof from the month's previous
    head (`since` its size; none for the month's first head)."""

    witness: str
    log: str
    month: str
    note: str
    since: int | None
    proof: list[bytes] | None


def relay_time_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _due(size: int, last: asyncpg.Record | None, month: str, now: datetime,
         gap: timedelta) -> bool:
    if size == 0:
        return False
    if last is None:
        return True
    since = now - datetime.strptime(last["relay_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if size > last["size"]:
        return since >= gap
    return month == month_of(now) and since >= HEAD_INTERVAL


async def heads_due(conn: asyncpg.Connection, log: str, now: datetime,
                    signer: tuple[str, ec.EllipticCurvePrivateKey],
                    gap: timedelta = timedelta(0)) -> list[ForWitness]:
    """In the caller's transaction: sign a head of every month of `log` that grew since its
    last head, at least `gap` of relay time after it (or, for the current month, whose last
    head is `HEAD_INTERVAL` old at relay time `now`), store it, and the messages to send to
    the log's witnesses: each head with the consistency proof from the month's previous head,
    which every witness was sent before it (on one partition, in order), whatever it answered,
    so what is sent depends on the log alone, never on when witnesses answer."""
    if log not in LOGS:
        raise ValueError(f"no access log {log!r}")
    at = relay_time_text(now)
    trees = await conn.fetch("SELECT month, size FROM access_trees WHERE log = $1 "
                             "ORDER BY month FOR UPDATE", log)
    witnesses = [r["witness"] for r in await conn.fetch(
        "SELECT witness FROM access_witnesses WHERE log = $1 ORDER BY witness", log)]
    out: list[ForWitness] = []
    for t in trees:
        month, size = t["month"], t["size"]
        last = await conn.fetchrow("SELECT size, relay_time FROM access_heads WHERE log = $1 "
                                   "AND month = $2 ORDER BY relay_time DESC LIMIT 1", log, month)
        if not _due(size, last, month, now, gap) or (last is not None and last["relay_time"] >= at):
            continue
        leaves = await leaf_hashes(conn, month, log)
        if len(leaves) != size:
            raise RuntimeError(f"access log {log} {month}: {size} recorded, {len(leaves)} stored")
        tree = Tree(leaves)
        head = Head(head_origin(log, month), size, tree.root(size), at)
        note = signed_head(head, *signer)
        await conn.execute("INSERT INTO access_heads (log, month, size, root, relay_time, note) "
                           "VALUES ($1, $2, $3, $4, $5, $6)", log, month, size, head.root, at, note)
        since = None if last is None else last["size"]
        proof = None if not since else tree.consistency(since, size)
        for w in witnesses:
            await conn.execute("INSERT INTO access_head_witnessing (log, month, relay_time, "
                               "witness, state) VALUES ($1, $2, $3, $4, 'sent')",
                               log, month, at, w)
            out.append(ForWitness(w, log, month, note, since, proof))
    return out


async def take_answer(conn: asyncpg.Connection, log: str, witness: str, answer: str,
                      relay: tuple[str, ec.EllipticCurvePublicKey],
                      witness_keys: dict[str, ec.EllipticCurvePublicKey],
                      refusal: str | None = None) -> str | None:
    """Record witness `witness`'s answer to a head of `log`: `answer` is the note it cosigned,
    or (with `refusal`, its reason) the note it refused. None when recorded; what was wrong
    otherwise (an unknown head, a witness not asked, a cosignature that does not verify)."""
    try:
        head, _ = parse_note(answer)
    except HeadRefused as bad:
        return f"not a head: {bad}"
    month = head.origin.rsplit(" ", 2)[-2] if head.origin.count(" ") >= 2 else ""
    stored = await conn.fetchrow(
        "SELECT h.note, a.state FROM access_heads h JOIN access_head_witnessing a USING "
        "(log, month, relay_time) WHERE h.log = $1 AND h.month = $2 AND h.relay_time = $3 "
        "AND a.witness = $4", log, month, head.relay_time, witness)
    if stored is None or head.origin != head_origin(log, month):
        return "unknown head: the relay sent this witness no such head"
    if parse_note(stored["note"])[0] != head:
        return "another head: the answer's body is not the one the relay signed"
    if refusal is not None:
        await _answered(conn, log, month, head.relay_time, witness, "refused", refusal[:500], None)
        return None
    key = witness_keys.get(witness)
    if key is None:
        return f"no key for witness {witness}"
    added = answer[len(stored["note"]):] if answer.startswith(stored["note"]) else ""
    if not COSIGNATURE_LINE.fullmatch(added) or not added.startswith(f"{DASH}{witness} "):
        return ("not one cosignature: the answer is the relay's note with exactly one line "
                "added, the witness's own")
    try:
        verify_head(answer, relay, {witness: key}, cosignatures=1)
    except HeadRefused as bad:
        return f"bad cosignature: {bad}"
    await _answered(conn, log, month, head.relay_time, witness, "cosigned", None, answer)
    return None


async def _answered(conn: asyncpg.Connection, log: str, month: str, at: str, witness: str,
                    state: str, reason: str | None, note: str | None) -> None:
    await conn.execute("UPDATE access_head_witnessing SET state = $5, reason = $6, note = $7 "
                       "WHERE log = $1 AND month = $2 AND relay_time = $3 AND witness = $4 "
                       "AND state = 'sent'", log, month, at, witness, state, reason, note)


async def witnessed_head(conn: asyncpg.Connection, log: str, month: str) -> str | None:
    """The latest head of the log's month that a witness cosigned, with every cosignature it
    got (the relay's note, each witness's signature line added)."""
    rows = await conn.fetch(
        "SELECT h.relay_time, h.note, a.note AS cosigned FROM access_heads h JOIN "
        "access_head_witnessing a USING (log, month, relay_time) WHERE h.log = $1 AND "
        "h.month = $2 AND a.state = 'cosigned' ORDER BY h.relay_time DESC, a.witness", log, month)
    if not rows:
        return None
    latest = [r for r in rows if r["relay_time"] == rows[0]["relay_time"]]
    note = latest[0]["note"]
    for r in latest:
        note += r["cosigned"][len(r["note"]):]
    return note


RelayKeys = tuple[str, ec.EllipticCurvePublicKey | list[ec.EllipticCurvePublicKey]]


def relay_key_of(note: str, relay: RelayKeys) -> tuple[str, ec.EllipticCurvePublicKey]:
    """The relay's name and whichever of its keys signed `note` (the first when none did: the
    check that follows then says so)."""
    name, keys = relay[0], relay[1] if isinstance(relay[1], list) else [relay[1]]
    for key in keys:
        try:
            verify_head(note, (name, key), {}, cosignatures=0)
        except HeadRefused:
            continue
        return name, key
    return name, keys[0]


async def head_problems(conn: asyncpg.Connection, log: str, relay: RelayKeys) -> list[str]:
    """What is wrong with the log's stored heads: a head whose relay signature fails, a head
    whose root is not the one the stored leaves give at its size (an entry edited, deleted,
    inserted or reordered below a signed size, even with hashes recomputed), a refusal by a
    witness (and why). `relay` may give every key the relay's access log was given."""
    problems: list[str] = []
    trees: dict[str, Tree] = {}
    for h in await conn.fetch("SELECT month, size, relay_time, note FROM access_heads "
                              "WHERE log = $1 ORDER BY month, relay_time", log):
        what = f"{log} {h['month']} head of {h['size']} at {h['relay_time']}"
        try:
            head = verify_head(h["note"], relay_key_of(h["note"], relay), {},
                               cosignatures=0).head
        except HeadRefused as bad:
            problems.append(f"{what}: {bad}")
            continue
        if h["month"] not in trees:
            trees[h["month"]] = Tree(await leaf_hashes(conn, h["month"], log))
        tree = trees[h["month"]]
        if head.size > len(tree.leaves) or tree.root(head.size) != head.root:
            problems.append(f"{what}: the stored entries no longer give its root (an entry "
                            "edited, deleted, inserted or reordered)")
    for r in await conn.fetch("SELECT month, relay_time, witness, reason FROM "
                              "access_head_witnessing WHERE log = $1 AND state = 'refused' "
                              "ORDER BY month, relay_time, witness", log):
        problems.append(f"{log} {r['month']} head at {r['relay_time']}: witness {r['witness']} "
                        f"refused it: {r['reason']}")
    return problems


async def silent_witnesses(conn: asyncpg.Connection, log: str) -> list[str]:
    """The witnesses of `log` that stopped cosigning: each left a head unanswered while
    `SILENT_AFTER` heads of its month were signed (an outage of a witness, not of the log)."""
    silent = []
    for r in await conn.fetch(
            "SELECT a.witness, a.month, count(*) AS n FROM (SELECT witness, month, "
            "min(relay_time) AS since FROM access_head_witnessing WHERE log = $1 AND state = "
            "'sent' GROUP BY witness, month) a JOIN access_heads h ON h.log = $1 AND h.month = "
            "a.month AND h.relay_time >= a.since GROUP BY a.witness, a.month HAVING count(*) "
            ">= $2 ORDER BY a.witness, a.month", log, SILENT_AFTER):
        silent.append(f"{log}: witness {r['witness']} stopped cosigning ({r['n']} heads of "
                      f"{r['month']} unanswered)")
    return silent


def witness_records(sent: list[ForWitness], relay_time: datetime, namespace: Namespace,
                    sign: Callable[[str, bytes, bytes], list[tuple[str, bytes]]]
                    ) -> list[tuple[UUID, str, int, bytes, bytes, tuple[tuple[str, bytes], ...]]]:
    """Each head for each witness as a `TreeHeadForWitness` record on its own heads topic,
    signed with `sign(topic, key, value)` (the relay's access-log key): id (the same for the
    same head, witness and log), broker topic, its partitions, key, value, headers."""
    out = []
    for s in sent:
        message = TreeHeadForWitness(log=s.log, month=s.month, witness_code=s.witness,
                                     note=s.note, since=s.since, consistency=s.proof or [],
                                     relay_time=relay_time)
        topic = heads_topic(s.witness)
        key, value = message.kafka_key(), encode(message)
        out.append((uuid5(HEADS_NAMESPACE, f"{s.log}|{s.month}|{s.witness}|{s.note}"),
                    namespace.physical(topic), topic.partitions, key, value,
                    tuple(sign(topic.name, key, value))))
    return out
