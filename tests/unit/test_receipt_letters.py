"""A refused receipt's dead letter: its original opens with the insurer's own key at its own
source position only, and carries nothing of the record in clear; the receipts topics are made
for insurers alone, and not in a new namespace unless asked."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric import ec

from infra import namespace
from infra.topics_admin import addressed_topics, participants_topics, receipt_topics
from insurer_workers.receipt_letters import original_bytes, refusal_letter
from schemas import DeadLetter, Reason, decode_relay, encode
from schemas.topics import NOTICES, RECEIPTS

RAW = b'{"receipt_id":"R-1","copay_yen":-1,"insured_number":{"number":"4711"}}'


def _record(offset: int = 7) -> ConsumerRecord:
    return ConsumerRecord("t1.private.06135123.receipts.v1", 2, offset, 0, 0, b"k", RAW,
                          None, len(b"k"), len(RAW), [])


def test_the_original_opens_with_the_insurers_key_at_its_position_only() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    letter = refusal_letter("06135123", key.public_key(), _record(),
                            Reason(code="invalid", field="copay_yen", message="at least 0"))
    wire = encode(letter)
    assert b"4711" not in wire and b"R-1" not in wire
    back = decode_relay(wire, DeadLetter)
    assert original_bytes(back, key) == RAW and back.kafka_key() == b"06135123"
    moved = back.model_copy(update={"source_offset": 8})
    with pytest.raises(Exception):  # noqa: B017 - any failure to open will do
        original_bytes(moved, key)
    with pytest.raises(Exception):  # noqa: B017
        original_bytes(back, ec.generate_private_key(ec.SECP256R1()))


def test_receipts_topics_are_the_insurers_and_left_out_of_a_new_namespace() -> None:
    names = [t.name for t in receipt_topics(["06135123", "131011"])]
    assert names == ["private.06135123.receipts.v1", "private.06135123.receipts.v1.dlq",
                     "private.131011.receipts.v1", "private.131011.receipts.v1.dlq"]
    assert not any("receipts" in t.name for t in addressed_topics(["06135123"], ["131016"]))
    assert RECEIPTS in namespace.ON_REQUEST_STREAMS
    registry = [("insurer", "06135123"), ("municipality", "131016")]
    made = participants_topics(registry, namespace.standing_streams())
    assert made and not any("receipts" in t.name for t in made)
    asked = participants_topics(registry, namespace.standing_streams([RECEIPTS]))
    assert {t.name for t in asked} - {t.name for t in made} == {
        "private.06135123.receipts.v1", "private.06135123.receipts.v1.dlq"}
    assert not any(t.name.endswith("." + NOTICES) for t in asked)
