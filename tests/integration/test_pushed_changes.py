"""Changes pushed to those who know the person, on the real stack: a person known to three
insurers over the years moves, changes name and dies, and one of their coverages ends; each
insurer reads each change once on its own topic, opens it with its own key and finds its own
number (and the new name or address as filed); no insurer opens or reads another's. Each notice
pushed is one entry of the notices access log, witnessed by its recipient, and the same input
gives the same leaves whatever the batch size and wherever the linker was killed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from access_log.entries import AccessEntry, AccessKind, entry_of, person_commitment
from access_log.merkle import Tree
from access_log.months import month_of
from access_log.verifier import leaf_hash, verify_consistency, verify_head
from consumers import access_records
from consumers.access_records import NOTICES_LOG, person_salt
from groundfloor.config import LINKER_BATCH_ENV, StackConfig
from groundfloor.kafka_clients import read_to_end
from infra import kafka_acl
from infra.principals import TESTS, participant, participant_name
from relay_linker.messages import NoticeMaking, output_rows
from relay_linker.pushed_changes import notice_entry_id, pushed_accesses
from schemas import Filing, decode_relay, new_filing
from schemas.access_log import TreeHeadForWitness
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
    heads_topic,
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
from tests.integration.relay_env import CALENDAR_START, RelayEnv, drop_env, make_env
from trust.encryption_keys import PublicKeyDirectory, load_private_key
from trust.keys import access_log_key
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


async def _feed(relay: RelayEnv) -> None:
    """Publish the phases, each released by a tick an hour after the last, then a day on."""
    for hour, phase in enumerate(_phases(), start=1):
        await relay.publish(phase)
        await relay.tick(CALENDAR_START + timedelta(hours=hour))
    await relay.tick(CALENDAR_START + timedelta(days=1))


async def _run(relay: RelayEnv) -> dict[Participant, list]:
    await _feed(relay)
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


def _cli(relay: RelayEnv, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "shaho.cli", "access-log", *args],
                          env=relay.cfg.child_env(), capture_output=True, timeout=120,
                          check=False)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


async def _notices_log(relay: RelayEnv) -> tuple[list, set[str], int]:
    """The notices log's rows in log order, its witnesses, and the exchange log's size."""
    conn = await relay.connect()
    try:
        rows = await conn.fetch("SELECT month, seq, entry_id, relay_id, leaf FROM "
                                "access_entries WHERE log = $1 ORDER BY month, seq", NOTICES_LOG)
        witnesses = {r["witness"] for r in await conn.fetch(
            "SELECT witness FROM access_witnesses WHERE log = $1", NOTICES_LOG)}
        exchange = await conn.fetchval("SELECT count(*) FROM access_entries WHERE log = $1",
                                       access_records.EXCHANGE_LOG)
    finally:
        await conn.close()
    return rows, witnesses, exchange


async def test_each_pushed_notice_is_one_notices_log_entry_witnessed_by_its_recipient(
        relay: RelayEnv):
    received = await _run(relay)
    notices = [decode_relay(bytes(r.value), ChangeNotice)
               for records in received.values() for r in records]
    assert len(notices) == 4 * len(INSURERS)
    rows, witnesses, exchange = await _notices_log(relay)
    entries = [entry_of(bytes(r["leaf"])) for r in rows]
    keyring = relay.keyring()

    # one entry per notice pushed, under the id the relay keys from the notice's id
    assert sorted(e.entry_id for e in entries) == sorted(
        notice_entry_id(keyring, n.notice_id) for n in notices)
    by_id = {notice_entry_id(keyring, n.notice_id): n for n in notices}
    for e in entries:
        n = by_id[e.entry_id]
        assert (e.kind, e.asker, e.provider, e.category, e.outcome) == (
            AccessKind.PUSHED_CHANGE, n.recipient_code, TOWN, n.kind.value, "pushed")
        assert (e.purpose, e.policy_row) == ("change_notice", "-")
        assert e.scheme == ("medical" if n.kind is ChangeKind.COVERAGE_ENDED else "-")
        assert datetime.fromisoformat(e.relay_time) == n.relay_time
    # a phase is decided at the relay time of the tick before it (the first two at the
    # first's): the filings of phases 1-3 (registration, pension number, NHI, employee
    # insurance, at hours 1 and 2) push no notice and have no entry; each later phase's
    # filing is told to all three recipients
    hours = Counter((datetime.fromisoformat(e.relay_time) - CALENDAR_START, e.category)
                    for e in entries)
    assert hours == Counter({(timedelta(hours=h), kind.value): len(INSURERS) for h, kind in (
        (3, ChangeKind.COVERAGE_ENDED), (4, ChangeKind.NAME_CHANGE),
        (5, ChangeKind.ADDRESS_CHANGE), (6, ChangeKind.DEATH))})
    assert witnesses == {who.code for who in INSURERS}, "the recipients witness the log"
    assert exchange == 0, "notices go to the notices log only"

    relay_id = rows[0]["relay_id"]
    assert {r["relay_id"] for r in rows} == {relay_id}
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    for r in rows:  # a leaf names no one and gives no number
        leaf = bytes(r["leaf"])
        assert relay_id.encode() not in leaf and b"1234567890" not in leaf
        assert not any(item.encode() in leaf for item in ("港いろは", "１２３４", NEW_KANJI))
    assert len({e.person for e in entries}) == len(entries), "one person's entries unlinkable"

    code, out = _cli(relay, "prove", relay_id)
    assert code == 0, out
    proven = [line for line in out.splitlines() if "names this person: yes" in line]
    assert len(proven) == len(entries) and all(p.startswith(NOTICES_LOG) for p in proven), out
    code, out = _cli(relay, "verify")
    assert code == 0 and "holds together" in out, out

    # the linker signed the notices log's heads and sent each recipient every one, in order,
    # each over a prefix of the log and joined to the one before by its consistency proof
    tree, relay_key = Tree([leaf_hash(bytes(r["leaf"])) for r in rows]), access_log_key(relay.cfg)
    for who in INSURERS:
        where = TopicPartition(relay.topic(heads_topic(who.code).name), 0)
        sent = [decode_relay(bytes(r.value), TreeHeadForWitness)
                for r in await read_to_end(relay.cfg.kafka(TESTS), [where])]
        assert sent and {(h.log.value, h.witness_code) for h in sent} == {
            (NOTICES_LOG, who.code)}
        before = None
        for h in sent:
            head = verify_head(h.note, relay_key, {}, cosignatures=0).head
            assert head.size <= len(rows) and head.root == tree.root(head.size)
            assert h.since == (None if before is None else before.size)
            if before is not None and before.size == head.size:
                assert before.root == head.root
            elif before is not None and before.size:
                verify_consistency(before.size, head.size, h.consistency, before.root,
                                   head.root)
            before = head


async def _leaves(relay: RelayEnv) -> dict[str, list[bytes]]:
    """The notices log's leaf hashes, month by month."""
    conn = await relay.connect()
    try:
        months = [r["month"] for r in await conn.fetch(
            "SELECT month FROM access_trees WHERE log = $1 ORDER BY month", NOTICES_LOG)]
        return {m: await access_records.leaf_hashes(conn, m, NOTICES_LOG) for m in months}
    finally:
        await conn.close()


