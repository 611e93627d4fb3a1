"""What the relay does when its clock advances: expire parked filings, then announce the age
milestones reached. One list of rules, run in this order by the fold, the linker and the tests."""

from datetime import datetime

from relay_linker.domain.apply import apply_all
from relay_linker.domain.effects import Effect
from relay_linker.domain.expiry import expire
from relay_linker.domain.milestones import announce
from relay_linker.domain.state import RelayState

CLOCK_RULES = (expire, announce)


def advance(state: RelayState, now: datetime) -> list[Effect]:
    """The relay clock reaches `now`: run each clock rule on `state`, applying its effects
    before the next; return them all in order."""
    effects: list[Effect] = []
    for rule in CLOCK_RULES:
        part = rule(state, now)
        apply_all(state, part)
        effects += part
    return effects
