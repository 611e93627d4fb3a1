"""Hand-made filings and readers for the notifications tests on the real stack: residents of
Chiyoda (131016) in households, hires and losses at one employee insurer, dependants, and the
notices read back from the persons' inboxes and the participants' notices topics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from groundfloor.crypto import blind_index
from groundfloor.kafka_clients import read_to_end
from infra.principals import TESTS
from schemas import decode_relay
from schemas.common import (
    IdentityItems,
    InsuredNumber,
    PensionCategory,
    PersonReference,
    Sex,
    StructuredAddress,
)
from schemas.employer import (
    Dependant,
    DependantChange,
    DependantChanged,
    EmployeeInsuranceAcquired,
    EmployeeInsuranceLost,
)
from schemas.envelope import JST, Filing, new_filing
from schemas.filings import FilingRetracted
from schemas.municipality import Household, NhiQualificationAcquired, ResidentRegistered
from schemas.notices import RelayNotice
from schemas.pension import (
    BasicPensionNumberAssigned,
    PensionQualificationAcquired,
    PensionQualificationLost,
)
from schemas.secret import Secret, SecretDate, SecretNumber
from schemas.topics import notices_topic
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import load_private_key
from trust.notice_sealing import open_relay_notice
from trust.pki import Participant

MUNICIPALITY, EMPLOYER, INSURER = "131016", "EMP-NOTICE", "01130012"
NHI_INSURER = "131011"  # Chiyoda's NHI insurer number (its municipality code's 5 digits, check)
OTHER_INSURER = "06135123"  # another employee insurer, for a new job
MUNICIPALITY_TOPIC, EMPLOYER_TOPIC = "filing.municipality.v1", "filing.employer.v1"


@dataclass(frozen=True)
class Resident:
    code: str
    kanji: str
    kana: str
    born: date
    sex: Sex
    token: str

    def items(self) -> IdentityItems:
        address = StructuredAddress(
            prefecture=Secret("東京都"), municipality=Secret("千代田区"), town=Secret("霞が関"),
            chome=Secret("1"), banchi=Secret("2"), go=Secret(str(int(self.code[-4:]) + 1)))
        return IdentityItems(kanji_name=Secret(self.kanji), kana_name=Secret(self.kana),
                             birth_date=SecretDate(self.born), sex=self.sex, address=address)

    @property
    def ref(self) -> PersonReference:
        return PersonReference(resident_code=SecretNumber(self.code))


def resident(n: int, born: date, sex: Sex = Sex.MALE) -> Resident:
    kanji = "佐藤一郎" if sex is Sex.MALE else "佐藤花子"
    kana = "サトウイチロウ" if sex is Sex.MALE else "サトウハナコ"
    return Resident(f"81{n:09d}", kanji, kana, born, sex, f"n{n}")


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=JST)


def number(n: int, branch: str = "00") -> InsuredNumber:
    return InsuredNumber(symbol=SecretNumber("notice"), number=SecretNumber(f"{n}"),
                         branch=SecretNumber(branch))


def registration(who: Resident, household: str, householder: bool,
                 on: date = date(2025, 1, 1)) -> tuple[str, Filing]:
    payload = ResidentRegistered(
        resident_code=SecretNumber(who.code), identity=who.items(), registered_on=on,
        household=Household(token=household, householder=householder))
    return MUNICIPALITY_TOPIC, new_filing(
        payload, filer_code=MUNICIPALITY, filing_reference=f"REG-{who.code}",
        person_token=f"m-{who.token}", occurred_at=at(on + timedelta(days=2)))


def hire(n: int, who: Resident, on: date, filed: date | None = None,
         insurer: str = INSURER, reference: str | None = None) -> tuple[str, Filing]:
    payload = EmployeeInsuranceAcquired(person=who.ref, identity=who.items(),
                                        insurer_number=insurer, insured_number=number(n),
                                        acquired_on=on)
    return EMPLOYER_TOPIC, new_filing(
        payload, filer_code=EMPLOYER, filing_reference=reference or f"ACQ-{n}-{on}",
        person_token=f"e{n}", occurred_at=at(filed or on + timedelta(days=2)))


def loss(n: int, who: Resident, lost_on: date, filed: date | None = None,
         insurer: str = INSURER, reference: str | None = None) -> tuple[str, Filing]:
    payload = EmployeeInsuranceLost(person=who.ref, identity=who.items(),
                                    insurer_number=insurer, insured_number=number(n),
                                    last_day_of_employment=lost_on - timedelta(days=1),
                                    lost_on=lost_on)
    return EMPLOYER_TOPIC, new_filing(
        payload, filer_code=EMPLOYER, filing_reference=reference or f"LOSS-{n}-{lost_on}",
        person_token=f"e{n}", occurred_at=at(filed or lost_on + timedelta(days=2)))


def nhi_acquired(n: int, who: Resident, on: date, filed: date | None = None
                 ) -> tuple[str, Filing]:
    """Chiyoda enrols `who` in its NHI from `on` (filed under the registration's person token,
    so it follows the registration on its partition)."""
    payload = NhiQualificationAcquired(person=who.ref, identity=who.items(),
                                       insurer_number=NHI_INSURER, insured_number=number(n),
                                       acquired_on=on)
    return MUNICIPALITY_TOPIC, new_filing(
        payload, filer_code=MUNICIPALITY, filing_reference=f"NHI-{n}-{on}",
        person_token=f"m-{who.token}", occurred_at=at(filed or on + timedelta(days=2)))


PENSION_TOPIC, JPS = "filing.pension.v1", "JPS"


def pension_number(who: Resident) -> str:
    """The basic pension number the tests give `who`: 4 + 6 digits from its resident code."""
    return f"{who.code[:4]}-{who.code[-6:]}"


def pension_number_assigned(who: Resident, on: date = date(2025, 1, 1)) -> tuple[str, Filing]:
    """The Japan Pension Service assigns `who` its basic pension number (naming the person by
    resident code); its qualifications then name them by that number."""
    payload = BasicPensionNumberAssigned(
        person=who.ref, identity=who.items(),
        basic_pension_number=SecretNumber(pension_number(who)), assigned_on=on)
    return PENSION_TOPIC, new_filing(
        payload, filer_code=JPS, filing_reference=f"PNUM-{who.code}",
        person_token=f"p-{who.token}", occurred_at=at(on + timedelta(days=2)))


def pension(who: Resident, category: PensionCategory, on: date, *, lost: bool = False,
            filed: date | None = None) -> tuple[str, Filing]:
    """The Japan Pension Service files `who`'s qualification of `category` acquired (or, with
    `lost`, lost) on `on`, naming the person by basic pension number."""
    ref = PersonReference(basic_pension_number=SecretNumber(pension_number(who)))
    payload: PensionQualificationAcquired | PensionQualificationLost
    if lost:
        payload = PensionQualificationLost(person=ref, identity=who.items(),
                                           category=category, lost_on=on)
    else:
        payload = PensionQualificationAcquired(person=ref, identity=who.items(),
                                               category=category, acquired_on=on)
    verb = "LOST" if lost else "ACQ"
    return PENSION_TOPIC, new_filing(
        payload, filer_code=JPS, filing_reference=f"P{verb}-{who.code}-{category.value}-{on}",
        person_token=f"p-{who.token}", occurred_at=at(filed or on + timedelta(days=2)))


def dependant(n: int, insured: Resident, child: Resident, on: date) -> tuple[str, Filing]:
    payload = DependantChanged(
        person=insured.ref, identity=insured.items(), insurer_number=INSURER,
        change=DependantChange.ADDED,
        dependant=Dependant(person=child.ref, identity=child.items(),
                            insured_number=number(n, "01")),
        changed_on=on)
    return EMPLOYER_TOPIC, new_filing(
        payload, filer_code=EMPLOYER, filing_reference=f"DEP-{n}", person_token=f"e{n}",
        occurred_at=at(on + timedelta(days=2)))


def retraction(of: tuple[str, Filing], filed: date) -> tuple[str, Filing]:
    topic, filing = of
    payload = FilingRetracted(retracted_filing_reference=filing.filing_reference)
    return topic, new_filing(payload, filer_code=filing.filer_code,
                             filing_reference=f"RET-{filing.filing_reference}",
                             person_token=filing.person_token, occurred_at=at(filed))


async def run_relay(relay: RelayEnv, extra: dict[str, str] | None = None) -> None:
    """The linker, the publisher, the notifications processor and the publisher again."""
    for processor, env in (("relay-linker", None), ("outbox-publisher", None),
                           ("notifications", extra), ("outbox-publisher", None)):
        assert await asyncio.to_thread(relay.run, processor, env) == 0, relay.last_output


async def inbox(relay: RelayEnv) -> list[dict[str, Any]]:
    conn = await relay.connect()
    try:
        rows = await conn.fetch("SELECT * FROM person_inbox ORDER BY relay_time, copy_id")
    finally:
        await conn.close()
    return [{**dict(r), "body": json.loads(r["body"])} for r in rows]


async def pending_deadlines(relay: RelayEnv) -> list[tuple[str, str, date, date]]:
    """The deadlines the notifications processor keeps: (relay id, rule, key date, due on)."""
    conn = await relay.connect()
    try:
        rows = await conn.fetch("SELECT relay_id, rule, key_date, due_on FROM "
                                "notification_deadlines ORDER BY relay_id, rule, key_date")
    finally:
        await conn.close()
    return [(r["relay_id"], r["rule"], r["key_date"], r["due_on"]) for r in rows]


async def relay_id_of(relay: RelayEnv, who: Resident) -> str:
    """The relay id the test's resident got (found by the blind index of its resident code)."""
    kind, blind = "resident_code", blind_index(relay.keyring(), "resident_code", who.code)
    conn = await relay.connect()
    try:
        return await conn.fetchval("SELECT relay_id FROM reference_index WHERE kind = $1 AND "
                                   "blind_index = $2", kind, blind)
    finally:
        await conn.close()


