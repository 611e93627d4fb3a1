"""Same input, same output: batch sizes 25 times apart and random SIGKILLs leave every output
partition's sequence unchanged (change notices to each insurer included, opened with its key),
and equal to what the pure fold over relay time publishes."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from uuid import uuid5

import pytest
from aiokafka import TopicPartition

from consumers.dlq import original_bytes
from groundfloor.config import LINKER_BATCH_ENV, StackConfig
from groundfloor.kafka_clients import read_to_end
from infra.principals import TESTS
from infra.topics_admin import addressed_codes
from relay_clock.ticks import is_tick_record
from relay_linker.messages import (
    DEAD_LETTER_NAMESPACE,
    NoticeMaking,
    output_rows,
    recipient,
    tick_rows,
)
from schemas import DeadLetter, FilingOutcome, LinkChanged, RelayTick, decode_relay
from schemas.internal import AgeMilestoneReached, LinkChangedV2, PersonChanged
from schemas.notices import ChangeNotice
from schemas.topics import (
    AGE_MILESTONE,
    FILING_OUTCOME,
    INGESTION_TOPICS,
    LINK_CHANGE,
    LINK_CHANGE_V2,
    OUTCOME_TOPICS,
    PERSON_CHANGE,
    RELAY_CLOCK,
    changes_topic,
)
from schemas.topics import topic as catalogue_topic
from synthetic.population import Population, generate
from tests.faults.chaos import ingested, run_with_kills
from tests.integration.relay_env import RelayEnv, drop_env, make_env
from trust.encryption_keys import PublicKeyDirectory, load_private_key
from trust.notice_sealing import open_notice
from trust.pki import Participant, list_participants
from trust.sealing import decode_sealed, open_outcome

pytestmark = pytest.mark.integration

PERSONS = 600
SMALL, LARGE = 20, 500
Sequences = dict[tuple[str, int], list[Any]]


def _uploads(population: Population) -> list[tuple[str, Any]]:
    """Every filing, then a fifth of them again (the same event ids: duplicates)."""
    filings = population.filings
    return [(population.topic_of(f), f) for f in [*filings, *filings[: len(filings) // 5]]]


async def _feed(relay: RelayEnv, population: Population) -> int:
    """Publish the population and two ticks (its time, then 15 days on); the records held."""
    await relay.publish(_uploads(population))
    await relay.publish_raw(population.bad_records, population.bad_filers)
    await relay.tick()
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    return await ingested(relay)


def _letter_refusals(sequences: Sequences) -> set[str]:
    """The outbox ids of the refusals sent with the dead letters of `sequences`."""
    return {str(uuid5(DEAD_LETTER_NAMESPACE, f"{m['source_topic']}:{m['source_partition']}:"
                                             f"{m['source_offset']}:1"))
            for (name, _), seq in sequences.items() if name.endswith(".dlq") for m in seq}


DECISIONS: dict[str, type] = {
    LINK_CHANGE.name: LinkChanged, LINK_CHANGE_V2.name: LinkChangedV2,
    AGE_MILESTONE.name: AgeMilestoneReached, FILING_OUTCOME.name: FilingOutcome,
    PERSON_CHANGE.name: PersonChanged,
}
"""The topics of the relay's decisions, with the message each carries (and, on the
relay-internal ones, the relay clock's ticks the linker forwards, compared as ticks)."""


SEALED = {t.name for t in OUTCOME_TOPICS.values()}
"""The topics of outcomes sealed to their filers: their seals are random, so they are
compared opened, with each addressee's own key."""


def _opened(relay: RelayEnv, logical: str, value: bytes) -> dict[str, Any]:
    sealed = decode_sealed(value)
    filer = Participant(sealed.addressee_role.value, sealed.addressee_code)
    outcome = open_outcome(sealed, logical, sealed.kafka_key(),
                           load_private_key(relay.cfg, filer))
    return {**sealed.model_dump(mode="json", exclude={"sealed"}),
            "opened": outcome.model_dump(mode="json")}


def _changes_topics(relay: RelayEnv) -> list[str]:
    """The change notice topics of every insurer and the Japan Pension Service: sealed to
    each, so compared opened with the recipient's own key."""
    everyone = [(p.role, p.code) for p in list_participants(relay.cfg)]
    return [changes_topic(code).name for code in addressed_codes(everyone)]


def _notice(relay: RelayEnv, logical: str, key: bytes, value: bytes) -> dict[str, Any]:
    notice = decode_relay(value, ChangeNotice)
    opened = open_notice(notice, logical, key,
                         load_private_key(relay.cfg, recipient(notice.recipient_code)))
    return {**notice.model_dump(mode="json", exclude={"sealed"}), "key": key.decode(),
            "opened": {"member_number": opened.member_number, "new_name": opened.new_name,
                       "new_kana": opened.new_kana, "new_address": opened.new_address}}


