"""Synthetic receipts for the 合算: what each medical and care insurer of a population would hold
of its members, month by month within their periods (so a job changer has receipts at both
insurers, one who turns 75 at the 75+ insurer after the move, one who dies none after).

Each kind is drawn per member and service month at the rate named below; a pharmacy's receipt
only with a medical outpatient receipt, whose institution prescribed. The same population and
seed give the same receipts."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from insurer_workers.member_reading import CARE, MEDICAL
from insurer_workers.members import MemberPeriod, members_from_filings
from schemas.common import InsuredNumber
from schemas.receipts import ReceiptKind, ReceiptRecord
from schemas.secret import SecretNumber
from synthetic.population import Population

RATE_OUTPATIENT = 0.35
"""A medical outpatient receipt, per member and month."""
RATE_INPATIENT = 0.03
"""A medical inpatient receipt, per member and month."""
RATE_DENTAL = 0.12
"""A dental receipt (outpatient; one in DENTAL_INPATIENT_SHARE inpatient), per member and
month."""
DENTAL_INPATIENT_SHARE = 20
RATE_PHARMACY = 0.6
"""A pharmacy's receipt, per medical outpatient receipt (its institution prescribed)."""
RATE_CARE = 0.4
"""A month of care self-pay, per care member and month."""
HIGH_COST_LIMIT = 80_100
"""A simplified monthly high-cost limit (一般, under 70): what a receipt's copay above it the
high-cost benefit pays back."""
MEAL_YEN = 510


def _months(p: MemberPeriod, last: date) -> list[date]:
    """The first days of the months the period covers, up to the month of `last`."""
    end = min(p.valid_to - timedelta(days=1) if p.valid_to else last, last)
    months, day = [], p.valid_from.replace(day=1)
    while day <= end:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _institution(rng: random.Random, code: str, table: int) -> str:
    """A 10-digit institution code: prefecture (from the insurer), score table, 7 digits."""
    prefecture = code[-6:-4] if len(code) == 6 else code[2:4]
    return f"{prefecture}{table}{rng.randrange(10**7):07d}"


def _yen(rng: random.Random, low: int, high: int) -> int:
    return rng.randrange(low, high, 10)


def _member(number: str) -> InsuredNumber:
    symbol, no, branch = number.split("|")
    return InsuredNumber(symbol=SecretNumber(symbol) if symbol else None,
                         number=SecretNumber(no), branch=SecretNumber(branch) if branch else None)


def receipts_for(code: str, periods: Iterable[MemberPeriod], last: date,
                 seed: int) -> list[ReceiptRecord]:
    """Insurer `code`'s receipts of its members' `periods`, service months up to `last`."""
    out: list[ReceiptRecord] = []
    seen: set[tuple[str, str, date]] = set()

    def add(**fields: object) -> None:
        out.append(ReceiptRecord(receipt_id=f"{code}-{len(out) + 1:07d}", insurer_number=code,
                                 **fields))  # type: ignore[arg-type]

    for p in sorted(periods, key=lambda p: (p.scheme, p.member_number, p.valid_from)):
        if p.scheme not in (MEDICAL, CARE):
            continue
        for month in _months(p, last):
            if (p.scheme, p.member_number, month) in seen:  # adjacent periods of one month
                continue
            seen.add((p.scheme, p.member_number, month))
            rng = random.Random(f"receipts:{seed}:{code}:{p.member_number}:{month}")
            service = f"{month.year:04d}-{month.month:02d}"
            if p.scheme == CARE:
                if rng.random() < RATE_CARE:
                    add(kind=ReceiptKind.CARE, care_insured_number=p.member_number,
                        service_month=service, self_pay_yen=_yen(rng, 1_000, 44_400),
                        preventive=rng.random() < 0.3)
                continue
            _medical(rng, code, _member(p.member_number), service, add)
    return out


def _medical(rng: random.Random, code: str, member: InsuredNumber, service: str,
             add: Callable[..., None]) -> None:
    """One month's medical draws of one member (each kind at its rate)."""
    if rng.random() < RATE_OUTPATIENT:
        clinic = _institution(rng, code, 1)
        copay = _yen(rng, 500, 15_000) if rng.random() < 0.85 else _yen(rng, 21_000, 90_000)
        add(kind=ReceiptKind.MEDICAL_OUTPATIENT, insured_number=member, service_month=service,
            institution_code=clinic, copay_yen=copay,
            high_cost_benefit_yen=max(0, copay - HIGH_COST_LIMIT), meals_and_room_yen=0)
        if rng.random() < RATE_PHARMACY:
            add(kind=ReceiptKind.PHARMACY, insured_number=member, service_month=service,
                institution_code=_institution(rng, code, 4), prescribed_by=clinic,
                copay_yen=_yen(rng, 300, 25_000), high_cost_benefit_yen=0,
                meals_and_room_yen=0)
    if rng.random() < RATE_INPATIENT:
        copay = _yen(rng, 30_000, 400_000)
        add(kind=ReceiptKind.MEDICAL_INPATIENT, insured_number=member, service_month=service,
            institution_code=_institution(rng, code, 1), copay_yen=copay,
            high_cost_benefit_yen=max(0, copay - HIGH_COST_LIMIT),
            meals_and_room_yen=MEAL_YEN * 3 * rng.randint(1, 30))
    if rng.random() < RATE_DENTAL:
        inpatient = rng.randrange(DENTAL_INPATIENT_SHARE) == 0
        add(kind=ReceiptKind.DENTAL_INPATIENT if inpatient else ReceiptKind.DENTAL_OUTPATIENT,
            insured_number=member, service_month=service,
            institution_code=_institution(rng, code, 3), copay_yen=_yen(rng, 1_000, 40_000),
            high_cost_benefit_yen=0, meals_and_room_yen=0)


def population_receipts(population: Population, last: date,
                        seed: int = 0) -> dict[str, list[ReceiptRecord]]:
    """Every medical and care insurer's receipts of the population (not the Japan Pension
    Service's: it holds none), service months up to `last`, by insurer code."""
    stores = members_from_filings(population.filings)
    found = {code: receipts_for(code, periods, last, seed)
             for code, periods in sorted(stores.items())}
    return {code: records for code, records in found.items() if records}
