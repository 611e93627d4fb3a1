"""The settlement contracts of the 合算 (DOMAIN §6): the base-date insurer's instruction that a
payer pay its share for a person and period, and the instruction as the relay routes it.

The amount is sealed by the sender for the payer (`trust.number_sealing.seal_settlement_amount`)
and the payer's own number sealed by the relay for the payer: the relay never reads an amount.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, StrictBool, StrictInt, model_validator

from schemas.base import ContractModel, Day, Instant, Problem, raise_problems
from schemas.exchange import MemberNumber, SealedBytes
from schemas.identifiers import FilerCode
from schemas.notices import Pseudonym
from schemas.relay import RelayMessage

FIRST_PERIOD, LAST_PERIOD = 2009, 2100
"""The 合算 began in April 2008: its first full period ends on 31 July 2009."""
Period = Annotated[StrictInt, Field(ge=FIRST_PERIOD, le=LAST_PERIOD,
                                    description="the period's year: 2025 is 2024-08-01 to "
                                    "2025-07-31")]


class SettlementBenefit(StrEnum):
    """What the payer pays: a medical insurer 高額介護合算療養費, a care insurer 高額医療合算介護
    (予防)サービス費."""

    MEDICAL = "high_cost_combined_medical"
    CARE = "high_cost_combined_care"


def period_span(period: int) -> tuple[date, date]:
    """The period's first and last day: 1 August of the year before to 31 July."""
    return date(period - 1, 8, 1), date(period, 7, 31)


def lapses_on(base_date: date) -> date:
    """The day the person's right to the benefit lapses: two years after the day after the
    base date (民法140条: the first day not counted)."""
    start = date.fromordinal(base_date.toordinal() + 1)
    try:
        return start.replace(year=start.year + 2)
    except ValueError:  # 29 February: the period ends on the 28th
        return date(start.year + 2, 3, 1)


class _Settlement(RelayMessage):
    settlement_id: UUID = Field(description="the sender's deterministic id for the settlement: "
                                "its idempotency key")
    sender_code: FilerCode = Field(description="the base-date medical insurer that calculated "
                                   "the 合算")
    payer_code: FilerCode = Field(description="the insurer that pays this share (the sender "
                                  "itself for its own share)")
    period: Period
    base_date: Day = Field(description="the base date: 31 July, the day before a move to the "
                            "75+ scheme, or the date of death; within the period")
    benefit: SettlementBenefit
    corrects: UUID | None = Field(default=None, description="the earlier settlement of the same "
                                  "person, period, payer and benefit this one adjusts (a delta), "
                                  "or null")

    @model_validator(mode="after")
    def _within(self) -> _Settlement:
        problems = []
        first, last = period_span(self.period)
        if not first <= self.base_date <= last:
            problems.append(Problem(("base_date",), "outside_period",
                                    f"within {first.isoformat()}..{last.isoformat()}"))
        if self.corrects == self.settlement_id:
            problems.append(Problem(("corrects",), "corrects", "another settlement's id"))
        raise_problems(type(self).__name__, problems)
        return self


class SettlementInstruction(_Settlement):
    """The sender tells a payer, through the relay, to pay its share of the 合算 for one of the
    sender's members. On `exchange.settlement.v1`, signed by the sender; the key is
    `<sender code>:<settlement id>`."""

    member: MemberNumber = Field(description="the sender's own number for the person")
    sealed_amount: SealedBytes = Field(
        description="HPKE for the payer: JSON {amount_yen, total_yen} "
        "(trust.number_sealing.seal_settlement_amount; `info` binds settlement_id, sender and "
        "payer); the relay carries it unopened")
    nothing_due: StrictBool = Field(
        default=False, description="true when the payer's total for the person, period and "
        "benefit is 0 after it (a delta taking back all that was settled): the relay withdraws "
        "the person's notice that the benefit is due; the amount itself stays sealed")

    @model_validator(mode="after")
    def _a_first_is_due(self) -> SettlementInstruction:
        if self.nothing_due and self.corrects is None:
            raise_problems(type(self).__name__, [Problem(
                ("nothing_due",), "first_settles_nothing",
                "a first settlement settles an amount: nothing_due only on a delta")])
        return self

    def kafka_key(self) -> bytes:
        return f"{self.sender_code}:{self.settlement_id}".encode()


class RoutedSettlement(_Settlement):
    """The instruction as the relay puts it on the payer's `participant.<payer>.settlements.v1`,
    signed by the relay: the person named by the payer's own number, sealed for the payer."""

    person: Pseudonym = Field(description="lowercase hex HMAC-SHA256 under a relay key of the "
                              "payer's code and the person: names the person to the payer "
                              "alone; the record key")
    sealed_number: SealedBytes = Field(
        description="HPKE for the payer: its own number for the person "
        "(trust.number_sealing.seal_settlement_number; `info` binds settlement_id and payer)")
    sealed_amount: SealedBytes = Field(description="the sender's sealed amount, as sent")
    relay_time: Instant = Field(description="relay time when the relay routed it")

    def kafka_key(self) -> bytes:
        return self.person.encode()


class SettlementAmount(ContractModel):
    """What a sealed amount holds: the share (negative for a delta that lowers it) and the
    payer's total for the person, period and benefit after it."""

    amount_yen: StrictInt = Field(ge=-100_000_000, le=100_000_000)
    total_yen: StrictInt = Field(ge=0, le=100_000_000)


SETTLEMENT_MESSAGES: tuple[type[RelayMessage], ...] = (SettlementInstruction, RoutedSettlement)
