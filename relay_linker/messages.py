"""Output effects → outbox rows holding the relay's Kafka messages (link changes, outcomes,
dead letters), each with its idempotency id, its cause and the output partition of its key.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from outbox.table import OutboxRow
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from schemas import FilingOutcome, FilingRejected, LinkChanged, Reason, encode
from schemas.topics import FILING_OUTCOME, LINK_CHANGE, Namespace
from schemas.topics import topic as catalogue_topic

DEAD_LETTER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:dead-letter")


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


def filing_outcome(e: fx.OutcomeIssued, relay_time: datetime | None = None) -> FilingOutcome:
    reasons = [Reason(code=r.code, field=r.field, message=r.message) for r in e.reasons]
    return FilingOutcome(
        event_id=e.event_id, filer_code=e.filer_code, filing_reference=e.filing_reference,
        receipt_id=str(e.receipt_id), status=e.status, reasons=reasons, outbox_id=e.outbox_id,
        content_hash=e.content_hash, conflicts_with=e.conflicts_with, relay_time=relay_time)


def output_rows(effects: list[fx.Effect], source: Source, namespace: Namespace,
                relay_time: datetime | None = None) -> list[OutboxRow]:
    """One outbox row per output effect, in decision order, for the topics of `namespace`,
    each stamped with the relay time of the decision."""
    out: list[OutboxRow] = []
    for e in effects:
        if isinstance(e, fx.LinkChangeEmitted):
            message: LinkChanged | FilingOutcome = link_changed(e, relay_time)
            topic = namespace.physical(LINK_CHANGE)
        elif isinstance(e, fx.OutcomeIssued):
            message, topic = filing_outcome(e, relay_time), namespace.physical(FILING_OUTCOME)
        else:
            continue
        assert e.outbox_id is not None
        out.append(_row(e.outbox_id, source, e.index, topic, message.kafka_key(),
                        encode(message), namespace))
    return out


def dead_letter_rows(letter: tuple[str, bytes, bytes], rejected: FilingRejected,
                     source: Source, namespace: Namespace,
                     relay_time: datetime | None = None) -> list[OutboxRow]:
    """The dead letter, and a refused outcome when the filer and reference could be read."""
    where = f"{source.topic}:{source.partition}:{source.offset}"
    topic, key, value = letter
    rows = [_row(uuid5(DEAD_LETTER_NAMESPACE, where), source, 0, topic, key, value, namespace)]
    event_id = rejected.event_id
    if event_id is not None and rejected.filer_code and rejected.filing_reference:
        outcome = FilingOutcome(
            event_id=event_id, filer_code=rejected.filer_code,
            filing_reference=rejected.filing_reference,
            receipt_id=str(uuid5(event_id, f"receipt:rejected:{where}")), status="refused",
            reasons=rejected.reasons[:100], outbox_id=uuid5(DEAD_LETTER_NAMESPACE, f"{where}:1"),
            relay_time=relay_time)
        rows.append(_row(outcome.outbox_id, source, 1, namespace.physical(FILING_OUTCOME),
                         outcome.kafka_key(), encode(outcome), namespace))
    return rows
