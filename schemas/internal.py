"""The relay-internal contract: messages only the relay's own processors read (`relay.*` topics).

They name persons by relay id and reveal birth dates, so no participant ever receives them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field, StrictBool, StrictInt, StringConstraints, model_validator

from schemas.base import AnyDay, Instant, Problem, raise_problems
from schemas.common import Capacity, Scheme
from schemas.identifiers import RelayId
from schemas.relay import LinkChanged, Positive, RelayMessage


class ClosedBecause(StrEnum):
    """The rule behind a link's `valid_to` (relay_linker.domain.endings)."""

    DEATH = "death"
    INSURED_PERSON_DIED = "insured_person_died"
    LOSS = "loss"
    REQUEST = "request"
    NON_PAYMENT = "non_payment"
    INSURED_ELSEWHERE = "insured_elsewhere"
    INSURED_PERSON_LOST = "insured_person_lost"
    LATE_STAGE_TRANSFER = "late_stage_transfer"
    INSURED_LATE_STAGE_TRANSFER = "insured_late_stage_transfer"
    AGE_70 = "age_70"
    AGE_60 = "age_60"
    VOLUNTARY_CONTINUATION_TERM = "voluntary_continuation_term"
    PERIOD_END = "period_end"
    HOUSEHOLD_CHANGED = "household_changed"


LinkCategory = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
PensionType = Annotated[StrictInt, Field(ge=1, le=3)]
HouseholdKey = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{32,128}$")]
HOUSEHOLD_CATEGORY = "household"
CLOSED_BECAUSE = (
    "why the link ends on valid_to: death (died_on + 1), insured_person_died (a dependant's "
    "link ends on the insured person's death + 1), loss (a loss filing: retirement, 資格喪失), "
    "request and non_payment (任意継続 ended by the insurer on the person's request or for "
    "non-payment), insured_elsewhere (任意継続 ends when the person becomes insured in "
    "employee insurance or the 75+ scheme), insured_person_lost (a dependant's link ends on "
    "the day the insured person's cover at the same insurer ends by a filed end), "
    "late_stage_transfer (medical cover ends at the 75th birthday, the move to the 75+ "
    "scheme), insured_late_stage_transfer (a dependant whose insured person moves to the 75+ "
    "scheme), age_70 (employee pension ends the day before the 70th birthday), age_60 "
    "(National Pension type 1 ends the day before the 60th birthday), "
    "voluntary_continuation_term (任意継続 ends two years after it began), period_end (the "
    "end the filer gave at opening), household_changed (the person's household changes: a "
    "household link ends where the person's next household membership begins (a move into "
    "another household, 世帯分離, 世帯合併, a change of householder) or on the day of a 転出 "
    "(MovedOut) from its municipality, whether or not a next membership follows); null while "
    "valid_to is null and on a retraction"
)


