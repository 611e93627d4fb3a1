"""What a filing reminder is (its recipients, deadline and ids) and what the processor does with
one already pending or sent when the facts change: send, cancel, resolve or withdraw it.

Shared by the NHI enrolment reminder and the National Pension switch (DOMAIN §6)."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from notification_streams.rules.ids import recipient_notice_id

PERSON, HOUSEHOLDER, MUNICIPALITY_NHI = "person", "householder", "municipality_nhi"
EMPLOYEE_INSURER, NHI_INSURER = "employee_insurer", "nhi_insurer"


@dataclass(frozen=True)
class Recipient:
    """Who a notice is addressed to: a person of the relay, a municipality's NHI desk, or an
    insurer."""

    role: str
    relay_id: str | None = None
    municipality_code: str | None = None
    insurer_number: str | None = None

    @property
    def key(self) -> str:
        """The recipient as `recipient_notice_id` names it (no relay id in it)."""
        if self.municipality_code is not None:
            return f"municipality:{self.municipality_code}"
        if self.insurer_number is not None:
            return f"insurer:{self.insurer_number}"
        return self.role


@dataclass(frozen=True, kw_only=True)
class Reminder:
    """A reminder due: file by `deadline` (the 14th day from `loss_date`), first sent on
    `fires_on`. `municipality` is the NHI insurer told of the case (None: no residence known on
    the loss date, for operations); `continuation_last_day` is set only when 任意継続 is named."""

    notice_id: UUID
    rule: str
    relay_id: str
    loss_date: date
    deadline: date
    fires_on: date
    why: str
    recipients: tuple[Recipient, ...]
    municipality: str | None = None
    continuation_named: bool = False
    continuation_last_day: date | None = None

    def copy_id(self, recipient: Recipient) -> UUID:
        """The id `recipient`'s copy carries."""
        return recipient_notice_id(self.notice_id, recipient.key)


class Delivery(StrEnum):
    """What the processor does with one reminder (one notice id)."""

    SEND = "send"  # due, not sent yet
    CANCEL = "cancel"  # pending, not due any more (cover filed in time, death, retraction)
    RESOLVED = "resolved"  # sent, then cover holding the loss date arrived: close it
    WITHDRAWN = "withdrawn"  # sent, then the loss itself was retracted or moved: it was wrong
    CORRECTED = "corrected"  # sent, still due, but a late filing changed what it has to say
    NOTHING = "nothing"  # keep things as they are


def settle(
    sent: Reminder | None,
    due_now: Reminder | None,
    loss_still_exists: bool,
    *,
    person_died: bool = False,
) -> Delivery:
    """The one thing to do for a reminder, from what was sent and what the facts call for now.

    The processor asks about a pending reminder (not sent) only on or after its `fires_on`, and
    about a sent one whenever the person's facts change; `due_now` is the rule's answer now.

    | sent | loss still exists | due_now | person died | →          |
    |------|-------------------|---------|-------------|------------|
    | no   | yes               | yes     | –           | SEND       |
    | no   | yes               | no      | –           | CANCEL     |
    | no   | no                | –       | –           | CANCEL     |
    | yes  | no                | –       | –           | WITHDRAWN  |
    | yes  | yes               | –       | yes         | NOTHING    |
    | yes  | yes               | same    | no          | NOTHING    |
    | yes  | yes               | other   | no          | CORRECTED  |
    | yes  | yes               | no      | no          | RESOLVED   |

    "Other" means the reminder due now says something else than the one sent (`said`): a late
    filing moved the address on the loss date to another municipality, changed the householder,
    the deadline or whether 任意継続 is named. The sent copies are void and the reminder due now
    goes out in their place, so no wrong reminder stands.

    A death after sending resolves nothing: the gap before it still had to be filed, and no
    follow-up may be addressed to the dead person (`living_recipients`)."""
    if sent is None:
        return Delivery.SEND if due_now is not None and loss_still_exists else Delivery.CANCEL
    if not loss_still_exists:
        return Delivery.WITHDRAWN
    if person_died:
        return Delivery.NOTHING
    if due_now is not None:
        return Delivery.NOTHING if said(sent) == said(due_now) else Delivery.CORRECTED
    return Delivery.RESOLVED


def said(reminder: Reminder) -> tuple[object, ...]:
    """What a reminder tells its recipients: who they are, the loss date, the deadline, why, the
    municipality told and the 任意継続 offer; two reminders saying the same are one."""
    return (reminder.rule, reminder.relay_id, reminder.loss_date, reminder.deadline,
            reminder.why, reminder.recipients, reminder.municipality,
            reminder.continuation_named, reminder.continuation_last_day)


def living_recipients(sent: Reminder, deceased: Collection[str]) -> tuple[Recipient, ...]:
    """The recipients of a follow-up (resolved, withdrawn): those of the sent reminder whose
    death the relay does not know."""
    return tuple(r for r in sent.recipients if r.relay_id is None or r.relay_id not in deceased)