async def participant_notices(relay: RelayEnv, who: Participant
                              ) -> list[tuple[RelayNotice, str, bytes]]:
    """Every committed notice on `who`'s notices topic: the message, the number it seals
    (opened with `who`'s private key) and the record key."""
    return (await notices_of(relay, [who])).get(who.code, [])


async def notices_of(relay: RelayEnv, participants: Sequence[Participant]
                     ) -> dict[str, list[tuple[RelayNotice, str, bytes]]]:
    """`participant_notices` of each of `participants` (by code, those with any), their
    topics read together."""
    topics = {relay.topic(notices_topic(p.code).name): p for p in participants}
    partitions = [TopicPartition(name, n) for name, p in topics.items()
                  for n in range(notices_topic(p.code).partitions)]
    keys: dict[str, Any] = {}
    out: dict[str, list[tuple[RelayNotice, str, bytes]]] = {}
    for record in await read_to_end(relay.cfg.kafka(TESTS), partitions, 30):
        who = topics[record.topic]
        notice = decode_relay(bytes(record.value), RelayNotice)
        if who.code not in keys:  # only those with notices: not every one holds a key
            keys[who.code] = load_private_key(relay.cfg, who)
        number = open_relay_notice(notice, notices_topic(who.code).name, record.key,
                                   keys[who.code])
        out.setdefault(who.code, []).append((notice, number, bytes(record.key)))
    return out


def steps(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["rule"], r["step"], r["body"]["role"]) for r in rows]
