"""Which amounts count (DOMAIN §6): the member's age band in each service month, medical receipts
judged per receipt (the 21,000-yen rule under 70, a pharmacy's receipt joined to the prescribing
institution's outpatient receipt), care self-pay, and members outside the household set aside.

The band is the month's: 70 and over from the first day of the month after the month in which 70
is reached (age is reached the day before the birthday; born on the 1st, the birthday month
itself), DOMAIN §5b. A member turning 70 in the period has months in both bands."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from reconciliation.calculation.inputs import (
    Band,
    CareSelfPay,
    Member,
    Month,
    Receipt,
    ReceiptKind,
)

RECEIPT_THRESHOLD = 21_000
"""Under 70, a receipt counts only when its own copay is at least this (DOMAIN §6)."""
COUNTED_70_PLUS = "70_plus_every_receipt_counts"
COUNTED_AT_LEAST_21000 = "under_70_copay_at_least_21000"
EXCLUDED_BELOW_21000 = "under_70_copay_below_21000"
COUNTED_CARE = "care_self_pay_counts"
EXCLUDED_OUTSIDE_HOUSEHOLD = "not_in_household_on_base_date"


def seventy_band_from(birth: date) -> date:
    """The first day of the 70–74 band: the month after the month in which 70 is reached."""
    try:
        birthday = birth.replace(year=birth.year + 70)
    except ValueError:  # 29 February: the birthday is 1 March in a common year
        birthday = date(birth.year + 70, 3, 1)
    reached = birthday - timedelta(days=1)
    return date(reached.year + reached.month // 12, reached.month % 12 + 1, 1)


def band_of(birth: date, month: Month) -> Band:
    return Band.SEVENTY_PLUS if month.first_day >= seventy_band_from(birth) else Band.UNDER_70


@dataclass(frozen=True, kw_only=True)
class JudgedReceipt:
    """One receipt as judged: a medical or dental receipt of one institution, month and setting,
    with any pharmacy's receipts of its prescriptions joined to it (`receipt_ids`)."""

    member_key: str
    insurer_number: str
    month: Month
    institution: str
    kind: ReceiptKind
    receipt_ids: tuple[str, ...]
    copay: int
    high_cost_benefit: int
    meals_and_room: int
    band: Band
    counted: bool
    why: str

    @property
    def self_pay(self) -> int:
        return self.copay - self.high_cost_benefit

    @property
    def with_pharmacy(self) -> bool:
        return len(self.receipt_ids) > 1 or self.kind is ReceiptKind.PHARMACY


@dataclass(frozen=True, kw_only=True)
class JudgedCare:
    entry: CareSelfPay
    band: Band
    counted: bool
    why: str


def _unit(receipt: Receipt) -> tuple[str, str, Month, str, ReceiptKind]:
    """Where a receipt is judged: a pharmacy's with its prescriber's outpatient receipt."""
    institution, kind = receipt.institution, receipt.kind
    if kind is ReceiptKind.PHARMACY:
        institution = receipt.prescribed_by or ""
        kind = (ReceiptKind.DENTAL_OUTPATIENT if receipt.prescribed_by_dentist
                else ReceiptKind.MEDICAL_OUTPATIENT)
    return (receipt.insurer_number, receipt.member_key, receipt.month, institution, kind)


def judge_receipts(receipts: Iterable[Receipt],
                   members: Mapping[str, Member]) -> tuple[JudgedReceipt, ...]:
    """Every judging unit once, in a fixed order (whatever the order of the receipts)."""
    units: dict[tuple[str, str, Month, str, ReceiptKind], list[Receipt]] = defaultdict(list)
    for receipt in receipts:
        units[_unit(receipt)].append(receipt)
    judged = [_judge(unit, parts, members[unit[1]]) for unit, parts in units.items()]
    return tuple(sorted(judged, key=lambda j: (j.member_key, j.month, j.insurer_number,
                                               j.institution, j.kind)))


def _judge(unit: tuple[str, str, Month, str, ReceiptKind], parts: list[Receipt],
           member: Member) -> JudgedReceipt:
    insurer, key, month, institution, kind = unit
    copay = sum(r.copay for r in parts)
    band = band_of(member.birth_date, month)
    if not member.in_household:
        counted, why = False, EXCLUDED_OUTSIDE_HOUSEHOLD
    elif band is Band.SEVENTY_PLUS:
        counted, why = True, COUNTED_70_PLUS
    elif copay >= RECEIPT_THRESHOLD:
        counted, why = True, COUNTED_AT_LEAST_21000
    else:
        counted, why = False, EXCLUDED_BELOW_21000
    only_pharmacy = all(r.kind is ReceiptKind.PHARMACY for r in parts)
    return JudgedReceipt(
        member_key=key, insurer_number=insurer, month=month, institution=institution,
        kind=ReceiptKind.PHARMACY if only_pharmacy else kind,
        receipt_ids=tuple(sorted(r.receipt_id for r in parts)), copay=copay,
        high_cost_benefit=sum(r.high_cost_benefit for r in parts),
        meals_and_room=sum(r.meals_and_room for r in parts), band=band, counted=counted,
        why=why)


def judge_care(care: Iterable[CareSelfPay],
               members: Mapping[str, Member]) -> tuple[JudgedCare, ...]:
    judged = []
    for entry in care:
        member = members[entry.member_key]
        band = band_of(member.birth_date, entry.month)
        why = COUNTED_CARE if member.in_household else EXCLUDED_OUTSIDE_HOUSEHOLD
        judged.append(JudgedCare(entry=entry, band=band, counted=member.in_household, why=why))
    return tuple(sorted(judged, key=lambda j: (j.entry.member_key, j.entry.month,
                                               j.entry.insurer_number)))
