"""Dependants on the running linker, over a population of look-alike pairs: the employer names
the look-alike's number (or a mistyped one) with the insured person's items, and no dependant is
ever attached to anyone but their insured person (DOMAIN §5a, issue 8 point 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from relay_linker.domain import fold, history
from relay_linker.linker import KeyringHasher
from relay_linker.readback import load_all
from relay_linker.translate import Translator
from schemas.common import IdentityItems, InsuredNumber, PersonReference, Sex, StructuredAddress
from schemas.employer import (
    Dependant,
    DependantChange,
    DependantChanged,
    EmployeeInsuranceAcquired,
    EmployeeInsuranceLost,
)
from schemas.envelope import JST, Filing, new_filing
from schemas.filings import FilingRetracted
from schemas.municipality import DeathRegistered, ResidentRegistered
from schemas.secret import Secret, SecretDate, SecretNumber
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

MUNICIPALITY, EMPLOYER, INSURER = "131016", "EMP-IDDEP", "01130012"
PAIRS = 15
HIRED_ON, ADDED_ON, REMOVED_ON = date(2025, 4, 1), date(2025, 5, 1), date(2025, 9, 1)


@dataclass(frozen=True)
class Resident:
    code: str
    kanji: str
    kana: str
    born: date
    sex: Sex
    town: str
    token: str

    def items(self) -> IdentityItems:
        address = StructuredAddress(
            prefecture=Secret("東京都"), municipality=Secret("千代田区"), town=Secret(self.town),
            chome=Secret("1"), banchi=Secret("2"), go=Secret("3"))
        return IdentityItems(kanji_name=Secret(self.kanji), kana_name=Secret(self.kana),
                             birth_date=SecretDate(self.born), sex=self.sex, address=address)

    @property
    def ref(self) -> PersonReference:
        return PersonReference(resident_code=SecretNumber(self.code))


def _pair(i: int) -> tuple[Resident, Resident, Resident]:
    """The insured person, their look-alike (same kana name, birth date and sex; another kanji
    name and address) and the insured person's child."""
    born = date(1975, 1, 6) + timedelta(weeks=i)
    kana, child_born = "タカハシイチロウ", date(2015, 1, 5) + timedelta(weeks=i)
    insured = Resident(f"71{i:09d}", "高橋一郎", kana, born, Sex.MALE, "霞が関", f"i{i}")
    twin = Resident(f"72{i:09d}", "高橋市郎", kana, born, Sex.MALE, "永田町", f"t{i}")
    child = Resident(f"73{i:09d}", "高橋花子", "タカハシハナコ", child_born, Sex.FEMALE, "霞が関",
                     f"c{i}")
    return insured, twin, child


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=JST)


def _number(i: int, branch: str) -> InsuredNumber:
    return InsuredNumber(symbol=SecretNumber("dep"), number=SecretNumber(f"{i}"),
                         branch=SecretNumber(branch))


def _registration(who: Resident) -> Filing:
    payload = ResidentRegistered(resident_code=SecretNumber(who.code), identity=who.items(),
                                 registered_on=date(2025, 1, 1))
    return new_filing(payload, filer_code=MUNICIPALITY, filing_reference=f"REG-{who.code}",
                      person_token=f"m-{who.token}", occurred_at=_at(date(2025, 1, 3)))


def _hire(i: int, who: Resident) -> Filing:
    payload = EmployeeInsuranceAcquired(person=who.ref, identity=who.items(),
                                        insurer_number=INSURER, insured_number=_number(i, "00"),
                                        acquired_on=HIRED_ON)
    return new_filing(payload, filer_code=EMPLOYER, filing_reference=f"ACQ-{i}",
                      person_token=f"e{i}", occurred_at=_at(HIRED_ON + timedelta(days=2)))


