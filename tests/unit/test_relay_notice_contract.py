"""Relay notices, the notifications processor's notices to a participant: only the recipient's
key opens one, only where it was published and only as a relay notice; the contract refuses a
step its rule does not take, a follow-up without the copy it follows up and a deadline where
none is due; the record names nobody in clear; the notices topic is every insurer's, the
Japan Pension Service's and every municipality's, the other participant topics are not."""

from __future__ import annotations

import json
import struct
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from groundfloor.crypto import Keyring, participant_pseudonym
from infra.principals import NOTIFICATIONS, PUBLISHER, READ, TOPIC, WRITE, participant
from infra.topics_admin import NOTICE_ROLES, addressed_codes, addressed_topics
from schemas import MessageRejected, decode_relay, encode
from schemas.notices import (
    RULE_STEPS,
    NoticeRule,
    NoticeStep,
    RecipientRole,
    RelayNotice,
)
from schemas.topics import (
    NOTICES_STREAM,
    NOTICES_TEMPLATE,
    PARTICIPANT_PARTITIONS,
    PARTICIPANT_STREAMS,
    PARTICIPANT_TEMPLATES,
    notices_topic,
    participant_topics,
    topic,
)
from trust.notice_sealing import (
    CONTEXT,
    NoticeNotOpened,
    context,
    open_relay_notice,
    seal_relay_notice,
)
from trust.sealing import SUITE, key_id

KEYRING = Keyring.ephemeral(b"relay notice tests")
A_KEY = ec.generate_private_key(ec.SECP256R1())
B_KEY = ec.generate_private_key(ec.SECP256R1())
TOWN, INSURER = "131016", "06139018"
RELAY_ID = "R-HANA-0001"
PERSON = participant_pseudonym(KEYRING, TOWN, RELAY_ID)
NUMBER = "NHI-7731|0042|02"
WHEN = datetime(2025, 7, 1, 9, tzinfo=UTC)
OWN_TOPIC = notices_topic(TOWN).name
FIRST_COPY = UUID("8a0c3a4e-2d51-5b8e-9c0f-3f6d7b1e2a44")

REMINDER = {"rule": NoticeRule.NHI_ENROLMENT_REMINDER, "step": NoticeStep.REMINDER,
            "recipient_role": RecipientRole.MUNICIPALITY_NHI, "refers_to": None,
            "key_date": date(2025, 6, 30), "deadline": date(2025, 7, 14)}


def _notice(key: ec.EllipticCurvePrivateKey = A_KEY, code: str = TOWN, person: str = PERSON,
            number: str = NUMBER, **changes: Any) -> RelayNotice:
    items = {**REMINDER, **changes}
    return seal_relay_notice(notice_id=uuid4(), recipient_code=code, person=person,
                             relay_time=WHEN, topic=notices_topic(code).name,
                             member_number=number, public_key=key.public_key(), **items)


def _open(notice: RelayNotice, topic_name: str = OWN_TOPIC, record_key: bytes | None = None,
          key: ec.EllipticCurvePrivateKey = A_KEY) -> str:
    return open_relay_notice(notice, topic_name,
                             notice.kafka_key() if record_key is None else record_key, key)


