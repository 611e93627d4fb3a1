"""The relay's decision about a settlement of the 合算: routed to the payer under the payer's own
number and a purpose policy row, or refused with its reason; one chain per person, period, payer
and benefit at most, extended only at its end by its own sender.

Pure: the person's links, the suspect flag, the policy and the chain come in as values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from relay_exchange.policy import Policy, Span, asker_role, span_days
from relay_exchange.routing import Link, Person
from schemas.exchange_terms import DataCategory, ExchangeScheme, ForwardRefusal, Purpose

MEDICAL_BENEFIT = "high_cost_combined_medical"
CARE_BENEFIT = "high_cost_combined_care"
PAYER_SCHEMES = {MEDICAL_BENEFIT: ExchangeScheme.MEDICAL,
                 CARE_BENEFIT: ExchangeScheme.LONG_TERM_CARE}
"""The scheme of the insurer that pays each benefit (高額介護合算療養費: a medical insurer;
高額医療合算介護(予防)サービス費: a care insurer)."""


@dataclass(frozen=True)
class Settle:
    """What an instruction asks, as the router judges it."""

    sender: str
    payer: str
    benefit: str
    period: tuple[date, date]
    base_date: date
    corrects: UUID | None = None
    nothing_due: bool = False
    """The delta brings its chain's total to 0 (takes back all that was settled)."""


@dataclass(frozen=True)
class Chain:
    """The settlements the relay routed for one (person, period, payer, benefit): who sends
    them and the last one routed, which the next delta must name."""

    sender: str
    last_id: UUID
    closed: bool = False
    """The last one routed took back all that was settled (`nothing_due`): the payer owes
    nothing on the chain, so a new first settlement may start it again (from another sender
    too: the base-date insurer changed and the one before took its settlements back)."""


@dataclass(frozen=True)
class SettleDecision:
    """Routed to the payer's `link` under policy row `policy_row`, or refused for `refusal`."""

    refusal: ForwardRefusal | None = None
    link: Link | None = None
    policy_row: str | None = None

    @property
    def routed(self) -> bool:
        return self.refusal is None


def decide_settlement(settle: Settle, number: tuple[str, bytes], person: Person | None,
                      policy: Policy, chain: Chain | None = None) -> SettleDecision:
    """The decision about `settle` for the person the sender's `number` (kind, blind index)
    names, `person` (None: the relay knows no one by it), whose (period, payer, benefit) has
    `chain` routed already (None: no settlement of theirs routed).

    In order: an unknown number; the sender not covering the person under that number in the
    medical scheme on the base date (the 合算 is calculated by the base-date medical insurer),
    unless it takes back its own chain (`takes_back`): a base-date insurer that is one no more
    must be able to bring what it settled to 0, or the new one could never start a chain;
    the purpose policy for the sender's role and the payer's scheme; an open identity anomaly;
    the payer holding no link of the benefit's scheme from the period's first day to the base
    date, the only days whose self-pay counts (the sender itself may be the payer of its own
    share); then the chain (`chain_refusal`)."""
    if person is None:
        scoped = number[0].endswith(f":{settle.sender}")
        return SettleDecision(ForwardRefusal.UNKNOWN_NUMBER if scoped
                              else ForwardRefusal.NOT_MEMBER)
    own = [lk for lk in person.links
           if lk.insurer == settle.sender and lk.scheme == "medical"
           and (lk.number_kind, lk.number_index) == number and lk.covers(settle.base_date)]
    if not own and not takes_back(settle, chain):
        return SettleDecision(ForwardRefusal.NOT_MEMBER)
    role = asker_role("medical")
    scheme = PAYER_SCHEMES[settle.benefit]
    first, last = settle.period
    row = None if role is None else policy.allowing(
        role, scheme, DataCategory.SELF_PAY_AMOUNTS, Purpose.COMBINED_HIGH_COST, Span.PERIOD,
        span_days(first, last))
    if row is None:
        return SettleDecision(ForwardRefusal.PURPOSE_NOT_ALLOWED)
    if person.suspect:
        return SettleDecision(ForwardRefusal.VERIFY_IDENTITY)
    held = sorted((lk for lk in person.links
                   if lk.insurer == settle.payer and lk.scheme == scheme.value
                   and lk.number_sealed is not None
                   and lk.overlaps(first, min(last, settle.base_date))),
                  key=lambda lk: (lk.valid_from, lk.number_kind))
    if not held:
        return SettleDecision(ForwardRefusal.NOT_PAYER)
    broken = chain_refusal(settle, chain)
    if broken is not None:
        return SettleDecision(broken)
    return SettleDecision(link=held[-1], policy_row=row.row)


def takes_back(settle: Settle, chain: Chain | None) -> bool:
    """Whether `settle` is its sender's delta at the end of its own chain bringing the total to
    0: nothing is paid by it, and the payer is told it owes nothing on the chain."""
    return (settle.nothing_due and settle.corrects is not None and chain is not None
            and chain.sender == settle.sender and chain.last_id == settle.corrects)


def chain_refusal(settle: Settle, chain: Chain | None) -> ForwardRefusal | None:
    """Why `settle` may not join `chain`, or None. A first settlement (`corrects` null) starts
    the chain only where none was routed: a second chain (the sender's ledger started again
    under another member number, or another base-date insurer) would have the payer pay twice.
    A delta extends the chain only from its end and only from the chain's sender: a delta of a
    settlement the relay never routed (refused), of an older one or of another sender's chain
    would have the payer add a difference to a total other than the one it was told. A chain
    whose last settlement left nothing due (`closed`) may be started again by a first one."""
    if settle.corrects is None:
        return None if chain is None or chain.closed else ForwardRefusal.ALREADY_SETTLED
    if chain is None or chain.sender != settle.sender or chain.last_id != settle.corrects:
        return ForwardRefusal.NOT_CHAIN_END
    return None
