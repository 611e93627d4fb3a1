"""Decoding filings: one test per bad-input case, each checking code, field and leaks."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from schemas.codec import FilingRejected, decode_filing, encode
from schemas.envelope import Filing, event_id_for
from schemas.relay import Reason
from schemas.topics import MAX_MESSAGE_BYTES
from tests.fixtures.examples import all_examples, example_filing, leaks, secret_values

Mutation = Callable[[dict[str, Any]], None]


def _wire(filing: Filing, mutate: Mutation | None = None) -> bytes:
    data = json.loads(encode(filing))
    if mutate is not None:
        mutate(data)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _rejected(raw: bytes, topic: str | None = None) -> FilingRejected:
    with pytest.raises(FilingRejected) as caught:
        decode_filing(raw, topic)
    return caught.value


def _assert_no_leak(exc: FilingRejected, secrets: list[str]) -> None:
    texts = [str(exc), repr(exc), *(r.model_dump_json() for r in exc.reasons)]
    texts += [repr(r) for r in exc.reasons]
    assert leaks(secrets, *texts) == []
    assert exc.__context__ is None and exc.__cause__ is None


def _reject(event_type: str, mutate: Mutation, topic: str | None = None) -> FilingRejected:
    filing = example_filing(event_type)
    raw = _wire(filing, mutate)
    exc = _rejected(raw, topic)
    _assert_no_leak(exc, secret_values(filing))
    return exc


def _only(exc: FilingRejected) -> Reason:
    assert len(exc.reasons) == 1, exc.reasons
    return exc.reasons[0]


def _has(exc: FilingRejected, code: str, field: str | None) -> None:
    assert (code, field) in [(r.code, r.field) for r in exc.reasons], exc.reasons


def _payload(**changes: Any) -> Mutation:
    return lambda data: data["payload"].update(changes)


# --- check digits -----------------------------------------------------------------------


def test_wrong_check_digit_8_digit_insurer_number() -> None:
    exc = _reject("EmployeeInsuranceAcquired", _payload(insurer_number="01130013"))
    reason = _only(exc)
    assert (reason.code, reason.field) == ("invalid", "payload.insurer_number")
    assert "check digit" in reason.message


def test_wrong_check_digit_6_digit_insurer_number() -> None:
    exc = _reject("NhiQualificationAcquired", _payload(insurer_number="131012"))
    reason = _only(exc)
    assert (reason.code, reason.field) == ("invalid", "payload.insurer_number")
    assert "check digit" in reason.message


def _public_expense(data: dict[str, Any]) -> None:
    data["payload"].update(
        scheme="public_expense",
        insurer_number="12136016",
        insured_number=None,
        recipient_number="1234566",
        capacity="insured",
    )


def test_valid_public_expense_member_load_is_accepted() -> None:
    filing = decode_filing(_wire(example_filing("MemberLoaded"), _public_expense))
    assert filing.payload.recipient_number.reveal() == "1234566"  # type: ignore[attr-defined]


def test_wrong_check_digit_public_expense_payer_number() -> None:
    def mutate(data: dict[str, Any]) -> None:
        _public_expense(data)
        data["payload"]["insurer_number"] = "12136017"

    reason = _only(_reject("MemberLoaded", mutate))
    assert (reason.code, reason.field) == ("invalid", "payload.insurer_number")


def test_wrong_check_digit_recipient_number_is_not_echoed() -> None:
    def mutate(data: dict[str, Any]) -> None:
        _public_expense(data)
        data["payload"]["recipient_number"] = "1234567"

    exc = _reject("MemberLoaded", mutate)
    reason = _only(exc)
    assert (reason.code, reason.field) == ("invalid", "payload.recipient_number")
    assert leaks(["1234567"], str(exc), repr(exc), reason.message) == []


def test_late_stage_insurer_needs_law_code_39() -> None:
    exc = _reject("LateStageElderlyQualificationAcquired", _payload(insurer_number="01130012"))
    reason = _only(exc)
    assert (reason.code, reason.field) == ("invalid", "payload.insurer_number")
    assert "39" in reason.message


# --- dates ------------------------------------------------------------------------------


def test_loss_date_must_be_day_after_last_day_of_employment() -> None:
    exc = _reject("EmployeeInsuranceLost", _payload(lost_on="2025-03-31"))
    _has(exc, "invalid", "payload.lost_on")


def test_a_late_voluntary_continuation_election_is_a_filing_the_relay_judges() -> None:
    """健保法37条: the insurer may accept a late election for a justified reason, so the
    contract carries it (with or without `late_reason`) and the relay flags the window."""

    def mutate(data: dict[str, Any]) -> None:
        data["payload"].update(lost_on="2025-03-01", elected_on="2025-04-10")
        data["payload"]["late_reason"] = "illness"
        data["effective_date"] = "2025-03-01"

    filing = decode_filing(_wire(example_filing("VoluntaryContinuationElected"), mutate))
    assert filing.payload.late_reason == "illness"


def test_an_unknown_late_reason_is_invalid() -> None:
    exc = _reject("VoluntaryContinuationElected", _payload(late_reason="forgot"))
    _has(exc, "invalid", "payload.late_reason")


def test_voluntary_continuation_ended_on_request_is_the_first_of_the_next_month() -> None:
    """健保法38条: on request, the first day of the month after the month it was accepted."""

    def mutate(lost_on: str) -> Mutation:
        def change(data: dict[str, Any]) -> None:
            data["payload"].update(reason="request", payment_deadline=None, lost_on=lost_on,
                                   request_accepted_on="2025-03-31")
            data["effective_date"] = lost_on

        return change

    raw = _wire(example_filing("VoluntaryContinuationEnded"), mutate("2025-04-01"))
    filing = decode_filing(raw)
    assert filing.effective_date == date(2025, 4, 1)
    exc = _reject("VoluntaryContinuationEnded", mutate("2025-03-31"))
    _has(exc, "invalid", "payload.lost_on")


def test_voluntary_continuation_ended_for_non_payment_is_the_day_after_the_deadline() -> None:
    exc = _reject("VoluntaryContinuationEnded", _payload(lost_on="2025-04-08"))
    _has(exc, "invalid", "payload.lost_on")


def test_voluntary_continuation_ended_names_its_basis_only() -> None:
    exc = _reject("VoluntaryContinuationEnded", _payload(request_accepted_on="2025-04-01"))
    _has(exc, "invalid", "payload.payment_deadline")
    exc = _reject("VoluntaryContinuationEnded", _payload(payment_deadline=None))
    _has(exc, "invalid", "payload.payment_deadline")


def test_voluntary_continuation_elected_before_loss() -> None:
    exc = _reject("VoluntaryContinuationElected", _payload(elected_on="2025-03-31"))
    _has(exc, "invalid", "payload.elected_on")


def test_period_end_before_start_is_refused() -> None:
    exc = _reject("MemberLoaded", _payload(valid_to="2020-04-01"))
    _has(exc, "invalid", "payload.valid_to")


def test_death_after_the_filing_date_is_refused() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["payload"]["died_on"] = "2025-04-11"
        data["effective_date"] = "2025-04-11"

    reason = _only(_reject("DeathRegistered", mutate))
    assert (reason.code, reason.field) == ("invalid", "payload.died_on")


def test_birth_after_the_filing_date_is_refused() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["payload"]["identity"]["birth_date"] = "2025-04-11"
        data["payload"]["registered_on"] = "2025-04-11"
        data["effective_date"] = "2025-04-11"

    exc = _reject("BirthRegistered", mutate)
    _has(exc, "invalid", "payload.identity.birth_date")
    _has(exc, "invalid", "payload.registered_on")


def test_acquisition_before_birth_is_refused() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["payload"]["acquired_on"] = "1970-04-01"
        data["effective_date"] = "1970-04-01"

    exc = _reject("EmployeeInsuranceAcquired", mutate)
    _has(exc, "invalid", "payload.acquired_on")
    _has(exc, "invalid", "payload.dependants.0.identity.birth_date")


def test_acquisition_may_be_pre_filed() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["payload"]["acquired_on"] = "2025-05-01"
        data["effective_date"] = "2025-05-01"

    assert decode_filing(_wire(example_filing("EmployeeInsuranceAcquired"), mutate))


def test_effective_date_must_match_the_payload() -> None:
    reason = _only(_reject("EmployeeInsuranceAcquired", lambda d: d.update(effective_date=None)))
    assert (reason.code, reason.field) == ("invalid", "effective_date")


def test_dates_must_be_written_as_iso_dates() -> None:
    reason = _only(_reject("EmployeeInsuranceAcquired", _payload(acquired_on=1743465600)))
    assert (reason.code, reason.field) == ("invalid", "payload.acquired_on")


def test_occurred_at_needs_a_utc_offset() -> None:
    exc = _reject("DeathRegistered", lambda d: d.update(occurred_at="2025-04-10T09:00:00"))
    _has(exc, "invalid", "occurred_at")


# --- registry and topic -----------------------------------------------------------------


def test_unknown_event_type() -> None:
    exc = _reject("EmployeeInsuranceAcquired", lambda d: d.update(event_type="EmployeeHired"))
    reason = _only(exc)
    assert (reason.code, reason.field) == ("unknown_event_type", "event_type")
    assert exc.filer_code == "EMP-0001"
    assert exc.filing_reference == "EX-EmployeeInsuranceAcquired-0001"
    assert exc.event_id == event_id_for("EMP-0001", "EX-EmployeeInsuranceAcquired-0001")


def test_rejection_survives_pickling() -> None:
    exc = _reject("EmployeeInsuranceAcquired", lambda d: d.update(event_type="EmployeeHired"))
    again = pickle.loads(pickle.dumps(exc))
    assert again.reasons == exc.reasons
    assert again.event_id == exc.event_id
    assert str(again) == str(exc)


def test_unknown_schema_version() -> None:
    exc = _reject("EmployeeInsuranceAcquired", lambda d: d.update(schema_version=2))
    reason = _only(exc)
    assert (reason.code, reason.field) == ("unknown_schema_version", "schema_version")


def test_wrong_topic() -> None:
    exc = _reject("EmployeeInsuranceAcquired", lambda d: None, topic="filing.pension.v1")
    reason = _only(exc)
    assert (reason.code, reason.field) == ("wrong_topic", "event_type")
    assert "filing.employer.v1" in reason.message


@pytest.mark.parametrize("topic", ["filing.pension.v1", "filing.municipality.v1"])
def test_retraction_is_allowed_on_every_ingestion_topic(topic: str) -> None:
    raw = _wire(example_filing("FilingRetracted"))
    assert decode_filing(raw, topic).event_type == "FilingRetracted"


def test_filing_cannot_retract_itself() -> None:
    exc = _reject(
        "FilingRetracted",
        lambda d: d["payload"].update(retracted_filing_reference=d["filing_reference"]),
    )
    _has(exc, "invalid", "payload.retracted_filing_reference")


# --- bytes ------------------------------------------------------------------------------


def test_payload_over_1_000_000_bytes_is_too_large_before_parsing() -> None:
    filing = example_filing("EmployeeInsuranceAcquired")
    raw = _wire(filing)
    raw = raw[:-1] + b" " * (MAX_MESSAGE_BYTES + 1 - len(raw)) + b"}"
    assert len(raw) == MAX_MESSAGE_BYTES + 1
    exc = _rejected(raw)
    reason = _only(exc)
    assert (reason.code, reason.field) == ("too_large", None)
    assert exc.filer_code is None
    _assert_no_leak(exc, secret_values(filing))


def test_exactly_1_000_000_bytes_is_accepted() -> None:
    raw = _wire(example_filing("EmployeeInsuranceAcquired"))
    raw = raw[:-1] + b" " * (MAX_MESSAGE_BYTES - len(raw)) + b"}"
    assert decode_filing(raw).event_type == "EmployeeInsuranceAcquired"


def test_non_utf8_bytes() -> None:
    filing = example_filing("EmployeeInsuranceAcquired")
    raw = _wire(filing).replace("山田太郎".encode(), "山田太郎".encode("shift_jis"))
    exc = _rejected(raw)
    reason = _only(exc)
    assert (reason.code, reason.field) == ("not_utf8", None)
    _assert_no_leak(exc, secret_values(filing))


@pytest.mark.parametrize(
    "raw",
    [b'{"event_type": ', b'{"a": 1, "a": 2}', b'{"a": NaN}', b"[" * 50_000],
    ids=["truncated", "duplicate-key", "nan", "deep"],
)
def test_not_json(raw: bytes) -> None:
    reason = _only(_rejected(raw))
    assert (reason.code, reason.field) == ("not_json", None)


def test_json_that_is_not_an_object() -> None:
    reason = _only(_rejected('["山田太郎"]'.encode()))
    assert (reason.code, reason.field) == ("invalid", None)


# --- identity items and fields ----------------------------------------------------------

IDENTITY_ITEMS = ["kanji_name", "kana_name", "birth_date", "sex", "address"]


@pytest.mark.parametrize("item", IDENTITY_ITEMS)
def test_missing_identity_item_is_named(item: str) -> None:
    exc = _reject("EmployeeInsuranceAcquired", lambda d: d["payload"]["identity"].pop(item))
    reason = _only(exc)
    assert (reason.code, reason.field) == ("invalid", f"payload.identity.{item}")


def test_blank_identity_item_is_named() -> None:
    exc = _reject("DeathRegistered", lambda d: d["payload"]["identity"].update(kana_name="\u3000"))
    assert (_only(exc).code, _only(exc).field) == ("invalid", "payload.identity.kana_name")


def test_missing_identity_item_of_a_dependant_is_named() -> None:
    exc = _reject(
        "EmployeeInsuranceAcquired",
        lambda d: d["payload"]["dependants"][0]["identity"].pop("kana_name"),
    )
    reason = _only(exc)
    assert reason.field == "payload.dependants.0.identity.kana_name"


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (lambda d: d.update(comment="x"), "comment"),
        (lambda d: d["payload"].update(my_number="123456789012"), "payload.my_number"),
        (lambda d: d["payload"]["identity"].update(nickname="タロ"), "payload.identity.nickname"),
        (lambda d: d["payload"].update({"山田太郎": 1}), "payload.<key>"),
    ],
    ids=["envelope", "payload", "nested", "non-ascii-key"],
)
def test_unknown_fields_are_refused(where: Mutation, field: str) -> None:
    exc = _reject("EmployeeInsuranceAcquired", where)
    reason = _only(exc)
    assert (reason.code, reason.field) == ("invalid", field)
    assert leaks(["123456789012", "タロ", "山田太郎"], str(exc), repr(exc)) == []


def test_person_reference_needs_exactly_one_number() -> None:
    exc = _reject(
        "DeathRegistered",
        lambda d: d["payload"]["person"].update(basic_pension_number="1234-567890"),
    )
    assert (_only(exc).code, _only(exc).field) == ("invalid", "payload.person")


def test_acquisition_refers_to_the_person_by_a_number() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["payload"]["person"] = {"insured_number": {"number": "１２３４"}}

    assert _only(_reject("EmployeeInsuranceAcquired", mutate)).field == "payload.person"


def test_person_token_must_not_carry_a_secret_number() -> None:
    exc = _reject("EmployeeInsuranceAcquired", lambda d: d.update(person_token="emp12345678901"))
    assert (_only(exc).code, _only(exc).field) == ("invalid", "person_token")


def test_event_id_must_derive_from_filer_and_reference() -> None:
    exc = _reject(
        "EmployeeInsuranceAcquired", lambda d: d.update(filing_reference="EX-another-0002")
    )
    assert (_only(exc).code, _only(exc).field) == ("invalid", "event_id")


def test_several_problems_are_all_reported() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["payload"]["identity"].pop("kana_name")
        data["payload"]["insurer_number"] = "01130013"

    exc = _reject("EmployeeInsuranceAcquired", mutate)
    assert {r.field for r in exc.reasons} == {
        "payload.identity.kana_name",
        "payload.insurer_number",
    }


# --- round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(all_examples()))
def test_round_trip_is_equal_and_clear_on_the_wire(
    event_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    filing = example_filing(event_type)
    raw = encode(filing)
    wire = raw.decode("utf-8")
    secrets = secret_values(filing)
    assert all(value in wire for value in secrets)
    decoded = decode_filing(raw, "filing.employer.v1" if event_type == "FilingRetracted" else None)
    assert decoded == filing
    assert encode(decoded) == raw
    log = logging.getLogger("shaho.test.codec")
    with caplog.at_level(logging.INFO, logger="shaho.test.codec"):
        log.info("decoded %s", decoded)
        log.info("decoded %r", decoded)
    assert leaks(secrets, repr(decoded), str(decoded), caplog.text) == []
    assert event_type in caplog.text


def test_kafka_key_is_filer_code_and_person_token() -> None:
    filing = example_filing("EmployeeInsuranceAcquired")
    assert filing.kafka_key() == b"EMP-0001:tok-yamada-taro"
    assert leaks(secret_values(filing), filing.kafka_key().decode()) == []


# --- event ids --------------------------------------------------------------------------


def test_event_id_is_deterministic() -> None:
    assert event_id_for("EMP-0001", "R-1") == event_id_for("EMP-0001", "R-1")
    assert event_id_for("EMP-0001", "R-1") != event_id_for("EMP-0001", "R-2")
    assert event_id_for("EMP-0001", "R-1") != event_id_for("EMP-0002", "R-1")
    assert event_id_for("EMP-0001", "R-1").version == 5


def test_the_same_filing_uploaded_twice_is_the_same_event() -> None:
    first = example_filing("DeathRegistered")
    again = decode_filing(encode(example_filing("DeathRegistered")))
    assert first.event_id == again.event_id
