"""The relayed exchange's contracts: an insurer's request about its own members, the request the
relay routes to each other insurer, that insurer's sealed answer and the relay's replies.

Numbers cross the relay only sealed for the one insurer that may read them (HPKE, RFC 9180;
`trust.number_sealing`); answers are sealed for the asking insurer and never opened by the relay.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID, uuid5

from pydantic import Field, StringConstraints, model_validator

from schemas.base import ContractModel, Instant, error
from schemas.common import InsuredNumber
from schemas.exchange_terms import (
    DataCategory,
    ExchangeOutcome,
    ExchangeScheme,
    ForwardRefusal,
    Purpose,
)
from schemas.identifiers import BasicPensionNumber, CareInsuredNumber, FilerCode
from schemas.relay import MAX_SEALED_BYTES, MIN_SEALED_BYTES, KeyId, RelayMessage, WireBytes

MAX_ENTRIES = 500
"""The most persons one request may carry; each is answered on its own."""
EntryToken = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SealedBytes = Annotated[WireBytes, Field(min_length=MIN_SEALED_BYTES,
                                         max_length=MAX_SEALED_BYTES)]
EXCHANGE_NAMESPACE = UUID("5b7f4d9e-3c1a-5e2b-9f60-7a1d2c3b4e5f")


class MemberNumber(ContractModel):
    """The asking insurer's own number for its member: exactly one of them."""

    insured_number: InsuredNumber | None = Field(
        default=None, description="被保険者記号・番号・枝番 at the asking insurer")
    care_insured_number: CareInsuredNumber | None = Field(
        default=None, description="介護保険被保険者番号 at the asking care insurer")
    basic_pension_number: BasicPensionNumber | None = Field(
        default=None, description="基礎年金番号 (the Japan Pension Service asking)")

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberNumber:
        given = [n for n in (self.insured_number, self.care_insured_number,
                             self.basic_pension_number) if n is not None]
        if len(given) != 1:
            raise error("member_number", "give exactly one of insured_number, "
                        "care_insured_number, basic_pension_number")
        return self


class RequestEntry(ContractModel):
    """One person of a request, named by the asker's own number and the asker's token for it."""

    entry: EntryToken = Field(description="the asker's own opaque token for this person in "
                              "this request; unique within the request, never a number")
    member: MemberNumber


class ExchangeRequest(RelayMessage):
    """Insurer A asks, about its own members, what other insurers of a scheme know of them.

    On `exchange.request.v1`, signed by A; the key is `<asker code>:<request id>`."""

    request_id: UUID = Field(description="the asker's id for the request: its idempotency key")
    asker_code: FilerCode = Field(description="the asking insurer's public code")
    scheme: ExchangeScheme = Field(description="whose insurers are asked")
    category: DataCategory
    purpose: Purpose
    as_of: date | None = Field(default=None, description="one date asked about, or null")
    period_from: date | None = Field(default=None, description="first day asked about")
    period_to: date | None = Field(default=None, description="last day asked about")
    expires_at: Instant = Field(description="relay time after which the asker no longer "
                                "wants answers; the deadline of every routed request")
    entries: list[RequestEntry] = Field(min_length=1, max_length=MAX_ENTRIES)

    @model_validator(mode="after")
    def _one_span(self) -> ExchangeRequest:
        ends = [d for d in (self.period_from, self.period_to) if d is not None]
        if (self.as_of is not None) == bool(ends) or len(ends) == 1:
            raise error("span", "give as_of, or period_from and period_to")
        if len(ends) == 2 and ends[1] < ends[0]:
            raise error("span", "period_to is before period_from")
        tokens = [e.entry for e in self.entries]
        if len(set(tokens)) != len(tokens):
            raise error("entries", "each entry token appears once in a request")
        return self

    @property
    def period(self) -> tuple[date, date] | None:
        if self.period_from is None or self.period_to is None:
            return None
        return (self.period_from, self.period_to)

    def kafka_key(self) -> bytes:
        return f"{self.asker_code}:{self.request_id}".encode()


