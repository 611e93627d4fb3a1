"""The base of every filing payload: registry metadata and the date rules all payloads share.

Payload checks need only the payload; checks against the filing date run in the envelope.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import model_validator

from schemas.base import ContractModel, Problem, raise_problems
from schemas.common import IdentityItems, PersonKey, PersonReference
from schemas.secret import SecretDate, iter_secrets


class FilerKind(StrEnum):
    """Which kind of filer publishes an event type; `any` for retractions."""

    PENSION = "pension"
    EMPLOYER = "employer"
    MUNICIPALITY = "municipality"
    INSURER = "insurer"
    ANY = "any"


class Payload(ContractModel):
    """Base of the payload models; subclasses set the class variables and may add checks.

    Shared rules: `person` uses one of `PERSON_KEYS` (when set); no date about the person is
    before `identity.birth_date` (unless `BIRTH_BOUNDED` is False); the fields in
    `NOT_AFTER_FILING` and every date of birth are not after the filing date (checked by the
    envelope, which knows `occurred_at`).
    """

    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1
    FILER: ClassVar[FilerKind]
    EFFECTIVE_FIELD: ClassVar[str | None] = None
    NOT_AFTER_FILING: ClassVar[tuple[str, ...]] = ()
    PERSON_KEYS: ClassVar[tuple[PersonKey, ...] | None] = None
    BIRTH_BOUNDED: ClassVar[bool] = True

    def effective_on(self) -> date | None:
        """The date from which the change takes effect (the envelope's `effective_date`)."""
        name = self.EFFECTIVE_FIELD
        return None if name is None else getattr(self, name)

    def cross_field_problems(self) -> list[Problem]:
        """Event-specific cross-field problems; subclasses override."""
        return []

    def filing_date_problems(self, filed_on: date) -> list[Problem]:
        """Problems of dates that must not be after `filed_on`, the filing's date in Japan."""
        problems = [
            Problem((name,), "after_filing", f"{name} must not be after the date of occurred_at")
            for name in self.NOT_AFTER_FILING
            if (value := getattr(self, name)) is not None and value > filed_on
        ]
        for loc, secret in iter_secrets(self):
            if isinstance(secret, SecretDate) and secret.reveal() > filed_on:
                message = f"{loc[-1]} must not be after the date of occurred_at"
                problems.append(Problem(loc, "after_filing", message))
        return problems

    @model_validator(mode="after")
    def _shared_rules(self) -> Payload:
        problems = [*self._person_problems(), *self._birth_problems()]
        raise_problems(type(self).__name__, [*problems, *self.cross_field_problems()])
        return self

    def _person_problems(self) -> list[Problem]:
        person = getattr(self, "person", None)
        return person_key_problems(("person",), person, self.PERSON_KEYS, self.EVENT_TYPE)

    def _birth_problems(self) -> list[Problem]:
        identity = getattr(self, "identity", None)
        if not self.BIRTH_BOUNDED or not isinstance(identity, IdentityItems):
            return []
        return not_before_birth(self, identity, type(self).model_fields)


def person_key_problems(
    loc: tuple[str | int, ...],
    person: PersonReference | None,
    allowed: tuple[PersonKey, ...] | None,
    event_type: str,
) -> list[Problem]:
    """A problem at `loc` when `person` is not referred to by one of `allowed`."""
    if allowed is None or not isinstance(person, PersonReference) or person.key in allowed:
        return []
    names = " or ".join(key.value for key in allowed)
    return [Problem(loc, "person_key", f"{event_type} refers to the person by {names}")]


def not_before_birth(model: object, identity: IdentityItems, names: Iterable[str]) -> list[Problem]:
    """Problems for the date fields `names` of `model` that are before the date of birth."""
    born = identity.birth_date.reveal()
    return [
        Problem((name,), "before_birth", f"{name} must not be before identity.birth_date")
        for name in names
        if isinstance(value := getattr(model, name), date) and value < born
    ]
