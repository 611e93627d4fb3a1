"""Output effects → outbox rows holding the relay's Kafka messages (link changes v1 and v2,
age milestones, outcomes in clear for the relay and sealed to their filer, dead letters), each
with its idempotency id, its cause and the output partition of its key.

An outcome is sealed here, once, when its decision is stored: the outbox row holds the seal
and the publisher sends it as stored, so a restart never re-seals what was decided.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from outbox.table import OutboxRow
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from schemas import FilingOutcome, FilingRejected, LinkChanged, Reason, encode
from schemas.filings import FILER_TOPICS
from schemas.internal import AgeMilestoneReached, LinkChangedV2
from schemas.relay import OutcomeAddressee, conflict_id_for
from schemas.topics import (
    AGE_MILESTONE,
    FILING_OUTCOME,
    LINK_CHANGE,
    LINK_CHANGE_V2,
    OUTCOME_TOPICS,
    Namespace,
)
from schemas.topics import topic as catalogue_topic
from trust.encryption_keys import NoEncryptionKey, PublicKeys
from trust.pki import Participant
from trust.sealing import seal_outcome

log = logging.getLogger("shaho.linker")
DEAD_LETTER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:dead-letter")
KIND_OF_TOPIC: dict[str, OutcomeAddressee] = {
    topic.name: OutcomeAddressee(kind.value) for kind, topic in FILER_TOPICS.items()}
"""The kind of filer that files on each ingestion topic: who an outcome is addressed to."""


def _row(id_: UUID, source: Source, index: int, topic: str, key: bytes, value: bytes,
         namespace: Namespace) -> OutboxRow:
    """A row for the partition of `topic` its key lands on, as the catalogue partitions it."""
    partitions = catalogue_topic(namespace.logical(topic)).partitions
    return OutboxRow.keyed(id_, (source.topic, source.partition, source.offset), index, topic,
                           partitions, key, value)


def link_changed(e: fx.LinkChangeEmitted, relay_time: datetime | None = None) -> LinkChanged:
    return LinkChanged(
        relay_id=e.relay_id, person_version=max(e.person_version, 1), change=e.change,
        scheme=e.scheme, insurer_number=e.insurer_number,
        capacity=e.capacity, valid_from=e.valid_from, valid_to=e.valid_to,
        source_event_id=e.source_event_id, outbox_id=e.outbox_id, relay_time=relay_time)


def link_changed_v2_id(outbox_id: UUID) -> UUID:
    """The v2 message's own id, derived from the output's (v1) id."""
    return uuid5(outbox_id, LINK_CHANGE_V2.name)


def link_changed_v2(e: fx.LinkChangeEmitted, relay_time: datetime | None = None) -> LinkChangedV2:
    assert e.outbox_id is not None
    return LinkChangedV2(
        relay_id=e.relay_id, person_version=max(e.person_version, 1), change=e.change,
        scheme=e.scheme, insurer_number=e.insurer_number, capacity=e.capacity,
        category=e.category, pension_type=e.pension_type, valid_from=e.valid_from,
        valid_to=e.valid_to, closed_because=e.closed_because,
        insured_relay_id=e.insured_relay_id, spouse_relay_id=e.spouse_relay_id,
        source_event_id=e.source_event_id, outbox_id=link_changed_v2_id(e.outbox_id),
        relay_time=relay_time)


def age_milestone_reached(e: fx.AgeMilestoneEmitted, relay_time: datetime) -> AgeMilestoneReached:
    return AgeMilestoneReached(
        relay_id=e.relay_id, milestone=e.name, age=e.age, milestone_on=e.due_on,
        outbox_id=e.outbox_id, relay_time=relay_time)


def filing_outcome(e: fx.OutcomeIssued, relay_time: datetime | None = None) -> FilingOutcome:
    reasons = [Reason(code=r.code, field=r.field, message=r.message) for r in e.reasons]
    return FilingOutcome(
        event_id=e.event_id, filer_code=e.filer_code, filing_reference=e.filing_reference,
        receipt_id=str(e.receipt_id), status=e.status, reasons=reasons, outbox_id=e.outbox_id,
        content_hash=e.content_hash, conflicts_with=e.conflicts_with, relay_time=relay_time)


def addressee_kind(role: str | None) -> OutcomeAddressee | None:
    """The outcome topic's kind for a filer of `role`, or None (no filer of outcomes)."""
    try:
        return OutcomeAddressee(role) if role is not None else None
    except ValueError:
        return None


