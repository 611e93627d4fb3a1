"""The `Filing` envelope every ingestion record carries, its event id and its Kafka key.

The payload is parsed into the model the registry names for (event_type, schema_version).
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID, uuid5

from pydantic import (
    Field,
    SerializeAsAny,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.base import JST, ContractModel, Day, Instant, Problem, error, raise_problems
from schemas.filings import (
    EVENT_TYPES,
    PAYLOADS,
    FilingRetracted,
    allowed_on,
    topic_for,
    topics_for,
    versions_of,
)
from schemas.identifiers import FilerCode, FilingReference, PersonToken
from schemas.payload import FilerKind, Payload
from schemas.secret import SecretNumber, iter_secrets

__all__ = [
    "EVENT_TYPES",
    "FILING_NAMESPACE",
    "JST",
    "PAYLOADS",
    "Envelope",
    "FilerKind",
    "Filing",
    "event_id_for",
    "new_filing",
    "topic_for",
    "topics_for",
]

FILING_NAMESPACE = UUID(
    "4a17ca0f-ce39-522f-8bf4-82e70e19b188"
)  # uuid5(URL, urn:shaho-relay:filing)
TOKEN_CONTAINMENT_MIN = 6  # a number this long may not appear anywhere inside person_token


def event_id_for(filer_code: str, filing_reference: str) -> UUID:
    """The event id of a filing: the same filer and reference always give the same id."""
    return uuid5(FILING_NAMESPACE, f"{filer_code}:{filing_reference}")


class Envelope(ContractModel):
    """The envelope fields of an ingestion record (see docs/contracts.md)."""

    event_id: UUID = Field(description="uuid5(FILING_NAMESPACE, '<filer_code>:<filing_reference>')")
    event_type: str = Field(description="the domain event's name")
    schema_version: Annotated[StrictInt, Field(ge=1, description="the payload's version")]
    occurred_at: Instant = Field(description="when the filer says it was filed")
    effective_date: Day | None = Field(
        default=None, description="the payload's effective date; null for FilingRetracted"
    )
    filer_code: FilerCode = Field(description="public code of the filer")
    filing_reference: FilingReference = Field(description="the filer's unique id for the filing")
    person_token: PersonToken = Field(description="opaque token the filer assigns to the person")


class Filing(Envelope):
    """One ingestion record. Validate with `context={"topic": name}` to check the topic.

    Checks: the event id matches filer code and reference; `effective_date` equals the
    payload's effective date; the person token carries no person-level number; dates that
    cannot be in the future (births, deaths, registrations, …) are not after the filing's
    date, which is `occurred_at` in Japan time.
    """

    payload: SerializeAsAny[Payload]

    @field_validator("event_type")
    @classmethod
    def _known_event_type(cls, value: str, info: ValidationInfo) -> str:
        if value not in EVENT_TYPES:
            raise error("unknown_event_type", "not a known event type (see docs/contracts.md)")
        topic = (info.context or {}).get("topic")
        if topic is not None and not allowed_on(value, topic):
            names = ", ".join(t.name for t in topics_for(value))
            raise error("wrong_topic", f"{value} is not published on {topic}; use {names}")
        return value

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int, info: ValidationInfo) -> int:
        event_type = info.data.get("event_type")
        known = versions_of(event_type) if isinstance(event_type, str) else ()
        if known and value not in known:
            listed = ", ".join(str(v) for v in known)
            raise error("unknown_schema_version", f"{event_type} has schema versions {listed}")
        return value

    @field_validator("payload", mode="plain")
    @classmethod
    def _parse_payload(cls, value: Any, info: ValidationInfo) -> Payload | None:
        model = PAYLOADS.get((info.data.get("event_type"), info.data.get("schema_version")))
        if model is None:
            return None  # event_type or schema_version failed and says so
        if isinstance(value, Payload) and not isinstance(value, model):
            raise error("payload_type", f"payload is not a {model.EVENT_TYPE} payload")
        if isinstance(value, model):
            return value
        return model.model_validate(value)

    @model_validator(mode="after")
    def _consistent(self) -> Filing:
        filing_date = [
            Problem(("payload", *p.loc), p.type, p.message)
            for p in self.payload.filing_date_problems(self.filed_on)
        ]
        problems = [
            *self._event_id_problems(),
            *self._effective_date_problems(),
            *self._token_problems(),
            *self._retraction_problems(),
            *filing_date,
        ]
        raise_problems(type(self).__name__, problems)
        return self

    @property
    def filed_on(self) -> date:
        """The filing's date in Japan: the date of `occurred_at` in JST."""
        return self.occurred_at.astimezone(JST).date()

    def kafka_key(self) -> bytes:
        """The ingestion record's key: filer code and person token, never a secret."""
        return f"{self.filer_code}:{self.person_token}".encode()

    def _event_id_problems(self) -> list[Problem]:
        if self.event_id == event_id_for(self.filer_code, self.filing_reference):
            return []
        message = "event_id must be uuid5(FILING_NAMESPACE, '<filer_code>:<filing_reference>')"
        return [Problem(("event_id",), "event_id", message)]

    def _effective_date_problems(self) -> list[Problem]:
        if self.effective_date == self.payload.effective_on():
            return []
        field = self.payload.EFFECTIVE_FIELD
        message = (
            f"effective_date must be null for {self.event_type}"
            if field is None
            else f"effective_date must equal payload.{field}"
        )
        return [Problem(("effective_date",), "effective_date", message)]

    def _token_problems(self) -> list[Problem]:
        token = _fold(self.person_token)
        for _, secret in iter_secrets(self.payload):
            number = _fold(secret.reveal()) if isinstance(secret, SecretNumber) else ""
            long_enough = len(number) >= TOKEN_CONTAINMENT_MIN
            if number and (number == token or (long_enough and number in token)):
                message = "person_token must not carry a person-level number"
                return [Problem(("person_token",), "person_token", message)]
        return []

    def _retraction_problems(self) -> list[Problem]:
        payload = self.payload
        if not isinstance(payload, FilingRetracted):
            return []
        if payload.retracted_filing_reference != self.filing_reference:
            return []
        loc = ("payload", "retracted_filing_reference")
        return [Problem(loc, "retraction", "a filing cannot retract itself")]


def _fold(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def new_filing(
    payload: Payload,
    *,
    filer_code: str,
    filing_reference: str,
    person_token: str,
    occurred_at: datetime,
) -> Filing:
    """A validated Filing for `payload`, with event id, type, version and effective date set."""
    return Filing(
        event_id=event_id_for(filer_code, filing_reference),
        event_type=payload.EVENT_TYPE,
        schema_version=payload.SCHEMA_VERSION,
        occurred_at=occurred_at,
        effective_date=payload.effective_on(),
        filer_code=filer_code,
        filing_reference=filing_reference,
        person_token=person_token,
        payload=payload,
    )
