"""Same input, same output for the exchange: the same requests and ticks through two relays,
one router deciding 200 records per transaction in one run, the other one record at a time
and restarted between ticks, publish the same replies and routed requests, partition by
partition, ids and contents alike (sealed parts compared opened, as their readers see them),
and the same access log: its leaves, the heads sent to the witnesses and their answers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid5

import pytest

from groundfloor.config import StackConfig
from schemas import decode_relay
from schemas.access_log import TreeHeadForWitness
from schemas.exchange import ExchangeReply, RoutedRequest
from schemas.exchange_terms import DataCategory, ExchangeScheme, Purpose
from schemas.topics import heads_topic, participant_topics
from tests.integration.exchange_env import (
    YEAR,
    ask,
    covered_alone,
    insured,
    job_changer,
    linked_population,
    medical_covers,
    opened,
    records,
    replies,
    request,
    run_workers,
)
from tests.integration.relay_env import RelayEnv, drop_env, make_env
from trust.encryption_keys import load_private_key
from trust.number_sealing import open_number
from trust.pki import Participant

pytestmark = pytest.mark.integration

IDS = UUID("6d1f3c2a-8b0e-4f57-9a41-2c7e5b9d0a13")
Sequences = dict[tuple[str, int], list[dict[str, Any]]]


def _requests(covers: dict, now, end):
    """Two rounds of requests with fixed ids: singles, a batch with refusals in it, a denied
    purpose, an expired one, and a replay of the first."""
    a, _ = job_changer(covers, end)
    alone = covered_alone(covers, a.insurer, end)
    span = (end - YEAR, end)

    def rid(name: str) -> UUID:
        return uuid5(IDS, name)

    single = request(a.insurer, [("s1", insured(a.number))], now, period=span,
                     request_id=rid("single"))
    batch = request(a.insurer, [("b1", insured(a.number)), ("b2", insured(alone.number)),
                                ("b3", insured("|NO-SUCH-NUMBER|"))], now, period=span,
                    request_id=rid("batch"))
    first = [single, batch, single]
    denied = request(a.insurer, [("d1", insured(a.number))], now, as_of=end,
                     scheme=ExchangeScheme.PENSION, category=DataCategory.INCOME_CATEGORY,
                     purpose=Purpose.PREMIUM_ASSESSMENT, request_id=rid("denied"))
    expired = request(a.insurer, [("x1", insured(a.number))], now, period=span,
                      expires_in=timedelta(seconds=-1), request_id=rid("expired"))
    later = request(a.insurer, [("l1", insured(alone.number)), ("l2", insured(a.number))],
                    now, as_of=end, request_id=rid("later"))
    return a.insurer, first, [denied, expired, later]


def _route(relay: RelayEnv, batch: int) -> None:
    assert relay.run("relay-exchange", {"SHAHO_EXCHANGE_BATCH": str(batch)}) == 0, \
        relay.last_output
    assert relay.run("outbox-publisher") == 0, relay.last_output


async def _run(relay: RelayEnv, batch: int, restart: bool) -> tuple[str, set[str], Sequences]:
    """The population linked, two rounds of requests a tick apart, the providers' answers
    after a third tick; the router run after the second and third ticks, and (`restart`)
    also after the first."""
    await linked_population(relay)
    covers = await medical_covers(relay)
    now = relay.ticks[-1]
    end = now.date() - timedelta(days=1)
    asker, first, second = _requests(covers, now, end)
    for req in first:
        await ask(relay, req)
    await relay.tick(now + timedelta(seconds=30))
    if restart:
        _route(relay, batch)
    for req in second:
        await ask(relay, req)
    await relay.tick(now + timedelta(seconds=60))
    _route(relay, batch)
    asked = {p for r in await replies(relay, asker) for p in r.providers}
    assert asked, "no request was routed to any insurer"
    for code in sorted(asked):  # one after another: their answers reach the relay in order
        await asyncio.to_thread(run_workers, relay, [code])
    await relay.tick(now + timedelta(seconds=90))
    _route(relay, batch)
    return asker, asked, await _published(relay, asker, asked)


async def _published(relay: RelayEnv, asker: str, providers: set[str]) -> Sequences:
    """Each partition's replies to the asker and routed requests to each provider, in order,
    every sealed part replaced by what its reader opens."""
    out: Sequences = {}
    for r in await records(relay, participant_topics(asker)[1].name):
        reply = decode_relay(bytes(r.value), ExchangeReply)
        body = reply.model_dump(mode="json")
        if reply.sealed_answer is not None:
            body["sealed_answer"] = opened(relay, reply)
        out.setdefault((f"{asker}.replies", r.partition), []).append(body)
    for code in sorted(providers):
        key = load_private_key(relay.cfg, Participant("insurer", code))
        for r in await records(relay, participant_topics(code)[0].name):
            routed = decode_relay(bytes(r.value), RoutedRequest)
            body = routed.model_dump(mode="json")
            body["items"] = [{"item_id": str(i.item_id), "number": open_number(
                i.sealed_number, key, routed.routed_id, i.item_id, code, routed.purpose.value)}
                for i in routed.items]
            out.setdefault((f"{code}.requests", r.partition), []).append(body)
        for r in await records(relay, heads_topic(code).name):
            head = decode_relay(bytes(r.value), TreeHeadForWitness)
            out.setdefault((f"{code}.heads", r.partition), []).append(head.model_dump(
                mode="json"))
    conn = await relay.connect()
    try:  # the access log itself: every leaf, and each head with its witnesses' answers
        out["access-log", 0] = [
            {"log": r["log"], "month": r["month"], "seq": r["seq"], "leaf": bytes(r["leaf"]).hex()}
            for r in await conn.fetch("SELECT log, month, seq, leaf FROM access_entries "
                                      "ORDER BY log, month, seq")]
        out["access-heads", 0] = [dict(r) for r in await conn.fetch(
            "SELECT h.log, h.month, h.relay_time, h.note, a.witness, a.state, a.reason, "
            "a.note AS answer FROM access_heads h LEFT JOIN access_head_witnessing a "
            "USING (log, month, relay_time) ORDER BY h.log, h.month, h.relay_time, a.witness")]
    finally:
        await conn.close()
    return out


async def test_batch_size_and_restarts_change_no_exchange_output(stack: StackConfig,
                                                                  unique: str):
    whole, pieces = await make_env(stack, unique), await make_env(stack, f"{unique}x")
    try:
        asker, providers, calm = await _run(whole, batch=200, restart=False)
        again, asked, restarted = await _run(pieces, batch=1, restart=True)
        assert (again, asked) == (asker, providers)
        assert sorted(calm) == sorted(restarted)
        for where in sorted(calm):
            assert calm[where] == restarted[where], f"{where} differs"
        assert calm["access-log", 0] and calm["access-heads", 0], "nothing logged or signed"
        assert any(state == "cosigned" for state in
                   (h["state"] for h in calm["access-heads", 0])), calm["access-heads", 0]
        assert any(name.endswith(".heads") for name, _ in calm), "no head sent to a witness"
        told = [m for (name, _), seq in calm.items() if name.endswith(".replies")
                   for m in seq]
        outcomes = {(m["entry"], m["outcome"], m["reason"]) for m in told}
        assert {("b2", "refused", "nobody_covered"), ("b3", "refused", "unknown_number"),
                ("d1", "refused", "purpose_not_allowed"), ("x1", "refused", "expired"),
                ("s1", "forwarded", None)} <= outcomes, outcomes
        answered = [m for m in told if m["outcome"] == "answered"]
        assert {m["entry"] for m in answered} >= {"s1", "b1"}
        assert all(m["sealed_answer"]["status"] for m in answered)
        assert len([m for m in told if m["entry"] == "s1" and m["outcome"] == "forwarded"]) \
            == 1, "the replayed request is not answered twice"
    finally:
        await drop_env(whole)
        await drop_env(pieces)
