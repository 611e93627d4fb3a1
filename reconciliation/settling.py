"""From a providing insurer's opened 合算 answer to the settlements the base-date insurer owes:
the answer read hostilely, each payer's share split per member, and the ledger's next entry.

Pure: the standard library and `reconciliation.calculation` only (tests/unit/test_architecture.py).
A settlement is never edited: a changed total is a new settlement of the difference (which may
be negative) naming the last one it corrects, under an id derived from what it settles, so the
same inputs give the same ids whatever the batches, the order or the restarts."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid5

from reconciliation.calculation import (
    Calculation,
    CareSelfPay,
    InputError,
    Month,
    Receipt,
    ReceiptKind,
)
from reconciliation.calculation.apportion import Payer, Side

MAX_ENTRIES = 5_000
"""The most receipts (or months of care) one answer may carry."""
MAX_YEN = 100_000_000
"""The largest amount one receipt or month may carry (as the receipts contract)."""
MAX_TEXT = 64
"""The longest receipt id or institution code taken."""
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
"""`YYYY-MM` in ASCII digits only (`\\d` would take other scripts' digits too)."""
MAX_SETTLED = 100_000_000
"""The largest total one line of the ledger may settle: the settlement contract's bound
(`schemas.settlements.SettlementAmount`), past which nothing could be sealed and sent."""
SETTLEMENT_NAMESPACE = UUID("0c0e3a7e-2f55-5d1c-9a57-6b3f1e8d4a21")
MEDICAL_FIELDS = frozenset({"receipt_id", "month", "institution", "kind", "copay_yen",
                            "high_cost_benefit_yen", "meals_and_room_yen", "prescribed_by",
                            "prescribed_by_dentist"})
CARE_FIELDS = frozenset({"month", "self_pay_yen", "preventive"})


@dataclass(frozen=True)
class Unreadable:
    """Why an answer is not taken: a stable reason code, never a value from it."""

    reason: str


@dataclass(frozen=True)
class Answer:
    """What one provider's answer gives the calculation about one member."""

    covered: bool
    receipts: tuple[Receipt, ...] = ()
    care: tuple[CareSelfPay, ...] = ()


def read_answer(body: object, *, provider: str, member_key: str,
                scheme: str) -> Answer | Unreadable:
    """A provider's opened answer for the 合算 (`scheme` medical: receipts; long_term_care:
    months of care self-pay) as the calculation's inputs under `member_key`, or why not.
    Receipt ids are given the provider's code in front, so two insurers' ids never meet."""
    if not isinstance(body, dict):
        return Unreadable("not_an_object")
    status = body.get("status")
    if status == "not_covered":
        return Answer(covered=False)
    if status != "covered":
        return Unreadable("provider_refused" if status == "refused" else "unknown_status")
    if body.get("too_large") is True:
        return Unreadable("answer_too_large")
    field = "receipts" if scheme == "medical" else "care" if scheme == "long_term_care" else None
    if field is None:
        return Unreadable("unknown_scheme")
    entries = body.get(field)
    if not isinstance(entries, list):
        return Unreadable(f"no_{field}")
    if len(entries) > MAX_ENTRIES:
        return Unreadable("too_many_entries")
    try:
        if field == "receipts":
            return Answer(covered=True, receipts=tuple(
                _receipt(e, provider, member_key) for e in entries))
        return Answer(covered=True, care=tuple(_care(e, provider, member_key) for e in entries))
    except InputError as refused:
        return Unreadable(f"{refused.reason}:{refused.field}")


def _fields(entry: object, expected: frozenset[str], what: str) -> dict[str, object]:
    if not isinstance(entry, dict) or set(entry) != expected:
        raise InputError("unexpected_fields", what)
    return entry


def _month(value: object) -> Month:
    match = MONTH.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputError("not_a_month", "month")
    return Month(int(match.group(1)), int(match.group(2)))


def _short(value: object, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT or not value.isprintable():
        raise InputError("malformed", field)
    return value


def _amount(value: object, field: str) -> int:
    if type(value) is not int:
        raise InputError("not_whole_yen", field)
    if not 0 <= value <= MAX_YEN:
        raise InputError("negative_amount" if value < 0 else "too_large", field)
    return value


def _receipt(entry: object, provider: str, member_key: str) -> Receipt:
    e = _fields(entry, MEDICAL_FIELDS, "receipt")
    try:
        kind = ReceiptKind(e["kind"]) if isinstance(e["kind"], str) else None
    except ValueError:
        kind = None
    if kind is None:
        raise InputError("unknown_kind", "kind")
    prescriber = e["prescribed_by"]
    return Receipt(
        receipt_id=f"{provider}:{_short(e['receipt_id'], 'receipt_id')}",
        insurer_number=provider, member_key=member_key, month=_month(e["month"]),
        institution=_short(e["institution"], "institution"), kind=kind,
        copay=_amount(e["copay_yen"], "copay_yen"),
        high_cost_benefit=_amount(e["high_cost_benefit_yen"], "high_cost_benefit_yen"),
        meals_and_room=_amount(e["meals_and_room_yen"], "meals_and_room_yen"),
        prescribed_by=None if prescriber is None else _short(prescriber, "prescribed_by"),
        prescribed_by_dentist=e["prescribed_by_dentist"])  # type: ignore[arg-type]


def _care(entry: object, provider: str, member_key: str) -> CareSelfPay:
    e = _fields(entry, CARE_FIELDS, "care")
    return CareSelfPay(insurer_number=provider, member_key=member_key, month=_month(e["month"]),
                       self_pay=_amount(e["self_pay_yen"], "self_pay_yen"),
                       preventive=e["preventive"])  # type: ignore[arg-type]


@dataclass(frozen=True, order=True)
class TargetKey:
    """What one line of the ledger settles: a payer's benefit for one member of a period."""

    member_key: str
    side: Side
    payer: str
    benefit: str


def member_targets(calculation: Calculation) -> dict[TargetKey, int]:
    """Each payer's share split over the household's members by their counted self-pay under
    that payer, the annual outpatient benefit taken off as in the calculation (largest
    remainders, ties to the lower key), adding up to the share exactly;
    a share of 0 gives each member who paid there a target of 0 (what was settled before is
    taken back)."""
    weights: dict[Payer, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in calculation.receipts:
        if r.counted:
            weights[Payer(Side.MEDICAL, r.insurer_number)][r.member_key] += r.self_pay
    for c in calculation.care:
        if c.counted:
            weights[Payer(Side.CARE, c.entry.insurer_number)][c.entry.member_key] += \
                c.entry.self_pay
    for b in calculation.outpatient_benefits:  # never more than the member paid there
        weights[Payer(Side.MEDICAL, b.insurer_number)][b.member_key] -= b.amount
    targets: dict[TargetKey, int] = {}
    for share in calculation.shares:
        mine = dict(weights.get(share.payer, {}))
        if not mine or not sum(mine.values()):
            mine = {min(m.key for m in calculation.members if m.in_household): 1}
        for key, amount in split(share.amount, mine).items():
            targets[TargetKey(key, share.payer.side, share.payer.insurer_number,
                              share.benefit)] = amount
    return targets


def split(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`amount` in whole yen over non-negative integer `weights` by largest remainders (ties
    to the lower key); all of it to the lowest key when every weight is 0."""
    total = sum(weights.values())
    if total == 0:
        return {key: amount if key == min(weights) else 0 for key in weights}
    floors = {k: amount * w // total for k, w in weights.items()}
    left = amount - sum(floors.values())
    for key in sorted(weights, key=lambda k: (-(amount * weights[k] % total), k))[:left]:
        floors[key] += 1
    return floors


@dataclass(frozen=True)
class Made:
    """A settlement already in the ledger: its id, the one it corrects, its amount."""

    settlement_id: UUID
    corrects: UUID | None
    amount: int


@dataclass(frozen=True)
class Settlement:
    """A new line of the ledger: `amount` (negative for a reduction) brings the settled total
    of its key to `total`; `corrects` is the last settlement of the key, None for the first."""

    settlement_id: UUID
    key: TargetKey
    amount: int
    total: int
    corrects: UUID | None


class LedgerBroken(ValueError):
    """The settlements of one key do not form one chain from a first settlement."""


def chain_of(made: Iterable[Made]) -> list[Made]:
    """The key's chain in order: its first settlement, then the one correcting it, and so on.
    A settlement that corrects one outside the chain is not in it (the relay routes a delta
    only after the last settlement it routed in that chain, so it refuses one correcting a
    settlement it refused); LedgerBroken for two first settlements, or two correcting one."""
    made = list(made)
    firsts = [m for m in made if m.corrects is None]
    if len(firsts) > 1:
        raise LedgerBroken("the settlements of a key have two first ones")
    after: dict[UUID, Made] = {}
    for m in made:
        if m.corrects is not None:
            if m.corrects in after:
                raise LedgerBroken("two settlements of a key correct the same one")
            after[m.corrects] = m
    chain = firsts[:1]  # no circle can follow a first: each settlement is corrected once
    while chain and chain[-1].settlement_id in after:
        chain.append(after[chain[-1].settlement_id])
    return chain


def settlement_id(sender: str, period: int, key: TargetKey, previous: UUID | None,
                  total: int) -> UUID:
    return uuid5(SETTLEMENT_NAMESPACE, "|".join((
        sender, str(period), key.member_key, key.side.value, key.payer, key.benefit,
        str(previous) if previous else "none", str(total))))


def next_settlement(sender: str, period: int, key: TargetKey, made: Sequence[Made],
                    target: int) -> Settlement | None:
    """The settlement bringing the total of the key's chain (`chain_of`) to `target`, or None
    when it is there already (so replaying the same inputs adds nothing)."""
    if type(target) is not int or target < 0:
        raise InputError("negative_amount", "target")
    if target > MAX_SETTLED:
        raise InputError("too_large", "target")
    chain = chain_of(made)
    settled = sum(m.amount for m in chain)
    if settled == target:
        return None
    previous = chain[-1].settlement_id if chain else None
    return Settlement(settlement_id=settlement_id(sender, period, key, previous, target),
                      key=key, amount=target - settled, total=target, corrects=previous)
