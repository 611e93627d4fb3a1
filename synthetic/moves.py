"""Identity changes the municipalities register: moves, 住居表示 renamings, marriages.

A move to another municipality also moves NHI, long-term care and (across prefectures) 75+ cover.
"""

from __future__ import annotations

from dataclasses import replace

from schemas.municipality import (
    AddressChanged,
    AddressRenamed,
    LongTermCareQualificationLost,
    MovedIn,
    MovedOut,
    NameChanged,
)
from schemas.payload import FilerKind
from schemas.secret import Secret
from synthetic.data import PLACES, SURNAMES, Place
from synthetic.engine import Sim
from synthetic.households import filed, moved_to
from synthetic.life import (
    LATE_LOST,
    care_acquired,
    care_filing,
    late_stage_acquired,
    late_stage_filing,
)
from synthetic.render import by_resident, identity, structured
from synthetic.work import enrol_nhi, nhi_lost
from synthetic.world import REGISTER, Household, Person, address_in


def move(sim: Sim, household: Household, elsewhere: bool, delay: int | None = None) -> None:
    """転居 within the municipality, or 転出 and 転入 to another one, of the whole household."""
    members = [p for p in household.members if p.alive]
    old = household.place
    place = sim.rng.choice([p for p in PLACES if p is not old]) if elsewhere else old
    new_address = address_in(sim.rng, place)
    delay = delay or sim.out.lateness(FilerKind.MUNICIPALITY)
    if place is not old:
        moved_to(sim, members, place)
    for person in members:
        common = {
            "person": by_resident(person),
            "identity": identity(person, REGISTER),
            "new_address": structured(new_address),
            "moved_on": sim.today,
        }
        if place is old:
            moved = AddressChanged(**common, household=filed(person))
            sim.file(sim.municipality(old), person, moved, delay)
        else:
            sim.file(sim.municipality(old), person, MovedOut(**common), delay)
            sim.file(sim.municipality(place), person, MovedIn(**common, household=filed(person)),
                     delay)
    household.place, household.address = place, new_address
    for person in members if place is not old else []:
        _transfer(sim, person, old)


def _transfer(sim: Sim, person: Person, old: Place) -> None:
    """What the municipality or prefecture insures ends at the old place, starts at the new."""
    cover = person.cover
    if cover is not None and cover.kind == "nhi":
        nhi_lost(sim, person, cover)
        enrol_nhi(sim, [person], "timely")
    if cover is not None and cover.kind == "late" and old.pref != person.household.place.pref:
        late_stage_filing(sim, person, LATE_LOST, old, cover, lost_on=sim.today)
        late_stage_acquired(sim, person)
    if person.care_number is not None:
        care_filing(sim, person, LongTermCareQualificationLost, old, lost_on=sim.today)
        care_acquired(sim, person)


def rename(sim: Sim, place: Place) -> None:
    """住居表示: every address in the renamed 町字 gets the new 町字 and new numbers."""
    if place.renaming is None:
        return
    old_town, new_town, chomes = place.renaming
    delay = sim.out.lateness(FilerKind.MUNICIPALITY)
    for household in sim.households:
        if household.place is not place or household.address.town != old_town:
            continue
        new_address = replace(
            household.address,
            town=new_town,
            chome=sim.rng.randint(1, chomes),
            banchi=sim.rng.randint(1, 30),
            go=sim.rng.randint(1, 20),
        )
        for person in (p for p in household.members if p.alive):
            payload = AddressRenamed(
                person=by_resident(person),
                identity=identity(person, REGISTER),
                new_address=structured(new_address),
                moved_on=sim.today,
            )
            sim.file(sim.municipality(place), person, payload, delay)
        household.address = new_address


def marry(sim: Sim, person: Person) -> None:
    """氏名変更 on marriage: the person takes another surname."""
    if not person.alive:
        return
    surname = sim.rng.choice([s for s in SURNAMES if s[1] != person.surname[1]])
    payload = NameChanged(
        person=by_resident(person),
        identity=identity(person, REGISTER),
        new_kanji_name=Secret(f"{surname[0]}\u3000{person.given[0]}"),
        new_kana_name=Secret(f"{surname[1]}\u3000{person.given[1]}"),
        changed_on=sim.today,
    )
    sim.file(sim.municipality(person.household.place), person, payload)
    person.surname = surname
