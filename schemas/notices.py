"""The notice contracts: what the relay pushes to each participant that knows or knew a person.

`ChangeNotice`: to each insurer that knows or knew a person when the person dies, changes name
or address, or a coverage of theirs ends. `RelayNotice`: the notifications processor's notices,
a reminder to file, a double-enrolment notice or an age milestone, to an insurer, the Japan
Pension Service or a municipality.

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


class NoticeRule(StrEnum):
    """The notification rule a relay notice comes from."""

    NHI_ENROLMENT_REMINDER = "nhi_enrolment_reminder"
    NATIONAL_PENSION_SWITCH = "national_pension_switch"
    DOUBLE_ENROLMENT = "double_enrolment"
    AGE_65 = "age_65"
    AGE_75 = "age_75"
    AGE_75_DEPENDANT = "age_75_dependant"


class NoticeStep(StrEnum):
    """Where in its rule's sequence a relay notice stands."""

    REMINDER = "reminder"
    """A filing reminder (NHI enrolment, National Pension switch)."""
    RESOLVED = "resolved"
    """Cover arrived after the deadline: the case is closed."""
    WITHDRAWN = "withdrawn"
    """The loss it was about was retracted: the notice was wrong."""
    CORRECTED = "corrected"
    """A late filing changed what the sent notice said: this copy is void, a new one follows
    where due."""
    FIRST_NOTICE = "first_notice"
    """Double enrolment, first notice (deadline at least 31 days on)."""
    SECOND_NOTICE = "second_notice"
    """Double enrolment, second notice."""
    ESCALATION = "escalation"
    """Double enrolment, for the NHI insurer: ex-officio removal is its decision."""
    MILESTONE = "milestone"
    """An age milestone (65, 75)."""


class RecipientRole(StrEnum):
    """What the recipient of a relay notice is to the person."""

    MUNICIPALITY_NHI = "municipality_nhi"
    """The municipality (its NHI desk) of the person's address on the loss date."""
    EMPLOYEE_INSURER = "employee_insurer"
    NHI_INSURER = "nhi_insurer"


REMINDER_RULES = frozenset({NoticeRule.NHI_ENROLMENT_REMINDER,
                            NoticeRule.NATIONAL_PENSION_SWITCH})
AGE_RULES = frozenset({NoticeRule.AGE_65, NoticeRule.AGE_75, NoticeRule.AGE_75_DEPENDANT})
FOLLOW_UP_STEPS = frozenset({NoticeStep.RESOLVED, NoticeStep.WITHDRAWN, NoticeStep.CORRECTED})
"""The steps that follow up an earlier notice (`refers_to` names its copy)."""
RULE_STEPS: dict[NoticeRule, frozenset[NoticeStep]] = {
    **{rule: frozenset({NoticeStep.REMINDER, *FOLLOW_UP_STEPS}) for rule in REMINDER_RULES},
    NoticeRule.DOUBLE_ENROLMENT: frozenset({NoticeStep.FIRST_NOTICE, NoticeStep.SECOND_NOTICE,
                                            NoticeStep.ESCALATION}),
    **{rule: frozenset({NoticeStep.MILESTONE}) for rule in AGE_RULES},
}
"""The steps each rule's notices may take."""
UNDATED_STEPS = frozenset({NoticeStep.ESCALATION, NoticeStep.MILESTONE})
"""The steps whose notices carry no deadline."""


class RelayNotice(RelayMessage):
    """A reminder to file, a double-enrolment notice or an age milestone for one participant.

    The notifications processor's notice to an insurer, the Japan Pension Service or a
    municipality, sealed (HPKE, RFC 9180) for it: the seal holds `{"member_number"}`, the
    recipient's own number for the person (trust.notice_sealing). A resolved, withdrawn or
    corrected notice follows up the earlier copy `refers_to` names."""

    notice_id: UUID = Field(description="the id of this recipient's copy, derived for it alone "
                            "by the relay: the idempotency key, bound into the seal")
    refers_to: UUID | None = Field(description="the copy id (same recipient) of the notice "
                                   "this one follows up: set for resolved, withdrawn and "
                                   "corrected, null for every other step")
    recipient_code: FilerCode = Field(description="the public code of the recipient the notice "
                                      "is sealed for: an insurer number, a municipality code "
                                      "or JPS")
    recipient_role: RecipientRole = Field(description="what the recipient is to the person: "
                                          "the municipality (its NHI desk) of the person's "
                                          "address on the loss date, the employee insurer or "
                                          "the NHI insurer")
    person: Pseudonym = Field(description="lowercase hex HMAC-SHA256 under a relay key of the "
                              "recipient's code and the person: names the person to this "
                              "recipient alone; the record key")
    rule: NoticeRule = Field(description="the notification rule the notice comes from")
    step: NoticeStep = Field(description="reminder; resolved (cover arrived after the "
                             "deadline: closed), withdrawn (the loss was retracted: the notice "
                             "was wrong), corrected (a late filing changed what the notice "
                             "said: this copy is void, a new one follows where due); "
                             "first_notice, second_notice, escalation (double enrolment); "
                             "milestone (age 65, 75)")
    key_date: AnyDay = Field(description="the loss date (reminders), the list date (double "
                             "enrolment) or the milestone date")
    deadline: AnyDay | None = Field(description="the filing deadline or the notice's "
                                    "deadline; null for escalation and milestone")
    relay_time: Instant = Field(description="the relay time of the clock step that sent it")
    sealed_to: KeyId = Field(description="lowercase hex SHA-256 of the DER public key "
                             "(SubjectPublicKeyInfo) it is sealed to")
    sealed: WireBytes = Field(
        description="HPKE base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: the "
        "encapsulated key (65 bytes) then the ciphertext of the JSON object {member_number}; "
        "`info` binds the label 'shaho-relay/relay-notice/v1', the topic, the record key, "
        "notice_id, the recipient and the key id (trust.notice_sealing.context)")

    @model_validator(mode="after")
    def _consistent(self) -> RelayNotice:
        problems = []
        if not MIN_SEALED_BYTES <= len(self.sealed) <= MAX_SEALED_BYTES:
            message = f"sealed holds {MIN_SEALED_BYTES}-{MAX_SEALED_BYTES} bytes"
            problems.append(Problem(("sealed",), "sealed", message))
        if self.step not in RULE_STEPS[self.rule]:
            allowed = ", ".join(sorted(RULE_STEPS[self.rule]))
            problems.append(Problem(("step",), "step",
                                    f"a {self.rule} notice's step is one of: {allowed}"))
        follow_up = self.step in FOLLOW_UP_STEPS
        if (self.refers_to is None) == follow_up:
            message = ("needed for resolved, withdrawn and corrected" if follow_up else
                       "set for resolved, withdrawn and corrected only")
            problems.append(Problem(("refers_to",), "refers_to", message))
        if self.deadline is not None and self.step in UNDATED_STEPS:
            problems.append(Problem(("deadline",), "deadline",
                                    "null for escalation and milestone"))
        raise_problems(type(self).__name__, problems)
        return self

    def kafka_key(self) -> bytes:
        """The record key: the person's pseudonym for the recipient, so the notices about one
        person reach their recipient in order."""
        return self.person.encode()


NOTICE_MESSAGES: tuple[type[RelayMessage], ...] = (ChangeNotice, RelayNotice)
