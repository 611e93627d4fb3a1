"""An insurer's worker as a witness, fed heads by hand on its own heads topic: it cosigns the
first head and one a consistency proof shows to extend it, answers a head read twice with the
same bytes, refuses a note the relay's key did not sign and a fork with the reason, and sends
nothing for a record the relay's access-log key did not sign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.heads import signed_head
from access_log.merkle import Tree
from access_log.months import head_origin, month_of
from access_log.verifier import Head, leaf_hash, verify_head
from consumers.access_heads import relay_time_text
from insurer_workers import member_store
from relay_clock.ticks import is_tick_record
from schemas import decode_relay, encode
from schemas.access_log import HeadCosignature, TreeHeadForWitness
from schemas.topics import ACCESS_LOG_COSIGNATURE, heads_topic
from tests.integration.exchange_env import (
    linked_population,
    records,
    run_workers,
    send_raw,
)
from tests.integration.relay_env import RelayEnv
from trust.directory import Directory
from trust.keys import access_log_record_signer, exchange_signer

pytestmark = pytest.mark.integration


async def test_a_witness_cosigns_extensions_and_refuses_the_rest_once_each(relay: RelayEnv):
    population = await linked_population(relay)
    code = sorted(c for c, k in population.filer_kinds.items() if k.value == "insurer")[0]
    at = relay.ticks[-1]
    month, when = month_of(at), relay_time_text(at - timedelta(seconds=1))
    origin = head_origin("exchange", month)
    signer = access_log_record_signer(relay.cfg)
    name = signer.signer.code
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    honest, forked = Tree(leaves), Tree([*leaves[:4], leaf_hash(b"edited")])

    def note(tree: Tree, size: int, key: ec.EllipticCurvePrivateKey = signer.key) -> str:
        return signed_head(Head(origin, size, tree.root(size), when), name, key)

    def head(text: str, since: int | None = None, proof: list[bytes] = ()) -> TreeHeadForWitness:
        return TreeHeadForWitness(log="exchange", month=month, witness_code=code, note=text,
                                  since=since, consistency=list(proof), relay_time=at)

    first = head(note(honest, 3))
    stranger = head(note(honest, 4, ec.generate_private_key(ec.SECP256R1())), 3,
                    honest.consistency(3, 4))
    grown = head(note(honest, 5), 3, honest.consistency(3, 5))
    fork = head(note(forked, 5), 5)
    topic = heads_topic(code).name
    for message, by in [(first, signer), (first, signer), (stranger, signer),
                        (grown, exchange_signer(relay.cfg)), (grown, signer), (fork, signer)]:
        key, value = message.kafka_key(), encode(message)
        await send_raw(relay, topic, key, value, by.headers(topic, key, value))
    run_workers(relay, [code])

    answers = [a for r in await records(relay, ACCESS_LOG_COSIGNATURE.name)
               if not is_tick_record(r.headers)  # the relay clock ticks there too
               and (a := decode_relay(bytes(r.value), HeadCosignature)).log.value == "exchange"]
    assert [(a.witness_code, a.log.value, a.month) for a in answers] == [
        (code, "exchange", month)] * 5, "one answer a head record the relay's key signed"
    assert answers[0] == answers[1], "a head read twice is answered with the same bytes"
    assert [a.refusal.split(":")[0] if a.refusal else None for a in answers] == [
        None, None, "bad_head", None, "fork"]
    insurer_key = {code: Directory(relay.cfg).latest("insurer", code).public_key}
    relay_key = (name, signer.key.public_key())
    assert verify_head(answers[0].note, relay_key, insurer_key).head.size == 3
    assert verify_head(answers[3].note, relay_key, insurer_key).head.size == 5
    assert answers[4].note == fork.note, "a refused note goes back unchanged"

    conn = await relay.connect()
    try:
        kept = [k for k in await member_store.head_answers(conn, code) if k[0] == origin]
        assert sorted((o, c, r.split(":")[0]) for o, _, c, r in kept) == sorted([
            (origin, True, "first_head"), (origin, False, "bad_head"),
            (origin, True, "extends"), (origin, False, "fork")])
        last = await member_store.last_witnessed(conn, code, origin)
        assert last is not None and last[:2] == (5, honest.root())
    finally:
        await conn.close()
