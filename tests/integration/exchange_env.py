"""A relay with insurers for the exchange tests: a synthetic population linked by the real
linker, the insurers' principals, topics and member stores in the test's namespace, and helpers
to ask, answer and read replies as each participant would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from aiokafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric import ec

from consumers.reading import partitions_of
from groundfloor.crypto import Sealed, open_sealed
from groundfloor.kafka_clients import idempotent_producer, read_to_end
from infra import kafka_acl
from infra.principals import OPERATOR, TESTS
from infra.topics_admin import apply_topics_of
from insurer_workers import member_store
from insurer_workers.members import benefits_for, members_from_filings
from insurer_workers.worker import send_request, send_requests
from relay_clock.ticks import is_tick_record
from schemas import decode_relay
from schemas.common import InsuredNumber
from schemas.exchange import ExchangeReply, ExchangeRequest, MemberNumber, RequestEntry
from schemas.exchange_terms import DataCategory, ExchangeScheme, Purpose
from schemas.topics import EXCHANGE_ANSWER, participant_topics
from shaho.bootstrap import insurer
from synthetic.population import Population, generate
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import ensure_encryption_keys, load_private_key
from trust.number_sealing import open_answer
from trust.pki import Participant

SEED, PERSONS, START = 11, 120, date(2025, 1, 1)
YEAR = timedelta(days=365)


@dataclass(frozen=True)
class Cover:
    """One medical link of a person as the relay holds it, its number opened for the test."""

    relay_id: str
    insurer: str
    number: str
    valid_from: date
    valid_to: date | None


def insured(number: str) -> MemberNumber:
    symbol, no, branch = number.split("|")
    return MemberNumber(insured_number=InsuredNumber(symbol=symbol or None, number=no,
                                                     branch=branch or None))


async def linked_population(relay: RelayEnv) -> Population:
    """The population filed, linked and published; every insurer's principal, topics and
    member store ready in the test's namespace."""
    population = generate(SEED, PERSONS, START)
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.tick()
    assert relay.run("relay-linker") == 0, relay.last_output
    await onboard_insurers(relay, population, SEED)
    return population


async def onboard_insurers(relay: RelayEnv, population: Population, seed: int) -> list[str]:
    """Every insurer's (and the pension service's) keys, principal, topics and member store
    in the test's namespace, the stores filled from the population's filings with benefits of
    `seed`; the codes of the insurers with members."""
    insurers = sorted(c for c, k in population.filer_kinds.items() if k.value in
                      ("insurer", "pension"))
    participants = [Participant("pension" if c == "JPS" else "insurer", c) for c in insurers]
    ensure_encryption_keys(relay.cfg, participants)
    await asyncio.to_thread(kafka_acl.provision, relay.stack,
                            [(p.role, p.code) for p in participants], relay.topics)
    await apply_topics_of(relay.cfg.kafka(OPERATOR), relay.topics, insurers)
    members = members_from_filings(population.filings)
    conn = await relay.connect()
    try:
        for code, periods in sorted(members.items()):
            await member_store.create_store(conn, code)
            await member_store.fill_store(conn, code, periods, benefits_for(periods, seed))
    finally:
        await conn.close()
    return sorted(members)


async def opened_links(relay: RelayEnv, where: str) -> list[tuple[asyncpg.Record, str]]:
    """The links (not retracted) `where` (SQL over `l`, the links) selects, with their numbers
    opened by the relay's key, ordered by person and start; the persons with an open identity
    anomaly (whom the router sends to the counter) left out."""
    keyring = relay.keyring()
    conn = await relay.connect()
    try:
        rows = await conn.fetch(
            "SELECT l.relay_id, l.scheme, l.insurer_number, l.number_kind, l.valid_from, "
            "l.valid_to, r.number_sealed FROM links l JOIN reference_index r ON "
            "r.kind = l.number_kind AND r.blind_index = l.number_index WHERE "
            f"({where}) AND l.retracted_by IS NULL AND l.relay_id NOT IN "
            "(SELECT unnest(relay_ids) FROM anomalies WHERE NOT resolved) "
            "ORDER BY l.relay_id, l.valid_from")
    finally:
        await conn.close()
    return [(r, open_sealed(keyring, Sealed.from_json_dict(json.loads(r["number_sealed"])),
                            r["number_kind"].encode()).decode()) for r in rows]


async def medical_covers(relay: RelayEnv) -> dict[str, list[Cover]]:
    """Every person's medical links (`opened_links`), the persons in the order of their
    numbers, so that a test picks the same person whatever relay ids the stack's keyring
    derives."""
    out: dict[str, list[Cover]] = {}
    for r, number in await opened_links(
            relay, "l.scheme = 'medical' AND l.number_kind LIKE 'insured:%'"):
        out.setdefault(r["relay_id"], []).append(Cover(r["relay_id"], r["insurer_number"],
                                                       number, r["valid_from"], r["valid_to"]))
    return dict(sorted(out.items(), key=lambda kv: sorted(
        (c.insurer, c.number, c.valid_from) for c in kv[1])))


