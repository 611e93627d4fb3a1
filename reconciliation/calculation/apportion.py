"""Apportionment (按分, DOMAIN §6): an excess shared among the insurers that collected the
self-pay, in whole yen adding up to the excess exactly, by the largest-remainder method.

Each insurer first gets the floor of excess × its self-pay ÷ the total; the yen left over (fewer
than the number of insurers) go one each to the largest remainders. Ties go to the medical side
before the care side, then to the lower insurer number, so every insurer that recomputes the
shares gets the same ones without asking anyone. Each share is then within one yen of its exact
proportion, and none is ever rounded up from an exact zero remainder."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    MEDICAL = "medical"
    CARE = "care"


@dataclass(frozen=True, order=True)
class Payer:
    """An insurer in its capacity on one side: medical insurers pay 高額介護合算療養費, care
    insurers 高額医療合算介護(予防)サービス費."""

    side: Side
    insurer_number: str

    @property
    def tie_order(self) -> tuple[int, str]:
        return (0 if self.side is Side.MEDICAL else 1, self.insurer_number)


def apportion(excess: int, weights: Mapping[Payer, int]) -> dict[Payer, int]:
    """Whole-yen shares of `excess` in proportion to non-negative integer `weights`; payers of
    zero weight get nothing, and nothing is shared when every weight is zero."""
    total = sum(weights.values())
    if excess == 0 or total == 0:
        return {payer: 0 for payer in weights}
    floors = {payer: excess * weight // total for payer, weight in weights.items()}
    remainders = {payer: excess * weight % total for payer, weight in weights.items()}
    left = excess - sum(floors.values())
    ranked = sorted(weights, key=lambda payer: (-remainders[payer], payer.tie_order))
    for payer in ranked[:left]:
        floors[payer] += 1
    return floors
