"""Coverage rules on links: age bounds (DOMAIN §5b) and overlapping medical cover (§6).

Joining employee insurance on D ends NHI on D + 1: a one-day overlap is legal, more is not."""

import math
from collections.abc import Iterable
from datetime import date

from relay_linker.domain.ages import (
    employee_pension_until,
    late_stage_elderly_from,
    national_type1_from,
    national_type1_until,
    second_category_care_from,
)
from relay_linker.domain.commands import LinkerRecord, LinkSpec
from relay_linker.domain.effects import (
    LINK_EFFECTS,
    AnomalyRecorded,
    AnomalyResolved,
    Effect,
)
from relay_linker.domain.ids import anomaly_id
from relay_linker.domain.model import Anomaly, Link
from relay_linker.domain.reads import anomaly, links_of
from relay_linker.domain.state import RelayState

OVERLAP = "overlapping_medical_coverage"
LATE_STAGE = "late_stage_elderly"


def age_bound(spec: LinkSpec, birth: date, insured_birth: date | None) -> tuple[date, str] | None:
    """The latest end of a link of this kind, and the rule that sets it."""
    bounds: list[tuple[date, str]] = []
    if spec.scheme == "medical" and spec.category != LATE_STAGE:
        bounds.append((late_stage_elderly_from(birth), "age_75"))
        if spec.capacity == "dependant" and insured_birth is not None:
            bounds.append((late_stage_elderly_from(insured_birth), "insured_age_75"))
    if spec.scheme == "pension" and spec.category == "employee_pension":
        bounds.append((employee_pension_until(birth), "age_70"))
    if spec.scheme == "pension" and spec.category == "national_type1":
        bounds.append((national_type1_until(birth), "age_60"))
    return min(bounds, default=None)


def clamped(
    valid_to: date | None, bound: tuple[date, str] | None
) -> tuple[date | None, str | None]:
    """The end to store, and the rule's name when the bound cut it short."""
    if bound is not None and (valid_to is None or bound[0] < valid_to):
        return bound
    return valid_to, None


def breaks_age_rule(spec: LinkSpec, valid_from: date, birth: date) -> bool:
    """A start before the age the scheme begins at: recorded, since exceptions exist."""
    if spec.scheme == "medical" and spec.category == LATE_STAGE:
        return valid_from < late_stage_elderly_from(birth)
    if spec.scheme == "long_term_care" and spec.capacity == "insured":
        # 40-64 is the second category, judged on medical cover (second_category)
        return valid_from < second_category_care_from(birth)
    if spec.scheme == "pension" and spec.category == "national_type1":
        return valid_from < national_type1_from(birth)
    return False


def overlap_days(a: Link, b: Link) -> float:
    ends = [end for end in (a.valid_to, b.valid_to) if end is not None]
    if not ends:
        return math.inf
    return (min(ends) - max(a.valid_from, b.valid_from)).days


def overlap_effects(
    view: RelayState, record: LinkerRecord, changes: Iterable[Effect]
) -> list[Effect]:
    """Record or resolve overlap anomalies for every medical link these changes touched.

    An anomaly belongs to the pair of links, so whichever arrives second finds it, and it is
    resolved when a later loss brings the overlap down to one day: the result is order-free."""
    touched = {
        e.link.link_id: e.link
        for e in changes
        if isinstance(e, LINK_EFFECTS) and e.link.scheme == "medical"
    }
    effects: list[Effect] = []
    seen: set[tuple[str, str]] = set()
    for link in sorted(touched.values(), key=lambda x: str(x.link_id)):
        medical = {x.link_id: x for x in links_of(view, link.relay_id) if x.scheme == "medical"}
        medical.update({k: v for k, v in touched.items() if v.relay_id == link.relay_id})
        for other in sorted(medical.values(), key=lambda x: str(x.link_id)):
            pair = tuple(sorted((str(link.link_id), str(other.link_id))))
            if other.link_id != link.link_id and pair not in seen:
                seen.add(pair)
                effects += _judge_pair(view, record, link, other)
    return effects


def _judge_pair(view: RelayState, record: LinkerRecord, a: Link, b: Link) -> list[Effect]:
    first, second = sorted((a, b), key=lambda x: str(x.link_id))
    key = anomaly_id(OVERLAP, str(first.link_id), str(second.link_id))
    overlapping = not (a.retracted or b.retracted) and overlap_days(a, b) > 1
    known = anomaly(view, key, a.relay_id)
    if overlapping and (known is None or known.resolved):
        note = Anomaly(
            key, OVERLAP, (a.relay_id,), record.event_id, (), (first.link_id, second.link_id)
        )
        return [AnomalyRecorded(note)]
    if not overlapping and known is not None and not known.resolved:
        return [AnomalyResolved(key, (a.relay_id,))]
    return []
