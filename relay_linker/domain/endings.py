"""Why a link ends, its pension type, and whom it depends on: what the internal contract tells.

Read from the links themselves (closures, age bounds) and from the links they depend on."""

from collections.abc import Iterable

from relay_linker.domain.continuation import INSURED_ELSEWHERE, TERM
from relay_linker.domain.model import (
    DEATH,
    HOUSEHOLD_CHANGED,
    INSURED_DIED,
    INSURED_LOST,
    LOSS,
    NON_PAYMENT,
    REQUEST,
    Link,
)

INSURED_PERSON_LOST = INSURED_LOST
INSURED_PERSON_DIED = INSURED_DIED
LATE_STAGE_TRANSFER = "late_stage_transfer"
INSURED_LATE_STAGE_TRANSFER = "insured_late_stage_transfer"
PERIOD_END = "period_end"
CLOSED_BECAUSE = (
    DEATH,
    INSURED_PERSON_DIED,
    LOSS,
    REQUEST,
    NON_PAYMENT,
    INSURED_ELSEWHERE,
    INSURED_PERSON_LOST,
    LATE_STAGE_TRANSFER,
    INSURED_LATE_STAGE_TRANSFER,
    "age_70",
    "age_60",
    TERM,
    PERIOD_END,
    HOUSEHOLD_CHANGED,
)
"""Every value of `closed_because`, strongest first when two ends fall on the same day."""

_BY_CLAMP = {
    "age_75": LATE_STAGE_TRANSFER,
    "insured_age_75": INSURED_LATE_STAGE_TRANSFER,
    "age_70": "age_70",
    "age_60": "age_60",
    TERM: TERM,
    INSURED_ELSEWHERE: INSURED_ELSEWHERE,
}

PENSION_TYPES = {
    "national_type1": 1,
    "national_type2": 2,
    "employee_pension": 2,
    "national_type3": 3,
}
"""国民年金 被保険者種別: employee pension (厚生年金) members are type 2 (第2号)."""


def pension_type(link: Link) -> int | None:
    """1, 2 or 3 for a pension link of a category; None for other links and bare numbers."""
    return PENSION_TYPES.get(link.category or "") if link.scheme == "pension" else None


def closed_because(link: Link, insured_links: Iterable[Link] = ()) -> str | None:
    """The rule behind the link's `valid_to`; None while the link has no end.

    Ends on the same day are told by strength: a death, a loss, an age bound, an end given at
    opening. A dependant's loss on the day its insured person's cover at the same insurer ends
    is that person's loss (DOMAIN §6); `insured_links` are the insured person's links."""
    end = link.valid_to
    if end is None:
        return None
    found = {c.kind for c in link.closures if c.valid_to == end}
    if link.opened_valid_to == end:
        found.add(_BY_CLAMP.get(link.clamp or "", PERIOD_END))
    reason = min(found, key=CLOSED_BECAUSE.index)
    if reason == LOSS and _insured_ends_too(link, insured_links):
        return INSURED_PERSON_LOST
    return reason


def _insured_ends_too(link: Link, insured_links: Iterable[Link]) -> bool:
    if link.capacity != "dependant" or link.insured_relay_id is None:
        return False
    return any(
        x.relay_id == link.insured_relay_id
        and x.scheme == link.scheme
        and x.insurer_number == link.insurer_number
        and x.capacity != "dependant"
        and not x.retracted
        and x.valid_to == link.valid_to
        for x in insured_links
    )


def spouse_of(link: Link, own_links: Iterable[Link]) -> str | None:
    """For a National Pension type-3 link, the insured person (type 2) whose dependant spouse
    the person is: the insured person of their employee-insurance dependant link on the type-3
    start date (the 被扶養者異動届 and the 第3号 notification are one form). None otherwise."""
    if pension_type(link) != 3:
        return None
    on = link.valid_from
    carriers = [
        x
        for x in own_links
        if x.scheme == "medical"
        and x.capacity == "dependant"
        and x.insured_relay_id is not None
        and not x.retracted
        and x.valid_from <= on
        and (x.valid_to is None or on < x.valid_to)
    ]
    if not carriers:
        return None
    return max(carriers, key=lambda x: (x.valid_from, str(x.link_id))).insured_relay_id
