"""The synthetic receipts: each kind comes at the rate the generator states, counted in a
generated population within four binomial standard deviations (sqrt(n·p·(1−p)) over the n
member-months, or outpatient receipts for pharmacies, that could carry one: a miss then has odds
below 1 in 15,000 per kind); every receipt lies in a period of its member at its insurer, so a
job changer's, a 75-year-old's and a deceased person's receipts follow their cover; all are
valid records of the contract."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import pytest

from insurer_workers.member_reading import CARE, MEDICAL
from insurer_workers.members import members_from_filings
from insurer_workers.receipt_store import member_number, service_month
from schemas import decode_relay, encode
from schemas.receipts import ReceiptKind, ReceiptRecord
from synthetic import receipts as synthetic
from synthetic.population import generate

LAST = date(2026, 2, 28)
SIGMAS = 4


@pytest.fixture(scope="module")
def world():
    population = generate(11, 200, date(2025, 1, 1))
    return (members_from_filings(population.filings),
            synthetic.population_receipts(population, LAST), population)


def _member_months(stores, scheme: str) -> int:
    return len({(code, p.member_number, m) for code, periods in stores.items()
                for p in periods if p.scheme == scheme for m in synthetic._months(p, LAST)})


def _within(count: int, n: int, p: float) -> None:
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= SIGMAS * sd, (count, n, p, sd)


def test_each_kind_comes_at_its_stated_rate(world) -> None:
    stores, receipts, _ = world
    kinds = Counter(r.kind for records in receipts.values() for r in records)
    medical, care = _member_months(stores, MEDICAL), _member_months(stores, CARE)
    assert medical > 1000 and care > 100
    _within(kinds[ReceiptKind.MEDICAL_OUTPATIENT], medical, synthetic.RATE_OUTPATIENT)
    _within(kinds[ReceiptKind.MEDICAL_INPATIENT], medical, synthetic.RATE_INPATIENT)
    _within(kinds[ReceiptKind.DENTAL_OUTPATIENT] + kinds[ReceiptKind.DENTAL_INPATIENT], medical,
            synthetic.RATE_DENTAL)
    _within(kinds[ReceiptKind.PHARMACY], kinds[ReceiptKind.MEDICAL_OUTPATIENT],
            synthetic.RATE_PHARMACY)
    _within(kinds[ReceiptKind.CARE], care, synthetic.RATE_CARE)
    assert kinds[ReceiptKind.DENTAL_INPATIENT] > 0


def test_every_receipt_lies_in_a_period_of_its_member_at_its_insurer(world) -> None:
    stores, receipts, _ = world
    ended = 0
    for code, records in receipts.items():
        for r in records:
            scheme = CARE if r.kind is ReceiptKind.CARE else MEDICAL
            month = service_month(r)
            periods = [p for p in stores[code] if p.member_number == member_number(r)
                       and p.scheme == scheme and p.valid_from.replace(day=1) <= month
                       and (p.valid_to is None or month < p.valid_to)]
            assert periods, (code, r.receipt_id)
            ended += any(p.valid_to is not None and p.valid_to <= LAST for p in periods)
    assert ended > 0, "some receipts are of members who left, turned 75 or died"
    late_stage = [c for c in receipts if c.startswith("39")]
    assert late_stage and all(receipts[c] for c in late_stage)
    assert "JPS" not in receipts


def test_receipts_are_valid_records_with_unique_ids_and_the_same_for_the_same_seed(world):
    _, receipts, population = world
    ids = [r.receipt_id for records in receipts.values() for r in records]
    assert len(ids) == len(set(ids))
    for records in receipts.values():
        for r in records[:50]:
            assert decode_relay(encode(r), ReceiptRecord) == r
    again = synthetic.population_receipts(population, LAST)
    assert again == receipts