class RoutedItem(ContractModel):
    """One person routed to an insurer: the relay's id for it and that insurer's own number,
    sealed so that only that insurer opens it, bound to this routed request."""

    item_id: UUID = Field(description="the relay's id for this person in this routed request")
    sealed_number: SealedBytes = Field(
        description="HPKE for the provider: the provider's own number for the person "
        "(trust.number_sealing; `info` binds routed_id, item_id, provider and purpose)")


class RoutedRequest(RelayMessage):
    """What the relay puts on insurer B's `participant.<B>.requests.v1`, signed by the relay:
    who asks (a public code), what, why, until when, and B's own numbers sealed for B."""

    routed_id: UUID = Field(description="uuid5 of the request id, the asker's and the "
                           "provider's codes")
    request_id: UUID
    asker_code: FilerCode
    provider_code: FilerCode
    scheme: ExchangeScheme
    category: DataCategory
    purpose: Purpose
    policy_row: str = Field(max_length=16, description="the purpose policy rows that allowed "
                            "it, comma-joined (one per role the asker covers its persons in)")
    as_of: date | None = None
    period_from: date | None = None
    period_to: date | None = None
    deadline: Instant = Field(description="relay time by which the answer must reach the relay")
    relay_time: Instant = Field(description="relay time when the relay routed it")
    asker_key: WireBytes = Field(max_length=200, description="the asker's encryption public "
                                 "key (DER SubjectPublicKeyInfo): the answer is sealed for it")
    asker_key_id: KeyId
    items: list[RoutedItem] = Field(min_length=1, max_length=MAX_ENTRIES)

    def kafka_key(self) -> bytes:
        return str(self.routed_id).encode()


class AnswerItem(ContractModel):
    """The provider's answer about one routed person, sealed for the asker."""

    item_id: UUID
    sealed_answer: SealedBytes = Field(
        description="HPKE for the asker: the answer's JSON (trust.number_sealing.seal_answer; "
        "`info` binds request_id, item_id, asker and provider)")


class ExchangeAnswer(RelayMessage):
    """Insurer B answers a routed request on `exchange.answer.v1`, signed by B; the key is
    `<provider code>:<routed id>`."""

    routed_id: UUID
    provider_code: FilerCode
    items: list[AnswerItem] = Field(min_length=1, max_length=MAX_ENTRIES)

    def kafka_key(self) -> bytes:
        return f"{self.provider_code}:{self.routed_id}".encode()


class ExchangeReply(RelayMessage):
    """What the relay tells the asker about one person of its request, on
    `participant.<A>.replies.v1`: forwarded (to whom), refused (why), answered (an answer
    sealed for A, from whom) or unavailable (a provider did not answer before the deadline)."""

    reply_id: UUID = Field(description="deterministic: the idempotency key")
    request_id: UUID
    asker_code: FilerCode
    entry: EntryToken | None = Field(description="the asker's token, null when the request "
                                     "itself could not be read or is refused whole as a "
                                     "replay")
    outcome: ExchangeOutcome
    reason: ForwardRefusal | None = None
    providers: list[FilerCode] = Field(default_factory=list, max_length=200,
                                       description="forwarded: the insurers asked")
    provider_code: FilerCode | None = Field(default=None, description="answered/unavailable: "
                                            "which insurer")
    sealed_answer: WireBytes | None = Field(default=None, max_length=MAX_SEALED_BYTES,
                                            description="answered: the provider's sealed answer")
    relay_time: Instant

    def kafka_key(self) -> bytes:
        return str(self.request_id).encode()


def reply_id(asker: str, request_id: UUID, entry: str | None, outcome: str,
             provider: str | None) -> UUID:
    """The reply's id, the same however often the same thing is decided; the asker's code is
    in it, so a request id another asker also used names other replies."""
    return uuid5(request_id, f"{asker}|{entry or ''}|{outcome}|{provider or ''}")


def routed_id(asker: str, request_id: UUID, provider: str) -> UUID:
    """The routed request's id: the asker's request to one provider (asker, request, provider:
    two askers' request ids never share a routed request or its items)."""
    return uuid5(request_id, f"routed|{asker}|{provider}")


def item_id(routed: UUID, entry: str) -> UUID:
    return uuid5(routed, f"item|{entry}")


EXCHANGE_MESSAGES: tuple[type[RelayMessage], ...] = (
    ExchangeRequest, RoutedRequest, ExchangeAnswer, ExchangeReply)
