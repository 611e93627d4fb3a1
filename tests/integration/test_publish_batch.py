"""Publishing a batch against the real broker: good rows land on their topics with their keys,
bad rows are reported, a second upload repeats the same event ids, outcomes are read back, and a
changed re-send is refused without changing the original's answer."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from aiokafka import TopicPartition

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import (
    KafkaLogin,
    end_offsets,
    idempotent_producer,
    reader,
    transactional_producer,
)
from infra.principals import TESTS
from infra.topics_admin import apply_catalogue
from producers.batch_rows import read_batch
from producers.command import PublishOptions, run_publish
from producers.outcomes import Mailbox, await_outcomes
from producers.sender import FilingPublisher
from producers.validate import validate_batch
from schemas import Filing, FilingOutcome, Reason, decode_filing, encode, event_id_for, topic_for
from schemas.filings import filer_of
from schemas.payload import FilerKind
from schemas.relay import OutcomeAddressee, OutcomeStatus
from schemas.topics import FILING_MUNICIPALITY, INGESTION_TOPICS, OUTCOME_EMPLOYER, Namespace
from tests.fixtures.examples import all_examples
from tests.fixtures.template import csv_row, csv_text
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import load_public_key
from trust.keys import FilerKeys
from trust.pki import Participant, ensure_participants
from trust.sealing import seal_outcome

pytestmark = pytest.mark.integration

KEYS = FilerKeys(StackConfig.from_env(), provision=True)  # the test filers, onboarded on use

EXAMPLES = all_examples()
TOPICS = Namespace()  # these tests publish under the stack's own, unprefixed topic names
INGESTION = [TOPICS.physical(t) for t in INGESTION_TOPICS]
MISMATCH = Reason(code="identity_mismatch", field="payload.identity.kana_name", message="differs")


def _codes(unique: str) -> dict[FilerKind, str]:
    tag = unique.upper()
    return {
        FilerKind.PENSION: f"P-{tag}",
        FilerKind.EMPLOYER: f"E-{tag}",
        FilerKind.INSURER: f"I-{tag}",
        FilerKind.MUNICIPALITY: f"M-{tag}",
    }


def _kind(event_type: str) -> FilerKind:
    kind = filer_of(event_type)
    return FilerKind.EMPLOYER if kind is FilerKind.ANY else kind


def _batch(codes: dict[FilerKind, str]) -> list[dict[str, str]]:
    """A row per event type under our own filer codes, then three bad rows."""
    rows = [{**csv_row(f), "filer_code": codes[_kind(t)]} for t, f in EXAMPLES.items()]
    acquired = rows[list(EXAMPLES).index("EmployeeInsuranceAcquired")]
    rows.append({**acquired, "filing_reference": "BAD-1", "person.resident_code": "42"})
    rows.append({**acquired, "filing_reference": "BAD-2", "identity.birth_date": "平成31年5月1日"})
    rows.append({**rows[0], "person_token": "tok-again"})
    return rows


async def _end_offsets(
    kafka: KafkaLogin, topics: list[str], namespace: Namespace = TOPICS
) -> dict[TopicPartition, int]:
    by_name = {namespace.physical(t): t.partitions for t in INGESTION_TOPICS}
    return await end_offsets(kafka, [TopicPartition(t, p) for t in topics
                                         for p in range(by_name[t])])


async def _records_since(
    kafka: KafkaLogin, offsets: dict[TopicPartition, int], codes: set[str], want: int
) -> list:
    """Committed records after `offsets` whose key starts with one of our filer codes."""
    consumer = reader(kafka)
    await consumer.start()
    got: list = []
    try:
        consumer.assign(list(offsets))
        for partition, offset in offsets.items():
            consumer.seek(partition, offset)
        loop = asyncio.get_running_loop()
        deadline, quiet_until = loop.time() + 30, None
        while loop.time() < deadline and (quiet_until is None or loop.time() < quiet_until):
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                got.extend(r for r in records if _filer(r.key) in codes)
            if len(got) >= want and quiet_until is None:
                quiet_until = loop.time() + 1.5  # anything extra would show up now
    finally:
        await consumer.stop()
    return got


def _filer(key: bytes | None) -> str | None:
    return None if key is None else key.split(b":")[0].decode("utf-8", "replace")


def _check_record(record, codes: dict[FilerKind, str]) -> Filing:
    filing = decode_filing(record.value, topic=record.topic)
    kind = _kind(filing.event_type)
    example = EXAMPLES[filing.event_type]
    assert record.topic == TOPICS.physical(topic_for(filing.event_type, kind))
    assert filing.filer_code == codes[kind]
    assert record.key == f"{codes[kind]}:{example.person_token}".encode()
    assert filing.event_id == event_id_for(codes[kind], example.filing_reference)
    assert filing.payload == example.payload
    assert filing.occurred_at == example.occurred_at
    return filing


def _cli(options: PublishOptions) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_publish(options, out, err)
    return code, out.getvalue().splitlines(), err.getvalue()


async def test_a_batch_publishes_its_good_rows_reports_its_bad_ones_and_repeats_event_ids(
    kafka: KafkaLogin, operator: KafkaLogin, unique: str, tmp_path: Path
):
    await apply_catalogue(operator, TOPICS)
    codes = _codes(unique)
    path = tmp_path / "batch.csv"
    path.write_text(csv_text(_batch(codes)), encoding="cp932")
    before = await _end_offsets(kafka, INGESTION)

    code, out, err = await asyncio.to_thread(_cli, PublishOptions(path, kafka,
                                                                  namespace=TOPICS,
                                                                  keys=KEYS))

    good = len(EXAMPLES)
    assert code == 1, err
    assert out[:-1] == [
        f"line {good + 2}: person.resident_code: must be 11 ASCII digits",
        f"line {good + 3}: identity.birth_date: the date is not within its era "
        "(平成 ends on 31年4月30日, 令和 begins on 元年5月1日)",
        f"line {good + 4}: filing_reference: duplicate filing_reference: already used on line 2",
    ]
    assert out[-1].startswith(f"published {good} filings (") and out[-1].endswith("rejected 3 rows")
    records = await _records_since(kafka, before, set(codes.values()), good)
    filings = [_check_record(r, codes) for r in records]
    assert sorted(f.event_type for f in filings) == sorted(EXAMPLES)

    again = await _end_offsets(kafka, INGESTION)
    results = validate_batch(read_batch(path))
    progress: list[int] = []
    async with FilingPublisher(kafka, TOPICS, KEYS) as publisher:
        deliveries = await publisher.publish(
            [r.outgoing for r in results if r.ok], progress=progress.append
        )
    assert progress == list(range(1, good + 1))
    repeated = await _records_since(kafka, again, set(codes.values()), good)
    assert len(repeated) == good
    first_ids = {f.event_id for f in filings}
    assert {d.event_id for d in deliveries} == first_ids
    assert {decode_filing(r.value).event_id for r in repeated} == first_ids
    assert {(r.topic, r.key) for r in repeated} == {(r.topic, r.key) for r in records}


def _outcome(code: str, reference: str, status: OutcomeStatus) -> FilingOutcome:
    return FilingOutcome(
        event_id=event_id_for(code, reference),
        filer_code=code,
        filing_reference=reference,
        receipt_id=f"RCPT-{reference}",
        status=status,
        reasons=() if status is OutcomeStatus.ACCEPTED else (MISMATCH,),
        outbox_id=uuid4(),
    )


def _mailbox(code: str, kind: str = "employer") -> Mailbox:
    """A filer reading its outcomes here: onboarded (keys made) on first use."""
    filer = Participant(kind, code)
    ensure_participants(KEYS.cfg, [filer])
    return Mailbox.load(KEYS.cfg, [filer])


async def _send_outcomes(kafka: KafkaLogin, *outcomes: FilingOutcome, abort: bool = False) -> None:
    """Each outcome sealed to its employer, on outcome.employer.v1, as the relay sends it."""
    if abort:
        producer = transactional_producer(kafka, f"test-outcomes-{uuid4().hex[:10]}")
    else:
        producer = idempotent_producer(kafka)
    await producer.start()
    try:
        if abort:
            await producer.begin_transaction()
        for outcome in outcomes:
            filer = Participant("employer", outcome.filer_code)
            ensure_participants(KEYS.cfg, [filer])
            key = load_public_key(KEYS.cfg, filer).public_key
            sealed = seal_outcome(outcome, OutcomeAddressee.EMPLOYER, OUTCOME_EMPLOYER.name, key)
            await producer.send_and_wait(
                TOPICS.physical(OUTCOME_EMPLOYER), encode(sealed), key=sealed.kafka_key()
            )
        if abort:
            await producer.abort_transaction()
    finally:
        await producer.stop()


def _ids(code: str, *references: str) -> list[UUID]:
    return [event_id_for(code, reference) for reference in references]


async def test_await_outcomes_keeps_the_latest_committed_outcome_per_event_id(
    kafka: KafkaLogin, operator: KafkaLogin, unique: str
):
    await apply_catalogue(operator, TOPICS)
    code = f"O-{unique.upper()}"
    parked, accepted, refused = OutcomeStatus.PARKED, OutcomeStatus.ACCEPTED, OutcomeStatus.REFUSED
    await _send_outcomes(
        kafka,
        _outcome(code, "A", parked),
        _outcome(code, "B", refused),
        _outcome(code, "C", parked),
        _outcome(code, "A", accepted),
    )
    await _send_outcomes(kafka, _outcome(code, "C", accepted), abort=True)
    a, b, c, d = _ids(code, "A", "B", "C", "D")
    loop = asyncio.get_running_loop()
    started = loop.time()
    mailbox = _mailbox(code)
    outcomes = await await_outcomes(kafka, TOPICS, [a, b, c, d], 4, mailbox=mailbox)
    assert loop.time() - started >= 3.5, "C is only parked: it waits for the whole timeout"
    assert {k: o.status for k, o in outcomes.items()} == {a: accepted, b: refused, c: parked}
    assert outcomes[b].reasons == (MISMATCH,)
    assert mailbox.unopened == 0

    started = loop.time()
    snapshot = await await_outcomes(kafka, TOPICS, [c, d], 30, until_final=False,
                                    mailbox=mailbox)
    assert {k: o.status for k, o in snapshot.items()} == {c: parked}
    assert loop.time() - started < 15
    others = _mailbox(f"X-{unique.upper()}")
    found = await await_outcomes(kafka, TOPICS, [a], 30, until_final=False, mailbox=others)
    assert found == {} and others.unopened == 0, "another employer's records are skipped"


async def test_await_outcomes_returns_as_soon_as_every_outcome_is_final(
    kafka: KafkaLogin, operator: KafkaLogin, unique: str
):
    await apply_catalogue(operator, TOPICS)
    code = f"W-{unique.upper()}"
    (e,) = _ids(code, "E")
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(await_outcomes(kafka, TOPICS, [e], 30,
                                                 mailbox=_mailbox(code)))
    await asyncio.sleep(1.5)
    await _send_outcomes(kafka, _outcome(code, "E", OutcomeStatus.PARKED))
    await asyncio.sleep(0.5)
    await _send_outcomes(kafka, _outcome(code, "E", OutcomeStatus.ACCEPTED))
    outcomes = await waiting
    assert outcomes[e].status is OutcomeStatus.ACCEPTED
    assert loop.time() - started < 15


async def test_publish_wait_prints_outcomes_already_on_the_topic(
    kafka: KafkaLogin, operator: KafkaLogin, unique: str, tmp_path: Path
):
    """A re-upload: the relay answered the first upload, and --wait finds those answers."""
    await apply_catalogue(operator, TOPICS)
    code = f"R-{unique.upper()}"
    rows = [
        {**csv_row(EXAMPLES[t]), "filer_code": code, "filing_reference": reference}
        for t, reference in (
            ("EmployeeInsuranceAcquired", "ACQ-1"),
            ("EmployeeInsuranceLost", "LOST-1"),
        )
    ]
    path = tmp_path / "reupload.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(rows).encode("utf-8"))
    (first, second) = (r["filing_reference"] for r in rows)
    await _send_outcomes(
        kafka,
        _outcome(code, first, OutcomeStatus.ACCEPTED),
        _outcome(code, second, OutcomeStatus.REFUSED),
    )
    options = PublishOptions(path, kafka, wait=True, timeout=20, namespace=TOPICS,
                             keys=KEYS)
    code_, out, err = await asyncio.to_thread(_cli, options)
    assert code_ == 1, err
    assert out == [
        "published 2 filings (filing.employer.v1: 2); rejected 0 rows",
        f"{first} accepted - RCPT-{first}",
        f"{second} refused [identity_mismatch payload.identity.kana_name: differs] RCPT-{second}",
    ]


async def _landed(
    kafka: KafkaLogin, namespace: Namespace, topic: str, before: dict[TopicPartition, int]
) -> None:
    """Wait until `topic` holds more records than `before` said (an upload was acknowledged)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        now = await _end_offsets(kafka, [topic], namespace)
        if sum(now.values()) > sum(before.values()):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"nothing landed on {topic}")


