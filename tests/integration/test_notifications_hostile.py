"""Bad input on the notifications processor's own feeds, written straight onto the relay-internal
topics: undecodable bytes and a forged tick go to the dead-letter topic with their reason, a
loss for a person with no cover and contradicting or out-of-range facts become anomalies, and
no notice is invented; the processor never stops. A clean loss beside them still reminds."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import idempotent_producer, read_to_end
from infra.principals import TESTS
from relay_clock.ticks import headers as tick_headers
from relay_clock.ticks import new_tick
from schemas import RelayTick, decode_relay, encode
from schemas.internal import LinkChangedV2, PersonChanged
from schemas.relay import DeadLetter
from schemas.topics import FORWARDED_TICK_TOPICS, LINK_CHANGE_V2, NOTICES, PERSON_CHANGE
from tests.integration.relay_env import RelayEnv

pytestmark = [pytest.mark.integration, pytest.mark.participant_streams(NOTICES)]

NS = uuid5(NAMESPACE_URL, "urn:shaho-relay:tests:notifications-hostile")
EMPLOYER_INSURER = "06139018"
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def _link(who: str, tag: str, version: int, change: str, valid_from: date,
          valid_to: date | None = None, because: str | None = None) -> LinkChangedV2:
    return LinkChangedV2(
        relay_id=who, person_version=version, change=change, scheme="medical",
        insurer_number=EMPLOYER_INSURER, capacity="insured", category="employee_insurance",
        valid_from=valid_from, valid_to=valid_to, closed_because=because,
        source_event_id=uuid5(NS, f"event:{tag}"), outbox_id=uuid5(NS, tag), relay_time=T0)


def _born(who: str, born: date) -> PersonChanged:
    return PersonChanged(relay_id=who, person_version=1, born_on=born,
                         source_event_id=uuid5(NS, f"reg:{who}"),
                         outbox_id=uuid5(NS, f"person:{who}"), relay_time=T0)


async def _write(relay: RelayEnv, ticks: list[RelayTick],
                 records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    """Tick 1 on every partition, then `records`, then the later ticks on every partition."""
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        def every(tick: RelayTick) -> list:
            return [producer.send(relay.topic(t.name), encode(tick), key=tick.kafka_key(),
                                  partition=p, headers=tick_headers())
                    for t in FORWARDED_TICK_TOPICS for p in range(t.partitions)]
        for sent in every(ticks[0]):
            await (await sent)
        for topic, key, value, headers in records:
            await producer.send_and_wait(relay.topic(topic), value, key=key, headers=headers)
        for tick in ticks[1:]:
            for sent in every(tick):
                await (await sent)
    finally:
        await producer.stop()


async def test_bad_records_are_dead_letters_or_anomalies_and_never_a_notice(
    relay: RelayEnv,
) -> None:
    keyring = relay.keyring()
    times = [T0, T0 + timedelta(days=20), T0 + timedelta(days=20, hours=1)]
    ticks = [new_tick(keyring, seq, at) for seq, at in enumerate(times, start=1)]
    forged = RelayTick(seq=2, relay_time=times[1], mac="00" * 32)
    loss_on = date(2026, 3, 2)  # reminders fall due on 3/16, before the second tick (3/21)
    records = [
        # a clean retiree: born, hired, lost on 3/2 with no other cover -> one reminder
        (PERSON_CHANGE.name, b"RCLEAN", encode(_born("RCLEAN", date(1980, 1, 1))), []),
        (LINK_CHANGE_V2.name, b"RCLEAN", encode(_link("RCLEAN", "c-open", 2, "opened",
                                                      date(2025, 4, 1))), []),
        (LINK_CHANGE_V2.name, b"RCLEAN", encode(_link("RCLEAN", "c-close", 3, "closed",
                                                      date(2025, 4, 1), loss_on, "loss")), []),
        # a loss for a person with no cover known: link_unknown, no notice
        (LINK_CHANGE_V2.name, b"RNOCOVER", encode(_link("RNOCOVER", "n-close", 2, "closed",
                                                        date(2025, 4, 1), loss_on, "loss")), []),
        # two overlapping covers at one insurer: the facts contradict themselves, no notice
        (LINK_CHANGE_V2.name, b"RTWICE", encode(_link("RTWICE", "t-1", 1, "opened",
                                                      date(2025, 4, 1), loss_on, "loss")), []),
        (LINK_CHANGE_V2.name, b"RTWICE", encode(_link("RTWICE", "t-2", 2, "opened",
                                                      date(2025, 5, 1), loss_on, "loss")), []),
        # a birth date out of any range the rules reason about
        (PERSON_CHANGE.name, b"RANCIENT", encode(_born("RANCIENT", date(1001, 1, 1))), []),
        (LINK_CHANGE_V2.name, b"RANCIENT", encode(_link("RANCIENT", "a-1", 2, "opened",
                                                        date(1001, 4, 1), loss_on, "loss")), []),
        # bytes that are no message, and a tick whose MAC the clock key did not make
        (LINK_CHANGE_V2.name, b"RJUNK", b"\xff{not json", []),
        (PERSON_CHANGE.name, b"RJUNK", b'{"relay_id": "RJUNK", "person_version": -1}', []),
        (LINK_CHANGE_V2.name, b"tick", encode(forged), tick_headers()),
    ]
    await _write(relay, ticks, records)
    for processor in ("notifications", "outbox-publisher"):
        assert await asyncio.to_thread(relay.run, processor) == 0, relay.last_output
    assert "Traceback" not in relay.last_output

    conn = await relay.connect()
    try:
        sent = [dict(r) for r in await conn.fetch(
            "SELECT relay_id, rule, step FROM notifications_sent ORDER BY relay_id")]
        anomalies = {(r["relay_id"], r["code"]) for r in await conn.fetch(
            "SELECT relay_id, code FROM notification_anomalies")}
        inbox = [r["relay_id"] for r in await conn.fetch("SELECT relay_id FROM person_inbox")]
        clock = await conn.fetchval("SELECT epoch FROM relay_clock WHERE group_id = $1",
                                    "notifications")
    finally:
        await conn.close()
    assert sent == [{"relay_id": "RCLEAN", "rule": "nhi_enrolment_reminder",
                     "step": "reminder"}], "only the clean loss reminds"
    assert inbox == ["RCLEAN"]
    assert ("RNOCOVER", "link_unknown") in anomalies
    assert ("RTWICE", "overlapping_covers") in anomalies
    assert ("RANCIENT", "date_out_of_range") in anomalies
    assert clock == 3, "every clock step applied: nothing stopped the processor"

    dlq = [f"{LINK_CHANGE_V2.name}.dlq", f"{PERSON_CHANGE.name}.dlq"]
    partitions = [TopicPartition(relay.topic(name), p) for name in dlq
                  for p in range(LINK_CHANGE_V2.partitions)]
    letters = [decode_relay(bytes(r.value), DeadLetter)
               for r in await read_to_end(relay.cfg.kafka(TESTS), partitions, 30)]
    assert sorted(letter.reason.code for letter in letters) == [
        "forged_tick", "malformed", "malformed"]
    assert all(letter.reason.message for letter in letters)
    assert all(b"not json" not in letter.model_dump_json().encode() for letter in letters), \
        "the original bytes are sealed"
