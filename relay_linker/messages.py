"""Output effects → outbox rows holding the relay's Kafka messages (link changes v1 and v2,
age milestones, person changes, outcomes in clear for the relay and sealed to their filer,
change notices sealed to each insurer that knows the person, dead letters), each with its
idempotency id, its cause and the output partition of its key; and the relay clock's ticks
forwarded onto every partition of the relay-internal topics read in relay-clock order.

An outcome or a notice is sealed here, once, when its decision is stored: the outbox row holds
the seal and the publisher sends it as stored, so a restart never re-seals what was decided.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from groundfloor.crypto import Keyring, Sealed, open_sealed, participant_pseudonym
from outbox.table import OutboxRow
from relay_clock.ticks import headers as tick_headers
from relay_clock.ticks import new_tick
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from relay_linker.domain.households import HOUSEHOLDER
from schemas import Filing, FilingOutcome, FilingRejected, LinkChanged, Reason, encode
from schemas.common import Scheme
from schemas.filings import FILER_TOPICS
from schemas.internal import AgeMilestoneReached, LinkChangedV2, PersonChanged
from schemas.notices import ChangeKind
from schemas.relay import OutcomeAddressee, conflict_id_for
from schemas.topics import (
    AGE_MILESTONE,
    FILING_OUTCOME,
    FORWARDED_TICK_TOPICS,
    LINK_CHANGE,
    LINK_CHANGE_V2,
    OUTCOME_TOPICS,
    PERSON_CHANGE,
    RELAY_CLOCK,
    Namespace,
    changes_topic,
)
from schemas.topics import topic as catalogue_topic
from trust.encryption_keys import NoEncryptionKey, PublicKeys
from trust.notice_sealing import NoticeContent, seal_notice
from trust.pki import Participant
from trust.sealing import seal_outcome

log = logging.getLogger("shaho.linker")
UNSEALED_NOTICES: Counter[str] = Counter()
"""Change notices not made, per recipient code, because the recipient holds no encryption
key here (a warning each; an insurer that never onboarded cannot be told)."""
DEAD_LETTER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:dead-letter")
FORWARDED_TICK_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:forwarded-tick")
KIND_OF_TOPIC: dict[str, OutcomeAddressee] = {
    topic.name: OutcomeAddressee(kind.value) for kind, topic in FILER_TOPICS.items()}
"""The kind of filer that files on each ingestion topic: who an outcome is addressed to."""


def _row(id_: UUID, source: Source, index: int, topic: str, key: bytes, value: bytes,
         namespace: Namespace) -> OutboxRow:
    """A row for the partition of `topic` its key lands on, as the catalogue partitions it."""
    partitions = catalogue_topic(namespace.logical(topic)).partitions
    return OutboxRow.keyed(id_, (source.topic, source.partition, source.offset), index, topic,
                           partitions, key, value)


def _capacity(e: fx.LinkChangeEmitted) -> str | None:
    """The contract's capacity: a household link has none (v2 says whether the person is its
    householder)."""
    return None if e.household is not None else e.capacity


def _householder(e: fx.LinkChangeEmitted) -> bool | None:
    return None if e.household is None else e.capacity == HOUSEHOLDER


def link_changed(e: fx.LinkChangeEmitted, relay_time: datetime | None = None) -> LinkChanged:
    return LinkChanged(
        relay_id=e.relay_id, person_version=max(e.person_version, 1), change=e.change,
        scheme=e.scheme, insurer_number=e.insurer_number,
        capacity=_capacity(e), valid_from=e.valid_from, valid_to=e.valid_to,
        source_event_id=e.source_event_id, outbox_id=e.outbox_id, relay_time=relay_time)


def link_changed_v2_id(outbox_id: UUID) -> UUID:
    """The v2 message's own id, derived from the output's (v1) id."""
    return uuid5(outbox_id, LINK_CHANGE_V2.name)


def link_changed_v2(e: fx.LinkChangeEmitted, relay_time: datetime | None = None) -> LinkChangedV2:
    assert e.outbox_id is not None
    return LinkChangedV2(
        relay_id=e.relay_id, person_version=max(e.person_version, 1), change=e.change,
        scheme=e.scheme, insurer_number=e.insurer_number, capacity=_capacity(e),
        category=e.category, pension_type=e.pension_type, valid_from=e.valid_from,
        valid_to=e.valid_to, closed_because=e.closed_because,
        insured_relay_id=e.insured_relay_id, spouse_relay_id=e.spouse_relay_id,
        household=e.household, householder=_householder(e),
        source_event_id=e.source_event_id, outbox_id=link_changed_v2_id(e.outbox_id),
        relay_time=relay_time)


def age_milestone_reached(e: fx.AgeMilestoneEmitted, relay_time: datetime) -> AgeMilestoneReached:
    return AgeMilestoneReached(
        relay_id=e.relay_id, milestone=e.name, age=e.age, milestone_on=e.due_on,
        outbox_id=e.outbox_id, relay_time=relay_time)


def person_changed(e: fx.PersonChangeEmitted, relay_time: datetime) -> PersonChanged:
    assert e.outbox_id is not None
    return PersonChanged(
        relay_id=e.relay_id, person_version=e.person_version, born_on=e.born_on,
        died_on=e.died_on, removed=e.removed, source_event_id=e.source_event_id,
        outbox_id=e.outbox_id, relay_time=relay_time)


def forwarded_tick_id(topic: str, partition: int, seq: int) -> UUID:
    """Tick `seq` forwarded onto `topic` (its catalogue name):`partition`: the same in every
    namespace, however often the clock step is replayed."""
    return uuid5(FORWARDED_TICK_NAMESPACE, f"{topic}:{partition}:{seq}")


def tick_rows(keyring: Keyring, seq: int, relay_time: datetime,
              namespace: Namespace) -> list[OutboxRow]:
    """The relay clock's tick `seq` (made again under the clock key, so `authentic` holds) for
    every partition of the relay-internal topics read in relay-clock order, with the tick
    header. Written when the linker applies ClockAdvanced(seq), before what that step
    announces: on each lane it follows every message of earlier relay time."""
    tick = new_tick(keyring, seq, relay_time)
    key, value = tick.kafka_key(), encode(tick)
    source = (RELAY_CLOCK.name, 0, seq)
    return [OutboxRow(forwarded_tick_id(topic.name, partition, seq), *source, index,
                      namespace.physical(topic), partition, key, value, tuple(tick_headers()))
            for index, (topic, partition) in enumerate(
                (t, p) for t in FORWARDED_TICK_TOPICS for p in range(t.partitions))]


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


@dataclass(frozen=True)
class NoticeMaking:
    """What sealing change notices needs besides the recipients' keys: the relay's keyring
    (to open the recipient's stored number and derive its pseudonym for the person) and the
    filing being processed, decoded, whose new name or address is forwarded as filed; held
    in memory for this record only."""

    keyring: Keyring
    filing: Filing | None = None


def recipient(code: str) -> Participant:
    """The participant a notice for `code` is sealed to: the Japan Pension Service for its
    links, an insurer otherwise."""
    return Participant("pension", code) if code == "JPS" else Participant("insurer", code)


def filed_items(filing: Filing | None, event_id: Any, kind: str) -> dict[str, Any]:
    """The new name and kana name (name_change) or address (address_change) as `filing`
    filed them, when it is the filing that made the notice due; else nothing."""
    if filing is None or filing.event_id != event_id:
        return {}
    p = filing.payload
    source = getattr(p, "corrected", p)
    name = getattr(source, "new_kanji_name", None) or getattr(source, "kanji_name", None)
    kana = getattr(source, "new_kana_name", None) or getattr(source, "kana_name", None)
    address = getattr(source, "new_address", None) or getattr(source, "address", None)
    if kind == ChangeKind.NAME_CHANGE:
        return {"new_name": _clear(name), "new_kana": _clear(kana)}
    if kind == ChangeKind.ADDRESS_CHANGE and address is not None:
        return {"new_address": address.model_dump(mode="json")}
    return {}


def _clear(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.reveal() if hasattr(value, "reveal") else value)


def notice_row(e: fx.ChangeNoticeDue, source: Source, namespace: Namespace,
               relay_time: datetime | None, addressees: PublicKeys | None,
               making: NoticeMaking | None) -> list[OutboxRow]:
    """The notice sealed for its recipient on `participant.<code>.changes.v1`; none without
    keys or a keyring (unit tests of the clear messages), and none, with a counted warning
    naming only the insurer's code, for a recipient without an encryption key."""
    if addressees is None or making is None or relay_time is None:
        return []
    assert e.outbox_id is not None
    if e.sealed_number is None:  # every link's number is indexed when the link opens
        log.error("change notice for insurer %s not made: no stored number", e.recipient_code)
        return []
    try:
        key = addressees.lookup(recipient(e.recipient_code))
    except (NoEncryptionKey, ValueError):
        UNSEALED_NOTICES[e.recipient_code] += 1
        log.warning("change notice for insurer %s not made: it holds no encryption key "
                    "(%d so far)", e.recipient_code, UNSEALED_NOTICES[e.recipient_code])
        return []
    sealed = Sealed.from_json_dict(json.loads(e.sealed_number))
    number = open_sealed(making.keyring, sealed, e.number_key[0].encode()).decode()
    content = NoticeContent(member_number=number,
                            **filed_items(making.filing, e.source_event_id, e.kind))
    topic = changes_topic(e.recipient_code)
    notice = seal_notice(
        source_id=e.outbox_id, recipient_code=e.recipient_code,
        person=participant_pseudonym(making.keyring, e.recipient_code, e.relay_id),
        kind=ChangeKind(e.kind), effective_date=e.effective_date, relay_time=relay_time,
        topic=topic.name, content=content, public_key=key.public_key,
        scheme=Scheme(e.ended_scheme) if e.ended_scheme else None,
        insurer_code=e.ended_insurer)
    return [_row(notice.notice_id, source, e.index, namespace.physical(topic),
                 notice.kafka_key(), encode(notice), namespace)]


def output_rows(effects: list[fx.Effect], source: Source, namespace: Namespace,
                relay_time: datetime | None = None,
                addressees: PublicKeys | None = None,
                making: NoticeMaking | None = None) -> list[OutboxRow]:
    """One outbox row per output effect, in decision order, for the topics of `namespace`,
    each stamped with the relay time of the decision; an outcome also sealed to its filer
    with the key `addressees` give, a change notice sealed to its recipient (`making`)."""
    out: list[OutboxRow] = []
    for e in effects:
        if isinstance(e, fx.ChangeNoticeDue):
            out += notice_row(e, source, namespace, relay_time, addressees, making)
            continue
        messages: list[tuple[LinkChanged | LinkChangedV2 | FilingOutcome |
                             AgeMilestoneReached | PersonChanged, str]]
        if isinstance(e, fx.PersonChangeEmitted):
            assert relay_time is not None, "a person changes at a relay time"
            messages = [(person_changed(e, relay_time), PERSON_CHANGE.name)]
        elif isinstance(e, fx.AgeMilestoneEmitted):
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
