"""The annual thresholds (基準額, DOMAIN §6's table) by income category on the base date, in the
70–74 or 75+ column and in the column of households with members under 70."""

from dataclasses import dataclass
from enum import StrEnum


class IncomeCategory(StrEnum):
    """The income category on the base date; the labels are DOMAIN §6's."""

    ACTIVE_III = "現役並みⅢ"
    ACTIVE_II = "現役並みⅡ"
    ACTIVE_I = "現役並みⅠ"
    GENERAL = "一般"
    LOW_II = "低所得Ⅱ"
    LOW_I = "低所得Ⅰ"


@dataclass(frozen=True)
class Row:
    seventy_plus: int
    """The 70–74 or 75+ household column."""
    under_70: int
    """The column of a household with members under 70."""


TABLE = {
    IncomeCategory.ACTIVE_III: Row(2_120_000, 2_120_000),
    IncomeCategory.ACTIVE_II: Row(1_410_000, 1_410_000),
    IncomeCategory.ACTIVE_I: Row(670_000, 670_000),
    IncomeCategory.GENERAL: Row(560_000, 600_000),
    IncomeCategory.LOW_II: Row(310_000, 340_000),
    IncomeCategory.LOW_I: Row(190_000, 340_000),
}
LOW_I_SEVERAL_CARE_USERS = 310_000
"""低所得Ⅰ's care-side exception: the 70–74 or 75+ threshold the care side is reckoned with
when the household has several care users (DOMAIN §6)."""
