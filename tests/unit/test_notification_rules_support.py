"""Builders for the notification rules' tests: covers, persons, residences and households
written in a line each, with the 任意継続 window's last day as a plain stand-in."""

from datetime import date, timedelta

from notification_streams.rules.facts import Cover, Household, PersonFacts, Residence

PENSION_CATEGORIES = ("employee_pension", "national_type1", "national_type2", "national_type3")
KYOKAI = "01130012"
"""協会けんぽ Tokyo: an employee insurer (law code 01)."""
OTHER_EMPLOYER = "06130099"
NHI_TOKYO = "138016"
JPS = "JPS"


def d(text: str) -> date:
    return date.fromisoformat(text)


def cover(
    category: str,
    valid_from: str,
    valid_to: str | None = None,
    *,
    capacity: str = "insured",
    insurer: str = KYOKAI,
    because: str | None = None,
    insured: str | None = None,
    spouse: str | None = None,
    pension_type: int | None = None,
    source: str = "e-1",
) -> Cover:
    scheme = "pension" if category in PENSION_CATEGORIES else "medical"
    if because is None and valid_to is not None:
        because = "loss"
    return Cover(
        scheme=scheme, category=category, capacity=capacity, insurer_number=insurer,
        valid_from=d(valid_from), valid_to=d(valid_to) if valid_to else None,
        closed_because=because, insured_relay_id=insured, spouse_relay_id=spouse,
        pension_type=pension_type, source_event_id=source)


def lives(code: str, valid_from: str, valid_to: str | None = None) -> Residence:
    return Residence(municipality_code=code, valid_from=d(valid_from),
                     valid_to=d(valid_to) if valid_to else None)


def member(key: str, valid_from: str, *, heads: bool = False,
           valid_to: str | None = None) -> Household:
    return Household(household_token_key=key, householder=heads, valid_from=d(valid_from),
                     valid_to=d(valid_to) if valid_to else None)


def person(
    relay_id: str,
    *covers: Cover,
    birth: str | None = "1980-05-10",
    died: str | None = None,
    residences: tuple[Residence, ...] = (),
    households: tuple[Household, ...] = (),
) -> PersonFacts:
    return PersonFacts(relay_id=relay_id, birth_date=d(birth) if birth else None,
                       died_on=d(died) if died else None, covers=covers,
                       residences=residences, households=households)


def twentieth_day(loss_date: date) -> date:
    """Stand-in for relay_linker.business_days.election_due with no holidays: the 20th day
    counting the loss date as day 1 (DOMAIN §6, 健保法37条). Tests pick weekdays."""
    return loss_date + timedelta(days=19)