class LinkChangedV2(LinkChanged):
    """A change to a link, for the relay's own processors: why it ends and whom it depends on.

    Relay-internal (a `relay.*` topic no participant reads): it carries relay ids of other
    persons (the insured person, the type-3 spouse). Like v1 it carries no insured number.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    MESSAGE: ClassVar[str | None] = "LinkChanged"

    category: LinkCategory | None = Field(
        default=None,
        description="employee_insurance, nhi or late_stage_elderly for medical links; "
        "employee_pension or national_type1/2/3 for pension links; null for a bare number",
    )
    pension_type: PensionType | None = Field(
        default=None,
        description="National Pension insured category 1, 2 or 3 of a pension link "
        "(employee pension members are type 2); null otherwise",
    )
    closed_because: ClosedBecause | None = Field(default=None, description=CLOSED_BECAUSE)
    insured_relay_id: RelayId | None = Field(
        default=None,
        description="a dependant link's insured person (本人); null for other links and when "
        "the filing named none (an insurer's member load)",
    )
    spouse_relay_id: RelayId | None = Field(
        default=None,
        description="for type 3: the type-2 insured person whose dependant spouse the person "
        "is (the insured person of their employee-insurance dependant link on valid_from); "
        "null when the relay knows no such link",
    )
    household: HouseholdKey | None = Field(
        default=None,
        description="a household link's (scheme resident, category household) household: the "
        "relay's opaque key of the municipality's household token (lowercase hex of its keyed "
        "blind index, never the token), the same for every member; null for other links",
    )
    householder: bool | None = Field(
        default=None,
        description="on a household link, whether the person is the householder (世帯主) over "
        "the period; null for other links",
    )

    @model_validator(mode="after")
    def _consistent_v2(self) -> LinkChangedV2:
        """v2's own rules; v1's (the period, the insurer number, no dependants in the 75+
        scheme) run too, inherited."""
        problems = []
        if self.closed_because is not None and self.valid_to is None:
            message = "closed_because needs a valid_to"
            problems.append(Problem(("closed_because",), "closed_because", message))
        if self.pension_type is not None and self.scheme is not Scheme.PENSION:
            message = "only a pension link has a pension type"
            problems.append(Problem(("pension_type",), "pension_type", message))
        if self.spouse_relay_id is not None and self.pension_type != 3:
            message = "only a type-3 link names a spouse"
            problems.append(Problem(("spouse_relay_id",), "spouse_relay_id", message))
        if self.insured_relay_id is not None and self.capacity is not Capacity.DEPENDANT:
            message = "only a dependant link names an insured person"
            problems.append(Problem(("insured_relay_id",), "insured_relay_id", message))
        problems += self._household_problems()
        raise_problems(type(self).__name__, problems)
        return self

    def _household_problems(self) -> list[Problem]:
        """A household link names its household and whether the person is its householder;
        no other link does either."""
        is_household = self.scheme is Scheme.RESIDENT and self.category == HOUSEHOLD_CATEGORY
        if not is_household:
            return [
                Problem((name,), name, f"only a household link has a {name}")
                for name in ("household", "householder")
                if getattr(self, name) is not None
            ]
        return [
            Problem((name,), name, f"a household link needs its {name}")
            for name in ("household", "householder")
            if getattr(self, name) is None
        ] + ([Problem(("capacity",), "capacity", "a household link has no capacity")]
             if self.capacity is not None else [])


class AgeMilestone(StrEnum):
    """An age that drives a rule (DOMAIN §5b); an age is reached the day before the birthday."""

    AGE_20 = "age_20"
    AGE_60 = "age_60"
    AGE_65 = "age_65"
    AGE_70 = "age_70"
    AGE_70_COPAY = "age_70_copay"
    AGE_75 = "age_75"


MILESTONE_ON = (
    "the date the milestone's rule applies from: age_20 the day before the 20th birthday "
    "(National Pension type 1 starts), age_60 the day before the 60th (type 1 ends), age_65 "
    "the day before the 65th (first-category long-term care), age_70 the day before the 70th "
    "(employee pension lost), age_70_copay the first day of the month after the month 70 is "
    "reached (the 70-74 copay band; the birthday itself for someone born on the 1st), age_75 "
    "the 75th birthday itself (the 75+ scheme); reveals the birth date"
)


class AgeMilestoneReached(RelayMessage):
    """The relay clock reached the date of one of a person's age milestones.

    Relay-internal (a `relay.*` topic no participant reads): its date reveals the birth date.
    Announced once per person and milestone, at the first clock tick on or after the date in
    Japan; milestones already past when the person was registered are not announced.
    """

    relay_id: RelayId = Field(description="the person's opaque relay id (the Kafka key)")
    milestone: AgeMilestone
    age: Annotated[StrictInt, Field(ge=20, le=75)] = Field(description="the age reached")
    milestone_on: AnyDay = Field(description=MILESTONE_ON)
    outbox_id: UUID = Field(
        description="uuid5 of the relay id, the milestone and its date: the idempotency key"
    )
    relay_time: Instant = Field(description="the relay time of the tick that announced it")

    def kafka_key(self) -> bytes:
        """The record key: the relay id."""
        return self.relay_id.encode()


class PersonChanged(RelayMessage):
    """What the relay knows of a person's life: registered, birth date, death, or removed.

    Relay-internal (a `relay.*` topic no participant reads): it carries the birth date.
    Published whenever a decision registers the person, records or retracts their death,
    changes their birth date (a correction or its retraction) or removes them (a retracted
    registration), as the whole picture after that decision, so a reader keeps only the last.
    """

    relay_id: RelayId = Field(description="the person's opaque relay id (the Kafka key)")
    person_version: Positive = Field(
        description="the person's version after the decision (the version LinkChanged "
        "carries): grows with every change to the person, so a reader keeps the highest"
    )
    born_on: AnyDay | None = Field(
        default=None,
        description="the birth date as now known (the latest correction in force); null when "
        "the relay knows none, and on a removal",
    )
    died_on: AnyDay | None = Field(
        default=None, description="the date of death; null while the person lives, and on a "
        "removal"
    )
    removed: StrictBool = Field(
        default=False,
        description="the registration was retracted: the relay no longer knows the person",
    )
    source_event_id: UUID = Field(description="event_id of the filing that caused the change")
    outbox_id: UUID = Field(
        description="uuid5 of the relay id and person_version: the idempotency key"
    )
    relay_time: Instant = Field(description="the relay time of the decision")

    @model_validator(mode="after")
    def _consistent(self) -> PersonChanged:
        if self.removed:
            raise_problems(type(self).__name__, [
                Problem((name,), name, f"a removed person has no {name}")
                for name in ("born_on", "died_on") if getattr(self, name) is not None])
        return self

    def kafka_key(self) -> bytes:
        """The record key: the relay id."""
        return self.relay_id.encode()


INTERNAL_MESSAGES: tuple[type[RelayMessage], ...] = (
    LinkChangedV2, AgeMilestoneReached, PersonChanged)
"""The relay-internal messages, each on a `relay.*` topic of its own."""
