"""The statement a household member reads (DOMAIN §4: the person's own reconciliation
statement): every amount that went in, every rule applied, the thresholds and the shares.

Japanese labels with English alongside, yen with thousands separators. The member's own receipts
are shown one by one; other members only as household totals, and nobody by key or number:
insurer and institution numbers are public and appear."""

from reconciliation.calculation.apportion import Side
from reconciliation.calculation.calculate import (
    CARE_SIDE_ZERO,
    FLOOR,
    MEDICAL_SIDE_ZERO,
    NO_EXCESS,
    NOT_OVER_FLOOR,
    PAID,
    Calculation,
    MemberAmounts,
    Run,
)
from reconciliation.calculation.inputs import Band, InputError, ReceiptKind
from reconciliation.calculation.receipts import (
    COUNTED_70_PLUS,
    COUNTED_AT_LEAST_21000,
    COUNTED_CARE,
    EXCLUDED_BELOW_21000,
    EXCLUDED_OUTSIDE_HOUSEHOLD,
    JudgedReceipt,
)

KIND = {
    ReceiptKind.MEDICAL_INPATIENT: "医科・入院 (medical, inpatient)",
    ReceiptKind.MEDICAL_OUTPATIENT: "医科・外来 (medical, outpatient)",
    ReceiptKind.DENTAL_INPATIENT: "歯科・入院 (dental, inpatient)",
    ReceiptKind.DENTAL_OUTPATIENT: "歯科・外来 (dental, outpatient)",
    ReceiptKind.PHARMACY: "調剤 (pharmacy)",
}
WHY = {
    COUNTED_70_PLUS: "計上: 70歳以上はすべてのレセプト (counted: aged 70+, every receipt counts)",
    COUNTED_AT_LEAST_21000: "計上: 70歳未満で21,000円以上 (counted: under 70, copay ≥ 21,000 yen)",
    EXCLUDED_BELOW_21000: "除外: 70歳未満で21,000円未満 (excluded: under 70, copay < 21,000 yen)",
    COUNTED_CARE: "計上 (counted)",
    EXCLUDED_OUTSIDE_HOUSEHOLD: "除外: 基準日に世帯員でない (excluded: not in the household on "
                                "the base date)",
}
OUTCOME = {
    PAID: f"超過額が{FLOOR}円を超えるため全額支給 (the excess is more than {FLOOR} yen: "
          "paid in full)",
    NO_EXCESS: "基準額を超えていないため支給なし (nothing over the threshold: nothing paid)",
    NOT_OVER_FLOOR: f"超過額が{FLOOR}円以下のため支給なし (the excess is {FLOOR} yen or less: "
                    "nothing paid)",
    MEDICAL_SIDE_ZERO: "医療の自己負担が0円のため支給なし (the medical side is 0: nothing paid)",
    CARE_SIDE_ZERO: "介護の自己負担が0円のため支給なし (the care side is 0: nothing paid)",
}
BAND = {Band.UNDER_70: "70歳未満 (under 70)", Band.SEVENTY_PLUS: "70歳以上 (70 and over)"}
SIDE = {Side.MEDICAL: "医療保険者 (medical insurer)", Side.CARE: "介護保険者 (care insurer)"}


def yen(amount: int) -> str:
    return f"{amount:,}円"


def statement(calculation: Calculation, member_key: str) -> str:
    """The statement for one member of the calculation's household, as lines of text."""
    mine = [m for m in calculation.members if m.key == member_key]
    if not mine:
        raise InputError("unknown_member", "member_key")
    lines = [
        "高額医療・高額介護合算 計算書 (combined high-cost medical and long-term care statement)",
        f"対象期間 (period): {calculation.period}",
        f"基準日 (base date): {calculation.base_date.isoformat()}",
        f"計算する保険者 (calculating insurer): {calculation.calculating_insurer}",
        f"所得区分 (income category): {calculation.income_category.value}",
        "",
        *_own(calculation, mine[0]),
        "",
        *_household(calculation, mine[0]),
        "",
        *_run_lines(calculation.run, "基準額による計算 (the calculation at the thresholds)"),
    ]
    if calculation.care_run is not None:
        lines += ["", "低所得Ⅰで介護サービス利用者が複数のため、介護側は70歳以上の基準額310,000円で"
                  "計算 (low income I with several care users: the care side is reckoned with "
                  "a 70+ threshold of 310,000 yen)",
                  *_run_lines(calculation.care_run, "介護側の計算 (the care side's calculation)")]
    lines += ["", f"支給額合計 (total paid): {yen(calculation.payment)}"]
    lines += [f"  {SIDE[s.payer.side]} {s.payer.insurer_number} {s.benefit}: {yen(s.amount)}"
              for s in calculation.shares]
    lines += ["", "按分 (apportionment): 各保険者の支給額 = 超過額 × その保険者での自己負担額 ÷ "
              "世帯の自己負担額合計、段階ごとに円未満切り捨て、残りの円は端数の大きい順"
              "(同じなら医療、保険者番号の小さい順) (each insurer pays excess × its self-pay ÷ the "
              "household's, per stage; whole yen by largest remainders, ties to medical, then the "
              "lower insurer number)"]
    return "\n".join(lines)


