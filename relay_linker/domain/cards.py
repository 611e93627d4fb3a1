"""IC cards: issuing and revoking the card whose key proves who a person is.

Like every filing but a registration, a card names an existing person and never creates one."""

from relay_linker.domain.commands import IssueCard, LinkerRecord, RevokeCard
from relay_linker.domain.effects import CardIssued, CardRevoked, ReferenceIndexed
from relay_linker.domain.keys import card_key, person_wait
from relay_linker.domain.matching import after_death, locate
from relay_linker.domain.model import Card, IndexEntry, Reason
from relay_linker.domain.ports import Hasher
from relay_linker.domain.reads import cards_of, indexed
from relay_linker.domain.state import RelayState
from relay_linker.domain.verdict import Verdict, accepted, parked, refused


def issue_card(
    view: RelayState, record: LinkerRecord, position: int, command: IssueCard, hasher: Hasher
) -> Verdict:
    """Accept a card for the matched person; a card of another person is refused.

    The same card issued to the same person again is accepted and changes nothing."""
    found = locate(view, record, command.person, command.identity, command.issued_on, hasher)
    if isinstance(found, Verdict):
        return found
    late = after_death(found.person, command.issued_on, record)
    if late is not None:
        return late
    relay_id = found.person.relay_id
    key = card_key(command.fingerprint)
    holder = indexed(view, key)
    if holder is not None and holder.relay_id != relay_id:
        return refused([Reason("card_in_use", "fingerprint")])
    known = _card(view, relay_id, command.fingerprint)
    if known is not None:
        revoked = known.revoked_on is not None
        return refused([Reason("card_revoked", "fingerprint")]) if revoked else accepted([])
    card = Card(
        command.fingerprint, relay_id, command.public_key, command.issued_on, record.event_id
    )
    entry = IndexEntry(key, relay_id, record.event_id)
    return accepted([CardIssued(card), ReferenceIndexed(entry)])


def revoke_card(
    view: RelayState, record: LinkerRecord, position: int, command: RevokeCard, hasher: Hasher
) -> Verdict:
    """Revoke the matched person's card; a card not issued to them yet parks the filing."""
    found = locate(view, record, command.person, command.identity, command.revoked_on, hasher)
    if isinstance(found, Verdict):
        return found
    relay_id = found.person.relay_id
    card = _card(view, relay_id, command.fingerprint)
    if card is None:
        return parked([Reason("unknown_card", "fingerprint")], [person_wait(relay_id)])
    if card.revoked_on is not None:
        return refused([Reason("card_revoked", "fingerprint")])
    if command.revoked_on < card.issued_on:
        return refused([Reason("revoked_before_issue", "revoked_on")])
    revoked = CardRevoked(card.fingerprint, relay_id, command.revoked_on, record.event_id)
    return accepted([revoked])


def _card(view: RelayState, relay_id: str, fingerprint: str) -> Card | None:
    return next((c for c in cards_of(view, relay_id) if c.fingerprint == fingerprint), None)
