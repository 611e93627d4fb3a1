"""An exchange population of a namespace: every insurer of a synthetic population gets its
principal, topics and member store, and the insurers with the most members are given the
batched questions they ask. The demo and the exchange bench both start from it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

import asyncpg

from groundfloor.config import StackConfig
from infra import kafka_acl
from infra.principals import OPERATOR
from infra.topics_admin import apply_topics_of
from insurer_workers import member_store
from insurer_workers.closing import member_number
from insurer_workers.members import MemberPeriod, benefits_for, members_from_filings
from insurer_workers.worker import role_of
from schemas.exchange import MAX_ENTRIES, ExchangeRequest, MemberNumber, RequestEntry
from schemas.exchange_terms import DataCategory, ExchangeScheme, Purpose
from schemas.topics import Namespace
from synthetic.population import Population
from trust.encryption_keys import ensure_encryption_keys
from trust.pki import Participant

ASKERS = 3  # the insurers with the most members on the day ask about all of them


def insurers_of(population: Population) -> list[str]:
    return sorted(c for c, k in population.filer_kinds.items() if k.value in ("insurer",
                                                                             "pension"))


async def prepare(stack: StackConfig, demo: StackConfig, population: Population) -> dict:
    """Principals and topics of every insurer in the demo namespace; member stores filled."""
    codes = insurers_of(population)
    topics = Namespace(demo.topic_prefix)
    participants = [Participant(role_of(c), c) for c in codes]
    ensure_encryption_keys(stack, participants)
    if stack.kafka_auth:
        await asyncio.to_thread(kafka_acl.provision, stack,
                                [(p.role, p.code) for p in participants], topics)
    await apply_topics_of(demo.kafka(OPERATOR), topics, codes)
    members = members_from_filings(population.filings)
    conn = await asyncpg.connect(demo.pg_dsn())
    try:
        for code, periods in sorted(members.items()):
            await member_store.create_store(conn, code)
            await member_store.fill_store(conn, code, periods, benefits_for(periods, 7))
    finally:
        await conn.close()
    return members


def _member(period: MemberPeriod) -> MemberNumber:
    if period.scheme == "long_term_care":
        return MemberNumber(care_insured_number=period.member_number)
    if period.scheme == "pension":
        return MemberNumber(basic_pension_number=period.member_number)
    return member_number(period.member_number)


def questions(members: dict[str, list[MemberPeriod]], day: datetime) -> list[ExchangeRequest]:
    """The medical insurers with the most members covered on `day` each ask, in batches,
    what other medical insurers covered each of them in the year to it (高額医療・高額介護合算's
    self-pay), as the calculation's gathering will."""
    end = day.date() - timedelta(days=1)
    covered = {code: sorted({p.member_number for p in periods
                             if p.scheme == "medical" and p.capacity == "insured"
                             and p.valid_from <= end and (p.valid_to is None or end < p.valid_to)})
               for code, periods in members.items()}
    askers = sorted(covered, key=lambda c: (-len(covered[c]), c))[:ASKERS]
    requests = []
    for code in askers:
        by_number = {p.member_number: p for p in members[code]}
        numbers = covered[code]
        for start in range(0, len(numbers), MAX_ENTRIES):
            chunk = numbers[start:start + MAX_ENTRIES]
            requests.append(ExchangeRequest(
                request_id=uuid5(NAMESPACE_URL, f"demo:{code}:{start}"), asker_code=code,
                scheme=ExchangeScheme.MEDICAL, category=DataCategory.SELF_PAY_AMOUNTS,
                purpose=Purpose.COMBINED_HIGH_COST, period_from=end - timedelta(days=365),
                period_to=end, expires_at=day + timedelta(minutes=5),
                entries=[RequestEntry(entry=f"m{start + i}", member=_member(by_number[n]))
                         for i, n in enumerate(chunk)]))
    return requests


async def settlements_kept_by(cfg: StackConfig, payers: list[str], sent: int, wait: float,
                              every: float) -> int:
    """How many settlements the `payers`' workers kept, polled every `every` seconds until all
    `sent` are kept or `wait` seconds have passed."""
    began, kept = time.monotonic(), 0
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        while time.monotonic() - began < wait:
            kept = 0
            for code in payers:
                kept += await conn.fetchval(
                    f"SELECT count(*) FROM {member_store.store_name(code)}.settlements_received")
            if kept >= sent:
                break
            await asyncio.sleep(every)
    finally:
        await conn.close()
    return kept
