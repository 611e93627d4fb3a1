"""Judge a filing: its commands in order as one unit, all accepted or the whole filing not.

Later commands see what earlier ones did (a dependant names the insured person just linked)."""

from datetime import timedelta

from relay_linker.domain.apply import apply_all
from relay_linker.domain.cards import issue_card, revoke_card
from relay_linker.domain.commands import (
    ChangeIdentity,
    CloseLink,
    Command,
    IssueCard,
    JoinHousehold,
    LinkerRecord,
    OpenLink,
    RecordDeath,
    RegisterPerson,
    Retract,
    RevokeCard,
)
from relay_linker.domain.coverage import overlap_effects
from relay_linker.domain.effects import Effect
from relay_linker.domain.households import join_household
from relay_linker.domain.links import close_link, open_link
from relay_linker.domain.model import Reason
from relay_linker.domain.ports import Hasher
from relay_linker.domain.residency import change_identity, record_death, register
from relay_linker.domain.retraction import retract
from relay_linker.domain.second_category import second_category_effects
from relay_linker.domain.state import RelayState, clone
from relay_linker.domain.verdict import Verdict, accepted, refused

FUTURE_TOLERANCE = timedelta(days=1)
"""How far after its relay time a filing's occurred_at may lie (clock skew at the filer)."""


def judge(view: RelayState, record: LinkerRecord, hasher: Hasher) -> Verdict:
    """The filing's verdict on `view`, which is left as it is.

    A filing that claims to have happened more than FUTURE_TOLERANCE after its relay time is
    refused: occurred_at orders nothing, but a forged future must not stand in the ledger."""
    if record.occurred_at > record.relay_time + FUTURE_TOLERANCE:
        return refused([Reason("occurred_in_future", "occurred_at")])
    if not record.commands:
        return refused([Reason("empty_filing")])
    if len(record.commands) == 1:
        verdict, final = judge_command(view, record, 0, record.commands[0], hasher), view
    else:
        verdict, final = _judge_unit(view, record, hasher)
    if not verdict.accepted:
        return verdict
    verdict = verdict.adding(overlap_effects(final, record, verdict.effects))
    return verdict.adding(second_category_effects(final, record.event_id, verdict.effects))


def judge_command(
    view: RelayState, record: LinkerRecord, position: int, command: Command, hasher: Hasher
) -> Verdict:
    match command:
        case RegisterPerson():
            return register(view, record, position, command, hasher)
        case ChangeIdentity():
            return change_identity(view, record, position, command, hasher)
        case RecordDeath():
            return record_death(view, record, position, command, hasher)
        case OpenLink():
            return open_link(view, record, position, command, hasher)
        case CloseLink():
            return close_link(view, record, position, command, hasher)
        case IssueCard():
            return issue_card(view, record, position, command, hasher)
        case RevokeCard():
            return revoke_card(view, record, position, command, hasher)
        case JoinHousehold():
            return join_household(view, record, position, command, hasher)
        case Retract():
            return retract(view, record, position, command, hasher)
    raise TypeError(f"not a linker command: {type(command).__name__}")


def _judge_unit(
    view: RelayState, record: LinkerRecord, hasher: Hasher
) -> tuple[Verdict, RelayState]:
    trial = clone(view)
    effects: list[Effect] = []
    for position, command in enumerate(record.commands):
        verdict = judge_command(trial, record, position, command, hasher)
        if not verdict.accepted:
            return verdict, trial
        apply_all(trial, verdict.effects)
        effects += verdict.effects
    return accepted(effects), trial