async def _relay_once(relay: RelayEnv) -> None:
    await relay.tick()
    assert await asyncio.to_thread(relay.run, "relay-linker") == 0, relay.last_output
    assert await asyncio.to_thread(relay.run, "outbox-publisher") == 0, relay.last_output


async def test_a_changed_re_send_is_refused_and_the_original_keeps_its_answer(
    relay: RelayEnv, tmp_path: Path
):
    """A changed re-send through `shaho publish --wait` on a relay of its own: the changed
    upload reads its own refusal, a later re-upload of the original reads accepted."""
    namespace = relay.topics
    kafka = relay.cfg.kafka(TESTS)
    row = csv_row(EXAMPLES["ResidentRegistered"])
    reference = row["filing_reference"]
    original, changed = tmp_path / "original.csv", tmp_path / "changed.csv"
    original.write_text(csv_text([row]), encoding="utf-8")
    changed.write_text(csv_text([{**row, "identity.kanji_name": "山田太朗"}]), encoding="utf-8")
    topic = namespace.physical(FILING_MUNICIPALITY)
    options = {"kafka": kafka, "wait": True, "timeout": 60, "namespace": namespace,
               "keys": KEYS}

    first = PublishOptions(original, kafka, namespace=namespace, keys=KEYS)
    code, out, err = await asyncio.to_thread(_cli, first)
    assert code == 0, err
    await _relay_once(relay)
    code, out, err = await asyncio.to_thread(_cli, PublishOptions(original, **options))
    assert code == 0, err
    accepted = out[-1]
    assert accepted.startswith(f"{reference} accepted - ")

    before = await _end_offsets(kafka, [topic], namespace)
    waiting = asyncio.create_task(asyncio.to_thread(_cli, PublishOptions(changed, **options)))
    await _landed(kafka, namespace, topic, before)
    await _relay_once(relay)  # the original's accepted outcome is already on the topic
    code, out, err = await waiting
    assert code == 1, err
    assert out[-1].startswith(
        f"{reference} refused [conflicting_duplicate event_id: a filing with other content was "
        "already received under this filing reference; its answer stands: file a change under "
        "a new filing reference] "
    )
    assert out[-1].split()[-1] != accepted.split()[-1], "the refusal has a receipt of its own"

    code, out, err = await asyncio.to_thread(_cli, PublishOptions(original, **options))
    assert (code, out[-1]) == (0, accepted), err
    await _relay_once(relay)
    event_id = event_id_for(row["filer_code"], reference)
    town = _mailbox(row["filer_code"], "municipality")
    latest = await await_outcomes(kafka, namespace, [event_id], 30, until_final=False,
                                  mailbox=town)
    assert latest[event_id].status is OutcomeStatus.ACCEPTED, "no reader sees it refused"
