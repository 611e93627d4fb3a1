"""The synthetic population: deterministic, valid on its topics, shaped like the real filings.

Expectations come from the contracts and DOMAIN.md, never from what the generator meant to do.
"""

from __future__ import annotations

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
    "HouseholdChanged",
}
# people may tell the municipality after the 14 days they have to join or leave NHI
LATE_NOTICES = {"NhiQualificationAcquired", "NhiQualificationLost"}
TOKEN_CONTAINMENT_MIN = 6


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(7, 2000, START)


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
    late_notices: Counter[str] = Counter()
    for filing in population.filings:
        assert filing.occurred_at.utcoffset() == timedelta(hours=9)
        if filing.effective_date is None:
            continue
        lateness = (filing.occurred_at.astimezone(JST).date() - filing.effective_date).days
        assert lateness >= 1
        if filing.event_type in LATE_NOTICES and lateness > 14:
            late_notices[filing.event_type] += 1
        else:
            assert lateness <= 14, filing.event_type
    assert set(late_notices) == LATE_NOTICES


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


def test_each_bad_record_is_sent_by_the_filer_whose_filing_it_spoils(
        population: Population) -> None:
    assert len(population.bad_filers) == len(population.bad_records)
    assert set(population.bad_filers) <= set(population.filer_kinds)
    readable = 0
    for (topic, raw), filer in zip(population.bad_records, population.bad_filers, strict=True):
        with pytest.raises(FilingRejected) as refused:
            decode_filing(raw, topic)
        if refused.value.filer_code is not None:
            readable += 1
            assert refused.value.filer_code == filer
    assert readable > 0


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


def _text(value: object) -> str:
    return value.reveal() if hasattr(value, "reveal") else str(value)


def _standing(population: Population) -> list:
    """The filings no 取消 withdrew (a retracted one carries a wrong date on purpose)."""
    withdrawn = {
        (f.filer_code, f.payload.retracted_filing_reference)
        for f in population.filings
        if f.event_type == "FilingRetracted"
    }
    return [
        f
        for f in population.filings
        if f.event_type != "FilingRetracted"
        and (f.filer_code, f.filing_reference) not in withdrawn
    ]


def _resident(ref, residents: dict[str, str]) -> str | None:
    """The resident code a filing names, through the pension service's number assignments."""
    if ref.resident_code is not None:
        return _text(ref.resident_code)
    if ref.basic_pension_number is not None:
        return residents.get(_fold(_text(ref.basic_pension_number)))
    return None


def test_nhi_ends_the_day_after_joining_employee_insurance(population: Population) -> None:
    """DOMAIN §6: joining employee insurance on D ends NHI on D + 1 (a legal one-day overlap),
    however late the municipality is told: an NHI loss in the month after the latest join (as
    the insured person or a dependant) is dated the day after it."""
    standing = _standing(population)
    residents = {
        _fold(_text(f.payload.basic_pension_number)): _text(f.payload.person.resident_code)
        for f in standing
        if f.event_type == "BasicPensionNumberAssigned"
    }
    joined: dict[str | None, set[date]] = {}
    for f in standing:
        if f.event_type == "EmployeeInsuranceAcquired":
            for ref in (f.payload.person, *(d.person for d in f.payload.dependants)):
                joined.setdefault(_resident(ref, residents), set()).add(f.payload.acquired_on)
    after_join = []
    for f in standing:
        if f.event_type == "NhiQualificationLost":
            lost_on = f.payload.lost_on
            days = joined.get(_text(f.payload.person.resident_code), set())
            latest = max((d for d in days if d <= lost_on), default=None)
            if latest is not None and lost_on <= latest + timedelta(days=31):
                after_join.append((latest, lost_on))
    assert len(after_join) >= 50
    assert all(lost_on == d + timedelta(days=1) for d, lost_on in after_join)


def _insured_key(insurer: str, number) -> tuple[str, str, str]:
    return insurer, _text(number.symbol) if number.symbol else "", _text(number.number)


def _branch(insurer: str, number) -> tuple[tuple[str, str, str], str]:
    return _insured_key(insurer, number), _text(number.branch)


