"""The demo's relayed exchange: every insurer of the population gets its principal, topics and
member store; the router and the insurer workers run; some insurers ask about their members.

What the askers read back (forwarded, refused by reason, answered, unavailable) is reported, and
the change notices the workers kept from their own topics.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime, timedelta

import asyncpg
from aiokafka import TopicPartition

from access_log.verifier import parse_note
from consumers import access_heads
from groundfloor.config import StackConfig
from groundfloor.kafka_clients import read_to_end
from infra import processes
from infra.principals import RELAY_CLOCK_PRINCIPAL
from insurer_workers import member_store
from insurer_workers.worker import send_request
from relay_clock.clock import RelayClock
from schemas import decode_relay
from schemas.exchange import (
    ExchangeReply,
    ExchangeRequest,
    item_id,
    routed_id,
)
from schemas.exchange_terms import ExchangeOutcome
from schemas.notices import ChangeNotice
from schemas.topics import changes_topic, participant_topics
from shaho import access_log_commands
from shaho.bootstrap import insurer, keyring, topic_namespace
from staging.exchange_population import insurers_of
from synthetic.population import Population
from trust.keys import access_log_keys, clock_signer
from trust.number_sealing import open_answer

EXCHANGE_PROCESSORS = ("relay-exchange", "insurer-worker")
WAIT = 90.0


async def _replies(demo: StackConfig, code: str) -> list[ExchangeReply]:
    """The asker's replies, read with its own login from its own topic."""
    login = insurer(demo, code).kafka
    topic = topic_namespace(demo).physical(participant_topics(code)[1])
    found = await read_to_end(login, [TopicPartition(topic, p) for p in range(6)])
    return [decode_relay(bytes(r.value), ExchangeReply) for r in found]


def _settled(replies: list[ExchangeReply], persons: int) -> bool:
    """Every person has a first reply and every insurer reached has answered or lapsed."""
    first = {r.entry for r in replies if r.outcome in (ExchangeOutcome.FORWARDED,
                                                       ExchangeOutcome.REFUSED)}
    reached = sum(len(r.providers) for r in replies if r.outcome is ExchangeOutcome.FORWARDED)
    closed = sum(1 for r in replies if r.outcome in (ExchangeOutcome.ANSWERED,
                                                     ExchangeOutcome.UNAVAILABLE))
    return len(first) >= persons and closed >= reached


async def ask_and_read(demo: StackConfig, requests: list[ExchangeRequest],
                       day: datetime) -> dict[str, list[ExchangeReply]]:
    """Send the questions with the relay clock ticking on `day`, and read the replies back."""
    clock = RelayClock(demo.kafka(RELAY_CLOCK_PRINCIPAL), topic_namespace(demo), keyring(demo),
                       clock_signer(demo))
    await clock.start()
    done = asyncio.Event()
    ticks = asyncio.create_task(clock.run(done, 0.05, at=day))
    persons = Counter()
    for request in requests:
        await send_request(insurer(demo, request.asker_code), topic_namespace(demo), request)
        persons[request.asker_code] += len(request.entries)
    replies: dict[str, list[ExchangeReply]] = {}
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            replies = {code: await _replies(demo, code) for code in persons}
            if all(_settled(replies[c], n) for c, n in persons.items()):
                break
            await asyncio.sleep(1.0)
    finally:
        done.set()
        await ticks
        await clock.stop()
    return replies


def report(demo: StackConfig, replies: dict[str, list[ExchangeReply]]) -> list[str]:
    lines = []
    for code, found in sorted(replies.items()):
        first = Counter(r.reason.value if r.reason else r.outcome.value for r in found
                        if r.outcome in (ExchangeOutcome.FORWARDED, ExchangeOutcome.REFUSED))
        later = Counter(r.outcome.value for r in found
                        if r.outcome in (ExchangeOutcome.ANSWERED, ExchangeOutcome.UNAVAILABLE))
        key = insurer(demo, code).decryption_key
        covered = 0
        for r in found:
            if r.outcome is ExchangeOutcome.ANSWERED and r.sealed_answer and r.entry:
                assert r.provider_code is not None
                item = item_id(routed_id(r.asker_code, r.request_id, r.provider_code), r.entry)
                body = json.loads(open_answer(r.sealed_answer, key, r.request_id, item, code,
                                              r.provider_code))
                covered += body.get("status") == "covered"
        persons = sum(first.values())
        lines.append(
            f"exchange: insurer {code} asked about {persons} members: "
            + ", ".join(f"{k} {v}" for k, v in sorted(first.items()))
            + "; from the insurers reached: "
            + (", ".join(f"{k} {v}" for k, v in sorted(later.items())) or "none")
            + f"; answers opened with its own key, {covered} saying covered")
    return lines


