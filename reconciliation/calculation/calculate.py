"""One household's 合算 for one period (DOMAIN §6): the counted self-pay of each side, the two
stages against their thresholds, the 500-yen rule and the shares of every insurer.

Stages. Stage 1 sets the 70+ amounts (every month a member spent in the 70–74 band, or 75+)
against the 70–74 or 75+ threshold; what remains of them (the amounts less the stage-1 excess,
that is at most the threshold) is added to the under-70 amounts and set against the under-70
threshold in stage 2. A household of one band is the same formula with one side of it empty:
with no 70+ amounts stage 1 is nothing, and with no under-70 amounts stage 2 finds nothing over
its threshold, because no 70+ threshold exceeds the under-70 one.

The 500-yen rule and the zero side apply to the household's total, once: the law pays the whole
excess when the combined payment is more than 500 yen, so two stages of 300 yen pay 600 yen.

Apportionment is per stage, over the self-pay that entered it: stage 1 over each insurer's 70+
self-pay; stage 2 over each insurer's under-70 self-pay plus its part of the 70+ amounts carried
in (its 70+ self-pay × carried ÷ all 70+ self-pay, exact, as integer weights). An insurer's share
is the sum of its stage shares.

低所得Ⅰ with several care users (DOMAIN §6: "190,000 (care side 310,000 when several care
users)"), read as: the medical insurers' shares come from the calculation at 190,000; the care
insurers' shares from the same calculation with 310,000 as the 70+ threshold. Several care users
means two or more household members with care self-pay in months of the 70+ band."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from reconciliation.calculation.apportion import Payer, Side, apportion
from reconciliation.calculation.inputs import (
    OUTPATIENT,
    Band,
    Household,
    InputError,
    OutpatientAnnualBenefit,
    Period,
)
from reconciliation.calculation.receipts import (
    JudgedCare,
    JudgedReceipt,
    judge_care,
    judge_receipts,
)
from reconciliation.calculation.thresholds import (
    LOW_I_SEVERAL_CARE_USERS,
    TABLE,
    IncomeCategory,
)
from reconciliation.calculation.validation import checked

FLOOR = 500
"""The excess is paid only when it is more than this (DOMAIN §6)."""
PAID, NO_EXCESS, NOT_OVER_FLOOR = "paid", "no_excess", "excess_not_over_500"
MEDICAL_SIDE_ZERO, CARE_SIDE_ZERO = "medical_side_zero", "care_side_zero"
BENEFIT = {Side.MEDICAL: "高額介護合算療養費", Side.CARE: "高額医療合算介護(予防)サービス費"}


@dataclass(frozen=True, kw_only=True)
class MemberAmounts:
    """A member's counted self-pay by side and band; the outpatient benefit comes off the 70+
    medical amount. `excluded_self_pay` is what receipts not counted would have added."""

    key: str
    in_household: bool
    medical_under_70: int
    medical_70_plus: int
    outpatient_benefit: int
    care_under_70: int
    care_70_plus: int
    excluded_self_pay: int

    @property
    def medical(self) -> int:
        return self.medical_under_70 + self.medical_70_plus - self.outpatient_benefit

    @property
    def care(self) -> int:
        return self.care_under_70 + self.care_70_plus


@dataclass(frozen=True, kw_only=True)
class Stage:
    number: int
    threshold: int
    carried: int
    """The 70+ amounts carried in from stage 1 (stage 2 only)."""
    added: int
    """The amounts of this stage's own band: 70+ in stage 1, under 70 in stage 2."""
    excess: int
    weights: tuple[tuple[Payer, int], ...]
    shares: tuple[tuple[Payer, int], ...]

    @property
    def amounts(self) -> int:
        return self.carried + self.added


@dataclass(frozen=True, kw_only=True)
class Run:
    """The stages at one pair of thresholds, the outcome and what is paid."""

    threshold_70_plus: int
    threshold_under_70: int
    stages: tuple[Stage, Stage]
    excess: int
    outcome: str
    payment: int


@dataclass(frozen=True, kw_only=True)
class Share:
    payer: Payer
    benefit: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class Calculation:
    period: Period
    base_date: date
    calculating_insurer: str
    income_category: IncomeCategory
    members: tuple[MemberAmounts, ...]
    receipts: tuple[JudgedReceipt, ...]
    care: tuple[JudgedCare, ...]
    medical_total: int
    care_total: int
    run: Run
    care_run: Run | None
    """The care side's run at 310,000 (低所得Ⅰ with several care users), else None."""
    shares: tuple[Share, ...]
    outpatient_benefits: tuple[OutpatientAnnualBenefit, ...] = ()
    """The annual outpatient benefits taken off the in-household members' 70+ self-pay."""

    @property
    def payment(self) -> int:
        return sum(share.amount for share in self.shares)


def calculating_insurer(household: Household) -> str:
    """The medical insurer on the base date: it calculates for the whole period (DOMAIN §6)."""
    return checked(household)[1].base_insurer


def calculate(household: Household) -> Calculation:
    members, head = checked(household)
    receipts = judge_receipts(household.receipts, members)
    care = judge_care(household.care, members)
    amounts = _member_amounts(household, receipts, care)
    by_band = _by_band(receipts, care, household)
    medical = sum(m.medical for m in amounts)
    care_total = sum(m.care for m in amounts)
    zero = MEDICAL_SIDE_ZERO if medical == 0 else CARE_SIDE_ZERO if care_total == 0 else None
    row = TABLE[head.income_category]
    run = _run(by_band, row.seventy_plus, row.under_70, zero)
    care_users = sum(1 for m in amounts if m.care_70_plus > 0)
    care_run = None
    if head.income_category is IncomeCategory.LOW_I and care_users >= 2:
        care_run = _run(by_band, LOW_I_SEVERAL_CARE_USERS, row.under_70, zero)
    return Calculation(
        period=household.period, base_date=head.base_date, calculating_insurer=head.base_insurer,
        income_category=head.income_category, members=amounts, receipts=receipts, care=care,
        medical_total=medical, care_total=care_total, run=run, care_run=care_run,
        shares=_shares(run, care_run),
        outpatient_benefits=tuple(b for b in household.outpatient_benefits
                                  if members[b.member_key].in_household))