def test_dependants_cover_ends_no_later_than_their_insured_persons(
    population: Population,
) -> None:
    """DOMAIN §6: a dependant is covered only as the insured person's dependant, so every
    dependant added under an insured person is removed by that person's loss date (a dependant
    shares the insured person's symbol and number, with a branch of their own); under 任意継続
    the dependants stay covered."""
    standing = _standing(population)
    lost: dict[tuple, date] = {}
    continued: set[tuple] = set()
    added: dict[tuple, date] = {}
    removed: dict[tuple, date] = {}
    for f in standing:
        p = f.payload
        if f.event_type == "EmployeeInsuranceLost":
            key = _insured_key(p.insurer_number, p.insured_number)
            lost[key] = min(lost.get(key, p.lost_on), p.lost_on)
        elif f.event_type == "VoluntaryContinuationElected":
            continued.add(_insured_key(p.insurer_number, p.insured_number))
        elif f.event_type == "EmployeeInsuranceAcquired":
            for d in p.dependants:
                added[_branch(p.insurer_number, d.insured_number)] = p.acquired_on
        elif f.event_type == "MemberLoaded" and p.capacity.value == "dependant":
            added[_branch(p.insurer_number, p.insured_number)] = p.valid_from
        elif f.event_type == "DependantChanged":
            branch = _branch(p.insurer_number, p.dependant.insured_number)
            held = added if p.change.value == "added" else removed
            held[branch] = min(held.get(branch, p.changed_on), p.changed_on)
    ended_with = [
        (removed.get(branch, date.max), lost[branch[0]])
        for branch, since in added.items()
        if branch[0] in lost and branch[0] not in continued and since < lost[branch[0]]
    ]
    assert len(ended_with) >= 20
    assert all(removal <= loss for removal, loss in ended_with)


def test_every_move_out_has_its_move_in(population: Population) -> None:
    """転出 and 転入 of a move between municipalities are both filed, same person, same day."""
    def moves(kind: str) -> Counter:
        return Counter(
            (_text(f.payload.person.resident_code), f.payload.moved_on)
            for f in population.filings
            if f.event_type == kind
        )

    assert moves("MovedOut") == moves("MovedIn")
    assert sum(moves("MovedOut").values()) >= 20


HOUSEHOLD_CARRIERS = {"ResidentRegistered", "BirthRegistered", "MovedIn", "AddressChanged"}


def test_municipalities_file_the_household_on_registrations_births_and_moves(
    population: Population,
) -> None:
    """Every registration, birth, 転入 and 転居 tells the person's household; its token is the
    filing municipality's own (a household moving in gets a token of the new municipality)."""
    for filing in population.filings:
        household = getattr(filing.payload, "household", None)
        if filing.event_type in HOUSEHOLD_CARRIERS or filing.event_type == "HouseholdChanged":
            assert household is not None, filing.event_type
            assert household.token.reveal().startswith(f"SETAI-{filing.filer_code}-")
        else:
            assert household is None, filing.event_type


def test_each_household_has_one_householder_at_go_live(population: Population) -> None:
    heads: Counter[str] = Counter()
    members: Counter[str] = Counter()
    for filing in population.filings:
        if filing.event_type == "ResidentRegistered":
            token = filing.payload.household.token.reveal()
            members[token] += 1
            heads[token] += filing.payload.household.householder
    assert set(heads) == set(members)
    assert all(count == 1 for count in heads.values())
    assert any(count > 1 for count in members.values())


def test_household_changes_are_separations_and_new_householders(population: Population) -> None:
    """A grown child's 世帯分離 makes them householder of a new household; after a
    householder's death another member of that household becomes householder the next day."""
    changes = [f for f in population.filings if f.event_type == "HouseholdChanged"]
    kinds = Counter(f.payload.kind.value for f in changes)
    assert set(kinds) == {"separation", "householder_change"}
    assert all(f.payload.household.householder for f in changes)
    known = {f.payload.household.token.reveal() for f in population.filings
             if f.event_type in HOUSEHOLD_CARRIERS}
    for change in changes:
        token = change.payload.household.token.reveal()
        assert (token in known) == (change.payload.kind.value == "householder_change")
        known.add(token)
    deaths = {f.payload.died_on + timedelta(days=1) for f in population.filings
              if f.event_type == "DeathRegistered"}
    assert all(f.payload.changed_on in deaths for f in changes
               if f.payload.kind.value == "householder_change")
