"""Receipts at the insurers (DOMAIN §6) on the real stack: two insurers' workers load their own
receipts from their private topics. The store then holds each valid receipt exactly once, a
correction in place of what it corrects; each bad record (a negative, fractional or oversized
amount, a month after the relay clock's date or before April 2008, an unknown member, a
conflicting duplicate, a correction of nothing, bytes that are no JSON) is a dead letter with
its reason and the original sealed to the insurer's own key; and the same records sent again
change nothing."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import date, datetime

import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import read_to_end
from infra import kafka_acl, namespace
from infra.principals import OPERATOR, TESTS
from infra.topics_admin import apply_topics_of
from insurer_workers import member_store
from insurer_workers.member_reading import CARE
from insurer_workers.members import benefits_for, members_from_filings
from insurer_workers.receipt_feed import publish_receipts
from insurer_workers.receipt_letters import original_bytes
from insurer_workers.receipt_store import household_inputs, member_number
from reconciliation.calculation.inputs import Month, period_of
from schemas import DeadLetter, MessageRejected, decode_relay, encode
from schemas.base import JST
from schemas.common import InsuredNumber
from schemas.receipts import MAX_YEN, ReceiptKind, ReceiptRecord
from schemas.secret import SecretNumber
from schemas.topics import receipts_topics
from synthetic.population import generate
from synthetic.receipts import population_receipts
from tests.integration.exchange_env import run_workers
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import ensure_encryption_keys, load_private_key
from trust.pki import Participant, ensure_participants

pytestmark = pytest.mark.integration

SEED, PERSONS, START = 11, 80, date(2025, 1, 1)
NOW = datetime(2026, 3, 15, 10, 0, tzinfo=JST)
EXPECTED = Counter({"invalid": 5, "month_after_relay_date": 1, "unknown_member": 1,
                    "conflicting_duplicate": 1, "unknown_corrected_receipt": 1, "not_json": 1})


async def _insurers(relay: RelayEnv) -> tuple[dict[str, list[ReceiptRecord]], str, str]:
    """A medical and a care insurer of the population, with principals, keys, topics (the
    receipts topics asked for) and filled member stores; their synthetic receipts."""
    population = generate(SEED, PERSONS, START)
    stores = members_from_filings(population.filings)
    receipts = population_receipts(population, date(2026, 2, 28), SEED)
    medical = max((c for c in receipts if len(c) == 8), key=lambda c: len(receipts[c]))
    care = max((c for c in receipts if any(p.scheme == CARE for p in stores[c])),
               key=lambda c: len(receipts[c]))
    codes = [medical, care]
    participants = [Participant("insurer", c) for c in codes]
    ensure_participants(relay.stack, participants)
    ensure_encryption_keys(relay.stack, participants)
    await asyncio.to_thread(kafka_acl.provision, relay.stack, [("insurer", c) for c in codes],
                            relay.topics)
    await apply_topics_of(relay.cfg.kafka(OPERATOR), relay.topics, codes)
    await namespace.receipt_topics(relay.stack, relay.topics, codes)
    conn = await relay.connect()
    try:
        for code in codes:
            await member_store.create_store(conn, code)
            await member_store.fill_store(conn, code, stores[code],
                                          benefits_for(stores[code], SEED))
    finally:
        await conn.close()
    return {c: receipts[c] for c in codes}, medical, care


def _bad(medical: list[ReceiptRecord], care: list[ReceiptRecord]) -> list[bytes]:
    """One record of each bad kind, as the insurer's system might send it."""
    out = next(r for r in medical if r.kind is ReceiptKind.MEDICAL_OUTPATIENT)
    base = json.loads(encode(out))

    def variant(**changes: object) -> bytes:
        return json.dumps({**base, "receipt_id": f"BAD-{len(changes)}-{next(iter(changes))}",
                           **changes}).encode()

    stranger = InsuredNumber(symbol=SecretNumber("99"), number=SecretNumber("9999999"),
                             branch=SecretNumber("01"))
    return [
        variant(copay_yen=-1), variant(copay_yen=1500.5), variant(copay_yen=MAX_YEN + 1),
        variant(meals_and_room_yen="460"), variant(service_month="2008-03"),
        variant(service_month="2026-04"),
        encode(out.model_copy(update={"receipt_id": "BAD-stranger", "insured_number": stranger})),
        encode(out.model_copy(update={"copay_yen": out.copay_yen + 10})),  # same id, other
        encode(care[0].model_copy(update={"receipt_id": "BAD-fix", "corrects": "NOPE-1"})),
        b"not json at all",
    ]


