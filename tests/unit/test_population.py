"""The synthetic population: deterministic, valid on its topics, shaped like the real filings.

Expectations come from the contracts and DOMAIN.md, never from what the generator meant to do.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from datetime import date, timedelta

import pytest

from schemas import FilingRejected, decode_filing, encode
from schemas.envelope import JST
from schemas.secret import SecretNumber, iter_secrets
from synthetic.population import Population, generate, iter_filings_by_topic, iter_records

START = date(2025, 1, 1)
APRIL_1 = date(2025, 4, 1)
NAMED_EVENT_TYPES = {
    "ResidentRegistered",
    "BirthRegistered",
    "DeathRegistered",
    "AddressChanged",
    "MovedIn",
    "MovedOut",
    "NameChanged",
    "AddressRenamed",
    "BasicPensionNumberAssigned",
    "PensionQualificationAcquired",
    "PensionQualificationLost",
    "MemberLoaded",
    "VoluntaryContinuationElected",
    "EmployeeInsuranceAcquired",
    "EmployeeInsuranceLost",
    "DependantChanged",
    "NhiQualificationAcquired",
    "NhiQualificationLost",
    "LongTermCareQualificationAcquired",
    "LateStageElderlyQualificationAcquired",
    "FilingRetracted",
}
LATE_ENROLMENT = "NhiQualificationAcquired"  # people may tell the municipality after 14 days
TOKEN_CONTAINMENT_MIN = 6


@pytest.fixture(scope="module")
def population() -> Population:
    began = time.perf_counter()
    result = generate(7, 2000, START)
    assert time.perf_counter() - began < 10
    return result


def _encoded(population: Population) -> list[bytes]:
    return [encode(f) for f in population.filings]


def _fold(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def test_same_seed_gives_the_same_bytes() -> None:
    first, second = generate(11, 500, START), generate(11, 500, START)
    assert _encoded(first) == _encoded(second)
    assert first.bad_records == second.bad_records
    assert first.summary() == second.summary()


def test_another_seed_gives_another_population() -> None:
    assert _encoded(generate(11, 200, START)) != _encoded(generate(12, 200, START))


def test_every_filing_decodes_on_its_topic_to_the_same_bytes(population: Population) -> None:
    for topic, filing in iter_filings_by_topic(population):
        raw = encode(filing)
        assert encode(decode_filing(raw, topic)) == raw


def test_event_ids_and_references_are_unique(population: Population) -> None:
    filings = population.filings
    assert len({f.event_id for f in filings}) == len(filings)
    assert len({(f.filer_code, f.filing_reference) for f in filings}) == len(filings)


def test_person_tokens_carry_no_person_level_number(population: Population) -> None:
    for filing in population.filings:
        token = _fold(filing.person_token)
        for _, secret in iter_secrets(filing.payload):
            if not isinstance(secret, SecretNumber):
                continue
            number = _fold(secret.reveal())
            assert number != token
            assert len(number) < TOKEN_CONTAINMENT_MIN or number not in token


def test_every_named_event_type_occurs(population: Population) -> None:
    seen = {f.event_type for f in population.filings}
    assert seen >= NAMED_EVENT_TYPES, sorted(NAMED_EVENT_TYPES - seen)


def test_the_pension_categories_and_insurer_kinds_all_occur(population: Population) -> None:
    payloads = [f.payload for f in population.filings]
    categories = {p.category.value for p in payloads if hasattr(p, "category")}
    assert {"employee_pension", "national_type1", "national_type3"} <= categories
    loaded = {p.insurer_number for p in payloads if type(p).__name__ == "MemberLoaded"}
    assert {n[:2] for n in loaded if len(n) == 8} >= {"01", "06", "39"}
    assert any(len(n) == 6 for n in loaded)


def test_1_april_has_the_most_acquisitions(population: Population) -> None:
    by_day = Counter(
        f.effective_date for f in population.filings if f.event_type == "EmployeeInsuranceAcquired"
    )
    (busiest, count), (_, runner_up) = by_day.most_common(2)
    assert busiest == APRIL_1
    assert count > runner_up


def test_month_end_losses_occur(population: Population) -> None:
    losses = [f.payload for f in population.filings if f.event_type == "EmployeeInsuranceLost"]
    month_ends = [p for p in losses if (p.last_day_of_employment + timedelta(days=1)).day == 1]
    assert len(month_ends) >= 10


def test_filed_in_japan_time_after_the_effective_date_within_14_days(
    population: Population,
) -> None:
    late_enrolments = 0
    for filing in population.filings:
        assert filing.occurred_at.utcoffset() == timedelta(hours=9)
        if filing.effective_date is None:
            continue
        lateness = (filing.occurred_at.astimezone(JST).date() - filing.effective_date).days
        assert lateness >= 1
        if filing.event_type == LATE_ENROLMENT and lateness > 14:
            late_enrolments += 1
        else:
            assert lateness <= 14, filing.event_type
    assert late_enrolments > 0


def test_filings_come_in_publishing_order(population: Population) -> None:
    times = [f.occurred_at for f in population.filings]
    assert times == sorted(times)


def test_a_retraction_names_an_earlier_filing_of_the_same_filer(population: Population) -> None:
    filed = {}
    retractions = 0
    for filing in population.filings:
        if filing.event_type == "FilingRetracted":
            retractions += 1
            assert (filing.filer_code, filing.payload.retracted_filing_reference) in filed
        filed[(filing.filer_code, filing.filing_reference)] = filing
    assert retractions > 0


def test_some_names_need_the_variant_table(population: Population) -> None:
    registered = [
        f.payload.identity.kanji_name.reveal()
        for f in population.filings
        if f.event_type == "ResidentRegistered"
    ]
    assert any(ch in name for name in registered for ch in "髙﨑邉邊齋澤濱德廣")


def test_every_bad_record_is_refused_with_its_reason(population: Population) -> None:
    assert len(population.bad_records) == len(population.bad_reasons) >= 8
    assert set(population.bad_reasons) == {
        "not_utf8",
        "not_json",
        "unknown_event_type",
        "unknown_schema_version",
        "invalid",
        "too_large",
    }
    for (topic, raw), reason in zip(population.bad_records, population.bad_reasons, strict=True):
        with pytest.raises(FilingRejected) as refused:
            decode_filing(raw, topic)
        assert refused.value.reasons[0].code == reason


def test_bad_records_do_not_reuse_a_filing_reference(population: Population) -> None:
    references = {(f.filer_code, f.filing_reference) for f in population.filings}
    for topic, raw in population.bad_records:
        with pytest.raises(FilingRejected) as refused:
            decode_filing(raw, topic)
        address = (refused.value.filer_code, refused.value.filing_reference)
        assert address not in references


def test_summary_counts_every_filing(population: Population) -> None:
    summary = population.summary()
    total = len(population.filings)
    assert sum(summary["event_type"].values()) == total
    assert sum(summary["filer_kind"].values()) == total
    assert set(summary["filer_kind"]) == {"employer", "insurer", "municipality", "pension"}
    assert summary["total"] == {"filings": total, "bad_records": len(population.bad_records)}


def test_records_carry_the_filings_and_the_bad_records(population: Population) -> None:
    records = list(iter_records(population))
    good = [(t, k, v) for t, k, v in records if k is not None]
    assert len(records) == len(population.filings) + len(population.bad_records)
    assert [v for *_, v in good] == _encoded(population)
    assert [k for _, k, _ in good] == [f.kafka_key() for f in population.filings]
    assert [(t, v) for t, k, v in records if k is None] == population.bad_records


@pytest.mark.parametrize(("persons", "start"), [(0, START), (1, START), (40, date(2024, 2, 29))])
def test_small_populations_and_other_start_dates(persons: int, start: date) -> None:
    result = generate(3, persons, start)
    registered = sum(1 for f in result.filings if f.event_type == "ResidentRegistered")
    assert registered == persons
