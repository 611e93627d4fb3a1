"""IC cards: issued to and revoked for an existing, matching person; never creating one.

A card belongs to one person; retractions undo exactly the issuance or the revocation."""

from __future__ import annotations

import hashlib
from datetime import date

from groundfloor.crypto import Keyring
from relay_linker.domain import MissingFromSlice, apply_all, decide, new_state
from relay_linker.domain.commands import Identity, IssueCard, LinkerRecord, RevokeCard
from relay_linker.domain.effects import Effect, PersonVersionBumped
from relay_linker.domain.keys import card_key
from relay_linker.domain.slicing import carve, needs, widened
from relay_linker.domain.state import RelayState
from relay_linker.translate import Translator
from tests.fixtures.examples import card_fingerprint, card_public_key, example_filing
from tests.unit.test_linker_support import (
    HASHER,
    Filer,
    Relay,
    Someone,
    at,
    death,
    of_type,
    person,
    register,
    retraction,
    with_items,
)

TOWN = Filer("131016")
HANA = person("hana", "10000000001", "1980-05-10")
JIRO = person("jiro", "10000000002", "1975-01-20", "male")
KEY = b"\x30\x59" + b"hana-card-key"
FINGERPRINT = hashlib.sha256(KEY).hexdigest()
NOW = at(4, 1)  # the relay time the example filings arrive at


def issuing(
    who: Someone, on: date = date(2025, 4, 1), *, identity: Identity | None = None
) -> IssueCard:
    return IssueCard(who.resident, identity or who.identity, FINGERPRINT, KEY, on)


def revoking(
    who: Someone, on: date = date(2025, 5, 1), fingerprint: str = FINGERPRINT
) -> RevokeCard:
    return RevokeCard(who.resident, who.identity, fingerprint, on)


def _registered(*people: Someone) -> Relay:
    relay = Relay()
    relay.feed(*(TOWN.file(f"reg-{p.name}", register(p), when=at(4, 1)) for p in people))
    return relay


def _cards(relay: Relay, who: Someone) -> list[tuple[str, date, date | None]]:
    return [
        (c.fingerprint, c.issued_on, c.revoked_on)
        for c in relay.state.cards.get(relay.relay_id(who), ())
    ]


def _version(relay: Relay, who: Someone) -> int:
    return relay.state.persons[relay.relay_id(who)].version


def test_a_card_is_issued_to_the_matching_person() -> None:
    relay = _registered(HANA)
    before = _version(relay, HANA)
    filing = TOWN.file("card", issuing(HANA), when=at(4, 2))
    relay.feed(filing)
    assert relay.status(filing) == "accepted"
    assert _cards(relay, HANA) == [(FINGERPRINT, date(2025, 4, 1), None)]
    assert relay.state.index[card_key(FINGERPRINT)].relay_id == relay.relay_id(HANA)
    assert _version(relay, HANA) == before + 1


def test_a_card_never_creates_a_person() -> None:
    relay = Relay()
    filing = TOWN.file("card", issuing(HANA), when=at(4, 2))
    relay.feed(filing)
    assert relay.reasons(filing) == [("unknown_reference", "person")]
    assert relay.state.persons == {} and relay.state.cards == {}
    relay.feed(TOWN.file("reg-hana", register(HANA), when=at(4, 3)))
    assert relay.status(filing) == "accepted"
    assert _cards(relay, HANA) == [(FINGERPRINT, date(2025, 4, 1), None)]


def test_a_card_of_another_person_is_refused() -> None:
    relay = _registered(HANA, JIRO)
    relay.feed(TOWN.file("card-hana", issuing(HANA), when=at(4, 2)))
    other = TOWN.file("card-jiro", issuing(JIRO), when=at(4, 3))
    relay.feed(other)
    assert relay.reasons(other) == [("card_in_use", "fingerprint")]
    assert relay.state.cards.get(relay.relay_id(JIRO), ()) == ()


