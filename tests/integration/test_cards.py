"""IC cards through the running linker: a card issued to a registered person and revoked lands
in the `cards` table; a card filed with a kana name the register does not hold is refused."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, timedelta

import pytest

from schemas.cards import CardIssued, CardRevoked
from schemas.common import IdentityItems, PersonReference, Sex
from schemas.envelope import JST, Filing, event_id_for, new_filing
from schemas.municipality import ResidentRegistered
from schemas.secret import Secret, SecretDate, SecretNumber
from tests.fixtures.examples import address, card_public_key
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

TOWN, TOPIC = "131016", "filing.municipality.v1"
KANA = {1: "ヤマダタロウ", 2: "スズキハナコ"}
LATER = "アトカラトドク"


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=JST)


def _person(n: int) -> PersonReference:
    return PersonReference(resident_code=SecretNumber(f"8{n:010d}"))


def _items(n: int, kana: str | None = None) -> IdentityItems:
    return IdentityItems(kanji_name=Secret(f"住民{n}"),
                         kana_name=Secret(kana or KANA.get(n, LATER)),
                         birth_date=SecretDate(date(1980, 1, 1) + timedelta(days=n)),
                         sex=Sex.FEMALE, address=address())


def _file(payload: object, reference: str, token: str, filed: date) -> Filing:
    return new_filing(payload, filer_code=TOWN, filing_reference=reference,
                      person_token=token, occurred_at=_at(filed))


def _registration(n: int, filed: date = date(2025, 1, 3)) -> Filing:
    payload = ResidentRegistered(resident_code=SecretNumber(f"8{n:010d}"), identity=_items(n),
                                 registered_on=date(2025, 1, 1))
    return _file(payload, f"REG-{n}", f"p{n}", filed)


def _issue(n: int, der: bytes, kana: str | None = None) -> Filing:
    payload = CardIssued(person=_person(n), identity=_items(n, kana),
                         public_key=base64.b64encode(der).decode(), issued_on=date(2025, 4, 1))
    return _file(payload, f"CARD-{n}", f"p{n}", date(2025, 4, 2))


def _revoke(n: int, der: bytes) -> Filing:
    payload = CardRevoked(person=_person(n), identity=_items(n),
                          fingerprint=hashlib.sha256(der).hexdigest(),
                          revoked_on=date(2025, 4, 20))
    return _file(payload, f"REVOKE-{n}", f"p{n}", date(2025, 4, 21))





async def test_cards_are_issued_revoked_and_refused_on_a_mismatch(relay: RelayEnv) -> None:
    hana_key, other_key = card_public_key(), card_public_key(0x5EED_CA2D_0002)
    await relay.publish([(TOPIC, _registration(1)), (TOPIC, _registration(2)),
                         (TOPIC, _issue(1, hana_key)), (TOPIC, _issue(2, other_key, "スズキハナ")),
                         (TOPIC, _revoke(1, hana_key))])
    # the simulated calendar: a tick releases what was filed; a second, 15 days on, gives
    # every filing still parked its final answer
    await relay.tick()
    await relay.tick(relay.ticks[-1] + timedelta(days=15))
    assert relay.run("relay-linker") == 0, relay.last_output

    conn = await relay.connect()
    try:
        cards = await conn.fetch("SELECT * FROM cards")
        ledger = {r["filing_reference"]: r for r in await conn.fetch(
            "SELECT filing_reference, status, entry FROM filing_ledger")}
        version = await conn.fetchval(
            "SELECT version FROM persons WHERE relay_id = $1", cards[0]["relay_id"])
    finally:
        await conn.close()
    assert [r["status"] for r in map(ledger.get, ("CARD-1", "REVOKE-1"))] == ["accepted"] * 2
    assert len(cards) == 1
    card = cards[0]
    assert bytes(card["fingerprint"]) == hashlib.sha256(hana_key).digest()
    assert bytes(card["public_key"]) == hana_key
    assert (card["issued_on"], card["revoked_on"]) == (date(2025, 4, 1), date(2025, 4, 20))
    assert card["issued_by"] == event_id_for(TOWN, "CARD-1")
    assert card["revoked_by"] == event_id_for(TOWN, "REVOKE-1")
    assert version == 3
    refused = ledger["CARD-2"]
    reasons = json.loads(refused["entry"])["reasons"]
    assert refused["status"] == "refused"
    assert [(r["code"], r["field"]) for r in reasons] == [("identity_mismatch",
                                                            "identity.kana_name")]
