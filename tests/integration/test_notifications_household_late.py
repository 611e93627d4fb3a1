"""A late change of householder must correct a reminder already sent to a household member
(docs/notifications.md, follow-ups: "a late filing that changes what the reminder said (... the
householder ...) corrects it"), even though the member's own facts did not change."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

import pytest

from groundfloor.kafka_clients import idempotent_producer
from infra.principals import TESTS
from relay_clock.ticks import headers as tick_headers
from relay_clock.ticks import new_tick
from schemas import RelayTick, encode
from schemas.internal import LinkChangedV2, PersonChanged
from schemas.topics import FORWARDED_TICK_TOPICS, LINK_CHANGE_V2, NOTICES, PERSON_CHANGE
from tests.integration.relay_env import RelayEnv

pytestmark = [pytest.mark.integration, pytest.mark.participant_streams(NOTICES)]

NS = uuid5(NAMESPACE_URL, "urn:shaho-relay:tests:notifications-household-late")
INSURER = "06139018"
CHIYODA = "131016"
HH = "ab" * 16
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _member(who: str, tag: str, version: int, change: str, valid_from: date, heads: bool,
            valid_to: date | None = None) -> LinkChangedV2:
    return LinkChangedV2(
        relay_id=who, person_version=version, change=change, scheme="resident",
        insurer_number=CHIYODA, category="household", household=HH, householder=heads,
        valid_from=valid_from, valid_to=valid_to,
        closed_because="household_changed" if valid_to else None,
        source_event_id=uuid5(NS, f"event:{tag}"), outbox_id=uuid5(NS, tag), relay_time=T0)


def _job(who: str, tag: str, version: int, change: str, valid_to: date | None = None
         ) -> LinkChangedV2:
    return LinkChangedV2(
        relay_id=who, person_version=version, change=change, scheme="medical",
        insurer_number=INSURER, capacity="insured", category="employee_insurance",
        valid_from=date(2025, 4, 1), valid_to=valid_to,
        closed_because="loss" if valid_to else None,
        source_event_id=uuid5(NS, f"event:{tag}"), outbox_id=uuid5(NS, tag), relay_time=T0)


def _born(who: str) -> PersonChanged:
    return PersonChanged(relay_id=who, person_version=1, born_on=date(1980, 1, 1),
                         source_event_id=uuid5(NS, f"reg:{who}"),
                         outbox_id=uuid5(NS, f"person:{who}"), relay_time=T0)


async def test_a_late_change_of_householder_corrects_the_members_reminder(
    relay: RelayEnv,
) -> None:
    # C (member of HH, Chiyoda) loses employee cover on 3/2; A heads HH, B is a member.
    # The reminder fires 3/16 to C, householder A and Chiyoda. On 3/21 Chiyoda files, late,
    # that B has headed HH since 2026-02-01: on the loss date the householder was B, so the
    # reminder's copies are void ("corrected") and it goes again naming B (docs, follow-ups).
    keyring = relay.keyring()
    times = [T0, T0 + timedelta(days=20), T0 + timedelta(days=21),
             T0 + timedelta(days=21, hours=1)]
    ticks = [new_tick(keyring, seq, at) for seq, at in enumerate(times, start=1)]
    start, change, loss_on = date(2020, 1, 1), date(2026, 2, 1), date(2026, 3, 2)
    first = [
        *((PERSON_CHANGE.name, who) for who in ("HA", "HB", "HC")),
        (LINK_CHANGE_V2.name, _member("HA", "a1", 2, "opened", start, True)),
        (LINK_CHANGE_V2.name, _member("HB", "b1", 2, "opened", start, False)),
        (LINK_CHANGE_V2.name, _member("HC", "c1", 2, "opened", start, False)),
        (LINK_CHANGE_V2.name, _job("HC", "c2", 3, "opened")),
        (LINK_CHANGE_V2.name, _job("HC", "c3", 4, "closed", loss_on)),
    ]
    late = [
        (LINK_CHANGE_V2.name, _member("HA", "a2", 3, "closed", start, True, change)),
        (LINK_CHANGE_V2.name, _member("HA", "a3", 3, "opened", change, False)),
        (LINK_CHANGE_V2.name, _member("HB", "b2", 3, "closed", start, False, change)),
        (LINK_CHANGE_V2.name, _member("HB", "b3", 3, "opened", change, True)),
    ]
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        async def tick(t: RelayTick) -> None:
            for topic in FORWARDED_TICK_TOPICS:
                for p in range(topic.partitions):
                    await producer.send_and_wait(relay.topic(topic.name), encode(t),
                                                 key=t.kafka_key(), partition=p,
                                                 headers=tick_headers())

        async def send(batch: list) -> None:
            for topic, message in batch:
                if isinstance(message, str):
                    message = _born(message)
                await producer.send_and_wait(relay.topic(topic), encode(message),
                                             key=message.relay_id.encode())

        await tick(ticks[0])
        await send(first)
        await tick(ticks[1])
        await send(late)
        for t in ticks[2:]:
            await tick(t)
    finally:
        await producer.stop()
    assert await asyncio.to_thread(relay.run, "notifications") == 0, relay.last_output

    conn = await relay.connect()
    try:
        rows = [(r["relay_id"], r["step"], r["body"]) for r in await conn.fetch(
            "SELECT relay_id, step, body::text AS body FROM person_inbox "
            "ORDER BY relay_time, relay_id, step")]
    finally:
        await conn.close()
    got = sorted((rid, step) for rid, step, _ in rows)
    assert ("HA", "reminder") in got and ("HC", "reminder") in got, got  # the first reminder
    assert ("HA", "corrected") in got, got
    assert ("HB", "reminder") in got, got