async def _folded_leaves(relay: RelayEnv) -> dict[str, list[bytes]]:
    """The leaf hashes the pure fold gives: each decision's pushed notices in relay order, as
    the linker makes them (a clock step makes no notice)."""
    keyring, addressees = relay.keyring(), PublicKeyDirectory(relay.cfg)
    out: dict[str, list[bytes]] = defaultdict(list)
    for d in (await relay.fold())[1]:
        making = NoticeMaking(keyring, d.filing) if d.filing is not None else None
        rows = output_rows(d.effects, d.source, relay.topics, d.relay_time, addressees, making)
        for a in pushed_accesses(d.effects, {r.id for r in rows}, keyring, d.relay_time):
            person = person_commitment(person_salt(keyring, a.relay_id), a.relay_id, a.entry_id)
            entry = AccessEntry(a.entry_id, a.kind, a.asker, a.provider, person, a.scheme,
                                a.category, a.purpose, a.policy_row, a.relay_time.isoformat(),
                                a.outcome)
            out[month_of(a.relay_time)].append(leaf_hash(entry.leaf()))
    return dict(out)


async def _notices_logged(relay: RelayEnv) -> int:
    conn = await relay.connect()
    try:
        return await conn.fetchval("SELECT count(*) FROM access_entries WHERE log = $1",
                                   NOTICES_LOG)
    finally:
        await conn.close()


async def test_batch_size_and_a_kill_change_no_notices_log_leaf(stack: StackConfig, unique: str):
    large, small = await make_env(stack, unique), await make_env(stack, f"{unique}k")
    try:
        for relay in (large, small):
            await _feed(relay)
        code = await asyncio.to_thread(large.run, "relay-linker", {LINKER_BATCH_ENV: "500"})
        assert code == 0, large.last_output
        # one step a transaction, SIGKILLed after the 10th commits (the name change's, by
        # then the ended coverage is told), then restarted from the stored positions
        one = {LINKER_BATCH_ENV: "1"}
        code = await asyncio.to_thread(small.run, "relay-linker",
                                       {**one, "SHAHO_FAULT": "linker.after-db-commit:10"})
        assert code == -9, small.last_output
        assert 0 < await _notices_logged(small) < 4 * len(INSURERS), "killed mid-way"
        code = await asyncio.to_thread(small.run, "relay-linker", one)
        assert code == 0, small.last_output

        calm, killed = await _leaves(large), await _leaves(small)
        assert sum(len(leaves) for leaves in calm.values()) == 4 * len(INSURERS)
        assert calm == killed
        assert calm == await _folded_leaves(large)
    finally:
        await drop_env(large)
        await drop_env(small)