def _own(calculation: Calculation, member: MemberAmounts) -> list[str]:
    lines = ["あなたの医療のレセプト (your medical receipts):"]
    lines += [_receipt_line(r) for r in calculation.receipts if r.member_key == member.key]
    lines.append("あなたの介護の自己負担 (your care self-pay, after the monthly high-cost care "
                 "benefit):")
    for c in calculation.care:
        if c.entry.member_key == member.key:
            kind = "介護予防 (preventive care)" if c.entry.preventive else "介護 (care)"
            lines.append(f"  {c.entry.month} 介護保険者 (care insurer) {c.entry.insurer_number} "
                         f"{kind}, {BAND[c.band]}: {yen(c.entry.self_pay)} … {WHY[c.why]}")
    lines += [
        f"外来年間合算の控除 (annual outpatient benefit deducted): "
        f"{yen(member.outpatient_benefit)}",
        f"あなたの計上額 (your counted amounts): 医療 (medical) {yen(member.medical)}"
        f" [70歳未満 {yen(member.medical_under_70)}, 70歳以上 {yen(member.medical_70_plus)}"
        f" − {yen(member.outpatient_benefit)}], 介護 (care) {yen(member.care)}"
        f" [70歳未満 {yen(member.care_under_70)}, 70歳以上 {yen(member.care_70_plus)}]",
        f"計上しなかった自己負担 (self-pay not counted): {yen(member.excluded_self_pay)}",
    ]
    return lines


def _receipt_line(r: JudgedReceipt) -> str:
    joined = " (調剤を含む, pharmacy joined)" if r.with_pharmacy else ""
    meals = (f"; 食事・居住費 (meals and room, never counted) {yen(r.meals_and_room)}"
             if r.meals_and_room else "")
    return (f"  {r.month} 保険者 (insurer) {r.insurer_number} 医療機関 (institution) "
            f"{r.institution} {KIND[r.kind]}{joined}, {BAND[r.band]}: 一部負担金 (copay) "
            f"{yen(r.copay)} − 高額療養費 (monthly high-cost benefit) "
            f"{yen(r.high_cost_benefit)} = 自己負担額 (self-pay) {yen(r.self_pay)} … "
            f"{WHY[r.why]}{meals}")


def _household(calculation: Calculation, member: MemberAmounts) -> list[str]:
    others = [m for m in calculation.members if m.key != member.key and m.in_household]
    lines = []
    if others:
        lines.append(f"世帯のほかの方 {len(others)}人 (other household members): 医療 (medical) "
                     f"{yen(sum(m.medical for m in others))}, 介護 (care) "
                     f"{yen(sum(m.care for m in others))}")
    lines.append(f"世帯の合計 (household total): 医療 (medical) {yen(calculation.medical_total)},"
                 f" 介護 (care) {yen(calculation.care_total)}")
    return lines


def _run_lines(run: Run, title: str) -> list[str]:
    first, second = run.stages
    lines = [
        f"{title}:",
        f"  基準額 (thresholds): 70歳以上 (70–74 or 75+) {yen(run.threshold_70_plus)}, "
        f"70歳未満を含む世帯 (household with members under 70) {yen(run.threshold_under_70)}",
        f"  段階1 (stage 1, 70歳以上の額 / the 70+ amounts): {yen(first.amounts)} − "
        f"{yen(first.threshold)} → 超過額 (excess) {yen(first.excess)}",
        f"  段階2 (stage 2): 70歳以上の残り (70+ amounts remaining) {yen(second.carried)} + "
        f"70歳未満の額 (under-70 amounts) {yen(second.added)} = {yen(second.amounts)} − "
        f"{yen(second.threshold)} → 超過額 (excess) {yen(second.excess)}",
        f"  超過額合計 (total excess): {yen(first.excess)} + {yen(second.excess)} = "
        f"{yen(run.excess)}",
        f"  結果 (outcome): {OUTCOME[run.outcome]} → {yen(run.payment)}",
    ]
    for stage in run.stages:
        for payer, amount in stage.shares:
            if amount:
                lines.append(f"  段階{stage.number}の按分 (stage {stage.number} share) "
                             f"{SIDE[payer.side]} {payer.insurer_number}: {yen(amount)}")
    return lines
