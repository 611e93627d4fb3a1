"""Second-category long-term-care insureds (40–64) are insured only while a medical insurer covers
them (DOMAIN §5b, 介護保険法9条2号): a care period of that age without medical cover is flagged."""

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from relay_linker.domain.ages import first_category_care_from, second_category_care_from
from relay_linker.domain.effects import LINK_EFFECTS, AnomalyRecorded, AnomalyResolved, Effect
from relay_linker.domain.ids import anomaly_id
from relay_linker.domain.matching import ordered
from relay_linker.domain.model import Anomaly, Link
from relay_linker.domain.reads import anomaly, identity_changes, links_of
from relay_linker.domain.state import RelayState

WITHOUT_MEDICAL = "second_category_without_medical_cover"
CARE = "long_term_care"


def second_category_effects(
    view: RelayState, event_id: UUID, changes: Iterable[Effect]
) -> list[Effect]:
    """Record or resolve the anomaly for every care link of a person whose medical or care links
    these changes touched: judged on the links as they are after the filing, so order-free."""
    touched = {
        e.link.link_id: e.link
        for e in changes
        if isinstance(e, LINK_EFFECTS) and e.link.scheme in ("medical", CARE)
    }
    effects: list[Effect] = []
    for relay_id in sorted({x.relay_id for x in touched.values()}):
        mine = {x.link_id: x for x in links_of(view, relay_id)}
        mine.update({k: x for k, x in touched.items() if x.relay_id == relay_id})
        birth = _birth(view, relay_id)
        if birth is None:
            continue
        links = sorted(mine.values(), key=lambda x: str(x.link_id))
        medical = [x for x in links if x.scheme == "medical" and not x.retracted]
        for care in (x for x in links if x.scheme == CARE):
            effects += _judge(view, event_id, care, medical, birth)
    return effects


def uncovered(care: Link, medical: list[Link], birth: date) -> bool:
    """Whether some day of the care link's second-category part (from age 40 reached to the day
    before the 65th birthday) has no medical cover."""
    if care.retracted or care.capacity != "insured":
        return False
    day = max(care.valid_from, second_category_care_from(birth))
    ends = [first_category_care_from(birth)] + ([care.valid_to] if care.valid_to else [])
    end = min(ends)
    while day < end:
        covering = [x for x in medical if x.valid_from <= day and (x.valid_to or date.max) > day]
        if not covering:
            return True
        day = max(x.valid_to or date.max for x in covering)
    return False


def _judge(
    view: RelayState, event_id: UUID, care: Link, medical: list[Link], birth: date
) -> list[Effect]:
    key = anomaly_id(WITHOUT_MEDICAL, str(care.link_id))
    known = anomaly(view, key, care.relay_id)
    if uncovered(care, medical, birth):
        if known is None or known.resolved:
            note = Anomaly(key, WITHOUT_MEDICAL, (care.relay_id,), event_id, (), (care.link_id,))
            return [AnomalyRecorded(note)]
    elif known is not None and not known.resolved:
        return [AnomalyResolved(key, (care.relay_id,))]
    return []


def _birth(view: RelayState, relay_id: str) -> date | None:
    birth = None
    for change in ordered(identity_changes(view, relay_id)):
        birth = change.secret_birth_date or birth
    return birth
