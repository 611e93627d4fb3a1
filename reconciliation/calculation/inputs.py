"""What the 合算 calculation is given (DOMAIN §6): the period, medical receipts, care self-pay,
the annual outpatient benefit, the household's members with their base-date facts.

Money is whole yen (`int`); a bool, a float or a negative amount is refused where the value is
made, with an `InputError` naming the field and a reason code, never the amount."""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from reconciliation.calculation.thresholds import IncomeCategory

SCHEME_START = (2008, 4)
"""The scheme began in April 2008; no service month before it counts."""


class InputError(ValueError):
    """A refused input: `reason` is a stable code, `field` the input it is about."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(f"{reason}: {field}")
        self.reason = reason
        self.field = field


def yen(field: str, value: object) -> int:
    """A whole, non-negative amount of yen, or an InputError naming the field (not the value)."""
    if type(value) is not int:
        raise InputError("not_whole_yen", field)
    if value < 0:
        raise InputError("negative_amount", field)
    return value


def text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError("missing", field)
    return value


@dataclass(frozen=True, order=True)
class Month:
    """A service month (診療月 / サービス提供月)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if type(self.year) is not int or type(self.month) is not int or not 1 <= self.month <= 12:
            raise InputError("not_a_month", "month")

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year}年{self.month}月"


@dataclass(frozen=True)
class Period:
    """The year of calculation: 1 August of `year` − 1 to 31 July of `year`. The first period,
    `Period(2009)`, runs from the scheme's start in April 2008."""

    year: int

    def __post_init__(self) -> None:
        if type(self.year) is not int or self.year < 2009:
            raise InputError("before_scheme", "period")

    @property
    def first_month(self) -> Month:
        return Month(*SCHEME_START) if self.year == 2009 else Month(self.year - 1, 8)

    @property
    def last_month(self) -> Month:
        return Month(self.year, 7)

    @property
    def first_day(self) -> date:
        return self.first_month.first_day

    @property
    def last_day(self) -> date:
        return date(self.year, 7, 31)

    def __contains__(self, month: object) -> bool:
        return isinstance(month, Month) and self.first_month <= month <= self.last_month

    def __str__(self) -> str:
        return f"{self.first_day.isoformat()}〜{self.last_day.isoformat()}"


def period_of(month: Month) -> Period:
    """The period a service month belongs to: August–December to the next year's period, and
    April–July 2008 to the first period, `Period(2009)`."""
    if month < Month(*SCHEME_START):
        raise InputError("before_scheme", "month")
    return Period(max(2009, month.year + 1 if month.month >= 8 else month.year))


def base_date_for(period: Period, *, died_on: date | None = None,
                  late_stage_from: date | None = None) -> date:
    """The base date (基準日, DOMAIN §6): the date of death for one who dies in the period, the
    day before the move to the 75+ scheme for one who moves during it, otherwise 31 July."""
    candidates = [period.last_day]
    if died_on is not None and period.first_day <= died_on <= period.last_day:
        candidates.append(died_on)
    if late_stage_from is not None and period.first_day < late_stage_from <= period.last_day:
        candidates.append(date.fromordinal(late_stage_from.toordinal() - 1))
    return min(candidates)


class ReceiptKind(StrEnum):
    """What a receipt (レセプト) is for: per institution and month, inpatient and outpatient
    apart, medical (医科) and dental (歯科) apart, or a pharmacy's (調剤)."""

    MEDICAL_INPATIENT = "medical_inpatient"
    MEDICAL_OUTPATIENT = "medical_outpatient"
    DENTAL_INPATIENT = "dental_inpatient"
    DENTAL_OUTPATIENT = "dental_outpatient"
    PHARMACY = "pharmacy"


OUTPATIENT = frozenset({ReceiptKind.MEDICAL_OUTPATIENT, ReceiptKind.DENTAL_OUTPATIENT,
                        ReceiptKind.PHARMACY})


