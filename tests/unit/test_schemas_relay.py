"""Relay messages: link changes without insured numbers, outcomes, dead letters, positions."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

import pytest
from pydantic import ValidationError

from schemas.codec import MessageRejected, content_hash, decode_filing, decode_relay, encode
from schemas.internal import LinkChangedV2
from schemas.relay import (
    DeadLetter,
    FilingOutcome,
    LinkChanged,
    OutboxPosition,
    OutcomeStatus,
    Reason,
    conflict_id_for,
)
from tests.fixtures.examples import (
    all_examples,
    example_dead_letter,
    example_filing_outcome,
    example_link_changed,
    example_reason,
)


def test_link_changed_carries_no_person_level_number() -> None:
    fields = set(LinkChanged.model_fields)
    assert not fields & {"insured_number", "care_insured_number", "recipient_number", "person"}


@pytest.mark.parametrize(
    ("message", "model"),
    [
        (example_link_changed(), LinkChanged),
        (example_filing_outcome(), FilingOutcome),
        (example_filing_outcome(OutcomeStatus.ACCEPTED), FilingOutcome),
        (example_dead_letter(), DeadLetter),
        (OutboxPosition(lane="filing.employer.v1-3", seq=41), OutboxPosition),
    ],
)
def test_relay_messages_round_trip(message: object, model: type) -> None:
    raw = encode(message)  # type: ignore[arg-type]
    assert decode_relay(raw, model) == message


def test_keys() -> None:
    assert example_link_changed().kafka_key() == b"r-0001"
    assert example_filing_outcome().kafka_key() == b"EMP-0001"
    assert example_dead_letter().kafka_key() == b"unknown"
    assert OutboxPosition(lane="l1", seq=1).kafka_key() == b"l1"


def test_dead_letter_bytes_are_base64_on_the_wire() -> None:
    letter = example_dead_letter()
    data = json.loads(encode(letter))
    assert data["original"]["nonce"] == "AAAAAAAAAAAAAAAA"
    assert data["original"]["ciphertext"] == "AQI="
    assert letter.original.ciphertext == b"\x01\x02"
    data["original"]["nonce"] = "not base64!"
    with pytest.raises(MessageRejected) as caught:
        decode_relay(json.dumps(data).encode(), DeadLetter)
    assert [(r.code, r.field) for r in caught.value.reasons] == [("invalid", "original.nonce")]


def test_refused_outcome_needs_a_reason() -> None:
    data = example_filing_outcome().model_dump()
    data["reasons"] = []
    with pytest.raises(ValidationError) as caught:
        FilingOutcome.model_validate(data)
    assert [e["loc"] for e in caught.value.errors()] == [("reasons",)]


def test_outcome_event_id_must_match_filer_and_reference() -> None:
    data = example_filing_outcome().model_dump()
    data["filing_reference"] = "another"
    with pytest.raises(ValidationError) as caught:
        FilingOutcome.model_validate(data)
    assert [e["loc"] for e in caught.value.errors()] == [("event_id",)]


def test_link_period_and_insurer_number_are_checked() -> None:
    data = example_link_changed().model_dump()
    day_before = data["valid_from"] - timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        LinkChanged.model_validate({**data, "valid_to": day_before})
    assert [e["loc"] for e in caught.value.errors()] == [("valid_to",)]
    same_day = LinkChanged.model_validate({**data, "valid_to": data["valid_from"]})
    assert same_day.valid_to == same_day.valid_from, "同日得喪: a link that covered no day"
    with pytest.raises(ValidationError) as caught:
        LinkChanged.model_validate({**data, "insurer_number": "01130013"})
    assert [e["type"] for e in caught.value.errors()] == ["check_digit"]
    assert LinkChanged.model_validate({**data, "scheme": "pension", "insurer_number": "JPS"})


def test_reason_codes_are_snake_case() -> None:
    assert example_reason().code == "invalid"
    with pytest.raises(ValidationError):
        Reason(code="Not Valid", message="x")


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"\xff", "not_utf8"), (b"{", "not_json"), (b"x" * 1_000_001, "too_large")],
)
def test_decode_relay_rejections(raw: bytes, code: str) -> None:
    with pytest.raises(MessageRejected) as caught:
        decode_relay(raw, LinkChanged)
    assert [r.code for r in caught.value.reasons] == [code]


def test_dead_letters_may_be_larger_than_a_filing() -> None:
    letter = example_dead_letter().model_copy(
        update={
            "original": example_dead_letter().original.model_copy(
                update={"ciphertext": b"\x00" * 1_200_000}
            )
        }
    )
    raw = encode(letter)
    assert len(raw) > 1_000_000
    assert decode_relay(raw, DeadLetter) == letter


def _conflict_refusal(**changes: object) -> dict:
    """The refusal of other content re-sent under the example outcome's filing reference."""
    original = example_filing_outcome(OutcomeStatus.ACCEPTED)
    resent = "ab" * 32
    data = {
        **original.model_dump(),
        "event_id": conflict_id_for(original.event_id, resent),
        "status": "refused",
        "reasons": [{"code": "conflicting_duplicate", "field": "event_id", "message": "x"}],
        "content_hash": resent,
        "conflicts_with": original.event_id,
    }
    return {**data, **changes}


