"""The relayed exchange on the real authenticated stack: insurer A asks about its members (one
person, then a batch), the relay routes each to the insurers that covered them with their own
numbers sealed for them, their workers answer from their own member stores sealed for A, and
every person gets an explicit reply; each refusal reason, replays, tampered and reused sealed
numbers, answers from the wrong insurer, deadlines, late answers, rate limits, suspect links and
the insurers' topic isolation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from groundfloor.kafka_clients import read_to_end
from infra import kafka_acl
from infra.principals import OPERATOR, TESTS, participant_name
from infra.topics_admin import apply_topics_of
from insurer_workers import member_store
from relay_exchange import store
from schemas import DeadLetter, decode_relay, encode
from schemas.exchange import AnswerItem, ExchangeAnswer, RoutedRequest, item_id
from schemas.exchange_terms import (
    DataCategory,
    ExchangeOutcome,
    ExchangeScheme,
    ForwardRefusal,
    Purpose,
)
from schemas.notices import ChangeKind, ChangeNotice
from schemas.topics import EXCHANGE_ANSWER, EXCHANGE_REQUEST, changes_topic, participant_topics
from tests.integration.exchange_env import (
    YEAR,
    answers,
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
    route,
    run_workers,
    send_raw,
)
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import ensure_encryption_keys, load_private_key, public_path
from trust.keys import exchange_signer, participant_signer
from trust.number_sealing import open_answer, seal_answer
from trust.pki import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    Participant,
    add_participant,
    revoke,
)

pytestmark = pytest.mark.integration


def _by_entry(found):
    out: dict[str, list] = {}
    for r in found:
        out.setdefault(r.entry, []).append(r)
    return out


async def test_the_relayed_exchange_end_to_end(relay: RelayEnv):
    await linked_population(relay)
    covers = await medical_covers(relay)
    now = relay.ticks[-1]
    end = now.date() - timedelta(days=1)
    span = (end - YEAR, end)
    a, providers = job_changer(covers, end)
    asker = a.insurer
    alone = covered_alone(covers, asker, end)
    single = request(asker, [("s1", insured(a.number))], now, period=span)
    batch_entries = [("b1", insured(a.number)), ("b2", insured(alone.number)),
                     ("b3", insured("|NO-SUCH-NUMBER|"))]
    batch = request(asker, batch_entries, now, period=span)
    early = request(asker, [("e1", insured(a.number))], now,
                    period=(a.valid_from - YEAR - timedelta(days=10),
                            a.valid_from - timedelta(days=10)))
    denied = request(asker, [("d1", insured(a.number))], now, as_of=end,
                     scheme=ExchangeScheme.PENSION, category=DataCategory.INCOME_CATEGORY,
                     purpose=Purpose.PREMIUM_ASSESSMENT)
    expired = request(asker, [("x1", insured(a.number))], now, period=span,
                      expires_in=timedelta(seconds=-1))
    for req in (single, batch, early, denied, expired, single):  # `single` twice: a replay
        await ask(relay, req)
    # a request whose signature covers other bytes, and one another insurer signs as A
    signer = participant_signer(relay.cfg, Participant("insurer", asker))
    forged = request(asker, [("f1", insured(a.number))], now, period=span)
    key, value = forged.kafka_key(), encode(forged)
    headers = signer.headers(EXCHANGE_REQUEST.name, key, value + b" ")
    await send_raw(relay, EXCHANGE_REQUEST.name, key, value, headers)
    await send_raw(relay, EXCHANGE_REQUEST.name, key, value, [])  # unsigned
    impostor = next(iter(sorted(providers)))
    other = participant_signer(relay.cfg, Participant("insurer", impostor))
    await send_raw(relay, EXCHANGE_REQUEST.name, key, value,
                   other.headers(EXCHANGE_REQUEST.name, key, value))
    await relay.tick(now + timedelta(minutes=1))
    route(relay)

    got = _by_entry(await replies(relay, asker))
    expected = {"s1", "b1", "b2", "b3", "e1", "d1", "x1"}
    assert expected <= set(got), (sorted(got), relay.router_output[-3000:],
                                  relay.last_output[-2000:])
    assert [r.outcome for r in got["s1"]] == [ExchangeOutcome.FORWARDED]
    assert set(got["s1"][0].providers) == providers
    assert set(got["b1"][0].providers) == providers
    assert got["b3"][0].reason is ForwardRefusal.UNKNOWN_NUMBER
    assert got["b2"][0].reason is ForwardRefusal.NOBODY_COVERED
    assert got["e1"][0].reason is ForwardRefusal.NOT_MEMBER
    assert got["d1"][0].reason is ForwardRefusal.PURPOSE_NOT_ALLOWED
    assert got["x1"][0].reason is ForwardRefusal.EXPIRED
    assert "f1" not in got  # the forged bytes have no signer to answer
    replayed = [r for r in got.get(None, []) if r.reason is ForwardRefusal.REPLAYED]
    assert [(r.request_id, r.outcome) for r in replayed] == [
        (single.request_id, ExchangeOutcome.REFUSED)]
    impostor_replies = await replies(relay, impostor)
    assert [(r.entry, r.reason) for r in impostor_replies] == [(None,
                                                                ForwardRefusal.BAD_SIGNATURE)]

    # each provider reads one routed request signed by the relay, its own number sealed
    for code in providers:
        routed = [decode_relay(bytes(r.value), RoutedRequest)
                  for r in await records(relay, participant_topics(code)[0].name)]
        assert {r.request_id for r in routed} == {single.request_id, batch.request_id}
        assert all(a.number not in r.model_dump_json() for r in routed)
    run_workers(relay, sorted(providers))
    await relay.tick(now + timedelta(minutes=2))
    route(relay)
    got = _by_entry(await replies(relay, asker))
    answered = [r for r in got["s1"] if r.outcome is ExchangeOutcome.ANSWERED]
    assert {r.provider_code for r in answered} == providers
    for r in answered:
        body = opened(relay, r)
        expected = sorted((c.valid_from.isoformat(),
                           c.valid_to.isoformat() if c.valid_to else None)
                          for c in covers[a.relay_id] if c.insurer == r.provider_code
                          and c.valid_from <= end and (c.valid_to is None
                                                       or span[0] < c.valid_to))
        assert body["status"] == "covered"
        assert sorted((p["valid_from"], p["valid_to"]) for p in body["periods"]) == expected
        assert isinstance(body["self_pay_yen"], int)
    assert {r.provider_code for r in got["b1"] if r.outcome is ExchangeOutcome.ANSWERED} \
        == providers

    # a replayed routed request, also after the worker restarts, is not answered again
    provider = sorted(providers)[0]
    requests_topic = participant_topics(provider)[0].name
    first = (await records(relay, requests_topic))[0]
    answers_before = len(await answers(relay))
    await send_raw(relay, requests_topic, first.key, first.value, list(first.headers))
    run_workers(relay, [provider])
    assert len(await answers(relay)) == answers_before

    # a sealed number reused in another routed request (signed by the relay) does not open
    original = decode_relay(bytes(first.value), RoutedRequest)
    reused = original.model_copy(update={"routed_id": uuid4()})
    relay_signer = exchange_signer(relay.cfg)
    rk, rv = reused.kafka_key(), encode(reused)
    await send_raw(relay, requests_topic, rk, rv, relay_signer.headers(requests_topic, rk, rv))
    run_workers(relay, [provider])
    sent = [decode_relay(bytes(r.value), ExchangeAnswer) for r in await answers(relay)]
    reply_to_reuse = [x for x in sent if x.routed_id == reused.routed_id]
    assert len(reply_to_reuse) == 1
    asker_key = load_private_key(relay.cfg, Participant("insurer", asker))
    body = open_answer(reply_to_reuse[0].items[0].sealed_answer, asker_key,
                       reused.request_id, reply_to_reuse[0].items[0].item_id, asker, provider)
    assert b"tampered_number" in body

    # an answer from an insurer the request was not routed to is refused and counted
    wrong = sorted(set(covers_insurers(covers)) - {provider})[0]
    ensure_encryption_keys(relay.cfg, [Participant("insurer", wrong)])
    fake = ExchangeAnswer(routed_id=original.routed_id, provider_code=wrong, items=[
        AnswerItem(item_id=original.items[0].item_id, sealed_answer=b"x" * 100)])
    wk, wv = fake.kafka_key(), encode(fake)
    await send_raw(relay, EXCHANGE_ANSWER.name, wk, wv, participant_signer(
        relay.cfg, Participant("insurer", wrong)).headers(EXCHANGE_ANSWER.name, wk, wv))

    # a suspect link: an open look-alike about the subject sends A to the counter
    conn = await relay.connect()
    try:
        await conn.execute(
            "INSERT INTO anomalies (anomaly_id, code, relay_ids, event_id, fields, link_ids, "
            "resolved) VALUES ($1, 'lookalike', $2, $3, $4, '{}', false)",
            uuid4(), [a.relay_id], uuid4(), ["identity.kana_name"])
    finally:
        await conn.close()
    t3 = now + timedelta(minutes=3)
    suspect = request(asker, [("v1", insured(a.number))], t3, period=span)
    await ask(relay, suspect)
    await relay.tick(t3)
    route(relay)
    got = _by_entry(await replies(relay, asker))
    assert got["v1"][0].reason is ForwardRefusal.VERIFY_IDENTITY
    conn = await relay.connect()
    try:
        counted = await store.counts(conn)
        await conn.execute("UPDATE anomalies SET resolved = true WHERE code = 'lookalike'")
    finally:
        await conn.close()
    assert counted[(wrong, "wrong_provider")] == 1
    assert counted[("unknown", "bad_signature")] == 1
    assert counted[("unknown", "unsigned")] == 1
    assert counted[(asker, "replayed_request")] == 1
    assert counted[(asker, "not_member")] >= 1

    # a provider that does not answer by the deadline is reported unavailable; its late
    # answer is counted and not delivered
    t4 = now + timedelta(minutes=4)
    slow = request(asker, [("u1", insured(a.number))], t4, period=span,
                   expires_in=timedelta(minutes=2))
    await ask(relay, slow)
    await relay.tick(t4)
    route(relay)
    await relay.tick(t4 + timedelta(minutes=5))
    route(relay)
    got = _by_entry(await replies(relay, asker))
    late = [r for r in got["u1"] if r.outcome is ExchangeOutcome.UNAVAILABLE]
    assert {r.provider_code for r in late} == providers
    routed_slow = [decode_relay(bytes(r.value), RoutedRequest)
                   for r in await records(relay, requests_topic)]
    slow_routed = next(r for r in routed_slow if r.request_id == slow.request_id)
    item = slow_routed.items[0].item_id
    late_answer = ExchangeAnswer(routed_id=slow_routed.routed_id, provider_code=provider,
                                 items=[AnswerItem(item_id=item, sealed_answer=seal_answer(
                                     b'{"status":"covered"}', asker_key.public_key(),
                                     slow.request_id, item, asker, provider))])
    lk, lv = late_answer.kafka_key(), encode(late_answer)
    await send_raw(relay, EXCHANGE_ANSWER.name, lk, lv, participant_signer(
        relay.cfg, Participant("insurer", provider)).headers(EXCHANGE_ANSWER.name, lk, lv))
    await relay.tick(t4 + timedelta(minutes=6))
    route(relay)
    got = _by_entry(await replies(relay, asker))
    assert not [r for r in got["u1"] if r.outcome is ExchangeOutcome.ANSWERED]

    # a provider's answers whose sealed bytes are no JSON object (nested 2,000 deep, NaN): the
    # relay delivers them sealed as they came; the asker's worker sets them aside, keeps
    # them in its own record as unreadable, and goes on
    t45 = now + timedelta(minutes=20)
    hostile = request(asker, [("h1", insured(a.number)), ("h2", insured(a.number))], t45,
                      period=span)
    await ask(relay, hostile)
    await relay.tick(t45)
    route(relay)
    routed_hostile = next(x for x in (decode_relay(bytes(r.value), RoutedRequest)
                                      for r in await records(relay, requests_topic))
                          if x.request_id == hostile.request_id)
    junk = {"h1": b"[" * 2000, "h2": b'{"status": NaN}'}
    bad = ExchangeAnswer(routed_id=routed_hostile.routed_id, provider_code=provider, items=[
        AnswerItem(item_id=item_id(routed_hostile.routed_id, entry), sealed_answer=seal_answer(
            data, asker_key.public_key(), hostile.request_id,
            item_id(routed_hostile.routed_id, entry), asker, provider))
        for entry, data in junk.items()])
    bk, bv = bad.kafka_key(), encode(bad)
    await send_raw(relay, EXCHANGE_ANSWER.name, bk, bv, participant_signer(
        relay.cfg, Participant("insurer", provider)).headers(EXCHANGE_ANSWER.name, bk, bv))
    await relay.tick(t45 + timedelta(minutes=1))
    route(relay)
    run_workers(relay, [asker])  # exits 0: the worker did not stop
    conn = await relay.connect()
    try:
        kept = await conn.fetch(
            f"SELECT outcome, detail FROM {member_store.store_name(asker)}.asked "
            "WHERE request_id = $1", hostile.request_id)
    finally:
        await conn.close()
    answered_h = [json.loads(r["detail"]) for r in kept if r["outcome"] == "answered"]
    assert sorted(d["entry"] for d in answered_h) == ["h1", "h2"]
    assert all(d["answer_unreadable"] is True and "answer" not in d for d in answered_h)

    # over the allowance of persons per relay hour: refused, never silent
    t5 = now + timedelta(hours=2)
    many = request(asker, [(f"r{i}", insured(a.number)) for i in range(4)], t5, period=span)
    await ask(relay, many)
    await relay.tick(t5)
    route(relay, {"SHAHO_EXCHANGE_RATE_LIMIT": "3"})
    got = _by_entry(await replies(relay, asker))
    assert {got[f"r{i}"][0].reason for i in range(4)} == {ForwardRefusal.RATE_LIMITED}
    conn = await relay.connect()
    try:
        counted = await store.counts(conn)
    finally:
        await conn.close()
    assert counted[(provider, "late_answer")] == 1
    assert counted[(asker, "rate_limited")] == 4


def covers_insurers(covers: dict) -> set[str]:
    return {c.insurer for links in covers.values() for c in links if len(c.insurer) == 8}


async def test_an_insurer_reads_only_its_own_topics(relay: RelayEnv):
    a, b = "06130012", "01130012"
    participants = [Participant("insurer", a), Participant("insurer", b)]
    ensure_encryption_keys(relay.cfg, participants)
    await asyncio.to_thread(kafka_acl.provision, relay.stack,
                            [("insurer", a), ("insurer", b)], relay.topics)
    await apply_topics_of(relay.cfg.kafka(OPERATOR), relay.topics, [a, b])
    login = relay.cfg.kafka(participant_name("insurer", b))

    async def readable(topic: str) -> bool:
        try:
            await asyncio.wait_for(read_to_end(login, [TopicPartition(relay.topic(topic), 0)],
                                               20), 60)
        except TopicAuthorizationFailedError:
            return False
        return True

    assert await readable(participant_topics(b)[0].name)
    assert await readable(participant_topics(b)[1].name)
    assert not await readable(participant_topics(a)[0].name)
    assert not await readable(participant_topics(a)[1].name)
    assert not await readable(EXCHANGE_REQUEST.name)
    assert not await readable(EXCHANGE_ANSWER.name)


async def test_a_revoked_insurer_is_refused_and_a_malformed_request_answered(relay: RelayEnv,
                                                                             unique: str):
    """No population needed: the refusals come before anyone is looked up (an asker without an
    encryption key is refused every person, never dead-lettered)."""
    revoked, sloppy = f"R{unique.upper()[:8]}", f"S{unique.upper()[:8]}"
    keyless = f"K{unique.upper()[:8]}"
    participants = [Participant("insurer", c) for c in (revoked, sloppy, keyless)]
    for p in participants:
        add_participant(relay.cfg, p, DEFAULT_NOT_BEFORE, DEFAULT_NOT_AFTER)
    # an insurer whose public encryption key the relay lacks: nothing could be sealed for it
    public_path(relay.cfg, Participant("insurer", keyless)).unlink()
    await asyncio.to_thread(kafka_acl.provision, relay.stack,
                            [(p.role, p.code) for p in participants], relay.topics)
    await apply_topics_of(relay.cfg.kafka(OPERATOR), relay.topics,
                                   [p.code for p in participants])
    now = await relay.tick(datetime(2026, 3, 1, tzinfo=UTC))
    revoke(relay.cfg, Participant("insurer", revoked), now - timedelta(days=1))
    await ask(relay, request(revoked, [("p1", insured("|123|"))], now, as_of=now.date()))
    await ask(relay, request(keyless, [("k1", insured("|123|")), ("k2", insured("|456|"))], now,
                             as_of=now.date()))
    # a request its signer signed but that is no request: answered, never silent
    signer = participant_signer(relay.cfg, Participant("insurer", sloppy))
    key, value = f"{sloppy}:junk".encode(), b'{"request_id": "not a uuid"}'
    await send_raw(relay, EXCHANGE_REQUEST.name, key, value,
                   signer.headers(EXCHANGE_REQUEST.name, key, value))
    await relay.tick(now + timedelta(minutes=1))
    route(relay)
    assert [(r.entry, r.outcome, r.reason) for r in await replies(relay, revoked)] == [
        (None, ExchangeOutcome.REFUSED, ForwardRefusal.BAD_SIGNATURE)]
    assert [(r.entry, r.reason) for r in await replies(relay, sloppy)] == [
        (None, ForwardRefusal.MALFORMED)]
    assert sorted((r.entry, r.reason) for r in await replies(relay, keyless)) == [
        ("k1", ForwardRefusal.NO_ENCRYPTION_KEY), ("k2", ForwardRefusal.NO_ENCRYPTION_KEY)]
    letters = await records(relay, EXCHANGE_REQUEST.dlq)
    assert sorted(decode_relay(bytes(r.value), DeadLetter).reason.code for r in letters) == [
        "malformed", "revoked"]
    conn = await relay.connect()
    try:
        counted = await store.counts(conn)
    finally:
        await conn.close()
    assert counted[(revoked, "revoked")] == 1 and counted[(sloppy, "malformed")] == 1
    assert counted[(keyless, "no_encryption_key")] == 2


async def test_each_worker_keeps_the_change_notices_addressed_to_it_once(relay: RelayEnv):
    population = await linked_population(relay)
    route(relay)  # the publisher sends the change notices the linker sealed
    codes = sorted(c for c, k in population.filer_kinds.items() if k.value == "insurer")
    on_topic: dict[str, dict] = {}
    for code in codes:
        found = await read_to_end(relay.cfg.kafka(TESTS), [
            TopicPartition(relay.topic(changes_topic(code).name), p)
            for p in range(changes_topic(code).partitions)])
        on_topic[code] = {n.notice_id: n for n in
                          (decode_relay(bytes(r.value), ChangeNotice) for r in found)}
    assert sum(map(len, on_topic.values())) > 0, "the population's deaths and moves are told"
    run_workers(relay, codes)
    run_workers(relay, codes)  # run again: nothing is kept twice
    conn = await relay.connect()
    try:
        kept = {code: await member_store.notices_kept(conn, code) for code in codes}
    finally:
        await conn.close()
    for code in codes:
        assert set(kept[code]) == set(on_topic[code]), code
        assert {i: k for i, (k, _) in kept[code].items()} == {
            i: n.kind.value for i, n in on_topic[code].items()}
        # a coverage this insurer ended names a number its own store holds
        assert all(kept[code][i][1] for i, n in on_topic[code].items()
                   if n.kind is ChangeKind.COVERAGE_ENDED and n.insurer_code == code)
    assert any(known for k in kept.values() for _, known in k.values())
