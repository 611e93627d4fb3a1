"""The 合算's settlement contracts and seals: instructions decode or are refused with reasons,
never anything else; the base date lies in the period; an amount opens only for its payer, in
its settlement, from its sender; a payer's number only for its payer and settlement."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import MessageRejected, decode_relay, encode
from schemas.settlements import (
    RoutedSettlement,
    SettlementBenefit,
    SettlementInstruction,
    lapses_on,
    period_span,
)
from schemas.topics import SETTLEMENTS_STREAM, settlements_topic, topic
from trust.number_sealing import (
    open_settlement_amount,
    open_settlement_number,
    seal_settlement_amount,
    seal_settlement_number,
)
from trust.sealing import NotOpened

PAYER_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
SENDER, PAYER = "06130012", "01130012"


def _instruction(**changes) -> dict:
    sid = uuid4()
    sealed = seal_settlement_amount(987654, 987654, PAYER_KEY.public_key(), sid, SENDER, PAYER)
    body = {
        "settlement_id": str(sid), "sender_code": SENDER, "payer_code": PAYER,
        "period": 2026, "base_date": "2026-07-31", "benefit": "high_cost_combined_medical",
        "member": {"insured_number": {"number": "1234"}}, "corrects": None,
        "sealed_amount": base64.b64encode(sealed).decode(),
    }
    body.update(changes)
    return body


def _decode(body: dict) -> SettlementInstruction:
    return decode_relay(json.dumps(body).encode(), SettlementInstruction)


def test_an_instruction_round_trips_and_is_keyed_by_sender_and_id():
    instruction = _decode(_instruction())
    assert decode_relay(encode(instruction), SettlementInstruction) == instruction
    assert instruction.kafka_key() == f"{SENDER}:{instruction.settlement_id}".encode()
    assert instruction.benefit is SettlementBenefit.MEDICAL


def test_a_routed_settlement_round_trips_and_is_keyed_by_the_pseudonym():
    sid = uuid4()
    routed = RoutedSettlement(
        settlement_id=sid, sender_code=SENDER, payer_code=PAYER, period=2026,
        base_date=date(2026, 7, 31), benefit=SettlementBenefit.CARE, corrects=None,
        person="ab" * 32,
        sealed_number=seal_settlement_number("|1234|", PAYER_KEY.public_key(), sid, PAYER),
        sealed_amount=seal_settlement_amount(-5, 0, PAYER_KEY.public_key(), sid, SENDER, PAYER),
        relay_time=datetime(2026, 9, 1, tzinfo=UTC))
    assert decode_relay(encode(routed), RoutedSettlement) == routed
    assert routed.kafka_key() == b"ab" * 32


@pytest.mark.parametrize(("changes", "field"), [
    ({"base_date": "2025-07-31"}, "base_date"),
    ({"base_date": "2026-08-01"}, "base_date"),
    ({"period": 2008}, "period"),
    ({"period": 2101}, "period"),
    ({"period": "2026"}, "period"),
    ({"benefit": "high_cost"}, "benefit"),
    ({"sealed_amount": base64.b64encode(b"short").decode()}, "sealed_amount"),
    ({"member": {"insured_number": {"number": "1"}, "care_insured_number": "123456"}},
     "member"),
    ({"payer_code": "a.b"}, "payer_code"),
])
def test_a_malformed_instruction_is_refused_with_reasons(changes, field):
    with pytest.raises(MessageRejected) as refused:
        _decode(_instruction(**changes))
    assert any(field in (r.field or "") or field in r.message for r in refused.value.reasons)


def test_a_settlement_correcting_itself_is_refused():
    body = _instruction()
    with pytest.raises(MessageRejected):
        _decode({**body, "corrects": body["settlement_id"]})


def test_nothing_due_only_on_a_delta_and_only_a_boolean():
    """A delta taking all back says so in clear (`nothing_due`, the amount still sealed); a
    first settlement settles an amount, so it never says nothing is due."""
    assert not _decode(_instruction()).nothing_due
    delta = _decode(_instruction(corrects=str(uuid4()), nothing_due=True))
    assert delta.nothing_due and decode_relay(encode(delta), SettlementInstruction) == delta
    for body, field in ((_instruction(nothing_due=True), "nothing_due"),
                        (_instruction(corrects=str(uuid4()), nothing_due="true"), "nothing_due"),
                        (_instruction(corrects=str(uuid4()), nothing_due=1), "nothing_due")):
        with pytest.raises(MessageRejected) as refused:
            _decode(body)
        assert any(field in (r.field or "") for r in refused.value.reasons), \
            refused.value.reasons


def test_the_period_and_the_lapse_date():
    assert period_span(2026) == (date(2025, 8, 1), date(2026, 7, 31))
    assert lapses_on(date(2026, 7, 31)) == date(2028, 8, 1)
    assert lapses_on(date(2027, 2, 27)) == date(2029, 2, 28)
    assert lapses_on(date(2028, 2, 28)) == date(2030, 3, 1)  # 29 Feb 2028 + 2 years


def test_the_settlements_stream_is_each_payers_own():
    t = settlements_topic(PAYER)
    assert t.name == f"participant.{PAYER}.settlements.v1"
    assert t.partitions == SETTLEMENTS_STREAM.partitions
    assert topic(t.name) == t


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_are_refused(raw):
    for model in (SettlementInstruction, RoutedSettlement):
        with contextlib.suppress(MessageRejected):
            decode_relay(raw, model)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["settlement_id", "sender_code", "payer_code", "period",
                                        "base_date", "benefit", "member", "corrects",
                                        "sealed_amount", "nothing_due"]),
                       st.one_of(st.none(), st.text(max_size=20), st.integers(),
                                 st.lists(st.text(max_size=5), max_size=3))))
def test_arbitrary_fields_decode_or_are_refused(changes):
    try:
        _decode(_instruction(**changes))
    except MessageRejected as refused:
        assert refused.reasons


def test_an_amount_opens_only_for_its_payer_settlement_and_sender():
    sid = uuid4()
    sealed = seal_settlement_amount(-1200, 986454, PAYER_KEY.public_key(), sid, SENDER, PAYER)
    opened = open_settlement_amount(sealed, PAYER_KEY, sid, SENDER, PAYER)
    assert (opened.amount_yen, opened.total_yen) == (-1200, 986454)
    for key, settlement, sender, payer in ((OTHER_KEY, sid, SENDER, PAYER),
                                           (PAYER_KEY, uuid4(), SENDER, PAYER),
                                           (PAYER_KEY, sid, PAYER, PAYER),
                                           (PAYER_KEY, sid, SENDER, SENDER)):
        with pytest.raises(NotOpened):
            open_settlement_amount(sealed, key, settlement, sender, payer)


def test_a_number_opens_only_for_its_payer_and_settlement():
    sid = uuid4()
    sealed = seal_settlement_number("AB|1234|01", PAYER_KEY.public_key(), sid, PAYER)
    assert open_settlement_number(sealed, PAYER_KEY, sid, PAYER) == "AB|1234|01"
    for key, settlement, payer in ((OTHER_KEY, sid, PAYER), (PAYER_KEY, uuid4(), PAYER),
                                   (PAYER_KEY, sid, SENDER)):
        with pytest.raises(NotOpened):
            open_settlement_number(sealed, key, settlement, payer)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=255))
def test_a_tampered_amount_does_not_open(position, flip):
    sid = uuid4()
    sealed = bytearray(seal_settlement_amount(987654, 987654, PAYER_KEY.public_key(), sid,
                                              SENDER, PAYER))
    sealed[position % len(sealed)] ^= flip
    with pytest.raises(NotOpened):
        open_settlement_amount(bytes(sealed), PAYER_KEY, sid, SENDER, PAYER)


def test_an_amount_out_of_bounds_is_not_sealed():
    with pytest.raises(ValueError):
        seal_settlement_amount(1, -1, PAYER_KEY.public_key(), uuid4(), SENDER, PAYER)
