"""Loading a decoded receipt into the insurer's own store, and reading a member's standing
receipts back as the 合算 calculation's inputs (`reconciliation.calculation`).

A receipt is stored once under its id: the same id with the same content again is a duplicate
(counted, nothing changes), with other content a refusal. A correction replaces the standing
receipt of its chain; the replaced row stays, marked, and is never read again. Every refusal is
a reason code with the field it is about, never a value."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg

from insurer_workers.member_reading import CARE, MEDICAL, canonical_number
from insurer_workers.member_store import lookup, store_name
from insurer_workers.members import MemberPeriod
from reconciliation.calculation.inputs import CareSelfPay, Month, Period, Receipt
from reconciliation.calculation.inputs import ReceiptKind as CalculationKind
from schemas import encode
from schemas.receipts import ReceiptKind, ReceiptRecord

STORED, CORRECTED, DUPLICATE = "stored", "corrected", "duplicate"


REFUSAL_CODES = ("not_this_insurer", "month_after_relay_date", "conflicting_duplicate",
                 "unknown_member", "duplicate_care_month", "unknown_corrected_receipt",
                 "corrects_a_correction", "correction_of_another_kind",
                 "correction_of_another_member")
"""Every code a receipt is refused with (the worker's metrics count by these alone)."""


@dataclass(frozen=True)
class Refused:
    """Why a receipt is not loaded: a reason code, the field and a message without values."""

    code: str
    field: str | None
    message: str


def member_number(record: ReceiptRecord) -> str:
    """The member's number as the store keys it (`canonical_number`)."""
    return canonical_number(insured_number=record.insured_number,
                            care_insured_number=record.care_insured_number)


def service_month(record: ReceiptRecord) -> date:
    year, month = record.service_month.split("-")
    return date(int(year), int(month), 1)


def _month_end(first: date) -> date:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def _table(record: ReceiptRecord) -> str:
    return "care_self_pay" if record.kind is ReceiptKind.CARE else "receipts"


async def load(conn: asyncpg.Connection, code: str, record: ReceiptRecord,
               relay_date: date) -> str | Refused:
    """Judge and store `record` (the caller holds the transaction); what happened, or why not.
    `relay_date` is the relay clock's date: no service month may come after it."""
    name, table = store_name(code), _table(record)
    if record.insurer_number != code:
        return Refused("not_this_insurer", "insurer_number", "the receipt is another insurer's")
    month = service_month(record)
    if month > relay_date:
        return Refused("month_after_relay_date", "service_month",
                       "the service month lies after the relay clock's date")
    digest = hashlib.sha256(encode(record)).digest()
    kept = await _stored(conn, name, record.receipt_id)
    if kept is not None:
        if kept["content_hash"] == digest:
            return DUPLICATE
        return Refused("conflicting_duplicate", "receipt_id",
                       "a receipt with this id and other content is stored; send a correction")
    number = member_number(record)
    scheme = CARE if record.kind is ReceiptKind.CARE else MEDICAL
    periods = await lookup(conn, code, number, period=(month, _month_end(month)))
    if not any(p.scheme == scheme for p in periods):
        return Refused("unknown_member", "insured_number" if scheme == MEDICAL else
                       "care_insured_number", "not a member of this insurer in that month")
    if record.corrects is not None:
        refused = await _correctable(conn, name, record, number)
        if refused is not None:
            return refused
    if record.kind is ReceiptKind.CARE:
        taken = await conn.fetchval(
            f"""SELECT true FROM {name}.care_self_pay WHERE member_number = $1
                AND service_month = $2 AND superseded_by IS NULL AND chain <> $3""",
            number, month, record.chain)
        if taken:
            return Refused("duplicate_care_month", "service_month", "the member's care "
                           "self-pay for that month is stored under another id; correct it")
    if record.corrects is not None:
        await conn.execute(f"""UPDATE {name}.{table} SET superseded_by = $1
                               WHERE chain = $2 AND superseded_by IS NULL""",
                           record.receipt_id, record.chain)
    await _insert(conn, name, record, number, month, digest)
    return STORED if record.corrects is None else CORRECTED


async def _stored(conn: asyncpg.Connection, name: str,
                  receipt_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT 'receipts' AS tab, chain, member_number, content_hash FROM {name}.receipts
            WHERE receipt_id = $1 UNION ALL
            SELECT 'care_self_pay', chain, member_number, content_hash FROM {name}.care_self_pay
            WHERE receipt_id = $1""", receipt_id)


async def _correctable(conn: asyncpg.Connection, name: str, record: ReceiptRecord,
                       number: str) -> Refused | None:
    original = await _stored(conn, name, record.corrects or "")
    if original is None:
        return Refused("unknown_corrected_receipt", "corrects",
                       "no receipt with this id is stored")
    if original["chain"] != record.corrects:
        return Refused("corrects_a_correction", "corrects",
                       "name the receipt first sent, not a correction of it")
    if original["tab"] != _table(record):
        return Refused("correction_of_another_kind", "kind",
                       "a medical receipt is corrected by a medical one, care by care")
    if original["member_number"] != number:
        return Refused("correction_of_another_member", "insured_number",
                       "a correction is about the same member")
    return None


async def _insert(conn: asyncpg.Connection, name: str, record: ReceiptRecord, number: str,
                  month: date, digest: bytes) -> None:
    if record.kind is ReceiptKind.CARE:
        await conn.execute(
            f"""INSERT INTO {name}.care_self_pay (receipt_id, chain, member_number,
                service_month, self_pay_yen, preventive, content_hash, loaded_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now())""",
            record.receipt_id, record.chain, number, month, record.self_pay_yen,
            record.preventive, digest)
        return
    await conn.execute(
        f"""INSERT INTO {name}.receipts (receipt_id, chain, kind, member_number, service_month,
            institution, prescribed_by, prescribed_by_dentist, copay_yen,
            high_cost_benefit_yen, meals_and_room_yen, content_hash, loaded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())""",
        record.receipt_id, record.chain, record.kind.value, number, month,
        record.institution_code, record.prescribed_by, record.prescribed_by_dentist,
        record.copay_yen, record.high_cost_benefit_yen, record.meals_and_room_yen, digest)


async def household_inputs(conn: asyncpg.Connection, code: str, number: str, member_key: str,
                           period: Period) -> tuple[tuple[Receipt, ...], tuple[CareSelfPay, ...]]:
    """The member's standing receipts and care self-pay of the service months of `period` at
    this insurer, as the calculation's inputs under `member_key` (an opaque key the caller
    gives: the number stays in this store)."""
    name = store_name(code)
    first, last = period.first_month.first_day, period.last_month.first_day
    medical = await conn.fetch(
        f"""SELECT * FROM {name}.receipts WHERE member_number = $1 AND superseded_by IS NULL
            AND service_month BETWEEN $2 AND $3 ORDER BY service_month, receipt_id""",
        number, first, last)
    care = await conn.fetch(
        f"""SELECT * FROM {name}.care_self_pay WHERE member_number = $1
            AND superseded_by IS NULL AND service_month BETWEEN $2 AND $3
            ORDER BY service_month, receipt_id""", number, first, last)
    return (tuple(Receipt(
        receipt_id=r["receipt_id"], insurer_number=code, member_key=member_key,
        month=_month(r["service_month"]), institution=r["institution"],
        kind=CalculationKind(r["kind"]), copay=r["copay_yen"],
        high_cost_benefit=r["high_cost_benefit_yen"], meals_and_room=r["meals_and_room_yen"],
        prescribed_by=r["prescribed_by"], prescribed_by_dentist=r["prescribed_by_dentist"])
        for r in medical),
        tuple(CareSelfPay(insurer_number=code, member_key=member_key,
                          month=_month(r["service_month"]), self_pay=r["self_pay_yen"],
                          preventive=r["preventive"]) for r in care))


def _month(day: date) -> Month:
    return Month(day.year, day.month)


def months_covered(periods: list[MemberPeriod], scheme: str,
                   span: tuple[date, date]) -> list[date]:
    """The first days of the service months within `span` that the member's `scheme` periods
    at this insurer touch, each once, in order."""
    months: set[date] = set()
    for p in periods:
        if p.scheme != scheme:
            continue
        day = max(p.valid_from, span[0]).replace(day=1)
        last = min(p.valid_to - timedelta(days=1) if p.valid_to else span[1], span[1])
        while day <= last:
            months.add(day)
            day = (day + timedelta(days=32)).replace(day=1)
    return sorted(months)


async def answer_receipts(conn: asyncpg.Connection, code: str, number: str, scheme: str,
                          periods: list[MemberPeriod],
                          span: tuple[date, date]) -> list[dict[str, Any]]:
    """The member's standing receipts (medical scheme) or months of care self-pay (care) of
    the service months within `span` that this insurer's own cover of the member touches, as
    the 合算 answer carries them (docs/reconciliation.md): whole yen, month `YYYY-MM`."""
    name, months = store_name(code), months_covered(periods, scheme, span)
    if not months:
        return []
    if scheme == CARE:
        rows = await conn.fetch(
            f"""SELECT service_month, self_pay_yen, preventive FROM {name}.care_self_pay
                WHERE member_number = $1 AND superseded_by IS NULL
                AND service_month = ANY($2::date[]) ORDER BY service_month, receipt_id""",
            number, months)
        return [{"month": r["service_month"].strftime("%Y-%m"),
                 "self_pay_yen": r["self_pay_yen"], "preventive": r["preventive"]} for r in rows]
    rows = await conn.fetch(
        f"""SELECT * FROM {name}.receipts WHERE member_number = $1 AND superseded_by IS NULL
            AND service_month = ANY($2::date[]) ORDER BY service_month, receipt_id""",
        number, months)
    return [{"receipt_id": r["receipt_id"], "month": r["service_month"].strftime("%Y-%m"),
             "institution": r["institution"], "kind": r["kind"], "copay_yen": r["copay_yen"],
             "high_cost_benefit_yen": r["high_cost_benefit_yen"],
             "meals_and_room_yen": r["meals_and_room_yen"], "prescribed_by": r["prescribed_by"],
             "prescribed_by_dentist": r["prescribed_by_dentist"]} for r in rows]