def _member_amounts(household: Household, receipts: tuple[JudgedReceipt, ...],
                    care: tuple[JudgedCare, ...]) -> tuple[MemberAmounts, ...]:
    found = []
    for member in sorted(household.members, key=lambda m: m.key):
        mine = [r for r in receipts if r.member_key == member.key]
        benefit = sum(b.amount for b in household.outpatient_benefits
                      if b.member_key == member.key) if member.in_household else 0
        sums = defaultdict(int)
        for r in mine:
            sums[(Side.MEDICAL, r.band, r.counted)] += r.self_pay
        for c in care:
            if c.entry.member_key == member.key:
                sums[(Side.CARE, c.band, c.counted)] += c.entry.self_pay
        found.append(MemberAmounts(
            key=member.key, in_household=member.in_household,
            medical_under_70=sums[(Side.MEDICAL, Band.UNDER_70, True)],
            medical_70_plus=sums[(Side.MEDICAL, Band.SEVENTY_PLUS, True)],
            outpatient_benefit=benefit,
            care_under_70=sums[(Side.CARE, Band.UNDER_70, True)],
            care_70_plus=sums[(Side.CARE, Band.SEVENTY_PLUS, True)],
            excluded_self_pay=sum(r.self_pay for r in mine if not r.counted)
            + sum(c.entry.self_pay for c in care
                  if c.entry.member_key == member.key and not c.counted)))
    return tuple(found)


def _by_band(receipts: tuple[JudgedReceipt, ...], care: tuple[JudgedCare, ...],
             household: Household) -> dict[Band, dict[Payer, int]]:
    """Counted self-pay per band and payer, the outpatient benefit taken off first; a benefit
    larger than the member's 70+ outpatient self-pay at that insurer is refused."""
    found: dict[Band, dict[Payer, int]] = {Band.UNDER_70: defaultdict(int),
                                           Band.SEVENTY_PLUS: defaultdict(int)}
    outpatient = defaultdict(int)
    for r in receipts:
        if r.counted:
            found[r.band][Payer(Side.MEDICAL, r.insurer_number)] += r.self_pay
            if r.band is Band.SEVENTY_PLUS and r.kind in OUTPATIENT:
                outpatient[(r.member_key, r.insurer_number)] += r.self_pay
    for c in care:
        if c.counted:
            found[c.band][Payer(Side.CARE, c.entry.insurer_number)] += c.entry.self_pay
    inside = {m.key for m in household.members if m.in_household}
    for b in household.outpatient_benefits:
        if b.member_key not in inside:
            continue
        if b.amount > outpatient[(b.member_key, b.insurer_number)]:
            raise InputError("outpatient_benefit_exceeds_self_pay", "outpatient_benefits")
        found[Band.SEVENTY_PLUS][Payer(Side.MEDICAL, b.insurer_number)] -= b.amount
    return {band: _ordered(payers) for band, payers in found.items()}


def _run(by_band: dict[Band, dict[Payer, int]], t70: int, tu70: int, zero: str | None) -> Run:
    old, young = by_band[Band.SEVENTY_PLUS], by_band[Band.UNDER_70]
    a, b = sum(old.values()), sum(young.values())
    excess_1 = max(0, a - t70)
    carried = a - excess_1
    excess_2 = max(0, carried + b - tu70)
    weights_2 = defaultdict(int, {p: w * carried for p, w in old.items()} if a else {})
    for payer, amount in young.items():
        weights_2[payer] += amount * (a or 1)
    excess = excess_1 + excess_2
    outcome = zero or (NO_EXCESS if excess == 0 else PAID if excess > FLOOR else NOT_OVER_FLOOR)
    paid = outcome == PAID
    stages = (_stage(1, t70, 0, a, excess_1, old, paid),
              _stage(2, tu70, carried, b, excess_2, _ordered(weights_2), paid))
    return Run(threshold_70_plus=t70, threshold_under_70=tu70, stages=stages, excess=excess,
               outcome=outcome, payment=excess if paid else 0)


def _stage(number: int, threshold: int, carried: int, added: int, excess: int,
           weights: dict[Payer, int], paid: bool) -> Stage:
    shares = apportion(excess if paid else 0, weights)
    return Stage(number=number, threshold=threshold, carried=carried, added=added, excess=excess,
                 weights=tuple(weights.items()), shares=tuple(_ordered(shares).items()))


def _ordered(by_payer: dict[Payer, int]) -> dict[Payer, int]:
    return dict(sorted(by_payer.items(), key=lambda item: item[0].tie_order))


def _shares(run: Run, care_run: Run | None) -> tuple[Share, ...]:
    total: dict[Payer, int] = defaultdict(int)
    for payer_run, side in ((run, Side.MEDICAL), (care_run or run, Side.CARE)):
        for stage in payer_run.stages:
            for payer, amount in stage.shares:
                if payer.side is side:
                    total[payer] += amount
    return tuple(Share(payer=p, benefit=BENEFIT[p.side], amount=a)
                 for p, a in _ordered(total).items())
