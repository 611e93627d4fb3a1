"""The principal table: each participant writes only its kind's filing topic and reads only
what is addressed to it; nobody but the relay's processors touches `relay.*`; no `User:*`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.principals import (
    DESCRIBE,
    EXCHANGE_ROLES,
    GROUP,
    PROCESSORS,
    READ,
    TOPIC,
    TRANSACTIONAL_ID,
    WRITE,
    participant,
    participant_name,
    participant_topic_prefix,
    relay_principals,
)
from schemas.topics import CATALOGUE, INGESTION_TOPICS, Namespace

ROLES = ["employer", "municipality", "insurer", "pension", "medical"]
RELAY = [t.name for t in CATALOGUE if t.name.startswith("relay.")]
CODES = st.from_regex(r"[A-Z0-9][A-Z0-9-]{1,19}", fullmatch=True)


def test_a_participant_is_named_by_role_and_code_and_its_code_holds_no_dot():
    assert participant_name("insurer", "06135123") == "insurer.06135123"
    assert participant_topic_prefix("E-1") == "participant.E-1."
    for bad in (("insurer", "A.B"), ("relay", "relay-clock"), ("insurer", "")):
        with pytest.raises(ValueError):
            participant(*bad)


@pytest.mark.parametrize("role", ROLES)
def test_no_participant_touches_a_relay_topic(role: str):
    who = participant(role, "X1")
    for name in RELAY:
        for operation in (READ, WRITE, DESCRIBE):
            assert not who.may(operation, TOPIC, name), (role, operation, name)


@pytest.mark.parametrize("role", ROLES)
def test_a_participant_writes_only_its_kinds_filing_topic_and_the_exchanges(role: str):
    who = participant(role, "X1")
    written = [t.name for t in CATALOGUE if who.may(WRITE, TOPIC, t.name)]
    exchange = ["exchange.request.v1", "exchange.answer.v1", "access-log.cosignature.v1"] \
        if role in EXCHANGE_ROLES else []
    exchange += ["exchange.settlement.v1"] if role == "insurer" else []
    assert sorted(written) == sorted(([f"filing.{role}.v1"] if role != "medical" else [])
                                     + exchange)
    assert who.may(READ, TOPIC, f"outcome.{role}.v1")
    assert not who.may(READ, TOPIC, f"filing.{role}.v1"), "filers do not read the filings"


def test_an_employer_may_not_write_the_municipalities_topic():
    assert not participant("employer", "E1").may(WRITE, TOPIC, "filing.municipality.v1")


@given(CODES, CODES)
def test_a_participant_reads_what_is_addressed_to_it_and_nothing_addressed_to_another(
    a: str, b: str
):
    mine = participant("insurer", a)
    assert mine.may(READ, TOPIC, f"participant.{a}.notices.v1")
    if a != b:
        assert not mine.may(READ, TOPIC, f"participant.{b}.notices.v1")
        assert not mine.may(READ, TOPIC, f"outcome.{b}.v1")


def test_grants_follow_the_namespace_for_topics_only():
    ns = Namespace("t1.")
    linker = next(p for p in PROCESSORS if p.name == "relay-linker")
    assert linker.may(READ, TOPIC, "t1.filing.employer.v1", ns)
    assert not linker.may(READ, TOPIC, "filing.employer.v1", ns)
    assert linker.may(READ, GROUP, "relay-linker", ns)
    added = linker.bindings(ns, namespaced_only=True)
    assert added and all(b.resource == TOPIC and b.name.startswith("t1.") for b in added)


def test_each_processor_has_just_what_it_needs():
    by_name = {p.name: p for p in PROCESSORS}
    linker, publisher, clock = (by_name[n] for n in
                                ("relay-linker", "outbox-publisher", "relay-clock"))
    ingestion = [t.name for t in INGESTION_TOPICS]
    assert all(linker.may(READ, TOPIC, t) for t in ingestion)
    assert not any(linker.may(WRITE, TOPIC, t.name) for t in CATALOGUE)
    assert all(publisher.may(WRITE, TOPIC, t) for t in RELAY)
    assert not any(publisher.may(WRITE, TOPIC, t) for t in ingestion)
    assert publisher.may(WRITE, TRANSACTIONAL_ID, "shaho-outbox-relay.link-change.v1:0")
    assert all(clock.may(WRITE, TOPIC, t) for t in [*ingestion, "clock.relay-time.v1"])
    assert not any(clock.may(READ, TOPIC, t) for t in ingestion)
    assert not any(clock.may(WRITE, TOPIC, t) for t in RELAY if t != "relay.clock-source.v1")


def test_nothing_is_granted_to_every_user():
    everyone = [*relay_principals(), *(participant(r, "X1") for r in ROLES)]
    principals = {b.principal for p in everyone for b in p.bindings(Namespace())}
    assert "User:*" not in principals
    assert all(p.startswith("User:") and p != "User:ANONYMOUS" for p in principals)


def test_the_exchange_router_reads_the_exchange_topics_only_and_writes_nothing():
    from infra.principals import ROUTER

    read = sorted(t.name for t in CATALOGUE if ROUTER.may(READ, TOPIC, t.name))
    assert read == ["access-log.cosignature.v1", "exchange.answer.v1", "exchange.request.v1",
                    "exchange.settlement.v1"]
    assert not [t.name for t in CATALOGUE if ROUTER.may(WRITE, TOPIC, t.name)]
    assert not ROUTER.may(READ, TOPIC, "participant.06130012.requests.v1")


def test_no_participant_reads_the_exchange_topics_or_writes_another_participants():
    for role in ROLES:
        who = participant(role, "X1")
        for name in ("exchange.request.v1", "exchange.answer.v1"):
            assert not who.may(READ, TOPIC, name)
        assert not who.may(WRITE, TOPIC, "participant.X2.requests.v1")
        assert not who.may(WRITE, TOPIC, "participant.X1.replies.v1")


def test_the_notifications_processor_reads_the_clocked_internal_topics_and_writes_nothing():
    from infra.principals import NOTIFICATIONS

    read = sorted(t.name for t in CATALOGUE if NOTIFICATIONS.may(READ, TOPIC, t.name))
    assert read == ["clock.relay-time.v1", "relay.age-milestone.v1", "relay.link-change.v2",
                    "relay.person-change.v1"]
    assert not [t.name for t in CATALOGUE if NOTIFICATIONS.may(WRITE, TOPIC, t.name)]
    assert NOTIFICATIONS.may(READ, GROUP, "notifications")
    assert not NOTIFICATIONS.may(READ, TOPIC, "relay.link-change.v1")
    assert not NOTIFICATIONS.may(READ, TOPIC, "filing.municipality.v1")


def test_only_the_relays_own_principals_read_the_person_changes():
    for role in ROLES:
        assert not participant(role, "X1").may(READ, TOPIC, "relay.person-change.v1")


@given(CODES, CODES)
def test_an_insurers_receipts_topic_is_its_own_and_no_relay_principal_reads_it(a: str, b: str):
    from schemas.topics import receipts_topics

    receipts, dead = (t.name for t in receipts_topics(a))
    mine = participant("insurer", a)
    for name in (receipts, dead):
        assert mine.may(WRITE, TOPIC, name) and mine.may(READ, TOPIC, name)
        for relay in relay_principals():
            if relay.name not in ("shaho-tests", "shaho-bench"):  # they play every part
                assert not relay.may(READ, TOPIC, name), (relay.name, name)
                assert not relay.may(WRITE, TOPIC, name), (relay.name, name)
        for role in ("pension", "municipality", "employer", "medical"):
            assert not participant(role, a).may(WRITE, TOPIC, name), role
        if a != b:
            other = participant("insurer", b)
            assert not other.may(READ, TOPIC, name) and not other.may(WRITE, TOPIC, name)
    assert not participant("insurer", a).may(WRITE, TOPIC, f"participant.{a}.notices.v1")


def test_the_lag_monitor_describes_every_group_and_reads_only_the_relay_groups_topics():
    from infra.principals import CONSUMING, DESCRIBE_CONFIGS, LAG_MONITOR

    consumed = sorted({t.name for t in CATALOGUE for p in CONSUMING
                       if p.may(READ, TOPIC, t.name)})
    read = sorted(t.name for t in CATALOGUE if LAG_MONITOR.may(READ, TOPIC, t.name))
    assert read == consumed and "filing.employer.v1" in read and "relay.outbox-position.v1" \
        not in read
    assert all(LAG_MONITOR.may(DESCRIBE_CONFIGS, TOPIC, t) for t in read)
    for group in ("relay-linker", "insurer.06130012.worker", "anything"):
        assert LAG_MONITOR.may(DESCRIBE, GROUP, group)
        assert not LAG_MONITOR.may(READ, GROUP, group)
    assert not [t.name for t in CATALOGUE if LAG_MONITOR.may(WRITE, TOPIC, t.name)]
    assert not LAG_MONITOR.may(WRITE, TRANSACTIONAL_ID, "shaho-outbox-x")


@given(CODES)
def test_the_lag_monitor_reads_a_participants_topics_for_timestamps_but_no_private_one(
        code: str):
    from infra.principals import DESCRIBE_CONFIGS, LAG_MONITOR
    from schemas.topics import participant_topics, receipts_topics

    for topic in participant_topics(code):
        assert LAG_MONITOR.may(DESCRIBE, TOPIC, topic.name)
        assert LAG_MONITOR.may(DESCRIBE_CONFIGS, TOPIC, topic.name)
        assert LAG_MONITOR.may(READ, TOPIC, topic.name)  # its timestamps; the values sealed
        assert not LAG_MONITOR.may(WRITE, TOPIC, topic.name)
    for topic in receipts_topics(code):
        assert not LAG_MONITOR.may(DESCRIBE, TOPIC, topic.name)
        assert not LAG_MONITOR.may(READ, TOPIC, topic.name)


def test_the_lag_monitor_is_provisioned_with_the_relays_principals():
    from infra.kafka_acl import namespace_bindings
    from infra.principals import LAG_MONITOR_PRINCIPAL, all_names

    assert LAG_MONITOR_PRINCIPAL in all_names([])
    added = [b for b in namespace_bindings(Namespace("t1.")) if b.principal == "User:lag-monitor"]
    assert added and all(b.name.startswith("t1.") for b in added)
