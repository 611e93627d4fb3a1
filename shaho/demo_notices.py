"""The demo's notices: the relay clock moved on past two 1sts of a month, the notifications
processor run on the demo's population, and what it sent, read back from the demo's database
and from one participant's notices topic opened with that participant's own key."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import asyncpg
from aiokafka import TopicPartition

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import high_watermarks, read_to_end
from infra import processes
from infra.principals import DEMO
from relay_linker.readback import mask
from schemas import decode_relay
from schemas.notices import RelayNotice
from schemas.payload import FilerKind
from schemas.topics import notices_topic
from shaho.bootstrap import tick_at, topic_namespace
from synthetic.population import Population
from trust.encryption_keys import NoEncryptionKey, load_private_key
from trust.notice_sealing import NoticeNotOpened, open_relay_notice
from trust.pki import Participant

PROCESSOR = "notifications"
WAIT = 90.0  # seconds the processor gets to reach the last clock step and the outbox to empty
EXAMPLES = 3


def firsts_after(day: datetime, count: int) -> list[datetime]:
    """The next `count` 1sts of a month after `day`, at 09:00 of its time zone."""
    found: list[datetime] = []
    at = day
    while len(found) < count:
        at = (at.replace(day=1) + timedelta(days=32)).replace(day=1, hour=9, minute=0, second=0,
                                                              microsecond=0)
        found.append(at)
    return found


async def move_clock(demo: StackConfig, after: datetime) -> tuple[list[str], datetime]:
    """Tick on the two next 1sts, each at its own clock step (a monthly double-enrolment list
    each, two consecutive ones needed for a first notice); what was written, the last time."""
    lines = []
    days = firsts_after(after, 2)
    for day in days:
        lines.append(await tick_at(demo, day))
    return lines, days[-1]


def start(demo: StackConfig) -> str:
    return f"started {PROCESSOR} (pid {processes.spawn(demo, PROCESSOR)})"


def stop(cfg: StackConfig) -> None:
    processes.stop(cfg, PROCESSOR)


async def wait_done(demo: StackConfig, last: datetime, seconds: float = WAIT) -> float:
    """Wait until the processor has stored the clock step at `last` and the outbox is empty
    (the publisher wrote every copy); the seconds it took."""
    began = time.monotonic()
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        while time.monotonic() - began < seconds:
            reached = await conn.fetchval(
                "SELECT relay_time FROM relay_clock WHERE group_id = $1", PROCESSOR)
            left = await conn.fetchval("SELECT count(*) FROM outbox")
            if reached is not None and reached >= last and left == 0:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return time.monotonic() - began


def _participants(population: Population) -> list[Participant]:
    roles = {FilerKind.MUNICIPALITY: "municipality", FilerKind.INSURER: "insurer",
             FilerKind.PENSION: "pension"}
    return [Participant(roles[kind], code) for code, kind in sorted(population.filer_kinds.items())
            if kind in roles]


async def _busiest(demo: StackConfig, population: Population) -> tuple[Participant, int] | None:
    """The participant whose notices topic holds the most records, and how many."""
    ns = topic_namespace(demo)
    best: tuple[Participant, int] | None = None
    for who in _participants(population):
        topic = notices_topic(who.code)
        ends = await high_watermarks(demo.kafka(DEMO), [
            TopicPartition(ns.physical(topic), p) for p in range(topic.partitions)])
        held = sum(ends.values())
        if held and (best is None or held > best[1]):
            best = (who, held)
    return best


async def _opened(demo: StackConfig, who: Participant) -> tuple[list[tuple[RelayNotice, str]],
                                                                int]:
    """`who`'s committed notices, each opened with its own private key; and how many did not
    open."""
    topic = notices_topic(who.code)
    name = topic_namespace(demo).physical(topic)
    key = load_private_key(demo, who)
    out, unopened = [], 0
    for record in await read_to_end(demo.kafka(DEMO), [
            TopicPartition(name, p) for p in range(topic.partitions)], 30):
        notice = decode_relay(bytes(record.value), RelayNotice)
        try:
            out.append((notice, open_relay_notice(notice, topic.name, record.key, key)))
        except NoticeNotOpened:
            unopened += 1
    return out, unopened


def _counts(rows: list[asyncpg.Record], *names: str) -> str:
    return ", ".join(f"{':'.join(str(r[n]) for n in names)} {r['n']}" for r in rows) or "none"


async def report(demo: StackConfig, population: Population, seconds: float) -> list[str]:
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        sent = await conn.fetch("SELECT rule, step, count(*) AS n FROM notifications_sent "
                                "GROUP BY rule, step ORDER BY rule, step")
        copies = await conn.fetchval("SELECT coalesce(sum(copies), 0) FROM notifications_sent")
        inbox = await conn.fetchval("SELECT count(*) FROM person_inbox")
        persons = await conn.fetchval("SELECT count(DISTINCT relay_id) FROM person_inbox")
        anomalies = await conn.fetch("SELECT code, count(*) AS n FROM notification_anomalies "
                                     "GROUP BY code ORDER BY count(*) DESC, code")
        lists = await conn.fetch("SELECT list_date, persons AS n FROM notification_list_dates "
                                 "ORDER BY list_date")
        pending = await conn.fetchval("SELECT count(*) FROM notification_deadlines")
    finally:
        await conn.close()
    lines = [
        f"notices: {sum(r['n'] for r in sent)} sent by the notifications processor "
        f"(caught up {seconds:.1f} s after the last tick), by rule:step: "
        + _counts(sent, "rule", "step"),
        f"notice copies: {inbox} to {persons} persons' inboxes, {copies - inbox} sealed to "
        "participants' notices topics (participant.<code>.notices.v1)",
        "notice anomalies: " + _counts(anomalies, "code"),
        "monthly double-enrolment lists (date: persons listed): " + _counts(lists, "list_date")
        + f"; {pending} deadlines still pending",
    ]
    busiest = await _busiest(demo, population)
    if busiest is None:
        return [*lines, "notices topics: no participant holds a notice"]
    who, held = busiest
    try:
        opened, unopened = await _opened(demo, who)
    except NoEncryptionKey:
        return [*lines, f"notices topic of {who.role} {who.code}: {held} records, no key here"]
    lines.append(f"notices topic of {who.role} {who.code}: {len(opened)} notices opened with its "
                 f"own private key, {unopened} did not open; for example:")
    for notice, number in opened[:EXAMPLES]:
        lines.append(f"  {notice.rule.value}:{notice.step.value} key date {notice.key_date} "
                     f"deadline {notice.deadline or '-'} to {notice.recipient_role.value} "
                     f"{notice.recipient_code}, member number {mask(number)}")
    return lines