def test_the_same_card_issued_again_is_accepted_without_a_second_row() -> None:
    relay = _registered(HANA)
    relay.feed(TOWN.file("card", issuing(HANA), when=at(4, 2)))
    version = _version(relay, HANA)
    again = TOWN.file("card-again", issuing(HANA, date(2025, 4, 2)), when=at(4, 3))
    effects = relay.feed(again)
    assert relay.status(again) == "accepted"
    assert _cards(relay, HANA) == [(FINGERPRINT, date(2025, 4, 1), None)]
    assert of_type(effects, PersonVersionBumped) == []
    assert _version(relay, HANA) == version


def test_a_mismatching_kana_name_parks_then_is_refused_after_the_bound() -> None:
    relay = _registered(HANA)
    wrong = with_items(HANA.identity, kana_name="ハナコ")
    filing = TOWN.file("card", issuing(HANA, identity=wrong), when=at(4, 2))
    relay.feed(filing)
    assert relay.reasons(filing) == [("identity_mismatch", "identity.kana_name")]
    relay.feed(TOWN.file("reg-jiro", register(JIRO), when=at(4, 17)))
    assert relay.status(filing) == "refused"
    assert relay.state.cards.get(relay.relay_id(HANA), ()) == ()


def test_a_card_issued_after_the_death_is_refused() -> None:
    relay = _registered(HANA)
    relay.feed(TOWN.file("death", death(HANA, date(2025, 3, 30)), when=at(4, 2)))
    filing = TOWN.file("card", issuing(HANA), when=at(4, 3))
    relay.feed(filing)
    assert relay.reasons(filing) == [("person_deceased", "person")]


def test_a_card_is_revoked() -> None:
    relay = _registered(HANA)
    relay.feed(TOWN.file("card", issuing(HANA), when=at(4, 2)))
    version = _version(relay, HANA)
    filing = TOWN.file("revoke", revoking(HANA), when=at(5, 1))
    relay.feed(filing)
    assert relay.status(filing) == "accepted"
    assert _cards(relay, HANA) == [(FINGERPRINT, date(2025, 4, 1), date(2025, 5, 1))]
    assert _version(relay, HANA) == version + 1


def test_revoking_an_unknown_card_parks_until_it_is_issued() -> None:
    relay = _registered(HANA)
    revocation = TOWN.file("revoke", revoking(HANA), when=at(4, 2))
    relay.feed(revocation)
    assert relay.reasons(revocation) == [("unknown_card", "fingerprint")]
    assert relay.state.parked[revocation.event_id].wait_keys == (f"person:{relay.relay_id(HANA)}",)
    relay.feed(TOWN.file("card", issuing(HANA), when=at(4, 3)))
    assert relay.status(revocation) == "accepted"
    assert _cards(relay, HANA) == [(FINGERPRINT, date(2025, 4, 1), date(2025, 5, 1))]


def test_a_revocation_before_the_issue_is_refused() -> None:
    relay = _registered(HANA)
    relay.feed(TOWN.file("card", issuing(HANA), when=at(4, 2)))
    filing = TOWN.file("revoke", revoking(HANA, date(2025, 3, 31)), when=at(4, 3))
    relay.feed(filing)
    assert relay.reasons(filing) == [("revoked_before_issue", "revoked_on")]


def test_a_card_is_revoked_once() -> None:
    relay = _registered(HANA)
    relay.feed(
        TOWN.file("card", issuing(HANA), when=at(4, 2)),
        TOWN.file("revoke", revoking(HANA), when=at(5, 1)),
    )
    again = TOWN.file("revoke-again", revoking(HANA, date(2025, 5, 2)), when=at(5, 2))
    reissue = TOWN.file("card-again", issuing(HANA), when=at(5, 3))
    relay.feed(again, reissue)
    assert relay.reasons(again) == [("card_revoked", "fingerprint")]
    assert relay.reasons(reissue) == [("card_revoked", "fingerprint")]


