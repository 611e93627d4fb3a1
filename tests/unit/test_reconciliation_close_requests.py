"""The close's questions: every member asked about in both schemes, at most 500 a request,
over the period up to their base date, under ids the insurer, period, round and batch fix."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from insurer_workers.closing import CloseReport, Insured, Unit, late_stage_from, requests_for
from reconciliation.calculation import Period
from schemas.exchange import MAX_ENTRIES
from schemas.exchange_terms import ExchangeScheme

PERIOD = Period(2026)
NOW = datetime(2026, 10, 1, tzinfo=UTC)


def _units(count: int, base: date, start: int = 0) -> list[Unit]:
    return [Unit(f"h{n:05d}", base, (Insured(f"10|{n:07d}|01", f"k{n}", "insured",
                                             date(1960, 1, 1), "エ"),))
            for n in range(start, start + count)]


def test_members_are_asked_in_batches_per_scheme_and_base_date_with_fixed_ids():
    units = _units(1_000, PERIOD.last_day) + _units(201, date(2026, 3, 14), start=5_000)
    requests, asked = requests_for("06130012", PERIOD, 1, units, NOW, timedelta(hours=1))
    assert len(requests) == 6
    assert all(len(r.entries) <= MAX_ENTRIES for r in requests)
    for scheme in (ExchangeScheme.MEDICAL, ExchangeScheme.LONG_TERM_CARE):
        mine = [a for a in asked if a.scheme is scheme]
        assert sorted(n for a in mine for n in a.entries.values()) == sorted(
            m.number for u in units for m in u.members)
    assert {(r.period_from, r.period_to) for r in requests} == {
        (PERIOD.first_day, PERIOD.last_day), (PERIOD.first_day, date(2026, 3, 14))}
    again, _ = requests_for("06130012", PERIOD, 1, list(reversed(units)), NOW,
                            timedelta(hours=1))
    assert [r.request_id for r in again] == [r.request_id for r in requests]
    later, _ = requests_for("06130012", PERIOD, 2, units, NOW, timedelta(hours=1))
    assert not {r.request_id for r in later} & {r.request_id for r in requests}
    assert all("10|" not in e.entry for r in requests for e in r.entries)


def test_the_move_to_the_late_stage_scheme_is_the_75th_birthday():
    assert late_stage_from(date(1951, 1, 3)) == date(2026, 1, 3)
    assert late_stage_from(date(1952, 2, 29)) == date(2027, 3, 1)


def test_an_answer_too_large_to_seal_carries_no_receipts_and_says_so():
    from insurer_workers.worker import ANSWER_LIMIT, with_receipts

    body = {"status": "covered", "periods": []}
    small = with_receipts(body, "long_term_care", [{"month": "2026-01", "self_pay_yen": 1,
                                                    "preventive": False}])
    assert small["care"] and "too_large" not in small
    many = [{"receipt_id": f"R{n:08d}", "month": "2026-01"} for n in range(ANSWER_LIMIT // 20)]
    assert with_receipts(body, "medical", many) == {**body, "too_large": True}


def test_a_household_is_held_back_unless_every_reply_is_in_and_readable():
    from insurer_workers.closing import EntryState, _remote

    unit = _units(1, PERIOD.last_day)[0]
    _, asked = requests_for("06130012", PERIOD, 1, [unit], NOW, timedelta(hours=1))
    receipt = {"receipt_id": "R1", "month": "2025-09", "institution": "1310000001",
               "kind": "medical_inpatient", "copay_yen": 90_000, "high_cost_benefit_yen": 0,
               "meals_and_room_yen": 0, "prescribed_by": None, "prescribed_by_dentist": False}

    def states(medical: EntryState, care: EntryState) -> dict:
        return {(a.request_id, "e0"): medical if a.scheme is ExchangeScheme.MEDICAL else care
                for a in asked}

    nobody = EntryState(refused="nobody_covered")
    answered = EntryState(providers=["01130012"], answers={"01130012": {
        "status": "covered", "periods": [], "receipts": [receipt]}})
    got = _remote(unit, asked, states(answered, nobody))
    assert not isinstance(got, str)
    assert [(r.insurer_number, r.receipt_id, r.member_key) for r in got[0]] == [
        ("01130012", "01130012:R1", "k0")]
    assert _remote(unit, asked, states(EntryState(providers=["01130012"]), nobody)) == "no_reply"
    assert _remote(unit, asked, states(EntryState(providers=["01130012"],
                                                  unavailable={"01130012"}), nobody)) \
        == "unavailable"
    assert _remote(unit, asked, states(EntryState(providers=["01130012"],
                                                  answers={"01130012": None}), nobody)) \
        == "answer_unreadable"
    bad = EntryState(providers=["01130012"], answers={"01130012": {
        "status": "covered", "receipts": [{**receipt, "copay_yen": -5}]}})
    assert _remote(unit, asked, states(bad, nobody)) == "unreadable:negative_amount:copay_yen"
    assert _remote(unit, asked, states(nobody, EntryState(refused="verify_identity"))) == \
        "refused:verify_identity"


def test_a_close_short_of_a_reply_or_an_answer_is_not_complete():
    """Made again soon by the processor: a reply missing, or a provider that did not answer
    before the deadline; a household held back for any other reason waits for the next one."""
    def report(**held: int) -> CloseReport:
        return CloseReport("06130012", 2025, 1, held_back=Counter(held))
    assert report().complete
    assert report(**{"refused:verify_identity": 2, "unreadable:not_a_month": 1}).complete
    assert not report(no_reply=1).complete
    assert not report(unavailable=1, answer_unreadable=3).complete