def request(asker: str, entries: list[tuple[str, MemberNumber]], relay_time: datetime, *,
            as_of: date | None = None, period: tuple[date, date] | None = None,
            purpose: Purpose = Purpose.COMBINED_HIGH_COST,
            category: DataCategory = DataCategory.SELF_PAY_AMOUNTS,
            scheme: ExchangeScheme = ExchangeScheme.MEDICAL,
            expires_in: timedelta = timedelta(hours=1),
            request_id: UUID | None = None) -> ExchangeRequest:
    return ExchangeRequest(
        request_id=request_id or uuid4(), asker_code=asker, scheme=scheme, category=category,
        purpose=purpose, as_of=as_of, period_from=period[0] if period else None,
        period_to=period[1] if period else None, expires_at=relay_time + expires_in,
        entries=[RequestEntry(entry=token, member=member) for token, member in entries])


async def ask(relay: RelayEnv, req: ExchangeRequest) -> None:
    await send_request(insurer(relay.cfg, req.asker_code), relay.topics, req)


async def ask_all(relay: RelayEnv, reqs: list[ExchangeRequest]) -> None:
    """Each asker's requests in order, through one producer of its own."""
    by_asker: dict[str, list[ExchangeRequest]] = {}
    for req in reqs:
        by_asker.setdefault(req.asker_code, []).append(req)
    for asker, mine in sorted(by_asker.items()):
        await send_requests(insurer(relay.cfg, asker), relay.topics, mine)


async def send_raw(relay: RelayEnv, topic: str, key: bytes, value: bytes,
                   headers: list[tuple[str, bytes]]) -> None:
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        await producer.send_and_wait(relay.topic(topic), value, key=key, headers=headers)
    finally:
        await producer.stop()


async def records(relay: RelayEnv, logical: str) -> list:
    partitions = [TopicPartition(relay.topic(logical), p)
                  for p in range(partitions_of(logical))]
    return await read_to_end(relay.cfg.kafka(TESTS), partitions)


async def answers(relay: RelayEnv) -> list:
    """The answer records on exchange.answer.v1 (the relay clock's ticks left out)."""
    return [r for r in await records(relay, EXCHANGE_ANSWER.name)
            if not is_tick_record(r.headers)]


async def replies(relay: RelayEnv, asker: str) -> list[ExchangeReply]:
    found = await records(relay, participant_topics(asker)[1].name)
    return [decode_relay(bytes(r.value), ExchangeReply) for r in found]


def opened(relay: RelayEnv, reply: ExchangeReply,
           key: ec.EllipticCurvePrivateKey | None = None) -> dict:
    """The asker opens an answered reply with its own key (`key`, if the caller holds it)."""
    from schemas.exchange import item_id, routed_id

    assert reply.sealed_answer is not None and reply.provider_code and reply.entry
    if key is None:
        key = load_private_key(relay.cfg, Participant("insurer", reply.asker_code))
    item = item_id(routed_id(reply.asker_code, reply.request_id, reply.provider_code),
                   reply.entry)
    return json.loads(open_answer(reply.sealed_answer, key, reply.request_id, item,
                                  reply.asker_code, reply.provider_code))


def run_workers(relay: RelayEnv, codes: list[str], timeout: float = 300) -> str:
    args = [sys.executable, "-m", "shaho.cli", "run", "insurer-worker", "--drain"]
    for code in codes:
        args += ["--insurer", code]
    done = subprocess.run(args, env=relay.cfg.child_env(), capture_output=True,
                          timeout=timeout, check=False)
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, output
    return output


def route(relay: RelayEnv, extra: dict[str, str] | None = None) -> None:
    """The router, then the publisher, each until idle."""
    assert relay.run("relay-exchange", extra) == 0, relay.last_output
    relay.router_output = relay.last_output
    assert relay.run("outbox-publisher") == 0, relay.last_output


def now_utc() -> datetime:
    return datetime.now(UTC)


def covers_on(c, day: date) -> bool:
    return c.valid_from <= day and (c.valid_to is None or day < c.valid_to)


def in_year(c, end: date) -> bool:
    return c.valid_from <= end and (c.valid_to is None or end - YEAR < c.valid_to)


def job_changer(covers: dict, end: date):
    """A job changer: A's cover on `end` and the other insurers covering them in the year."""
    for links in covers.values():
        for a in links:
            others = {c.insurer for c in links if c.insurer != a.insurer and in_year(c, end)}
            if covers_on(a, end) and others:
                return a, others
    raise AssertionError("the population has no job changer")


def covered_alone(covers: dict, asker: str, end: date):
    """A member `asker` covers on `end` whom no other insurer covered in the year to it."""
    for links in covers.values():
        for c in links:
            if c.insurer == asker and covers_on(c, end) and not any(
                    o.insurer != asker and in_year(o, end) for o in links):
                return c
    raise AssertionError(f"{asker} has no member covered by it alone")