def _dependant(i: int, reference: str, named: PersonReference, items: Resident, child: Resident,
               change: DependantChange, on: date) -> Filing:
    """A 被扶養者異動届 naming the insured person by `named` with the items of `items`."""
    payload = DependantChanged(
        person=named, identity=items.items(), insurer_number=INSURER, change=change,
        dependant=Dependant(person=child.ref, identity=child.items(),
                            insured_number=_number(i, "01")),
        changed_on=on)
    return new_filing(payload, filer_code=EMPLOYER, filing_reference=f"{reference}-{i}",
                      person_token=f"e{i}", occurred_at=_at(on + timedelta(days=3)))


async def test_no_dependant_is_attached_through_a_lookalike_or_mistyped_number(relay: RelayEnv):
    people = [_pair(i) for i in range(PAIRS)]
    added, removed = DependantChange.ADDED, DependantChange.REMOVED
    first = [("filing.municipality.v1", _registration(who)) for trio in people for who in trio]
    first += [("filing.employer.v1", _hire(i, insured)) for i, (insured, _, _) in enumerate(people)]
    additions, removals = [], []
    for i, (insured, twin, child) in enumerate(people):
        typo = PersonReference(resident_code=SecretNumber(f"79{i:09d}"))
        wrong = typo if i % 5 == 0 else twin.ref
        additions += [
            ("filing.employer.v1", _dependant(i, "ADD-WRONG", wrong, insured, child, added,
                                              ADDED_ON)),
            ("filing.employer.v1", _dependant(i, "ADD", insured.ref, insured, child, added,
                                              ADDED_ON)),
        ]
        removals.append(("filing.employer.v1", _dependant(i, "REMOVE-WRONG", twin.ref, insured,
                                                          child, removed, REMOVED_ON)))
        if i % 2 == 0:
            removals.append(("filing.employer.v1", _dependant(i, "REMOVE", insured.ref, insured,
                                                              child, removed, REMOVED_ON)))
    # the simulated calendar: registrations and hires, then the additions, then the removals;
    # a last tick 15 days on gives every filing still parked its final answer
    for batch in (first, additions, removals):
        await relay.publish(batch)
        await relay.tick()
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    assert relay.run("relay-linker") == 0, relay.last_output

    keyring = relay.keyring()
    conn = await relay.connect()
    try:
        ledger = {r["filing_reference"]: (r["status"], json.loads(r["entry"])["reasons"])
                  for r in await conn.fetch("SELECT filing_reference, status, entry "
                                            "FROM filing_ledger")}
        state = await load_all(conn, keyring)
    finally:
        await conn.close()

    translator = Translator(keyring)

    def relay_id(who: Resident) -> str:
        return state.index[translator.resident(who.code).key].relay_id

    twins = {relay_id(twin) for _, twin, _ in people}
    for i, (insured, twin, child) in enumerate(people):
        status, reasons = ledger[f"ADD-WRONG-{i}"]
        assert status == "refused", i
        fields = {(r["code"], r["field"]) for r in reasons}
        if i % 5 == 0:
            assert fields == {("unknown_reference", "insured_person")}, i
        else:
            assert fields == {("identity_mismatch", "insured_identity.kanji_name"),
                              ("identity_mismatch", "insured_identity.address")}, i
        assert ledger[f"ADD-{i}"][0] == "accepted", i
        assert ledger[f"REMOVE-WRONG-{i}"][0] == "refused", i
        if i % 2 == 0:
            assert ledger[f"REMOVE-{i}"][0] == "accepted", i
        cover = [x for x in state.links.get(relay_id(child), ()) if x.capacity == "dependant"]
        ends = REMOVED_ON if i % 2 == 0 else date(insured.born.year + 75, insured.born.month,
                                                    insured.born.day)
        assert [(x.insured_relay_id, x.valid_from, x.valid_to) for x in cover] == [
            (relay_id(insured), ADDED_ON, ends)], i
        assert state.links.get(relay_id(twin), ()) == (), i
    attached = {x.insured_relay_id for links in state.links.values() for x in links}
    assert not attached & twins

    expected = fold(await relay.steps_in_relay_order(), KeyringHasher(keyring))
    assert history(state, include_retracted=True) == history(expected, include_retracted=True)


