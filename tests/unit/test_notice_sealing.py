"""Change notices sealed for their recipient: only its key opens one, only where it was
published; the contract refuses what is not a notice; each recipient knows the person by a
pseudonym of its own; the linker's adapter turns a due notice into one sealed outbox row."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from groundfloor.crypto import Keyring, participant_pseudonym, seal
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from relay_linker.messages import UNSEALED_NOTICES, NoticeMaking, output_rows
from schemas import MessageRejected, decode_relay, encode, new_filing
from schemas.common import Scheme
from schemas.notices import ChangeKind, ChangeNotice, notice_id_for
from schemas.topics import Namespace, changes_topic, heads_topic, participant_topics, topic
from tests.fixtures.examples import OCCURRED_AT, example_payload
from trust.encryption_keys import EncryptionKey, PublicKeys
from trust.notice_sealing import NoticeContent, NoticeNotOpened, open_notice, seal_notice
from trust.pki import Participant
from trust.sealing import key_id

A_KEY = ec.generate_private_key(ec.SECP256R1())
B_KEY = ec.generate_private_key(ec.SECP256R1())
A, B = "06139018", "131011"
TOPIC_A = f"participant.{A}.changes.v1"
PERSON = "a" * 64
WHEN = datetime(2025, 7, 1, 9, tzinfo=UTC)
KEYRING = Keyring.ephemeral(b"notice tests")


def _notice(content: NoticeContent | None = None, code: str = A,
            key: ec.EllipticCurvePrivateKey = A_KEY, kind: ChangeKind = ChangeKind.DEATH,
            **ended: object) -> ChangeNotice:
    return seal_notice(source_id=uuid4(), recipient_code=code, person=PERSON, kind=kind,
                       effective_date=date(2025, 6, 30), relay_time=WHEN,
                       topic=f"participant.{code}.changes.v1",
                       content=content or NoticeContent("A-123|456|01"),
                       public_key=key.public_key(), **ended)  # type: ignore[arg-type]


def test_the_recipient_opens_its_notice_and_finds_its_number_and_the_new_name() -> None:
    content = NoticeContent("A-123|456|01", new_name="佐藤花子", new_kana="サトウハナコ")
    notice = _notice(content, kind=ChangeKind.NAME_CHANGE)
    opened = open_notice(notice, TOPIC_A, PERSON.encode(), A_KEY)
    assert (opened.member_number, opened.new_name, opened.new_kana, opened.new_address) == (
        "A-123|456|01", "佐藤花子", "サトウハナコ", None)
    assert notice.sealed_to == key_id(A_KEY.public_key())
    assert b"A-123" not in encode(notice) and "佐藤".encode() not in encode(notice)


def test_another_key_topic_record_or_recipient_does_not_open_it() -> None:
    notice = _notice()
    with pytest.raises(NoticeNotOpened):
        open_notice(notice, TOPIC_A, PERSON.encode(), B_KEY)
    with pytest.raises(NoticeNotOpened):
        open_notice(notice, f"participant.{B}.changes.v1", PERSON.encode(), A_KEY)
    with pytest.raises(NoticeNotOpened):
        open_notice(notice, TOPIC_A, b"b" * 64, A_KEY)
    moved = notice.model_copy(update={"recipient_code": B})
    with pytest.raises(NoticeNotOpened):
        open_notice(moved, TOPIC_A, PERSON.encode(), A_KEY)


def test_the_error_says_nothing_of_the_content() -> None:
    notice = _notice(NoticeContent("SECRET-NUMBER-77"))
    with pytest.raises(NoticeNotOpened) as raised:
        open_notice(notice, TOPIC_A, PERSON.encode(), B_KEY)
    assert "SECRET" not in str(raised.value) and "77" not in str(raised.value)
    assert "SECRET" not in repr(NoticeContent("SECRET-NUMBER-77"))


@settings(max_examples=1000)
@given(st.binary(min_size=81, max_size=400))
def test_arbitrary_sealed_bytes_never_open(raw: bytes) -> None:
    notice = _notice().model_copy(update={"sealed": raw})
    with pytest.raises(NoticeNotOpened):
        open_notice(notice, TOPIC_A, PERSON.encode(), A_KEY)


@settings(max_examples=1000)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_to_a_notice_or_a_rejection(raw: bytes) -> None:
    try:
        notice = decode_relay(raw, ChangeNotice)
    except MessageRejected as rejected:
        assert rejected.reasons, "a rejection says why"
        return
    assert isinstance(notice, ChangeNotice)


@settings(max_examples=1000)
@given(st.dictionaries(st.sampled_from(sorted(ChangeNotice.model_fields)),
                       st.one_of(st.none(), st.integers(), st.text(max_size=80),
                                 st.booleans()), max_size=12))
def test_mutated_notices_decode_or_are_rejected(changes: dict[str, object]) -> None:
    data = json.loads(encode(_notice()))
    data.update(changes)
    try:
        notice = decode_relay(json.dumps(data).encode(), ChangeNotice)
    except MessageRejected:
        return
    assert notice.kafka_key() == notice.person.encode()


def test_a_notice_round_trips_and_coverage_fields_go_with_coverage_ended() -> None:
    ended = _notice(kind=ChangeKind.COVERAGE_ENDED, scheme=Scheme.MEDICAL, insurer_code=A)
    assert decode_relay(encode(ended), ChangeNotice) == ended
    with pytest.raises(ValidationError):
        _notice(kind=ChangeKind.COVERAGE_ENDED)
    with pytest.raises(ValidationError):
        _notice(kind=ChangeKind.DEATH, scheme=Scheme.MEDICAL, insurer_code=A)


def test_notice_ids_are_deterministic_per_source_and_recipient() -> None:
    source = uuid4()
    assert notice_id_for(source, A) == notice_id_for(source, A)
    assert notice_id_for(source, A) != notice_id_for(source, B)


def test_each_recipient_has_its_own_pseudonym_for_a_person() -> None:
    mine = participant_pseudonym(KEYRING, A, "R1")
    assert mine == participant_pseudonym(KEYRING, A, "R1")
    assert mine != participant_pseudonym(KEYRING, B, "R1")
    assert mine != participant_pseudonym(KEYRING, A, "R2")
    assert len(mine) == 64 and "R1" not in mine


def test_participant_topics_name_the_participants_own_changes_topic() -> None:
    requests, replies, changes, heads = participant_topics(A)
    assert changes == changes_topic(A)
    assert heads == heads_topic(A) and heads.message == "TreeHeadForWitness"
    assert changes.name == TOPIC_A and changes.message == "ChangeNotice"
    assert (requests.message, replies.message) == ("RoutedRequest", "ExchangeReply")
    assert topic(TOPIC_A) == changes and topic(requests.name) == requests
    with pytest.raises(ValueError):
        participant_topics("a.b")
    with pytest.raises(KeyError):
        topic("participant.a.b.changes.v1")


def _due(kind: str, event_id: object, code: str = A) -> fx.ChangeNoticeDue:
    sealed = seal(KEYRING, b"A-123|456|01", f"insured:{code}".encode())
    return fx.ChangeNoticeDue(
        relay_id="R-HANA", recipient_code=code, kind=kind, effective_date=date(2025, 5, 1),
        number_key=(f"insured:{code}", b"ix"), source_event_id=event_id,  # type: ignore[arg-type]
        sealed_number=json.dumps(sealed.to_json_dict()).encode(), index=1, outbox_id=uuid4())


def test_the_adapter_seals_the_new_name_as_filed_for_the_recipient() -> None:
    filing = new_filing(example_payload("NameChanged"), filer_code="131016",
                        filing_reference="NC-1", person_token="tok-nc",
                        occurred_at=OCCURRED_AT)
    keys = PublicKeys({Participant("insurer", A): EncryptionKey(key_id(A_KEY.public_key()),
                                                                A_KEY.public_key())})
    rows = output_rows([_due("name_change", filing.event_id)], Source("t", 0, 1), Namespace(),
                       WHEN, keys, NoticeMaking(KEYRING, filing))
    (row,) = rows
    assert row.topic == TOPIC_A
    notice = decode_relay(row.value, ChangeNotice)
    assert row.key == participant_pseudonym(KEYRING, A, "R-HANA").encode()
    assert b"R-HANA" not in row.key + row.value
    opened = open_notice(notice, TOPIC_A, row.key, A_KEY)
    assert opened.member_number == "A-123|456|01"
    assert opened.new_name == filing.payload.new_kanji_name.reveal()
    assert opened.new_kana == filing.payload.new_kana_name.reveal()


def test_a_recipient_without_a_key_gets_no_row_and_a_counted_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    before = UNSEALED_NOTICES[B]
    rows = output_rows([_due("death", uuid4(), code=B)], Source("t", 0, 1), Namespace(), WHEN,
                       PublicKeys(), NoticeMaking(KEYRING))
    assert rows == []
    assert UNSEALED_NOTICES[B] == before + 1
    assert B in caplog.text and "A-123" not in caplog.text and "R-HANA" not in caplog.text
