"""Helpers of the 合算 tests on the real stack: every person's medical and care links as the
relay holds them (numbers opened), and receipts as the insurers' systems send them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schemas.common import InsuredNumber
from schemas.receipts import ReceiptKind, ReceiptRecord
from schemas.secret import SecretNumber
from tests.integration.exchange_env import opened_links
from tests.integration.relay_env import RelayEnv

CLINIC = "1310000001"


@dataclass(frozen=True)
class Link:
    relay_id: str
    scheme: str
    insurer: str
    number: str
    valid_from: date
    valid_to: date | None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


async def links_of(relay: RelayEnv) -> dict[str, list[Link]]:
    """Every person's medical and care links as the relay holds them, numbers opened."""
    out: dict[str, list[Link]] = {}
    for r, number in await opened_links(relay, "l.scheme IN ('medical', 'long_term_care')"):
        out.setdefault(r["relay_id"], []).append(Link(
            r["relay_id"], r["scheme"], r["insurer_number"], number, r["valid_from"],
            r["valid_to"]))
    return out


def insured(number: str) -> InsuredNumber:
    symbol, no, branch = number.split("|")
    return InsuredNumber(symbol=SecretNumber(symbol) if symbol else None,
                         number=SecretNumber(no), branch=SecretNumber(branch) if branch else None)


def inpatient(rid: str, code: str, number: str, month: str, copay: int) -> ReceiptRecord:
    return ReceiptRecord(receipt_id=rid, insurer_number=code, kind=ReceiptKind.MEDICAL_INPATIENT,
                         insured_number=insured(number), service_month=month,
                         institution_code=CLINIC, copay_yen=copay, high_cost_benefit_yen=0,
                         meals_and_room_yen=4_590)


def care(rid: str, code: str, number: str, month: str, amount: int) -> ReceiptRecord:
    return ReceiptRecord(receipt_id=rid, insurer_number=code, kind=ReceiptKind.CARE,
                         care_insured_number=number, service_month=month, self_pay_yen=amount)
