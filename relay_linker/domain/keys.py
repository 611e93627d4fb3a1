"""Keys under which parked filings wait, and the candidate and card index keys.

A filing is retried when an accepted filing touches one of the keys it waits on."""

from relay_linker.domain.commands import IndexKey

CANDIDATE_KIND = "candidate"
CARD_KIND = "card"


def index_wait(key: IndexKey) -> str:
    return f"idx:{key[0]}:{key[1].hex()}"


def person_wait(relay_id: str) -> str:
    return f"person:{relay_id}"


def event_wait(filer_code: str, filing_reference: str) -> str:
    return f"event:{filer_code}:{filing_reference}"


def link_wait(relay_id: str, scheme: str, insurer_number: str) -> str:
    return f"link:{relay_id}:{scheme}:{insurer_number}"


def relay_of_link_wait(key: str) -> str:
    return key.removeprefix("link:").rsplit(":", 2)[0]


def candidate_key(candidate_hash: bytes) -> IndexKey:
    return (CANDIDATE_KIND, candidate_hash)


def card_key(fingerprint: str) -> IndexKey:
    """The index key under which a card's fingerprint names its holder."""
    return (CARD_KIND, bytes.fromhex(fingerprint))
