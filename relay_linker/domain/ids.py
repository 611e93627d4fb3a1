"""Deterministic ids: receipts, links, relay seeds, outbox rows and anomalies.

Everything is a uuid5 of event ids and positions, so re-deciding a record gives the same ids."""

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from relay_linker.domain.commands import Source

LINKER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:relay-linker")


def receipt_id(event_id: UUID) -> UUID:
    return uuid5(event_id, "receipt")


def conflict_receipt_id(event_id: UUID, content_hash: str) -> UUID:
    return uuid5(event_id, f"receipt:conflict:{content_hash}")


def conflict_event_id(event_id: UUID, content_hash: str) -> UUID:
    """The refusal of other content under a known event id answers under this id of its own."""
    return uuid5(event_id, f"conflict:{content_hash}")


def link_id(event_id: UUID, position: int) -> UUID:
    return uuid5(event_id, f"link:{position}")


def identity_change_id(event_id: UUID, position: int) -> UUID:
    return uuid5(event_id, f"identity:{position}")


def relay_seed(event_id: UUID, position: int) -> str:
    return f"{event_id}:{position}"


def outbox_id(event_id: UUID, source: Source, index: int) -> UUID:
    """An output's id: a redelivered record repeats it, a re-upload at a new offset does not."""
    return uuid5(event_id, f"outbox:{source.topic}:{source.partition}:{source.offset}:{index}")


def expiry_outbox_id(event_id: UUID, index: int) -> UUID:
    return uuid5(event_id, f"outbox:expired:{index}")


def anomaly_id(code: str, *parts: str) -> UUID:
    return uuid5(LINKER_NAMESPACE, ":".join((code, *parts)))


def milestone_outbox_id(relay_id: str, name: str, due_on: date) -> UUID:
    """A milestone's announcement: the same person, milestone and date give the same id."""
    return uuid5(LINKER_NAMESPACE, f"milestone:{relay_id}:{name}:{due_on.isoformat()}")


def person_change_outbox_id(relay_id: str, version: int) -> UUID:
    """A person's change at one version: the same whatever the batch, the source or a replay
    (a decision bumps each person it changes once, so a version names one decision)."""
    return uuid5(LINKER_NAMESPACE, f"person:{relay_id}:{version}")
