"""Deterministic ids of notices and of each recipient's copy: the same facts give the same ids,
and two recipients' copies of one notice share nothing visible.

A notice id is uuid5 over (relay id, rule, key date) in a namespace of its own. It stays inside
the relay: each recipient is given `recipient_notice_id(notice_id, recipient)`, a uuid5 keyed
by the notice id, so two participants comparing their records cannot tell that they hold copies
of one notice without the notice id, which needs the relay id, which never leaves the relay
(DOMAIN §5). The hiding rests on the relay id being unguessable; a keyed hash (HMAC with a relay
secret) would not need that, and is left to the processor that publishes the copies."""

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

NOTICE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:notification-streams")


def notice_id(relay_id: str, rule: str, key_date: date) -> UUID:
    """One notice per person, rule and key date (a loss date, a list date, a deadline)."""
    return uuid5(NOTICE_NAMESPACE, f"notice:{rule}:{relay_id}:{key_date.isoformat()}")


def recipient_notice_id(notice: UUID, recipient: str) -> UUID:
    """The id one recipient sees (`recipient` such as "person", "householder",
    "municipality:131016", "insurer:06130012")."""
    return uuid5(notice, f"recipient:{recipient}")