EVERY_STEP = [
    (NoticeRule.NHI_ENROLMENT_REMINDER, NoticeStep.REMINDER, RecipientRole.MUNICIPALITY_NHI,
     None, date(2025, 7, 14)),
    (NoticeRule.NHI_ENROLMENT_REMINDER, NoticeStep.RESOLVED, RecipientRole.MUNICIPALITY_NHI,
     FIRST_COPY, date(2025, 7, 14)),
    (NoticeRule.NHI_ENROLMENT_REMINDER, NoticeStep.WITHDRAWN, RecipientRole.MUNICIPALITY_NHI,
     FIRST_COPY, date(2025, 7, 14)),
    (NoticeRule.NHI_ENROLMENT_REMINDER, NoticeStep.CORRECTED, RecipientRole.MUNICIPALITY_NHI,
     FIRST_COPY, date(2025, 7, 14)),
    (NoticeRule.NATIONAL_PENSION_SWITCH, NoticeStep.REMINDER, RecipientRole.MUNICIPALITY_NHI,
     None, date(2025, 7, 14)),
    (NoticeRule.NATIONAL_PENSION_SWITCH, NoticeStep.RESOLVED,
     RecipientRole.MUNICIPALITY_NHI, FIRST_COPY, date(2025, 7, 14)),
    (NoticeRule.NATIONAL_PENSION_SWITCH, NoticeStep.WITHDRAWN,
     RecipientRole.MUNICIPALITY_NHI, FIRST_COPY, date(2025, 7, 14)),
    (NoticeRule.NATIONAL_PENSION_SWITCH, NoticeStep.CORRECTED,
     RecipientRole.MUNICIPALITY_NHI, FIRST_COPY, date(2025, 7, 14)),
    (NoticeRule.DOUBLE_ENROLMENT, NoticeStep.FIRST_NOTICE, RecipientRole.EMPLOYEE_INSURER,
     None, date(2025, 8, 1)),
    (NoticeRule.DOUBLE_ENROLMENT, NoticeStep.SECOND_NOTICE, RecipientRole.NHI_INSURER,
     None, date(2025, 9, 1)),
    (NoticeRule.DOUBLE_ENROLMENT, NoticeStep.ESCALATION, RecipientRole.NHI_INSURER, None,
     None),
    (NoticeRule.AGE_65, NoticeStep.MILESTONE, RecipientRole.NHI_INSURER, None, None),
    (NoticeRule.AGE_75, NoticeStep.MILESTONE, RecipientRole.EMPLOYEE_INSURER, None, None),
    (NoticeRule.AGE_75_DEPENDANT, NoticeStep.MILESTONE, RecipientRole.EMPLOYEE_INSURER, None,
     None),
]


@pytest.mark.parametrize("rule, step, role, refers_to, deadline", EVERY_STEP)
def test_each_step_of_each_rule_round_trips_and_opens_to_the_number(
        rule: NoticeRule, step: NoticeStep, role: RecipientRole, refers_to: UUID | None,
        deadline: date | None) -> None:
    notice = _notice(rule=rule, step=step, recipient_role=role, refers_to=refers_to,
                     deadline=deadline)
    value = encode(notice)
    again = decode_relay(value, RelayNotice)
    assert again == notice
    assert again.kafka_key() == PERSON.encode()
    assert again.sealed_to == key_id(A_KEY.public_key())
    assert _open(again) == NUMBER


def test_every_rule_and_step_is_covered_by_the_round_trip() -> None:
    assert {(rule, step) for rule, step, *_ in EVERY_STEP} == {
        (rule, step) for rule, steps in RULE_STEPS.items() for step in steps}
    assert set(RULE_STEPS) == set(NoticeRule)


def test_the_record_names_nobody_in_clear() -> None:
    number = "SECRET-MEMBER-98765"
    notice = _notice(number=number)
    value, key = encode(notice), notice.kafka_key()
    for secret in (number.encode(), b"98765", RELAY_ID.encode(), b"R-HANA"):
        assert secret not in value and secret not in key
    assert key == PERSON.encode() and json.loads(value)["person"] == PERSON


def test_another_key_topic_record_notice_or_recipient_does_not_open_it() -> None:
    notice = _notice()
    with pytest.raises(NoticeNotOpened):
        _open(notice, key=B_KEY)
    with pytest.raises(NoticeNotOpened):
        _open(notice, topic_name=notices_topic(INSURER).name)
    with pytest.raises(NoticeNotOpened):
        _open(notice, topic_name=f"participant.{TOWN}.changes.v1")
    with pytest.raises(NoticeNotOpened):
        _open(notice, record_key=participant_pseudonym(KEYRING, INSURER, RELAY_ID).encode())
    with pytest.raises(NoticeNotOpened):
        open_relay_notice(notice, OWN_TOPIC, None, A_KEY)
    with pytest.raises(NoticeNotOpened):
        _open(notice.model_copy(update={"notice_id": uuid4()}))
    with pytest.raises(NoticeNotOpened):
        _open(notice.model_copy(update={"recipient_code": INSURER}))
    with pytest.raises(NoticeNotOpened):
        _open(notice.model_copy(update={"sealed_to": key_id(B_KEY.public_key())}))


def test_a_change_notices_seal_does_not_open_as_a_relay_notice() -> None:
    notice = _notice()
    plaintext = json.dumps({"member_number": NUMBER}).encode()
    info = context(OWN_TOPIC, PERSON.encode(), notice.notice_id, TOWN, notice.sealed_to)
    as_change = notice.model_copy(update={
        "sealed": SUITE.encrypt(plaintext, A_KEY.public_key(), info)})
    with pytest.raises(NoticeNotOpened):
        _open(as_change)


