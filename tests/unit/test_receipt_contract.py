"""The receipt contract: each kind takes its own fields, amounts are strict whole yen from 0 to
MAX_YEN with the benefit at most the copay, the month is YYYY-MM from April 2008, the insured
number is masked, and whatever the bytes, decoding gives a record or a rejection."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import MessageRejected, decode_relay, encode
from schemas.receipts import MAX_YEN, ReceiptKind, ReceiptRecord
from schemas.topics import receipts_topics, topic

MEDICAL = {"receipt_id": "R-2025-0001", "insurer_number": "06135123",
           "kind": "medical_outpatient", "insured_number": {"symbol": "12", "number": "3456",
                                                            "branch": "01"},
           "service_month": "2025-05", "institution_code": "1310000017", "copay_yen": 30_000,
           "high_cost_benefit_yen": 0, "meals_and_room_yen": 0}
CARE = {"receipt_id": "C-2025-0001", "insurer_number": "131011", "kind": "care",
        "care_insured_number": "0000012345", "service_month": "2025-05", "self_pay_yen": 24_600,
        "preventive": True}


def _decoded(**changes: object) -> ReceiptRecord:
    base = dict(CARE if changes.get("kind", MEDICAL["kind"]) == "care" else MEDICAL)
    base.update(changes)
    return decode_relay(json.dumps({k: v for k, v in base.items() if v is not ...}).encode(),
                        ReceiptRecord)


def _fields(rejected: MessageRejected) -> set[str | None]:
    return {r.field for r in rejected.reasons}


def test_each_kind_round_trips_and_is_keyed_by_its_chain() -> None:
    for record in (_decoded(), _decoded(kind="care"),
                   _decoded(kind="pharmacy", prescribed_by="1330000015",
                            prescribed_by_dentist=True),
                   _decoded(receipt_id="R-2", corrects="R-1")):
        assert decode_relay(encode(record), ReceiptRecord) == record
    assert _decoded(receipt_id="R-2", corrects="R-1").kafka_key() == b"06135123:R-1"
    assert _decoded().kafka_key() == b"06135123:R-2025-0001"


def test_the_insured_number_is_masked() -> None:
    for record in (_decoded(), _decoded(kind="care")):
        assert "3456" not in repr(record) and "0000012345" not in repr(record)
        assert "3456" not in str(record) and "0000012345" not in str(record)


@pytest.mark.parametrize("value", [-1, 1.5, 30000.0, "30000", True, MAX_YEN + 1, 10**19])
def test_an_amount_is_a_strict_whole_yen_from_zero_to_the_limit(value: object) -> None:
    with pytest.raises(MessageRejected) as refused:
        _decoded(copay_yen=value)
    assert _fields(refused.value) == {"copay_yen"}
    assert _decoded(copay_yen=MAX_YEN).copay_yen == MAX_YEN and _decoded(copay_yen=0)


def test_the_benefit_is_at_most_the_copay() -> None:
    assert _decoded(high_cost_benefit_yen=30_000).high_cost_benefit_yen == 30_000
    with pytest.raises(MessageRejected) as refused:
        _decoded(high_cost_benefit_yen=30_001)
    assert _fields(refused.value) == {"high_cost_benefit_yen"}


@pytest.mark.parametrize("month", ["2008-03", "2007-12", "1999-04", "2025-13", "2025-5",
                                   "2025-05-01", "202505", "3000-01"])
def test_the_month_is_yyyy_mm_from_april_2008(month: str) -> None:
    with pytest.raises(MessageRejected) as refused:
        _decoded(service_month=month)
    assert _fields(refused.value) == {"service_month"}
    assert _decoded(service_month="2008-04").service_month == "2008-04"


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "care", "copay_yen": 1}, "copay_yen"),
    ({"care_insured_number": "0000012345"}, "care_insured_number"),
    ({"self_pay_yen": 1}, "self_pay_yen"),
    ({"preventive": True}, "preventive"),
    ({"insured_number": ...}, "insured_number"),
    ({"institution_code": ...}, "institution_code"),
    ({"meals_and_room_yen": ...}, "meals_and_room_yen"),
    ({"kind": "pharmacy"}, "prescribed_by"),
    ({"prescribed_by": "1330000015"}, "prescribed_by"),
    ({"prescribed_by_dentist": True}, "prescribed_by_dentist"),
    ({"corrects": "R-2025-0001"}, "corrects"),
    ({"kind": "care", "self_pay_yen": ...}, "self_pay_yen"),
])
def test_each_kind_takes_its_own_fields(changes: dict[str, object], field: str) -> None:
    with pytest.raises(MessageRejected) as refused:
        _decoded(**changes)
    assert field in _fields(refused.value)


def test_the_private_topic_parses_back() -> None:
    receipts, dead = receipts_topics("06135123")
    assert receipts.name == "private.06135123.receipts.v1" and receipts.dlq == dead.name
    assert topic(receipts.name) == receipts and topic(dead.name) == dead
    assert receipts.message == "ReceiptRecord" and dead.message == "DeadLetter"


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_to_a_receipt_or_a_rejection(raw: bytes) -> None:
    try:
        record = decode_relay(raw, ReceiptRecord)
    except MessageRejected as rejected:
        assert rejected.reasons
        return
    assert isinstance(record, ReceiptRecord)


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
              st.floats(allow_nan=False), st.text(max_size=20),
              st.sampled_from([*ReceiptKind, "2008-04", "2008-03", "1310000017", "0000012345",
                               "R-1", MAX_YEN, MAX_YEN + 1])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8)


@given(st.sampled_from([MEDICAL, CARE]),
       st.dictionaries(st.sampled_from(sorted(ReceiptRecord.model_fields)), JSONISH, max_size=8),
       st.sets(st.sampled_from(sorted(ReceiptRecord.model_fields)), max_size=3))
def test_mutated_receipts_decode_or_are_rejected(base: dict, changes: dict[str, object],
                                                 dropped: set[str]) -> None:
    data = {**base, **changes}
    for name in dropped:
        data.pop(name, None)
    try:
        record = decode_relay(json.dumps(data).encode(), ReceiptRecord)
    except MessageRejected as rejected:
        assert rejected.reasons
        return
    amounts = [record.copay_yen, record.high_cost_benefit_yen, record.meals_and_room_yen,
               record.self_pay_yen]
    assert all(a is None or (type(a) is int and 0 <= a <= MAX_YEN) for a in amounts)
    assert record.service_month >= "2008-04"
