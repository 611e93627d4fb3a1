"""Helpers of the 合算 tests on the real stack: every person's medical and care links as the
relay holds them (numbers opened), and receipts as the insurers' systems send them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from reconciliation.calculation import Period
from schemas.common import InsuredNumber
from schemas.receipts import ReceiptKind, ReceiptRecord
from schemas.secret import SecretNumber
from tests.integration.exchange_env import opened_links
from tests.integration.relay_env import RelayEnv

CLINIC = "1310000001"
PERIOD = Period(2026)


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


def settling_receipts(links: dict[str, list[Link]]) -> list[ReceiptRecord]:
    """For every person with a medical and another care insurer in June 2026 and the medical
    one still on 31 July: a large inpatient receipt at the medical insurer and care self-pay at
    the care insurer, so that each such household settles a share to both."""
    june, base = date(2026, 6, 15), PERIOD.last_day
    found: list[ReceiptRecord] = []
    for n, (_, ls) in enumerate(sorted(links.items())):
        medical = [lk for lk in ls if lk.scheme == "medical" and lk.covers(june)
                   and lk.covers(base)]
        cared = [lk for lk in ls if lk.scheme == "long_term_care" and lk.covers(june)
                 and lk.insurer not in {m.insurer for m in medical}]
        if medical and cared:
            found += [inpatient(f"PROC-M-{n}", medical[0].insurer, medical[0].number,
                                "2026-06", 900_000 + 1_013 * n),
                      care(f"PROC-C-{n}", cared[0].insurer, cared[0].number, "2026-06",
                           400_000 + 977 * n)]
    return found


def routine_receipts(links: dict[str, list[Link]], clinics: int) -> list[ReceiptRecord]:
    """A month's outpatient receipt from each of `clinics` clinics for every person on every
    month of the period their medical link covers (the 15th): the bulk of what an insurer's
    store holds, mostly under the 21,000 yen a receipt of someone under 70 must reach."""
    found: list[ReceiptRecord] = []
    months = [date(PERIOD.year - 1, 8, 15) + timedelta(days=31 * k) for k in range(12)]
    for n, (_, ls) in enumerate(sorted(links.items())):
        for month in (m.replace(day=15) for m in months):
            for lk in ls:
                if lk.scheme == "medical" and lk.covers(month):
                    found += [ReceiptRecord(
                        receipt_id=f"ROUTINE-{n}-{month:%Y%m}-{k}", insurer_number=lk.insurer,
                        kind=ReceiptKind.MEDICAL_OUTPATIENT, insured_number=insured(lk.number),
                        service_month=f"{month:%Y-%m}", institution_code=f"13200000{k:02d}",
                        copay_yen=1_000 + 37 * ((n + k) % 50), high_cost_benefit_yen=0,
                        meals_and_room_yen=0) for k in range(clinics)]
    return found


def _spawn(relay: RelayEnv, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", *args],
                            env=relay.cfg.child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@asynccontextmanager
async def relay_running(relay: RelayEnv, codes: list[str],
                        start: datetime) -> AsyncIterator[None]:
    """The router, the publisher and every insurer's worker running, the relay clock ticking
    20 seconds of relay time about every second from `start` (its date in Japan kept)."""
    procs = [_spawn(relay, ["relay-exchange"]), _spawn(relay, ["outbox-publisher"]),
             _spawn(relay, ["insurer-worker", *[a for c in codes for a in ("--insurer", c)]])]

    async def ticking() -> None:
        at = start
        while True:
            await relay.tick(at)
            at += timedelta(seconds=20)
            await asyncio.sleep(1)

    ticker = asyncio.create_task(ticking())
    try:
        yield
    finally:
        ticker.cancel()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
