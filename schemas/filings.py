"""The registry of filing payloads: (event type, schema version) → model, filer kind and topic.

`FilingRetracted` (取消) is the one event type every kind of filer may publish on its topic.
"""

from __future__ import annotations

from typing import ClassVar

from schemas import cards, employer, insurer, municipality, pension
from schemas.identifiers import FilingReference
from schemas.payload import FilerKind, Payload
from schemas.topics import (
    FILING_EMPLOYER,
    FILING_INSURER,
    FILING_MUNICIPALITY,
    FILING_PENSION,
    INGESTION_TOPICS,
    Topic,
)


class FilingRetracted(Payload):
    """取消: the filer withdraws its earlier filing `retracted_filing_reference`."""

    EVENT_TYPE: ClassVar[str] = "FilingRetracted"
    FILER: ClassVar[FilerKind] = FilerKind.ANY

    retracted_filing_reference: FilingReference


PAYLOAD_MODELS: tuple[type[Payload], ...] = (
    *pension.PAYLOADS,
    *employer.PAYLOADS,
    *insurer.PAYLOADS,
    *municipality.PAYLOADS,
    *cards.PAYLOADS,
    FilingRetracted,
)

PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    (model.EVENT_TYPE, model.SCHEMA_VERSION): model for model in PAYLOAD_MODELS
}
if len(PAYLOADS) != len(PAYLOAD_MODELS):
    raise RuntimeError("two payload models claim the same event type and schema version")

FILER_TOPICS: dict[FilerKind, Topic] = {
    FilerKind.PENSION: FILING_PENSION,
    FilerKind.EMPLOYER: FILING_EMPLOYER,
    FilerKind.MUNICIPALITY: FILING_MUNICIPALITY,
    FilerKind.INSURER: FILING_INSURER,
}

EVENT_TYPES: tuple[str, ...] = tuple(sorted({event_type for event_type, _ in PAYLOADS}))


def versions_of(event_type: str) -> tuple[int, ...]:
    """The schema versions known for `event_type`, ascending; empty when it is unknown."""
    return tuple(sorted(version for name, version in PAYLOADS if name == event_type))


def filer_of(event_type: str) -> FilerKind:
    """The kind of filer that publishes `event_type`; KeyError for an unknown event type."""
    for (name, _), model in PAYLOADS.items():
        if name == event_type:
            return model.FILER
    raise KeyError(event_type)


def topics_for(event_type: str) -> tuple[Topic, ...]:
    """Every ingestion topic `event_type` may be published on; KeyError when unknown."""
    filer = filer_of(event_type)
    return INGESTION_TOPICS if filer is FilerKind.ANY else (FILER_TOPICS[filer],)


def topic_for(event_type: str, filer: FilerKind | None = None) -> Topic:
    """The ingestion topic of `event_type`; a retraction needs the `filer` kind to choose one."""
    kind = filer_of(event_type)
    if kind is FilerKind.ANY:
        if filer is None or filer is FilerKind.ANY:
            raise ValueError(f"{event_type} goes to the filer's own topic: pass filer=")
        kind = filer
    return FILER_TOPICS[kind]


def allowed_on(event_type: str, topic_name: str) -> bool:
    """Whether `event_type` may be published on the topic named `topic_name`."""
    try:
        return any(t.name == topic_name for t in topics_for(event_type))
    except KeyError:
        return False