def _decoded(relay: RelayEnv, logical: str, value: bytes, key: bytes = b"",
             headers: Any = None) -> Any:
    """A published value as compared across runs: ids, decisions and plaintext contents; a
    dead letter, a sealed outcome and a change notice opened, a dead letter's source named
    by catalogue topic; a forwarded tick as its seq and time."""
    if is_tick_record(headers):
        return {"tick": decode_relay(value, RelayTick).model_dump(mode="json")}
    model = DECISIONS.get(logical)
    if model is not None:
        return decode_relay(value, model).model_dump(mode="json")
    if logical in SEALED:
        return _opened(relay, logical, value)
    if logical.endswith(".changes.v1"):
        return _notice(relay, logical, key, value)
    letter = decode_relay(value, DeadLetter)
    opened = original_bytes(relay.keyring(), letter)
    fields = letter.model_dump(mode="json", exclude={"original", "source_topic"})
    return {**fields, "source_topic": relay.topics.logical(letter.source_topic),
            "original": opened.hex()}


async def _published(relay: RelayEnv) -> Sequences:
    """Every output partition's committed records in offset order, decoded."""
    logical = [*DECISIONS, *sorted(SEALED), *_changes_topics(relay),
               *(t.dlq for t in INGESTION_TOPICS if t.dlq)]
    partitions = [TopicPartition(relay.topic(name), p)
                  for name in logical for p in range(catalogue_topic(name).partitions)]
    out: Sequences = defaultdict(list)
    for r in await read_to_end(relay.cfg.kafka(TESTS), partitions):
        name = relay.topics.logical(r.topic)
        out[(name, r.partition)].append(_decoded(relay, name, bytes(r.value),
                                                 bytes(r.key or b""), r.headers))
    return dict(out)


async def _folded(relay: RelayEnv) -> Sequences:
    """The link changes and outcomes the pure fold gives, per output partition in order, each
    clock step's forwarded tick before what it announces."""
    out: Sequences = defaultdict(list)
    addressees, keyring = PublicKeyDirectory(relay.cfg), relay.keyring()
    for d in (await relay.fold())[1]:
        making = NoticeMaking(keyring, d.filing)
        ticks = (tick_rows(keyring, d.source.offset, d.relay_time, relay.topics)
                 if d.source.topic == RELAY_CLOCK.name else [])
        for row in [*ticks, *output_rows(d.effects, d.source, relay.topics, d.relay_time,
                                         addressees, making)]:
            name = relay.topics.logical(row.topic)
            out[(name, row.partition)].append(_decoded(relay, name, row.value, row.key,
                                                       row.headers))
    return {where: seq for where, seq in out.items() if seq}


async def _run(relay: RelayEnv, population: Population, batch: int,
               kill_seed: int | None) -> Sequences:
    total = await _feed(relay, population)
    batch_env = {LINKER_BATCH_ENV: str(batch)}
    if kill_seed is not None:
        kills = await run_with_kills(relay, total, random.Random(kill_seed), seconds=300,
                                     extra=batch_env, every_point=False)
        assert sum(n for k, n in kills.items() if "exit -9" in k or "random" in k) >= 2, kills
    for processor, extra in (("relay-linker", batch_env), ("outbox-publisher", None)):
        code = await asyncio.to_thread(relay.run, processor, extra)
        assert code == 0, relay.last_output
    return await _published(relay)


def _of_filings(sequences: Sequences) -> Sequences:
    """Link changes and outcomes, leaving out the refusals of records that were no filing
    (the fold sees filings only); partitions left empty are dropped."""
    refusals = _letter_refusals(sequences)
    kept = {where: [m for m in seq if m.get("opened", m).get("outbox_id") not in refusals]
            for where, seq in sequences.items()
            if where[0] in DECISIONS or where[0] in SEALED or where[0].endswith(".changes.v1")}
    return {where: seq for where, seq in kept.items() if seq}


async def test_batch_size_timing_and_kills_change_no_output(stack: StackConfig, unique: str):
    population = generate(41, PERSONS, date(2025, 1, 1))
    large, small = await make_env(stack, unique), await make_env(stack, f"{unique}k")
    try:
        calm = await _run(large, population, LARGE, kill_seed=None)
        killed = await _run(small, population, SMALL, kill_seed=17)
        assert sorted(calm) == sorted(killed)
        for where in sorted(calm):
            assert calm[where] == killed[where], f"{where} differs"
        letters = sum(len(seq) for (name, _), seq in calm.items() if name.endswith(".dlq"))
        assert letters > 0 and _letter_refusals(calm)
        sealed = [m for (name, _), seq in calm.items() if name in SEALED for m in seq]
        clear = [m for (name, _), seq in calm.items() if name == FILING_OUTCOME.name
                 for m in seq]
        assert sorted(m["opened"]["outbox_id"] for m in sealed) == sorted(
            m["outbox_id"] for m in clear), "every outcome is also sealed to its filer"
        notices = [m for (name, _), seq in calm.items() if name.endswith(".changes.v1")
                   for m in seq]
        assert notices and {m["kind"] for m in notices} >= {"death", "coverage_ended"}

        expected = await _folded(large)
        assert _of_filings(calm) == expected
        assert sum(len(s) for s in expected.values()) > len(population.filings)
    finally:
        await drop_env(large)
        await drop_env(small)