class Band(StrEnum):
    """The member's age band in a service month: under 70, or 70 and over (70–74, 75+)."""

    UNDER_70 = "under_70"
    SEVENTY_PLUS = "70_plus"


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """One medical receipt as its insurer reports it. `copay` is the receipt's own self-pay
    before the monthly high-cost benefit (高額療養費) and without meals and room charges, which
    are given apart in `meals_and_room` and never counted. A pharmacy's receipt names the
    prescribing institution (`prescribed_by`) and whether the prescription was dental."""

    receipt_id: str
    insurer_number: str
    member_key: str
    month: Month
    institution: str
    kind: ReceiptKind
    copay: int
    high_cost_benefit: int = 0
    meals_and_room: int = 0
    prescribed_by: str | None = None
    prescribed_by_dentist: bool = False

    def __post_init__(self) -> None:
        for field in ("receipt_id", "insurer_number", "member_key", "institution"):
            text(field, getattr(self, field))
        if not isinstance(self.month, Month):
            raise InputError("not_a_month", "month")
        if not isinstance(self.kind, ReceiptKind):
            raise InputError("unknown_kind", "kind")
        for field in ("copay", "high_cost_benefit", "meals_and_room"):
            yen(field, getattr(self, field))
        if self.high_cost_benefit > self.copay:
            raise InputError("benefit_exceeds_copay", "high_cost_benefit")
        if (self.kind is ReceiptKind.PHARMACY) != (self.prescribed_by is not None):
            raise InputError("prescriber_only_for_pharmacy", "prescribed_by")
        if self.prescribed_by is not None:
            text("prescribed_by", self.prescribed_by)
        if type(self.prescribed_by_dentist) is not bool:
            raise InputError("not_a_flag", "prescribed_by_dentist")

    @property
    def self_pay(self) -> int:
        return self.copay - self.high_cost_benefit


@dataclass(frozen=True, kw_only=True)
class CareSelfPay:
    """A member's care self-pay for a service month under a care insurer, after the monthly
    high-cost care benefit (高額介護(予防)サービス費); `preventive` marks 介護予防."""

    insurer_number: str
    member_key: str
    month: Month
    self_pay: int
    preventive: bool = False

    def __post_init__(self) -> None:
        text("insurer_number", self.insurer_number)
        text("member_key", self.member_key)
        if not isinstance(self.month, Month):
            raise InputError("not_a_month", "month")
        yen("self_pay", self.self_pay)
        if type(self.preventive) is not bool:
            raise InputError("not_a_flag", "preventive")


@dataclass(frozen=True, kw_only=True)
class OutpatientAnnualBenefit:
    """The annual outpatient benefit (外来年間合算) a medical insurer paid a member aged 70+
    for the period: deducted from that member's 70+ outpatient self-pay there first."""

    insurer_number: str
    member_key: str
    amount: int

    def __post_init__(self) -> None:
        text("insurer_number", self.insurer_number)
        text("member_key", self.member_key)
        yen("amount", self.amount)


@dataclass(frozen=True, kw_only=True)
class Member:
    """A person whose amounts may count: an opaque key (never a number of theirs), birth date,
    whether they belong to the household on the base date, and the base-date facts: the base
    date, the medical insurer and the income category on it."""

    key: str
    birth_date: date
    in_household: bool
    base_date: date
    base_insurer: str
    income_category: IncomeCategory

    def __post_init__(self) -> None:
        text("key", self.key)
        text("base_insurer", self.base_insurer)
        if not isinstance(self.income_category, IncomeCategory):
            raise InputError("unknown_income_category", "income_category")
        for field in ("birth_date", "base_date"):
            if not isinstance(getattr(self, field), date):
                raise InputError("not_a_date", field)
        if type(self.in_household) is not bool:
            raise InputError("not_a_flag", "in_household")


@dataclass(frozen=True, kw_only=True)
class Household:
    """Everything one calculation reads: the household (DOMAIN §6: within one medical insurer
    on the base date) and what its members paid in the period, under any insurer."""

    period: Period
    members: tuple[Member, ...]
    receipts: tuple[Receipt, ...] = ()
    care: tuple[CareSelfPay, ...] = ()
    outpatient_benefits: tuple[OutpatientAnnualBenefit, ...] = ()
