"""Changes pushed to those who know the person, on the real stack: a person known to three
insurers over the years moves, changes name and dies, and one of their coverages ends; each
insurer reads each change once on its own topic, opens it with its own key and finds its own
number (and the new name or address as filed); no insurer opens or reads another's."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from groundfloor.kafka_clients import read_to_end
from infra import kafka_acl
from infra.principals import TESTS, participant, participant_name
from schemas import Filing, decode_relay, new_filing
from schemas.common import IdentityItems, PersonReference
from schemas.employer import EmployeeInsuranceAcquired
from schemas.municipality import (
    AddressChanged,
    DeathRegistered,
    NameChanged,
    NhiQualificationAcquired,
    NhiQualificationLost,
    ResidentRegistered,
)
from schemas.notices import ChangeKind, ChangeNotice
from schemas.pension import BasicPensionNumberAssigned
from schemas.secret import Secret, SecretNumber
from schemas.topics import (
    FILING_EMPLOYER,
    FILING_MUNICIPALITY,
    FILING_PENSION,
    changes_topic,
)
from tests.fixtures.examples import (
    EMPLOYEE_INSURER,
    MUNICIPAL_INSURER,
    OCCURRED_AT,
    address,
    identity,
    insured,
    resident,
)
from tests.integration.relay_env import CALENDAR_START, RelayEnv
from trust.encryption_keys import load_private_key
from trust.notice_sealing import NoticeContent, NoticeNotOpened, open_notice
from trust.pki import Participant

pytestmark = pytest.mark.integration

TOWN, EMPLOYER, JPS = "131016", "EMP-0001", "JPS"
NHI = Participant("insurer", MUNICIPAL_INSURER)
EMPLOYEE = Participant("insurer", EMPLOYEE_INSURER)
PENSION = Participant("pension", JPS)
INSURERS = (NHI, EMPLOYEE, PENSION)
INSURED = "港いろは|１２３４|00"  # symbol|number|branch, as the employer and the town filed it
OWN_NUMBERS = {NHI: INSURED, EMPLOYEE: INSURED, PENSION: "1234567890"}
NEW_KANJI, NEW_KANA = "佐藤太郎", "サトウタロウ"
NEW_ADDRESS = address("永田町", "２丁目")
DIED_ON = date(2025, 6, 30)


def _renamed(moved: bool) -> IdentityItems:
    old = identity()
    return IdentityItems(kanji_name=Secret(NEW_KANJI), kana_name=Secret(NEW_KANA),
                         birth_date=old.birth_date, sex=old.sex,
                         address=NEW_ADDRESS if moved else old.address)


def _filing(payload: object, filer: str, reference: str, days: int = 0) -> Filing:
    return new_filing(payload, filer_code=filer, filing_reference=reference,  # type: ignore[arg-type]
                      person_token="tok-pushed", occurred_at=OCCURRED_AT + timedelta(days=days))


def _phases() -> list[list[tuple[str, Filing]]]:
    """One person's life as filed, phase by phase (each released by a tick of its own, so the
    relay decides them in this order): registered; a basic pension number and NHI from 2020;
    employee insurance from 2022-04-01 and NHI lost the next day; a name change; a move;
    death."""
    who, items, number = resident(), identity(), insured()
    nhi = {"person": who, "identity": items, "insured_number": number,
           "insurer_number": MUNICIPAL_INSURER}
    return [
        [(FILING_MUNICIPALITY.name, _filing(ResidentRegistered(
            resident_code=SecretNumber("12345678901"), identity=items,
            registered_on=date(2020, 1, 6)), TOWN, "PC-REG"))],
        [(FILING_PENSION.name, _filing(BasicPensionNumberAssigned(
            person=who, identity=items, basic_pension_number=SecretNumber("1234-567890"),
            assigned_on=date(2020, 2, 1)), JPS, "PC-BPN")),
         (FILING_MUNICIPALITY.name, _filing(NhiQualificationAcquired(
             acquired_on=date(2020, 4, 1), **nhi), TOWN, "PC-NHI"))],
        [(FILING_EMPLOYER.name, _filing(EmployeeInsuranceAcquired(
            person=who, identity=items, insurer_number=EMPLOYEE_INSURER, insured_number=number,
            acquired_on=date(2022, 4, 1), dependants=[]), EMPLOYER, "PC-ACQ"))],
        [(FILING_MUNICIPALITY.name, _filing(NhiQualificationLost(
            lost_on=date(2022, 4, 2), **nhi), TOWN, "PC-NHI-LOST"))],
        [(FILING_MUNICIPALITY.name, _filing(NameChanged(
            person=who, identity=items, new_kanji_name=Secret(NEW_KANJI),
            new_kana_name=Secret(NEW_KANA), changed_on=date(2025, 4, 1)), TOWN, "PC-NAME"))],
        [(FILING_MUNICIPALITY.name, _filing(AddressChanged(
            person=who, identity=_renamed(moved=False), new_address=NEW_ADDRESS,
            moved_on=date(2025, 5, 1)), TOWN, "PC-MOVE", days=30))],
        [(FILING_MUNICIPALITY.name, _filing(DeathRegistered(
            person=PersonReference(resident_code=SecretNumber("12345678901")),
            identity=_renamed(moved=True), died_on=DIED_ON), TOWN, "PC-DEATH", days=90))],
    ]


def _changes(code: str) -> str:
    changes = changes_topic(code)
    return changes.name


async def _records(relay: RelayEnv, code: str, login: str = TESTS) -> list:
    name = relay.topic(_changes(code))
    changes = changes_topic(code)
    partitions = [TopicPartition(name, p) for p in range(changes.partitions)]
    return await read_to_end(relay.cfg.kafka(login), partitions, 30)


async def _run(relay: RelayEnv) -> dict[Participant, list]:
    for hour, phase in enumerate(_phases(), start=1):
        await relay.publish(phase)
        await relay.tick(CALENDAR_START + timedelta(hours=hour))
    await relay.tick(CALENDAR_START + timedelta(days=1))
    for processor in ("relay-linker", "outbox-publisher"):
        assert await asyncio.to_thread(relay.run, processor) == 0, relay.last_output
    return {who: await _records(relay, who.code) for who in INSURERS}


def _opened(relay: RelayEnv, who: Participant, record) -> tuple[ChangeNotice, NoticeContent]:
    notice = decode_relay(bytes(record.value), ChangeNotice)
    return notice, open_notice(notice, _changes(who.code), record.key,
                               load_private_key(relay.cfg, who))


async def test_each_insurer_hears_each_change_once_by_its_own_number(relay: RelayEnv):
    received = await _run(relay)
    conn = await relay.connect()
    try:
        relay_ids = [r["relay_id"] for r in await conn.fetch("SELECT relay_id FROM persons")]
    finally:
        await conn.close()
    assert len(relay_ids) == 1
    keys: dict[Participant, set[bytes]] = {}
    for who, records in received.items():
        opened = [_opened(relay, who, r) for r in records]
        kinds = Counter(n.kind for n, _ in opened)
        assert kinds == Counter({ChangeKind.COVERAGE_ENDED: 1, ChangeKind.NAME_CHANGE: 1,
                                 ChangeKind.ADDRESS_CHANGE: 1, ChangeKind.DEATH: 1}), who
        by_kind = {n.kind: (n, c) for n, c in opened}
        assert {c.member_number for _, c in opened} == {OWN_NUMBERS[who]}
        assert all(n.recipient_code == who.code for n, _ in opened)
        death, _ = by_kind[ChangeKind.DEATH]
        assert death.effective_date == DIED_ON
        ended, _ = by_kind[ChangeKind.COVERAGE_ENDED]
        assert (ended.scheme, ended.insurer_code, ended.effective_date) == (
            "medical", MUNICIPAL_INSURER, date(2022, 4, 2))
        _, named = by_kind[ChangeKind.NAME_CHANGE]
        assert (named.new_name, named.new_kana, named.new_address) == (NEW_KANJI, NEW_KANA, None)
        _, moved = by_kind[ChangeKind.ADDRESS_CHANGE]
        assert moved.new_address == NEW_ADDRESS.model_dump(mode="json")
        assert moved.new_name is None
        keys[who] = {bytes(r.key) for r in records}
        assert len(keys[who]) == 1, "one person, one pseudonym at one recipient"
        for r in records:
            raw = bytes(r.key) + bytes(r.value)
            assert relay_ids[0].encode() not in raw, "the relay id never leaves the relay"
            assert "港いろは".encode() not in raw and b"1234567890" not in raw
            assert NEW_KANJI.encode() not in raw
    assert len(set().union(*keys.values())) == len(INSURERS), "no two recipients share a key"

    nhi_notice = received[NHI][0]
    with pytest.raises(NoticeNotOpened):
        _opened(relay, EMPLOYEE, nhi_notice)


async def test_an_insurer_reads_its_own_changes_topic_and_not_anothers(stack, relay: RelayEnv):
    pairs = [(p.role, p.code) for p in INSURERS]
    await asyncio.to_thread(kafka_acl.provision, stack, pairs, relay.topics)
    try:
        received = await _run(relay)
        own = await _records(relay, NHI.code, participant_name(NHI.role, NHI.code))
        assert [bytes(r.value) for r in own] == [bytes(r.value) for r in received[NHI]]
        assert own, "the insurer reads its notices with its own login"
        with pytest.raises(TopicAuthorizationFailedError):
            await _records(relay, EMPLOYEE.code, participant_name(NHI.role, NHI.code))
    finally:
        await asyncio.to_thread(kafka_acl.revoke_namespace, stack, relay.topics,
                                [participant(*p) for p in pairs])