LOST_ON, DIED_ON = date(2025, 7, 1), date(2025, 7, 10)


def _loss(i: int, who: Resident) -> Filing:
    payload = EmployeeInsuranceLost(person=who.ref, identity=who.items(), insurer_number=INSURER,
                                    insured_number=_number(i, "00"),
                                    last_day_of_employment=LOST_ON - timedelta(days=1),
                                    lost_on=LOST_ON)
    return new_filing(payload, filer_code=EMPLOYER, filing_reference=f"LOSS-{i}",
                      person_token=f"e{i}", occurred_at=_at(LOST_ON + timedelta(days=2)))


def _death(i: int, who: Resident) -> Filing:
    payload = DeathRegistered(person=who.ref, identity=who.items(), died_on=DIED_ON)
    return new_filing(payload, filer_code=MUNICIPALITY, filing_reference=f"DIED-{i}",
                      person_token=f"m-{who.token}", occurred_at=_at(DIED_ON + timedelta(days=1)))


def _retraction(filer: str, reference: str, token: str) -> Filing:
    return new_filing(FilingRetracted(retracted_filing_reference=reference), filer_code=filer,
                      filing_reference=f"CANCEL-{reference}", person_token=token,
                      occurred_at=_at(date(2025, 7, 20)))


async def test_the_insured_persons_loss_and_death_end_the_dependants_cover(relay: RelayEnv):
    """DOMAIN §6 on the real stack: an insured person's loss ends their child's dependant link on
    the loss date and their death on death + 1, whether the child's addition is processed before
    or after; every other family's loss or death is retracted and the child's cover comes back.
    The tables hold what the fold over the same records holds."""
    people = [_pair(i) for i in range(12)]
    added = DependantChange.ADDED
    first = [("filing.municipality.v1", _registration(who)) for trio in people for who in trio]
    first += [("filing.employer.v1", _hire(i, insured)) for i, (insured, _, _) in enumerate(people)]
    ends, additions, late, endings, retractions = {}, [], [], [], []
    for i, (insured, _, child) in enumerate(people):
        addition = ("filing.employer.v1",
                    _dependant(i, "ADD", insured.ref, insured, child, added, ADDED_ON))
        (late if i % 4 >= 2 else additions).append(addition)
        at75 = date(insured.born.year + 75, insured.born.month, insured.born.day)
        if i % 2 == 0:
            endings.append(("filing.employer.v1", _loss(i, insured)))
            ends[i] = LOST_ON
        else:
            endings.append(("filing.municipality.v1", _death(i, insured)))
            ends[i] = DIED_ON + timedelta(days=1)
        if i % 3 == 0:
            filer, reference = (EMPLOYER, f"LOSS-{i}") if i % 2 == 0 else (
                MUNICIPALITY, f"DIED-{i}")
            topic = "filing.employer.v1" if i % 2 == 0 else "filing.municipality.v1"
            retractions.append((topic, _retraction(filer, reference, f"x{i}")))
            ends[i] = at75
    for batch in (first, additions, endings, late, retractions):
        await relay.publish(batch)
        await relay.tick()
    assert relay.run("relay-linker") == 0, relay.last_output

    keyring = relay.keyring()
    conn = await relay.connect()
    try:
        state = await load_all(conn, keyring)
    finally:
        await conn.close()
    translator = Translator(keyring)

    def relay_id(who: Resident) -> str:
        return state.index[translator.resident(who.code).key].relay_id

    for i, (insured, _, child) in enumerate(people):
        cover = [x for x in state.links.get(relay_id(child), ()) if x.capacity == "dependant"]
        assert [(x.insured_relay_id, x.valid_from, x.valid_to) for x in cover] == [
            (relay_id(insured), ADDED_ON, ends[i])], i
    expected = fold(await relay.steps_in_relay_order(), KeyringHasher(keyring))
    assert history(state, include_retracted=True) == history(expected, include_retracted=True)