def test_retracting_the_issuance_removes_the_card() -> None:
    relay = _registered(HANA)
    relay.feed(TOWN.file("card", issuing(HANA), when=at(4, 2)))
    version = _version(relay, HANA)
    filing = TOWN.file("cancel", retraction("card"), when=at(4, 3))
    relay.feed(filing)
    assert relay.status(filing) == "accepted"
    assert _cards(relay, HANA) == []
    assert card_key(FINGERPRINT) not in relay.state.index
    assert _version(relay, HANA) == version + 1
    reissued = TOWN.file("card-again", issuing(HANA), when=at(4, 4))
    relay.feed(reissued)
    assert relay.status(reissued) == "accepted"


def test_retracting_the_revocation_makes_the_card_valid_again() -> None:
    relay = _registered(HANA)
    relay.feed(
        TOWN.file("card", issuing(HANA), when=at(4, 2)),
        TOWN.file("revoke", revoking(HANA), when=at(5, 1)),
    )
    relay.feed(TOWN.file("cancel", retraction("revoke"), when=at(5, 2)))
    assert _cards(relay, HANA) == [(FINGERPRINT, date(2025, 4, 1), None)]


def test_an_issuance_revoked_by_another_filing_cannot_be_retracted() -> None:
    relay = _registered(HANA)
    relay.feed(
        TOWN.file("card", issuing(HANA), when=at(4, 2)),
        TOWN.file("revoke", revoking(HANA), when=at(5, 1)),
    )
    filing = TOWN.file("cancel", retraction("card"), when=at(5, 2))
    relay.feed(filing)
    assert relay.reasons(filing) == [("retraction_blocked", "retracted_filing_reference")]


def test_a_registration_with_a_card_cannot_be_retracted() -> None:
    relay = _registered(HANA)
    relay.feed(TOWN.file("card", issuing(HANA), when=at(4, 2)))
    filing = TOWN.file("cancel", retraction("reg-hana"), when=at(4, 3))
    relay.feed(filing)
    assert relay.reasons(filing) == [("retraction_blocked", "retracted_filing_reference")]


def _through_slices(whole: RelayState, record: LinkerRecord) -> list[Effect]:
    keys = needs(record)
    for _ in range(50):
        try:
            return decide(carve(whole, keys), record, HASHER)
        except MissingFromSlice as missing:
            keys = widened(keys, missing)
    raise AssertionError("a decision kept asking for more")


def test_card_decisions_through_slices_give_the_same_effects() -> None:
    records = [
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        TOWN.file("reg-jiro", register(JIRO), when=at(4, 1, 10)),
        TOWN.file("revoke", revoking(HANA), when=at(4, 2)),
        TOWN.file("card", issuing(HANA), when=at(4, 3)),
        TOWN.file("card-jiro", issuing(JIRO), when=at(4, 4)),
        TOWN.file("cancel-revoke", retraction("revoke"), when=at(4, 5)),
        TOWN.file("cancel-card", retraction("card"), when=at(4, 6)),
    ]
    whole = new_state()
    for record in records:
        effects = _through_slices(whole, record)
        assert effects == decide(whole, record, HASHER)
        apply_all(whole, effects)
    assert all(cards == () for cards in whole.cards.values())


def test_filings_translate_to_card_commands() -> None:
    translator = Translator(Keyring.generate())
    source = TOWN.file("x", register(HANA), when=at(4, 1)).source
    issued = translator.record(example_filing("CardIssued"), source, NOW).commands
    revoked = translator.record(example_filing("CardRevoked"), source, NOW).commands
    der = card_public_key()
    assert [type(c) for c in (*issued, *revoked)] == [IssueCard, RevokeCard]
    assert issued[0].public_key == der
    assert issued[0].fingerprint == revoked[0].fingerprint == card_fingerprint(der)
    assert issued[0].person == revoked[0].person
