"""Dependants under 任意継続 on the running linker: an election keeps the children's cover from
the loss date, retracting it ends that cover on the loss date again (DOMAIN §6, issue 8)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from relay_linker.domain import fold, history
from relay_linker.linker import KeyringHasher
from relay_linker.readback import load_all
from relay_linker.translate import Translator
from schemas.employer import DependantChange
from schemas.envelope import Filing, new_filing
from schemas.insurer import VoluntaryContinuationElected
from tests.integration.relay_env import RelayEnv
from tests.integration.test_identity_dependants import (
    ADDED_ON,
    INSURER,
    LOST_ON,
    Resident,
    _at,
    _dependant,
    _hire,
    _loss,
    _number,
    _pair,
    _registration,
    _retraction,
)

pytestmark = pytest.mark.integration

FAMILIES = 12
TERM_END = date(2027, 7, 1)  # two years after the loss date of 2025-07-01 (健保法38条1号)


def _election(i: int, who: Resident) -> Filing:
    payload = VoluntaryContinuationElected(
        person=who.ref, identity=who.items(), insurer_number=INSURER,
        insured_number=_number(i, "00"), lost_on=LOST_ON, elected_on=LOST_ON + timedelta(days=9))
    return new_filing(payload, filer_code=INSURER, filing_reference=f"VC-{i}",
                      person_token=f"ins{i}", occurred_at=_at(LOST_ON + timedelta(days=10)))


async def test_an_election_keeps_the_dependants_cover_and_its_retraction_ends_it(
    relay: RelayEnv,
):
    """Each family: the insured person hired 4/1, a child added 5/1, lost 7/1 and 任意継続
    elected from 7/1, the election processed before the loss for a third of them; every fourth
    election is then retracted. The child's cover runs to the continuation's term, or ends on
    the loss date when the election was retracted; the tables hold what the fold holds."""
    people = [_pair(i) for i in range(FAMILIES)]
    added = DependantChange.ADDED
    first = [("filing.municipality.v1", _registration(who)) for trio in people for who in trio]
    first += [("filing.employer.v1", _hire(i, insured)) for i, (insured, _, _) in enumerate(people)]
    first += [("filing.employer.v1", _dependant(i, "ADD", insured.ref, insured, child, added,
                                                ADDED_ON))
              for i, (insured, _, child) in enumerate(people)]
    early, losses, elections, retractions = [], [], [], []
    ends = {}
    for i, (insured, _, _) in enumerate(people):
        (early if i % 3 == 0 else elections).append(("filing.insurer.v1", _election(i, insured)))
        losses.append(("filing.employer.v1", _loss(i, insured)))
        ends[i] = TERM_END
        if i % 4 == 1:
            retractions.append(("filing.insurer.v1", _retraction(INSURER, f"VC-{i}", f"ins{i}")))
            ends[i] = LOST_ON
    for batch in (first, early, losses, elections, retractions):
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
        continued = [x for x in state.links[relay_id(insured)]
                     if x.capacity == "voluntary_continuation"]
        assert [(x.valid_from, x.valid_to, x.retracted) for x in continued] == [
            (LOST_ON, TERM_END, i % 4 == 1)], i
    expected = fold(await relay.steps_in_relay_order(), KeyringHasher(keyring))
    assert history(state, include_retracted=True) == history(expected, include_retracted=True)
