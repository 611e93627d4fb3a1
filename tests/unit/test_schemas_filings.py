"""Payload models, their domain rules, the registry and the examples other tests build on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.common import Capacity, PersonKey, PersonReference, Scheme
from schemas.employer import DependantChange, DependantChanged, EmployeeInsuranceAcquired
from schemas.envelope import (
    EVENT_TYPES,
    FILING_NAMESPACE,
    PAYLOADS,
    Filing,
    new_filing,
    topic_for,
    topics_for,
)
from schemas.filings import allowed_on, filer_of
from schemas.insurer import MemberLoaded
from schemas.payload import FilerKind
from schemas.topics import FILING_EMPLOYER, FILING_MUNICIPALITY, FILING_PENSION, INGESTION_TOPICS
from tests.fixtures.examples import (
    EMPLOYEE_INSURER,
    LATE_STAGE_INSURER,
    MUNICIPAL_INSURER,
    all_examples,
    example_filing,
    example_payload,
    identity,
    insured,
    member,
    resident,
)

CONTRACT_EVENT_TYPES = {
    "BasicPensionNumberAssigned",
    "PensionQualificationAcquired",
    "PensionQualificationLost",
    "EmployeeInsuranceAcquired",
    "EmployeeInsuranceLost",
    "DependantChanged",
    "MemberLoaded",
    "VoluntaryContinuationElected",
    "VoluntaryContinuationEnded",
    "ResidentRegistered",
    "BirthRegistered",
    "ArrivalFromAbroadRegistered",
    "DeathRegistered",
    "MovedIn",
    "MovedOut",
    "AddressChanged",
    "AddressRenamed",
    "NameChanged",
    "ResidentRecordCorrected",
    "HouseholdChanged",
    "NhiQualificationAcquired",
    "NhiQualificationLost",
    "LongTermCareQualificationAcquired",
    "LongTermCareQualificationLost",
    "LateStageElderlyQualificationAcquired",
    "LateStageElderlyQualificationLost",
    "CardIssued",
    "CardRevoked",
    "FilingRetracted",
}


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, str]]:
    return [(e["loc"], e["type"]) for e in exc.value.errors()]


def test_registry_covers_every_event_type_of_the_contract() -> None:
    assert set(EVENT_TYPES) == CONTRACT_EVENT_TYPES
    assert all(version == 1 for _, version in PAYLOADS)


def test_every_example_validates_and_matches_its_event_type() -> None:
    examples = all_examples()
    assert set(examples) == CONTRACT_EVENT_TYPES
    for event_type, filing in examples.items():
        assert filing.event_type == event_type
        assert isinstance(filing.payload, PAYLOADS[(event_type, 1)])
        assert Filing.model_validate(filing.model_dump(mode="json")) == filing


def test_examples_are_deterministic() -> None:
    assert all_examples() == all_examples()


def test_topics_of_event_types() -> None:
    assert topic_for("BasicPensionNumberAssigned") is FILING_PENSION
    assert topic_for("EmployeeInsuranceLost") is FILING_EMPLOYER
    assert topic_for("NhiQualificationLost") is FILING_MUNICIPALITY
    assert topic_for("MemberLoaded").name == "filing.insurer.v1"
    assert topics_for("FilingRetracted") == INGESTION_TOPICS
    assert topic_for("FilingRetracted", FilerKind.EMPLOYER) is FILING_EMPLOYER
    with pytest.raises(ValueError, match="filer="):
        topic_for("FilingRetracted")
    with pytest.raises(KeyError):
        topic_for("EmployeeHired")
    assert allowed_on("DeathRegistered", "filing.municipality.v1")
    assert not allowed_on("DeathRegistered", "filing.employer.v1")
    assert filer_of("VoluntaryContinuationElected") is FilerKind.INSURER


def test_filing_namespace_is_fixed() -> None:
    assert str(FILING_NAMESPACE) == "4a17ca0f-ce39-522f-8bf4-82e70e19b188"


def test_filed_on_is_the_date_in_japan() -> None:
    utc_evening = datetime(2025, 4, 9, 16, 0, tzinfo=UTC)  # 01:00 on 10 April in JST
    filing = example_filing("DeathRegistered", occurred_at=utc_evening)
    assert filing.filed_on == date(2025, 4, 10)


def test_death_on_the_filing_date_in_japan_is_accepted_but_not_the_day_after() -> None:
    payload = example_payload("DeathRegistered").model_copy(update={"died_on": date(2025, 4, 10)})
    occurred = datetime(2025, 4, 9, 15, 30, tzinfo=UTC)  # 00:30 on 10 April in JST
    kwargs = {"filer_code": "131016", "filing_reference": "R-1", "person_token": "t1"}
    assert new_filing(payload, occurred_at=occurred, **kwargs).filed_on == date(2025, 4, 10)
    with pytest.raises(ValidationError) as caught:
        new_filing(payload, occurred_at=occurred - timedelta(hours=1), **kwargs)
    assert (("payload", "died_on"), "after_filing") in _errors(caught)


def test_moving_out_may_be_filed_before_the_move_but_moving_in_may_not() -> None:
    kwargs = {"filer_code": "131016", "filing_reference": "R-1", "person_token": "t1"}
    occurred = datetime(2025, 3, 20, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert new_filing(example_payload("MovedOut"), occurred_at=occurred, **kwargs)
    with pytest.raises(ValidationError) as caught:
        new_filing(example_payload("MovedIn"), occurred_at=occurred, **kwargs)
    assert (("payload", "moved_on"), "after_filing") in _errors(caught)


def test_payload_of_another_event_type_is_refused() -> None:
    filing = example_filing("DeathRegistered")
    data = {**dict(filing), "payload": example_payload("MovedIn")}
    with pytest.raises(ValidationError) as caught:
        Filing(**data)
    assert ((("payload",), "payload_type")) in _errors(caught)


def test_models_are_frozen() -> None:
    filing = example_filing("DeathRegistered")
    with pytest.raises(ValidationError):
        filing.person_token = "other"  # type: ignore[misc]


def test_person_reference_key() -> None:
    assert resident().key is PersonKey.RESIDENT_CODE
    with pytest.raises(ValidationError) as caught:
        PersonReference()
    assert _errors(caught) == [((), "person_reference")]


def _member(**changes: Any) -> MemberLoaded:
    data = example_payload("MemberLoaded").model_dump()
    data.update(changes)
    return MemberLoaded.model_validate(data)


def test_member_load_number_follows_the_scheme() -> None:
    with pytest.raises(ValidationError) as caught:
        _member(scheme=Scheme.LONG_TERM_CARE, insurer_number=MUNICIPAL_INSURER)
    assert _errors(caught) == [
        (("insured_number",), "member_number"),
        (("care_insured_number",), "member_number"),
    ]
    loaded = _member(
        scheme=Scheme.LONG_TERM_CARE,
        insurer_number=MUNICIPAL_INSURER,
        insured_number=None,
        care_insured_number="1310100001",
    )
    assert loaded.care_insured_number is not None


def test_member_load_refuses_pension_and_resident_schemes() -> None:
    with pytest.raises(ValidationError) as caught:
        _member(scheme=Scheme.PENSION)
    assert _errors(caught) == [(("scheme",), "scheme")]


@pytest.mark.parametrize(
    ("insurer", "scheme", "capacity", "ok"),
    [
        (EMPLOYEE_INSURER, Scheme.MEDICAL, Capacity.DEPENDANT, True),
        (EMPLOYEE_INSURER, Scheme.MEDICAL, Capacity.VOLUNTARY_CONTINUATION, True),
        (MUNICIPAL_INSURER, Scheme.MEDICAL, Capacity.DEPENDANT, False),
        (LATE_STAGE_INSURER, Scheme.MEDICAL, Capacity.DEPENDANT, False),
        (LATE_STAGE_INSURER, Scheme.MEDICAL, Capacity.INSURED, True),
    ],
)
def test_member_load_capacity(insurer: str, scheme: Scheme, capacity: Capacity, ok: bool) -> None:
    head = _HEAD if capacity is Capacity.DEPENDANT else None
    if ok:
        assert _member(insurer_number=insurer, scheme=scheme, capacity=capacity,
                       insured_person=head)
        return
    with pytest.raises(ValidationError) as caught:
        _member(insurer_number=insurer, scheme=scheme, capacity=capacity, insured_person=head)
    assert _errors(caught) == [(("capacity",), "capacity")]


_HEAD = {"person": resident("23456789012").model_dump(), "identity": identity().model_dump()}


def test_a_dependants_load_names_the_insured_person_and_only_a_dependants() -> None:
    """Issue 8 point 1: go-live loads of dependants name their insured person (本人), by
    resident code or basic pension number and their items, so both are matched."""
    dependant = {"insurer_number": EMPLOYEE_INSURER, "capacity": Capacity.DEPENDANT}
    loaded = _member(**dependant, insured_person=_HEAD)
    assert loaded.insured_person is not None
    with pytest.raises(ValidationError) as caught:
        _member(**dependant)
    assert _errors(caught) == [(("insured_person",), "insured_person")]
    with pytest.raises(ValidationError) as caught:
        _member(insured_person=_HEAD)
    assert _errors(caught) == [(("insured_person",), "insured_person")]
    by_insured_number = {**_HEAD, "person": member().model_dump()}
    with pytest.raises(ValidationError) as caught:
        _member(**dependant, insured_person=by_insured_number)
    assert _errors(caught) == [(("insured_person", "person"), "person_key")]


def test_employee_insurance_is_never_the_75_plus_scheme() -> None:
    data = example_payload("EmployeeInsuranceAcquired").model_dump()
    data["insurer_number"] = LATE_STAGE_INSURER
    with pytest.raises(ValidationError) as caught:
        EmployeeInsuranceAcquired.model_validate(data)
    assert _errors(caught) == [(("insurer_number",), "law_code")]


def test_dependant_born_after_the_change_is_refused() -> None:
    dependant = example_payload("DependantChanged").dependant  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as caught:
        DependantChanged(
            person=resident(),
            identity=identity(),
            insurer_number=EMPLOYEE_INSURER,
            change=DependantChange.ADDED,
            dependant=dependant,
            changed_on=date(2015, 5, 4),
        )
    assert _errors(caught) == [(("dependant", "identity", "birth_date"), "before_birth")]


def test_removed_dependant_may_be_referred_to_by_insured_number() -> None:
    payload = example_payload("DependantChanged")
    dependant = payload.dependant.model_copy(  # type: ignore[attr-defined]
        update={"person": PersonReference(insured_number=insured("01"))}
    )
    removed = payload.model_copy(update={"change": DependantChange.REMOVED})
    data = {**removed.model_dump(), "dependant": dependant.model_dump()}
    assert DependantChanged.model_validate(data).change is DependantChange.REMOVED
    with pytest.raises(ValidationError) as caught:
        DependantChanged.model_validate({**data, "change": "added"})
    assert _errors(caught) == [(("dependant", "person"), "person_key")]


def test_nhi_has_no_dependants() -> None:
    data = example_payload("NhiQualificationAcquired").model_dump()
    data["capacity"] = "dependant"
    model = PAYLOADS[("NhiQualificationAcquired", 1)]
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    assert _errors(caught) == [(("capacity",), "capacity")]


def test_correction_needs_a_corrected_item() -> None:
    data = example_payload("ResidentRecordCorrected").model_dump()
    data["corrected"] = {}
    with pytest.raises(ValidationError) as caught:
        PAYLOADS[("ResidentRecordCorrected", 1)].model_validate(data)
    assert _errors(caught) == [(("corrected",), "nothing_corrected")]


def test_effective_dates_come_from_the_payload() -> None:
    for filing in all_examples().values():
        assert filing.effective_date == filing.payload.effective_on()
    assert example_filing("FilingRetracted").effective_date is None
    assert example_filing("VoluntaryContinuationElected").effective_date == date(2025, 4, 1)
