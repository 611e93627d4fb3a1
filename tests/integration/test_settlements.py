"""Settlements of the 合算 through the relay on the real authenticated stack: the base-date
insurer instructs an earlier medical insurer, itself and a care insurer; the relay routes each
to the payer under the payer's own number, once, logs it and tells the person (no amount); each
payer's worker keeps each settlement once with the amount only it can open; a duplicate is a
no-op, a conflicting duplicate, a forged signature, an unknown number and a non-payer are
refused with their reasons; one chain per person, period, payer and benefit: a second first
settlement is refused, a delta is routed only naming the chain's end and a refused one sent
again is judged again; a sender no longer covering the person on the base date may only take
its own chain back to nothing; and no amount is in the relay's database or on any topic in clear."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4

import pytest

from access_log.entries import AccessKind, entry_of
from consumers.reading import read_committed
from infra import kafka_acl, namespace
from infra.principals import OPERATOR, TESTS
from infra.topics_admin import apply_topics_of
from insurer_workers import member_store
from insurer_workers.worker import payer_key, send_settlement, settlement_instruction
from relay_exchange import store as exchange_store
from schemas import DeadLetter, decode_relay, encode
from schemas.exchange import MemberNumber
from schemas.exchange_terms import ExchangeOutcome, ForwardRefusal
from schemas.settlements import RoutedSettlement, SettlementBenefit, period_span
from schemas.topics import EXCHANGE_SETTLEMENT, settlements_topic
from shaho.bootstrap import insurer
from tests.integration.exchange_env import (
    Cover,
    insured,
    linked_population,
    medical_covers,
    records,
    replies,
    route,
    run_workers,
    send_raw,
)
from tests.integration.relay_dump import database_dump, in_clear, relay_records, topics_holding
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import ensure_encryption_keys
from trust.pki import Participant, ensure_participants

pytestmark = pytest.mark.integration

AMOUNTS = (987654, 876543, 765432)
"""Distinctive amounts, searched for in the relay's database and topics."""


def _covers(c: Cover, day: date) -> bool:
    return c.valid_from <= day and (c.valid_to is None or day < c.valid_to)


def _overlaps(valid_from: date, valid_to: date | None, first: date, last: date) -> bool:
    return valid_from <= last and (valid_to is None or first < valid_to)


async def _care_links(relay: RelayEnv) -> dict[str, set[tuple[str, date, date | None]]]:
    conn = await relay.connect()
    try:
        rows = await conn.fetch(
            "SELECT relay_id, insurer_number, valid_from, valid_to FROM links "
            "WHERE scheme = 'long_term_care' AND retracted_by IS NULL")
    finally:
        await conn.close()
    out: dict[str, set] = {}
    for r in rows:
        out.setdefault(r["relay_id"], set()).add((r["insurer_number"], r["valid_from"],
                                                  r["valid_to"]))
    return out


def _scenario(covers: dict[str, list[Cover]], care: dict, now: date):
    """The latest period ended before `now` with a job changer (a sender covering them on its
    31 July, another medical insurer earlier in it) and a sender's member with care cover in
    it; (period, base date, job changer's cover, earlier insurer, care person's cover, care
    insurer, an insurer that never covered the job changer)."""
    codes = sorted({c.insurer for links in covers.values() for c in links})
    for period in range(now.year, 2009, -1):
        first, last = period_span(period)
        if last >= now:
            continue
        for links in covers.values():
            for a in links:
                earlier = sorted({c.insurer for c in links if c.insurer != a.insurer
                                  and _overlaps(c.valid_from, c.valid_to, first, last)})
                if not (_covers(a, last) and earlier):
                    continue
                for other in covers.values():
                    for b in other:
                        held = sorted(i for i, f, t in care.get(b.relay_id, ())
                                      if _overlaps(f, t, first, last))
                        if b.insurer == a.insurer and _covers(b, last) and held:
                            stranger = next(c for c in codes
                                            if c not in {x.insurer for x in links})
                            return period, last, a, earlier[0], b, held[0], stranger
    raise AssertionError("the population has no period with both a job changer and care")