def test_the_change_notices_context_is_unchanged() -> None:
    notice_id = UUID(int=1)
    framed = b"".join(struct.pack(">I", len(item)) + item for item in (
        b"participant.06139018.changes.v1", b"a" * 64, notice_id.bytes, b"06139018",
        b"f" * 64))
    expected = b"shaho-relay/change-notice/v1\x00" + framed
    assert CONTEXT == b"shaho-relay/change-notice/v1\x00"
    assert context("participant.06139018.changes.v1", b"a" * 64, notice_id, "06139018",
                   "f" * 64) == expected


@pytest.mark.parametrize("plaintext", [
    b"", b"not json", b"[]", b'{"member_number": 7}', b'{"member_number": ""}',
    b'{"member_number": "A", "new_name": null}', b'{"number": "A"}',
])
def test_a_plaintext_that_is_no_relay_notice_does_not_open(plaintext: bytes) -> None:
    notice = _notice()
    info = context(OWN_TOPIC, PERSON.encode(), notice.notice_id, TOWN, notice.sealed_to,
                   b"shaho-relay/relay-notice/v1\x00")
    odd = notice.model_copy(update={"sealed": SUITE.encrypt(plaintext, A_KEY.public_key(),
                                                            info)})
    with pytest.raises(NoticeNotOpened):
        _open(odd)


def test_the_error_says_nothing_of_the_content() -> None:
    notice = _notice(number="SECRET-NUMBER-77")
    with pytest.raises(NoticeNotOpened) as raised:
        _open(notice, key=B_KEY)
    assert "SECRET" not in str(raised.value) and "77" not in str(raised.value)


def test_an_empty_number_is_not_sealed() -> None:
    with pytest.raises(ValueError):
        _notice(number="")


def _rejected(**changes: Any) -> MessageRejected:
    data = json.loads(encode(_notice()))
    data.update({k: (str(v) if isinstance(v, date | UUID) else v) for k, v in changes.items()})
    with pytest.raises(MessageRejected) as refused:
        decode_relay(json.dumps(data).encode(), RelayNotice)
    return refused.value


@pytest.mark.parametrize("changes, field, says", [
    ({"step": "resolved"}, "refers_to", "needed"),
    ({"step": "withdrawn"}, "refers_to", "needed"),
    ({"step": "corrected"}, "refers_to", "needed"),
    ({"refers_to": FIRST_COPY}, "refers_to", "only"),
    ({"rule": "double_enrolment", "step": "first_notice", "refers_to": FIRST_COPY},
     "refers_to", "only"),
    ({"rule": "double_enrolment", "step": "escalation"}, "deadline", "null"),
    ({"rule": "age_65", "step": "milestone"}, "deadline", "null"),
    ({"rule": "age_65"}, "step", "milestone"),
    ({"rule": "age_75", "step": "first_notice"}, "step", "milestone"),
    ({"rule": "age_75_dependant", "step": "escalation", "deadline": None}, "step",
     "milestone"),
    ({"step": "milestone", "deadline": None}, "step", "reminder"),
    ({"rule": "national_pension_switch", "step": "second_notice"}, "step", "reminder"),
    ({"step": "escalation", "deadline": None}, "step", "reminder"),
    ({"rule": "double_enrolment"}, "step", "first_notice"),
    ({"rule": "double_enrolment", "step": "resolved", "refers_to": FIRST_COPY}, "step",
     "first_notice"),
    ({"rule": "double_enrolment", "step": "milestone", "deadline": None}, "step",
     "first_notice"),
    ({"sealed": "AAAA"}, "sealed", "bytes"),
])
def test_an_inconsistent_notice_is_refused_with_its_reason(
        changes: dict[str, Any], field: str, says: str) -> None:
    refused = _rejected(**changes)
    at_field = [r for r in refused.reasons if r.field == field]
    assert at_field, refused.reasons
    assert any(says in r.message for r in at_field), refused.reasons
    assert NUMBER not in str(refused) and PERSON not in str(refused)


@pytest.mark.parametrize("field", ["refers_to", "deadline"])
def test_the_nullable_fields_are_still_required(field: str) -> None:
    data = json.loads(encode(_notice()))
    del data[field]
    with pytest.raises(MessageRejected) as refused:
        decode_relay(json.dumps(data).encode(), RelayNotice)
    assert [r.field for r in refused.value.reasons] == [field]