async def _send_raw(relay: RelayEnv, code: str, values: list[bytes]) -> None:
    """Each value under the key its insurer's system would give it (`ReceiptRecord.kafka_key`:
    a receipt, its corrections and its duplicates on one partition, in the order sent), or
    `<code>:bad` for bytes that are no receipt."""
    from groundfloor.kafka_clients import idempotent_producer

    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        for value in values:
            try:
                key = decode_relay(value, ReceiptRecord).kafka_key()
            except MessageRejected:
                key = f"{code}:bad".encode()
            await producer.send_and_wait(relay.topic(receipts_topics(code)[0].name), value,
                                         key=key)
    finally:
        await producer.stop()


async def _stored(relay: RelayEnv, code: str) -> list[tuple]:
    conn = await relay.connect()
    try:
        name = member_store.store_name(code)
        rows = await conn.fetch(f"SELECT receipt_id, superseded_by, loaded_at FROM {name}."
                                f"receipts UNION ALL SELECT receipt_id, superseded_by, loaded_at "
                                f"FROM {name}.care_self_pay ORDER BY 1")
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def test_receipts_are_loaded_once_refused_with_reasons_and_replays_change_nothing(
        relay: RelayEnv):
    receipts, medical, care = await _insurers(relay)
    await relay.tick(NOW)
    target = next(r for r in receipts[medical] if r.kind is ReceiptKind.MEDICAL_INPATIENT)
    fix = target.model_copy(update={"receipt_id": f"{target.receipt_id}-fix1",
                                    "corrects": target.receipt_id,
                                    "copay_yen": target.copay_yen - 1000,
                                    "high_cost_benefit_yen": 0})
    valid = [*receipts[medical], *receipts[care]]
    sent = [*valid, valid[0], fix]  # a duplicate with the same content, a correction
    bad = _bad(receipts[medical], receipts[care])
    await publish_receipts(relay.cfg.kafka(TESTS), relay.topics, sent)
    await _send_raw(relay, medical, bad[:8] + bad[9:])
    await _send_raw(relay, care, bad[8:9])
    output = run_workers(relay, [medical, care])

    stored = {code: await _stored(relay, code) for code in (medical, care)}
    ids = sorted(i for rows in stored.values() for i, *_ in rows)
    assert ids == sorted([*(r.receipt_id for r in valid), fix.receipt_id]), output
    superseded = {i: by for rows in stored.values() for i, by, _ in rows if by}
    assert superseded == {target.receipt_id: fix.receipt_id}

    letters, keys = [], {c: load_private_key(relay.stack, Participant("insurer", c))
                         for c in (medical, care)}
    for code in (medical, care):
        dead = receipts_topics(code)[1].name
        for r in await read_to_end(relay.cfg.kafka(TESTS),
                                   [TopicPartition(relay.topic(dead), 0)]):
            letter = decode_relay(bytes(r.value), DeadLetter)
            assert letter.filer_code == code
            letters.append((letter.reason.code, original_bytes(letter, keys[code])))
    assert Counter(code for code, _ in letters) == EXPECTED, output
    assert sorted(raw for _, raw in letters) == sorted(bad)
    for rows in stored.values():
        assert len(rows) == len({i for i, *_ in rows})

    conn = await relay.connect()
    try:
        year, month = map(int, target.service_month.split("-"))
        mine, cares = await household_inputs(conn, medical, member_number(target), "m1",
                                             period_of(Month(year, month)))
    finally:
        await conn.close()
    assert all(r.member_key == "m1" for r in mine) and not cares
    chosen = [r.receipt_id for r in mine]
    assert fix.receipt_id in chosen and target.receipt_id not in chosen

    await publish_receipts(relay.cfg.kafka(TESTS), relay.topics, sent)  # the same again
    again = run_workers(relay, [medical, care])
    assert {c: await _stored(relay, c) for c in (medical, care)} == stored, again