def sealed_row(outcome: FilingOutcome, kind: OutcomeAddressee | None, source: Source,
               index: int, namespace: Namespace,
               addressees: PublicKeys | None) -> list[OutboxRow]:
    """The outcome sealed to its filer on `outcome.<kind>.v1`; none without addressees' keys
    (unit tests of the clear messages), a kind, or a key for the filer (logged: a participant
    is given its key before the registry names it, so this is a broken setup)."""
    if addressees is None or kind is None:
        return []
    topic = OUTCOME_TOPICS[kind.value].name
    try:
        key = addressees.lookup(Participant(kind.value, outcome.filer_code))
    except (NoEncryptionKey, ValueError) as missing:
        log.error("outcome %s not sealed: %s", outcome.outbox_id, type(missing).__name__)
        return []
    sealed = seal_outcome(outcome, kind, topic, key.public_key)
    return [_row(sealed.outbox_id, source, index, namespace.physical(topic),
                 sealed.kafka_key(), encode(sealed), namespace)]


def output_rows(effects: list[fx.Effect], source: Source, namespace: Namespace,
                relay_time: datetime | None = None,
                addressees: PublicKeys | None = None) -> list[OutboxRow]:
    """One outbox row per output effect, in decision order, for the topics of `namespace`,
    each stamped with the relay time of the decision; an outcome also sealed to its filer
    with the key `addressees` give."""
    out: list[OutboxRow] = []
    for e in effects:
        messages: list[tuple[LinkChanged | LinkChangedV2 | FilingOutcome |
                             AgeMilestoneReached, str]]
        if isinstance(e, fx.AgeMilestoneEmitted):
            assert relay_time is not None, "a milestone is announced at a relay time"
            messages = [(age_milestone_reached(e, relay_time), AGE_MILESTONE.name)]
        elif isinstance(e, fx.LinkChangeEmitted):
            messages = [(link_changed(e, relay_time), LINK_CHANGE.name),
                        (link_changed_v2(e, relay_time), LINK_CHANGE_V2.name)]
        elif isinstance(e, fx.OutcomeIssued):
            messages = [(filing_outcome(e, relay_time), FILING_OUTCOME.name)]
        else:
            continue
        for message, topic in messages:
            out.append(_row(message.outbox_id, source, e.index, namespace.physical(topic),
                            message.kafka_key(), encode(message), namespace))
            if isinstance(message, FilingOutcome):
                assert isinstance(e, fx.OutcomeIssued)
                out += sealed_row(message, KIND_OF_TOPIC.get(e.filed_on), source, e.index,
                                  namespace, addressees)
    return out


def dead_letter_rows(letter: tuple[str, bytes, bytes], rejected: FilingRejected,
                     source: Source, namespace: Namespace,
                     relay_time: datetime | None = None, *, raw: bytes,
                     signer_role: str | None = None,
                     addressees: PublicKeys | None = None) -> list[OutboxRow]:
    """The dead letter, and a refused outcome when the filer and reference could be read,
    sealed to the signer (`signer_role`, whose signature verified) as well.

    The refusal answers these bytes (`raw`, the record's value), not the filing reference: it
    goes out under an id of its own, `conflict_id_for(event id, SHA-256 of raw)`, with
    `conflicts_with` naming the reference, as the refusal of a conflicting re-send does. So a
    broken record sent under somebody's reference (or a filer's own broken first try) never
    changes the answer to a valid filing under that reference."""
    where = f"{source.topic}:{source.partition}:{source.offset}"
    topic, key, value = letter
    rows = [_row(uuid5(DEAD_LETTER_NAMESPACE, where), source, 0, topic, key, value, namespace)]
    event_id = rejected.event_id
    if event_id is not None and rejected.filer_code and rejected.filing_reference:
        content = hashlib.sha256(raw).hexdigest()
        own = conflict_id_for(event_id, content)
        outcome = FilingOutcome(
            event_id=own, filer_code=rejected.filer_code,
            filing_reference=rejected.filing_reference,
            receipt_id=str(uuid5(own, f"receipt:rejected:{where}")), status="refused",
            reasons=rejected.reasons[:100], outbox_id=uuid5(DEAD_LETTER_NAMESPACE, f"{where}:1"),
            content_hash=content, conflicts_with=event_id, relay_time=relay_time)
        rows.append(_row(outcome.outbox_id, source, 1, namespace.physical(FILING_OUTCOME),
                         outcome.kafka_key(), encode(outcome), namespace))
        rows += sealed_row(outcome, addressee_kind(signer_role), source, 1, namespace,
                           addressees)
    return rows