async def test_settlements_through_the_relay(relay: RelayEnv):
    await linked_population(relay)
    covers = await medical_covers(relay)
    now = relay.ticks[-1]
    period, base, a, earlier, b, care_code, stranger = _scenario(
        covers, await _care_links(relay), now.date())
    sender = a.insurer
    payers = sorted({sender, earlier, care_code})
    care = [Participant("insurer", care_code)]
    ensure_participants(relay.stack, care)
    ensure_encryption_keys(relay.stack, care)
    await asyncio.to_thread(kafka_acl.provision, relay.stack, [("insurer", care_code)],
                            relay.topics)
    await apply_topics_of(relay.cfg.kafka(OPERATOR), relay.topics, [care_code])
    await namespace.settlement_topics(relay.stack, relay.topics, payers)

    me = insurer(relay.cfg, sender)

    def instruct(payer: str, member: MemberNumber, amount: int, total: int,
                 benefit: SettlementBenefit = SettlementBenefit.MEDICAL, **kw):
        return settlement_instruction(
            me, payer_key(relay.cfg, payer), settlement_id=kw.pop("settlement_id", uuid4()),
            payer=payer, period=period, base_date=kw.pop("base_date", base), benefit=benefit,
            member=member, amount_yen=amount, total_yen=total, **kw)

    job, carer = insured(a.number), insured(b.number)
    earlier_share = instruct(earlier, job, AMOUNTS[0], AMOUNTS[0])
    own_share = instruct(sender, job, AMOUNTS[1], AMOUNTS[1])
    care_share = instruct(care_code, carer, AMOUNTS[2], AMOUNTS[2],
                          SettlementBenefit.CARE)
    delta = instruct(earlier, job, -4321, AMOUNTS[0] - 4321, corrects=earlier_share.settlement_id)
    second_delta = instruct(earlier, job, -1000, AMOUNTS[0] - 5321, corrects=delta.settlement_id)
    conflicting = instruct(earlier, job, AMOUNTS[0], AMOUNTS[0],
                           settlement_id=earlier_share.settlement_id)
    unknown = instruct(earlier, insured("|NO-SUCH-NUMBER|"), 1000, 1000)
    not_payer = instruct(stranger, job, 1000, 1000)
    care_for_medical = instruct(care_code, carer, 1000, 1000)
    second_first = instruct(earlier, job, AMOUNTS[0], AMOUNTS[0])  # a second chain
    after_refused = instruct(earlier, job, -100, AMOUNTS[0] - 100,
                             corrects=second_first.settlement_id)
    # all taken back (nothing due: the person's notice withdrawn), then due again for one
    care_zero = instruct(care_code, carer, -AMOUNTS[2], 0, SettlementBenefit.CARE,
                         corrects=care_share.settlement_id)
    own_zero = instruct(sender, job, -AMOUNTS[1], 0, corrects=own_share.settlement_id)
    own_again = instruct(sender, job, 5000, 5000, corrects=own_zero.settlement_id)
    assert care_zero.nothing_due and own_zero.nothing_due and not own_again.nothing_due
    # three ticks apart, so each batch is judged after the one before whatever the partitions:
    # the second delta first comes before the delta it names is routed, then again after it
    await send_settlement(me, relay.topics, earlier_share, own_share, care_share,
                          earlier_share, conflicting, unknown, not_payer, care_for_medical,
                          second_delta)
    forged = instruct(earlier, job, 1000, 1000)
    key, value = forged.kafka_key(), encode(forged)
    await send_raw(relay, EXCHANGE_SETTLEMENT.name, key, value,
                   me.signer.headers(EXCHANGE_SETTLEMENT.name, key, value + b" "))
    garbage = b'{"settlement_id": 42}'  # signed by the sender, but no instruction
    await send_raw(relay, EXCHANGE_SETTLEMENT.name, key, garbage,
                   me.signer.headers(EXCHANGE_SETTLEMENT.name, key, garbage))
    await relay.tick(now + timedelta(minutes=1))
    await send_settlement(me, relay.topics, delta, second_first, after_refused, second_first)
    await relay.tick(now + timedelta(minutes=2))
    await send_settlement(me, relay.topics, second_delta, care_zero, own_zero)
    await relay.tick(now + timedelta(minutes=3))
    await send_settlement(me, relay.topics, own_again)
    await relay.tick(now + timedelta(minutes=4))
    route(relay)

    told = {}
    for r in await replies(relay, sender):
        told.setdefault(r.request_id, []).append(r)
    routed = (earlier_share, own_share, care_share, delta, second_delta, care_zero, own_zero,
              own_again)
    outcome = {i: [(r.outcome, r.reason, r.providers) for r in rs] for i, rs in told.items()}
    forwarded = (ExchangeOutcome.FORWARDED, None)
    for instruction in (own_share, care_share, delta, care_zero, own_zero, own_again):
        assert outcome[instruction.settlement_id] == [(*forwarded, [instruction.payer_code])], \
            relay.router_output[-3000:]
    # routed once (the same record again is a no-op); the same id with other bytes refused
    assert sorted(outcome[earlier_share.settlement_id]) == sorted([
        (*forwarded, [earlier]),
        (ExchangeOutcome.REFUSED, ForwardRefusal.CONFLICTING_DUPLICATE, [])])
    for instruction, why in ((unknown, ForwardRefusal.UNKNOWN_NUMBER),
                             (not_payer, ForwardRefusal.NOT_PAYER),
                             (care_for_medical, ForwardRefusal.NOT_PAYER),
                             (after_refused, ForwardRefusal.NOT_CHAIN_END)):
        assert outcome[instruction.settlement_id] == [(ExchangeOutcome.REFUSED, why, [])]
    # a refusal is not remembered: the same bytes again are judged again (the same refusal
    # twice is one reply, counted twice below)
    assert outcome[second_first.settlement_id] == \
        [(ExchangeOutcome.REFUSED, ForwardRefusal.ALREADY_SETTLED, [])]
    assert outcome[second_delta.settlement_id] == [
        (ExchangeOutcome.REFUSED, ForwardRefusal.NOT_CHAIN_END, []), (*forwarded, [earlier])]
    assert forged.settlement_id not in told
    letters = [decode_relay(bytes(r.value), DeadLetter)
               for r in await records(relay, EXCHANGE_SETTLEMENT.name + ".dlq")]
    assert sorted(d.reason.code for d in letters) == ["bad_signature", "malformed"]
    unread = [rs for i, rs in told.items() if i not in {x.settlement_id for x in (
        *routed, unknown, not_payer, care_for_medical, second_first, after_refused)}]
    assert [[(r.outcome, r.reason, r.entry) for r in rs] for rs in unread] == \
        [[(ExchangeOutcome.REFUSED, ForwardRefusal.MALFORMED, None)]]

    # each settlement on its payer's topic once, read committed, signed by the relay
    on_topics = Counter()
    for payer in payers:
        for r in await read_committed(relay.cfg.kafka(TESTS),
                                      [relay.topic(settlements_topic(payer).name)]):
            message = decode_relay(bytes(r.value), RoutedSettlement)
            assert message.payer_code == payer and r.key == message.person.encode()
            on_topics[message.settlement_id] += 1
    assert on_topics == Counter({i.settlement_id: 1 for i in routed})

    run_workers(relay, payers)
    conn = await relay.connect()
    try:
        kept = {s.settlement_id: s for p in payers
                for s in await member_store.settlements_kept(conn, p)}
        assert set(kept) == {i.settlement_id for i in routed}
        assert [(kept[i.settlement_id].amount_yen, kept[i.settlement_id].member_known)
                for i in routed] == [(AMOUNTS[0], True), (AMOUNTS[1], True),
                                     (AMOUNTS[2], True), (-4321, True), (-1000, True),
                                     (-AMOUNTS[2], True), (-AMOUNTS[1], True), (5000, True)]
        assert (kept[care_zero.settlement_id].total_yen, kept[own_again.settlement_id].total_yen,
                kept[own_again.settlement_id].corrects) == (0, 5000, own_zero.settlement_id)
        assert kept[delta.settlement_id].corrects == earlier_share.settlement_id
        assert kept[delta.settlement_id].total_yen == AMOUNTS[0] - 4321
        assert kept[second_delta.settlement_id].corrects == delta.settlement_id
        assert kept[second_delta.settlement_id].total_yen == AMOUNTS[0] - 5321
        counted = await exchange_store.counts(conn)
        assert (counted[sender, ForwardRefusal.ALREADY_SETTLED.value],
                counted[sender, ForwardRefusal.NOT_CHAIN_END.value]) == (2, 2)
        chains = await conn.fetch("SELECT relay_id, payer_code, benefit, sender_code, last_id "
                                  "FROM settlement_chains WHERE period = $1", period)
        assert sorted(tuple(r) for r in chains) == sorted([
            (a.relay_id, earlier, SettlementBenefit.MEDICAL.value, sender,
             second_delta.settlement_id),
            (a.relay_id, sender, SettlementBenefit.MEDICAL.value, sender,
             own_again.settlement_id),
            (b.relay_id, care_code, SettlementBenefit.CARE.value, sender,
             care_zero.settlement_id)])
        assert kept[own_share.settlement_id].member_number == a.number
        assert kept[care_share.settlement_id].benefit == SettlementBenefit.CARE.value

        # the access log: one entry per routed settlement, sender asked, payer provided
        entries = [entry_of(bytes(r["leaf"])) for r in await conn.fetch(
            "SELECT leaf FROM access_entries WHERE relay_id = ANY($1::text[]) "
            "AND covert_key IS NULL", [a.relay_id, b.relay_id])]
        settled = sorted((e.asker, e.provider, e.policy_row, e.outcome) for e in entries
                         if e.kind is AccessKind.RELAYED_SETTLEMENT)
        assert settled == sorted([(sender, earlier, "P05", "forwarded"),
                                  (sender, sender, "P05", "forwarded"),
                                  (sender, care_code, "P08", "forwarded"),
                                  (sender, earlier, "P05", "forwarded"),
                                  (sender, earlier, "P05", "forwarded"),
                                  (sender, care_code, "P08", "forwarded"),
                                  (sender, sender, "P05", "forwarded"),
                                  (sender, sender, "P05", "forwarded")])

        # the person's inbox: told once per payer and benefit, with the lapse date, no amount;
        # told when all was taken back, and again when it is due again
        inbox = await conn.fetch("SELECT relay_id, step, deadline, refers_to, copy_id, body "
                                 "FROM person_inbox WHERE rule = 'combined_high_cost'")
    finally:
        await conn.close()
    lapse = date(base.year + 2, 8, 1)
    def told(step: str) -> list[tuple[str, str, date]]:
        return sorted((r["relay_id"], json.loads(r["body"])["payer"], r["deadline"])
                      for r in inbox if r["step"] == step)

    notices = told("benefit_due")
    assert notices == sorted([(a.relay_id, earlier, lapse), (a.relay_id, sender, lapse),
                              (a.relay_id, sender, lapse), (b.relay_id, care_code, lapse)])
    assert told("benefit_withdrawn") == sorted([(a.relay_id, sender, lapse),
                                                (b.relay_id, care_code, lapse)])
    firsts = {(r["relay_id"], json.loads(r["body"])["payer"]): r["copy_id"] for r in inbox
              if r["step"] == "benefit_due" and r["refers_to"] is None}
    assert len(firsts) == 3
    for r in inbox:
        if r["step"] == "benefit_withdrawn" or r["refers_to"] is not None:
            assert r["refers_to"] == firsts[r["relay_id"], json.loads(r["body"])["payer"]]
    for r in inbox:
        body = json.loads(r["body"])
        assert not any("amount" in k or "yen" in k for k in body)
        assert body.get("apply_to") == (None if r["step"] == "benefit_withdrawn"
                                        else body["payer"])
        assert not any(str(n) in r["body"] for n in AMOUNTS)

    # no amount in the relay's database, nor on any of its topics, in clear
    dump = await database_dump(relay)
    assert b"exchange_settlements" in dump
    found = await relay_records(relay)
    assert any(r.topic.endswith("settlements.v1") for r in found)
    assert in_clear(AMOUNTS[0], b'{"amount_yen": 987654}'), "the search finds one"
    for amount in AMOUNTS:
        assert not in_clear(amount, dump), amount
        assert not topics_holding(amount, found), amount

    # 90 days before the right lapses, the person is reminded once, on the relay clock
    remind = datetime.combine(lapse - timedelta(days=90), time(1), UTC)
    for at in (remind - timedelta(days=1), remind, remind + timedelta(days=1)):
        await relay.tick(at)
        route(relay)
        conn = await relay.connect()
        try:
            reminded = await conn.fetch(
                "SELECT relay_id, deadline, body FROM person_inbox WHERE rule = "
                "'combined_high_cost' AND step = 'lapse_reminder'")
        finally:
            await conn.close()
        # not for the care benefit all taken back; once for the one due again
        expected = [] if at < remind else sorted(
            [(a.relay_id, earlier, lapse), (a.relay_id, sender, lapse)])
        assert sorted((r["relay_id"], json.loads(r["body"])["payer"], r["deadline"])
                      for r in reminded) == expected, at

    # the care chain was taken back to nothing: a first settlement may start it again
    restart = instruct(care_code, carer, 4_000, 4_000, SettlementBenefit.CARE)
    await send_settlement(me, relay.topics, restart)
    await relay.tick(remind + timedelta(days=2))
    route(relay)
    assert [(r.outcome, r.reason) for r in await replies(relay, sender)
            if r.request_id == restart.settlement_id] == [forwarded]
    conn = await relay.connect()
    try:
        chain = await conn.fetchrow("SELECT last_id, closed FROM settlement_chains WHERE "
                                    "relay_id = $1 AND payer_code = $2", b.relay_id, care_code)
        again = await conn.fetch("SELECT refers_to FROM person_inbox WHERE relay_id = $1 "
                                 "AND step = 'benefit_due' AND body::jsonb->>'payer' = $2",
                                 b.relay_id, care_code)
    finally:
        await conn.close()
    assert tuple(chain) == (restart.settlement_id, False)
    assert sorted(r["refers_to"] is None for r in again) == [False, True], "due again"

    # a base-date insurer that is one no more (its instruction names a base date it does not
    # cover, as after a late loss) may still take its own chain back to nothing, so that the
    # new one can start it again; it may add nothing to it
    moved = a.valid_from - timedelta(days=1)
    assert period_span(period)[0] <= moved
    assert not any(c.insurer == sender and _covers(c, moved) for c in covers[a.relay_id])
    back = instruct(earlier, job, -(AMOUNTS[0] - 5321), 0,
                    corrects=second_delta.settlement_id, base_date=moved)
    more = instruct(sender, job, 100, 5100, corrects=own_again.settlement_id, base_date=moved)
    assert back.nothing_due and not more.nothing_due
    await send_settlement(me, relay.topics, back, more)
    await relay.tick(remind + timedelta(days=3))
    route(relay)
    answered = {r.request_id: (r.outcome, r.reason, r.providers)
                for r in await replies(relay, sender)}
    assert answered[back.settlement_id] == (*forwarded, [earlier])
    assert answered[more.settlement_id] == (ExchangeOutcome.REFUSED, ForwardRefusal.NOT_MEMBER,
                                            [])
    conn = await relay.connect()
    try:
        chain = await conn.fetchrow("SELECT last_id, closed FROM settlement_chains WHERE "
                                    "relay_id = $1 AND payer_code = $2", a.relay_id, earlier)
    finally:
        await conn.close()
    assert tuple(chain) == (back.settlement_id, True)
