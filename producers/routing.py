"""Which ingestion topic a filing goes to, and the record (topic, key, value) that carries it.

A retraction (取消) goes to its filer's own topic, so it needs the filer's kind. Topics are named
as in the catalogue; the publisher puts them in its namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Filing, encode, topic_for
from schemas.filings import filer_of
from schemas.payload import FilerKind

RETRACTION = "FilingRetracted"
FILER_KINDS = tuple(kind.value for kind in FilerKind if kind is not FilerKind.ANY)


@dataclass(frozen=True)
class Outgoing:
    """A validated filing and the ingestion topic (its catalogue name) it is published on."""

    filing: Filing
    topic: str

    @property
    def key(self) -> bytes:
        """The record key: filer code and person token, never a secret."""
        return self.filing.kafka_key()

    @property
    def value(self) -> bytes:
        """The record value: the filing as UTF-8 JSON."""
        return encode(self.filing)


def kind_of(event_type: str) -> FilerKind:
    """The kind of filer publishing `event_type` (`any` for a retraction)."""
    return filer_of(event_type)


def route(filing: Filing, kind: FilerKind | None = None) -> Outgoing:
    """`filing` on its topic; ValueError for a retraction without the filer's kind."""
    return Outgoing(filing, topic_for(filing.event_type, kind).name)