def test_a_conflict_refusal_has_its_own_event_id_and_names_the_earlier_filing() -> None:
    refusal = FilingOutcome.model_validate(_conflict_refusal())
    original = example_filing_outcome(OutcomeStatus.ACCEPTED)
    assert refusal.event_id != original.event_id
    assert refusal.conflicts_with == original.event_id
    assert refusal.filing_reference == original.filing_reference
    assert decode_relay(encode(refusal), FilingOutcome) == refusal


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"event_id": example_filing_outcome().event_id}, ("event_id",)),
        ({"content_hash": "cd" * 32}, ("event_id",)),
        ({"content_hash": None}, ("content_hash",)),
        ({"status": "accepted", "reasons": []}, ("status",)),
        ({"conflicts_with": UUID(int=7)}, ("conflicts_with",)),
    ],
)
def test_a_conflict_refusal_must_be_a_refusal_with_its_derived_id(
    changes: dict, where: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        FilingOutcome.model_validate(_conflict_refusal(**changes))
    assert [e["loc"] for e in caught.value.errors()] == [where]


def test_outcomes_without_the_content_fields_still_decode() -> None:
    data = json.loads(encode(example_filing_outcome()))
    del data["content_hash"], data["conflicts_with"]
    decoded = decode_relay(json.dumps(data).encode(), FilingOutcome)
    assert (decoded.content_hash, decoded.conflicts_with) == (None, None)


def test_content_hash_survives_the_trip_through_kafka() -> None:
    for filing in all_examples().values():
        assert content_hash(decode_filing(encode(filing))) == content_hash(filing)
    acquired = all_examples()["EmployeeInsuranceAcquired"]
    changed = acquired.model_copy(update={"person_token": "another-token"})
    assert content_hash(changed) != content_hash(acquired)
    assert len(content_hash(acquired)) == 64


def _v2(**fields: object) -> dict:
    data = example_link_changed().model_dump(mode="json")
    return {**data, **fields}


def test_link_changed_v2_tells_why_and_whom_and_round_trips() -> None:
    dependant = LinkChangedV2.model_validate(
        _v2(capacity="dependant", category="employee_insurance", valid_to="2026-06-20",
            closed_because="insured_late_stage_transfer", insured_relay_id="r-0002")
    )
    assert decode_relay(encode(dependant), LinkChangedV2) == dependant
    assert dependant.kafka_key() == b"r-0001"
    assert LinkChangedV2.message() == "LinkChanged" and LinkChangedV2.SCHEMA_VERSION == 2
    wife = LinkChangedV2.model_validate(
        _v2(scheme="pension", insurer_number="JPS", category="national_type3", pension_type=3,
            spouse_relay_id="r-0002")
    )
    assert (wife.pension_type, wife.spouse_relay_id) == (3, "r-0002")


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"closed_because": "loss"}, "closed_because"),
        ({"closed_because": "retirement", "valid_to": "2026-01-01"}, "closed_because"),
        ({"pension_type": 1}, "pension_type"),
        ({"scheme": "pension", "insurer_number": "JPS", "pension_type": 4}, "pension_type"),
        ({"scheme": "pension", "insurer_number": "JPS", "pension_type": 2,
          "spouse_relay_id": "r-0002"}, "spouse_relay_id"),
        ({"insured_relay_id": "r-0002"}, "insured_relay_id"),
        # v1's own rules hold in v2 too (inherited): no dependants in the 75+ scheme
        ({"insurer_number": "39131008", "capacity": "dependant"}, "capacity"),
        ({"valid_to": "2020-01-01"}, "valid_to"),
    ],
)
def test_link_changed_v2_refuses_what_does_not_fit(fields: dict, where: str) -> None:
    with pytest.raises(MessageRejected) as refused:
        decode_relay(json.dumps(_v2(**fields)).encode(), LinkChangedV2)
    assert [r.field for r in refused.value.reasons] == [where]