def test_sealing_an_inconsistent_notice_fails() -> None:
    with pytest.raises(ValidationError):
        _notice(step=NoticeStep.RESOLVED)
    with pytest.raises(ValidationError):
        _notice(rule=NoticeRule.AGE_65, step=NoticeStep.MILESTONE)
    with pytest.raises(ValidationError):
        _notice(person="R-HANA")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_to_a_notice_or_a_rejection(raw: bytes) -> None:
    try:
        notice = decode_relay(raw, RelayNotice)
    except MessageRejected as rejected:
        assert rejected.reasons, "a rejection says why"
        return
    assert isinstance(notice, RelayNotice)


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=40), st.sampled_from(
                  [*NoticeRule, *NoticeStep, *RecipientRole, "2025-07-14", str(FIRST_COPY),
                   "2025-07-01T09:00:00+00:00", PERSON, "JPS", ""])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(RelayNotice.model_fields)), JSONISH,
                       max_size=12),
       st.sets(st.sampled_from(sorted(RelayNotice.model_fields)), max_size=3))
def test_mutated_notices_decode_or_are_rejected(changes: dict[str, object],
                                                dropped: set[str]) -> None:
    data = json.loads(encode(_notice()))
    data.update(changes)
    for name in dropped:
        data.pop(name, None)
    try:
        notice = decode_relay(json.dumps(data).encode(), RelayNotice)
    except MessageRejected as rejected:
        assert rejected.reasons
        return
    assert notice.kafka_key() == notice.person.encode()
    assert notice.step in RULE_STEPS[notice.rule]


CODES = st.from_regex(r"[A-Z0-9][A-Z0-9-]{1,19}", fullmatch=True)


@given(CODES)
def test_a_notices_topic_name_parses_back(code: str) -> None:
    notices = notices_topic(code)
    assert notices.name == f"participant.{code}.notices.v1"
    assert topic(notices.name) == notices
    assert notices.message == "RelayNotice" and notices.partitions == PARTICIPANT_PARTITIONS
    assert notices.key == "<person pseudonym for the recipient>"
    assert participant("municipality", code).may(READ, TOPIC, notices.name)
    assert PUBLISHER.may(WRITE, TOPIC, notices.name)
    assert not NOTIFICATIONS.may(WRITE, TOPIC, notices.name), "it goes through the outbox"


def test_the_notices_stream_is_documented_but_no_stream_of_the_four() -> None:
    assert NOTICES_STREAM not in PARTICIPANT_STREAMS and len(PARTICIPANT_STREAMS) == 4
    assert NOTICES_TEMPLATE in PARTICIPANT_TEMPLATES
    assert NOTICES_TEMPLATE.name == "participant.{code}.notices.v1"
    assert notices_topic("JPS") not in participant_topics("JPS")
    for bad in ("a.b", "", "{code}"):
        with pytest.raises(ValueError):
            notices_topic(bad)
    with pytest.raises(KeyError):
        topic("participant.a.b.notices.v1")


REGISTRY = [("insurer", "06139018"), ("pension", "JPS"), ("municipality", "131016"),
            ("municipality", "011002"), ("employer", "E0001"), ("medical", "M01"),
            ("relay", "relay-clock"), ("municipality", "bad.code")]


def test_municipalities_get_a_notices_topic_and_no_other() -> None:
    assert addressed_codes(REGISTRY) == ["06139018", "JPS"]
    assert addressed_codes(REGISTRY, NOTICE_ROLES) == ["011002", "06139018", "131016", "JPS"]
    names = [t.name for t in addressed_topics(addressed_codes(REGISTRY),
                                              addressed_codes(REGISTRY, NOTICE_ROLES))]
    assert len(names) == len(set(names))
    notices = {n for n in names if n.endswith(".notices.v1")}
    assert notices == {notices_topic(c).name for c in ("011002", "06139018", "131016", "JPS")}
    for town in ("131016", "011002"):
        assert [n for n in names if n.startswith(f"participant.{town}.")] == [
            notices_topic(town).name]
    for code in ("06139018", "JPS"):
        own = [t.name for t in participant_topics(code)]
        assert set(own) < set(names)
        assert {n.rsplit(".", 2)[-2] for n in names if n.startswith(f"participant.{code}.")} \
            == {"requests", "replies", "changes", "heads", "notices"}
    assert not [n for n in names if "E0001" in n or "M01" in n or "relay-clock" in n]


def test_a_municipality_reads_its_own_notices_and_nobody_elses() -> None:
    town = participant("municipality", TOWN)
    assert town.may(READ, TOPIC, notices_topic(TOWN).name)
    assert not town.may(READ, TOPIC, notices_topic("011002").name)
    assert not town.may(READ, TOPIC, notices_topic(INSURER).name)
