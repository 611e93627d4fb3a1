"""The change notice contract: what the relay pushes to each insurer that knows or knew a person
when the person dies, changes name or address, or a coverage of theirs ends.

A notice names the person to its recipient only inside its seal (the recipient's own number)
and, as its record key, by a pseudonym derived for that recipient alone: never a relay id."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid5

from pydantic import Field, StringConstraints, model_validator

from schemas.base import AnyDay, Instant, Problem, raise_problems
from schemas.common import Scheme
from schemas.identifiers import FilerCode, InstitutionCode
from schemas.relay import MAX_SEALED_BYTES, MIN_SEALED_BYTES, KeyId, RelayMessage, WireBytes

Pseudonym = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]


class ChangeKind(StrEnum):
    """What changed about the person."""

    DEATH = "death"
    NAME_CHANGE = "name_change"
    ADDRESS_CHANGE = "address_change"
    COVERAGE_ENDED = "coverage_ended"


def notice_id_for(source_id: UUID, recipient_code: str) -> UUID:
    """A notice's id: uuid5 of the outbox id of the effect that made it due and the recipient's
    code, so the same decision gives the same notice ids however often it is replayed."""
    return uuid5(source_id, f"change-notice:{recipient_code}")


class ChangeNotice(RelayMessage):
    """A change to a person an insurer knows or knew, sealed (HPKE, RFC 9180) for that insurer:
    the seal holds `{"member_number", "new_name", "new_kana", "new_address"}`, the insurer's
    own number for the person and, for a name or address change, the new items as the
    municipality filed them (trust.notice_sealing)."""

    notice_id: UUID = Field(description="uuid5 of the outbox id of the effect that made the "
                            "notice due and the recipient's code: the idempotency key, bound "
                            "into the seal")
    recipient_code: FilerCode = Field(description="the public code of the insurer (or the "
                                      "Japan Pension Service) the notice is sealed for")
    person: Pseudonym = Field(description="lowercase hex HMAC-SHA256 under a relay key of the "
                              "recipient's code and the person: names the person to this "
                              "recipient alone; the record key")
    kind: ChangeKind
    effective_date: AnyDay = Field(description="date of death, the date the name or address "
                                   "changed from, or the loss date (valid_to) of the coverage "
                                   "that ended")
    scheme: Scheme | None = Field(default=None, description="the scheme of the coverage that "
                                  "ended (coverage_ended only, else null)")
    insurer_code: InstitutionCode | None = Field(default=None, description="the insurer of the "
                                                 "coverage that ended (coverage_ended only, "
                                                 "else null)")
    relay_time: Instant = Field(description="the relay time of the decision that made it due")
    sealed_to: KeyId = Field(description="lowercase hex SHA-256 of the DER public key "
                             "(SubjectPublicKeyInfo) it is sealed to")
    sealed: WireBytes = Field(
        description="HPKE base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: the "
        "encapsulated key (65 bytes) then the ciphertext of the JSON object {member_number, "
        "new_name, new_kana, new_address}; `info` binds the topic, the record key, notice_id, "
        "the recipient and the key id (trust.notice_sealing.context)")

    @model_validator(mode="after")
    def _consistent(self) -> ChangeNotice:
        problems = []
        if not MIN_SEALED_BYTES <= len(self.sealed) <= MAX_SEALED_BYTES:
            message = f"sealed holds {MIN_SEALED_BYTES}-{MAX_SEALED_BYTES} bytes"
            problems.append(Problem(("sealed",), "sealed", message))
        ended = self.kind is ChangeKind.COVERAGE_ENDED
        for name in ("scheme", "insurer_code"):
            if (getattr(self, name) is None) == ended:
                message = "set for coverage_ended only" if not ended else "needed"
                problems.append(Problem((name,), "coverage", message))
        raise_problems(type(self).__name__, problems)
        return self

    def kafka_key(self) -> bytes:
        """The record key: the person's pseudonym for the recipient, so the notices about one
        person reach their recipient in order."""
        return self.person.encode()


NOTICE_MESSAGES: tuple[type[RelayMessage], ...] = (ChangeNotice,)