async def _notices_on_topic(demo: StackConfig, code: str) -> set:
    """The ids of the change notices on the insurer's own topic, read with its own login."""
    topic = changes_topic(code)
    name = topic_namespace(demo).physical(topic)
    found = await read_to_end(insurer(demo, code).kafka,
                              [TopicPartition(name, p) for p in range(topic.partitions)])
    return {decode_relay(bytes(r.value), ChangeNotice).notice_id for r in found}


async def pushed_changes(demo: StackConfig, population: Population) -> list[str]:
    """What the workers kept of the change notices on their own topics, once they have read
    them all (or the wait ran out: then the shortfall is said)."""
    codes = insurers_of(population)
    sent = {code: await _notices_on_topic(demo, code) for code in codes}
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        deadline = time.monotonic() + WAIT
        while True:
            kept = {code: await member_store.notices_kept(conn, code) for code in codes}
            if all(sent[c] <= set(kept[c]) for c in codes) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    kinds = Counter(kind for k in kept.values() for kind, _ in k.values())
    known = sum(1 for k in kept.values() for _, member in k.values() if member)
    told = sum(1 for c in codes if sent[c])
    missing = sum(len(sent[c] - set(kept[c])) for c in codes)
    return [f"pushed changes: {sum(map(len, sent.values()))} notice(s) on the own topics of "
            f"{told} insurer(s); their workers opened and kept {sum(map(len, kept.values()))} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            + f"), {known} naming one of the recipient's own members by its own number"
            + (f"; {missing} not read yet" if missing else "")]


async def access_log(demo: StackConfig, shown: int = 6) -> list[str]:
    """The access log as a person reads theirs: the person with the most entries, each checked
    to name them and its inclusion proof checked by the standalone verifier; and whether the
    whole stored log holds together."""
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        total = await conn.fetchval("SELECT count(*) FROM access_entries")
        busiest = await conn.fetchval(
            "SELECT relay_id FROM access_entries GROUP BY relay_id "
            "ORDER BY count(*) DESC, relay_id LIMIT 1")
        if busiest is None:
            return ["access log: no entries (no one's data was relayed)"]
        lines, proven = await access_log_commands.prove(
            conn, busiest, access_log_keys(demo),
            await access_log_commands.witness_keys(conn, demo))
        verified, whole = await access_log_commands.verify(conn, access_log_keys(demo))
    finally:
        await conn.close()
    entries = [line for line in lines if "names this person" in line]
    under = sum("(witnessed head)" in line for line in entries)
    heads = [line for line in verified if " heads: " in line]
    return [f"access log: {total} entries; one person's {len(entries)} as they would read "
            f"them, each naming them and proven by the standalone verifier: "
            f"{'yes' if proven else 'NO'} ({under} against a head the relay signed and an "
            f"insurer cosigned); the stored log and its heads hold together: "
            f"{'yes' if whole else 'NO'}",
            *(f"  {line}" for line in heads),
            *(f"  {line}" for line in entries[:shown])]


async def witness_heads(demo: StackConfig, day: datetime, wait: float = 90.0) -> list[str]:
    """Move the relay clock on a minute at a time until each access-log month has a head that
    covers all its entries and a witness cosigned (the router signs, the insurers' workers
    cosign with their own keys, the router records their answers)."""
    clock = RelayClock(demo.kafka(RELAY_CLOCK_PRINCIPAL), topic_namespace(demo), keyring(demo),
                       clock_signer(demo))
    await clock.start()
    conn = await asyncpg.connect(demo.pg_dsn())
    minutes, covered = 0, False
    try:
        deadline = time.monotonic() + wait
        while not covered and time.monotonic() < deadline:
            minutes += 1
            await clock.tick(day + timedelta(minutes=minutes))
            await asyncio.sleep(2.0)
            covered = True
            for t in await conn.fetch("SELECT log, month, size FROM access_trees"):
                note = await access_heads.witnessed_head(conn, t["log"], t["month"])
                covered = covered and note is not None and parse_note(note)[0].size == t["size"]
    finally:
        await conn.close()
        await clock.stop()
    return [f"access-log heads: the relay clock moved on {minutes} minute(s); every month's "
            f"entries under a witnessed head: {'yes' if covered else 'NO'}"]


def start_processors(demo: StackConfig, population: Population) -> list[str]:
    lines = [f"started relay-exchange (pid {processes.spawn(demo, 'relay-exchange')})"]
    args = [a for code in insurers_of(population) for a in ("--insurer", code)]
    pid = processes.spawn(demo, "insurer-worker", *args)
    lines.append(f"started insurer-worker for {len(insurers_of(population))} insurers, each as "
                 f"its own principal (pid {pid})")
    return lines


def stop_processors(cfg: StackConfig) -> None:
    for name in EXCHANGE_PROCESSORS:
        processes.stop(cfg, name)
